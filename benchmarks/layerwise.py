"""Issue-3 tables: layer-wise tuning (Adam vs exact least squares), the cubic schedule,
and the accuracy-vs-sparsity sweep, every run through the CLI with INT8.

    python benchmarks/layerwise.py [--work runs/lw] [--part main|sweep|mobilenet|all]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import markdown, run_suite  # noqa: E402

VARIANTS = {
    "corrections only": [],
    "+ Adam (paper, dense inputs)": ["--tune", "adam", "--fp-inputs"],
    "+ lstsq (sequential)": ["--tune", "lstsq"],
    "+ lstsq + schedule (3 steps)": ["--tune", "lstsq", "--schedule-steps", "3"],
}


def plan(part: str) -> list:
    out = []
    if part in ("main", "all"):
        out += [("resnet56_cifar10", lvl, label, flags + ["--int8"]) for lvl in (0.5, 0.7)
                for label, flags in VARIANTS.items()]
    if part in ("mobilenet", "all"):  # Adam and the schedule left out: ResNet-56 measures them, at 3-5x the time
        out += [("mobilenet_v2", lvl, label, flags + ["--int8"]) for lvl in (0.4, 0.5)
                for label, flags in VARIANTS.items() if "Adam" not in label and "schedule" not in label]
    if part in ("sweep", "all"):
        out += [("resnet56_cifar10", lvl, "+ lstsq (sequential)", ["--tune", "lstsq", "--int8"])
                for lvl in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]  # 50% and 70% come from the main part
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="runs/layerwise")
    ap.add_argument("--part", default="all", choices=("main", "sweep", "mobilenet", "all"))
    args = ap.parse_args()
    rows = run_suite(plan(args.part), Path(args.work), "results.json")
    print(markdown(rows))


if __name__ == "__main__":
    main()
