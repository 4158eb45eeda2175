"""The MPR layout: coronal and sagittal reformats beside the axial slice view, with a linked
cursor and the lesion overlay in all three planes.

Geometry (which voxels a plane shows, pixel spacing, the cursor between planes) comes from
``viewer.core.reformat``; the map and mask of a reformatted plane from its ``PlaneLayers`` over
the window's per-slice layers. Each plane's pixels are drawn in mm (the image item is scaled by
the plane's row and column spacing), so a coronal plane of 2.5 mm slices and 0.7 mm pixels has
the right aspect. A left click in any plane moves the cursor voxel; the other planes follow
(the axial view goes to the cursor's slice). The wheel steps the plane's own slice.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from viewer.core import reformat
from viewer.ui.overlay import overlay_rgba
from viewer.ui.slice_view import SliceView

CURSOR_PEN = (0, 200, 255)


class _PlaneBox(pg.ViewBox):
    def __init__(self, owner: "PlaneView"):
        super().__init__(enableMenu=False, lockAspect=True)
        self._owner = owner

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and ev.double():
            self._owner.fit()
        elif ev.button() == QtCore.Qt.MouseButton.LeftButton:
            p = self._owner.image_item.mapFromScene(ev.scenePos())
            self._owner.clicked.emit(p.y(), p.x())  # (row, col) in plane pixels
        ev.accept()

    def wheelEvent(self, ev, axis=None):
        if ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            return super().wheelEvent(ev, axis)
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if delta:
            self._owner.stepped.emit(-1 if delta > 0 else 1)
        ev.accept()


class PlaneView(QtWidgets.QWidget):
    """One reformatted plane. ``clicked(row, col)`` in plane pixels, ``stepped(delta)``."""

    clicked = QtCore.pyqtSignal(float, float)
    stepped = QtCore.pyqtSignal(int)

    def __init__(self, plane: str, parent=None):
        super().__init__(parent)
        self.plane = plane
        self.setMinimumSize(200, 160)
        self.graphics = pg.GraphicsView(self, background="k")
        self.viewbox = _PlaneBox(self)
        self.graphics.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        pen = pg.mkPen(CURSOR_PEN, width=1)
        self.line_v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.line_h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for it in (self.image_item, self.overlay_item):
            self.viewbox.addItem(it)
        for it in (self.line_v, self.line_h):
            it.setZValue(20)
            self.viewbox.addItem(it, ignoreBounds=True)
        self.label = QtWidgets.QLabel(self)
        self.label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.label.setStyleSheet("QLabel { color: #f0f0a0; background: transparent; "
                                 "font-family: monospace; font-size: 13px; }")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.graphics)
        self.spacing = (1.0, 1.0)  # (row, col) mm
        self.shape = (0, 0)

    def set_picture(self, image: np.ndarray, levels, spacing: tuple[float, float],
                    flip_x: bool, flip_y: bool) -> None:
        first = self.shape != image.shape or self.spacing != spacing
        self.spacing, self.shape = spacing, image.shape
        tr = QtGui.QTransform.fromScale(spacing[1], spacing[0])
        for it in (self.image_item, self.overlay_item):
            it.setTransform(tr)
        self.image_item.setImage(np.ascontiguousarray(image), autoLevels=False, levels=levels)
        self.viewbox.invertX(flip_x)
        self.viewbox.invertY(flip_y)
        if first:
            self.fit()

    def set_overlay(self, rgba) -> None:
        if rgba is None:
            self.overlay_item.clear()
        else:
            self.overlay_item.setImage(rgba, autoLevels=False, levels=(0, 255))

    def set_cursor(self, row: float, col: float) -> None:
        """Cursor lines through the centre of pixel (row, col)."""
        self.line_h.setPos((row + 0.5) * self.spacing[0])
        self.line_v.setPos((col + 0.5) * self.spacing[1])

    def fit(self) -> None:
        h, w = self.shape
        if h and w:
            self.viewbox.setRange(xRange=(0, w * self.spacing[1]),
                                  yRange=(0, h * self.spacing[0]), padding=0.02)

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self.label.setGeometry(6, 6, self.width() - 12, 40)
        self.fit()  # a plane shown (or resized) after its picture came: fit it again


class MprPanel(QtWidgets.QWidget):
    """The coronal (top) and sagittal (bottom) planes, shown beside the axial view."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.views = {p: PlaneView(p, self) for p in ("coronal", "sagittal")}
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        for v in self.views.values():
            split.addWidget(v)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)


