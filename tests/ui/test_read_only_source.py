"""Issue #13: a read-only study folder is never written to. Viewing, editing, exporting
elsewhere and reopening (edits replayed) all work; nothing new appears beside the input.

Tests run as root, for whom ``chmod a-w`` does not stop writes: so the test also snapshots the
input folder and its parent and asserts that nothing was added, changed or removed there.
"""
from __future__ import annotations

import os
import stat

import pytest

from test_main_window import open_and_wait

pytestmark = pytest.mark.gui


def snapshot(folder):
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            out[os.path.relpath(p, folder)] = (st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return out


def chmod_tree(folder, writable: bool):
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            p = os.path.join(root, name)
            mode = os.stat(p).st_mode
            os.chmod(p, mode | 0o200 if writable else mode & ~0o222)
    mode = os.stat(folder).st_mode
    os.chmod(folder, mode | 0o200 if writable else mode & ~0o222)


@pytest.fixture()
def read_only_study(tmp_path):
    """The phantom study, read-only, alone in its own parent folder."""
    from ui_phantom import write_phantom

    phantom = write_phantom(tmp_path / "src" / "phantom", n=8)
    parent = phantom.parent
    chmod_tree(phantom, writable=False)
    yield phantom, parent
    chmod_tree(phantom, writable=True)


def test_read_only_study_view_edit_export_reopen(qtbot, make_window, read_only_study, tmp_path,
                                                 isolated_settings):
    from viewer.export.series_export import ExportRequest

    study, parent = read_only_study
    before_parent = sorted(os.listdir(parent))
    before = snapshot(study)
    win = make_window()
    open_and_wait(qtbot, win, study)
    assert sorted(os.listdir(parent)) == before_parent  # viewing creates nothing beside it
    i = win.view.index
    win.refine.set_tool("brush")
    win.view.paintStarted.emit(40.0, 30.0)
    win.view.paintFinished.emit()
    assert win.lesion_layers(i)[1][30, 40] and win.edits.persistent
    journal = win.edits.journal_path
    assert journal.is_file() and str(journal).startswith(str(tmp_path / "data"))
    out = tmp_path / "exports"
    with qtbot.waitSignal(win.exportFinished, timeout=30000) as sig:
        win.run_export(ExportRequest(out_dir=out, formats=["png", "npy"], indices=[i]))
    assert not sig.args[0].errors and any(out.iterdir())
    win.close()
    win2 = make_window()
    open_and_wait(qtbot, win2, study)
    assert win2.edits.n_edits == 1 and win2.lesion_layers(i)[1][30, 40]  # replayed
    win2.close()
    assert sorted(os.listdir(parent)) == before_parent
    assert snapshot(study) == before


def test_viewing_without_editing_writes_no_journal(qtbot, make_window, read_only_study,
                                                   tmp_path):
    study, parent = read_only_study
    before_parent = sorted(os.listdir(parent))
    win = make_window()
    open_and_wait(qtbot, win, study)
    win.close()
    assert sorted(os.listdir(parent)) == before_parent
    assert not any(p.name.endswith(".edits") for p in parent.iterdir())
