"""Issue 11's ablation: every part of the default recipe measured on its own, one row each,
with its compress time and peak memory. Sparse INT8 vs dense FP32 on the same images.

    python benchmarks/second_order.py [--models resnet56_cifar10 ...] [--levels 0.5 0.7] [--work runs/so]

Rows (each `ov-sparsity compress DENSE.xml -o OUT --sparsity S --data CALIB --int8` plus):
  magnitude + corrections   --fast
  + lstsq                   --tune lstsq           (POT's recipe with the exact masked least squares)
  + second-order (default)  (no flag)
  + layer budgets           -c with WeightSparsity.allocation = loss
ImageNet models calibrate on ../shared/data/imagenet-unlabelled and are evaluated on all 500
labelled samples; CIFAR models calibrate on cifar10/calib and are evaluated on the 10,000 test images.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MODELS, command_line, evaluate, export  # noqa: E402

ROWS = {
    "magnitude + corrections": ["--fast"],
    "+ lstsq (POT recipe)": ["--tune", "lstsq"],
    "+ second-order (default)": [],
    "+ layer budgets": ["budget"],
}


def timed_compress(args: list, log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS GB) of one compress process, from /usr/bin/time -v."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "ov_sparsity.cli", "-q", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time .*?: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    h, m, s = (float(g or 0) for g in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return 3600 * h + 60 * m + s, rss / (1 << 20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["resnet56_cifar10", "resnet20_cifar10", "mobilenet_v2"])
    ap.add_argument("--levels", nargs="+", type=float)
    ap.add_argument("--rows", nargs="+", default=list(ROWS))
    ap.add_argument("--work", type=Path, default=Path("runs/second_order"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print("| model | sparsity | recipe | dense top-1 | sparse INT8 top-1 | drop | agreement | compress s | peak GB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        dense = export(name, args.work)
        calib = MODELS[name]["calib"]
        test = MODELS[name]["test"]
        levels = args.levels or ([0.4, 0.5] if name == "mobilenet_v2" else [0.5, 0.7])
        for level in levels:
            for row in args.rows:
                out = args.work / f"{name}_{int(level * 100)}_{re.sub(r'[^a-z0-9]+', '_', row.lower()).strip('_')}"
                flags = ROWS[row]
                if flags == ["budget"]:
                    cfg = args.work / "budget.json"
                    cfg.write_text(json.dumps({"compression": {"algorithms": [
                        {"name": "WeightSparsity", "params": {"allocation": "loss"}}]}}))
                    flags = ["-c", cfg]
                cmd = ["compress", dense, "-o", out, "--sparsity", level, "--data", calib, "--int8", *flags]
                if not (out / "report.json").exists():
                    wall, peak = timed_compress(cmd, args.work / f"{out.name}.log")
                    (args.work / f"{out.name}.time.json").write_text(json.dumps({"wall": wall, "peak_gb": peak}))
                t = json.loads((args.work / f"{out.name}.time.json").read_text())
                r = evaluate(out / "model.xml", test, dense)
                print(f"| {name} | {level:.0%} | {row} | {r['reference_top1']:.2f} | {r['top1']:.2f} | "
                      f"{r['reference_top1'] - r['top1']:.2f} | {r['agreement']:.2f} | {t['wall']:.0f} | "
                      f"{t['peak_gb']:.2f} |", flush=True)
                print(f"<!-- {command_line(*cmd)} -->", flush=True)


if __name__ == "__main__":
    main()
