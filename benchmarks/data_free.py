"""Issue-4 table: the whole pipeline (corrections + sequential lstsq tuning + INT8)
calibrated on real images, on FractalDB-style fractals, and on white noise; and the
fractal generation rate.

    python benchmarks/data_free.py [--work runs/data_free]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import cli, command_line, markdown, run_suite  # noqa: E402

PIPELINE = ["--tune", "lstsq", "--int8"]
LEVELS = {"resnet56_cifar10": (0.5, 0.7), "mobilenet_v2": (0.4,)}
SOURCES = ("real", "fractal", "noise")


def generation_rate(work: Path) -> dict:
    out = work / "fractals_500_224"
    shutil.rmtree(out, ignore_errors=True)
    args = ["fractals", "generate", "-n", 500, "--size", 224, "-o", out]
    _, wall = cli(*args)
    shutil.rmtree(out, ignore_errors=True)
    return {"command": command_line(*args), "images": 500, "size": 224, "wall_s": round(wall, 1),
            "images_per_s": round(500 / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="runs/data_free")
    ap.add_argument("--skip-rate", action="store_true")
    args = ap.parse_args()
    work = Path(args.work)
    if not args.skip_rate:
        rate = generation_rate(work)
        print(json.dumps(rate), flush=True)
        (work / "generation.json").parent.mkdir(parents=True, exist_ok=True)
        (work / "generation.json").write_text(json.dumps(rate, indent=1))
    plan = []
    for model, levels in LEVELS.items():
        for level in levels:
            for source in SOURCES:
                data = [] if source == "real" else ["--data", source]  # flags after --data CALIB override it
                plan.append((model, level, f"calibrated on {source}", PIPELINE + data))
    print(markdown(run_suite(plan, work, "results.json")))


if __name__ == "__main__":
    main()
