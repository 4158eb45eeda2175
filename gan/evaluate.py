"""Evaluation of the localizer and the paper's baselines (``python main.py evaluate``).

Localization: maps of each method on a labelled test set (images + masks, 8-bit pictures),
pixel ROC AUC pooled over all test pixels, binary metrics at the threshold chosen by grid search
on a labelled validation set, and the Inf-Net protocol's 256-threshold means (see
``gan.metrics`` for every pooling choice). Methods: ``gan`` (the GAN localizer), ``gradcam``,
``msgradcam``, ``smoothgrad`` (``gan.cams`` on the stage-1 classifier). With ``lung_only`` every
method is also scored as ``<method>+lung``: its maps multiplied by ``gan.lung_field``.

Classification: plain ResNet-18 (stage-1 classifier) and LM-ResNet-18 (ResNet-18 on GAN maps) on
the seeded held-out part of the class-folder training set (``gan.data.seeded_split``, the same
split the training command uses).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as Fnn

from . import metrics as M
from .data import MaskSet, list_images, load_class_folders, load_grey, resize_unit, seeded_split
from .map_methods import CAM_METHODS, METHODS

LUNG_SUFFIX = "+lung"
#: The product's GAN maps on the absolute scale, scored beside the paper's min-max maps.
ABSOLUTE_GAN = "gan-abs"

# Yang et al., IEEE JBHI 2021, Testing Set 1 (48 MedSeg slices), and Inf-Net on the same slices.
PAPER_LOCALIZATION = {
    "gan": {"auc": 0.883, "dice": 0.575, "accuracy": 0.884, "sensitivity": 0.647,
            "specificity": 0.929, "f1": 0.640},
    "msgradcam": {"auc": 0.712},
    "gradcam": {"auc": 0.674},
    "smoothgrad": {"auc": 0.530},
}
PAPER_INFNET = {"dice": 0.682, "sensitivity": 0.692, "specificity": 0.943}
PAPER_CLASSIFICATION = {
    "lm_resnet18": {"accuracy": 0.982, "sensitivity": 0.972, "specificity": 0.989, "f1": 0.981},
    "resnet18": {"accuracy": 0.953, "sensitivity": 0.949, "specificity": 0.956, "f1": 0.954},
}

Log = Callable[[str], None]


def parse_methods(text: str) -> list[str]:
    """'gan,gradcam' -> ['gan', 'gradcam'] (order kept, duplicates dropped); ValueError naming
    the unknown method."""
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not names:
        raise ValueError(f"--methods: no method given; choose from {', '.join(METHODS)}")
    for n in names:
        if n not in METHODS:
            raise ValueError(f"--methods: unknown method {n!r}; choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------- localization

@dataclass
class LocalizationSetup:
    images: Path
    masks: Path
    val_images: Path
    val_masks: Path
    methods: list[str]
    weights: Path | None = None
    classifier_weights: Path | None = None
    lung_only: bool = False
    device: str = "auto"
    smoothgrad_samples: int = 25
    tta: int | None = None  # GAN test-time augmentation; None = the weights' own setting
    inference_size: int | None = None  # the GAN model's map grid; None = the weights' own
    warnings: list[str] = field(default_factory=list)


class MapMaker:
    """Builds maps per method for a list of 8-bit pictures, loading each model once."""

    def __init__(self, setup: LocalizationSetup, log: Log):
        self.setup, self.log = setup, log
        self._localizer = None
        self._explainer = None
        self._plan_cache: dict = {}

    def localizer(self):
        if self._localizer is None:
            from .inference import Localizer

            self._localizer = Localizer(self.setup.weights, device=self.setup.device, tta=self.setup.tta,
                                        image_size=self.setup.inference_size)
        return self._localizer

    def explainer(self):
        if self._explainer is None:
            from .cams import ClassifierExplainer

            self._explainer = ClassifierExplainer(self.setup.classifier_weights, device=self.setup.device,
                                                  smoothgrad_samples=self.setup.smoothgrad_samples)
        return self._explainer

    def _plans(self, images: list[np.ndarray]) -> list:
        """Each picture's input plan, with ONE display-window estimate for the whole folder (the
        pictures of one set come from one source; a per-picture estimate is too noisy)."""
        from .inference import folder_window

        key = id(images)
        if key not in self._plan_cache:
            loc = self.localizer()
            window = folder_window(images)
            self.log(f"display window of the set: {window.describe()}")
            self._plan_cache[key] = (images, [loc.plan(im, False, window=window) for im in images])
        return self._plan_cache[key][1]

    def maps(self, method: str, images: list[np.ndarray]) -> list[np.ndarray]:
        """The paper's maps (per-image min-max for the GAN, as in its comparison table)."""
        if method in ("gan", ABSOLUTE_GAN):
            loc = self.localizer()
            norm = "minmax" if method == "gan" else "absolute"
            return [loc.apply(im, is_hu=False, plan=p, normalise=norm)
                    for im, p in zip(images, self._plans(images))]
        return self.explainer().maps(images, is_hu=False, method=method)


