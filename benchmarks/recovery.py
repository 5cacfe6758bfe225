"""Issue 20: recovery beyond the layer, one ablation table per model (docs/results.md).

Rows, every one `ov-sparsity compress DENSE.xml -o OUT --sparsity S --data CALIB --int8 [FLAGS]`:
  per-layer only      --recovery none              (the default before issue 20)
  + block             --recovery block
  + whole-model       (no flag: the default, --recovery auto -> model on real images)
  + block, then whole-model   --recovery block+model
  + measured budgets  --allocation measured
Sparse INT8 against dense FP32 on the same images: CIFAR on the 10k test set; ImageNet pooled over
imagenet-samples + imagenet-val227 (1,150) with a bootstrap 95% interval of the paired drop and top-1
agreement. Wall time and peak memory (max RSS) are the compress process's own.

    python benchmarks/recovery.py --work runs/recovery [--models mobilenet_v2 ...] [--variants ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import IMAGENET_TESTS, MODELS, cli, command_line, evaluate, export, paired  # noqa: E402

VARIANTS = {
    "per-layer only": ["--recovery", "none"],
    "+ block": ["--recovery", "block"],
    "+ whole-model (default)": [],
    "+ block, then whole-model": ["--recovery", "block+model"],
    "+ measured budgets": ["--allocation", "measured"],
}
PLAN = [("resnet56_cifar10", 0.5), ("resnet56_cifar10", 0.7), ("resnet20_cifar10", 0.7),
        ("mobilenet_v2", 0.4), ("mobilenet_v2", 0.5)]


def measure(name: str, dense: Path, out: Path, cache: dict) -> dict:
    if name == "mobilenet_v2":
        return paired(dense, out / "model.xml", IMAGENET_TESTS, cache=cache)
    r = evaluate(out / "model.xml", MODELS[name]["test"], dense)
    return {"n": 10000, "dense_top1": r["reference_top1"], "top1": r["top1"],
            "drop": round(r["reference_top1"] - r["top1"], 2), "agreement": round(r["agreement"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="runs/recovery")
    ap.add_argument("--models", nargs="*")
    ap.add_argument("--variants", nargs="*")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "results.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {(r["model"], r["sparsity"], r["variant"]) for r in rows}
    cache: dict = {}
    for name, level in PLAN:
        if args.models and name not in args.models:
            continue
        dense = export(name, work)
        for variant, flags in VARIANTS.items():
            if (args.variants and variant not in args.variants) or (name, level, variant) in done:
                continue
            slug = f"{name}_{int(level * 100)}_{re.sub(r'[^a-z]+', '_', variant)}"
            out = work / "out" / slug
            cmd = ["compress", dense, "-o", out, "--sparsity", level, "--data", MODELS[name]["calib"], "--int8",
                   *flags]
            _, wall, peak = cli(*cmd, peak=True)
            report = json.loads((out / "report.json").read_text())
            rec = report["algorithm_reports"].get("Recovery") or {}
            row = {"model": name, "sparsity": level, "variant": variant, "command": command_line(*cmd),
                   "wall_s": round(wall, 1), "peak_gb": round(peak, 2), **measure(name, dense, out, cache),
                   "held_out_loss": [rec.get("held_out_loss_start"), rec.get("held_out_loss_end")],
                   "recovery_lr": rec.get("lr"), "global_sparsity": report["global_sparsity"]}
            rows.append(row)
            path.write_text(json.dumps(rows, indent=1))
            print(json.dumps({k: row[k] for k in ("model", "sparsity", "variant", "wall_s", "peak_gb", "top1",
                                                  "drop", "agreement")}), flush=True)
    print(table(rows))


def table(rows: list) -> str:
    lines = ["| model | sparsity | variant | dense FP32 | sparse INT8 | drop (95% CI) | agreement | held-out loss "
             "(start → end) | wall s | peak GB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = f" [{r['drop_ci95'][0]:.2f}, {r['drop_ci95'][1]:.2f}]" if "drop_ci95" in r else ""
        hl = r.get("held_out_loss") or [None, None]
        held = f"{hl[0]:.4f} → {hl[1]:.4f}" if hl[0] is not None else "–"
        lines.append(f"| {r['model']} | {r['sparsity']:.0%} | {r['variant']} | {r['dense_top1']:.2f} | "
                     f"{r['top1']:.2f} | {r['drop']:.2f}{ci} | {r['agreement']:.2f} | {held} | {r['wall_s']} | "
                     f"{r['peak_gb']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
