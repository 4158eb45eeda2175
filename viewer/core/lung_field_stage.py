"""The lung-field network's stage of the lung mask (``viewer.core.lung_mask.segment_lungs``).

Threshold-based lung masks find aerated lung; dense consolidation and effusion against the pleura
look like soft tissue to any threshold. The lung-field network (``gan.lung_net``, trained by
``main.py lungs train`` on normal pictures with painted lesions) outlines the lung field, dense
lung included. ``with_field`` joins its pieces to the threshold-based mask of each slice where
they touch the lungs found, or where they are at least ``FIELD_ALONE_SHARE`` of them (a lung
consolidated whole); it never starts a lung in a slice without one, and leaves out touching
pieces that are large and even in grey (``FIELD_ORGAN_SHARE``, ``FIELD_ORGAN_STD``: the liver
dome or the heart, which the network can take for dense lung).

``network`` (as ``segment_lungs`` takes it): False / None = none; True / "auto" = the shipped
``resources/weights/lung_field.safetensors`` when present; a weights path; or an object with
``mask(volume (z, y, x), is_hu) -> bool (z, y, x)`` (a ``gan.lung_net.LungFieldNet``).

Arrays: masks bool (z, y, x) or (y, x); Qt-free; torch is imported only when a network is loaded.
"""
from __future__ import annotations

import functools
import os

import numpy as np
from scipy import ndimage as ndi

#: A piece of the lung field (``gan.lung_net``) not touching the threshold-based lungs of its slice
#: joins them when at least this share of their area (a lung consolidated whole).
FIELD_ALONE_SHARE = 0.25
#: A piece of the lung field touching the lungs that is larger than ``FIELD_ORGAN_SHARE`` of their
#: area and even in grey (standard deviation below ``FIELD_ORGAN_STD`` grey levels of 255) is an
#: organ the network took for dense lung (liver dome, heart, spleen), not consolidated lung, whose
#: air bronchograms and vessels make it uneven. On the 50 MedSeg validation slices the large even
#: pieces were the liver and heart (slice 54: 28,565 px, 0 % lesion) and held 1,424 lesion pixels
#: in all (coverage of the lesions 98.3 % -> 98.1 %); real consolidations measured 23-72.
FIELD_ORGAN_SHARE = 0.2
FIELD_ORGAN_STD = 20.0
#: The lung-field network joins the mask of 8-bit pictures only. On HU slices (COVID-19-NY-SBU,
#: LIDC-IDRI-0001) it took the heart and chest wall into the lung (the training pictures show soft
#: tissue saturated white; the HU lung window does not), while the HU path's own chest-wall fill
#: (step 6) keeps dense dependent lung; so HU series keep the threshold-based mask.
FIELD_ON_PICTURES_ONLY = True
_SQUARE = ndi.generate_binary_structure(2, 2)


def with_field(out: np.ndarray, inside: np.ndarray, vol3: np.ndarray, is_hu: bool, network,
               pixel_mm2: float, two_d: bool, min_piece_mm2: float) -> np.ndarray:
    """``out`` (z, y, x) joined by the lung field's pieces (``_extend_with_field``) where the
    network applies (inside the body, ``inside``); the slice itself for 2-D input. Added pieces
    under ``min_piece_mm2`` are dropped as specks."""
    net = None if (is_hu and FIELD_ON_PICTURES_ONLY) else resolve_network(network)
    if net is not None:
        field = net.mask(vol3, is_hu)
        for k in range(vol3.shape[0]):
            out[k] = _extend_with_field(out[k], field[k] & inside[k], pixel_mm2, min_piece_mm2,
                                        None if is_hu else vol3[k])
    return out[0] if two_d else out


def resolve_network(network):
    """The lung-field network that ``network`` names: None for False / None, the shipped one
    (``gan.resources.LUNG_FIELD_WEIGHTS``, None when absent) for True / "auto", else a weights
    path or a ready ``gan.lung_net.LungFieldNet``. Raises ValueError for an unusable file."""
    if network is None or network is False:
        return None
    if hasattr(network, "mask"):
        return network
    from gan.resources import LUNG_FIELD_WEIGHTS

    if network is True or network == "auto":
        if not LUNG_FIELD_WEIGHTS.is_file():
            return None
        network = LUNG_FIELD_WEIGHTS
    return _load_network(str(os.path.abspath(network)), os.stat(network).st_mtime_ns
                         if os.path.exists(network) else 0)


