"""The widgets of the reader-study score panel (``viewer.ui.score_panel.ScorePanel``): reader
entry, reading list, score buttons 5..1 with their IoU bands, comment, "unsure", next item, the
keys box, progress, status and database. Built as attributes of the panel and connected to its
slots; the panel holds the behaviour."""
from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

from viewer.study.score_store import SCORE_BANDS


def band_text(score: int) -> str:
    lo, hi = SCORE_BANDS[score]
    return f"{score}   IoU {lo:.1f}–{hi:.1f}"


def build_score_panel_ui(panel) -> None:
    """Create ``panel``'s widgets (``reader_edit``, ``score_buttons``, ``comment_edit``, …)."""
    w = panel
    lay = QtWidgets.QVBoxLayout(w)
    lay.setContentsMargins(6, 6, 6, 6)

    # reader identification
    panel.reader_box = QtWidgets.QWidget(w)
    rl = QtWidgets.QHBoxLayout(panel.reader_box)
    rl.setContentsMargins(0, 0, 0, 0)
    panel.reader_edit = QtWidgets.QLineEdit(panel.reader_box)
    panel.reader_edit.setPlaceholderText("your reader id, e.g. initials")
    panel.reader_button = QtWidgets.QPushButton("Start", panel.reader_box)
    rl.addWidget(QtWidgets.QLabel("Reader:", panel.reader_box))
    rl.addWidget(panel.reader_edit, 1)
    rl.addWidget(panel.reader_button)
    panel.reader_button.clicked.connect(panel._reader_entered)
    panel.reader_edit.returnPressed.connect(panel._reader_entered)
    panel.reader_label = QtWidgets.QLabel(w)
    panel.change_reader_button = QtWidgets.QPushButton("Change reader", w)
    panel.change_reader_button.clicked.connect(panel._show_reader_entry)
    who = QtWidgets.QHBoxLayout()
    who.addWidget(panel.reader_label, 1)
    who.addWidget(panel.change_reader_button)
    lay.addWidget(panel.reader_box)
    lay.addLayout(who)

    # reading list
    lrow = QtWidgets.QHBoxLayout()
    panel.list_label = QtWidgets.QLabel("No reading list: scoring what is on screen.", w)
    panel.list_label.setWordWrap(True)
    panel.open_list_button = QtWidgets.QPushButton("Open list…", w)
    panel.open_list_button.clicked.connect(panel._choose_list)
    lrow.addWidget(panel.list_label, 1)
    lrow.addWidget(panel.open_list_button)
    lay.addLayout(lrow)

    panel.item_label = QtWidgets.QLabel(w)
    panel.item_label.setWordWrap(True)
    f = panel.item_label.font()
    f.setBold(True)
    panel.item_label.setFont(f)
    lay.addWidget(panel.item_label)

    # score buttons 5..1 with IoU bands
    box = QtWidgets.QGroupBox("Overlap of map and lesions (keys 1–5)", w)
    bl = QtWidgets.QVBoxLayout(box)
    panel.score_buttons: dict[int, QtWidgets.QPushButton] = {}
    for s in sorted(SCORE_BANDS, reverse=True):
        b = QtWidgets.QPushButton(band_text(s), box)
        b.setCheckable(True)
        b.setStyleSheet("QPushButton:checked { background: #2f7d32; color: white; "
                        "font-weight: bold; }")
        b.setToolTip(f"Score {s}: the map overlaps the lesions with an IoU of about "
                     f"{SCORE_BANDS[s][0]:.1f}–{SCORE_BANDS[s][1]:.1f} (key {s})")
        b.clicked.connect(lambda _=False, s=s: panel.give_score(s))
        bl.addWidget(b)
        panel.score_buttons[s] = b
    lay.addWidget(box)

    panel.comment_edit = QtWidgets.QLineEdit(w)
    panel.comment_edit.setPlaceholderText("comment (optional, saved with the score)")
    panel.comment_edit.setMaxLength(2000)
    panel.comment_edit.setToolTip("Type, then Enter to leave the field (keys 1–5 score again)")
    panel.comment_edit.returnPressed.connect(panel.comment_edit.clearFocus)
    panel.unsure_check = QtWidgets.QCheckBox("unsure", w)
    crow = QtWidgets.QHBoxLayout()
    crow.addWidget(panel.comment_edit, 1)
    crow.addWidget(panel.unsure_check)
    lay.addLayout(crow)

    nrow = QtWidgets.QHBoxLayout()
    panel.next_button = QtWidgets.QPushButton("Next unscored (N)", w)
    panel.next_button.clicked.connect(lambda: panel.next_unscored())
    panel.advance_check = QtWidgets.QCheckBox("go on after scoring", w)
    nrow.addWidget(panel.next_button)
    nrow.addWidget(panel.advance_check)
    lay.addLayout(nrow)
    panel.keys_check = QtWidgets.QCheckBox("keys 1–5 and N score (over the viewer's keys)", w)
    panel.keys_check.setChecked(True)
    panel.keys_check.setToolTip("While ticked, keys 1–5 give a score and N goes to the next "
                               "unscored item anywhere in this window (not in text fields)")
    lay.addWidget(panel.keys_check)

    panel.progress_label = QtWidgets.QLabel(w)
    panel.status_label = QtWidgets.QLabel(w)
    panel.status_label.setWordWrap(True)
    panel.db_label = QtWidgets.QLabel(w)
    panel.db_label.setWordWrap(True)
    panel.db_label.setStyleSheet("color: gray; font-size: 9pt;")
    panel.db_label.setTextInteractionFlags(
        QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    prow = QtWidgets.QHBoxLayout()
    prow.addWidget(panel.progress_label, 1)
    panel.stats_button = QtWidgets.QPushButton("Statistics…", w)
    panel.stats_button.setToolTip("Summary, t-tests and plots of the score database "
                                  "(also View → Reader study statistics…)")
    panel.stats_button.clicked.connect(panel.statisticsRequested)
    prow.addWidget(panel.stats_button)
    lay.addLayout(prow)
    lay.addWidget(panel.status_label)
    lay.addStretch(1)
    lay.addWidget(panel.db_label)
    panel.choose_db_button = QtWidgets.QPushButton("Choose database…", w)
    panel.choose_db_button.setToolTip("Score into another SQLite file (created when missing)")
    panel.choose_db_button.clicked.connect(panel._choose_db)
    lay.addWidget(panel.choose_db_button)
