"""Measure the lung mask (``viewer.core.lung_mask.segment_lungs``) on the real data in
../shared/data (issue #17, item 5).

Figures:
  * MedSeg validation (50 8-bit slices, radiologist lesion masks): share of all lesion pixels
    inside the lung mask (pooled), the mean and worst per-slice coverage, and the mean lung area
    (share of the picture);
  * NY-SBU (20 HU slices): mean lung area in cm^2 (2-D, with the DICOM pixel spacing);
  * LIDC-IDRI-0001 (133-slice HU series, 3-D): lung volume (L), share of mask voxels > -300 HU,
    runtime (best of ``--repeats``).

``--montage DIR`` writes PNG montages of the mask outline over MedSeg slices with lesions
(lesion outline in a second colour), the NY-SBU slices and LIDC apex/mid/base slices.

Usage: PYTHONPATH=. python scripts/lung_mask_report.py [--data ../shared/data] [--montage out/]
       [--network auto|off|WEIGHTS]  (the lung-field network of ``main.py lungs train``)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viewer.core.lung_mask import segment_lungs  # noqa: E402

#: the lung-field network used (``--network``): "auto" = the shipped one when present
NETWORK: object = "auto"


def _outline(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndi.binary_erosion(mask, border_value=0)


def _overlay(grey: np.ndarray, lungs: np.ndarray, lesion: np.ndarray | None = None,
             size: int = 256) -> Image.Image:
    g = np.clip(grey, 0, 255).astype(np.uint8)
    rgb = np.stack([g, g, g], axis=-1)
    if lesion is not None:
        les = ndi.binary_dilation(_outline(lesion))
        rgb[les & ~lungs] = (255, 40, 40)  # lesion outside the lung mask: red
        rgb[les & lungs] = (255, 220, 0)
    rgb[ndi.binary_dilation(_outline(lungs))] = (0, 255, 0)
    im = Image.fromarray(rgb)
    scale = size / max(im.size)
    return im.resize((max(1, int(im.size[0] * scale)), max(1, int(im.size[1] * scale))),
                     Image.BILINEAR)


def _montage(tiles: list[Image.Image], cols: int, size: int = 256) -> Image.Image:
    rows = -(-len(tiles) // cols)
    out = Image.new("RGB", (cols * size, rows * size))
    for i, t in enumerate(tiles):
        out.paste(t, ((i % cols) * size, (i // cols) * size))
    return out


def _window(hu: np.ndarray, width: float = 1500.0, level: float = -600.0) -> np.ndarray:
    return (np.clip((hu - (level - width / 2)) / width, 0, 1) * 255).astype(np.uint8)


def medseg(data: Path, montage: Path | None) -> dict:
    root = data / "medseg-covid19-val"
    if not root.is_dir():
        return {}
    inside = total = 0
    covers, areas, tiles = [], [], []
    worst = []
    for path in sorted((root / "images").glob("*.jpg"), key=lambda p: int(p.stem)):
        img = np.asarray(Image.open(path).convert("L"))
        les = np.asarray(Image.open(root / "masks" / f"{path.stem}.png").convert("L")) > 127
        lungs = segment_lungs(img, False, network=NETWORK)
        n = int(np.count_nonzero(les))
        inside += int(np.count_nonzero(les & lungs))
        total += n
        areas.append(np.count_nonzero(lungs) / lungs.size)
        if n:
            c = np.count_nonzero(les & lungs) / n
            covers.append(c)
            worst.append((c, path.stem, n - int(np.count_nonzero(les & lungs))))
        if montage is not None and n:
            tiles.append(_overlay(img, lungs, les))
    if montage is not None and tiles:
        for i in range(0, len(tiles), 20):
            _montage(tiles[i: i + 20], 5).save(montage / f"medseg_{i // 20}.png")
    worst.sort()
    return {"medseg_coverage": inside / max(total, 1), "medseg_mean_slice_coverage":
            float(np.mean(covers)), "medseg_mean_lung_share": float(np.mean(areas)),
            "medseg_worst": [(s, round(float(c), 3), m) for c, s, m in worst[:6]]}


def soares_normal(data: Path, limit: int | None = None) -> dict:
    """Held-out normal pictures (non-COVID slices of the seeded 30 %, never trained on): the mask
    with the network against the threshold-based one, which is reliable on aerated lungs (Dice and
    area ratio); a network that over-reaches shows here."""
    root = data / "soares-sarscov2-ct"
    if not root.is_dir() or NETWORK is False:
        return {}
    from gan.data import load_class_folders, seeded_split

    sets = load_class_folders(root)
    _, held = seeded_split(len(sets), 0.7, 0)
    held = [int(i) for i in held if sets.labels[i] == 0][:limit]
    dices, ratios = [], []
    for i in held:
        a = segment_lungs(sets.images[i], False, network=False)
        b = segment_lungs(sets.images[i], False, network=NETWORK)
        if a.any():
            dices.append(2 * np.count_nonzero(a & b) / (a.sum() + b.sum()))
            ratios.append(b.sum() / a.sum())
    return {"soares_normal_slices": len(dices), "soares_normal_dice_vs_threshold": float(np.mean(dices)),
            "soares_normal_min_dice": float(np.min(dices)),
            "soares_normal_area_ratio": float(np.mean(ratios)), "soares_normal_max_area_ratio": float(np.max(ratios))}


def nysbu(data: Path, montage: Path | None) -> dict:
    import pydicom

    root = data / "covid19-ny-sbu-axial"
    if not root.is_dir():
        return {}
    areas, tiles = [], []
    for path in sorted(root.glob("*/*.dcm")):
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(
            ds.RescaleIntercept)
        sp = tuple(float(s) for s in ds.PixelSpacing)
        lungs = segment_lungs(hu, True, spacing=sp, network=NETWORK)
        areas.append(np.count_nonzero(lungs) * sp[0] * sp[1] / 100.0)
        if montage is not None:
            tiles.append(_overlay(_window(hu), lungs))
    if montage is not None and tiles:
        _montage(tiles, 5).save(montage / "nysbu.png")
    return {"nysbu_mean_lung_cm2": float(np.mean(areas)),
            "nysbu_lung_cm2": [round(a) for a in areas]}


def lidc(data: Path, montage: Path | None, repeats: int) -> dict:
    root = data / "lidc-idri-0001"
    if not root.is_dir():
        return {}
    from viewer.core.lesion_layers import physical_spacing
    from viewer.io import load_series, scan_path

    vol = load_series(scan_path(root).series[0])
    sp = physical_spacing(vol)
    hu = np.asarray(vol.voxels, dtype=np.float32)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        lungs = segment_lungs(hu, True, spacing=sp, network=NETWORK)
        times.append(time.perf_counter() - t0)
    vox_ml = sp[0] * sp[1] * sp[2] / 1000.0
    n = int(np.count_nonzero(lungs))
    out = {"lidc_volume_l": n * vox_ml / 1000.0,
           "lidc_dense_share": float(np.count_nonzero(lungs & (hu > -300)) / max(n, 1)),
           "lidc_seconds": min(times)}
    if montage is not None:
        zs = np.flatnonzero(lungs.any(axis=(1, 2)))
        picks = np.linspace(zs[0] + 2, zs[-1] - 2, 10).astype(int) if zs.size else []
        _montage([_overlay(_window(hu[k]), lungs[k]) for k in picks], 5).save(
            montage / "lidc.png")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--montage", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--network", default="auto",
                    help="lung-field network: auto (the shipped one), off, or a weights file")
    ap.add_argument("--skip", default="", help="comma list of medseg,soares,nysbu,lidc to skip")
    args = ap.parse_args(argv)
    global NETWORK
    NETWORK = False if args.network == "off" else args.network
    if args.montage is not None:
        args.montage.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    res: dict = {}
    if "medseg" not in skip:
        res.update(medseg(args.data, args.montage))
    if "soares" not in skip:
        res.update(soares_normal(args.data))
    if "nysbu" not in skip:
        res.update(nysbu(args.data, args.montage))
    if "lidc" not in skip:
        res.update(lidc(args.data, args.montage, args.repeats))
    if not res:
        print(f"no data under {args.data}")
        return 1
    for k, v in res.items():
        print(f"{k:28s} {v:.4f}" if isinstance(v, float) else f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