@functools.lru_cache(maxsize=2)
def _load_network(path: str, _mtime: int):
    from gan.lung_net import LungFieldNet

    return LungFieldNet(path, device="cpu")


def network_id(network="auto") -> str:
    """What lung mask ``segment_lungs(..., network=network)`` makes, for cache keys:
    "threshold", or "field-" and the lung-field weights' sha256 prefix (the file is hashed, not
    loaded: no torch import)."""
    if network is None or network is False:
        return "threshold"
    if hasattr(network, "weights_hash"):
        return f"field-{network.weights_hash[:12]}"
    from gan.resources import LUNG_FIELD_WEIGHTS

    path = LUNG_FIELD_WEIGHTS if network is True or network == "auto" else network
    if not os.path.isfile(path):
        return "threshold"
    return f"field-{_file_hash(str(os.path.abspath(path)), os.stat(path).st_mtime_ns)[:12]}"


@functools.lru_cache(maxsize=4)
def _file_hash(path: str, _mtime: int) -> str:
    from gan.file_hash import file_sha256

    return file_sha256(path)


def _extend_with_field(lungs: np.ndarray, field: np.ndarray, pixel_mm2: float,
                       min_piece_mm2: float, grey: np.ndarray | None = None) -> np.ndarray:
    """The threshold-based ``lungs`` of a slice joined by the lung field's pieces that touch them
    (dense lung the threshold missed) or are as large as ``FIELD_ALONE_SHARE`` of them (a lung
    consolidated whole). The field never starts a lung in a slice without one. With ``grey``
    (the 8-bit picture, (y, x)), a touching piece that is large and even in grey is left out
    (``FIELD_ORGAN_SHARE``, ``FIELD_ORGAN_STD``: an organ, not consolidated lung)."""
    if not lungs.any() or not field.any():
        return lungs
    union = lungs | field
    lab, n = ndi.label(union, structure=_SQUARE)
    if n == 0:
        return lungs
    lung_px = float(np.count_nonzero(lungs))
    touching = np.zeros(n + 1, dtype=bool)
    touching[np.unique(lab[lungs])] = True
    touching[0] = False
    sizes = ndi.sum_labels(field & ~lungs, lab, index=np.arange(1, n + 1))
    keep = touching.copy()
    keep[1:] |= sizes >= FIELD_ALONE_SHARE * lung_px
    keep[0] = False
    added = keep[lab] & field & ~lungs
    if grey is not None and added.any():
        joined = added & touching[lab]
        added &= ~_even_organs(joined, grey, FIELD_ORGAN_SHARE * lung_px)
    if not added.any():
        return lungs
    # pieces of the field too small to matter are specks
    return _drop_small(lungs | added, lungs, min_piece_mm2 / pixel_mm2)


def _even_organs(added: np.ndarray, grey: np.ndarray, min_px: float) -> np.ndarray:
    """The pieces of ``added`` (bool (y, x)) of at least ``min_px`` pixels whose ``grey`` values
    spread less than ``FIELD_ORGAN_STD`` (standard deviation), as a bool mask."""
    lab, n = ndi.label(added, structure=_SQUARE)
    if n == 0:
        return np.zeros_like(added)
    g = np.asarray(grey, dtype=np.float64)
    idx = np.arange(1, n + 1)
    count = ndi.sum_labels(added, lab, index=idx)
    total = ndi.sum_labels(g, lab, index=idx)
    total2 = ndi.sum_labels(g * g, lab, index=idx)
    mean = total / np.maximum(count, 1)
    std = np.sqrt(np.maximum(total2 / np.maximum(count, 1) - mean * mean, 0.0))
    organ = np.zeros(n + 1, dtype=bool)
    organ[1:] = (count >= min_px) & (std < FIELD_ORGAN_STD)
    return organ[lab]


def _drop_small(mask: np.ndarray, keep: np.ndarray, min_px: float) -> np.ndarray:
    lab, n = ndi.label(mask, structure=_SQUARE)
    if n == 0:
        return mask
    sizes = ndi.sum_labels(mask, lab, index=np.arange(1, n + 1))
    ok = np.zeros(n + 1, dtype=bool)
    ok[1:] = sizes >= min_px
    ok[np.unique(lab[keep])] = True
    ok[0] = False
    return ok[lab]
