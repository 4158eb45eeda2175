"""The display windows of a picture training set: per-slice air and soft-tissue references.

    python -m gan.window_stats ../shared/data/soares-sarscov2-ct --out docs/training_windows.png

For every picture (``COVID/`` and ``non-COVID/``): the lung field (``gan.lung_field``), its
darkest 2 % (the air reference), its median, and the soft-tissue peak
(``gan.canonical``'s references). Prints the medians and the 10th-90th percentile spread per
class and writes a histogram. The canonical grey scale (``gan.canonical.TRAIN_AIR``,
``TRAIN_TISSUE``) is the non-COVID medians of these figures.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .canonical import _tissue_peak
from .data import load_class_folders
from .lung_field import lung_field


def picture_references(images: list[np.ndarray]) -> np.ndarray:
    """(n, 3) float: air reference, lung median, soft-tissue peak per picture (NaN where not
    measurable). ``images``: uint8 (y, x) pictures."""
    rows = []
    for im in images:
        unit = im.astype(np.float32) / 255.0
        lungs = lung_field(im, False)
        if lungs.sum() < 200:
            rows.append((np.nan, np.nan, np.nan))
            continue
        t = _tissue_peak(unit, lungs)
        rows.append((float(np.percentile(unit[lungs], 2)), float(np.median(unit[lungs])),
                     np.nan if t is None else t))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def summarise(refs: np.ndarray) -> dict:
    out = {}
    for k, name in enumerate(("air_p2", "lung_median", "tissue_peak")):
        v = refs[:, k][np.isfinite(refs[:, k])]
        out[name] = {"n": int(v.size), "median": float(np.median(v)) if v.size else None,
                     "p10": float(np.percentile(v, 10)) if v.size else None,
                     "p90": float(np.percentile(v, 90)) if v.size else None}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan.window_stats", description=__doc__.split("\n\n")[2])
    p.add_argument("data", help="class-folder training set (COVID/, non-COVID/)")
    p.add_argument("--out", default=None, help="histogram PNG to write")
    p.add_argument("--limit", type=int, default=None, help="pictures per class (default all)")
    args = p.parse_args(argv)
    try:
        data = load_class_folders(args.data, limit=args.limit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = {}
    refs = {}
    for label, name in ((0, "non-COVID"), (1, "COVID")):
        refs[name] = picture_references([im for im, y in zip(data.images, data.labels) if y == label])
        result[name] = summarise(refs[name])
    print(json.dumps(result, indent=1))
    if args.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
        for k, title in enumerate(("air reference (darkest 2 % of lung)", "lung median",
                                   "soft-tissue peak")):
            for name, color in (("non-COVID", "tab:blue"), ("COVID", "tab:red")):
                v = refs[name][:, k]
                axes[k].hist(v[np.isfinite(v)], bins=40, range=(0, 1), alpha=0.55, color=color,
                             label=name)
            axes[k].set_title(title, fontsize=10)
            axes[k].set_xlabel("grey (0-1)")
        axes[0].legend()
        fig.suptitle(f"Display windows of the training pictures ({Path(args.data).name})", fontsize=11)
        fig.tight_layout()
        fig.savefig(args.out, dpi=110)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
