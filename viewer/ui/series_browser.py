"""Series browser: the patient / study / series tree of a folder scan, and recent items.

A folder of single slices from several patients (like the bundled sample) shows one patient per
slice with one 1-slice series each; nothing special is needed beyond listing them.
Recent files and folders are remembered with ``QSettings`` (most recent first, at most 10).
"""
from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtWidgets

SERIES_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
MAX_RECENT = 10


def series_label(info) -> str:
    """One line for a series: description, number of slices, size, input kind."""
    desc = info.series_description or (f"series {info.series_number}" if info.series_number
                                       else "series")
    n = info.n_slices
    kind = {"dicom": info.modality or "DICOM", "nifti": "NIfTI", "pictures": "8-bit pictures"}
    return (f"{desc}  ·  {n} slice{'s' if n != 1 else ''}, {info.cols}×{info.rows}  ·  "
            f"{kind.get(info.source_kind, info.source_kind)}")


def split_skipped(skipped: list) -> tuple[list, list]:
    """``(problems, ignored)``: files that failed to read vs. files that are not images at all
    (README, XML annotations...), which are no reason to alarm the reader."""
    ignored = [s for s in skipped if s.reason.startswith("not an image file")]
    problems = [s for s in skipped if not s.reason.startswith("not an image file")]
    return problems, ignored


class RecentItems:
    """Most-recent-first list of opened paths, stored in ``QSettings`` under ``key``."""

    def __init__(self, settings: QtCore.QSettings | None = None, key: str = "recent/paths"):
        self.settings = settings or QtCore.QSettings()
        self.key = key

    def paths(self) -> list[str]:
        v = self.settings.value(self.key, [])
        if isinstance(v, str):
            v = [v]
        return [str(p) for p in (v or [])][:MAX_RECENT]

    def add(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        items = [p] + [q for q in self.paths() if q != p]
        self.settings.setValue(self.key, items[:MAX_RECENT])
        self.settings.sync()

    def clear(self) -> None:
        self.settings.setValue(self.key, [])


class SeriesBrowser(QtWidgets.QWidget):
    """Tree of patients > studies > series. Emits ``seriesActivated(info)`` on click or Enter,
    and ``openRequested(path)`` for dropped files and folders."""

    seriesActivated = QtCore.pyqtSignal(object)
    openRequested = QtCore.pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = QtWidgets.QTreeWidget(self)
        self.tree.setHeaderLabels(["Patient / study / series"])
        self.tree.setUniformRowHeights(True)
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        self.info_label = QtWidgets.QLabel("Open a file or folder (Ctrl+O / Ctrl+Shift+O) or "
                                           "drop it here.", self)
        self.info_label.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.info_label)
        self.setAcceptDrops(True)
        self._items: list[QtWidgets.QTreeWidgetItem] = []

    # -- content ------------------------------------------------------------------------------
    def set_scan(self, series: list, skipped: list, source: str = "") -> None:
        """Fill the tree from ``ScanResult.series`` and say how many files were skipped."""
        self.tree.clear()
        self._items = []
        patients: dict[str, QtWidgets.QTreeWidgetItem] = {}
        studies: dict[tuple, QtWidgets.QTreeWidgetItem] = {}
        for info in series:
            pkey = info.patient_id or info.patient_name or "unknown patient"
            pitem = patients.get(pkey)
            if pitem is None:
                name = info.patient_name or info.patient_id or "unknown patient"
                extra = f" ({info.patient_id})" if info.patient_id and info.patient_id != name else ""
                pitem = QtWidgets.QTreeWidgetItem([f"{name}{extra}"])
                self.tree.addTopLevelItem(pitem)
                patients[pkey] = pitem
            skey = (pkey, info.study_uid or info.study_description or info.key)
            sitem = studies.get(skey)
            if sitem is None:
                sitem = QtWidgets.QTreeWidgetItem([info.study_description or "study"])
                sitem.setToolTip(0, info.study_uid)
                pitem.addChild(sitem)
                studies[skey] = sitem
            item = QtWidgets.QTreeWidgetItem([series_label(info)])
            item.setData(0, SERIES_ROLE, info)
            tip = [info.series_uid or info.key] + [f"warning: {w}" for w in info.warnings]
            item.setToolTip(0, "\n".join(tip))
            sitem.addChild(item)
            self._items.append(item)
        self.tree.expandAll()
        n = len(series)
        text = f"{n} series" + (f" in {source}" if source else "")
        problems, ignored = split_skipped(skipped)
        if problems:
            text += f"; {len(problems)} file(s) could not be read (hover for reasons)"
        if ignored:
            text += f"; {len(ignored)} non-image file(s) ignored"
        self.info_label.setToolTip("\n".join(s.message() for s in (problems + ignored)[:50]))
        self.info_label.setText(text)

    def series(self) -> list:
        return [it.data(0, SERIES_ROLE) for it in self._items]

    def select(self, info) -> None:
        for it in self._items:
            if it.data(0, SERIES_ROLE) is info:
                self.tree.setCurrentItem(it)
                return

    def select_offset(self, delta: int) -> object | None:
        """Select the series ``delta`` steps from the current one; returns its info."""
        if not self._items:
            return None
        cur = self.tree.currentItem()
        i = self._items.index(cur) if cur in self._items else -1
        j = min(max(i + delta, 0), len(self._items) - 1)
        self.tree.setCurrentItem(self._items[j])
        return self._items[j].data(0, SERIES_ROLE)

    def _activated(self, item, _col=0) -> None:
        info = item.data(0, SERIES_ROLE)
        if info is not None:
            self.seriesActivated.emit(info)

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        for url in ev.mimeData().urls():
            if url.isLocalFile():
                self.openRequested.emit(url.toLocalFile())
                break
