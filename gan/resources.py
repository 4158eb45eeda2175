"""Where the shipped resources live: one definition of every path under ``resources/``.

Plain ``pathlib.Path`` constants, no I/O at import. ``gan`` and ``viewer`` (CLI, UI) read them
from here instead of building ``resources/...`` paths themselves.
"""
from __future__ import annotations

from pathlib import Path

#: the repository's ``resources/`` folder (weights, samples)
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
#: the bundled sample series that ``main.py view`` opens without a path
SAMPLES = RESOURCES / "samples"
WEIGHTS_DIR = RESOURCES / "weights"
#: the product's lesion-map model (``gan.inference.Localizer``'s default): the label-free
#: student segmenter distilled from the GAN generator's maps (resources/weights/MODEL_CARD.md)
LOCALIZER_WEIGHTS = WEIGHTS_DIR / "localizer.safetensors"
#: the GAN generator itself (the paper's method; the student's teacher): ``--weights`` it to
#: see the paper's ReLU(x - G(x)) maps
GENERATOR_WEIGHTS = WEIGHTS_DIR / "generator.safetensors"
#: the stage-1 classifier that the Grad-CAM / SmoothGrad maps explain (``gan.cams``)
CLASSIFIER_WEIGHTS = WEIGHTS_DIR / "classifier.safetensors"


def relative(path: Path) -> str:
    """``path`` relative to the repository (``resources/weights/...``) for help texts."""
    return str(path.relative_to(RESOURCES.parent))

#: the lung-field network (``gan.lung_net``) that keeps dense lung inside the lung mask
#: (``viewer.core.lung_mask.segment_lungs``); trained by ``main.py lungs train``
LUNG_FIELD_WEIGHTS = WEIGHTS_DIR / "lung_field.safetensors"
