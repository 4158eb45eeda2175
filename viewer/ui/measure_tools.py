"""Measurement tools on the slice view: ruler, ellipse ROI, freehand ROI, crosshair.

A thin view over ``viewer.core.measure`` (all lengths, areas and statistics are computed there).
The tools draw with pyqtgraph's ROI classes (``LineSegmentROI``, ``EllipseROI``,
``PolyLineROI``): left-drag on the slice draws one; its handles stay editable and its label
follows. A measurement belongs to the slice it was drawn on (shown only there). Lengths and areas
are in mm with the series' pixel spacing, in px for pictures; ROI values are HU (grey for
pictures).

Measurements are kept per series (``viewer.core.measurement_store``, in the per-user data
folder): saved whenever one is drawn, edited or cleared, and drawn again when the series is
opened again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui

from viewer.core import measure, measurement_store
from viewer.ui.slice_view import SliceView

#: (tool, label, key, tip) in toolbar order; the keys are free in the window (help_dialog).
MEASURE_TOOLS = (("ruler", "Ruler", "R", "Ruler: left-drag a line; length in mm (px for pictures)"),
                 ("ellipse", "Ellipse", "O", "Ellipse ROI: left-drag its box; area and mean ± SD"),
                 ("freehand", "Freehand", "D", "Freehand ROI: left-drag its outline; area and "
                                               "mean ± SD"),
                 ("crosshair", "Crosshair", "C", "Crosshair: lines through the mouse with its "
                                                 "position in mm and value"))
PEN = (255, 200, 0)


@dataclass
class Measurement:
    kind: str
    index: int  # the slice it belongs to
    roi: pg.ROI
    label: pg.TextItem
    text: str = ""


class MeasureController:
    """Owns the measurement items of ``view``; ``show_status(text, ms)`` writes the status bar.

    ``tool`` is "none" or one of MEASURE_TOOLS; ``pixel_spacing`` (y, x) mm or None (pictures)
    comes from the series (``set_series``)."""

    def __init__(self, view: SliceView, show_status: Callable[[str, int], None],
                 store_dir: Callable[[], object] | None = measurement_store.user_measurements_dir):
        self.view, self.show_status = view, show_status
        #: where the series' measurements are kept (None: in memory only)
        self.store_dir = store_dir
        self.store_path = None
        self.series_key: str | None = None
        self._pending: list[dict] = []   # saved measurements waiting for the series' pixels
        self._restoring = False
        self.tool = "none"
        self.pixel_spacing: tuple[float, float] | None = None
        self.measurements: list[Measurement] = []
        self._drawing: Measurement | None = None
        self._start = None
        self._path: list[tuple[float, float]] = []
        pen = pg.mkPen(PEN, width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.cross_v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.cross_h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        self.cross_label = pg.TextItem(color=PEN, anchor=(0, 1))
        for it in (self.cross_v, self.cross_h, self.cross_label):
            it.setZValue(40)
            it.setVisible(False)
            view.viewbox.addItem(it, ignoreBounds=True)
        self.crosshair_text = ""
        view.mouseMoved.connect(self._mouse_moved)
        view.indexChanged.connect(self._show_slice_items)
        self.listeners: list[Callable[[str], None]] = []  # told when the tool changes

    # -- series and tool --------------------------------------------------------------------
    def set_series(self, info) -> None:
        """A new series: drop the last one's measurement items (they are saved), take its pixel
        spacing (None for pictures) and draw the measurements saved for it."""
        self._drop_items()
        pictures = info is None or info.source_kind == "pictures" or info.spacing is None
        self.pixel_spacing = None if pictures else (float(info.spacing[1]), float(info.spacing[2]))
        self.store_path, self.series_key, self._pending = None, None, []
        if info is None or self.store_dir is None:
            return
        self.series_key = str(info.key)
        try:
            self.store_path = measurement_store.measurements_path(self.store_dir(), self.series_key)
        except (OSError, ValueError) as exc:
            self.show_status(f"measurements of {self.series_key}: {exc}; kept in memory only", 15000)
            return
        n = getattr(info, "n_slices", None)
        records, messages = measurement_store.load_measurements(self.store_path, n)
        for msg in messages:
            self.show_status(msg, 15000)
        self._pending = records

    def show_saved(self) -> None:
        """Draw the series' saved measurements; call once its pixels are in the view."""
        records, self._pending = self._pending, []
        if self.view.voxels is None or not records:
            return
        self._restoring = True
        try:
            for rec in records:
                if rec["index"] < self.view.voxels.shape[0]:
                    self.update(self._restore(rec))
        finally:
            self._restoring = False
        self._show_slice_items(self.view.index)
        self.show_status(f"{len(records)} saved measurement(s) of this series shown on their slices", 5000)

    def set_tool(self, name: str) -> None:
        names = ("none",) + tuple(t[0] for t in MEASURE_TOOLS)
        if name not in names:
            raise ValueError(f"measure tool {name!r}: unknown, choose one of {', '.join(names)}")
        self.tool = name
        drawing = name in ("ruler", "ellipse", "freehand")
        self.view.drag_tool = self._drag if drawing else None
        on = name == "crosshair"
        for it in (self.cross_v, self.cross_h, self.cross_label):
            it.setVisible(on and self.crosshair_text != "")
        if name != "none":
            tip = next(t[3] for t in MEASURE_TOOLS if t[0] == name)
            self.show_status(f"{tip}; Esc for pan", 5000)
        for fn in self.listeners:
            fn(name)

    def clear(self) -> None:
        """Remove every measurement of the series (also from its saved set)."""
        had = bool(self.measurements)
        self._drop_items()
        if had:
            self.save()

    def _remove(self, m: Measurement) -> None:
        self.view.viewbox.removeItem(m.roi)
        self.view.viewbox.removeItem(m.label)
        self.measurements.remove(m)

    def _drop_items(self) -> None:
        for m in self.measurements:
            self.view.viewbox.removeItem(m.roi)
            self.view.viewbox.removeItem(m.label)
        self.measurements.clear()
        self._drawing = None

    # -- keeping them -------------------------------------------------------------------------
    def record(self, m: Measurement) -> dict:
        """The measurement as ``viewer.core.measurement_store`` keeps it."""
        rec = {"kind": m.kind, "index": int(m.index), "text": m.text}
        if m.kind == "ellipse":
            st = m.roi.getState()
            w, h = float(st["size"][0]), float(st["size"][1])
            c = m.roi.mapToParent(QtCore.QPointF(w / 2, h / 2))
            rec["ellipse"] = {"cx": c.x(), "cy": c.y(), "a": w / 2, "b": h / 2,
                              "angle": float(st["angle"])}
        else:
            rec["points"] = [[float(x), float(y)] for x, y in self.points(m)]
        return rec

    def save(self) -> bool:
        """Write the series' measurements; True when they are on disk. A failure is shown and
        the measurements stay on screen (in memory only)."""
        if self.store_path is None or self._restoring:
            return False
        try:
            measurement_store.save_measurements(self.store_path, self.series_key,
                                                [self.record(m) for m in self.measurements
                                                 if m is not self._drawing])
        except (OSError, ValueError) as exc:
            self.show_status(f"measurements of {self.series_key}: not saved ({exc})", 15000)
            return False
        n = len(self.measurements)
        self.show_status(f"{n} measurement(s) of this series saved" if n else
                         "measurements of this series cleared", 3000)
        return True

    def _restore(self, rec: dict) -> Measurement:
        if rec["kind"] == "ellipse":
            e = rec["ellipse"]
            t = math.radians(e["angle"])
            # the ROI's origin is its box's corner, turned with it about that corner
            ox = e["cx"] - (e["a"] * math.cos(t) - e["b"] * math.sin(t))
            oy = e["cy"] - (e["a"] * math.sin(t) + e["b"] * math.cos(t))
            m = self._new("ellipse", ox, oy, index=rec["index"])
            m.roi.setSize((2 * e["a"], 2 * e["b"]), finish=False)
            m.roi.setAngle(e["angle"], finish=False)
            return m
        (x, y), pts = rec["points"][0], rec["points"]
        m = self._new(rec["kind"], x, y, index=rec["index"])
        if rec["kind"] == "ruler":
            m.roi.movePoint(m.roi.getHandles()[1], QtCore.QPointF(*pts[1]), finish=False, coords="parent")
        else:
            m.roi.setPoints([tuple(p) for p in pts], closed=True)
        return m

    # -- drawing ------------------------------------------------------------------------------
    def _drag(self, phase: str, x: float, y: float) -> None:
        if self.view.voxels is None:
            return
        if phase == "start":
            self._start, self._path = (x, y), [(x, y)]
            self._drawing = self._new(self.tool, x, y)
            return
        m = self._drawing
        if m is None:
            return
        x0, y0 = self._start
        if m.kind == "ruler":
            m.roi.movePoint(m.roi.getHandles()[1], QtCore.QPointF(x, y), finish=False,
                            coords="parent")
        elif m.kind == "ellipse":
            m.roi.setPos((min(x0, x), min(y0, y)), finish=False)
            m.roi.setSize((max(abs(x - x0), 0.5), max(abs(y - y0), 0.5)), finish=False)
        elif m.kind == "freehand":
            if math.hypot(x - self._path[-1][0], y - self._path[-1][1]) >= 1.0:
                self._path.append((x, y))
                m.roi.setPoints(self._path, closed=False)
        if phase == "finish":
            self._drawing = None
            if m.kind == "freehand" and len(self._path) < 3:  # a click, not an outline
                self._remove(m)
                return
            if m.kind == "freehand":
                m.roi.setPoints(self._path, closed=True)
        self.update(m)
        if phase == "finish":
            self.save()

    def _new(self, kind: str, x: float, y: float, index: int | None = None) -> Measurement:
        pen = pg.mkPen(PEN, width=2)
        if kind == "ruler":
            roi = pg.LineSegmentROI([(x, y), (x, y)], pen=pen)
        elif kind == "ellipse":
            roi = pg.EllipseROI((x, y), (0.5, 0.5), pen=pen)
        else:
            roi = pg.PolyLineROI([(x, y)], closed=False, pen=pen, movable=True)
        roi.setZValue(35)
        label = pg.TextItem(color=PEN, fill=pg.mkBrush(0, 0, 0, 150), anchor=(0, 0))
        label.setZValue(36)
        self.view.viewbox.addItem(roi, ignoreBounds=True)
        self.view.viewbox.addItem(label, ignoreBounds=True)
        m = Measurement(kind, self.view.index if index is None else int(index), roi, label)
        roi.sigRegionChanged.connect(lambda _r, m=m: self._drawing is not m and self.update(m))
        # a handle or the whole ROI moved by the reader: keep the new geometry
        roi.sigRegionChangeFinished.connect(lambda _r, m=m: self._drawing is not m and self.save())
        self.measurements.append(m)
        return m

    # -- numbers ------------------------------------------------------------------------------
    def points(self, m: Measurement) -> list[tuple[float, float]]:
        """The ROI's points in image coordinates (x = column, y = row)."""
        if m.kind == "ruler":
            return [(p.x(), p.y()) for p in
                    (m.roi.mapToParent(h.pos()) for h in m.roi.getHandles())]
        pts = m.roi.getState()["points"]
        return [(q.x(), q.y()) for q in (m.roi.mapToParent(QtCore.QPointF(p[0], p[1]))
                                         for p in pts)]

    def roi_mask(self, m: Measurement, shape) -> np.ndarray:
        if m.kind == "ellipse":
            st = m.roi.getState()
            w, h = float(st["size"][0]), float(st["size"][1])
            c = m.roi.mapToParent(QtCore.QPointF(w / 2, h / 2))
            return measure.ellipse_mask(shape, c.x(), c.y(), w / 2, h / 2, float(st["angle"]))
        return measure.polygon_mask(shape, self.points(m))

    def update(self, m: Measurement) -> str:
        """Recompute and show the measurement's text."""
        vox = self.view.voxels
        if vox is None:
            return ""
        if m.kind == "ruler":
            p0, p1 = self.points(m)
            m.text = measure.format_length(*measure.line_length(p0, p1, self.pixel_spacing))
            anchor = p1
        else:
            sl = vox[m.index]
            st = measure.roi_stats(sl, self.roi_mask(m, sl.shape), self.pixel_spacing,
                                   self.view.is_hu)
            m.text = st.text()
            br = m.roi.mapRectToParent(m.roi.boundingRect())
            anchor = (br.right(), br.bottom())
        m.label.setText(m.text)
        m.label.setPos(QtCore.QPointF(anchor[0] + 1, anchor[1] + 1))
        return m.text

    def _show_slice_items(self, i: int) -> None:
        for m in self.measurements:
            on = m.index == i
            m.roi.setVisible(on)
            m.label.setVisible(on)

    def _mouse_moved(self, x: float, y: float) -> None:
        if self.tool != "crosshair" or self.view.voxels is None:
            return
        sl = self.view.voxels[self.view.index]
        col, row = int(math.floor(x)), int(math.floor(y))
        if not (0 <= row < sl.shape[0] and 0 <= col < sl.shape[1]):
            return
        self.cross_v.setPos(x)
        self.cross_h.setPos(y)
        v = float(sl[row, col])
        val = f"{v:.0f} HU" if self.view.is_hu else f"grey {v:.0f}"
        if self.pixel_spacing is not None:
            where = f"x {x * self.pixel_spacing[1]:.1f} mm, y {y * self.pixel_spacing[0]:.1f} mm"
        else:
            where = f"x {x:.1f} px, y {y:.1f} px"
        self.crosshair_text = f"{where}\n{val}"
        self.cross_label.setText(self.crosshair_text)
        self.cross_label.setPos(QtCore.QPointF(x + 1, y - 1))
        for it in (self.cross_v, self.cross_h, self.cross_label):
            it.setVisible(True)


def tool_actions(parent, controller: MeasureController, toolbar) -> dict[str, QtGui.QAction]:
    """Checkable toolbar actions, one per tool plus "Pan" (exclusive), and "Clear"."""
    group = QtGui.QActionGroup(parent)
    group.setExclusive(True)
    actions: dict[str, QtGui.QAction] = {}
    for name, label, key, tip in (("none", "Pan", "", "No measurement tool: left-drag pans"),
                                  ) + MEASURE_TOOLS:
        a = QtGui.QAction(label + (f" ({key})" if key else ""), parent)
        a.setCheckable(True)
        a.setToolTip(tip)
        a.setObjectName(f"measure_{name}")
        group.addAction(a)
        toolbar.addAction(a)
        a.triggered.connect(lambda _c=False, n=name: controller.set_tool(n))
        actions[name] = a
    actions["none"].setChecked(True)
    controller.listeners.append(lambda n: actions[n].setChecked(True))
    clear = QtGui.QAction("Clear measurements", parent)
    clear.triggered.connect(controller.clear)
    toolbar.addAction(clear)
    actions["clear"] = clear
    return actions