def load_pairs(images_dir: Path, masks_dir: Path, warnings: list[str]) -> MaskSet:
    """Image + mask pairs by file stem (mask > 0 is lesion). Unreadable files, size mismatches
    and images without a mask are skipped with a warning; ValueError when no pair is left."""
    masks = {p.stem: p for p in list_images(masks_dir)}
    imgs, msks, names = [], [], []
    unmatched = 0
    for p in list_images(images_dir):
        if p.stem not in masks:
            unmatched += 1
            continue
        try:
            im = load_grey(p)
            m = load_grey(masks[p.stem]) > 0
        except ValueError as exc:
            warnings.append(f"skipped {str(exc).splitlines()[0]}")
            continue
        if m.shape != im.shape or min(im.shape) < 16:
            warnings.append(f"skipped {p}: image {im.shape[::-1]} and mask {m.shape[::-1]} differ in size "
                            "or are smaller than 16 pixels")
            continue
        imgs.append(im)
        msks.append(m)
        names.append(p.stem)
    if unmatched:
        warnings.append(f"{images_dir}: {unmatched} image(s) without a mask of the same name in {masks_dir}")
    if not imgs:
        raise ValueError(f"{images_dir}: no readable image has a mask with the same name in {masks_dir}")
    return MaskSet(imgs, msks, names)


def check_localization_setup(s: LocalizationSetup) -> None:
    """Fails early, with the flag and the reason, before any model runs."""
    if "gan" in s.methods:
        if s.weights is None:
            raise ValueError("--weights: needed for method gan (generator .safetensors)")
        _check_file(s.weights, "--weights")
        if s.inference_size is not None:
            from .inference import check_inference_size

            check_inference_size(s.inference_size, "--inference-size")
    cams = [m for m in s.methods if m in CAM_METHODS]
    if cams:
        if s.classifier_weights is None:
            raise ValueError(f"--classifier-weights: needed for {', '.join(cams)} (stage-1 classifier .safetensors)")
        _check_file(s.classifier_weights, "--classifier-weights")
    for flag, d in (("--images", s.images), ("--masks", s.masks), ("--val-images", s.val_images),
                    ("--val-masks", s.val_masks)):
        if not Path(d).is_dir():
            raise ValueError(f"{flag}: {d}: folder does not exist")


def _check_file(p: Path, flag: str) -> None:
    if not Path(p).exists():
        raise ValueError(f"{flag}: {p}: weights file does not exist")
    if Path(p).is_dir():
        raise ValueError(f"{flag}: {p}: is a folder, expected a .safetensors file")


def score_method(test_maps: list[np.ndarray], test: MaskSet, val_maps: list[np.ndarray],
                 val: MaskSet) -> tuple[dict, M.RocCurve]:
    """Everything reported for one method: AUC (test), threshold (grid search on validation),
    binary metrics at it (test), Inf-Net means (test)."""
    curve = M.roc_curve(test_maps, test.masks)
    thr, val_dice = M.best_threshold(val_maps, val.masks)
    r = {"auc": curve.auc}
    r.update(M.binary_metrics(test_maps, test.masks, thr))
    r["validation_dice"] = val_dice
    r["infnet_protocol"] = M.infnet_means(test_maps, test.masks)
    return r, curve


def same_set(a_images: Path, a_masks: Path, b_images: Path, b_masks: Path) -> bool:
    return Path(a_images).resolve() == Path(b_images).resolve() and Path(a_masks).resolve() == Path(b_masks).resolve()


