"""Export dialog: the refined mask and the map of the current slice or the whole series, in the
formats of ``viewer.export.series_export`` (PNG, NumPy, NIfTI, DICOM SEG, MedSeg folder, DICOM SR
of the measurements), optionally sent to a DICOMweb PACS (STOW-RS) afterwards.

The dialog only collects the choice (``ExportRequest``) and shows what the mask is made of
(the threshold and the number of brush / eraser edits exported); its button says "Export". The
main window runs the export in a worker thread with ``export_arrays`` building the arrays it
needs, then shows :class:`ExportResultDialog`: the files written, errors, and "Open folder".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from viewer.export.series_export import FORMATS, ExportRequest

FORMAT_LABELS = {"png": "PNG (8-bit, slice size)", "npy": "NumPy .npy / .npz",
                 "nifti": "NIfTI .nii.gz (source geometry)",
                 "seg": "DICOM SEG (BINARY mask, FRACTIONAL map)",
                 "medseg": "MedSeg image + mask folder (training)",
                 "sr": "DICOM SR measurement report (TID 1500; whole series)"}


class ExportDialog(QtWidgets.QDialog):
    """Choose folder, formats, scope (current slice / whole series), map and/or mask."""

    def __init__(self, default_dir: Path, dicom_source: bool, series_complete: bool,
                 parent=None, threshold: float | None = None, n_edits: int = 0,
                 n_edited_slices: int = 0):
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
        if threshold is None:
            what = "mask = map ≥ the localizer's threshold"
        else:
            what = f"mask = map ≥ threshold {threshold:.3f}"
        edits = ("no brush / eraser edits" if not n_edits else
                 f"{n_edits} brush / eraser edit(s) on {n_edited_slices} slice(s) included")
        self.mask_label = QtWidgets.QLabel(f"{what}; {edits}")
        self.mask_label.setWordWrap(True)
        form.addRow("Mask", self.mask_label)
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
        self.export_button = buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok)
        self.export_button.setText("Export")
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


class ExportResultDialog(QtWidgets.QDialog):
    """After an export: how many files went where, each file, the errors, and "Open folder"
    (the system's file manager, through ``QDesktopServices``)."""

    def __init__(self, written, errors, out_dir: Path, parent=None, sent=()):
        super().__init__(parent)
        self.setWindowTitle("Export finished" if not errors else "Export finished with errors")
        self.out_dir = Path(out_dir)
        n = len(written)
        head = f"Wrote {n} file(s) to {self.out_dir}"
        if sent:
            head += f"; sent {len(sent)} object(s) to the PACS"
        self.summary = QtWidgets.QLabel(head)
        self.summary.setWordWrap(True)
        self.files = QtWidgets.QListWidget()
        for p in written:
            q = Path(p)
            try:
                shown = str(q.relative_to(self.out_dir))
            except ValueError:
                shown = str(q)
            self.files.addItem(shown)
        self.errors = QtWidgets.QLabel("\n".join(f"Failed: {e}" for e in errors))
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet("color: #c03030;")
        self.errors.setVisible(bool(errors))
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.open_button = buttons.addButton("Open folder",
                                             QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_folder)
        buttons.rejected.connect(self.close)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.files, 1)
        lay.addWidget(self.errors)
        lay.addWidget(buttons)
        self.resize(720, 420)

    def open_folder(self) -> bool:
        return QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(self.out_dir)))


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
