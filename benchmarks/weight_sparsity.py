"""Issue-2 table: magnitude only; + weight correction; + bias correction; + INT8,
for ResNet-20/56 on CIFAR-10 and MobileNetV2 on the ImageNet samples, every run
through the CLI, dense FP32 on the same images beside it.

    python benchmarks/weight_sparsity.py [--work runs/ws] [--models resnet56_cifar10 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import MODELS, cli, command_line, evaluate, export, split_imagenet_samples  # noqa: E402

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
    rows = []
    for name in args.models:
        dense = export(name, work)
        calib, tests = MODELS[name]["calib"], {"test": MODELS[name]["test"]}
        if name == "mobilenet_v2":  # calibrate on one half, evaluate on the other (and on all 500)
            calib, held_out = split_imagenet_samples(work)
            tests = {"held-out 250": held_out, "all 500": MODELS[name]["test"]}
        dense_acc = {k: evaluate(dense, d)["top1"] for k, d in tests.items()}
        for level in LEVELS[name]:
            for label, flags in VARIANTS.items():
                out = work / "out" / f"{name}_{int(level * 100)}_{label.strip('+ ').replace(' ', '_').replace('.', '')}"
                args_ = ["compress", dense, "-o", out, "--sparsity", level, "--data", calib, *flags]
                _, wall = cli(*args_)
                report = json.loads((out / "report.json").read_text())
                accs = {k: evaluate(out / "model.xml", d, dense) for k, d in tests.items()}
                rows.append({"model": name, "sparsity": level, "variant": label, "wall_s": round(wall, 1),
                             "global_sparsity": report["global_sparsity"], "dense_top1": dense_acc,
                             "top1": {k: a["top1"] for k, a in accs.items()},
                             "agreement": {k: a["agreement"] for k, a in accs.items()},
                             "command": command_line(*args_)})
                print(json.dumps(rows[-1]), flush=True)
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    print("\n| model | sparsity | variant | eval set | dense FP32 | sparse | drop | agreement | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        for k in r["top1"]:
            print(f"| {r['model']} | {r['sparsity']:.0%} | {r['variant']} | {k} | {r['dense_top1'][k]:.2f} | "
                  f"{r['top1'][k]:.2f} | {r['dense_top1'][k] - r['top1'][k]:.2f} | {r['agreement'][k]:.1f} | "
                  f"{r['wall_s']} |")


if __name__ == "__main__":
    main()
