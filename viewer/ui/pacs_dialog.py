"""File → Open from PACS…: pick a DICOMweb server, search studies (QIDO-RS), retrieve a series
or a study (WADO-RS, resumable, into the user cache) with progress and Cancel, then open it.

Servers come from the user's PACS config (``viewer.pacs.config``: platformdirs user config dir,
``pacs.json``); "Save server" adds or updates one there (HTTP basic user and password optional;
the password is stored in that file only and never shown in messages). Network calls run in
``CallWorker`` threads; every failure is one line in the dialog's status line.
"""
from __future__ import annotations

import os
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

from viewer.pacs.client import PacsClient
from viewer.pacs.config import PacsServer, check_url, load_servers, save_servers
from viewer.ui.workers import CallWorker

COLUMNS = ("Date", "Patient", "Patient ID", "Modality", "Instances", "Description", "UID")


def retrieve_cache_dir() -> Path:
    """``$COVID_CT_PACS_CACHE`` or ``<platformdirs user cache dir>/pacs``."""
    env = os.environ.get("COVID_CT_PACS_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("covid-ct-reading-room")) / "pacs"


class PacsDialog(QtWidgets.QDialog):
    """Signals: ``searched(list)`` after a search, ``retrieved(Path)`` with the folder to open,
    ``failed(str)`` with a one-line message."""

    searched = QtCore.pyqtSignal(list)
    retrieved = QtCore.pyqtSignal(object)
    failed = QtCore.pyqtSignal(str)

    def __init__(self, parent=None, cache_dir: Path | None = None):
        super().__init__(parent)
        self.setWindowTitle("Open from PACS (DICOMweb)")
        self.resize(980, 560)
        self.cache_dir = Path(cache_dir) if cache_dir else retrieve_cache_dir()
        self.worker: CallWorker | None = None
        self.studies: list = []
        self.last_result = None
        self.servers: list[PacsServer] = []
        # server row
        self.server_combo = QtWidgets.QComboBox()
        self.server_combo.currentIndexChanged.connect(self._server_chosen)
        self.url_edit = QtWidgets.QLineEdit()
        self.url_edit.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.name_edit = QtWidgets.QLineEdit()
        self.name_edit.setPlaceholderText("name")
        self.user_edit = QtWidgets.QLineEdit()
        self.user_edit.setPlaceholderText("user (HTTP basic, optional)")
        self.password_edit = QtWidgets.QLineEdit()
        self.password_edit.setEchoMode(QtWidgets.QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("password")
        save = QtWidgets.QPushButton("Save server")
        save.clicked.connect(self.save_server)
        # search row
        self.patient_edit = QtWidgets.QLineEdit()
        self.patient_edit.setPlaceholderText("patient ID or Name^*")
        self.date_edit = QtWidgets.QLineEdit()
        self.date_edit.setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        self.modality_edit = QtWidgets.QLineEdit("CT")
        self.modality_edit.setMaximumWidth(60)
        self.search_button = QtWidgets.QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        # results
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemDoubleClicked.connect(lambda *_: self.retrieve_selected())
        # bottom
        self.progress = QtWidgets.QProgressBar()
        self.progress.hide()
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(False)
        self.retrieve_button = QtWidgets.QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.reject)

        lay = QtWidgets.QVBoxLayout(self)
        srow = QtWidgets.QHBoxLayout()
        srow.addWidget(QtWidgets.QLabel("Server"))
        srow.addWidget(self.server_combo, 1)
        srow.addWidget(self.url_edit, 3)
        lay.addLayout(srow)
        arow = QtWidgets.QHBoxLayout()
        for w in (self.name_edit, self.user_edit, self.password_edit, save):
            arow.addWidget(w)
        lay.addLayout(arow)
        qrow = QtWidgets.QHBoxLayout()
        qrow.addWidget(QtWidgets.QLabel("Patient"))
        qrow.addWidget(self.patient_edit, 2)
        qrow.addWidget(QtWidgets.QLabel("Study date"))
        qrow.addWidget(self.date_edit, 2)
        qrow.addWidget(QtWidgets.QLabel("Modality"))
        qrow.addWidget(self.modality_edit)
        qrow.addWidget(self.search_button)
        lay.addLayout(qrow)
        lay.addWidget(self.tree, 1)
        brow = QtWidgets.QHBoxLayout()
        brow.addWidget(self.status, 1)
        brow.addWidget(self.progress)
        brow.addWidget(self.cancel_button)
        brow.addWidget(self.retrieve_button)
        brow.addWidget(close)
        lay.addLayout(brow)
        self.reload_servers()

    # ------------------------------------------------------------------ servers
    def reload_servers(self) -> None:
        try:
            self.servers = load_servers()
        except ValueError as exc:
            self.servers = []
            self.show_error(str(exc))
        self.server_combo.blockSignals(True)
        self.server_combo.clear()
        self.server_combo.addItem("(URL below)")
        for s in self.servers:
            self.server_combo.addItem(s.name)
        self.server_combo.blockSignals(False)
        if self.servers:
            self.server_combo.setCurrentIndex(1)
            self._server_chosen(1)

    def _server_chosen(self, index: int) -> None:
        if 1 <= index <= len(self.servers):
            s = self.servers[index - 1]
            self.url_edit.setText(s.url)
            self.name_edit.setText(s.name)
            self.user_edit.setText(s.username)
            self.password_edit.setText("")  # never shown; kept in the config
            self.password_edit.setPlaceholderText("(saved)" if s.password else "password")

    def current_server(self) -> PacsServer:
        """The chosen server (config entry when the URL is unchanged); ValueError on a bad URL."""
        url = check_url(self.url_edit.text())
        index = self.server_combo.currentIndex()
        if 1 <= index <= len(self.servers) and self.servers[index - 1].url == url:
            return self.servers[index - 1]
        user = self.user_edit.text().strip()
        return PacsServer(name=self.name_edit.text().strip() or url, url=url,
                          auth="basic" if user else "none", username=user,
                          password=self.password_edit.text())

    def save_server(self) -> None:
        try:
            url = check_url(self.url_edit.text())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        name = self.name_edit.text().strip() or url
        user = self.user_edit.text().strip()
        old = next((s for s in self.servers if s.name == name), None)
        password = self.password_edit.text() or (old.password if old else "")
        server = PacsServer(name=name, url=url, auth="basic" if user else "none",
                            username=user, password=password if user else "")
        servers = [s for s in self.servers if s.name != name] + [server]
        try:
            path = save_servers(servers)
        except OSError as exc:
            self.show_error(f"PACS config: cannot write ({exc.strerror or exc})")
            return
        self.reload_servers()
        self.server_combo.setCurrentIndex(1 + [s.name for s in self.servers].index(name))
        self.status.setText(f"saved {server.describe()} in {path}")

    # ------------------------------------------------------------------ search
    def search(self) -> None:
        try:
            client = PacsClient(self.current_server())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        patient = self.patient_edit.text().strip() or None
        date = self.date_edit.text().strip() or None
        modality = self.modality_edit.text().strip() or None
        self._run(lambda _p: client.search(patient=patient, study_date=date, modality=modality),
                  self._search_done, f"searching {client.url}…")

    def _search_done(self, studies) -> None:
        self.studies = list(studies)
        self.tree.clear()
        for st in self.studies:
            item = QtWidgets.QTreeWidgetItem([st.study_date, st.patient_name, st.patient_id,
                                              st.modalities, _n(st.n_instances), st.description,
                                              st.study_uid])
            item.setData(0, QtCore.Qt.ItemDataRole.UserRole, (st.study_uid, None))
            for se in st.series:
                child = QtWidgets.QTreeWidgetItem(
                    ["", f"series {_n(se.number)}", "", se.modality, _n(se.n_instances),
                     se.description, se.series_uid])
                child.setData(0, QtCore.Qt.ItemDataRole.UserRole, (st.study_uid, se.series_uid))
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        for c in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(c)
        if self.studies:
            first = self.tree.topLevelItem(0)
            self.tree.setCurrentItem(first.child(0) if first.childCount() else first)
        self.status.setText(f"{len(self.studies)} study(ies) found")
        self.searched.emit(self.studies)

    # ------------------------------------------------------------------ retrieve
    def retrieve_selected(self) -> None:
        item = self.tree.currentItem()
        if item is None:
            self.show_error("retrieve: choose a study or a series first")
            return
        study_uid, series_uid = item.data(0, QtCore.Qt.ItemDataRole.UserRole)
        self.retrieve(study_uid, series_uid)

    def retrieve(self, study_uid: str, series_uid: str | None) -> None:
        try:
            client = PacsClient(self.current_server())
        except ValueError as exc:
            self.show_error(str(exc))
            return
        cache = self.cache_dir
        self._run(lambda progress: client.retrieve(study_uid, series_uid, cache, progress),
                  lambda result: self._retrieve_done(result, series_uid),
                  f"retrieving {series_uid or study_uid}…", with_progress=True)

    def _retrieve_done(self, result, series_uid) -> None:
        self.last_result = result
        if result.failed:
            self.show_error(f"retrieve: partial, {result.summary()}; opening what arrived "
                            f"(first failure: {result.failed[0][1]})")
        else:
            self.status.setText(result.summary())
        target = result.series_folders[0] if series_uid and result.series_folders \
            else result.folder
        self.retrieved.emit(target)
        self.accept()

    # ------------------------------------------------------------------ workers
    def _run(self, fn, done, message: str, with_progress: bool = False) -> None:
        if self.worker is not None:
            self.show_error("busy: wait for the current request or cancel it")
            return
        w = CallWorker(fn, "pacs", self)
        w.succeeded.connect(lambda result: (self._finish(), done(result)))
        w.failed.connect(lambda msg: (self._finish(), self.show_error(msg)))
        w.cancelled.connect(lambda: (self._finish(), self.status.setText("cancelled")))
        if with_progress:
            w.progressed.connect(self._progress)
        self.worker = w
        self.status.setText(message)
        self.search_button.setEnabled(False)
        self.retrieve_button.setEnabled(False)
        self.cancel_button.show()
        w.start()

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat("%v / %m instances")
        self.progress.show()

    def _finish(self) -> None:
        if self.worker is not None:
            self.worker.wait(5000)
        self.worker = None
        self.progress.hide()
        self.cancel_button.hide()
        self.search_button.setEnabled(True)
        self.retrieve_button.setEnabled(True)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def show_error(self, msg: str) -> None:
        self.status.setText(f"error: {msg}")
        self.failed.emit(msg)

    def reject(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(5000)
        super().reject()


def _n(v) -> str:
    return "" if v is None else str(v)


def open_from_pacs(window) -> PacsDialog:
    """Show the dialog for ``window`` (the main window); a retrieved series opens there."""
    dlg = PacsDialog(window)
    dlg.retrieved.connect(lambda folder: window.open_path(folder))
    dlg.failed.connect(lambda msg: window.statusBar().showMessage(f"error: {msg}", 20000))
    dlg.show()
    window._pacs_dialog = dlg  # kept alive while shown
    return dlg
