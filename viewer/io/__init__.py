"""Qt-free CT input: DICOM folders, NIfTI volumes and 2-D pictures -> one series model.

```python
from viewer.io import scan_path, load_series
result = scan_path(path)            # ScanResult(series=[SeriesInfo...], skipped=[SkippedFile...])
vol = load_series(result.series[0]) # Volume: voxels (z, y, x) HU float32 or uint8, geometry
```
See docs/INPUT.md for the supported inputs and the message given for each bad input.
"""
from viewer.io.scan import first_series, load_series, scan_path
from viewer.io.series import (
    DecodeHint,
    LoadCancelled,
    ScanResult,
    SeriesInfo,
    SkippedFile,
    SliceRef,
    Volume,
)

__all__ = [
    "scan_path",
    "load_series",
    "first_series",
    "ScanResult",
    "SeriesInfo",
    "SkippedFile",
    "SliceRef",
    "Volume",
    "DecodeHint",
    "LoadCancelled",
]
