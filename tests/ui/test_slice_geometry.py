"""Display orientation from direction cosines: radiological convention, edge letters."""
from __future__ import annotations

import numpy as np
import pytest

from viewer.ui.slice_view import geometry_from_direction

SP = (2.5, 0.7, 0.7)


def geo(cols):
    """Direction matrix whose columns are the x, y, z index axes (LPS)."""
    return geometry_from_direction(np.array(cols, float).T.ravel(), SP, [])


@pytest.mark.parametrize("cols, flips, letters", [
    # axial, standard: columns to L, rows to P -> shown as stored
    ([(1, 0, 0), (0, 1, 0), (0, 0, 1)], (False, False), ("R", "L", "A", "P")),
    # axial, columns to R and rows to A (e.g. prone) -> both mirrored, same letters on screen
    ([(-1, 0, 0), (0, -1, 0), (0, 0, 1)], (True, True), ("R", "L", "A", "P")),
    # coronal: columns to L, rows to I
    ([(1, 0, 0), (0, 0, -1), (0, 1, 0)], (False, False), ("R", "L", "S", "I")),
    # sagittal: columns to P, rows to I
    ([(0, 1, 0), (0, 0, -1), (1, 0, 0)], (False, False), ("A", "P", "S", "I")),
])
def test_radiological_orientation(cols, flips, letters):
    g = geo(cols)
    assert (g.flip_x, g.flip_y) == flips and g.edge_letters == letters and g.oriented
    assert g.thickness_mm == 2.5 and g.pixel_spacing == (0.7, 0.7)


def test_without_direction_no_letters():
    g = geometry_from_direction(None, SP, [1.0])
    assert not g.oriented and g.positions == [1.0]
