"""DICOM Segmentation export through highdicom.

- a mask (bool (z, y, x)) becomes a BINARY SEG;
- a map (float (z, y, x) in [0, 1]) becomes a FRACTIONAL SEG of type PROBABILITY, stored 0..255
  (highdicom rounds value × 255).

Each exported slice is one frame that references its source SOP Instance (Derivation/Source
Image Sequence, Referenced Series Sequence) and carries that slice's ImagePositionPatient; pixel
measures, orientation, Frame of Reference and patient/study come from the source headers, so the
SEG overlays the series in any DICOM viewer. The single segment is an AUTOMATIC
"Morphologically abnormal structure / Lesion" whose Algorithm Identification names the model and
the weights' sha256 hash. Every frame is kept (empty ones too), one per source slice.

Source headers are read from the SliceRef paths without pixel data. Sources that are not DICOM
(8-bit pictures, NIfTI) have no SOP Instances to reference: a ValueError says so.
"""
from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom

from viewer.io.atomic import atomic_path
from viewer.export.chunks import fractional_frames, is_chunked
from viewer.export.source import (
    ExportSource,
    Progress,
    check_indices,
    check_map,
    check_mask,
    ensure_dir,
    report,
)

MANUFACTURER = "COVID-19 CT reading room"
#: Pixel data encodings: uncompressed (read everywhere, the default), RLE Lossless (read by
#: DCMTK-based tools such as dcmqi in 3D Slicer), JPEG 2000 Lossless (smallest).
COMPRESSIONS = {
    "none": "1.2.840.10008.1.2.1",      # Explicit VR Little Endian
    "rle": "1.2.840.10008.1.2.5",       # RLE Lossless
    "jpeg2000": "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
}
SOFTWARE_VERSION = "0.1.0"


def require_dicom_source(src: ExportSource) -> None:
    """ValueError unless every slice of `src` is a DICOM SOP Instance with a file path."""
    if src.has_dicom_instances:
        return
    if src.source_kind == "pictures":
        what = "8-bit picture input"
    elif src.source_kind == "nifti":
        what = "a NIfTI file"
    else:
        what = "a series without SOP Instance UIDs"
    raise ValueError(
        f"DICOM SEG for {src.key}: the source is {what}, not a DICOM series, so there are no "
        "SOP Instances to reference; export png, npy, nifti or medseg instead")


def _read_source_headers(src: ExportSource, zs: list[int], progress: Progress):
    """(source datasets, frame order) for highdicom.

    Single-frame series: one dataset per exported slice, frames in the order of `zs`.
    One multi-frame file: that dataset once; the frames are then put in its own frame order.
    """
    refs = [src.refs[z] for z in zs]
    paths = {str(r.path) for r in refs}
    multi = len(paths) == 1 and all(r.frame_index is not None for r in refs) and len(refs) > 1
    if multi:
        if len(zs) != src.shape[0]:
            raise ValueError(f"DICOM SEG for {src.key}: a multi-frame source must be exported "
                             "whole, not a subset of its slices")
        ds = _read_header(refs[0].path)
        return [ds], [r.frame_index for r in refs]
    datasets = []
    for done, r in enumerate(refs, 1):
        datasets.append(_read_header(r.path))
        if str(datasets[-1].SOPInstanceUID) != str(r.sop_instance_uid):
            raise ValueError(f"DICOM SEG: {r.path}: SOP Instance UID differs from the loaded "
                             "series (file changed since it was loaded?)")
        report(progress, done, len(refs) + 1)
    return datasets, None


def _single_frame(src: ExportSource) -> bool:
    """True when every slice of ``src`` is its own single-frame file."""
    return all(getattr(r, "frame_index", None) is None for r in src.refs)


def _frame_slices(seg, src: ExportSource, zs: list[int]) -> list[int]:
    """The source slice of each SEG frame, in frame order (highdicom sorts the frames along
    the slice normal): from each frame's Source Image Sequence."""
    z_of = {str(src.refs[z].sop_instance_uid): z for z in zs}
    try:
        order = [z_of[str(group.DerivationImageSequence[0].SourceImageSequence[0]
                          .ReferencedSOPInstanceUID)]
                 for group in seg.PerFrameFunctionalGroupsSequence]
    except (AttributeError, IndexError, KeyError) as exc:
        raise ValueError(f"DICOM SEG: a frame's source slice is not known ({exc})") from exc
    if sorted(order) != sorted(zs):
        raise ValueError("DICOM SEG: frames do not map one to one onto the source slices")
    return order


#: Type 2 patient/study attributes (present, may be empty) that highdicom copies from the
#: source; anonymised files often drop them, so missing ones are added empty to the in-memory
#: header (the source files are not touched).
TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName")


