"""Benchmark: peak memory of `main.py localize` on a long synthetic series (default 1,000 slices).

    python bench/bench_localize_memory.py [--slices 1000] [--formats npy,nifti,seg]
                                          [--baseline-repo DIR] [--keep DIR]

The series is written to a temporary folder (never committed): the 512 x 512 int16 slices of
LIDC-IDRI-0001 (../shared/data) re-stacked in a loop, each copy with its own SOP Instance UID,
instance number and ImagePositionPatient (one new Series Instance UID, 2.5 mm apart), so it
reads as one long HU series; without the data, synthetic chest phantoms (body, two lungs, a
lesion) written with pydicom. Then ``main.py localize SERIES --lung-only --format FORMATS``
runs as a subprocess and its peak resident memory (``ru_maxrss`` from ``os.wait4``) is printed
beside the series size (slices, and the HU volume as float32 in GiB). ``--baseline-repo``: the
same command of another checkout runs too (before/after in one run). Target: <= 2.5 GiB with
all formats (npy, nifti, seg) at 1,000 slices.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LIDC = REPO.parent / "shared" / "data" / "lidc-idri-0001"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_localize import whole_process  # noqa: E402  (one subprocess + rusage helper)
SPACING_MM = 2.5


def _lidc_slices(src: Path) -> list:
    """The LIDC datasets (with pixels) in spatial order (foot to head)."""
    import pydicom

    files = sorted(src.rglob("*.dcm"))
    ds = [pydicom.dcmread(str(f)) for f in files]
    return sorted(ds, key=lambda d: float(d.ImagePositionPatient[2]))


def _phantom_slices(n: int) -> list:
    """``n`` synthetic HU slices (int16 with intercept -1024): body, two lungs, a lesion."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    yy, xx = np.mgrid[:512, :512] / 512.0
    body = ((yy - 0.5) / 0.40) ** 2 + ((xx - 0.5) / 0.46) ** 2 < 1
    hu = np.where(body, 40, -1000).astype(np.int16)
    for cx in (0.32, 0.68):
        hu[((yy - 0.5) / 0.28) ** 2 + ((xx - cx) / 0.13) ** 2 < 1] = -850
    hu[((yy - 0.45) / 0.05) ** 2 + ((xx - 0.30) / 0.04) ** 2 < 1] = -400
    out = []
    for k in range(min(n, 40)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "Phantom^Bench", "BENCH"
        ds.StudyInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid()
        ds.Rows = ds.Columns = 512
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], SPACING_MM
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        noise = np.random.default_rng(k).normal(0, 15, hu.shape).astype(np.int16)
        ds.PixelData = (hu + 1024 + noise).astype(np.int16).tobytes()
        out.append(ds)
    return out


def write_series(folder: Path, n: int, src: Path = LIDC) -> str:
    """Write an ``n``-slice HU series into ``folder``; returns what it was made from."""
    from pydicom.uid import generate_uid

    base = _lidc_slices(src) if src.exists() else _phantom_slices(n)
    series_uid = generate_uid()
    z0 = float(base[0].ImagePositionPatient[2]) if "ImagePositionPatient" in base[0] else 0.0
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        ds = base[k % len(base)]
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        x, y = ((float(v) for v in ds.ImagePositionPatient[:2]) if "ImagePositionPatient" in ds
                else (-180.0, -180.0))
        ds.ImagePositionPatient = [x, y, z0 + k * SPACING_MM]
        ds.SliceLocation = z0 + k * SPACING_MM
        ds.save_as(str(folder / f"{k:05d}.dcm"), enforce_file_format=True)
    return src.name if src.exists() else "synthetic phantoms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=1000)
    ap.add_argument("--formats", default="npy,nifti,seg")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--baseline-repo", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the series here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        series = args.keep or Path(tmp) / "series"
        if not (series / f"{args.slices - 1:05d}.dcm").exists():
            made_from = write_series(series, args.slices)
        else:
            made_from = "kept folder"
        gib = args.slices * 512 * 512 * 4 / 2 ** 30
        print(f"series: {args.slices} slices of 512 x 512 ({made_from}), HU volume float32 "
              f"{gib:.2f} GiB; formats {args.formats}, --lung-only", flush=True)
        repos = [("this checkout", REPO)]
        if args.baseline_repo is not None:
            repos.insert(0, ("baseline", args.baseline_repo))
        for label, repo in repos:
            wall, cpu, rss = whole_process(series, args.device, repo, args.formats)
            print(f"{label}: peak RSS {rss:.0f} MiB ({rss / 1024:.2f} GiB; target <= 2.5 GiB), "
                  f"wall {wall:.1f} s, CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