def run_localization(s: LocalizationSetup, log: Log = print) -> tuple[dict, dict[str, M.RocCurve]]:
    """Scores every method; returns (results for metrics.json, ROC curves by method name)."""
    check_localization_setup(s)
    maker = MapMaker(s, log)
    if "gan" in s.methods:  # load the models first: a bad weights file fails before any work
        maker.localizer()
    if any(m in CAM_METHODS for m in s.methods):
        maker.explainer()
    test = load_pairs(s.images, s.masks, s.warnings)
    shared = same_set(s.images, s.masks, s.val_images, s.val_masks)
    val = test if shared else load_pairs(s.val_images, s.val_masks, s.warnings)
    if shared:
        s.warnings.append("the validation set is the test set: thresholds are tuned on the test images")
    log(f"test set: {len(test)} image+mask pairs from {s.images}; validation set: {len(val)} pairs"
        + (" (same folders)" if shared else f" from {s.val_images}"))
    fields_test = fields_val = None
    if s.lung_only:
        from .lung_field import lung_field

        fields_test = [lung_field(im, is_hu=False) for im in test.images]
        fields_val = fields_test if shared else [lung_field(im, is_hu=False) for im in val.images]
    results: dict[str, dict] = {}
    curves: dict[str, M.RocCurve] = {}
    methods = list(s.methods)
    if "gan" in methods:  # the product's maps (absolute scale) beside the paper's (min-max)
        methods.insert(methods.index("gan") + 1, ABSOLUTE_GAN)
    for method in methods:
        t0 = time.time()
        test_maps = maker.maps(method, test.images)
        val_maps = test_maps if shared else maker.maps(method, val.images)
        seconds = time.time() - t0
        for m in test_maps + val_maps:
            if not np.isfinite(m).all():
                raise ValueError(f"{method}: produced non-finite map values")
        variants = [(method, test_maps, val_maps)]
        if s.lung_only:
            variants.append((method + LUNG_SUFFIX,
                             [m * f for m, f in zip(test_maps, fields_test)],
                             [m * f for m, f in zip(val_maps, fields_val)]))
        for name, tm, vm in variants:
            r, curve = score_method(tm, test, vm, val)
            r["map_seconds"] = seconds
            if method in ("gan", ABSOLUTE_GAN):
                r["weights_threshold"] = maker.localizer().threshold  # from the weights metadata
                r["tta"] = maker.localizer().tta
                r["inference_size"] = maker.localizer().image_size
            thin = curve.thinned(200)
            r["roc"] = {"fpr": np.round(thin.fpr, 5).tolist(), "tpr": np.round(thin.tpr, 5).tolist()}
            results[name] = r
            curves[name] = curve
            log(f"{name}: AUC {r['auc']:.4f}, Dice {r['dice']:.4f} at threshold {r['threshold']:.2f} "
                f"({seconds:.1f} s for maps)")
    out = {
        "methods": results,
        "test": {"images": str(s.images), "masks": str(s.masks), "n": len(test), "names": test.names},
        "validation": {"images": str(s.val_images), "masks": str(s.val_masks), "n": len(val),
                       "same_as_test": shared},
        "weights": {"generator": str(s.weights) if s.weights else None,
                    "map_model": ({"kind": maker.localizer().kind, "name": maker.localizer().model_name}
                                  if "gan" in s.methods else None),
                    "classifier": str(s.classifier_weights) if s.classifier_weights else None},
        "protocol": {
            "auc": "pixel ROC AUC pooled over all test pixels (exact, ties half)",
            "threshold": "grid 0.01..1.00 step 0.01 on the validation set, maximising mean per-image Dice",
            "dice": "mean over test images of per-image Dice at the threshold (dice_pooled: pooled counts)",
            "accuracy/sensitivity/specificity/precision/f1": "confusion counts pooled over all test pixels",
            "infnet_protocol": "per-image Dice/sensitivity/specificity at linspace(0,1,256), mean over images then thresholds",
            "prediction": "map >= threshold",
            "gan": "the paper's per-image min-max maps; 'gan-abs': the product's absolute-scale maps "
                   "(map_scale from the weights), on which the weights' severity threshold is set",
            "lung": "'+lung' variants multiply maps by gan.lung_field" if s.lung_only else None,
        },
        "paper": {"localization": PAPER_LOCALIZATION, "infnet": PAPER_INFNET},
        "warnings": s.warnings,
    }
    return out, curves


