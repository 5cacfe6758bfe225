"""Issue 12: ov_sparsity.nncf.quantize_with_sparsity (WeightSparsity inside NNCF's post-training pipeline)
beside the CLI's WeightSparsity + DefaultQuantization, on the same calibration images.

    python benchmarks/nncf_native.py [--models resnet56_cifar10 mobilenet_v2] [--work runs/nncf_native]

Rows: one_pass=True (one statistics collection on the dense model serves sparsity and quantization),
one_pass=False (quantization statistics collected again on the sparse model, as the CLI), and the CLI
(`ov-sparsity compress DENSE.xml -o OUT --sparsity S --data CALIB --int8`). The calibration subset is the
CLI's (300 images drawn with seed 0); target_device CPU as the CLI's. Sparse INT8 vs dense FP32.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import nncf
import openvino as ov

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MODELS, cli, command_line, evaluate, export  # noqa: E402

from ov_sparsity.api import resolve_preprocessing  # noqa: E402
from ov_sparsity.data import ImageFolder, random_subset  # noqa: E402
from ov_sparsity.nncf import quantize_with_sparsity  # noqa: E402

LEVELS = {"mobilenet_v2": 0.4}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["resnet56_cifar10", "mobilenet_v2"])
    ap.add_argument("--work", type=Path, default=Path("runs/nncf_native"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print("| model | sparsity | path | dense top-1 | sparse INT8 top-1 | drop | agreement | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        dense_xml = export(name, args.work)
        calib, test = MODELS[name]["calib"], MODELS[name]["test"]
        level = LEVELS.get(name, 0.5)
        model = ov.Core().read_model(dense_xml)
        images = random_subset(ImageFolder(calib, resolve_preprocessing(None, model)), 300, 0)
        samples = [images[i][0][None] for i in range(len(images))]
        rows = [("nncf one_pass=True", True), ("nncf one_pass=False", False), ("CLI", None)]
        for label, one_pass in rows:
            out = args.work / f"{name}_{int(level * 100)}_{label.split()[-1].replace('=', '_')}"
            xml = out / "model.xml"
            timing = out / "time.json"
            if not timing.exists():
                t0 = time.perf_counter()
                if one_pass is None:
                    cli("compress", dense_xml, "-o", out, "--sparsity", level, "--data", calib, "--int8")
                else:
                    q = quantize_with_sparsity(model, nncf.Dataset(samples), level, one_pass=one_pass,
                                               target_device=nncf.TargetDevice.CPU, progress=False)
                    out.mkdir(parents=True, exist_ok=True)
                    ov.save_model(q, xml, compress_to_fp16=False)
                timing.write_text(json.dumps({"wall": time.perf_counter() - t0}))
            wall = json.loads(timing.read_text())["wall"]
            r = evaluate(xml, test, dense_xml)
            print(f"| {name} | {level:.0%} | {label} | {r['reference_top1']:.2f} | {r['top1']:.2f} | "
                  f"{r['reference_top1'] - r['top1']:.2f} | {r['agreement']:.2f} | {wall:.0f} |", flush=True)
        cli_text = command_line("compress", dense_xml, '-o', 'OUT', '--sparsity', level, '--data', calib, '--int8')
        print(f"<!-- CLI: {cli_text} -->")


if __name__ == "__main__":
    main()
