"""The whole training recipe in one command (``make train``): stage 1 classifier (F of the GAN),
the baselines' 256-px classifier, stage 2 GAN, finalize, stage 3 label-free student and its round on the 256 grid, the
lung-field network, calibration. Re-running continues where it stopped (each
stage resumes from its checkpoint or is skipped when its output exists).

    python scripts/train_recipe.py --data SOARES --val MEDSEG_VAL --out runs/recipe \\
        [--normal-series LIDC_DIR ...] [--device auto] [--gan-hours 2.8] [--dry-run]

Every stage runs ``main.py`` in a subprocess (each prints its own tqdm progress bar with ETA);
between stages this script prints the stage, the elapsed time and the estimated time left,
from the stage durations measured on the 2-core CPU (resources/weights/MODEL_CARD.md), scaled
by how fast the finished stages ran against those figures. Outputs:
``OUT/classifier/classifier.safetensors`` (F), ``OUT/classifier256/classifier.safetensors`` (ships as
resources/weights/classifier.safetensors: the plain ResNet-18 and the CAM baselines),
``OUT/gan/final.safetensors`` (the generator, the
teacher), ``OUT/student/last_student.safetensors`` (the first student, on the 128 grid),
``OUT/student256/last_student.safetensors`` (its round on the 256 grid), ``OUT/lungs/lung_field.safetensors`` (ships as
resources/weights/lung_field.safetensors) and ``OUT/localizer.safetensors`` (the
calibrated student: what ships as resources/weights/localizer.safetensors).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    name: str
    output: Path
    argv: list[str]
    cpu_minutes: float  # measured on the 2-core CPU (model card)


def stages(a: argparse.Namespace) -> list[Stage]:
    out, data = Path(a.out), a.data
    vi, vm = f"{a.val}/images", f"{a.val}/masks"
    cls = out / "classifier" / "classifier.safetensors"
    gan_best = out / "gan" / "best_generator.safetensors"
    gen = out / "gan" / "final.safetensors"
    # the last epochs are shipped (model card); last_student is written only when a run ends, so
    # a stage stopped half way is resumed, not skipped
    student = out / "student" / "last_student.safetensors"
    student256 = out / "student256" / "last_student.safetensors"
    dev = ["--device", a.device]
    baseline = out / "classifier256" / "classifier.safetensors"
    return [
        Stage("stage 1: classifier", cls,
              ["train", "classifier", "--data", data, "--out", str(cls.parent), "--preset", "cpu",
               "--resume", *dev], 15),
        Stage("the baselines' classifier (256 px)", baseline,
              ["train", "classifier", "--data", data, "--out", str(baseline.parent), "--preset", "cpu",
               "--image-size", "256", "--epochs", "40", "--lr", "1e-3", "--weight-decay", "0.05",
               "--label-smoothing", "0.1", "--crop-min", "0.7", "--resume", *dev], 40),
        Stage("stage 2: GAN", gan_best.parent / "history.json",  # written when the run ends
              ["train", "gan", "--data", data, "--out", str(gan_best.parent), "--preset", "cpu",
               "--classifier-weights", str(cls), "--val-images", vi, "--val-masks", vm,
               "--time-budget-hours", str(a.gan_hours), "--resume", *dev], a.gan_hours * 60),
        Stage("finalize the generator", gen,
              ["train", "finalize", "--weights", str(gan_best), "--out", str(gen),
               "--val-images", vi, "--val-masks", vm, "--tta", "1", *dev], 2),
        Stage("stage 3: label-free student", student,
              ["train", "student", "--data", data, "--generator", str(gen), "--out", str(student.parent),
               "--val-images", vi, "--val-masks", vm, "--epochs", "10", "--resume", *dev], 40),
        Stage("stage 3b: the student on the 256 grid", student256,
              ["train", "student", "--data", data, "--generator", str(student), "--teacher-size", "256",
               "--init", str(student), "--out", str(student256.parent), "--val-images", vi,
               "--val-masks", vm, "--epochs", "4", "--lr", "3e-4", "--resume", *dev], 28),
        Stage("lung field network", out / "lungs" / "lung_field.safetensors",
              ["lungs", "train", "--data", data, "--out", str(out / "lungs"), "--series", *a.normal_series,
               "--epochs", "7", "--resume", "--device", "cpu" if a.device == "auto" else a.device], 12),
        Stage("calibrate the student", out / "localizer.safetensors",
              ["calibrate", "--weights", str(student256), "--out", str(out / "localizer.safetensors"),
               "--lung-weights", str(out / "lungs" / "lung_field.safetensors"),
               "--val-images", vi, "--val-masks", vm, "--normal-pictures", data,
               "--normal-series", *a.normal_series, "--normal-target-hu", "1.5", *dev], 6),
    ]


def _hm(minutes: float) -> str:
    return f"{int(minutes // 60)} h {int(minutes % 60):02d} min"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="class-folder training set (COVID/, non-COVID/)")
    p.add_argument("--val", required=True, help="validation folder with images/ and masks/")
    p.add_argument("--out", default="runs/recipe", help="run folder (default runs/recipe)")
    p.add_argument("--normal-series", nargs="*", default=[], help="normal HU series for the calibration")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--gan-hours", type=float, default=2.8, help="time budget of stage 2 (hours)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    a = p.parse_args(argv)
    for flag, path in (("--data", a.data), ("--val", a.val), *(("--normal-series", s) for s in a.normal_series)):
        if not Path(path).is_dir():
            print(f"error: {flag} {path}: not a folder", file=sys.stderr)
            return 2
    plan = stages(a)
    if not a.normal_series:  # calibrate then checks the normal pictures only
        plan[-1].argv.remove("--normal-series")
    t_start = time.time()
    speed = 1.0  # measured minutes / model-card minutes of the stages run so far
    ran_card = ran_real = 0.0
    for k, st in enumerate(plan, 1):
        left = sum(s.cpu_minutes for s in plan[k - 1:] if not s.output.exists()) * speed
        cmd = [sys.executable, str(REPO / "main.py"), *st.argv]
        if st.output.exists():
            print(f"[{k}/{len(plan)}] {st.name}: done ({st.output})", flush=True)
            continue
        print(f"[{k}/{len(plan)}] {st.name}: elapsed {_hm((time.time() - t_start) / 60)}, "
              f"about {_hm(left)} left for the recipe\n  $ {' '.join(cmd[1:])}", flush=True)
        if a.dry_run:
            continue
        t0 = time.time()
        rc = subprocess.call(cmd, cwd=REPO)
        if rc not in (0, 1) or not st.output.exists():  # calibrate exits 1 when a target is missed
            print(f"error: {st.name} failed (exit {rc}); run the same command again to continue",
                  file=sys.stderr)
            return rc or 1
        ran_card += st.cpu_minutes
        ran_real += (time.time() - t0) / 60
        speed = max(ran_real / ran_card, 0.05)
    if a.dry_run:
        print("dry run: nothing was run")
    else:
        print(f"recipe done in {_hm((time.time() - t_start) / 60)}: {Path(a.out) / 'localizer.safetensors'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