def plot_roc(curves: dict[str, M.RocCurve], path: Path, title: str = "Pixel-level ROC") -> Path:
    """ROC curves of all methods in one PNG (matplotlib Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5.0), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    colours = {}
    for name, c in curves.items():
        base = name.removesuffix(LUNG_SUFFIX)
        colours.setdefault(base, f"C{len(colours)}")
        t = c.thinned(2000)
        ax.plot(t.fpr, t.tpr, lw=1.6, color=colours[base], ls="--" if name != base else "-",
                label=f"{name} (AUC {c.auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.005)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(path))
    return Path(path)


def _f(v) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and np.isfinite(v) else "  -  "


def localization_table(results: dict) -> str:
    """Text table of each method beside the paper's figures."""
    cols = ("auc", "dice", "accuracy", "sensitivity", "specificity", "f1")
    head = f"{'method':<16}{'AUC':>7}{'Dice':>7}{'Acc':>7}{'Sens':>7}{'Spec':>7}{'F1':>7}{'thr':>6}" \
           f"   | Inf-Net protocol: {'Dice':>6}{'Sens':>7}{'Spec':>7}"
    lines = [head, "-" * len(head)]
    for name, r in results["methods"].items():
        inf = r["infnet_protocol"]
        lines.append(f"{name:<16}" + "".join(f"{_f(r[c]):>7}" for c in cols) + f"{r['threshold']:>6.2f}"
                     + f"   | {'':<18}{_f(inf['dice']):>6}{_f(inf['sensitivity']):>7}{_f(inf['specificity']):>7}")
        paper = PAPER_LOCALIZATION.get(name)
        if paper:
            lines.append(f"{'  paper':<16}" + "".join(f"{_f(paper.get(c)):>7}" for c in cols))
    p = PAPER_INFNET
    lines.append(f"{'Inf-Net (paper, fully supervised)':<64}   | {'':<18}{_f(p['dice']):>6}"
                 f"{_f(p['sensitivity']):>7}{_f(p['specificity']):>7}")
    return "\n".join(lines)


# ---------------------------------------------------------------- classification

@dataclass
class ClassificationSetup:
    data: Path
    classifier_weights: Path | None = None
    lm_weights: Path | None = None
    weights: Path | None = None      # generator for the LM-ResNet-18's maps
    split_seed: int | None = None    # None: the classifier's own metadata, else 0
    train_fraction: float | None = None
    device: str = "auto"
    limit_per_class: int | None = None
    warnings: list[str] = field(default_factory=list)


def check_classification_setup(s: ClassificationSetup) -> None:
    if not Path(s.data).is_dir():
        raise ValueError(f"--data: {s.data}: folder does not exist")
    if s.classifier_weights is None and s.lm_weights is None:
        raise ValueError("--classifier-weights / --lm-weights: give at least one classifier to evaluate")
    if s.classifier_weights is not None:
        _check_file(s.classifier_weights, "--classifier-weights")
    if s.lm_weights is not None:
        _check_file(s.lm_weights, "--lm-weights")
        if s.weights is None:
            raise ValueError("--weights: needed with --lm-weights (the generator that makes the maps)")
        _check_file(s.weights, "--weights")


@torch.no_grad()
def predict_labels(net: torch.nn.Module, inputs: list[torch.Tensor], device: torch.device,
                   batch_size: int = 32) -> np.ndarray:
    """Argmax class (1 = COVID) for (1, S, S) tensors in [0, 1]."""
    net.eval()
    out = []
    for i in range(0, len(inputs), batch_size):
        x = torch.stack(inputs[i:i + batch_size]).to(device)
        out.append(net(x).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=int)


def lm_inputs(images: list[np.ndarray], generator_weights: Path, size: int, mode: str,
              device: str, normalise: str = "minmax") -> list[torch.Tensor]:
    """Inputs of the LM-ResNet-18, (1, size, size) each.

    ``mode`` "localizer" (``train lm-classifier``): ``Localizer.apply`` maps (smoothed, scaled
    by ``normalise``: "minmax" or "absolute", at the picture's size) stored as uint8, then
    resized like raw pictures.
    ``mode`` "raw" (C trained inside ``train gan``): ReLU(x - G(x)) (a segmenter: its output) on
    the picture resized to the model's size, then resized to ``size``.
    """
    from .inference import Localizer, raw_map

    loc = Localizer(generator_weights, device=device)
    if mode == "localizer":
        return [resize_unit(np.round(loc.apply(im, is_hu=False, normalise=normalise) * 255).astype(np.uint8), size)
                for im in images]
    out = []
    with torch.no_grad():
        for im in images:
            x = resize_unit(im, loc.image_size)[None].to(loc.device)
            m = raw_map(loc.generator, x, 1, loc.kind)
            if m.shape[-1] != size:
                m = Fnn.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)
            out.append(m[0].cpu())
    return out


