"""`python main.py evaluate [localization|classification] ...`: the paper's evaluation.

localization (default): GAN maps and the Grad-CAM / multi-scale Grad-CAM / SmoothGrad baselines
on a labelled test set (images + masks); threshold by grid search on a labelled validation set;
writes OUT/metrics.json ("localization" key) and OUT/roc.png and prints the table beside the
paper's figures.

  python main.py evaluate --images T/images --masks T/masks --val-images V/images \\
      --val-masks V/masks --weights resources/weights/localizer.safetensors \\
      --classifier-weights resources/weights/classifier.safetensors \\
      --methods gan,gradcam,msgradcam,smoothgrad --lung-only --out runs/eval

classification: plain ResNet-18 vs LM-ResNet-18 on the seeded held-out 30 % of the training set;
writes OUT/metrics.json ("classification" key).

  python main.py evaluate classification --data ../shared/data/soares-sarscov2-ct \\
      --classifier-weights C.safetensors --lm-weights L.safetensors --weights G.safetensors \\
      --split-seed 0 --out runs/eval
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..map_methods import ALL_METHODS_TEXT, METHODS
from .argtypes import positive_int, test_fraction
from .common import add_device_argument, error


def _path(text: str) -> Path:
    return Path(text).expanduser()


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="evaluate the localizer and the baselines (pixel AUC, Dice, ...) or the classifiers",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", nargs="?", choices=("localization", "classification"), default="localization",
                   help="what to evaluate (default: localization)")
    loc = p.add_argument_group("localization")
    loc.add_argument("--images", type=_path, help="test images folder (8-bit pictures)")
    loc.add_argument("--masks", type=_path, help="test masks folder (same file stems, lesion > 0)")
    loc.add_argument("--val-images", type=_path, help="validation images folder (threshold grid search)")
    loc.add_argument("--val-masks", type=_path, help="validation masks folder")
    loc.add_argument("--methods", default=ALL_METHODS_TEXT,
                     help=f"comma-separated: {', '.join(METHODS)} (default: all)")
    loc.add_argument("--lung-only", action="store_true",
                     help="also score each method with its maps restricted to a lung field ('<method>+lung')")
    loc.add_argument("--smoothgrad-samples", type=positive_int, default=25,
                     help="noisy copies per slice for SmoothGrad (default 25)")
    cls = p.add_argument_group("classification")
    cls.add_argument("--data", type=_path, help="class-folder training set with COVID/ and non-COVID/")
    cls.add_argument("--lm-weights", type=_path, help="LM-ResNet-18 .safetensors (kind lm_classifier)")
    cls.add_argument("--split-seed", type=int, default=None,
                     help="seed of the 70/30 split (default: the one recorded in the classifier weights, else 0)")
    cls.add_argument("--train-fraction", type=test_fraction, default=None,
                     help="training share of the split (default: recorded in the weights, else 0.7); "
                          "0 = every slice of --data is a test slice (an external set)")
    cls.add_argument("--limit-per-class", type=positive_int, default=None,
                     help="use only the first N images per class (smoke tests)")
    loc.add_argument("--tta", type=int, choices=(1, 2, 4), default=None,
                     help="GAN maps averaged over this many flips/turns (default: the weights' own setting; 1 = the paper)")
    loc.add_argument("--inference-size", type=int, default=None, metavar="PX",
                     help="grid (px, a multiple of 32) the GAN model draws its maps on (default: the weights' own)")
    both = p.add_argument_group("both")
    both.add_argument("--weights", type=_path, help="generator .safetensors (the GAN localizer)")
    both.add_argument("--classifier-weights", type=_path, help="stage-1 ResNet-18 classifier .safetensors")
    both.add_argument("--out", type=_path, required=False, help="output folder (metrics.json, roc.png)")
    add_device_argument(both, checked=False)
    both.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    if args.out is None:
        return error("--out: an output folder is required")
    if args.out.exists() and not args.out.is_dir():
        return error(f"--out: {args.out}: exists and is not a folder")
    try:
        import torch

        from ..inference import resolve_device

        resolve_device(args.device)
        if args.threads:
            torch.set_num_threads(args.threads)
        if args.task == "classification":
            return _classification(args)
        return _localization(args)
    except ValueError as exc:
        return error(str(exc).splitlines()[0])
    except OSError as exc:
        return error(f"{getattr(exc, 'filename', None) or args.out}: {exc.strerror or exc}")


def _localization(args: argparse.Namespace) -> int:
    from .. import evaluate as E

    for flag in ("images", "masks", "val_images", "val_masks"):
        if getattr(args, flag) is None:
            return error(f"--{flag.replace('_', '-')}: required for localization evaluation")
    setup = E.LocalizationSetup(
        images=args.images, masks=args.masks, val_images=args.val_images, val_masks=args.val_masks,
        methods=E.parse_methods(args.methods), weights=args.weights,
        classifier_weights=args.classifier_weights, lung_only=args.lung_only, device=args.device,
        smoothgrad_samples=args.smoothgrad_samples, tta=args.tta,
        inference_size=args.inference_size)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results, curves = E.run_localization(setup, log=log)
    path = E.write_metrics(args.out, "localization", results)
    roc = E.plot_roc(curves, args.out / "roc.png")
    print(E.localization_table(results))
    for w in results["warnings"]:
        print(f"warning: {w}")
    print(f"wrote {path} and {roc}")
    return 0


def _classification(args: argparse.Namespace) -> int:
    from .. import evaluate as E

    if args.data is None:
        return error("--data: required for classification evaluation (folder with COVID/ and non-COVID/)")
    setup = E.ClassificationSetup(
        data=args.data, classifier_weights=args.classifier_weights, lm_weights=args.lm_weights,
        weights=args.weights, split_seed=args.split_seed, train_fraction=args.train_fraction,
        device=args.device, limit_per_class=args.limit_per_class)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    results = E.run_classification(setup, log=log)
    path = E.write_metrics(args.out, "classification", results)
    print(E.classification_table(results))
    for w in results["warnings"]:
        print(f"warning: {w}")
    print(f"wrote {path}")
    return 0
