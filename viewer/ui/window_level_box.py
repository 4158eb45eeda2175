"""Typed window / level and user window presets (kept in the user settings, QSettings).

Width and level are typed in HU and applied with Enter or "Apply"; a bad value (empty, not a
number, a width ≤ 0) gives a one-line message naming the field and the reason
(``viewer.core.windowing.parse_window``). The preset box lists the built-in presets and the
user's own ("Save…" stores the shown window under a name, "Delete" removes a user preset).
"""
from __future__ import annotations

import json
from typing import Callable

from PyQt6 import QtCore, QtWidgets

from viewer.core.windowing import PRESETS, check_preset_name, parse_window, validate_window
from viewer.ui.slice_view import SliceView

SETTINGS_KEY = "window/user_presets"


class WindowLevelBox(QtWidgets.QWidget):
    """Fields bound to ``view``'s window; ``show_error(text)`` reports bad input."""

    def __init__(self, view: SliceView, settings: QtCore.QSettings,
                 show_error: Callable[[str], None], parent=None):
        super().__init__(parent)
        self.view, self.settings, self.show_error = view, settings, show_error
        self.width_edit = QtWidgets.QLineEdit()
        self.level_edit = QtWidgets.QLineEdit()
        for e, tip in ((self.width_edit, "Window width in HU (> 0); Enter applies"),
                       (self.level_edit, "Window level (centre) in HU; Enter applies")):
            e.setMaximumWidth(70)
            e.setToolTip(tip)
            e.returnPressed.connect(self.apply_typed)
        self.width_edit.setObjectName("window_width")
        self.level_edit.setObjectName("window_level")
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.clicked.connect(self.apply_typed)
        self.presets = QtWidgets.QComboBox()
        self.presets.setToolTip("Built-in and your own window presets")
        self.presets.setMinimumContentsLength(14)
        self.presets.activated.connect(self._preset_chosen)
        self.save_button = QtWidgets.QPushButton("Save…")
        self.save_button.setToolTip("Save the shown window as a preset of yours")
        self.save_button.clicked.connect(self._ask_save)
        self.delete_button = QtWidgets.QPushButton("Delete")
        self.delete_button.setToolTip("Delete the chosen preset of yours")
        self.delete_button.clicked.connect(self._delete_chosen)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 0)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Maximum,
                           QtWidgets.QSizePolicy.Policy.Fixed)
        for w in (QtWidgets.QLabel("W"), self.width_edit, QtWidgets.QLabel("L"),
                  self.level_edit, self.apply_button, self.presets, self.save_button,
                  self.delete_button):
            lay.addWidget(w)
        view.windowChanged.connect(self.show_window)
        self.show_window(view.width_hu, view.level_hu)
        self._fill_presets()

    # -- window -------------------------------------------------------------------------------
    def show_window(self, width: float, level: float) -> None:
        self.width_edit.setText(f"{width:g}")
        self.level_edit.setText(f"{level:g}")

    def apply_typed(self) -> bool:
        if self.view.voxels is not None and not self.view.is_hu:
            self.show_error("window: 8-bit pictures are shown as stored (no window)")
            return False
        try:
            w, lv = parse_window(self.width_edit.text(), self.level_edit.text())
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        self.view.set_window(w, lv, "")
        return True

    # -- presets ------------------------------------------------------------------------------
    def user_presets(self) -> dict[str, tuple[float, float]]:
        raw = self.settings.value(SETTINGS_KEY, "")
        try:
            data = json.loads(raw) if raw else {}
            return {str(k): validate_window(v[0], v[1]) for k, v in data.items()}
        except (ValueError, TypeError, KeyError, IndexError):
            return {}  # a damaged entry is ignored, not fatal

    def save_preset(self, name: str) -> bool:
        try:
            n = check_preset_name(name)
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        presets = self.user_presets()
        presets[n] = (self.view.width_hu, self.view.level_hu)
        self._store(presets)
        self.presets.setCurrentIndex(self.presets.findData(f"user:{n}"))
        return True

    def delete_preset(self, name: str) -> None:
        presets = self.user_presets()
        presets.pop(name, None)
        self._store(presets)

    def _store(self, presets: dict) -> None:
        self.settings.setValue(SETTINGS_KEY, json.dumps({k: list(v) for k, v in presets.items()}))
        self.settings.sync()
        self._fill_presets()

    def _fill_presets(self) -> None:
        self.presets.clear()
        for p in PRESETS.values():
            self.presets.addItem(f"{p.name} W{p.width:g}/L{p.level:g}", f"builtin:{p.name}")
        for name, (w, lv) in sorted(self.user_presets().items()):
            self.presets.addItem(f"{name} W{w:g}/L{lv:g} (mine)", f"user:{name}")

    def _preset_chosen(self, row: int) -> None:
        kind, name = self.presets.itemData(row).split(":", 1)
        if kind == "builtin":
            p = PRESETS[name]
            self.view.set_window(p.width, p.level, p.name)
        else:
            w, lv = self.user_presets()[name]
            self.view.set_window(w, lv, name)

    def _ask_save(self) -> None:
        name, ok = QtWidgets.QInputDialog.getText(self, "Save window preset", "Preset name:")
        if ok:
            self.save_preset(name)

    def _delete_chosen(self) -> None:
        data = str(self.presets.currentData() or "")
        if not data.startswith("user:"):
            self.show_error("preset: only your own presets can be deleted")
            return
        self.delete_preset(data.split(":", 1)[1])
