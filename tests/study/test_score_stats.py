"""Score statistics against values computed by hand and with scipy directly."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from viewer.study.score_stats import format_summary, save_plots, summarize
from viewer.study.score_store import ItemKey, SavedScore

GAN = {0: 5, 1: 4, 2: 4, 3: 3, 4: 5}
CAM = {0: 3, 1: 2, 2: 4, 3: 1}
SEV = {0: "mild", 1: "common", 2: "common", 3: "severe", 4: "common"}


def rec(reader, i, method, score, sev=None, unsure=False, row=[0]):
    row[0] += 1
    k = ItemKey.make(sop_instance_uid=f"1.{i}", slice_index=i, method=method)
    return SavedScore(row[0], reader, k, score, "", unsure, sev, "t")


def records():
    out = [rec("alice", i, "gan", s, SEV[i]) for i, s in GAN.items()]
    out += [rec("alice", i, "gradcam", s, SEV[i]) for i, s in CAM.items()]
    return out


def test_mean_sd_by_hand():
    s = summarize(records())
    gan, cam = s.methods  # GAN first, then Grad-CAM
    assert (gan.method, gan.n, cam.method, cam.n) == ("gan", 5, "gradcam", 4)
    assert gan.mean == pytest.approx(21 / 5)
    assert gan.sd == pytest.approx(math.sqrt(((.8**2) * 2 + .2**2 * 2 + 1.2**2) / 4))
    assert cam.mean == pytest.approx(2.5)
    assert cam.sd == pytest.approx(math.sqrt((0.25 + 0.25 + 2.25 + 2.25) / 3))


def test_t_tests_match_scipy():
    s = summarize(records())
    ind = s.tests[0]
    ref = stats.ttest_ind(list(GAN.values()), list(CAM.values()))
    assert (ind.a, ind.b, ind.kind) == ("gan", "gradcam", "independent")
    assert ind.t == pytest.approx(ref.statistic) and ind.p == pytest.approx(ref.pvalue)
    paired = s.paired_tests[0]
    ref = stats.ttest_rel([GAN[i] for i in range(4)], [CAM[i] for i in range(4)])
    assert paired.n_a == 4 and paired.t == pytest.approx(ref.statistic)
    assert paired.p == pytest.approx(ref.pvalue)


def test_cohorts_and_common_vs_others():
    s = summarize(records())
    cells = {(c.method, c.cohort): c for c in s.cohorts}
    assert cells[("gan", "common")].n == 3
    assert cells[("gan", "common")].mean == pytest.approx(13 / 3)
    assert cells[("gan", "mild")].n == 1 and math.isnan(cells[("gan", "mild")].sd)
    assert ("gan", "critical") not in cells
    sev_test = [t for t in s.cohort_tests["gan"] if t.b == "severe"][0]
    assert math.isnan(sev_test.p) and "fewer than 2" in sev_test.note  # one severe slice


def hand_kappa(a, b, weight):
    """Weighted kappa from the confusion matrix, written out."""
    a, b = np.asarray(a) - 1, np.asarray(b) - 1
    obs = np.zeros((5, 5))
    for x, y in zip(a, b):
        obs[x, y] += 1
    exp = np.outer(obs.sum(1), obs.sum(0)) / obs.sum()
    i, j = np.indices((5, 5))
    w = (i - j) ** 2 if weight == "quadratic" else np.abs(i - j)
    return 1 - (w * obs).sum() / (w * exp).sum()


def test_inter_reader_kappa_by_hand():
    bob_gan = {0: 4, 1: 4, 2: 3, 3: 3, 4: 5}
    recs = records() + [rec("bob", i, "gan", v) for i, v in bob_gan.items()]
    recs.append(rec("carol", 99, "gan", 2))  # shares nothing with the others
    s = summarize(recs)
    overall = [a for a in s.agreement if a.method is None]
    assert [(a.reader_a, a.reader_b, a.n_items) for a in overall] == [("alice", "bob", 5)]
    a = overall[0]
    av, bv = [GAN[i] for i in range(5)], [bob_gan[i] for i in range(5)]
    assert a.kappa_quadratic == pytest.approx(hand_kappa(av, bv, "quadratic"))
    assert a.kappa_linear == pytest.approx(hand_kappa(av, bv, "linear"))
    assert "alice vs bob, all methods: n=5" in format_summary(s)


def test_unsure_exclusion_and_empty():
    recs = records() + [rec("alice", 7, "gan", 1, unsure=True)]
    assert summarize(recs).methods[0].n == 6
    s = summarize(recs, exclude_unsure=True)
    assert s.methods[0].n == 5 and s.n_unsure == 1 and s.unsure_excluded
    empty = summarize([])
    assert empty.methods == [] and "No scores yet" in format_summary(empty)


def test_json_text_and_plots(tmp_path):
    s = summarize(records())
    d = s.to_dict()
    json.dumps(d, allow_nan=False)  # NaN became null
    assert d["methods"][0]["method"] == "gan"
    text = format_summary(s)
    assert "GAN" in text and "4.20 ± 0.84" in text and "Paired t-test" in text
    paths = save_plots(s, tmp_path / "plots")
    assert [p.name for p in paths] == ["visual_score_by_method.png", "visual_score_by_cohort.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for p in save_plots(summarize([]), tmp_path / "empty"):
        assert p.stat().st_size > 1000
