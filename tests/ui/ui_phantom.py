"""Small synthetic chest CT series for the UI tests, and a fake localizer.

Phantom (HU): air -1000 outside an elliptic body of 40 HU; two elliptic lungs of -850 HU; in the
right lung (image left) a round lesion of -500 HU (ground glass) on every slice.

Pixels are ``PIXEL_MM`` = 3 mm (a 192 mm field of view), so each lung holds more than the 20 ml
the 3-D lung segmentation keeps even in a three-slice series (at the 0.7 mm pixels of an adult
chest CT, a 64-pixel slice would show a 45 mm "chest" whose lungs the series segmentation
rightly drops as too small).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

LESION_CENTRE = (30, 22)  # (row, col)
LESION_RADIUS = 5
PIXEL_MM = 3.0
SLICE_MM = 2.5


def phantom_slice(rows: int = 64, cols: int = 64) -> np.ndarray:
    """``float32 (rows, cols)`` HU chest phantom."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2, cols / 2
    hu = np.full((rows, cols), -1000.0, np.float32)
    hu[((yy - cy) / (rows * 0.42)) ** 2 + ((xx - cx) / (cols * 0.46)) ** 2 <= 1] = 40.0
    for lx in (cols * 0.32, cols * 0.68):
        hu[((yy - cy) / (rows * 0.28)) ** 2 + ((xx - lx) / (cols * 0.13)) ** 2 <= 1] = -850.0
    ly, lx = LESION_CENTRE
    hu[(yy - ly) ** 2 + (xx - lx) ** 2 <= LESION_RADIUS ** 2] = -500.0
    return hu


def write_phantom(folder: Path, n: int = 8, rows: int = 64, cols: int = 64) -> Path:
    """Write ``n`` axial slices (2.5 mm apart, 3 mm pixels) as one DICOM series; returns folder."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    sl = phantom_slice(rows, cols)
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID = "Phantom^Chest", "PHANTOM-1"
        ds.StudyDescription, ds.SeriesDescription = "phantom chest", "phantom axial"
        ds.Modality = "CT"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-PIXEL_MM * cols / 2, -PIXEL_MM * rows / 2,
                                   -100.0 + SLICE_MM * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [PIXEL_MM, PIXEL_MM]
        ds.SliceThickness = SLICE_MM
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = (sl + 1024).astype(np.int16).tobytes()
        pydicom.dcmwrite(folder / f"slice{k:03d}.dcm", ds, enforce_file_format=True)
    return folder


class FakeLocalizer:
    """Stands in for ``gan.inference.Localizer``: a smooth blob on the lesion, ``delay`` s per
    slice (sleeping, like a model that releases the GIL). Counts its calls."""

    threshold = 0.5
    weights_hash = "fake0123456789abcdef"
    device = "cpu"
    model_name = "fake"

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None, gate_after: int = 0):
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()
        #: with ``gate``: every slice after the first ``gate_after`` waits until the gate is set,
        #: and ``held`` says that one is waiting (tests hold localization mid-series without
        #: relying on how fast the machine is)
        self.gate, self.gate_after = gate, gate_after
        self.held = threading.Event()

    def apply(self, sl, is_hu=True, progress=None):
        """One slice ``(y, x)`` or a stack ``(k, y, x)`` (``delay`` s per slice)."""
        sl = np.asarray(sl)
        if sl.ndim == 3:
            return np.stack([self.apply(s, is_hu) for s in sl])
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.gate is not None and n > self.gate_after:
            self.held.set()
            self.gate.wait(60)
        if self.delay:
            time.sleep(self.delay)
        rows, cols = sl.shape
        yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
        ly, lx = LESION_CENTRE
        d2 = (yy - ly) ** 2 + (xx - lx) ** 2
        return np.exp(-d2 / (2 * (LESION_RADIUS * 0.9) ** 2)).astype(np.float32)
