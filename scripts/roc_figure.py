"""One ROC figure from the ``metrics.json`` of several ``evaluate`` runs (e.g. the shipped
student's run and the CAM baselines' run), for docs/roc_validation.png.

    python scripts/roc_figure.py runs/eval_ft256/metrics.json runs/eval_final_cls256/metrics.json \\
        --methods gan,gan+lung,gan-abs,gan-abs+lung --from-last gradcam,msgradcam,smoothgrad \\
        --out docs/roc_validation.png

``--methods`` are taken from the first file, ``--from-last`` (with their "+lung" variants when
present) from the last one; the curves are the thinned ROC points stored in metrics.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _curves(path: Path, names: list[str], with_lung: bool) -> dict:
    from gan.metrics import RocCurve

    try:
        methods = json.loads(path.read_text())["localization"]["methods"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"error: {path}: not an evaluate metrics.json ({exc})")
    out = {}
    for n in names:
        for key in ([n, n + "+lung"] if with_lung else [n]):
            if key not in methods:
                if key == n:
                    raise SystemExit(f"error: {path}: no method {n!r} (has {', '.join(methods)})")
                continue
            r = methods[key]
            fpr, tpr = np.asarray(r["roc"]["fpr"]), np.asarray(r["roc"]["tpr"])
            out[key] = RocCurve(fpr, tpr, np.zeros(max(fpr.size - 1, 0)), float(r["auc"]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("metrics", nargs="+", type=Path)
    p.add_argument("--methods", default="gan,gan+lung,gan-abs,gan-abs+lung")
    p.add_argument("--from-last", default="", help="methods taken from the last metrics file")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    from gan.evaluate import plot_roc

    curves = _curves(a.metrics[0], [m for m in a.methods.split(",") if m], False)
    if a.from_last:
        curves.update(_curves(a.metrics[-1], [m for m in a.from_last.split(",") if m], True))
    plot_roc(curves, a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
