"""NIfTI volumes (.nii, .nii.gz) through SimpleITK, with geometry in LPS.

SimpleITK converts the NIfTI (RAS) header to LPS origin/direction and applies scl_slope/inter.
Arrays come out ``(z, y, x)``. Float and signed-integer volumes are read as HU ``float32``;
``uint8`` volumes as display-windowed pictures (``is_hu=False``).
"""
from __future__ import annotations

import os
from typing import Iterator, Union

import numpy as np

from viewer.io.series import SeriesInfo, SkippedFile, SliceRef

NIFTI_SUFFIXES = (".nii", ".nii.gz")


def is_nifti_path(path: str) -> bool:
    return path.lower().endswith(NIFTI_SUFFIXES)


def scan_nifti(path: str) -> Union[SeriesInfo, SkippedFile]:
    """Header of one NIfTI file -> SeriesInfo (no pixels read), or SkippedFile with the reason."""
    import SimpleITK as sitk  # imported on first use: keeps `import viewer.io` fast

    try:
        if os.path.getsize(path) == 0:
            return SkippedFile(path, "empty file (0 bytes)")
        reader = sitk.ImageFileReader()
        reader.SetFileName(path)
        reader.SetImageIO("NiftiImageIO")
        reader.ReadImageInformation()
    except OSError as exc:
        return SkippedFile(path, f"cannot read: {exc.strerror or exc}")
    except RuntimeError as exc:
        last = [ln for ln in str(exc).splitlines() if ln.strip()]
        return SkippedFile(path, f"not a readable NIfTI file ({last[-1].strip() if last else exc})")
    size = reader.GetSize()
    dim = reader.GetDimension()
    if reader.GetNumberOfComponents() != 1:
        return SkippedFile(path, f"vector/colour NIfTI ({reader.GetNumberOfComponents()} "
                                 "components per voxel) is not a CT volume")
    if dim == 4 and size[3] == 1:
        dim = 3
    if dim not in (2, 3):
        return SkippedFile(path, f"{dim}-D image (size {size}): only 2-D and 3-D volumes are read")
    spacing = list(reader.GetSpacing())[:3]
    origin = list(reader.GetOrigin())[:3]
    direction = np.array(reader.GetDirection(), dtype=float)
    side = int(round(np.sqrt(direction.size)))
    direction = direction.reshape(side, side)
    if dim == 2:
        size = (size[0], size[1], 1)
        spacing = spacing[:2] + [1.0]
        origin = origin[:2] + [0.0]
        full = np.eye(3)
        full[:2, :2] = direction[:2, :2]
        direction = full
    else:
        direction = direction[:3, :3]
    warnings = []
    if min(spacing) <= 0 or not np.all(np.isfinite(spacing)):
        warnings.append(f"invalid voxel spacing {tuple(spacing)} in the header: 1 mm assumed")
        spacing = [v if np.isfinite(v) and v > 0 else 1.0 for v in spacing]
    pixel_id = reader.GetPixelID()
    is_hu = pixel_id != sitk.sitkUInt8
    if pixel_id in (sitk.sitkUInt16, sitk.sitkUInt32, sitk.sitkUInt64):
        warnings.append(f"{reader.GetPixelIDTypeAsString()} voxels: values taken as HU (check "
                        "that the volume is not offset by +1024)")
    refs = [SliceRef(path=path, frame_index=k,
                     position=tuple(float(v) for v in
                                    np.array(origin) + direction[:, 2] * spacing[2] * k))
            for k in range(size[2])]
    name = os.path.basename(path)
    return SeriesInfo(
        key=f"nifti:{os.path.abspath(path)}", source_kind="nifti", n_slices=size[2],
        rows=size[1], cols=size[0], spacing=(float(spacing[2]), float(spacing[1]),
                                             float(spacing[0])),
        origin=tuple(float(v) for v in origin),
        direction=tuple(float(v) for v in direction.reshape(-1)), is_hu=is_hu, refs=refs,
        series_description=name, modality="CT" if is_hu else "", warnings=warnings,
    )


def read_nifti_voxels(info: SeriesInfo) -> np.ndarray:
    """The whole volume ``(z, y, x)``: HU float32 or uint8 (``info.is_hu``)."""
    import SimpleITK as sitk

    image = sitk.ReadImage(info.refs[0].path, imageIO="NiftiImageIO")
    arr = sitk.GetArrayFromImage(image)
    if arr.ndim == 4:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.shape != info.shape:
        raise ValueError(f"{info.refs[0].path}: volume is {arr.shape}, header said {info.shape}")
    return arr.astype(info.dtype, copy=False)


def iter_nifti_slices(info: SeriesInfo) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(z, slice)``; the file is read once (NIfTI cannot be decoded slice by slice)."""
    vol = read_nifti_voxels(info)
    for k in range(vol.shape[0]):
        yield k, vol[k]