def run_classification(s: ClassificationSetup, log: Log = print) -> dict:
    """Plain ResNet-18 vs LM-ResNet-18 on the seeded held-out split of ``s.data``."""
    from .classifier_weights import load_classifier
    from .inference import resolve_device
    from .weights import file_sha256

    check_classification_setup(s)
    device = resolve_device(s.device)
    models = {}
    if s.classifier_weights is not None:
        models["resnet18"] = load_classifier(s.classifier_weights, device, kinds=("classifier",))
    if s.lm_weights is not None:
        models["lm_resnet18"] = load_classifier(s.lm_weights, device, kinds=("lm_classifier",))
    first = next(iter(models.values()))
    seed = s.split_seed
    if seed is None:
        seed = int(float(first.metadata.get("split_seed", 0)))
    frac = s.train_fraction if s.train_fraction is not None else float(first.metadata.get("train_fraction", 0.7))
    for name, mdl in models.items():
        meta_seed = mdl.metadata.get("split_seed")
        if meta_seed is not None and int(float(meta_seed)) != seed:
            s.warnings.append(f"{name}: trained with split seed {meta_seed}, evaluated on split seed {seed}: "
                              "its training slices may be in this test split")
        elif meta_seed is None:
            s.warnings.append(f"{name}: weights do not record their split seed; assuming {seed}")
    data = load_class_folders(s.data, limit=s.limit_per_class)
    for msg in data.skipped:
        s.warnings.append(f"skipped {msg}")
    if frac == 0.0:  # an external set: every slice is a test slice
        te = np.arange(len(data))
        s.warnings = [w for w in s.warnings if "split seed" not in w]
        for name, mdl in models.items():
            trained_on = json.loads(mdl.metadata.get("config", "{}") or "{}").get("data")
            if trained_on and Path(trained_on).resolve() == Path(s.data).resolve():
                s.warnings.append(f"{name}: --data is the folder it was trained on; with train "
                                  "fraction 0 its training slices are among the test slices")
        log(f"classification: all {len(data)} slices of {s.data} (external set, train fraction 0)")
    else:
        _, te = seeded_split(len(data), frac, seed)
        log(f"classification: {len(te)} held-out slices of {len(data)} (split seed {seed}, "
            f"train fraction {frac})")
    images = [data.images[i] for i in te]
    labels = data.labels[te]
    results: dict[str, dict] = {}
    for name, mdl in models.items():
        t0 = time.time()
        if name == "resnet18":
            inputs = [resize_unit(im, mdl.image_size) for im in images]
        else:
            mode = "raw" if ("generator_iteration" in mdl.metadata or mdl.metadata.get("map_input") == "raw") \
                else "localizer"
            want = mdl.metadata.get("generator_sha256")
            if want and want != file_sha256(s.weights):
                s.warnings.append(f"lm_resnet18: trained on maps of another generator than {s.weights}")
            inputs = lm_inputs(images, s.weights, mdl.image_size, mode, s.device,
                               normalise=mdl.metadata.get("map_normalisation", "minmax"))
        pred = predict_labels(mdl.net, inputs, device)
        r = M.classification_metrics(labels, pred)
        r["seconds"] = time.time() - t0
        results[name] = r
        log(f"{name}: accuracy {r['accuracy']:.4f}, sensitivity {r['sensitivity']:.4f}, "
            f"specificity {r['specificity']:.4f}, F1 {r['f1']:.4f}")
    return {"models": results, "data": str(s.data), "n_total": len(data), "n_test": int(len(te)),
            "split_seed": seed, "train_fraction": frac, "paper": PAPER_CLASSIFICATION,
            "warnings": s.warnings}


def classification_table(results: dict) -> str:
    cols = ("accuracy", "sensitivity", "specificity", "f1")
    head = f"{'model':<18}{'Acc':>7}{'Sens':>7}{'Spec':>7}{'F1':>7}"
    lines = [head, "-" * len(head)]
    for name in ("lm_resnet18", "resnet18"):
        if name not in results["models"]:
            continue
        r = results["models"][name]
        lines.append(f"{name:<18}" + "".join(f"{_f(r[c]):>7}" for c in cols))
        lines.append(f"{'  paper':<18}" + "".join(f"{_f(PAPER_CLASSIFICATION[name][c]):>7}" for c in cols))
    return "\n".join(lines)


# ---------------------------------------------------------------- output

def write_metrics(out_dir: Path, key: str, payload: dict) -> Path:
    """Writes ``payload`` under ``key`` in ``out_dir/metrics.json``, keeping the other keys of an
    existing file (localization and classification runs can share a folder)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    data: dict = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
    data[key] = payload
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default))
    tmp.replace(path)
    return path


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
