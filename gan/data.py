"""Training and validation data: a class-folder set (COVID/, non-COVID/) and image + mask folders.

Images are loaded once as greyscale uint8 arrays (y, x) and kept in memory (the Soares set is
about 190 MB); batches are built with random resized crops and flips on the fly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as Fnn
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
COVID_DIR_NAMES = ("COVID",)
NORMAL_DIR_NAMES = ("non-COVID", "NonCOVID", "non-covid", "normal")


def natural_key(name: str) -> list:
    """Sort key putting 'img2' before 'img10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: Path) -> list[Path]:
    return sorted((p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                  key=lambda p: natural_key(p.name))


def load_grey(path: Path) -> np.ndarray:
    """uint8 (y, x) greyscale; RGB/RGBA converted with PIL's 'L'. Raises ValueError on bad files."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from exc


@dataclass
class ClassFolderSet:
    """Images (uint8 (y, x) each) with labels 1 = COVID, 0 = non-COVID."""

    images: list[np.ndarray]
    labels: np.ndarray
    paths: list[Path]
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: np.ndarray) -> "ClassFolderSet":
        return ClassFolderSet([self.images[i] for i in idx], self.labels[idx], [self.paths[i] for i in idx])


def _find_class_dir(root: Path, names: tuple[str, ...]) -> Path:
    for n in names:
        if (root / n).is_dir():
            return root / n
    raise ValueError(f"{root}: no class folder named {' or '.join(names)}")


def load_class_folders(root: str | Path, limit: int | None = None,
                       progress: Callable[[int, int], object] | None = None) -> ClassFolderSet:
    """Reads ``root/COVID`` and ``root/non-COVID``. Unreadable files are skipped with a reason."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: training folder does not exist")
    files: list[tuple[Path, int]] = []
    for label, names in ((1, COVID_DIR_NAMES), (0, NORMAL_DIR_NAMES)):
        imgs = list_images(_find_class_dir(root, names))
        if limit:
            imgs = imgs[:limit]
        files += [(p, label) for p in imgs]
    images, labels, paths, skipped = [], [], [], []
    for i, (p, lab) in enumerate(files):
        try:
            images.append(load_grey(p))
            labels.append(lab)
            paths.append(p)
        except ValueError as exc:
            skipped.append(str(exc))
        if progress:
            progress(i + 1, len(files))
    if not images or len(set(labels)) < 2:
        raise ValueError(f"{root}: need readable images in both COVID and non-COVID folders")
    return ClassFolderSet(images, np.asarray(labels, dtype=np.int64), paths, skipped)


@dataclass
class MaskSet:
    """Validation/test pairs: uint8 image (y, x) and bool lesion mask (y, x) of the same size."""

    images: list[np.ndarray]
    masks: list[np.ndarray]
    names: list[str]
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def load_mask_folders(images_dir: str | Path, masks_dir: str | Path) -> MaskSet:
    """Pairs ``images_dir/N.*`` with ``masks_dir/N.*`` by stem; mask > 0 is lesion."""
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise ValueError(f"{d}: folder does not exist")
    masks = {p.stem: p for p in list_images(masks_dir)}
    imgs, msks, names, skipped = [], [], [], []
    for p in list_images(images_dir):
        if p.stem not in masks:
            continue
        try:
            im = load_grey(p)
            m = load_grey(masks[p.stem]) > 0
        except ValueError as exc:  # keep going with the valid pairs
            skipped.append(str(exc))
            continue
        if m.shape != im.shape:
            skipped.append(f"{masks[p.stem]}: mask size {m.shape[::-1]} differs from image {im.shape[::-1]}")
            continue
        imgs.append(im)
        msks.append(m)
        names.append(p.stem)
    if not imgs:
        detail = f" ({len(skipped)} skipped; first: {skipped[0]})" if skipped else ""
        raise ValueError(f"{images_dir}: no usable image has a mask with the same name in {masks_dir}{detail}")
    return MaskSet(imgs, msks, names, skipped)


