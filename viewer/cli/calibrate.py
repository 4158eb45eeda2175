"""`main.py calibrate`: the severity threshold of a localizer, calibrated at both ends.

    python main.py calibrate --weights W --out W2 --val-images DIR --val-masks DIR
                             [--normal-pictures SOARES_ROOT] [--normal-series DIR ...]
                             [--map-scale S] [--normal-target 2.0] [--normal-target-hu PCT]
                             [--lung-weights auto|off|W] [--inference-size PX]
                             [--device auto|cpu|cuda]

Maps come from the product pipeline (``Localizer.apply`` with each series' input plan, lungs
from ``viewer.core.lung_mask``), so the threshold means on screen what it meant here. The
normal pictures are the held-out 30 % of the non-COVID class of a class-folder training set
(``gan.data.seeded_split``, seed 0: the split the stage-1 classifier leaves out). Writes ``W2``:
the generator with ``threshold``, ``map_scale`` (pictures), ``map_scale_hu`` (HU) and
``calibration`` (JSON: every figure) in its metadata. Exit 0 when the normal targets are met, 1 when they are not (the weights are
still written, with the best threshold found), 2 on unusable input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gan.cli.common import add_device_argument, error


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="calibrate a localizer's severity threshold on labelled and normal slices",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--weights", required=True, metavar="W", help="generator .safetensors")
    p.add_argument("--out", required=True, metavar="W2", help="calibrated weights to write")
    p.add_argument("--val-images", required=True, metavar="DIR")
    p.add_argument("--val-masks", required=True, metavar="DIR")
    p.add_argument("--normal-pictures", metavar="DIR", default=None,
                   help="class-folder training set (COVID/, non-COVID/); its held-out non-COVID "
                   "slices must read about 0 %%")
    p.add_argument("--normal-series", metavar="DIR", nargs="*", default=[],
                   help="folders of normal HU CT series that must read about 0 %%")
    p.add_argument("--map-scale", type=float, default=None, metavar="S",
                   help="raw residual that maps to 1.0 (default: the weights' own, else 0.1)")
    p.add_argument("--normal-target", type=float, default=2.0, metavar="PCT",
                   help="largest lesion share of the lung allowed on normal slices (default 2)")
    p.add_argument("--normal-target-hu", type=float, default=None, metavar="PCT",
                   help="the same for the normal HU series (default: --normal-target); lower "
                   "leaves a margin for other scanners")
    p.add_argument("--inference-size", type=int, default=None, metavar="PX",
                   help="the grid (px, a multiple of 32) the model draws its maps on, stored in the "
                   "written weights (default: the weights' own)")
    p.add_argument("--lung-weights", default="auto", metavar="W",
                   help="lung-field network of the lung mask (default: the shipped one; 'off': none)")
    add_device_argument(p, None)
    p.set_defaults(func=run)


def run(args) -> int:
    from gan.data import load_class_folders, load_mask_folders, seeded_split
    from gan.inference import Localizer, check_inference_size
    from gan.weights import read_weights, save_weights
    from gan.networks import Generator
    from viewer.core.calibration import choose_threshold, share_curve
    from viewer.core.lung_field_stage import network_id
    from viewer.core.lesion_layers import series_lungs
    from viewer.core.lung_mask import segment_lungs
    from viewer.io import load_series, scan_path

    for flag, value in (("--val-images", args.val_images), ("--val-masks", args.val_masks)):
        if not Path(value).is_dir():
            return error(f"{flag} {value}: not a folder")
    if args.map_scale is not None and not (np.isfinite(args.map_scale) and args.map_scale > 0):
        return error(f"--map-scale {args.map_scale}: must be a positive number")
    if not (0.0 <= args.normal_target <= 100.0):
        return error(f"--normal-target {args.normal_target}: must lie in 0..100")
    if args.normal_target_hu is not None and not (0.0 <= args.normal_target_hu <= 100.0):
        return error(f"--normal-target-hu {args.normal_target_hu}: must lie in 0..100")
    lung_net = False if args.lung_weights == "off" else args.lung_weights
    if lung_net != "auto" and lung_net is not False and not Path(lung_net).is_file():
        return error(f"--lung-weights {lung_net}: not a file")
    if args.inference_size is not None:
        try:
            check_inference_size(args.inference_size, "--inference-size")
        except ValueError as exc:
            return error(str(exc))
    try:
        loc = Localizer(args.weights, device=args.device, image_size=args.inference_size)
    except (ValueError, OSError) as exc:
        return error(f"--weights {args.weights}: {exc}")
    if args.map_scale is not None:
        loc.map_scale = float(args.map_scale)
    loc.map_scale_hu = loc.map_scale  # both kinds on one scale while measuring

    def picture_curve(im, truth=None, window=None, lungs=None):
        lungs = segment_lungs(im, False, network=lung_net) if lungs is None else lungs
        m = loc.apply(im, is_hu=False, plan=loc.plan(im, False, lungs, window=window))
        true = None if truth is None else 100.0 * float((truth & lungs).sum()) / max(int(lungs.sum()), 1)
        return share_curve(m, lungs), true

    try:
        val = load_mask_folders(args.val_images, args.val_masks)
    except ValueError as exc:
        return error(f"validation set: {exc}")
    from gan.inference import folder_window

    val_lungs = [segment_lungs(im, False, network=lung_net) for im in val.images]
    window = folder_window(val.images, val_lungs)  # one source: one display window (as evaluate)
    print(f"validation display window: {window.describe()}", file=sys.stderr)
    val_curves, val_true = [], []
    for im, y, lg in zip(val.images, val.masks, val_lungs):
        c, t = picture_curve(im, y, window, lg)
        val_curves.append(c)
        val_true.append(t)
    print(f"validation: {len(val_curves)} labelled slices", file=sys.stderr)

    normal_pics = []
    if args.normal_pictures:
        try:
            data = load_class_folders(args.normal_pictures)
        except ValueError as exc:
            return error(f"--normal-pictures: {exc}")
        _, held = seeded_split(len(data), 0.7, 0)
        held = [int(i) for i in held if data.labels[i] == 0]
        normal_pics = [picture_curve(data.images[i])[0] for i in held]
        print(f"normal pictures: {len(normal_pics)} held-out non-COVID slices", file=sys.stderr)

    series_curves = {}
    for folder in args.normal_series:
        result = scan_path(Path(folder))
        if not result.series:
            return error(f"--normal-series {folder}: no loadable series")
        for info in result.series:
            vol = load_series(info)
            lungs = series_lungs(vol.voxels, vol.is_hu, vol.spacing, network=lung_net)
            plan = loc.plan(vol.voxels, vol.is_hu, lungs)
            maps = loc.apply(vol.voxels, is_hu=vol.is_hu, plan=plan)
            name = f"{Path(folder).name}:{info.series_uid or info.key}"[:80]
            series_curves[name] = share_curve(maps, lungs)
            print(f"normal series {name}: {vol.voxels.shape[0]} slices", file=sys.stderr)

    res = choose_threshold(val_curves, val_true, normal_pics, series_curves, args.normal_target,
                           normal_target_hu=args.normal_target_hu)
    state, meta = read_weights(args.weights)
    gen = Generator(float(meta.get("width", 1.0)))
    gen.load_state_dict(state)
    new_meta = {k: v for k, v in meta.items() if k != "format"}
    calib = res.as_dict()
    # HU maps get their own scale so that the HU threshold falls on the pictures' threshold
    scale_hu = loc.map_scale if res.hu_threshold is None else \
        loc.map_scale * res.hu_threshold / res.threshold
    calib.update(map_scale=loc.map_scale, map_scale_hu=scale_hu,
                 how="python main.py calibrate (viewer/cli/calibrate.py)",
                 val_images=str(args.val_images), normal_pictures=str(args.normal_pictures),
                 normal_series=[str(s) for s in args.normal_series],
                 lung_mask=network_id(lung_net))
    if loc.image_size != loc.train_size or "inference_size" in meta:
        new_meta["inference_size"] = str(loc.image_size)
    calib["inference_size"] = loc.image_size
    new_meta.update(threshold=f"{res.threshold:.4f}", map_scale=f"{loc.map_scale:.6g}",
                    map_scale_hu=f"{scale_hu:.6g}",
                    map_normalisation="absolute", calibration=json.dumps(calib))
    save_weights(gen, args.out, new_meta)
    print(json.dumps(calib, indent=1))
    met = res.met and res.hu_met
    status = "met" if met else "NOT met"
    print(f"{args.out}: threshold {res.threshold:.2f} (normal target {status}); map scale "
          f"{loc.map_scale:.4g} for pictures, {scale_hu:.4g} for HU; validation lesion-share MAE "
          f"{res.val_mae_points:.1f} points (answering 0 %: {res.val_mae_if_zero_points:.1f})",
          file=sys.stderr)
    return 0 if met else 1
