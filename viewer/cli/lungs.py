"""`main.py lungs train`: the lung-field network that keeps dense lung inside the lung mask.

    python main.py lungs train --data SOARES --out runs/lungs [--series DIR ...] [--epochs 12]
                               [--resume] [--stop-after N] [--device cpu]

Examples are the non-COVID slices of the seeded 70 % training part of a class-folder
set (``gan.data.seeded_split``, seed 0, as stage 1: the held-out normal slices stay unseen) and
every slice of the ``--series`` given (HU series; one 3-D mask each), with the threshold-based
lung mask (``viewer.core.lung_mask.segment_lungs(..., network=False)``) as the target; lesions
are painted during training (``gan.train_lung_net``). Examples are cached in the run folder.
Writes ``OUT/lung_field.safetensors``; copy it to ``resources/weights/lung_field.safetensors`` to
ship it.

The lung mask's figures (lesion coverage on MedSeg, lung volume on a series) come from
``scripts/lung_mask_report.py --network auto|off|W``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gan.cli.common import error


def register(subparsers) -> None:
    p = subparsers.add_parser("lungs", help="train the lung-field network (dense lung inside the lung mask)",
                              description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="lungs_command", metavar="ACTION")
    t = s.add_parser("train", help="train the lung-field network on normal slices with painted lesions")
    t.add_argument("--data", required=True, help="class-folder set with COVID/ and non-COVID/")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--series", nargs="*", default=[], metavar="DIR", help="HU series to add")
    t.add_argument("--epochs", type=int, default=12)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--image-size", type=int, default=128)
    t.add_argument("--width", type=float, default=0.25)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threshold", type=float, default=0.3,
                   help="probability at which the mask is cut (stored in the weights)")
    t.add_argument("--device", default="cpu")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="end after N epochs (--resume continues)")
    t.set_defaults(func=_run_train)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _series_slices(folders: list[str]):
    """``(slice, True, lungs)`` of every HU series under ``folders`` (one threshold-based lung
    mask per series)."""
    from viewer.core.lesion_layers import series_lungs
    from viewer.io import load_series, scan_path

    for folder in folders:
        for info in scan_path(Path(folder)).series:
            vol = load_series(info)
            if not vol.is_hu:
                continue
            lungs = series_lungs(vol.voxels, True, vol.spacing, network=False)
            for k in range(vol.voxels.shape[0]):
                yield vol.voxels[k], True, lungs[k]


def _examples(args, size: int) -> tuple[np.ndarray, np.ndarray, dict]:
    from gan.data import load_class_folders, seeded_split
    from gan.train_lung_net import make_examples
    from viewer.core.lung_mask import segment_lungs

    cache = Path(args.out) / "examples.npz"
    key = json.dumps({"data": str(Path(args.data).resolve()), "series": [str(Path(s).resolve()) for s in args.series],
                      "size": size})
    if cache.exists():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                print(f"examples from {cache}", file=sys.stderr)
                return z["x"], z["y"], json.loads(str(z["prov"]))
    data = load_class_folders(args.data)
    train, _ = seeded_split(len(data), 0.7, 0)
    normal = [int(i) for i in train if data.labels[i] == 0]
    from tqdm import tqdm
    pics = ((data.images[i], False, segment_lungs(data.images[i], False, network=False))
            for i in tqdm(normal, desc="lung masks (pictures)"))
    xp, yp = make_examples(pics, size)
    xs, ys = make_examples(_series_slices(args.series), size, keep_empty=True) if args.series else \
        (np.zeros((0, size, size), np.uint8),) * 2
    x, y = np.concatenate([xp, xs]), np.concatenate([yp, ys])
    prov = {"pictures": int(xp.shape[0]), "pictures_offered": len(normal), "series_slices": int(xs.shape[0]),
            "data": str(args.data), "series": [str(s) for s in args.series],
            "labels": "viewer.core.lung_mask.segment_lungs(network=False)"}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    from viewer.io.atomic import atomic_path

    with atomic_path(cache) as tmp:   # the cache appears only complete
        np.savez(tmp, x=x, y=y, key=np.array(key), prov=np.array(json.dumps(prov)))
    return x, y, prov


def _run_train(args) -> int:
    from gan.train_lung_net import LungNetConfig, train_lung_net

    if not Path(args.data).is_dir():
        return error(f"--data {args.data}: not a folder")
    for s in args.series:
        if not Path(s).exists():
            return error(f"--series {s}: does not exist")
    cfg = LungNetConfig(out=args.out, width=args.width, image_size=args.image_size, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                        resume=args.resume, stop_after=args.stop_after,
                        threshold=args.threshold)
    try:
        cfg.check()
        x, y, prov = _examples(args, cfg.image_size)
        print(f"examples: {json.dumps(prov)}", file=sys.stderr)
        res = train_lung_net(cfg, x, y, prov, log=lambda m: print(m, file=sys.stderr))
    except ValueError as exc:
        return error(str(exc))
    print(json.dumps({k: v for k, v in res.items() if k != "history"}, indent=1))
    return 0
