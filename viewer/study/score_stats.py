"""Statistics of a reader study's visual scores (1–5), as in the paper's Figs. 6 and 7.

Input: the latest score of every reader for every item
(:meth:`viewer.study.score_store.ScoreStore.aggregate_latest`), i.e. a list of
:class:`~viewer.study.score_store.SavedScore`.

* mean ± SD per method (SD with ddof = 1, the sample standard deviation);
* Student's t-test between every pair of methods (``scipy.stats.ttest_ind``, equal variances,
  all scores of each method, all readers), and a paired t-test (``scipy.stats.ttest_rel``)
  over the (reader, slice) pairs where the same reader scored the same slice with both methods;
* mean ± SD per severity cohort (mild, common, severe, critical; the category stored with the
  score) and method, with a Student's t-test of the common cohort against each other cohort
  (the paper's Fig. 7 comparison);
* inter-reader agreement: Cohen's kappa with quadratic and linear weights
  (``sklearn.metrics.cohen_kappa_score``, labels 1–5) for every pair of readers over the items
  both scored, overall and per method;
* PNG plots with matplotlib's Agg canvas (no pyplot state, safe in worker threads).

Undefined quantities (a test with fewer than 2 values per group, zero variance, kappa without
variation) are NaN in the dataclasses, ``null`` in JSON and "n/a" in the text table, with a note.
"""
from __future__ import annotations

import io
import itertools
import math
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from gan.map_methods import GAN, METHODS
from viewer.study.reading_list import method_label
from viewer.study.score_store import SEVERITY_CATEGORIES, SavedScore

REFERENCE_METHOD = GAN
REFERENCE_COHORT = "common"


@dataclass(frozen=True)
class MethodStats:
    method: str
    n: int
    mean: float
    sd: float
    n_readers: int


@dataclass(frozen=True)
class TTest:
    """t-test between two groups; ``kind`` is ``"independent"`` or ``"paired"``.

    For paired tests ``n_a == n_b`` is the number of pairs. ``t`` and ``p`` are NaN when undefined.
    """

    a: str
    b: str
    kind: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    t: float
    p: float
    note: str = ""


@dataclass(frozen=True)
class CohortStats:
    method: str
    cohort: str
    n: int
    mean: float
    sd: float


@dataclass(frozen=True)
class Agreement:
    """Weighted Cohen's kappa of two readers over ``n_items`` items both scored.

    ``method`` None means all methods together.
    """

    reader_a: str
    reader_b: str
    method: str | None
    n_items: int
    kappa_quadratic: float
    kappa_linear: float
    note: str = ""


