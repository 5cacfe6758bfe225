"""Issue-4/14 table: the default recipe (second-order pruning + INT8) calibrated on real
images, on FractalDB-style fractals and on white noise, each row one CLI run; and the
fractal generation rate (the whole `fractals generate` command, cold: no cache).

    python benchmarks/data_free.py [--work runs/data_free] [--skip-rate] [--rate-only]

Rows: `ov-sparsity compress DENSE.xml -o OUT --sparsity S --int8 --data SOURCE`, SOURCE the
calibration folder (real), `fractal` or `noise`, then `ov-sparsity eval OUT/model.xml --data TEST
--reference DENSE.xml`. ImageNet models calibrate (real) on ../shared/data/imagenet-unlabelled and
are evaluated on all 500 labelled samples; CIFAR models on cifar10/calib and the 10,000 test images.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import MODELS, cli, command_line, evaluate, export  # noqa: E402

LEVELS = {"resnet56_cifar10": 0.5, "mobilenet_v2": 0.4}
SOURCES = ("real", "fractal", "noise")


def generation_rate(work: Path, runs: int = 3) -> dict:
    out = work / "fractals_500_224"
    args = ["fractals", "generate", "-n", 500, "--size", 224, "-o", out]
    walls = []
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        cli(*args)
        walls.append(time.perf_counter() - t0)
    shutil.rmtree(out, ignore_errors=True)
    wall = sorted(walls)[len(walls) // 2]
    return {"command": command_line(*args), "images": 500, "size": 224, "walls_s": [round(w, 1) for w in walls],
            "median_wall_s": round(wall, 1), "images_per_s": round(500 / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="runs/data_free")
    ap.add_argument("--skip-rate", action="store_true")
    ap.add_argument("--rate-only", action="store_true")
    ap.add_argument("--models", nargs="+", default=list(LEVELS))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if not args.skip_rate:
        rate = generation_rate(work)
        print(json.dumps(rate), flush=True)
        (work / "generation.json").write_text(json.dumps(rate, indent=1))
    if args.rate_only:
        return
    path = work / "results.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    for model in args.models:
        dense = export(model, work)
        test = MODELS[model]["test"]
        for source in SOURCES:
            if any(r["model"] == model and r["source"] == source for r in rows):
                continue
            data = MODELS[model]["calib"] if source == "real" else source
            out = work / "out" / f"{model}_{source}"
            cmd = ["compress", dense, "-o", out, "--sparsity", LEVELS[model], "--int8", "--data", data]
            _, wall = cli(*cmd)
            r = evaluate(out / "model.xml", test, dense)
            rows.append({"model": model, "sparsity": LEVELS[model], "source": source, "dense_top1": r["reference_top1"],
                         "top1": r["top1"], "agreement": r["agreement"], "wall_s": round(wall, 1),
                         "command": command_line(*cmd)})
            path.write_text(json.dumps(rows, indent=1))
            print(json.dumps(rows[-1]), flush=True)
    print("| model | sparsity | calibration | dense FP32 | sparse INT8 | drop | agreement | compress s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['sparsity']:.0%} | {r['source']} | {r['dense_top1']:.2f} | {r['top1']:.2f} | "
              f"{r['dense_top1'] - r['top1']:.2f} | {r['agreement']:.2f} | {r['wall_s']} |")


if __name__ == "__main__":
    main()
