"""Moved to ``viewer.core.lesion_layers`` (Qt-free, shared with ``localize``); kept as an alias."""
from viewer.core.lesion_layers import SeriesCounts, slice_counts

__all__ = ["SeriesCounts", "slice_counts"]