def resize_unit(img: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (y, x) -> float tensor (1, size, size) in [0, 1] (bilinear, antialiased)."""
    t = torch.from_numpy(img).float().div_(255.0)[None, None]
    return Fnn.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]


def resize_mask(mask: np.ndarray, size: int) -> torch.Tensor:
    """bool (y, x) -> float tensor (1, size, size) in [0, 1] (area-weighted, as ``resize_unit``)."""
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    return Fnn.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0].clamp_(0, 1)


def jitter_intensity(t: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random display-window change of a [0, 1] picture: gamma in [0.7, 1.4], then a linear
    contrast of 0.85-1.2 about mid-grey with a shift of +-0.06, clipped to [0, 1]. Not in the
    paper: the training pictures (Soares) and the MedSeg slices were windowed differently, and
    this keeps G and D from keying on the window."""
    gamma = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    contrast = float(rng.uniform(0.85, 1.2))
    shift = float(rng.uniform(-0.06, 0.06))
    t = t.clamp(0.0, 1.0).pow(gamma)
    return ((t - 0.5) * contrast + 0.5 + shift).clamp_(0.0, 1.0)


class AugmentedBatcher:
    """Random resized crop (area scale 0.9-1.0), flips, optional 90-degree rotations and optional
    intensity (window) jitter.

    ``rot90`` is not in the paper: MedSeg slices are stored transposed with respect to the Soares
    set, and random 90-degree turns make G indifferent to that.
    """

    def __init__(self, size: int, scale: tuple[float, float] = (0.9, 1.0), hflip: bool = True,
                 vflip: bool = True, rot90: bool = False, intensity: bool = False):
        self.size, self.scale, self.hflip, self.vflip, self.rot90 = size, scale, hflip, vflip, rot90
        self.intensity = intensity

    def one(self, img: np.ndarray, rng: np.random.Generator, mask: np.ndarray | None = None):
        """One augmented picture, (1, size, size) float32 in [0, 1]. With ``mask`` (bool (y, x),
        the picture's shape), ``(picture, mask)``: the mask gets the same crop, resize, flips and
        turn (as a 0-1 float, soft at its edges), no window jitter, and no extra random draws, so
        the pictures are those of a run without masks."""
        h, w = img.shape
        area = rng.uniform(*self.scale)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch = int(round(min(h, np.sqrt(area * h * w / ratio))))
        cw = int(round(min(w, np.sqrt(area * h * w * ratio))))
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        t = resize_unit(img[y0:y0 + ch, x0:x0 + cw], self.size)
        m = None
        if mask is not None:
            if mask.shape != img.shape:
                raise ValueError(f"mask {mask.shape} does not match its picture {img.shape}")
            m = resize_mask(mask[y0:y0 + ch, x0:x0 + cw], self.size)
        ops = []
        if self.hflip and rng.random() < 0.5:
            ops.append(lambda a: a.flip(-1))
        if self.vflip and rng.random() < 0.5:
            ops.append(lambda a: a.flip(-2))
        if self.rot90 and rng.random() < 0.5:
            ops.append(lambda a: a.transpose(-1, -2))
        for op in ops:
            t = op(t)
            m = op(m) if m is not None else None
        if self.intensity:
            t = jitter_intensity(t, rng)
        return t if mask is None else (t, m)

    def batch(self, images: list[np.ndarray], idx: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """(N, 1, size, size) float32 in [0, 1]."""
        return torch.stack([self.one(images[i], rng) for i in idx])

    def batch_with_masks(self, images: list[np.ndarray], masks: list[np.ndarray], idx: np.ndarray,
                         rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pictures, masks)``, (N, 1, size, size) float32 each, in [0, 1]; the pictures are
        those :meth:`batch` gives for the same ``rng`` state."""
        pairs = [self.one(images[i], rng, masks[i]) for i in idx]
        return torch.stack([p for p, _ in pairs]), torch.stack([m for _, m in pairs])


def seeded_split(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of range(n): (train indices, test indices)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train fraction must be in (0, 1), got {train_fraction}")
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * train_fraction))
    return np.sort(perm[:k]), np.sort(perm[k:])
