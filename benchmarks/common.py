"""Shared helpers for benchmark harnesses: run the CLI, export zoo models, split data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

MODELS = {
    "resnet20_cifar10": {"weights": SHARED / "models/cifar10/resnet20-12fca82f.th",
                         "calib": SHARED / "data/cifar10/calib", "test": SHARED / "data/cifar10/test"},
    "resnet56_cifar10": {"weights": SHARED / "models/cifar10/resnet56-4bfd9763.th",
                         "calib": SHARED / "data/cifar10/calib", "test": SHARED / "data/cifar10/test"},
    # ImageNet: calibrate on the unlabelled images, evaluate on all 500 labelled samples
    "mobilenet_v2": {"weights": SHARED / "models/imagenet/mobilenet_v2-b0353104.pth",
                     "calib": SHARED / "data/imagenet-unlabelled", "test": SHARED / "data/imagenet-samples"},
}


def cli(*args, quiet=True) -> tuple[str, float]:
    """Run `ov-sparsity ARGS` in a fresh process; (stdout, wall seconds). Fails loudly."""
    cmd = [sys.executable, "-m", "ov_sparsity.cli"] + (["-q"] if quiet else []) + [str(a) for a in args]
    env = dict(os.environ, OV_SPARSITY_PROGRESS="0")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout, wall


def command_line(*args) -> str:
    return "ov-sparsity " + " ".join(str(a) for a in args)


def export(name: str, work: Path) -> Path:
    xml = work / "models" / f"{name}.xml"
    if not xml.exists():
        if not SHARED.exists():
            sys.exit(f"../shared is absent ({SHARED}): the benchmarks need its weights and images")
        cli("zoo", "export", name, "--weights", MODELS[name]["weights"], "-o", xml)
    return xml


def evaluate(xml: Path, data: Path, reference: Path | None = None) -> dict:
    args = ["eval", xml, "--data", data, "--json"] + (["--reference", reference] if reference else [])
    out, _ = cli(*args)
    return json.loads(out.strip().splitlines()[-1])


def split_imagenet_samples(work: Path) -> tuple[Path, Path]:
    """Two halves of the ImageNet samples (sorted files: even -> calib, odd -> eval) as
    folders of symlinks with the synsets file: nothing is copied."""
    src = SHARED / "data/imagenet-samples"
    files = sorted((src / "images").iterdir())
    halves = []
    for part, chosen in (("calib", files[0::2]), ("eval", files[1::2])):
        root = work / "data" / f"imagenet-samples-{part}"
        if not root.exists():
            (root / "images").mkdir(parents=True)
            for f in chosen:
                (root / "images" / f.name).symlink_to(f)
            (root / "synsets.txt").symlink_to(src / "synsets.txt")
        halves.append(root)
    return halves[0], halves[1]


def run_variant(model: str, dense: Path, out: Path, level: float, calib: Path, flags: list, tests: dict,
                dense_acc: dict, label: str) -> dict:
    """One `compress` run through the CLI, evaluated on every test set against the dense model."""
    args = ["compress", dense, "-o", out, "--sparsity", level, "--data", calib, *flags]
    _, wall = cli(*args)
    report = json.loads((out / "report.json").read_text())
    accs = {k: evaluate(out / "model.xml", d, dense) for k, d in tests.items()}
    return {"model": model, "sparsity": level, "variant": label, "wall_s": round(wall, 1),
            "global_sparsity": report["global_sparsity"], "dense_top1": dense_acc,
            "top1": {k: a["top1"] for k, a in accs.items()}, "agreement": {k: a["agreement"] for k, a in accs.items()},
            "command": command_line(*args), "report": {k: report["algorithm_reports"].get(k) for k in
                                                       ("WeightSparsity", "LayerwiseFinetuning")}}


def data_for(name: str, work: Path) -> tuple[Path, dict]:
    """Calibration folder and {label: test folder}. MobileNetV2: calibrate on one half of the
    ImageNet samples, evaluate on the other half."""
    if name == "mobilenet_v2":
        calib, held_out = split_imagenet_samples(work)
        return calib, {"held-out 250": held_out}
    return MODELS[name]["calib"], {"test 10k": MODELS[name]["test"]}


def markdown(rows: list) -> str:
    lines = ["| model | sparsity | variant | eval set | dense FP32 | sparse | drop | agreement | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for k in r["top1"]:
            lines.append(f"| {r['model']} | {r['sparsity']:.0%} | {r['variant']} | {k} | {r['dense_top1'][k]:.2f} | "
                         f"{r['top1'][k]:.2f} | {r['dense_top1'][k] - r['top1'][k]:.2f} | {r['agreement'][k]:.1f} | "
                         f"{r['wall_s']} |")
    return "\n".join(lines)


def run_suite(plan: list, work: Path, results_name: str) -> list:
    """plan: [(model, level, label, flags)]. Appends to WORK/results_name as it goes (resumable)."""
    path = work / results_name
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {(r["model"], r["sparsity"], r["variant"]) for r in rows}
    dense_cache: dict = {}
    for model, level, label, flags in plan:
        if (model, level, label) in done:
            continue
        dense = export(model, work)
        calib, tests = data_for(model, work)
        if model not in dense_cache:
            dense_cache[model] = {k: evaluate(dense, d)["top1"] for k, d in tests.items()}
        slug = f"{model}_{int(round(level * 100))}_{''.join(c if c.isalnum() else '_' for c in label)}"
        row = run_variant(model, dense, work / "out" / slug, level, calib, flags, tests, dense_cache[model], label)
        rows.append(row)
        path.write_text(json.dumps(rows, indent=1))
        print(json.dumps({k: row[k] for k in ("model", "sparsity", "variant", "wall_s", "top1", "dense_top1")}),
              flush=True)
    return rows
