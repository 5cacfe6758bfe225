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
    "mobilenet_v2": {"weights": SHARED / "models/imagenet/mobilenet_v2-b0353104.pth",
                     "calib": SHARED / "data/imagenet-samples", "test": SHARED / "data/imagenet-samples"},
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
