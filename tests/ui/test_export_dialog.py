"""Export dialog choices and the arrays handed to viewer.export."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.ui.export_dialog import ExportDialog, export_arrays

pytestmark = pytest.mark.gui


def test_dialog_builds_the_request(qtbot, tmp_path):
    d = ExportDialog(tmp_path / "out", dicom_source=True, series_complete=True)
    qtbot.addWidget(d)
    d.format_boxes["seg"].setChecked(True)
    req = d.request(3, model_name="m", weights_hash="abc", threshold=0.4)
    assert req.indices == [3] and set(req.formats) == {"png", "nifti", "seg"}
    d.whole.setChecked(True)
    d.with_map.setChecked(False)
    req = d.request(3)
    assert req.indices is None and not req.include_map and req.include_mask


def test_dialog_guards(qtbot, tmp_path):
    d = ExportDialog(tmp_path, dicom_source=False, series_complete=False)
    qtbot.addWidget(d)
    assert not d.format_boxes["seg"].isEnabled() and not d.whole.isEnabled()
    d.format_boxes["seg"].setChecked(True)  # disabled: never exported
    assert "seg" not in d.request(0).formats
    d.dir_edit.setText("  ")
    with pytest.raises(ValueError, match="export folder"):
        d.request(0)
    d.dir_edit.setText(str(tmp_path))
    for cb in d.format_boxes.values():
        cb.setChecked(False)
    with pytest.raises(ValueError, match="no format"):
        d.request(0)


def test_export_arrays_fill_only_the_chosen_slices():
    def layers(i):
        return np.full((4, 5), 0.5, np.float32), np.ones((4, 5), bool)

    maps, masks = export_arrays(6, (4, 5), [2], layers)
    assert maps.shape == (6, 4, 5) and maps[2].min() == 0.5 and maps[[0, 1, 3]].max() == 0
    assert masks[2].all() and not masks[3].any()
    with pytest.raises(ValueError, match="slice 1 has no lesion map"):
        export_arrays(3, (4, 5), None, lambda i: (None, None) if i == 1 else layers(i))


def test_dialog_sr_and_send(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("COVID_CT_PACS_CONFIG", str(tmp_path / "pacs.json"))
    d = ExportDialog(tmp_path / "out", dicom_source=True, series_complete=True)
    qtbot.addWidget(d)
    d.format_boxes["sr"].setChecked(True)
    d.format_boxes["seg"].setChecked(True)
    d.whole.setChecked(True)
    d.send_edit.setCurrentText("http://127.0.0.1:8042/dicom-web")
    req = d.request(0, model_name="m", weights_hash="abc", threshold=0.4)
    assert "sr" in req.formats and req.send_to == "http://127.0.0.1:8042/dicom-web"
    d.send_edit.setCurrentText("nowhere")
    with pytest.raises(ValueError, match="PACS nowhere: not a URL and not a configured server"):
        d.request(0)
    d.format_boxes["sr"].setChecked(False)
    d.format_boxes["seg"].setChecked(False)
    d.send_edit.setCurrentText("http://127.0.0.1:8042/dicom-web")
    with pytest.raises(ValueError, match="send to PACS: nothing to send"):
        d.request(0)
    pictures = ExportDialog(tmp_path, dicom_source=False, series_complete=True)
    qtbot.addWidget(pictures)
    assert not pictures.format_boxes["sr"].isEnabled()
