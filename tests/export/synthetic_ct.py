"""Synthetic CT series written with pydicom for export and CLI tests (no ../shared needed).

`write_ct_series` writes one single-frame CT Image Storage file per slice, with HU stored as
int16 plus RescaleIntercept −1024, file names shuffled (not in spatial order, like LIDC), and a
chosen geometry (spacing, origin, possibly oblique orientation). It returns a `SyntheticSeries`
with everything a test needs to check geometry independently of viewer.io.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


@dataclass
class SliceRefLike:
    """Same fields as viewer.io's SliceRef (ARCHITECTURE.md)."""

    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    frame_index: int | None
    position: tuple[float, float, float]
    instance_number: int


@dataclass
class SyntheticSeries:
    """A written series. Arrays are (z, y, x), sorted along the slice normal.

    spacing (z, y, x) mm; origin LPS (x, y, z) mm of voxel (0, 0, 0); direction 3×3 with
    columns = x, y, z index axes in LPS (SimpleITK convention).
    """

    folder: Path
    hu: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    refs: list[SliceRefLike]
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    is_hu: bool = True
    source_kind: str = "dicom"
    info: object = None
    extra: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)

    @property
    def n_slices(self) -> int:
        return self.hu.shape[0]

    @property
    def rows(self) -> int:
        return self.hu.shape[1]

    @property
    def cols(self) -> int:
        return self.hu.shape[2]

    @property
    def key(self) -> str:
        return self.series_uid


def _rotation(tilt_deg: float) -> np.ndarray:
    """Columns: row direction (x axis), column direction (y axis), normal (z axis)."""
    t = np.deg2rad(tilt_deg)
    rx = np.array([1.0, 0.0, 0.0])
    cy = np.array([0.0, np.cos(t), -np.sin(t)])
    nz = np.cross(rx, cy)
    return np.stack([rx, cy, nz], axis=1)


def synthetic_hu(n: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A body ellipse (0 HU) with two lungs (−850 HU) and a few lesion blobs (−500, −100 HU)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows / 2, cols / 2
    body = ((yy - cy) / (0.42 * rows)) ** 2 + ((xx - cx) / (0.46 * cols)) ** 2 <= 1
    lung_l = ((yy - cy) / (0.3 * rows)) ** 2 + ((xx - 0.32 * cols) / (0.13 * cols)) ** 2 <= 1
    lung_r = ((yy - cy) / (0.3 * rows)) ** 2 + ((xx - 0.68 * cols) / (0.13 * cols)) ** 2 <= 1
    out = np.full((n, rows, cols), -1000.0, np.float32)
    for z in range(n):
        sl = out[z]
        sl[body] = 20.0
        sl[lung_l | lung_r] = -850.0
        r = max(2, rows // 20)
        for k, hu in enumerate((-500.0, -100.0)):
            by = cy + (k - 0.5) * 0.2 * rows
            bx = 0.32 * cols + (z % 3) * 2
            blob = (yy - by) ** 2 + (xx - bx) ** 2 <= r * r
            sl[blob] = hu
        sl += rng.integers(-5, 6, size=sl.shape).astype(np.float32)
    return np.round(out).astype(np.float32)


def write_ct_series(
    folder: Path,
    n: int = 5,
    rows: int = 32,
    cols: int = 40,
    spacing: tuple[float, float, float] = (2.5, 0.7, 0.8),
    origin: tuple[float, float, float] = (-150.0, -170.0, -300.0),
    tilt_deg: float = 0.0,
    hu: np.ndarray | None = None,
    seed: int = 0,
    descending_files: bool = False,
) -> SyntheticSeries:
    """Write an n-slice CT series into `folder` (created). Returns its SyntheticSeries.

    spacing is (z, y, x) mm; origin is the LPS position (x, y, z) mm of the first slice's first
    pixel; tilt_deg tilts the slice plane about the LPS x axis (an oblique gantry).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if hu is None:
        hu = synthetic_hu(n, rows, cols, seed)
    n, rows, cols = hu.shape
    direction = _rotation(tilt_deg)
    study_uid, series_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    order = list(range(n))
    random.Random(seed).shuffle(order)
    refs: list[SliceRefLike | None] = [None] * n
    for file_no, z in enumerate(order):
        pos = np.asarray(origin) + direction[:, 2] * spacing[0] * z
        sop_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.PatientName = "Synthetic^Phantom"
        ds.PatientID = "SYN001"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyInstanceUID = study_uid
        ds.StudyDate = "20200401"
        ds.StudyTime = "120000"
        ds.StudyID = "1"
        ds.AccessionNumber = "A1"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "Synthetic chest"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = 3
        ds.SeriesDescription = "Synthetic axial"
        ds.Modality = "CT"
        ds.Manufacturer = "Synthetic"
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.InstanceNumber = z + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in
                                      (*direction[:, 0], *direction[:, 1])]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = spacing[0]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.KVP = 120
        ds.PixelData = (hu[z] + 1024).astype(np.int16).tobytes()
        path = folder / f"IM{(n - file_no if descending_files else file_no):05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        # read positions back from the file as written (DS strings), as viewer.io would
        back = pydicom.dcmread(path, stop_before_pixels=True)
        refs[z] = SliceRefLike(path, sop_uid, CTImageStorage, None,
                               tuple(float(v) for v in back.ImagePositionPatient), z + 1)
    first = refs[0].position
    return SyntheticSeries(folder, hu, tuple(float(s) for s in spacing),
                           tuple(float(v) for v in first), direction, refs,
                           series_uid, study_uid, for_uid)