def _read_header(path) -> pydicom.Dataset:
    try:
        ds = pydicom.dcmread(str(path), stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise ValueError(f"DICOM SEG: source file {path}: cannot read ({exc})") from exc
    for keyword in TYPE2_COPIED:
        if keyword not in ds:
            setattr(ds, keyword, "")
    return ds


def export_dicom_seg(
    path: str | Path,
    source: ExportSource | object,
    array: np.ndarray,
    model_name: str,
    weights_hash: str,
    indices: Sequence[int] | None = None,
    threshold: float | None = None,
    segment_label: str = "COVID-19 lesion",
    series_number: int = 900,
    compression: str = "none",
    progress: Progress = None,
) -> Path:
    """Write a BINARY (bool `array`) or FRACTIONAL (float `array` in [0, 1]) DICOM SEG.

    array: (z, y, x), the source's shape; `indices` chooses slices (all when None).
    model_name / weights_hash go into the Algorithm Identification (name / version);
    threshold (for a mask) is recorded as an algorithm parameter.
    compression: "none" (default), "rle" or "jpeg2000" (lossless; see COMPRESSIONS), for the
    FRACTIONAL map; a BINARY mask is always stored bit-packed (1 bit per pixel) uncompressed.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    src = ExportSource.of(source)
    require_dicom_source(src)
    if compression not in COMPRESSIONS:
        raise ValueError(f"DICOM SEG compression {compression!r}: use one of "
                         f"{', '.join(COMPRESSIONS)}")
    if not model_name or not weights_hash:
        raise ValueError("DICOM SEG: model name and weights hash are required")
    zs = check_indices(indices, src.shape[0])
    whole = zs == list(range(src.shape[0]))
    # a FRACTIONAL map of a whole single-frame series, uncompressed: its frames are streamed
    # from a temporary file into the SEG (below), never held as one more full-size array
    streamed = (not (isinstance(array, np.ndarray) and array.dtype == np.bool_)
                and compression == "none" and whole and _single_frame(src))
    arr = array if streamed and is_chunked(array) else np.asarray(array)
    if streamed:
        if tuple(arr.shape) != tuple(src.shape):
            raise ValueError(f"map: shape {tuple(arr.shape)} differs from the source "
                             f"{tuple(src.shape)}")
        if not is_chunked(arr):
            check_map(arr, src.shape)
        seg_type = hd.seg.SegmentationTypeValues.FRACTIONAL
    elif arr.dtype == np.bool_:
        check_mask(arr, src.shape)
        seg_type = hd.seg.SegmentationTypeValues.BINARY
    else:
        check_map(arr, src.shape)
        seg_type = hd.seg.SegmentationTypeValues.FRACTIONAL
        if arr.dtype != np.float32:
            arr = arr.astype(np.float32)
    datasets, frame_order = _read_source_headers(src, zs, progress)
    if streamed:
        # highdicom lays out the SEG (headers, per-frame groups) on all-zero frames, given as
        # bool zeros (lazily allocated); the real frames replace its pixel data when written
        pixels = np.zeros(src.shape, dtype=np.bool_)
    elif frame_order is not None:  # multi-frame source: frame k of the SEG = source frame k
        pixels = np.empty_like(arr)
        pixels[frame_order] = arr
    else:
        pixels = arr if zs == list(range(src.shape[0])) else arr[zs]

    parameters = {"weights_sha256": str(weights_hash)}
    if threshold is not None and seg_type == hd.seg.SegmentationTypeValues.BINARY:
        parameters["threshold"] = f"{float(threshold):.6g}"
    algorithm = hd.AlgorithmIdentificationSequence(
        name=str(model_name)[:64],
        family=codes.cid7162.ArtificialIntelligence,
        version=str(weights_hash)[:64],
        source=MANUFACTURER,
        parameters=parameters,
    )
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=segment_label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
        anatomic_regions=[codes.SCT.Lung],
    )
    fractional = seg_type == hd.seg.SegmentationTypeValues.FRACTIONAL
    kind = "probability map" if fractional else "mask"
    try:
        with warnings.catch_warnings():
            # highdicom warns about single-component PatientName values it copies from the source;
            # the source's name is kept as it is
            warnings.filterwarnings("ignore", message=".*intended person name", category=UserWarning)
            seg = hd.seg.Segmentation(
                source_images=datasets,
                pixel_array=pixels,
                segmentation_type=seg_type,
                segment_descriptions=[segment],
                series_instance_uid=hd.UID(),
                series_number=int(series_number),
                sop_instance_uid=hd.UID(),
                instance_number=1,
                manufacturer=MANUFACTURER,
                manufacturer_model_name=str(model_name)[:64],
                software_versions=SOFTWARE_VERSION,
                device_serial_number=str(weights_hash)[:16],
                fractional_type=hd.seg.SegmentationFractionalTypeValues.PROBABILITY,
                content_description=f"GAN lesion {kind}"[:64],
                content_label="LESION",
                omit_empty_frames=False,
                transfer_syntax_uid=COMPRESSIONS[compression if fractional else "none"],
                series_description=f"Lesion {kind} ({model_name})"[:64],
            )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"DICOM SEG for {src.key}: the source headers do not allow a "
                         f"segmentation ({exc})") from exc
    path = Path(path)
    ensure_dir(path.parent)
    del pixels
    with atomic_path(path) as tmp:
        if streamed:
            with tempfile.TemporaryFile(dir=path.parent) as frames:
                size = fractional_frames(frames, arr, _frame_slices(seg, src, zs),
                                         int(seg.MaximumFractionalValue))
                if size % 2:  # highdicom's padding of odd-length pixel data
                    frames.write(b"0")
                frames.seek(0)
                seg.PixelData = frames
                seg.save_as(str(tmp))
        else:
            seg.save_as(str(tmp))
    report(progress, len(zs) + 1, len(zs) + 1)
    return path