@dataclass
class Summary:
    n_scores: int
    readers: list[str]
    n_unsure: int
    unsure_excluded: bool
    methods: list[MethodStats] = field(default_factory=list)
    tests: list[TTest] = field(default_factory=list)
    paired_tests: list[TTest] = field(default_factory=list)
    cohorts: list[CohortStats] = field(default_factory=list)
    cohort_tests: dict[str, list[TTest]] = field(default_factory=dict)
    n_without_severity: int = 0
    agreement: list[Agreement] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN -> None)."""
        return _nan_to_none(asdict(self))


def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample SD (ddof = 1); SD is NaN for fewer than 2 values, both NaN for none."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan


def _ttest(a: str, b: str, xa, xb, kind: str) -> TTest:
    from scipy import stats

    xa = np.asarray(xa, dtype=float)
    xb = np.asarray(xb, dtype=float)
    ma = float(xa.mean()) if xa.size else math.nan
    mb = float(xb.mean()) if xb.size else math.nan
    if xa.size < 2 or xb.size < 2:
        return TTest(a, b, kind, xa.size, xb.size, ma, mb, math.nan, math.nan,
                     "fewer than 2 scores in a group")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_rel(xa, xb) if kind == "paired" else stats.ttest_ind(xa, xb)
    t, p = float(res.statistic), float(res.pvalue)
    note = "" if math.isfinite(p) else "undefined (no variation)"
    return TTest(a, b, kind, xa.size, xb.size, ma, mb, t, p, note)


def _method_order(methods) -> list[str]:
    known = list(METHODS)
    return sorted(set(methods), key=lambda m: (known.index(m) if m in known else len(known), m))


def summarize(scores: Sequence[SavedScore], *, exclude_unsure: bool = False) -> Summary:
    """All statistics of the module for the latest scores (one per reader and item)."""
    n_unsure = sum(1 for s in scores if s.unsure)
    used = [s for s in scores if not (exclude_unsure and s.unsure)]
    summary = Summary(n_scores=len(used), readers=sorted({s.reader_id for s in used}),
                      n_unsure=n_unsure, unsure_excluded=exclude_unsure)
    by_method: dict[str, list[SavedScore]] = defaultdict(list)
    for s in used:
        by_method[s.key.method].append(s)
    methods = _method_order(by_method)

    for m in methods:
        vals = [s.score for s in by_method[m]]
        mean, sd = mean_sd(vals)
        summary.methods.append(MethodStats(m, len(vals), mean, sd,
                                           len({s.reader_id for s in by_method[m]})))

    # independent and paired t-tests between every pair of methods
    by_reader_slice: dict[tuple, dict[str, int]] = defaultdict(dict)
    for s in used:
        by_reader_slice[(s.reader_id,) + s.key.slice_key][s.key.method] = s.score
    for a, b in itertools.combinations(methods, 2):
        summary.tests.append(_ttest(a, b, [s.score for s in by_method[a]],
                                    [s.score for s in by_method[b]], "independent"))
        pairs = [(d[a], d[b]) for _, d in sorted(by_reader_slice.items()) if a in d and b in d]
        if pairs:
            xa, xb = zip(*pairs)
            summary.paired_tests.append(_ttest(a, b, xa, xb, "paired"))

    # severity cohorts
    summary.n_without_severity = sum(1 for s in used if not s.severity_category)
    for m in methods:
        groups = {c: [s.score for s in by_method[m] if s.severity_category == c]
                  for c in SEVERITY_CATEGORIES}
        for c in SEVERITY_CATEGORIES:
            if groups[c]:
                mean, sd = mean_sd(groups[c])
                summary.cohorts.append(CohortStats(m, c, len(groups[c]), mean, sd))
        tests = [_ttest(REFERENCE_COHORT, c, groups[REFERENCE_COHORT], groups[c], "independent")
                 for c in SEVERITY_CATEGORIES
                 if c != REFERENCE_COHORT and groups[c] and groups[REFERENCE_COHORT]]
        if tests:
            summary.cohort_tests[m] = tests

    # inter-reader agreement
    per_reader: dict[str, dict] = defaultdict(dict)
    for s in used:
        per_reader[s.reader_id][s.key] = s.score
    for ra, rb in itertools.combinations(summary.readers, 2):
        common = sorted(set(per_reader[ra]) & set(per_reader[rb]), key=lambda k: k.as_tuple())
        if not common:
            continue
        summary.agreement.append(_kappa(ra, rb, None, common, per_reader))
        for m in methods:
            km = [k for k in common if k.method == m]
            if km and len(km) < len(common):
                summary.agreement.append(_kappa(ra, rb, m, km, per_reader))
    return summary


def _kappa(ra: str, rb: str, method, keys, per_reader) -> Agreement:
    from sklearn.metrics import cohen_kappa_score

    ya = [per_reader[ra][k] for k in keys]
    yb = [per_reader[rb][k] for k in keys]
    if len(keys) < 2:
        return Agreement(ra, rb, method, len(keys), math.nan, math.nan, "fewer than 2 shared items")
    labels = sorted(range(1, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q = float(cohen_kappa_score(ya, yb, weights="quadratic", labels=labels))
        lin = float(cohen_kappa_score(ya, yb, weights="linear", labels=labels))
    note = "" if math.isfinite(q) else "undefined (no variation)"
    return Agreement(ra, rb, method, len(keys), q, lin, note)


# ----------------------------------------------------------------------------- text

def stars(p: float) -> str:
    """Significance stars as in the paper: * P<0.05, ** P<0.01, *** P<0.001."""
    if not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "n.s."


def _f(x: float, fmt: str = ".2f") -> str:
    return format(x, fmt) if math.isfinite(x) else "n/a"


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def format_summary(s: Summary) -> str:
    """Plain-text report of a :class:`Summary` (the ``scores summary`` output)."""
    out = [f"Visual scores: {s.n_scores} latest scores by {len(s.readers)} reader(s)"
           f" ({', '.join(s.readers) or 'none'}); {s.n_unsure} marked unsure"
           + (" (excluded)" if s.unsure_excluded else "")]
    if not s.methods:
        out.append("No scores yet.")
        return "\n".join(out)
    out.append("")
    out.append(f"{'method':<24}{'n':>5}  {'mean ± SD':>13}  readers")
    for m in s.methods:
        out.append(f"{method_label(m.method):<24}{m.n:>5}  {_f(m.mean):>5} ± {_f(m.sd):<5}"
                   f"  {m.n_readers}")
    if s.tests:
        out.append("")
        out.append("Student's t-test between methods (independent; all scores)")
        for t in s.tests:
            out.append(f"  {method_label(t.a)} vs {method_label(t.b)}: n={t.n_a}/{t.n_b}  "
                       f"t={_f(t.t)}  {_p(t.p)} {stars(t.p)} {t.note}".rstrip())
    if s.paired_tests:
        out.append("Paired t-test (same reader, same slice)")
        for t in s.paired_tests:
            out.append(f"  {method_label(t.a)} vs {method_label(t.b)}: pairs={t.n_a}  "
                       f"t={_f(t.t)}  {_p(t.p)} {stars(t.p)} {t.note}".rstrip())
    if s.cohorts:
        out.append("")
        out.append("By severity cohort (mean ± SD, n)")
        out.append(f"{'method':<24}" + "".join(f"{c:>18}" for c in SEVERITY_CATEGORIES))
        cell = {(c.method, c.cohort): c for c in s.cohorts}
        for m in s.methods:
            row = f"{method_label(m.method):<24}"
            for c in SEVERITY_CATEGORIES:
                cs = cell.get((m.method, c))
                row += f"{(_f(cs.mean) + ' ± ' + _f(cs.sd) + f' ({cs.n})') if cs else '-':>18}"
            out.append(row)
        for m, tests in s.cohort_tests.items():
            parts = [f"vs {t.b} {_p(t.p)} {stars(t.p)}".rstrip() for t in tests]
            out.append(f"  {method_label(m)}: common " + "; ".join(parts))
    if s.n_without_severity:
        out.append(f"  ({s.n_without_severity} score(s) without a severity category)")
    if s.agreement:
        out.append("")
        out.append("Inter-reader agreement (Cohen's weighted kappa)")
        for a in s.agreement:
            what = "all methods" if a.method is None else method_label(a.method)
            out.append(f"  {a.reader_a} vs {a.reader_b}, {what}: n={a.n_items}  "
                       f"quadratic={_f(a.kappa_quadratic, '.3f')}  "
                       f"linear={_f(a.kappa_linear, '.3f')} {a.note}".rstrip())
    elif len(s.readers) >= 2:
        out.append("")
        out.append("Inter-reader agreement: the readers share no scored items")
    return "\n".join(out)


# ----------------------------------------------------------------------------- plots

def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def method_bars_png(s: Summary) -> bytes:
    """Fig. 6-style bar chart: mean ± SD per method, stars for the t-test against the GAN."""
    fig = _new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ms = [m for m in s.methods if m.n > 0]
    x = np.arange(len(ms))
    means = [m.mean for m in ms]
    sds = [m.sd if math.isfinite(m.sd) else 0.0 for m in ms]
    ax.bar(x, means, yerr=sds, capsize=5, color="#7fa7d9", edgecolor="black")
    ax.set_xticks(x, [f"{method_label(m.method)}\n(n={m.n})" for m in ms], fontsize=8)
    ax.set_ylim(0, 6.4)
    ax.set_ylabel("visual score (mean ± SD)")
    ax.set_title("Visual score by method")
    ref = REFERENCE_METHOD if any(m.method == REFERENCE_METHOD for m in ms) else (
        ms[0].method if ms else None)
    level = 5.3
    for t in s.tests:
        if ref not in (t.a, t.b):
            continue
        st = stars(t.p)
        if not st:
            continue
        i = [m.method for m in ms].index(t.a)
        j = [m.method for m in ms].index(t.b)
        ax.plot([i, i, j, j], [level, level + 0.1, level + 0.1, level], color="black", lw=0.8)
        ax.text((i + j) / 2, level + 0.12, st, ha="center", va="bottom", fontsize=8)
        level += 0.35
    if not ms:
        ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes)
    return _to_png(fig)


def cohort_bars_png(s: Summary) -> bytes:
    """Fig. 7-style chart: mean ± SD per severity cohort, one bar per method; stars mark a
    significant difference from the same method's common cohort."""
    fig = _new_figure(7.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    methods = [m.method for m in s.methods]
    cell = {(c.method, c.cohort): c for c in s.cohorts}
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(SEVERITY_CATEGORIES))
    for k, m in enumerate(methods):
        means = [cell[(m, c)].mean if (m, c) in cell else 0.0 for c in SEVERITY_CATEGORIES]
        sds = [cell[(m, c)].sd if (m, c) in cell and math.isfinite(cell[(m, c)].sd) else 0.0
               for c in SEVERITY_CATEGORIES]
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, means, width * 0.95, yerr=sds, capsize=3, label=method_label(m),
               edgecolor="black", linewidth=0.5)
        p_by_cohort = {t.b: t.p for t in s.cohort_tests.get(m, [])}
        for j, c in enumerate(SEVERITY_CATEGORIES):
            st = stars(p_by_cohort.get(c, math.nan))
            if st and st != "n.s." and (m, c) in cell:
                ax.text(pos[j], means[j] + sds[j] + 0.1, st, ha="center", fontsize=7)
    labels = []
    for c in SEVERITY_CATEGORIES:
        n = sum(cs.n for cs in s.cohorts if cs.cohort == c)
        labels.append(f"{c}\n(n={n})")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 6.4)
    ax.set_ylabel("visual score (mean ± SD)")
    ax.set_title("Visual score by severity cohort (stars: vs common, same method)")
    if methods:
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    if not s.cohorts:
        ax.text(0.5, 0.5, "no scores with a severity category", ha="center", va="center",
                transform=ax.transAxes)
    return _to_png(fig)


def save_plots(s: Summary, out_dir: str | Path) -> list[Path]:
    """Write ``visual_score_by_method.png`` and ``visual_score_by_cohort.png``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "visual_score_by_method.png", out / "visual_score_by_cohort.png"]
    paths[0].write_bytes(method_bars_png(s))
    paths[1].write_bytes(cohort_bars_png(s))
    return paths
