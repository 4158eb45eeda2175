"""Read one DICOM file's header (no pixels) into slice candidates, or a reason to skip it.

A candidate is one placeable greyscale slice: a single-frame image or one frame of an enhanced
multi-frame image (geometry from the per-frame functional groups). Reading stops before the
pixel data; the pixel data element header is parsed by hand to find where native pixels start
(so the pixel reader can use ``numpy.fromfile``) and to detect truncated files early.
"""
from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag
from pydicom.uid import UID

from viewer.io import dicom_sanity as sanity
from viewer.io.dicom_values import (as_float, as_floats, as_int, first_bad_element, one_line,
                                    pydicom_notes)
from viewer.io.series import DecodeHint, SkippedFile

_KEYWORDS = (
    "SOPClassUID SOPInstanceUID StudyInstanceUID SeriesInstanceUID FrameOfReferenceUID "
    "PatientName PatientID StudyDescription SeriesDescription SeriesNumber Modality ImageType "
    "InstanceNumber ImagePositionPatient ImageOrientationPatient PixelSpacing SliceThickness "
    "SpacingBetweenSlices Rows Columns SamplesPerPixel PhotometricInterpretation BitsAllocated "
    "BitsStored HighBit PixelRepresentation NumberOfFrames RescaleSlope RescaleIntercept "
    "SharedFunctionalGroupsSequence PerFrameFunctionalGroupsSequence"
).split()
HEADER_TAGS = [Tag(k) for k in _KEYWORDS]

# Objects that carry pixels but are not CT slices to read.
NOT_SLICE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "segmentation",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT dose grid",
    "1.2.840.10008.5.1.4.1.1.30": "parametric map",
    "1.2.840.10008.5.1.4.1.1.104.1": "encapsulated PDF",
}
CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}
_PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
_DEFLATED = "1.2.840.10008.1.2.1.99"


@dataclass
class Candidate:
    """One slice found in a header (not yet placed in a series).

    ``position`` is ImagePositionPatient (LPS, mm) or None; ``orientation`` the 6 direction
    cosines (row then column) or None; ``pixel_spacing`` is (between rows, between columns) mm.
    """

    path: str
    frame_index: Optional[int]
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: Optional[int]
    position: Optional[tuple[float, float, float]]
    orientation: Optional[tuple[float, ...]]
    pixel_spacing: Optional[tuple[float, float]]
    slice_thickness: Optional[float]
    spacing_between_slices: Optional[float]
    rows: int
    cols: int
    is_hu: bool
    decode: DecodeHint
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    patient_name: str
    patient_id: str
    study_description: str
    series_description: str
    series_number: Optional[int]
    modality: str
    notes: tuple[str, ...] = ()  # warnings about this file (sanity rules, pydicom warnings)

    @property
    def label(self) -> str:
        """The file, plus the frame for multi-frame files (1-based, as viewers show it)."""
        return self.path if self.frame_index is None else f"{self.path} (frame {self.frame_index + 1})"


_floats, _float, _int = as_floats, as_float, as_int


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def _first_item(ds: Dataset, seq_keyword: str, sub_keyword: str) -> Optional[Dataset]:
    seq = ds.get(seq_keyword)
    if not seq:
        return None
    item = seq[0]
    sub = item.get(sub_keyword)
    return sub[0] if sub else None


