"""JSON that is always valid: NaN and infinities (not JSON) become null.

``json.dumps`` writes ``NaN`` / ``Infinity`` by default, which strict parsers reject;
``dumps`` here sanitises first and then refuses any that is left (``allow_nan=False``).
"""
from __future__ import annotations

import json
import math

import numpy as np


def finite(obj):
    """``obj`` with every non-finite float (Python or numpy) replaced by None, recursively;
    numpy scalars and arrays become plain Python values."""
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def dumps(obj, **kwargs) -> str:
    """``json.dumps`` of ``finite(obj)`` with ``allow_nan=False``."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)
