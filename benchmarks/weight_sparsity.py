"""Issue-2 table: magnitude only; + weight correction; + bias correction; + INT8,
for ResNet-20/56 on CIFAR-10 and MobileNetV2 on the ImageNet samples, every run
through the CLI, dense FP32 on the same images beside it.

    python benchmarks/weight_sparsity.py [--work runs/ws] [--models resnet56_cifar10 ...]

MobileNetV2 is calibrated on one half of the ImageNet samples and evaluated on the
other (see benchmarks/common.py: data_for).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import markdown, run_suite  # noqa: E402

VARIANTS = {
    "magnitude only": ["--no-weight-correction", "--no-bias-correction"],
    "+ weight corr.": ["--no-bias-correction"],
    "+ bias corr.": [],
    "+ INT8": ["--int8"],
}
LEVELS = {"resnet20_cifar10": [0.5], "resnet56_cifar10": [0.5], "mobilenet_v2": [0.3, 0.4]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="runs/weight_sparsity")
    ap.add_argument("--models", nargs="*", default=list(LEVELS))
    args = ap.parse_args()
    work = Path(args.work)
    plan = [(name, level, label, flags) for name in args.models for level in LEVELS[name]
            for label, flags in VARIANTS.items()]
    print(markdown(run_suite(plan, work, "results.json")))


if __name__ == "__main__":
    main()
