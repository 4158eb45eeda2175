"""A series' lung mask made in two stages, so that its first lesion map need not wait for it.

The model's field of view (``gan.canonical.lung_frame``) is the bounding box of the lungs over
the whole series, and on a HU series steps 1-4 of ``viewer.core.lung_mask`` (air in the body,
lung components in 3-D, airways dropped; about a fifth of the cost) already give the lungs'
extent; steps 5-6 (closing, filling, dense lung against the wall) run per slice and seldom
widen it. So the viewer and ``localize`` plan the model's input from the front
(:meth:`SeriesLungs.front`), localize a slice as soon as that slice's lungs are finished
(:meth:`SeriesLungs.finish`), and, once every slice is finished, check the plan against the
finished mask (:func:`same_plan`). When the finished lungs reach further (a frame that
differs), the maps made so far are made again with the finished plan: the result is always
that of the one-stage pipeline (``lesion_layers.series_lungs`` and one plan from it).

Pictures and one-slice series have no cheap front: their mask is made whole at once (the
front is then the finished mask).

Arrays: ``voxels`` ``(z, y, x)`` HU or 8-bit grey levels; masks ``bool (z, y, x)``; spacing
``(z, y, x)`` mm or None. Qt-free.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


class SeriesLungs:
    """The lung mask of one series, finished slice by slice (see the module docstring).

    ``SeriesLungs(voxels, is_hu, spacing, progress=None, network="auto")``: the front is made
    here (HU series of more than one slice), or the whole mask (other input; ``progress`` as
    ``lesion_layers.series_lungs``). Then:

    - ``front()``: ``bool (z, y, x)``, the mask to plan with; call it before any ``finish``
      (the finished slices replace the front's in place);
    - ``finish(indices)``: finish those slices (thread-safe; finished ones are skipped);
    - ``get(i)``: slice ``i``'s finished mask, ``bool (y, x)`` (finished now when needed);
    - ``is_finished(i)``, ``all_finished()``;
    - ``result()``: every slice finished, ``bool (z, y, x)``, equal to ``series_lungs``.
    """

    def __init__(self, voxels: np.ndarray, is_hu: bool, spacing,
                 progress: Callable[[int, int], object] | None = None, network="auto"):
        from viewer.core.lesion_layers import _check_spacing, check_voxels, series_lungs
        from viewer.core.lung_mask import HuLungStages

        vol = check_voxels(voxels)
        self.shape = tuple(int(v) for v in vol.shape)
        self._stages = None
        self._whole = None
        if is_hu and vol.shape[0] > 1:
            sp = None if spacing is None else _check_spacing(spacing)
            self._stages = HuLungStages(vol, sp, network=network)
        else:
            self._whole = series_lungs(vol, is_hu, spacing, progress=progress, network=network)

    @property
    def staged(self) -> bool:
        """True when the slices are finished one by one (a HU series)."""
        return self._stages is not None

    def front(self) -> np.ndarray:
        """The mask to plan the model's input with, ``bool (z, y, x)`` (not to be changed)."""
        if self._stages is None:
            return self._whole
        if self._stages.finished.any():
            raise ValueError("lung mask: the front was asked for after slices were finished")
        return self._stages.front

    def finish(self, indices) -> None:
        if self._stages is not None:
            idx = [int(i) for i in indices]
            for i in idx:
                if not 0 <= i < self.shape[0]:
                    raise ValueError(f"lung mask: slice index {i} outside 0..{self.shape[0] - 1}")
            self._stages.finish(idx)

    def is_finished(self, i: int) -> bool:
        return self._stages is None or bool(self._stages.finished[int(i)])

    def all_finished(self) -> bool:
        return self._stages is None or bool(self._stages.finished.all())

    def get(self, i: int) -> np.ndarray:
        self.finish([i])
        lungs = self._whole if self._stages is None else self._stages.lungs
        return lungs[int(i)]

    def result(self) -> np.ndarray:
        if self._stages is None:
            return self._whole
        return self._stages.result()


def same_plan(provisional, final) -> bool:
    """True when maps made with the ``provisional`` input plan (from the front) equal those of
    the ``final`` one (from the finished lungs): the same frame and grey-scale mapping (the
    notes may differ; they do not change a map). None plans (localizers without plans) match."""
    if provisional is None or final is None:
        return provisional is final
    return (getattr(provisional, "frame", None) == getattr(final, "frame", None)
            and getattr(provisional, "window", None) == getattr(final, "window", None)
            and getattr(provisional, "is_hu", None) == getattr(final, "is_hu", None))