def _pixel_element(fp, pos: int, file_size: int, implicit: bool, little: bool):
    """Parse the pixel data element header at ``pos``: (tag, value offset, value length) or None."""
    fp.seek(pos)
    head = fp.read(12)
    if len(head) < 8:
        return None
    end = "<" if little else ">"
    group, elem = struct.unpack(end + "HH", head[:4])
    tag = group << 16 | elem
    if tag not in _PIXEL_TAGS:
        return None
    if implicit:
        (length,) = struct.unpack(end + "I", head[4:8])
        return tag, pos + 8, length
    if len(head) < 12:
        return None
    (length,) = struct.unpack(end + "I", head[8:12])
    return tag, pos + 12, length


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A preamble-less DICOM file starts with a group 0x0002 or 0x0008 little-endian tag."""
    return len(head) >= 8 and head[1] == 0 and head[0] in (0x02, 0x08) and head[3] == 0


def _native_little_endian(ts: UID) -> bool:
    try:
        return ts.is_little_endian and not ts.is_compressed and ts != _DEFLATED
    except ValueError:  # unknown/private transfer syntax
        return False


def read_dicom_header(path: str) -> Union[list[Candidate], SkippedFile]:
    """Read the header of ``path`` (stops before pixels) -> slice candidates or a SkippedFile.

    Never raises for bad files: every problem becomes ``SkippedFile(path, reason)``.
    """
    name = os.path.basename(path)
    if name.upper() == "DICOMDIR":
        return SkippedFile(path, "DICOMDIR index file (the images it lists are scanned directly)")
    notes: list[str] = []
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            return SkippedFile(path, "not a regular file (FIFO, socket or device)")
        size = st.st_size
        if size == 0:
            return SkippedFile(path, "empty file (0 bytes)")
        with open(path, "rb") as fp, pydicom_notes(notes):  # warnings reported with the file
            head = fp.read(132)
            has_marker = len(head) == 132 and head[128:132] == b"DICM"
            if not has_marker and not _looks_like_raw_dicom(head):
                return SkippedFile(path, "not a DICOM file (no 'DICM' marker at byte 128)")
            fp.seek(0)
            ds = pydicom.dcmread(
                fp, stop_before_pixels=True, specific_tags=HEADER_TAGS, force=not has_marker
            )
            pos = fp.tell()
            meta = getattr(ds, "file_meta", None)
            ts = UID(str(meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))) if meta else UID(
                "1.2.840.10008.1.2")
            if ts == _DEFLATED:
                pixel = (0x7FE00010, None, None)  # pixels cannot be located in a deflated stream
            else:
                try:
                    implicit, little = ts.is_implicit_VR, ts.is_little_endian
                except ValueError:
                    implicit, little = False, True
                pixel = _pixel_element(fp, pos, size, implicit, little)
    except IsADirectoryError:
        return SkippedFile(path, "is a folder, not a file")
    except PermissionError:
        return SkippedFile(path, "cannot read: permission denied")
    except FileNotFoundError:
        reason = "broken symbolic link" if os.path.islink(path) else "file vanished during the scan"
        return SkippedFile(path, reason)
    except OSError as exc:
        return SkippedFile(path, f"cannot read: {exc.strerror or exc}")
    except InvalidDicomError as exc:
        return SkippedFile(path, f"not a DICOM file ({exc})")
    except Exception as exc:  # pydicom raises many types on corrupt headers
        return SkippedFile(path, f"corrupt or truncated DICOM header ({type(exc).__name__}: {exc})")
    try:
        with pydicom_notes(notes):
            bad = first_bad_element(ds)  # every value converted here, inside the guard
        if bad:
            return SkippedFile(path, f"unreadable header value ({bad})")
        return _candidates(path, ds, ts, pixel, size, notes)
    except sanity.Refused as exc:
        return SkippedFile(path, str(exc))
    except Exception as exc:  # noqa: BLE001 - never let one file stop a folder
        return SkippedFile(path, f"unusable DICOM header ({one_line(exc)})")


def _candidates(path: str, ds: Dataset, ts: UID, pixel, size: int, notes: list[str]):
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    meta = getattr(ds, "file_meta", None)
    if not sop_class and meta is not None:
        sop_class = str(meta.get("MediaStorageSOPClassUID", "")).strip()
    with pydicom_notes(notes):  # an invalid UID warns on construction
        sop_name = UID(sop_class).name if sop_class else "unknown SOP class"
    has_matrix = "Rows" in ds and "Columns" in ds
    if sop_class in NOT_SLICE_SOP_CLASSES:
        return SkippedFile(path, f"not a CT slice ({NOT_SLICE_SOP_CLASSES[sop_class]}: {sop_name})")
    if pixel is None:
        if not has_matrix and "Image" not in sop_name:
            return SkippedFile(path, f"not an image ({sop_name})")
        return SkippedFile(path, f"truncated: file ends at byte {size} before the pixel data")
    if not has_matrix:
        return SkippedFile(path, f"not an image ({sop_name}: no Rows/Columns)")
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    if "LOCALIZER" in image_type or "SCOUT" in image_type:
        kind = "/".join(image_type)
        return SkippedFile(path, f"localizer/scout image (ImageType {kind})")
    rows, cols = _int(ds.Rows) or 0, _int(ds.Columns) or 0
    if rows < 1 or cols < 1:
        return SkippedFile(path, f"image has no pixels (Rows {ds.Rows}, Columns {ds.Columns})")
    spp = _int(ds.get("SamplesPerPixel", 1)) or 1
    photometric = _text(ds, "PhotometricInterpretation").upper() or "MONOCHROME2"
    if spp != 1 or not photometric.startswith("MONOCHROME"):
        return SkippedFile(path, f"colour image ({photometric}, {spp} samples/pixel), not a "
                                 "greyscale CT slice")
    modality = _text(ds, "Modality").upper()
    is_ct = modality == "CT" or (not modality and sop_class in CT_SOP_CLASSES)
    fmt = sanity.pixel_format(ds.get("BitsAllocated"), ds.get("BitsStored"), ds.get("HighBit"),
                              ds.get("PixelRepresentation"), is_ct)
    bits_alloc, bits_stored, signed = fmt.bits_allocated, fmt.bits_stored, fmt.signed
    if not is_ct and (bits_stored > 8 or signed):
        return SkippedFile(path, f"modality {modality or '?'} with {bits_stored}-bit values: only "
                                 "CT (read as HU) and 8-bit greyscale images are read")
    raw_frames = ds.get("NumberOfFrames")
    n_frames = 1 if raw_frames is None or raw_frames == "" else _int(raw_frames)
    if n_frames is None or n_frames < 1:
        return SkippedFile(path, f"NumberOfFrames {raw_frames!s} is not a positive count")
    pixel_tag, value_offset, value_length = pixel
    frame_bytes = rows * cols * bits_alloc // 8
    native = value_length is not None and value_length != 0xFFFFFFFF
    if native:
        sanity.pixel_data_length(value_length, size - value_offset, rows, cols, n_frames,
                                 bits_alloc)
    fast = native and pixel_tag == 0x7FE00010 and _native_little_endian(ts)
    dtype = None
    if fast:
        dtype = ("<i" if signed else "<u") + str(bits_alloc // 8)
    invert_max = None
    if not is_ct and photometric == "MONOCHROME1":
        invert_max = (1 << bits_stored) - 1
    common = dict(
        path=path,
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=sop_class,
        instance_number=_int(ds.get("InstanceNumber")),
        rows=rows,
        cols=cols,
        is_hu=is_ct,
        series_uid=_text(ds, "SeriesInstanceUID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        series_number=_int(ds.get("SeriesNumber")),
        modality=modality or ("CT" if is_ct else ""),
        slice_thickness=sanity.optional_length(ds.get("SliceThickness")),
        spacing_between_slices=sanity.optional_length(ds.get("SpacingBetweenSlices")),
    )

    def hint(frame: int, slope, intercept) -> tuple[DecodeHint, bool, tuple[str, ...]]:
        """The frame's DecodeHint, whether its values are HU, and notes about it."""
        hu, problem = is_ct, None
        if is_ct:
            s, b, problem = sanity.rescale(slope, intercept)
            hu = problem is None
        else:  # 8-bit pictures keep their stored values
            s, b = 1.0, 0.0
        return DecodeHint(
            slope=s,
            intercept=b,
            offset=value_offset + frame * frame_bytes if dtype else None,
            dtype=dtype,
            invert_max=invert_max,
            bits_shift=bits_alloc - bits_stored if dtype else 0,
            bits_stored=bits_stored,
            signed=signed,
            stretch=is_ct and not hu,
        ), hu, tuple(notes) + ((problem,) if problem else ())

    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None:
        return _enhanced_frames(path, ds, per_frame, n_frames, common, hint)
    if n_frames > 1:
        return SkippedFile(path, f"multi-frame image ({n_frames} frames) without per-frame "
                                 "positions: not supported")
    decode, hu, frame_notes = hint(0, ds.get("RescaleSlope"), ds.get("RescaleIntercept"))
    return [Candidate(
        frame_index=None,
        position=sanity.position(ds.get("ImagePositionPatient")),
        orientation=sanity.orientation(ds.get("ImageOrientationPatient")),
        pixel_spacing=sanity.pixel_spacing(ds.get("PixelSpacing")),
        decode=decode,
        notes=frame_notes,
        **dict(common, is_hu=hu),
    )]


