"""Write small synthetic CT series with pydicom for the viewer.io tests.

HU values are known in advance (``expected_hu``), stored as int16 with a rescale, so a test
can check ordering, scaling and geometry independently of the reader.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def expected_hu(n: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """(n, rows, cols) float32 HU: each slice differs (slice k has mean near -900 + 50 k)."""
    rng = np.random.default_rng(seed)
    base = -900.0 + 50.0 * np.arange(n, dtype=np.float32)[:, None, None]
    return (base + rng.integers(-100, 100, size=(n, rows, cols))).astype(np.float32)


def _base_dataset(sop_class: str, study_uid: str, series_uid: str, rows: int, cols: int,
                  ts: str = ExplicitVRLittleEndian) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.PatientName = "Test^Patient"
    ds.PatientID = "SYN-001"
    ds.StudyDescription = "synthetic chest"
    ds.SeriesDescription = "synthetic axial"
    ds.SeriesNumber = 3
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    return ds


def write_series(folder: Path, n: int = 6, rows: int = 12, cols: int = 10,
                 spacing: tuple[float, float, float] = (2.5, 0.7, 0.8),
                 origin: tuple[float, float, float] = (-50.0, -60.0, -100.0),
                 orientation: Sequence[float] = AXIAL, skip: Sequence[int] = (),
                 z_steps: Optional[Sequence[float]] = None, series_uid: Optional[str] = None,
                 study_uid: Optional[str] = None, prefix: str = "img", seed: int = 0,
                 transfer_syntax: Optional[str] = None, slope: float = 1.0,
                 intercept: float = -1024.0, shuffle: bool = True,
                 extra: Optional[dict] = None) -> tuple[list[Path], np.ndarray]:
    """Write ``n`` slices (minus ``skip`` indices) with shuffled file names and instance numbers.

    Slice k sits at ``origin + normal * z_k`` with ``z_k = k * spacing[0]`` (or the cumulative
    ``z_steps``). Returns (paths in spatial order, expected HU volume of the written slices).
    """
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    row = np.array(orientation[:3], float)
    col = np.array(orientation[3:], float)
    normal = np.cross(row, col)
    z = np.concatenate([[0.0], np.cumsum(z_steps)]) if z_steps is not None \
        else np.arange(n) * spacing[0]
    hu = expected_hu(n, rows, cols, seed)
    keep = [k for k in range(n) if k not in set(skip)]
    labels = list(range(len(keep)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(labels)
    paths = []
    for j, k in enumerate(keep):
        ds = _base_dataset(CTImageStorage, study_uid, series_uid, rows, cols)
        ds.InstanceNumber = labels[j] + 1  # deliberately not spatial order
        ds.ImagePositionPatient = [float(v) for v in np.array(origin) + normal * z[k]]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        stored = np.rint((hu[k] - intercept) / slope).astype(np.int16)
        ds.PixelData = stored.tobytes()
        for key, value in (extra or {}).items():
            setattr(ds, key, value)
        if transfer_syntax is not None:
            ds.compress(transfer_syntax)
        path = folder / f"{prefix}{labels[j]:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    expected = ((np.rint((hu[keep] - intercept) / slope)) * slope + intercept).astype(np.float32)
    return paths, expected


def write_enhanced_ct(path: Path, n: int = 5, rows: int = 8, cols: int = 9,
                      spacing: tuple[float, float, float] = (1.5, 0.6, 0.6),
                      origin: tuple[float, float, float] = (10.0, 20.0, -30.0),
                      seed: int = 1) -> np.ndarray:
    """One Enhanced CT multi-frame file whose frames are stored in shuffled z order.

    Returns the expected HU volume in spatial (ascending z) order.
    """
    hu = expected_hu(n, rows, cols, seed)
    order = list(range(n))
    random.Random(seed).shuffle(order)  # frame f holds slice order[f]
    ds = _base_dataset(EnhancedCTImageStorage, generate_uid(), generate_uid(), rows, cols)
    del ds.ImageType
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.NumberOfFrames = n
    shared = Dataset()
    meas = Dataset()
    meas.PixelSpacing = [spacing[1], spacing[2]]
    meas.SliceThickness = spacing[0]
    ori = Dataset()
    ori.ImageOrientationPatient = list(AXIAL)
    pvt = Dataset()
    pvt.RescaleSlope = 1
    pvt.RescaleIntercept = -1024
    pvt.RescaleType = "HU"
    shared.PixelMeasuresSequence = DicomSequence([meas])
    shared.PlaneOrientationSequence = DicomSequence([ori])
    shared.PixelValueTransformationSequence = DicomSequence([pvt])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for k in order:
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[0]]
        item.PlanePositionSequence = DicomSequence([pos])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    stored = (hu[order] + 1024).astype(np.int16)
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return hu


def write_secondary_capture_8bit(path: Path, pixels: np.ndarray, modality: str = "OT") -> None:
    """An 8-bit greyscale non-CT image (like a screenshot exported to DICOM)."""
    from pydicom.uid import SecondaryCaptureImageStorage

    ds = _base_dataset(SecondaryCaptureImageStorage, generate_uid(), generate_uid(),
                       pixels.shape[0], pixels.shape[1])
    ds.Modality = modality
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def read_back(path: Path) -> Dataset:
    return pydicom.dcmread(path)
