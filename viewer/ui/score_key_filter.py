"""The score panel's keys: an application event filter that gives keys 1–5 and N to the
reader-study panel (``viewer.ui.score_panel.ScorePanel``) while it may take them, before the
window's own shortcuts for those keys; text fields and modal dialogs keep their keys."""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

_KEY_ACTIONS = {
    QtCore.Qt.Key.Key_1: 1, QtCore.Qt.Key.Key_2: 2, QtCore.Qt.Key.Key_3: 3,
    QtCore.Qt.Key.Key_4: 4, QtCore.Qt.Key.Key_5: 5, QtCore.Qt.Key.Key_N: "next",
}
_TEXT_INPUTS = (QtWidgets.QLineEdit, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit,
                QtWidgets.QAbstractSpinBox)


class ScoreKeyFilter(QtCore.QObject):
    """Application event filter: keys 1–5 and N (no modifier but keypad) score in the panel's
    window while :meth:`ScorePanel.score_keys_active`, taking them from window shortcuts (it
    accepts the ShortcutOverride); text fields and modal dialogs keep their keys."""

    def __init__(self, panel):
        super().__init__(None)
        self._panel = panel

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        et = event.type()
        if et not in (QtCore.QEvent.Type.ShortcutOverride, QtCore.QEvent.Type.KeyPress):
            return False
        try:
            panel = self._panel
            action = _KEY_ACTIONS.get(event.key())
            if action is None:
                return False
            mods = event.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier
            if mods != QtCore.Qt.KeyboardModifier.NoModifier or not panel.key_allowed(action):
                return False
            app = QtWidgets.QApplication
            if app.activeModalWidget() is not None or app.activeWindow() is not panel.window():
                return False
            if isinstance(app.focusWidget(), _TEXT_INPUTS):
                return False
        except RuntimeError:  # the panel's C++ object is gone
            return False
        if et == QtCore.QEvent.Type.ShortcutOverride:
            event.accept()  # the window's own shortcut for this key does not fire
            return True
        if not event.isAutoRepeat():
            panel.key_action(action)
        return True
