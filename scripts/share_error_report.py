"""Where the lesion-share error of the shipped localizer comes from, and what other readouts of
the same maps would give (model card, "What limits the lesion-share error"; issue #11).

Maps and lung masks come from the product's pipeline, as ``main.py calibrate`` makes them:
``Localizer.apply`` with each picture's input plan and one display window for the validation
folder, lungs from ``viewer.core.lung_mask.segment_lungs`` (with the lung-field network). They are
cached in ``--cache`` (an .npz per set) so that the rules are scored in seconds.

Rules, each scored as the mean absolute error (points) of the lesion share of the lung on the 50
MedSeg validation slices, with leave-one-slice-out (LOO) figures for the fitted ones, and the mean
share of the held-out normal pictures (the calibration's normal end):

  * the fixed threshold (the product's), on maps smoothed with sigma 4.5 / 2 / 0 px;
  * a soft share: the mean map probability in the lung times a fitted scale, with and without
    a floor;
  * a threshold that rises with the lung's median canonical grey;
  * map above a high threshold, or above a low one where the lung is denser than aerated lung
    and lighter than vessels.

Usage: PYTHONPATH=. python scripts/share_error_report.py [--data ../shared/data]
       [--weights resources/weights/localizer.safetensors] [--cache runs/share_cache]
Takes about 7 minutes on 2 CPU cores the first time (the cache), seconds after.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIGMAS = (4.5, 2.0, 0.0)
GREY_NORMAL = 0.345   # median canonical grey of normal lungs (held-out normal pictures)


def _objects(items) -> np.ndarray:
    items = list(items)
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def build_cache(data: Path, weights: Path, cache: Path) -> None:
    from gan.data import load_class_folders, load_mask_folders, seeded_split
    from gan.inference import Localizer, canonical_inputs, folder_window
    from viewer.core.lung_mask import segment_lungs

    loc = Localizer(weights, device="cpu")
    loc.map_scale = loc.map_scale_hu = 1.0   # the calibration scale of pictures

    def maps_of(im, plan):
        out = {}
        for s in SIGMAS:
            loc.sigma = s
            out[s] = loc.apply(im, is_hu=False, plan=plan)
        return out

    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "val.npz").exists():
        val = load_mask_folders(data / "medseg-covid19-val" / "images", data / "medseg-covid19-val" / "masks")
        lungs = [segment_lungs(im, False, network="auto") for im in val.images]
        window = folder_window(val.images, lungs)
        plans = [loc.plan(im, False, lg, window=window) for im, lg in zip(val.images, lungs)]
        maps = [maps_of(im, p) for im, p in zip(val.images, plans)]
        units = [canonical_inputs(im[None], False, p)[0][0] for im, p in zip(val.images, plans)]
        np.savez_compressed(cache / "val.npz", truth=_objects(val.masks), lungs=_objects(lungs),
                            unit=_objects(units), threshold=loc.threshold,
                            **{f"map_s{s}": _objects(m[s] for m in maps) for s in SIGMAS})
        print(f"cached {len(lungs)} validation slices", file=sys.stderr)
    if not (cache / "normal.npz").exists():
        soares = load_class_folders(data / "soares-sarscov2-ct")
        _, held = seeded_split(len(soares), 0.7, 0)
        held = [int(i) for i in held if soares.labels[i] == 0]
        lungs, maps = [], []
        for i in held:
            im = soares.images[i]
            lg = segment_lungs(im, False, network="auto")
            lungs.append(lg)
            maps.append(maps_of(im, loc.plan(im, False, lg)))
        np.savez_compressed(cache / "normal.npz", lungs=_objects(lungs),
                            **{f"map_s{s}": _objects(m[s] for m in maps) for s in SIGMAS})
        print(f"cached {len(lungs)} held-out normal pictures", file=sys.stderr)


def _share(maps, lungs, t) -> np.ndarray:
    return np.array([100.0 * float((m[lg] >= t).mean()) for m, lg in zip(maps, lungs)])


def _mae(pred, true) -> float:
    return float(np.abs(np.asarray(pred) - true).mean())


def _loo(fit, score, n: int) -> float:
    """Leave-one-out MAE: ``fit(indices) -> params``, ``score(params, i) -> abs error``."""
    idx = np.arange(n)
    return float(np.mean([score(fit(idx[idx != i]), i) for i in range(n)]))


def report(cache: Path) -> None:
    v = np.load(cache / "val.npz", allow_pickle=True)
    nrm = np.load(cache / "normal.npz", allow_pickle=True)
    truth, lungs, unit = v["truth"], v["lungs"], v["unit"]
    thr = float(v["threshold"])
    n_lungs = [lg for lg in nrm["lungs"] if lg.sum()]
    keep = [k for k, lg in enumerate(nrm["lungs"]) if lg.sum()]
    true = np.array([100.0 * (t & lg).sum() / max(int(lg.sum()), 1) for t, lg in zip(truth, lungs)])
    n = len(true)
    grid = np.round(np.arange(0.02, 0.99, 0.02), 2)
    rows = []

    m = v["map_s4.5"]
    nm = [nrm["map_s4.5"][k] for k in keep]
    curves = np.array([[100.0 * float((mm[lg] >= g).mean()) for g in grid] for mm, lg in zip(m, lungs)])

    def fit_fixed(idx):
        return int(np.argmin(np.abs(curves[idx] - true[idx, None]).mean(axis=0)))

    pred = _share(m, lungs, thr)
    rows.append((f"fixed threshold {thr:.2f} (shipped)", _mae(pred, true),
                 _loo(fit_fixed, lambda j, i: abs(curves[i, j] - true[i]), n),
                 float(_share(nm, n_lungs, thr).mean())))
    for s in SIGMAS[1:]:
        ms = v[f"map_s{s}"]
        rows.append((f"fixed threshold {thr:.2f}, maps smoothed with sigma {s:g} px",
                     _mae(_share(ms, lungs, thr), true), None,
                     float(_share([nrm[f"map_s{s}"][k] for k in keep], n_lungs, thr).mean())))

    for floor in (0.0, 0.05):
        soft = np.array([100.0 * np.clip(mm[lg] - floor, 0, None).mean() for mm, lg in zip(m, lungs)])
        nsoft = np.array([100.0 * np.clip(mm[lg] - floor, 0, None).mean() for mm, lg in zip(nm, n_lungs)])

        def fit_scale(idx, soft=soft):
            return float(soft[idx] @ true[idx] / max(float(soft[idx] @ soft[idx]), 1e-12))
        a = fit_scale(np.arange(n))
        rows.append((f"soft share: mean map above {floor:g} in the lung x {a:.2f}", _mae(a * soft, true),
                     _loo(fit_scale, lambda a_, i, soft=soft: abs(a_ * soft[i] - true[i]), n),
                     float(a * nsoft.mean())))

    med = np.array([float(np.median(u[lg])) for u, lg in zip(unit, lungs)])
    params = [(t0, k) for t0 in grid[5:25] for k in np.round(np.arange(-1.0, 2.01, 0.1), 2)]

    def adaptive(p, idx):
        t = np.clip(p[0] + p[1] * np.maximum(med[idx] - GREY_NORMAL, 0), grid[0], grid[-1])
        j = np.clip(np.round(t / 0.02).astype(int) - 1, 0, len(grid) - 1)
        return curves[idx, j]

    def fit_adaptive(idx):
        return min(params, key=lambda p: _mae(adaptive(p, idx), true[idx]))
    p = fit_adaptive(np.arange(n))
    rows.append((f"threshold {p[0]:.2f} + {p[1]:.1f} x (lung median grey - {GREY_NORMAL})",
                 _mae(adaptive(p, np.arange(n)), true),
                 _loo(fit_adaptive, lambda p_, i: abs(adaptive(p_, np.array([i]))[0] - true[i]), n), None))

    best = None
    for t1 in (0.34, 0.4, 0.5):
        for t2 in (0.05, 0.1, 0.15, 0.2):
            for g1 in (0.42, 0.45, 0.48):
                for g2 in (0.7, 0.8, 0.9):
                    pr = np.array([100.0 * (lg & ((mm >= t1) | ((mm >= t2) & (u >= g1) & (u <= g2)))).sum()
                                   / lg.sum() for mm, u, lg in zip(m, unit, lungs)])
                    e = _mae(pr, true)
                    if best is None or e < best[0]:
                        best = (e, t1, t2, g1, g2)
    rows.append((f"map >= {best[1]:.2f}, or map >= {best[2]:.2f} and grey {best[3]:.2f}-{best[4]:.2f} "
                 "(in-sample, 4 parameters)", best[0], None, None))

    print(f"{'rule':<80}{'MAE':>7}{'LOO':>7}{'normal %':>10}")
    for name, mae, loo, normal in rows:
        print(f"{name:<80}{mae:>7.2f}{'' if loo is None else f'{loo:.2f}':>7}"
              f"{'' if normal is None else f'{normal:.2f}':>10}")

    small = true < 13
    err = pred - true
    print(f"\nat {thr:.2f}: {int(small.sum())} slices with a true share under 13 %: mean abs error "
          f"{np.abs(err[small]).mean():.1f}, {int((pred[small] < 8).sum())} read under 8 %, "
          f"{int((pred[small] < 1).sum())} under 1 %; {int((~small).sum())} larger: mean abs error "
          f"{np.abs(err[~small]).mean():.1f}, bias {err[~small].mean():+.1f}")
    peak = np.array([np.percentile(mm[lg], 99.5) for mm, lg in zip(m, lungs)])
    npeak = np.array([np.percentile(mm[lg], 99.5) for mm, lg in zip(nm, n_lungs) if lg.sum() > 100])
    print(f"peak map (99.5th percentile in the lung): small-lesion slices {peak[small].min():.2f}-"
          f"{peak[small].max():.2f}; normal pictures p90 {np.percentile(npeak, 90):.2f}, "
          f"p95 {np.percentile(npeak, 95):.2f}")
    print("\nworst slices (index: true -> read, lung median grey):")
    for i in np.argsort(-np.abs(err))[:10]:
        print(f"  {i:2d}: {true[i]:5.1f} -> {pred[i]:5.1f}  ({med[i]:.2f})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--weights", type=Path, default=ROOT / "resources" / "weights" / "localizer.safetensors")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "share_cache")
    args = ap.parse_args(argv)
    for sub in ("medseg-covid19-val", "soares-sarscov2-ct"):
        if not (args.data / sub).is_dir():
            print(f"--data {args.data}: no {sub} folder", file=sys.stderr)
            return 2
    build_cache(args.data, args.weights, args.cache)
    report(args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
