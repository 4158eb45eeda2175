"""summary.csv and summary.json: lesion burden per slice and per series of a batch run.

Per slice (z in the volume's sorted order):
  lung_pct      lung area as % of the slice area;
  lesion_pct    lesion area inside the lungs as % of the lung area (the severity basis);
  ggo_share / consolidation_share
                % of that lesion area at −750..−300 HU / at or above −300 HU (HU input only,
                viewer.core.severity; empty for 8-bit pictures or an empty lesion; lesion
                voxels below −750 HU count in neither, so the two may sum to less than 100);
  category      viewer.core.severity.category(lesion_pct): mild < 10 %, common 10–30 %,
                severe 30–50 %, critical > 50 % (empty for a slice without lung).
Per series: the same over all slices (lesion % of lung volume), plus volumes in ml
(voxel count × spacing product / 1000): lung_ml, lesion_ml (inside the lungs), mask_ml (the
whole exported mask), ggo_ml, consolidation_ml, the slice count with any lesion, and
``notes``: one-line remarks about the numbers (viewer.core.lesion_layers.LesionLayers.notes, e.g.
"no lungs found in this series"; a list in the JSON, joined with "; " in the CSV).

The masks and counts come slice by slice from the series' ``LesionLayers`` (the pipeline the
viewer uses: map -> lungs -> threshold -> edits -> severity, counted with
viewer.core.severity.slice_severity; no full-volume temporaries); the series figures are sums of
the slice counts. The CSV has one row per slice and one row per series (``level`` = slice /
series); the JSON nests slices under their series.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from viewer.io.atomic import atomic_path
from viewer.core import severity
from viewer.core.lesion_layers import LesionLayers
from viewer.core.json_safe import dumps
from viewer.export.source import ExportSource, check_mask, ensure_dir

CSV_FIELDS = (
    "level", "series", "z", "slice_z_mm", "source_file", "lung_pct", "lesion_pct", "ggo_share",
    "consolidation_share", "category", "lung_ml", "lesion_ml", "mask_ml", "ggo_ml",
    "consolidation_ml", "slices_with_lesion", "n_slices", "notes",
)


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole > 0 else None


def _shares(ggo: int | None, cons: int | None, lesion: int) -> tuple:
    if ggo is None or cons is None:
        return None, None
    return _pct(ggo, lesion), _pct(cons, lesion)


@dataclass
class SeriesSummary:
    """Per-slice rows and totals of one series (JSON-ready dicts)."""

    name: str
    totals: dict
    slices: list[dict] = field(default_factory=list)


class SummaryBuilder:
    """Collects series summaries of one run; `write(out_dir)` saves summary.csv and .json."""

    def __init__(self, threshold: float, lung_only: bool, model_name: str = "",
                 weights_hash: str = ""):
        self.threshold = float(threshold)
        self.lung_only = bool(lung_only)
        self.model_name = model_name
        self.weights_hash = weights_hash
        self.series: list[SeriesSummary] = []

    def add_series(self, name: str, source: ExportSource | object,
                   masks: np.ndarray | LesionLayers, lungs: np.ndarray | None = None,
                   hu: np.ndarray | None = None, notes=()) -> SeriesSummary:
        """Summarise one series. ``masks``: the series' ``LesionLayers`` (then ``lungs`` and
        ``hu`` are its own), or final masks bool (z, y, x) with ``lungs`` bool (z, y, x) and
        ``hu`` float HU (z, y, x) or None. ``notes``: further one-line notes."""
        src = ExportSource.of(source)
        if isinstance(masks, LesionLayers):
            layers = masks
            if layers.shape != src.shape:
                raise ValueError(f"summary: lesion layers shape {layers.shape} differs from "
                                 f"{src.shape}")
        else:
            check_mask(masks, src.shape)
            check_mask(lungs, src.shape, "lung mask")
            if hu is not None and np.shape(hu) != src.shape:
                raise ValueError(f"summary: HU volume shape {np.shape(hu)} differs from "
                                 f"{src.shape}")
            # final masks: taken as they are (threshold 0.5 on 0/1, no restriction, no edits)
            is_hu = bool(src.is_hu) or hu is not None
            layers = LesionLayers(src.shape, src.spacing, is_hu, lungs, masks, threshold=0.5,
                                  lungs_only=False, hu=hu)
        layers.add_notes(notes)
        hu = layers.hu
        ml = src.voxel_volume_ml()
        area = src.shape[1] * src.shape[2]
        positions = src.slice_positions()
        rows: list[dict] = []
        lung = lesion = mask_px = with_lesion = 0
        ggo = cons = None if hu is None else 0
        for z in range(src.shape[0]):
            mask = layers.mask(z)
            if mask is None:
                raise ValueError(f"summary: slice {z} has no lesion map")
            sev = layers.slice_severity(z, mask)
            n_mask = int(np.count_nonzero(mask))
            lung, lesion, mask_px = lung + sev.lung_px, lesion + sev.lesion_px, mask_px + n_mask
            with_lesion += sev.lesion_px > 0
            if hu is not None:
                ggo, cons = ggo + sev.ggo_px, cons + sev.consolidation_px
            ref = src.refs[z] if src.refs else None
            rows.append({
                "z": z,
                "slice_z_mm": float(positions[z][2]),
                "source_file": str(getattr(ref, "path", "") or ""),
                "lung_pct": 100.0 * sev.lung_px / area,
                "lesion_pct": sev.lesion_pct,
                "ggo_share": sev.ggo_pct,
                "consolidation_share": sev.consolidation_pct,
                "category": sev.category,
                "lung_ml": sev.lung_px * ml,
                "lesion_ml": sev.lesion_px * ml,
                "mask_ml": n_mask * ml,
            })
        pct = _pct(lesion, lung)
        ggo_share, cons_share = _shares(ggo, cons, lesion)
        totals = {
            "series": name,
            "key": src.key,
            "source_kind": src.source_kind,
            "is_hu": bool(src.is_hu),
            "n_slices": src.shape[0],
            "shape_zyx": list(src.shape),
            "spacing_zyx_mm": list(src.spacing),
            "lung_pct": 100.0 * lung / (area * src.shape[0]),
            "lesion_pct": pct,
            "ggo_share": ggo_share,
            "consolidation_share": cons_share,
            "category": None if pct is None else severity.category(pct),
            "lung_ml": lung * ml,
            "lesion_ml": lesion * ml,
            "mask_ml": mask_px * ml,
            "ggo_ml": None if ggo is None else ggo * ml,
            "consolidation_ml": None if cons is None else cons * ml,
            "slices_with_lesion": int(with_lesion),
            "notes": list(layers.notes),
        }
        summary = SeriesSummary(name, totals, rows)
        self.series.append(summary)
        return summary

    def to_json(self) -> dict:
        return {
            "model_name": self.model_name,
            "weights_sha256": self.weights_hash,
            "threshold": self.threshold,
            "lung_only": self.lung_only,
            "severity_categories": "mild < 10 %, common 10-30 %, severe 30-50 %, critical > 50 % "
                                   "of lung area",
            "series": [{**s.totals, "slices": s.slices} for s in self.series],
        }

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write summary.csv and summary.json into `out_dir`; returns both paths."""
        out = ensure_dir(out_dir)
        csv_path, json_path = out / "summary.csv", out / "summary.json"
        with atomic_path(csv_path) as tmp_csv, tmp_csv.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            for s in self.series:
                for row in s.slices:
                    writer.writerow(_csv_row({"level": "slice", "series": s.name, **row}))
                writer.writerow(_csv_row({"level": "series", **s.totals}))
        with atomic_path(json_path) as tmp_json:
            tmp_json.write_text(dumps(self.to_json(), indent=1, default=_json_default))
        return csv_path, json_path


def _csv_row(row: dict) -> dict:
    """Floats to 4 decimals, None to empty, lists joined with "; "."""
    out = {}
    for k, v in row.items():
        if isinstance(v, (list, tuple)):
            out[k] = "; ".join(str(x) for x in v)
        elif v is None or (isinstance(v, float) and not math.isfinite(v)):
            out[k] = ""
        elif isinstance(v, float):
            out[k] = f"{v:.4f}"
        else:
            out[k] = v
    return out


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"summary: cannot write {type(value).__name__} to JSON")
