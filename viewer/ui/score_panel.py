"""Score panel: the reader gives the paper's visual score 1–5 for the slice and map on screen,
with an optional comment and an "unsure" flag, and works through a blinded reading list.

A plain widget; the main window docks it. Wiring (the panel computes nothing about images)::

    from viewer.ui.score_panel import ScorePanel
    panel = ScorePanel(context_provider=self.score_context, db_path=args.db)  # None: user data dir
    dock = QDockWidget("Reader study"); dock.setWidget(panel)
    self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    panel.requestItem.connect(self.open_item)                    # dict, see below
    panel.severityVisibilityChanged.connect(self.set_severity_visible)
    # call panel.refresh() whenever the slice, the series or the map method on screen changes

``context_provider() -> dict | None`` describes what is on screen now (None or {}: nothing):
``study_uid``, ``series_uid`` (``info.series_uid or info.key``, as
:func:`viewer.study.reading_list.slice_targets_from_series` writes it), ``sop_instance_uid``
(DICOM; when given, ``image_hash`` is ignored) or ``image_hash`` (pictures:
:func:`viewer.study.score_store.image_hash` of the slice pixels as loaded by ``viewer.io``),
``slice_index`` (0-based z), ``method`` of the map on screen (``"gan"``, ``"gradcam"``,
``"msgradcam"``, ``"smoothgrad"`` or ``"import:<name>"``), ``severity_category``
(mild/common/severe/critical, or None/""). The score is stored for exactly this key.

``requestItem(dict)``: show slice ``slice_index`` of series ``series_uid`` (study ``study_uid``;
``sop_instance_uid``/``image_hash`` identify the slice) with the map ``method``; for ``import:``
methods ``map_path`` names the map file (:func:`viewer.study.reading_list.load_imported_map`).
``code`` is the blinding code. When ``blinded`` is True the viewer must not show the method name
anywhere (map selector, title, legend). The viewer should update synchronously in the slot; the
panel calls :meth:`refresh` right after emitting.

``severityVisibilityChanged(bool)``: False while the severity readout must stay hidden
(a blinded item not scored yet, or a slice outside an open blinded list), True otherwise;
:attr:`ScorePanel.severity_reason` says why it is hidden (the window shows that sentence in
the Severity dock, which never disappears).

Keys (rule: :func:`viewer.study.scoring_rules.score_keys_allowed`): 1–5 score only while the
panel is *raised* (its dock tab on screen, :meth:`ScorePanel.is_raised`; not merely
``isVisible()``), a reader is identified, the "keys" box is ticked and a study item is on screen
(with a list: one of its items; without: any scorable slice); N (next unscored item) while the
panel is raised and a list is open. Then they take precedence over the window's own shortcuts
for these keys (an application event filter accepts the ShortcutOverride), except in text fields
and modal dialogs; otherwise the window's keys act (1–3 window presets, N next series).
``scoreKeysActiveChanged(bool)`` tells the window when the panel is raised or lowered.

Re-scoring (:class:`viewer.study.scoring_rules.RescoreGuard`): an item already scored is never
overwritten by one key press: the panel asks "press 4 again to change 3 to 4", and the same
score again (key or button) saves it. ``canvasNote(str)`` carries a brief note for the image
("Saved: 4", or the question) so the reader sees it without looking at the panel.
The panel says "Saved" only after the database commit returned (WAL, synchronous=FULL: the score
survives kill -9).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable

from PyQt6 import QtCore, QtWidgets

from viewer.study.reading_list import ReadingList, method_label
from viewer.study.scoring_rules import RescoreGuard, score_keys_allowed
from viewer.ui.score_key_filter import ScoreKeyFilter
from viewer.ui.score_panel_layout import build_score_panel_ui
from viewer.study.score_store import (
    ItemKey,
    ReaderScores,
    ScoreStore,
    ScoreStoreError,
    validate_reader_id,
    validate_score,
)

SETTINGS_READER = "score_panel/reader_id"
SETTINGS_LIST = "score_panel/reading_list"
OK_STYLE = "color: #2a8a2a;"
ERR_STYLE = "color: #c03030; font-weight: bold;"
ASK_STYLE = "color: #b06000; font-weight: bold;"
HIDDEN_UNSCORED = "hidden until you score this item (blinded reading)"
HIDDEN_OUTSIDE = ("hidden while a blinded reading list is open: this slice is not one of its "
                  "items (press N for the next item)")
INFO_STYLE = "color: palette(text);"


class ScorePanel(QtWidgets.QWidget):
    """Reader-study panel (a widget the main window puts in a dock); see the module docstring."""

    requestItem = QtCore.pyqtSignal(dict)
    severityVisibilityChanged = QtCore.pyqtSignal(bool)
    scoreSaved = QtCore.pyqtSignal(dict)
    scoreKeysActiveChanged = QtCore.pyqtSignal(bool)
    canvasNote = QtCore.pyqtSignal(str)
    statisticsRequested = QtCore.pyqtSignal()

    def __init__(self, context_provider: Callable[[], dict | None], *,
                 db_path: str | Path | None = None, store: ScoreStore | None = None,
                 settings: QtCore.QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("ScorePanel")
        self.setWindowTitle("Visual score")
        self._context_provider = context_provider
        self._settings = settings if settings is not None else QtCore.QSettings(
            "covid-ct-reading-room", "viewer")
        self._store: ScoreStore | None = None
        self._owns_store = False
        self._db_error = ""
        self._reader: ReaderScores | None = None
        self._list: ReadingList | None = None
        self._index: int | None = None  # position in the list of the item on screen
        self._key: ItemKey | None = None  # key of what is on screen
        self._severity_visible = True
        self.severity_reason = ""
        self._guard = RescoreGuard()
        self._build_ui()
        if store is not None:
            self._store = store
        else:
            self.set_db_path(db_path)
        saved_reader = self._settings.value(SETTINGS_READER, "", type=str)
        if not (saved_reader and self.set_reader(saved_reader)):
            self._show_reader_entry()
        saved_list = self._settings.value(SETTINGS_LIST, "", type=str)
        if saved_list and Path(saved_list).is_file() and self._reader is not None:
            self.load_reading_list(saved_list, go_next=False)
        self.refresh()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        build_score_panel_ui(self)
        self.keys_check.toggled.connect(lambda on: self.scoreKeysActiveChanged.emit(
            self.score_keys_active()))
        self._key_filter = ScoreKeyFilter(self)
        QtWidgets.QApplication.instance().installEventFilter(self._key_filter)
        self.destroyed.connect(self._key_filter.deleteLater)

    def score_keys_active(self) -> bool:
        """True while the panel may take keys at all: a reader is identified, the database is
        open, the "keys" box is ticked and the panel is raised (see :meth:`key_allowed` for
        each key)."""
        return bool(self._reader is not None and self._store is not None
                    and self.keys_check.isChecked() and self.is_raised())

    def is_raised(self) -> bool:
        """True when the panel is really on screen: visible, with a visible region, and when
        its dock is tabbed with others, its tab is the current one."""
        if not self.isVisible() or self.visibleRegion().isEmpty():
            return False
        dock = self.parentWidget()
        while dock is not None and not isinstance(dock, QtWidgets.QDockWidget):
            dock = dock.parentWidget()
        if dock is None:
            return True
        win = dock.parentWidget()
        if not isinstance(win, QtWidgets.QMainWindow) or not win.tabifiedDockWidgets(dock):
            return True
        title = dock.windowTitle()
        for bar in win.findChildren(QtWidgets.QTabBar):
            titles = [bar.tabText(k) for k in range(bar.count())]
            if bar.isVisible() and title in titles:
                return bar.tabText(bar.currentIndex()) == title
        return True

    def item_on_screen(self) -> bool:
        """A study item is on screen: with a list, one of its items; without, any slice that
        can be scored."""
        key, _ctx, _problem = self._context()
        if key is None:
            return False
        return self._list is None or self._list.index_of(key) is not None

    def key_allowed(self, action) -> bool:
        """Whether key ``action`` (1–5 or "next") goes to this panel now."""
        return score_keys_allowed(
            "N" if action == "next" else str(action), panel_raised=self.is_raised(),
            reader_ready=self._reader is not None and self._store is not None,
            keys_enabled=self.keys_check.isChecked(),
            item_on_screen=action == "next" or self.item_on_screen(),
            list_open=self._list is not None)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.scoreKeysActiveChanged.emit(self.score_keys_active())

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().hideEvent(event)
        self.scoreKeysActiveChanged.emit(False)

    def key_action(self, action) -> None:
        """A score key (1–5) or "next" (N), as ``ScoreKeyFilter`` passes them on."""
        if action == "next":
            self.next_unscored()
        else:
            self.give_score(int(action))

    def _status(self, text: str, style: str = INFO_STYLE) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(style)

    # ------------------------------------------------------------------ database and reader
    def set_db_path(self, path: str | Path | None) -> bool:
        """Open (creating if needed) the score database; None: the user data directory."""
        if self._store is not None and self._owns_store:
            self._store.close()
        self._store = None
        try:
            self._store = ScoreStore(path)
            self._owns_store = True
        except ScoreStoreError as exc:
            self._db_error = str(exc)
            self._status(f"Scores cannot be saved: {exc}", ERR_STYLE)
            self.db_label.setText(f"database: {exc}")
            self._set_enabled(False)
            return False
        self._db_error = ""
        self.db_label.setText(f"database: {self._store.path}")
        if self._reader is not None:
            self._reader = self._store.for_reader(self._reader.reader_id)
        self._set_enabled(self._reader is not None)
        return True

    def _choose_db(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Score database", str(self._store.path if self._store else ""),
            "SQLite (*.sqlite *.db);;All files (*)",
            options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.set_db_path(path)
            self.refresh()

    def _db_failed(self, exc: Exception) -> None:
        """The open database cannot be read (damaged file): say so, keep the window up and
        the panel disabled until another database is chosen. Nothing is written to it."""
        self._db_error = str(exc)
        if self._store is not None and self._owns_store:
            try:
                self._store.close()
            except Exception:  # noqa: BLE001 - closing a damaged file must not raise either
                pass
        self._store = None
        self._set_enabled(False)
        self.db_label.setText(f"database: {exc}")
        self._status(f"Scores cannot be read or saved: {exc}. Choose another database.",
                     ERR_STYLE)
        self.progress_label.setText("")
        self.scoreKeysActiveChanged.emit(False)

    @property
    def store(self) -> ScoreStore | None:
        return self._store

    @property
    def reader_id(self) -> str | None:
        return self._reader.reader_id if self._reader else None

    def set_reader(self, reader_id: str) -> bool:
        """Identify the reader (remembered in QSettings); False with a message when invalid."""
        try:
            rid = validate_reader_id(reader_id)
        except ValueError as exc:
            self._status(str(exc), ERR_STYLE)
            return False
        if self._store is None:
            self._status(f"Scores cannot be saved: {self._db_error or 'no database open'}",
                         ERR_STYLE)
            return False
        try:
            self._store.readers()  # a damaged file shows here, before the reader is set
        except ScoreStoreError as exc:
            self._db_failed(exc)
            return False
        self._reader = self._store.for_reader(rid)
        self._settings.setValue(SETTINGS_READER, rid)
        self._settings.sync()
        self.reader_box.hide()
        self.reader_label.setText(f"Reader: <b>{rid}</b>")
        self.reader_label.show()
        self.change_reader_button.show()
        self._set_enabled(True)
        self.scoreKeysActiveChanged.emit(self.score_keys_active())
        self._status(f"Scoring as {rid}.")
        self.refresh()
        return True

    def _reader_entered(self) -> None:
        self.set_reader(self.reader_edit.text())

    def _show_reader_entry(self) -> None:
        self._reader = None
        self.reader_box.show()
        self.reader_label.hide()
        self.change_reader_button.hide()
        self.reader_edit.setText(self._settings.value(SETTINGS_READER, "", type=str))
        self._set_enabled(False)
        self.scoreKeysActiveChanged.emit(False)
        if self._store is None:
            self._status(f"Scores cannot be saved: {self._db_error or 'no database open'}",
                         ERR_STYLE)
        else:
            self._status("Enter your reader id to start scoring.")
        self._update_progress()

    def _set_enabled(self, on: bool) -> None:
        for b in self.score_buttons.values():
            b.setEnabled(on)
        for wdg in (self.comment_edit, self.unsure_check, self.next_button,
                    self.open_list_button):
            wdg.setEnabled(on)

    # ------------------------------------------------------------------ reading list
    @property
    def reading_list(self) -> ReadingList | None:
        return self._list

    @property
    def blinded(self) -> bool:
        return bool(self._list is not None and self._list.blinded)

    def _choose_list(self) -> None:
        start = self._settings.value(SETTINGS_LIST, "", type=str)
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Open reading list", str(Path(start).parent) if start else "",
            "Reading lists (*.json)")
        if path:
            self.load_reading_list(path)

    def load_reading_list(self, path: str | Path, go_next: bool = True) -> bool:
        """Load a reading list JSON (see ``scores make-list``); go to its first unscored item."""
        try:
            rl = ReadingList.load(path)
        except ValueError as exc:
            self._status(str(exc), ERR_STYLE)
            return False
        self.set_reading_list(rl, go_next=go_next)
        self._settings.setValue(SETTINGS_LIST, str(Path(path).resolve()))
        self._settings.sync()
        self.list_label.setText(f"List: {Path(path).name} ({len(rl)} items, "
                                f"{'blinded' if rl.blinded else 'methods shown'})")
        return True

    def set_reading_list(self, rl: ReadingList | None, go_next: bool = True) -> None:
        """Use ``rl`` (None: free scoring of what is on screen)."""
        self._list = rl
        self._index = None
        if rl is None:
            self.list_label.setText("No reading list: scoring what is on screen.")
            self._settings.remove(SETTINGS_LIST)
        else:
            self.list_label.setText(f"List: {rl.name or 'unnamed'} ({len(rl)} items, "
                                    f"{'blinded' if rl.blinded else 'methods shown'})")
        self.refresh()
        if rl is not None and go_next and self._reader is not None:
            self.next_unscored(from_start=True)

    def next_unscored(self, from_start: bool = False) -> None:
        """Ask the viewer for the next unscored item after the current one (key N); with
        ``from_start`` the first unscored item of the list."""
        if self._reader is None:
            self._status("Enter your reader id first.", ERR_STYLE)
            return
        if self._list is None:
            self._status("Open a reading list to jump to the next unscored item.")
            return
        after = None if from_start else self._index
        try:
            i = self._list.next_unscored(self._reader.scored_keys(), after=after)
        except ScoreStoreError as exc:
            self._db_failed(exc)
            return
        if i is None:
            self._status(f"All {len(self._list)} items are scored. Thank you!", OK_STYLE)
            return
        self._index = i
        self.requestItem.emit(self._list.items[i].request(blinded=self._list.blinded))
        self.refresh()

    # ------------------------------------------------------------------ what is on screen
    def _context(self) -> tuple[ItemKey | None, dict, str]:
        try:
            ctx = self._context_provider() or {}
        except Exception as exc:  # the viewer's provider must not take the panel down
            return None, {}, f"cannot read the slice on screen ({exc})"
        if not ctx:
            return None, {}, "no slice on screen"
        try:
            return ItemKey.from_mapping(ctx), ctx, ""
        except ValueError as exc:
            return None, ctx, f"cannot score this view: {exc}"

    def refresh(self) -> None:
        """Re-read what is on screen: item label, this reader's earlier score, severity visibility.

        The main window calls this when the slice, series or map method changes.
        """
        key, ctx, problem = self._context()
        if key != self._key:
            self._guard.clear()  # a question about another item no longer stands
        self._key = key
        item = None
        if key is not None and self._list is not None:
            idx = self._list.index_of(key)
            if idx is not None:
                self._index = idx
                item = self._list.items[idx]
        if key is None:
            self.item_label.setText(problem.capitalize() if problem else "")
        elif item is not None:
            what = "method hidden" if self._list.blinded else method_label(key.method)
            self.item_label.setText(f"Item {item.code} ({self._index + 1} of "
                                    f"{len(self._list)}), {what}")
        elif self.blinded:
            self.item_label.setText(f"Slice {key.slice_index + 1}: not in the reading list "
                                    "(press N for the next item)")
        else:
            self.item_label.setText(f"Slice {key.slice_index + 1}, map: {method_label(key.method)}")
        try:
            latest = self._reader.latest(key) if (self._reader and key and self._store) else None
        except ScoreStoreError as exc:
            self._db_failed(exc)
            latest = None
        for s, b in self.score_buttons.items():
            b.setChecked(latest is not None and latest.score == s)
        self.comment_edit.setText(latest.comment if latest else "")
        self.unsure_check.setChecked(bool(latest and latest.unsure))
        if self._store is None:
            pass  # the database message stays on screen
        elif self._reader is not None and key is not None:
            if latest:
                self._status(f"Scored {latest.score} at {_clock(latest.saved_at)}"
                             + (f" ({latest.n_versions} edits)" if latest.n_versions > 1 else ""),
                             OK_STYLE)
            else:
                self._status("Not scored yet.")
        elif self._reader is not None and problem:
            self._status(problem.capitalize())
        if not self.blinded or latest is not None:
            self._set_severity_visible(True, "")
        else:
            self._set_severity_visible(False, HIDDEN_UNSCORED if item is not None
                                       else HIDDEN_OUTSIDE)
        self._update_progress()

    @property
    def severity_visible(self) -> bool:
        return self._severity_visible

    def _set_severity_visible(self, visible: bool, reason: str = "") -> None:
        self._severity_visible = visible
        self.severity_reason = "" if visible else reason
        self.severityVisibilityChanged.emit(visible)  # every time, so the viewer stays in step

    def _update_progress(self) -> None:
        try:
            if self._reader is None or self._store is None:
                self.progress_label.setText("")
            elif self._list is not None:
                self.progress_label.setText(str(self._list.progress(self._reader.scored_keys())))
            else:
                n = len(self._reader.all_latest())
                self.progress_label.setText(f"{n} item(s) scored by {self._reader.reader_id}")
        except ScoreStoreError as exc:  # a damaged file: never let it escape into Qt
            self._db_failed(exc)

    # ------------------------------------------------------------------ scoring
    def give_score(self, score: int) -> bool:
        """Save ``score`` for what is on screen; True once the commit returned. An item
        already scored asks first (False, nothing saved): the same score again saves it."""
        if self._store is None:
            self._status(f"Not saved: {self._db_error or 'no database open'}", ERR_STYLE)
            return False
        if self._reader is None:
            self._status("Enter your reader id first.", ERR_STYLE)
            self.reader_edit.setFocus()
            return False
        key, ctx, problem = self._context()
        if key is None:
            self._status(f"Not saved: {problem}", ERR_STYLE)
            self._uncheck_unsaved()
            return False
        # the cohort fixed in the list wins over anything computed on this workstation
        idx = self._list.index_of(key) if self._list is not None else None
        severity = self._list.items[idx].severity_category if idx is not None else None
        severity = severity or ctx.get("severity_category")
        try:
            score = validate_score(score)
            previous = self._reader.latest(key)
            if self._guard.decide(key, score, previous.score if previous else None) == "confirm":
                self._uncheck_unsaved()
                ask = (f"Already scored {previous.score} at {_clock(previous.saved_at)}. "
                       f"Press {score} again to change it to {score}.")
                self._status(ask, ASK_STYLE)
                self.canvasNote.emit(f"Scored {previous.score} already: press {score} again "
                                     "to change")
                return False
            saved = self._reader.save(key, score, comment=self.comment_edit.text(),
                                      unsure=self.unsure_check.isChecked(),
                                      severity_category=severity, display=ctx.get("display"))
        except (ValueError, ScoreStoreError) as exc:
            self._status(f"Not saved: {exc}", ERR_STYLE)
            self._uncheck_unsaved()
            return False
        for s, b in self.score_buttons.items():
            b.setChecked(s == saved.score)
        self._status(f"Saved: {saved.score} at {_clock(saved.saved_at)}"
                     + (f" (edit {saved.n_versions})" if saved.n_versions > 1 else ""), OK_STYLE)
        self.canvasNote.emit(f"Saved: {saved.score}")
        self._set_severity_visible(True)
        self._update_progress()
        self.scoreSaved.emit({"reader_id": saved.reader_id, "score": saved.score,
                              "row_id": saved.row_id, **vars(saved.key)})
        if self.advance_check.isChecked() and self._list is not None:
            self.next_unscored()
        return True

    def _uncheck_unsaved(self) -> None:
        try:
            latest = (self._reader.latest(self._key)
                      if (self._reader and self._key and self._store) else None)
        except ScoreStoreError:
            latest = None
        for s, b in self.score_buttons.items():
            b.setChecked(latest is not None and latest.score == s)

    def close_store(self) -> None:
        """Close the database if the panel opened it (scores are already committed)."""
        if self._store is not None and self._owns_store:
            self._store.close()
        self._store = None
        self._reader = None


def _clock(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return iso