class MprController:
    """Single or MPR layout over ``view`` (axial) and ``panel``. ``layers(i)`` gives the shown
    (map, mask) of axial slice ``i``; ``style()`` the overlay style; ``overlay_on()`` whether the
    overlay is shown; ``show_status(text, ms)`` writes the status bar."""

    POLL_MS = 1000  # while maps are still coming in, the planes are redrawn this often

    def __init__(self, session, view: SliceView, panel: MprPanel, layers: Callable,
                 style: Callable, overlay_on: Callable[[], bool],
                 show_status: Callable[[str, int], None]):
        self.session, self.view, self.panel = session, view, panel
        self.layers_fn, self.style, self.overlay_on = layers, style, overlay_on
        self.show_status = show_status
        self.enabled = False
        self.cursor = (0, 0, 0)  # (z, y, x)
        self.plane_layers: reformat.PlaneLayers | None = None
        self.listeners: list[Callable[[bool], None]] = []
        pen = pg.mkPen(CURSOR_PEN, width=1)
        self.axial_v = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.axial_h = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for it in (self.axial_v, self.axial_h):
            it.setZValue(20)
            it.setVisible(False)
            view.viewbox.addItem(it, ignoreBounds=True)
        self.poll = QtCore.QTimer(panel)
        self.poll.setInterval(self.POLL_MS)
        self.poll.timeout.connect(self._poll)
        view.clicked.connect(self._axial_clicked)
        view.indexChanged.connect(self._axial_index)
        view.windowChanged.connect(lambda *_: self.redraw())
        for plane, pv in panel.views.items():
            pv.clicked.connect(lambda r, c, p=plane: self._plane_clicked(p, r, c))
            pv.stepped.connect(lambda d, p=plane: self._plane_stepped(p, d))
        for ev in ("threshold", "lungs_only", "edited", "pipeline"):
            session.events.connect(ev, lambda *_: self.invalidate())
        session.events.connect("series", lambda _info: self._series())
        panel.hide()

    # -- availability -------------------------------------------------------------------------
    def availability(self) -> tuple[bool, str]:
        s = self.session
        if s.voxels is None:
            return False, "no series open"
        info = s.info
        spacing = None if info is None or info.source_kind == "pictures" else info.spacing
        return reformat.can_reformat(s.voxels.shape, spacing,
                                     "pictures" if info is None else info.source_kind)

    def set_enabled(self, on: bool) -> bool:
        """Switch to the MPR layout (True) or back to the single view; False when refused (the
        reason goes to the status bar)."""
        if on:
            ok, why = self.availability()
            if not ok:
                self.show_status(f"MPR layout: unavailable: {why}", 8000)
                on = False
        changed = on != self.enabled
        self.enabled = on
        self.panel.setVisible(on)
        for it in (self.axial_v, self.axial_h):
            it.setVisible(on)
        if on:
            if changed:
                _, ny, nx = self.session.voxels.shape
                self.cursor = (self.view.index, ny // 2, nx // 2)
            self.redraw()
            self.poll.start()
        else:
            self.poll.stop()
        for fn in self.listeners:
            fn(on)
        return on

    def stop(self) -> None:
        self.poll.stop()

    # -- cursor -------------------------------------------------------------------------------
    def set_cursor(self, z: int, y: int, x: int) -> None:
        vox = self.session.voxels
        if vox is None:
            return
        nz, ny, nx = vox.shape
        z, y, x = (int(np.clip(v, 0, n - 1)) for v, n in ((z, nz), (y, ny), (x, nx)))
        old = self.cursor
        self.cursor = (z, y, x)
        if z != self.view.index:
            self.view.set_index(z)  # -> _axial_index
        self.redraw(planes_changed=(old[1], old[2]) != (y, x))

    def _axial_clicked(self, x: float, y: float) -> None:
        if self.enabled:
            self.set_cursor(self.view.index, int(np.floor(y)), int(np.floor(x)))

    def _axial_index(self, i: int) -> None:
        if self.enabled and i != self.cursor[0]:
            self.cursor = (i, self.cursor[1], self.cursor[2])
            self.redraw(planes_changed=False)

    def _plane_clicked(self, plane: str, row: float, col: float) -> None:
        idx = reformat.voxel_to_plane(plane, self.cursor)[0]
        self.set_cursor(*reformat.plane_to_voxel(plane, idx, row, col))

    def _plane_stepped(self, plane: str, delta: int) -> None:
        z, y, x = self.cursor
        if plane == "coronal":
            self.set_cursor(z, y + delta, x)
        else:
            self.set_cursor(z, y, x + delta)

    # -- drawing ------------------------------------------------------------------------------
    def _series(self) -> None:
        self.plane_layers = None
        for pv in self.panel.views.values():
            pv.shape = (0, 0)
        if self.enabled:
            # once the axial view shows the new series: re-check it (pictures switch it off),
            # cursor back to the middle of the shown slice
            self.enabled = False
            QtCore.QTimer.singleShot(0, self.panel, lambda: self.set_enabled(True))

    def invalidate(self) -> None:
        if self.plane_layers is not None:
            self.plane_layers.invalidate()
        self.redraw()

    def _poll(self) -> None:
        pl = self.plane_layers
        if self.enabled and pl is not None and not pl.complete:
            self.redraw()

    def redraw(self, planes_changed: bool = True) -> None:
        s = self.session
        if not self.enabled or s.voxels is None:
            return
        vox = s.voxels
        z, y, x = self.cursor
        self.axial_v.setPos(x + 0.5)
        self.axial_h.setPos(y + 0.5)
        if self.plane_layers is None or self.plane_layers.shape != vox.shape:
            self.plane_layers = reformat.PlaneLayers(vox.shape, self.layers_fn)
        geo = self.view.geometry_info
        spacing = s.info.spacing
        pos = [p for p in geo.positions if p is not None]
        superior_up = len(pos) < 2 or pos[-1] >= pos[0]
        levels = self.view._levels()
        flips = {"coronal": (geo.flip_x, not superior_up), "sagittal": (geo.flip_y, not superior_up)}
        if planes_changed and self.overlay_on() and s.pipeline is not None:
            # both planes' rows in one pass over the axial slices (each fetched once)
            self.plane_layers.planes({p: reformat.voxel_to_plane(p, self.cursor)[0]
                                      for p in self.panel.views})
        for plane, pv in self.panel.views.items():
            idx, row, col = reformat.voxel_to_plane(plane, self.cursor)
            if planes_changed or pv.shape == (0, 0):
                img = reformat.plane_image(vox, plane, idx)
                pv.set_picture(img, levels, reformat.plane_spacing(spacing, plane), *flips[plane])
                self._draw_overlay(pv, plane, idx)
            else:
                pv.image_item.setLevels(levels)
            pv.set_cursor(row, col)
            n = reformat.plane_count(vox.shape, plane)
            pv.label.setText(f"{plane} {idx + 1} / {n}")

    def _draw_overlay(self, pv: PlaneView, plane: str, idx: int) -> None:
        if not self.overlay_on() or self.session.pipeline is None:
            pv.set_overlay(None)
            return
        m, k = self.plane_layers.plane(plane, idx)
        pv.set_overlay(overlay_rgba(m, k, self.style()))
