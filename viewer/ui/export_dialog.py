"""Export dialog: the refined mask and the map of the current slice or the whole series, in the
formats of ``viewer.export.series_export`` (PNG, NumPy, NIfTI, DICOM SEG, MedSeg folder, DICOM SR
of the measurements), optionally sent to a DICOMweb PACS (STOW-RS) afterwards.

The dialog only collects the choice (``ExportRequest``); the main window runs the export in a
worker thread with ``export_arrays`` building the arrays it needs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6 import QtWidgets

from viewer.export.series_export import FORMATS, ExportRequest

FORMAT_LABELS = {"png": "PNG (8-bit, slice size)", "npy": "NumPy .npy / .npz",
                 "nifti": "NIfTI .nii.gz (source geometry)",
                 "seg": "DICOM SEG (BINARY mask, FRACTIONAL map)",
                 "medseg": "MedSeg image + mask folder (training)",
                 "sr": "DICOM SR measurement report (TID 1500; whole series)"}


class ExportDialog(QtWidgets.QDialog):
    """Choose folder, formats, scope (current slice / whole series), map and/or mask."""

    def __init__(self, default_dir: Path, dicom_source: bool, series_complete: bool,
                 parent=None):
        super().__init__(parent)
        self.setWindowTitle("Export lesion map and mask")
        self.dir_edit = QtWidgets.QLineEdit(str(default_dir))
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.format_boxes = {}
        fbox = QtWidgets.QVBoxLayout()
        for f in FORMATS:
            cb = QtWidgets.QCheckBox(FORMAT_LABELS[f])
            cb.setChecked(f in ("png", "nifti"))
            if f in ("seg", "sr") and not dicom_source:
                cb.setEnabled(False)
                cb.setToolTip(f"DICOM {f.upper()} needs a DICOM source series (not 8-bit "
                              "pictures or NIfTI)")
            self.format_boxes[f] = cb
            fbox.addWidget(cb)
        self.current = QtWidgets.QRadioButton("current slice")
        self.whole = QtWidgets.QRadioButton("whole series")
        self.current.setChecked(True)
        if not series_complete:
            self.whole.setEnabled(False)
            self.whole.setToolTip("Localization of the series is not finished yet")
        self.with_map = QtWidgets.QCheckBox("probability map")
        self.with_mask = QtWidgets.QCheckBox("binary mask (threshold + edits)")
        self.with_map.setChecked(True)
        self.with_mask.setChecked(True)
        form = QtWidgets.QFormLayout(self)
        drow = QtWidgets.QHBoxLayout()
        drow.addWidget(self.dir_edit, 1)
        drow.addWidget(browse)
        form.addRow("Folder", drow)
        form.addRow("Formats", fbox)
        srow = QtWidgets.QHBoxLayout()
        srow.addWidget(self.current)
        srow.addWidget(self.whole)
        form.addRow("Slices", srow)
        crow = QtWidgets.QHBoxLayout()
        crow.addWidget(self.with_map)
        crow.addWidget(self.with_mask)
        form.addRow("Write", crow)
        self.send_edit = QtWidgets.QComboBox()
        self.send_edit.setEditable(True)
        self.send_edit.addItem("")
        try:
            from viewer.pacs.config import load_servers

            for server in load_servers():
                self.send_edit.addItem(server.name)
        except ValueError:
            pass  # an unusable config: the field still takes a URL
        self.send_edit.lineEdit().setPlaceholderText("DICOMweb URL or server name (optional)")
        self.send_edit.setToolTip("Store the DICOM SEG / SR written on this PACS (STOW-RS)")
        form.addRow("Send to PACS", self.send_edit)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        d = QtWidgets.QFileDialog.getExistingDirectory(self, "Export folder", self.dir_edit.text())
        if d:
            self.dir_edit.setText(d)

    def request(self, current_index: int, **provenance) -> ExportRequest:
        """The chosen export; ValueError (one line) when the choice is unusable."""
        text = self.dir_edit.text().strip()
        if not text:
            raise ValueError("export folder: empty")
        formats = [f for f, cb in self.format_boxes.items() if cb.isChecked() and cb.isEnabled()]
        send_to = self.send_edit.currentText().strip() or None
        if send_to:
            if not {"seg", "sr"} & set(formats):
                raise ValueError("send to PACS: nothing to send; tick DICOM SEG and/or SR")
            from viewer.pacs.config import resolve_server

            resolve_server(send_to)  # ValueError (one line) for a bad URL or unknown name
        return ExportRequest(Path(text).expanduser(), formats,
                             indices=None if self.whole.isChecked() else [int(current_index)],
                             include_map=self.with_map.isChecked(),
                             include_mask=self.with_mask.isChecked(), send_to=send_to,
                             **provenance)


def export_arrays(n_slices: int, shape_yx: tuple[int, int], indices, layers) -> tuple:
    """``(maps float32 (z, y, x), masks bool (z, y, x))`` for an export.

    Only the slices in ``indices`` (all when None) are filled, from ``layers(i) -> (map, mask)``;
    the rest stay zero. ``np.zeros`` pages that are never written cost no memory, so exporting
    one slice of a 1000-slice series stays small.
    """
    maps = np.zeros((n_slices,) + tuple(shape_yx), np.float32)
    masks = np.zeros((n_slices,) + tuple(shape_yx), bool)
    for i in (range(n_slices) if indices is None else indices):
        m, k = layers(int(i))
        if m is None:
            raise ValueError(f"export: slice {i} has no lesion map yet")
        maps[i] = m
        masks[i] = k
    return maps, masks
