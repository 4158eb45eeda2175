"""The map methods: one registry of their names and labels.

Read by ``gan.cams`` (the CAM methods it computes), ``gan.evaluate`` (``--methods``),
``viewer.core.cam_maps``, the reading lists and the reader-study statistics
(``viewer.study``). Pure Python: importing it loads no torch.

* ``gan``: the GAN localizer (Yang et al., IEEE JBHI 2021), the product's map;
* ``gradcam``, ``msgradcam``, ``smoothgrad``: explanations of the stage-1 classifier
  (``gan.cams``), float32 (y, x) maps in [0, 1] like the GAN's;
* ``import:<name>``: maps imported from files in a reading list (``viewer.study.reading_list``).
"""
from __future__ import annotations

GAN = "gan"
#: classifier-explanation maps, in their canonical order
CAM_METHODS = ("gradcam", "msgradcam", "smoothgrad")
#: every built-in method, in the order tables and plots list them
METHODS = (GAN, *CAM_METHODS)
#: human-readable names for tables, plots and the viewer's overlay note
LABELS = {
    "gan": "GAN",
    "gradcam": "Grad-CAM",
    "msgradcam": "multi-scale Grad-CAM",
    "smoothgrad": "SmoothGrad",
}
#: prefix of the methods of imported maps (``import:<name>``)
IMPORT_PREFIX = "import:"
#: the ``--methods`` default of ``evaluate`` and ``scores make-list``
ALL_METHODS_TEXT = ",".join(METHODS)
