"""`python main.py train classifier|gan|student|lm-classifier|finalize ...`: the two training stages of
the paper, the label-free student (stage 3), the LM-ResNet-18 on the maps and finalising weights. Presets fill the defaults; any explicit flag overrides them."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..presets import CLASSIFIER_PRESETS, GAN_PRESETS
from .argtypes import area_fraction, boolean, nonnegative_float, positive_float, positive_int, test_fraction
from .common import add_device_argument, error


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="class-folder training set with COVID/ and non-COVID/")
    p.add_argument("--out", required=True, help="run folder for checkpoints, weights and logs")
    p.add_argument("--preset", choices=("paper", "cpu"), default="paper",
                   help="paper: the authors' settings (GPU); cpu: reduced recipe for a 2-core CPU")
    add_device_argument(p, checked=False)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default=None,
                   help="auto = bf16 mixed precision on CUDA, fp32 on CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    p.add_argument("--image-size", type=positive_int, default=None)
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--limit-per-class", type=positive_int, default=None, help="use only the first N images per class (smoke tests)")


def _recipe_flags(p: argparse.ArgumentParser) -> None:
    """Classifier recipe settings that are not in the paper (the defaults are its recipe)."""
    p.add_argument("--weight-decay", type=nonnegative_float, default=None,
                   help="decoupled weight decay (AdamW when > 0; default 0: Adam)")
    p.add_argument("--label-smoothing", type=test_fraction, default=None,
                   help="label smoothing of the cross-entropy (default 0)")
    p.add_argument("--crop-min", type=area_fraction, default=None,
                   help="smallest area of the random resized crop, as a fraction (default 0.9)")


def register(sub) -> None:
    p = sub.add_parser("train", help="train the classifier (stage 1), the GAN (stage 2) or the LM classifier",
                       description=__doc__)
    s = p.add_subparsers(dest="stage", metavar="STAGE")

    c = s.add_parser("classifier", help="stage 1: ResNet-18 COVID/non-COVID classifier (F and the plain baseline)")
    _common(c)
    c.add_argument("--epochs", type=positive_int, default=None)
    c.add_argument("--lr", type=positive_float, default=None)
    c.add_argument("--split-seed", type=int, default=0, help="seed of the 70/30 split")
    c.add_argument("--intensity-aug", type=boolean, default=None,
                   help="random gamma/contrast (display window) jitter of the training slices, so the "
                        "classifier travels to pictures windowed otherwise (not in the paper)")
    _recipe_flags(c)
    c.set_defaults(func=_run_classifier, on_maps=None)

    lm = s.add_parser("lm-classifier", help="LM-ResNet-18: a ResNet-18 on the GAN's localization maps")
    _common(lm)
    lm.add_argument("--generator", required=True, dest="on_maps", help="generator weights (.safetensors)")
    lm.add_argument("--epochs", type=positive_int, default=None)
    lm.add_argument("--lr", type=positive_float, default=None)
    lm.add_argument("--split-seed", type=int, default=0)
    lm.add_argument("--maps", choices=("minmax", "absolute"), default="minmax", dest="map_normalisation",
                    help="the maps' scale: per-map min-max (default) or the product's absolute scale, "
                         "on which a normal slice stays cold (the paper's C sees ReLU(x - G(x)) unscaled)")
    _recipe_flags(lm)
    lm.set_defaults(func=_run_classifier)

    g = s.add_parser("gan", help="stage 2: generator and discriminator with F frozen; selection by validation pixel AUC")
    _common(g)
    g.add_argument("--classifier-weights", required=True, help="stage-1 classifier .safetensors (F)")
    g.add_argument("--val-images", help="validation images folder (model selection by pixel AUC)")
    g.add_argument("--val-masks", help="validation masks folder")
    g.add_argument("--iterations", type=positive_int, default=None)
    g.add_argument("--width", type=positive_float, default=None, help="channel multiplier (1 = paper)")
    g.add_argument("--d-width", type=positive_float, default=None, help="discriminator channel multiplier (default: --width)")
    g.add_argument("--lr-g", type=positive_float, default=None)
    g.add_argument("--d-lr-ratio", type=positive_float, default=None, help="D lr / G lr: paper 4 (TTUR), code 2")
    g.add_argument("--label-smoothing", type=boolean, default=None, help="real targets U[0.8, 1] (authors' code)")
    g.add_argument("--joint-g-step", type=boolean, default=None, help="one G step with all losses instead of two")
    g.add_argument("--rot90", type=boolean, default=None, help="random 90-degree turns (not in the paper)")
    g.add_argument("--c-mode", choices=("joint", "off"), default=None, help="train C on the maps during GAN training")
    g.add_argument("--d-warmup", type=int, default=None, help="D-only iterations first: normal real, COVID fake (not in the paper)")
    g.add_argument("--d-scales", type=positive_int, default=None, metavar="N",
                   help="D at N input scales, each pooled 2x more (1 = paper; 2-4: multi-scale D, not in the paper)")
    g.add_argument("--d-anchor", type=nonnegative_float, default=None,
                   help="weight of raw COVID slices as extra fakes for D during the GAN (0 = paper)")
    g.add_argument("--intensity-aug", type=boolean, default=None, help="random gamma/contrast jitter (not in the paper)")
    g.add_argument("--alpha", type=nonnegative_float, default=None, help="consistency weight (paper 3.0)")
    g.add_argument("--beta", type=nonnegative_float, default=None, help="feature-match weight (paper 1.0)")
    g.add_argument("--ema", type=nonnegative_float, default=None,
                   help="decay of a moving average of G's weights, validated beside G (e.g. 0.995; 0 = none)")
    g.add_argument("--lung-restrict", type=boolean, default=None,
                   help="D and F judge G's output inside each picture's lung field only (not in the paper)")
    g.add_argument("--val-every", type=positive_int, default=None)
    g.add_argument("--checkpoint-minutes", type=positive_float, default=None)
    g.add_argument("--time-budget-hours", type=float, default=None, help="stop and save when spent (0 = none)")
    g.set_defaults(func=_run_gan)

    st = s.add_parser("student", help="stage 3 (not in the paper): a label-free segmenter distilled from a "
                                      "generator's own maps of the training slices")
    st.add_argument("--data", required=True, help="class-folder training set with COVID/ and non-COVID/")
    st.add_argument("--generator", required=True, help="teacher generator .safetensors (e.g. the shipped localizer)")
    st.add_argument("--out", required=True, help="run folder for the teacher maps, checkpoints and weights")
    st.add_argument("--val-images", help="validation images folder (model selection by pixel AUC)")
    st.add_argument("--val-masks", help="validation masks folder")
    st.add_argument("--width", type=positive_float, default=0.375, help="channel multiplier of the student U-Net")
    st.add_argument("--epochs", type=positive_int, default=10)
    st.add_argument("--batch-size", type=positive_int, default=16)
    st.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate (one-cycle)")
    st.add_argument("--map-sigma", type=nonnegative_float, default=4.5,
                    help="Gaussian smoothing of the student's map on the 256 grid, px")
    add_device_argument(st, checked=False)
    st.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="bf16")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    st.add_argument("--stop-after", type=positive_int, default=None, metavar="N",
                    help="end this run after N epochs; --resume continues it (CPU runs across sessions)")
    st.add_argument("--init", default=None, metavar="W",
                    help="start from these weights (e.g. the shipped student, to fine-tune it on a "
                    "finer grid) instead of at random")
    st.add_argument("--teacher-size", type=int, default=None, metavar="PX",
                    help="grid (px, a multiple of 32) the teacher draws its targets on; the student "
                    "is trained on it too (default: the teacher's own)")
    st.add_argument("--target-gain", type=positive_float, default=1.0, metavar="G",
                    help="COVID targets become min(1, G x the teacher's map): G > 1 lifts faint "
                    "ground glass (not in the paper; default 1 = the teacher's map as it is)")
    st.add_argument("--limit-per-class", type=positive_int, default=None,
                    help="use only the first N images per class (smoke tests)")
    st.set_defaults(func=_run_student)

    f = s.add_parser("finalize", help="write shippable generator weights: test-time augmentation and the "
                                      "operating threshold measured on a labelled validation set")
    f.add_argument("--weights", required=True, help="generator .safetensors from a run (e.g. best_generator)")
    f.add_argument("--out", required=True, help="where to write the finalised .safetensors")
    f.add_argument("--val-images", required=True, help="validation images folder")
    f.add_argument("--val-masks", required=True, help="validation masks folder")
    f.add_argument("--tta", type=int, choices=(1, 2, 4), default=1,
                   help="maps averaged over this many flips/turns (default 1 = the paper's single pass)")
    add_device_argument(f, checked=False)
    f.set_defaults(func=_run_finalize)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _overrides(args, keys) -> dict:
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _run_classifier(args) -> int:
    from ..train_classifier import ClassifierConfig, train_classifier

    cfg = dict(CLASSIFIER_PRESETS[args.preset])
    cfg.update(_overrides(args, ("image_size", "batch_size", "epochs", "lr", "precision",
                                 "intensity_aug", "weight_decay", "label_smoothing", "crop_min")))
    try:
        res = train_classifier(ClassifierConfig(data=args.data, out=args.out, preset=args.preset, seed=args.seed,
                                                device=args.device, resume=args.resume, split_seed=args.split_seed,
                                                on_maps=args.on_maps, limit_per_class=args.limit_per_class,
                                                map_normalisation=getattr(args, "map_normalisation", "minmax"),
                                                **cfg))
    except ValueError as exc:
        error(str(exc))
        return 2
    if res.get("test_metrics"):
        print(json.dumps(res, indent=1))
    return 0


def _run_gan(args) -> int:
    from ..train_gan import GanConfig, train_gan

    cfg = dict(GAN_PRESETS[args.preset])
    cfg.update(_overrides(args, ("image_size", "batch_size", "iterations", "width", "d_width", "lr_g", "d_lr_ratio",
                                 "label_smoothing", "joint_g_step", "rot90", "c_mode", "d_warmup", "val_every",
                                 "d_anchor", "d_scales", "intensity_aug", "alpha", "beta", "ema",
                                 "lung_restrict", "checkpoint_minutes", "time_budget_hours", "precision")))
    if bool(args.val_images) != bool(args.val_masks):
        error("--val-images and --val-masks go together")
        return 2
    for flag, path in (("--data", args.data), ("--classifier-weights", args.classifier_weights),
                       ("--val-images", args.val_images), ("--val-masks", args.val_masks)):
        if path and not Path(path).exists():
            error(f"{flag} {path}: does not exist")
            return 2
    try:
        res = train_gan(GanConfig(data=args.data, classifier_weights=args.classifier_weights, out=args.out,
                                  val_images=args.val_images, val_masks=args.val_masks, preset=args.preset,
                                  seed=args.seed, device=args.device, resume=args.resume,
                                  limit_per_class=args.limit_per_class, **cfg))
    except ValueError as exc:
        error(str(exc))
        return 2
    print(json.dumps(res, indent=1))
    return 0


def _run_student(args) -> int:
    from ..train_student import StudentConfig, train_student

    for flag, path in (("--data", args.data), ("--generator", args.generator),
                       ("--val-images", args.val_images), ("--val-masks", args.val_masks)):
        if path and not Path(path).exists():
            return error(f"{flag} {path}: does not exist")
    try:
        res = train_student(StudentConfig(
            data=args.data, generator=args.generator, out=args.out, val_images=args.val_images,
            val_masks=args.val_masks, width=args.width, epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, map_sigma=args.map_sigma, seed=args.seed, device=args.device,
            precision=args.precision, resume=args.resume, limit_per_class=args.limit_per_class,
            stop_after=args.stop_after, init=args.init,
            teacher_size=args.teacher_size, target_gain=args.target_gain))
    except ValueError as exc:
        return error(str(exc))
    print(json.dumps(res, indent=1))
    return 0


def _run_finalize(args) -> int:
    from ..finalize import finalize

    for flag, path in (("--weights", args.weights), ("--val-images", args.val_images), ("--val-masks", args.val_masks)):
        if not Path(path).exists():
            error(f"{flag} {path}: does not exist")
            return 2
    if Path(args.out).resolve() == Path(args.weights).resolve():
        error(f"--out {args.out}: must differ from --weights (the source stays as it is)")
        return 2
    try:
        res = finalize(args.weights, args.out, args.val_images, args.val_masks, tta=args.tta, device=args.device)
    except ValueError as exc:
        error(str(exc))
        return 2
    print(json.dumps(res, indent=1))
    return 0
