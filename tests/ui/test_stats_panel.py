"""Statistics panel (offscreen Qt): table text, plots shown, bad database message."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from viewer.study.score_store import ItemKey, ScoreStore  # noqa: E402
from viewer.ui.stats_panel import StatsPanel  # noqa: E402

pytestmark = pytest.mark.gui


def test_shows_summary_and_plots(qtbot, tmp_path):
    db = tmp_path / "s.sqlite"
    with ScoreStore(db) as s:
        r = s.for_reader("alice")
        for i in range(4):
            r.save(ItemKey.make(sop_instance_uid=f"1.{i}", slice_index=i, method="gan"), 4 + i % 2,
                   severity_category="common", unsure=(i == 0))
            r.save(ItemKey.make(sop_instance_uid=f"1.{i}", slice_index=i, method="smoothgrad"), 1)
    panel = StatsPanel(db)
    qtbot.addWidget(panel)
    assert "GAN" in panel.text.toPlainText() and "SmoothGrad" in panel.text.toPlainText()
    assert not panel.method_plot.pixmap().isNull() and not panel.cohort_plot.pixmap().isNull()
    panel.exclude_unsure.setChecked(True)
    assert panel.summary.methods[0].n == 3
    paths = panel.save_plots(tmp_path / "plots")
    assert len(paths) == 2 and all(p.exists() for p in paths)


def test_missing_and_corrupt_database(qtbot, tmp_path):
    panel = StatsPanel(tmp_path / "none.sqlite")
    qtbot.addWidget(panel)
    assert "does not exist" in panel.status.text() and not panel.save_button.isEnabled()
    assert not (tmp_path / "none.sqlite").exists()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"junk" * 400)
    panel.set_db_path(bad)
    assert "not a usable SQLite" in panel.status.text() and panel.save_plots(tmp_path) == []
