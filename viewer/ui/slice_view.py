"""The slice view: one axial slice of a volume with window/level, overlay and on-view text.

Mouse: wheel scrolls slices, Ctrl+wheel zooms, left-drag pans (or paints with a refine tool),
right-drag changes window (horizontal) and level (vertical), double-click fits the slice.
The view follows the radiological convention: the patient's right is on the image's left and
anterior on top (the display is flipped when the series' direction cosines say so).
HU volumes are shown through a window (lung W1500/L-600 by default); 8-bit pictures are shown as
they are (levels 0..255, no window).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from viewer.core.windowing import LUNG, validate_window

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


@dataclass
class SliceGeometry:
    """What the view draws around the pixels. ``positions``: slice position along z in mm
    (one per slice, None when unknown); ``thickness_mm``: slice spacing along z;
    ``edge_letters``: patient directions at the (left, right, top, bottom) screen edges."""

    pixel_spacing: tuple[float, float] = (1.0, 1.0)  # (y, x) mm
    thickness_mm: float | None = None
    positions: list[float | None] = field(default_factory=list)
    flip_x: bool = False  # mirror columns on screen
    flip_y: bool = False  # mirror rows on screen
    oriented: bool = False  # True when the direction cosines are known (draw the letters)
    edge_letters: tuple[str, str, str, str] = ("R", "L", "A", "P")


def _letter(v: np.ndarray) -> str:
    """LPS letter of the dominant component of direction ``v`` (L/P/S positive, R/A/I negative)."""
    k = int(np.argmax(np.abs(v)))
    return ("LPS" if v[k] > 0 else "RAI")[k]


_OPPOSITE = {"L": "R", "R": "L", "P": "A", "A": "P", "S": "I", "I": "S"}


def geometry_from_direction(direction, spacing, positions) -> SliceGeometry:
    """Build the display geometry from a 3x3 LPS direction (columns = x, y, z index axes; or 9
    floats row-major), spacing ``(z, y, x)`` mm and per-slice z positions in mm.

    Radiological convention: the screen's right edge is the patient's left (axial, coronal) or
    posterior (sagittal); the bottom edge is posterior (axial) or inferior (coronal, sagittal).
    """
    geo = SliceGeometry()
    if spacing is not None:
        geo.pixel_spacing = (float(spacing[1]), float(spacing[2]))
        geo.thickness_mm = float(spacing[0])
    geo.positions = list(positions or [])
    if direction is not None:
        d = np.asarray(direction, dtype=float).reshape(3, 3)
        x_axis, y_axis = d[:, 0], d[:, 1]
        geo.flip_x = _letter(x_axis) in ("R", "A", "S")  # columns should run to L or P
        geo.flip_y = _letter(y_axis) in ("A", "S")  # rows should run to P or I
        right = _letter(-x_axis if geo.flip_x else x_axis)
        bottom = _letter(-y_axis if geo.flip_y else y_axis)
        geo.edge_letters = (_OPPOSITE[right], right, _OPPOSITE[bottom], bottom)
        geo.oriented = True
    return geo


def series_geometry(info) -> SliceGeometry:
    """The display geometry of a ``SeriesInfo``; pictures have no physical geometry (no
    orientation letters, no mm)."""
    pictures = info.source_kind == "pictures"
    positions = [r.position[2] if r.position is not None else None for r in info.refs]
    geo = geometry_from_direction(None if pictures else info.direction, info.spacing,
                                  [None] * len(positions) if pictures else positions)
    if pictures:
        geo.thickness_mm = None
    return geo


class _SliceViewBox(pg.ViewBox):
    """ViewBox with reading-room mouse bindings (see the module docstring)."""

    def __init__(self, owner: "SliceView"):
        super().__init__(enableMenu=False, lockAspect=True, invertY=True)
        self._owner = owner
        self.setMouseEnabled(x=True, y=True)

    def wheelEvent(self, ev, axis=None):
        mods = ev.modifiers()
        if mods & QtCore.Qt.KeyboardModifier.ControlModifier:
            return super().wheelEvent(ev, axis)
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if delta:
            self._owner.step(-1 if delta > 0 else 1)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        owner = self._owner
        if ev.button() == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            d = ev.screenPos() - ev.lastScreenPos()
            owner.drag_window(d.x(), d.y())
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and owner.paint_mode:
            ev.accept()
            p = owner.image_item.mapFromScene(ev.scenePos())
            if ev.isStart():
                owner.paintStarted.emit(p.x(), p.y())
            elif ev.isFinish():
                owner.paintFinished.emit()
            else:
                owner.paintMoved.emit(p.x(), p.y())
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and owner.drag_tool is not None:
            ev.accept()  # a measurement tool draws instead of panning
            p = owner.image_item.mapFromScene(ev.buttonDownScenePos() if ev.isStart()
                                              else ev.scenePos())
            owner.drag_tool("start" if ev.isStart() else "finish" if ev.isFinish() else "move",
                            p.x(), p.y())
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and ev.double():
            self._owner.fit()
            ev.accept()
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton and self._owner.paint_mode:
            p = self._owner.image_item.mapFromScene(ev.scenePos())
            self._owner.paintStarted.emit(p.x(), p.y())
            self._owner.paintFinished.emit()
            ev.accept()
            return
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            p = self._owner.image_item.mapFromScene(ev.scenePos())
            self._owner.clicked.emit(p.x(), p.y())
        ev.accept()


def _corner_label(parent: QtWidgets.QWidget, align: QtCore.Qt.AlignmentFlag) -> QtWidgets.QLabel:
    lab = QtWidgets.QLabel(parent)
    lab.setAlignment(align)
    lab.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    lab.setStyleSheet("QLabel { color: #f0f0a0; background: transparent; "
                      "font-family: monospace; font-size: 13px; }")
    return lab


class _PaintedView(pg.GraphicsView):
    """A GraphicsView that says when it has painted (``painted()``, after the paint)."""

    painted = QtCore.pyqtSignal()

    def paintEvent(self, ev):
        out = super().paintEvent(ev)
        self.painted.emit()
        return out


class SliceView(QtWidgets.QWidget):
    """Shows slice ``index`` of a ``(z, y, x)`` volume (HU float32 or uint8) with an RGBA overlay.

    Signals: ``indexChanged(int)``, ``windowChanged(float, float)`` (width, level HU),
    ``hoverText(str)``, and for refine tools ``paintStarted(x, y)``, ``paintMoved(x, y)``,
    ``paintFinished()`` in image pixel coordinates (column, row); ``clicked(x, y)`` (a single
    left click without a refine tool) and ``mouseMoved(x, y)`` in the same coordinates.
    ``drag_tool``: when set, ``drag_tool(phase, x, y)`` (phase "start" / "move" / "finish")
    receives left drags instead of panning (measurement tools).
    """

    indexChanged = QtCore.pyqtSignal(int)
    windowChanged = QtCore.pyqtSignal(float, float)
    hoverText = QtCore.pyqtSignal(str)
    paintStarted = QtCore.pyqtSignal(float, float)
    paintMoved = QtCore.pyqtSignal(float, float)
    paintFinished = QtCore.pyqtSignal()
    clicked = QtCore.pyqtSignal(float, float)
    mouseMoved = QtCore.pyqtSignal(float, float)
    #: the pixels of a new volume (or preview) were painted on screen (once per volume;
    #: emitted from the paint: receivers that do work should defer it)
    pixelsPainted = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._paint_pending = False
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 320)
        self.graphics = _PaintedView(self, background="k")
        self.viewbox = _SliceViewBox(self)
        self.graphics.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        self.viewbox.addItem(self.image_item)
        self.viewbox.addItem(self.overlay_item)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.graphics)
        A = QtCore.Qt.AlignmentFlag
        self.label_tl = _corner_label(self, A.AlignLeft | A.AlignTop)
        self.label_tr = _corner_label(self, A.AlignRight | A.AlignTop)
        self.label_bl = _corner_label(self, A.AlignLeft | A.AlignBottom)
        self.label_br = _corner_label(self, A.AlignRight | A.AlignBottom)
        self.orient = {k: _corner_label(self, A.AlignCenter) for k in "RLAP"}
        for lab in self.orient.values():
            lab.setStyleSheet("QLabel { color: #80d0ff; background: rgba(0, 0, 0, 150); "
                              "border-radius: 3px; font-weight: bold; font-size: 14px; }")
        self.voxels: np.ndarray | None = None
        self.title = ""
        self.is_hu = True
        self.geometry_info = SliceGeometry()
        self.index = 0
        self.width_hu, self.level_hu = LUNG.width, LUNG.level
        self.window_name = LUNG.name
        self.paint_mode = False
        self.drag_tool = None
        self.overlay_note = ""
        # the brush outline: a circle of the brush radius that follows the mouse
        self.brush_cursor = QtWidgets.QGraphicsEllipseItem()
        self.brush_cursor.setPen(pg.mkPen((255, 255, 0), width=1.5, cosmetic=True))
        self.brush_cursor.setZValue(30)
        self.brush_cursor.setVisible(False)
        self.viewbox.addItem(self.brush_cursor, ignoreBounds=True)
        self.brush_radius_px: float | None = None
        self._last_mouse = None
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.painted.connect(self._graphics_painted)

    def _graphics_painted(self) -> None:
        """``pixelsPainted`` once the view has painted a new volume's (or preview's) pixels."""
        if self._paint_pending:
            self._paint_pending = False
            self.pixelsPainted.emit()

    # -- data ---------------------------------------------------------------------------------
    def set_volume(self, voxels: np.ndarray, is_hu: bool, geometry: SliceGeometry | None = None,
                   index: int | None = None, title: str = "") -> None:
        """Show a new ``(z, y, x)`` volume; ``index`` defaults to the middle slice."""
        vox = np.asarray(voxels)
        if vox.ndim != 3 or min(vox.shape) == 0:
            raise ValueError(f"slice view: volume must be (z, y, x), got shape {vox.shape}")
        self.voxels = vox
        self.is_hu = bool(is_hu)
        self.geometry_info = geometry or SliceGeometry()
        self.title = title
        self.viewbox.invertX(self.geometry_info.flip_x)
        self.viewbox.invertY(not self.geometry_info.flip_y)
        self.overlay_item.clear()
        self.label_br.setText("")  # the HU readout belonged to the previous series
        self.hoverText.emit("")
        self.index = -1
        self.set_index(vox.shape[0] // 2 if index is None else index)
        self.fit()
        self._paint_pending = True

    def show_preview(self, pixels: np.ndarray, is_hu: bool, text: str = "") -> None:
        """Show one ``(y, x)`` slice while its series is still being scanned: pixels only (no
        index, no overlay, no interaction); the next ``set_volume`` replaces it."""
        img = np.asarray(pixels)
        if img.ndim != 2 or min(img.shape) == 0:
            raise ValueError(f"slice view: preview must be (y, x), got shape {img.shape}")
        self.clear()
        self.is_hu = bool(is_hu)
        self.geometry_info = SliceGeometry()
        self.viewbox.invertX(self.geometry_info.flip_x)
        self.viewbox.invertY(not self.geometry_info.flip_y)
        self.image_item.setImage(img, autoLevels=False, levels=self._levels())
        self.label_tl.setText(text)
        self.viewbox.setRange(xRange=(0, img.shape[1]), yRange=(0, img.shape[0]), padding=0.02)
        self._paint_pending = True

    def clear(self) -> None:
        self.voxels = None
        self.image_item.clear()
        self.overlay_item.clear()
        self.hoverText.emit("")
        for lab in (self.label_tl, self.label_tr, self.label_bl, self.label_br):
            lab.setText("")

    @property
    def n_slices(self) -> int:
        return 0 if self.voxels is None else int(self.voxels.shape[0])

    def current_slice(self) -> np.ndarray | None:
        return None if self.voxels is None else self.voxels[self.index]

    def set_index(self, i: int) -> None:
        """Show slice ``i`` (clamped to the series); emits ``indexChanged`` when it changes."""
        if self.voxels is None:
            return
        i = int(min(max(int(i), 0), self.n_slices - 1))
        if i == self.index:
            return
        self.index = i
        self._show_pixels()
        self._update_labels()
        self.indexChanged.emit(i)

    def step(self, delta: int) -> None:
        self.set_index(self.index + int(delta))

    def _levels(self) -> tuple[float, float]:
        if not self.is_hu:
            return 0.0, 255.0
        return self.level_hu - self.width_hu / 2.0, self.level_hu + self.width_hu / 2.0

    def _show_pixels(self) -> None:
        sl = self.voxels[self.index]
        self.image_item.setImage(sl, autoLevels=False, levels=self._levels())

    # -- window / level -----------------------------------------------------------------------
    def set_window(self, width: float, level: float, name: str = "") -> None:
        """Window in HU (ignored for 8-bit pictures, which are shown as they are)."""
        w, lv = validate_window(width, level)
        self.width_hu, self.level_hu, self.window_name = w, lv, name
        if self.voxels is not None and self.is_hu:
            self.image_item.setLevels(self._levels())
        self._update_labels()
        self.windowChanged.emit(w, lv)

    def drag_window(self, dx: float, dy: float) -> None:
        """Right-drag: right widens the window, down raises the level (4 HU per pixel)."""
        if not self.is_hu or self.voxels is None:
            return
        w = max(1.0, self.width_hu + 4.0 * dx)
        self.set_window(w, self.level_hu + 4.0 * dy, "")

    # -- overlay ------------------------------------------------------------------------------
    def set_overlay(self, rgba: np.ndarray | None) -> None:
        """RGBA ``uint8 (y, x, 4)`` drawn over the current slice, or None to clear."""
        if rgba is None:
            self.overlay_item.clear()
            return
        self.overlay_item.setImage(rgba, autoLevels=False, levels=(0, 255))

    # -- view ---------------------------------------------------------------------------------
    def fit(self) -> None:
        if self.voxels is None:
            return
        _, h, w = self.voxels.shape
        self.viewbox.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def zoom(self, factor: float) -> None:
        self.viewbox.scaleBy((1.0 / factor, 1.0 / factor))

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        w, h = self.width(), self.height()
        m = 6
        half = w // 2 - m - 16  # leave the middle free for the A / P markers
        self.label_tl.setGeometry(m, m, half, 80)
        self.label_tr.setGeometry(w - half - m, m, half, 80)
        self.label_bl.setGeometry(m, h - 80 - m, half, 80)
        self.label_br.setGeometry(w - half - m, h - 80 - m, half, 80)
        self.orient["A"].setGeometry(w // 2 - 11, m, 22, 22)
        self.orient["P"].setGeometry(w // 2 - 11, h - 22 - m, 22, 22)
        self.orient["R"].setGeometry(m, h // 2 - 11, 22, 22)
        self.orient["L"].setGeometry(w - 22 - m, h // 2 - 11, 22, 22)

    # -- text ---------------------------------------------------------------------------------
    def _update_labels(self) -> None:
        if self.voxels is None:
            return
        geo = self.geometry_info
        lines = [f"slice {self.index + 1} / {self.n_slices}  (index {self.index})"]
        pos = geo.positions[self.index] if self.index < len(geo.positions) else None
        if pos is not None:
            lines.append(f"z = {pos:.1f} mm")
        if geo.thickness_mm:
            lines.append(f"thickness {geo.thickness_mm:.2f} mm")
        self.label_tr.setText("\n".join(lines))
        self.label_tl.setText(self.title)
        if self.is_hu:
            name = f" ({self.window_name})" if self.window_name else ""
            self.label_bl.setText(f"W {self.width_hu:.0f}  L {self.level_hu:.0f}{name}"
                                  + (f"\n{self.overlay_note}" if self.overlay_note else ""))
        else:
            self.label_bl.setText("8-bit picture, shown as stored"
                                  + (f"\n{self.overlay_note}" if self.overlay_note else ""))
        show = geo.oriented
        left, right, top, bottom = geo.edge_letters
        for key, text in (("R", left), ("L", right), ("A", top), ("P", bottom)):
            self.orient[key].setText(text)
            self.orient[key].setVisible(show)

    def set_brush_cursor(self, radius_px: float | None) -> None:
        """Show a circle of ``radius_px`` (image pixels) under the mouse; None hides it."""
        self.brush_radius_px = None if radius_px is None else float(radius_px)
        if self.brush_radius_px is None:
            self.brush_cursor.setVisible(False)
        elif self._last_mouse is not None:
            self._place_brush(*self._last_mouse)

    def _place_brush(self, x: float, y: float) -> None:
        r = self.brush_radius_px
        self.brush_cursor.setRect(QtCore.QRectF(x - r, y - r, 2 * r, 2 * r))
        self.brush_cursor.setVisible(True)

    def set_overlay_note(self, text: str) -> None:
        self.overlay_note = text
        self._update_labels()

    def _on_mouse_moved(self, scene_pos) -> None:
        if self.voxels is None:
            return
        p = self.image_item.mapFromScene(scene_pos)
        self._last_mouse = (p.x(), p.y())
        if self.brush_radius_px is not None:
            self._place_brush(p.x(), p.y())
        self.mouseMoved.emit(p.x(), p.y())
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        sl = self.voxels[self.index]
        if 0 <= row < sl.shape[0] and 0 <= col < sl.shape[1]:
            v = float(sl[row, col])
            unit = f"{v:.0f} HU" if self.is_hu else f"grey {v:.0f}"
            text = f"({col}, {row})  {unit}"
        else:
            text = ""
        self.label_br.setText(text)
        self.hoverText.emit(text)