def _enhanced_frames(path, ds, per_frame, n_frames, common, hint):
    """Candidates for each frame of an enhanced multi-frame image (functional groups)."""
    if len(per_frame) != n_frames:
        return SkippedFile(path, f"enhanced image lists {len(per_frame)} per-frame groups for "
                                 f"{n_frames} frames")
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared = shared[0] if shared else Dataset()

    def group(item: Dataset, seq: str) -> Optional[Dataset]:
        sub = item.get(seq)
        if sub:
            return sub[0]
        sub = shared.get(seq)
        return sub[0] if sub else None

    out = []
    for k, item in enumerate(per_frame):
        pos = group(item, "PlanePositionSequence")
        ori = group(item, "PlaneOrientationSequence")
        meas = group(item, "PixelMeasuresSequence")
        pvt = group(item, "PixelValueTransformationSequence")
        c = dict(common)
        if meas is not None:
            c["slice_thickness"] = (sanity.optional_length(meas.get("SliceThickness"))
                                    or c["slice_thickness"])
            c["spacing_between_slices"] = (sanity.optional_length(meas.get("SpacingBetweenSlices"))
                                           or c["spacing_between_slices"])
        decode, c["is_hu"], frame_notes = hint(
            k, pvt.get("RescaleSlope") if pvt is not None else None,
            pvt.get("RescaleIntercept") if pvt is not None else None)
        out.append(Candidate(
            frame_index=k,
            position=sanity.position(pos.get("ImagePositionPatient")) if pos is not None else None,
            orientation=(sanity.orientation(ori.get("ImageOrientationPatient"))
                         if ori is not None else None),
            pixel_spacing=sanity.pixel_spacing(meas.get("PixelSpacing")) if meas is not None else None,
            decode=decode,
            notes=frame_notes,
            **c,
        ))
    return out
