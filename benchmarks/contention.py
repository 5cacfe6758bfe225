"""A compress run alone, beside one busy core, and beside a second compress: wall time, recovery seconds per
step and the model.bin bytes of each (a benchmark, not a test; run it with nothing else on the machine).

    python benchmarks/contention.py [--work DIR] [--sparsity 0.5] [--threads N] [--scenarios alone,busy,pair]

The busy core is a Python loop pinned to the last CPU this process may use. Each scenario's command is the
default recipe: `ov-sparsity compress resnet56_cifar10.xml -o OUT --sparsity S --int8 --data cifar10/calib`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BUSY = "import time\nwhile True:\n    pass\n"


def _cli(*args) -> list:
    return [sys.executable, "-m", "ov_sparsity", "-q", *args]


def _model(work: Path) -> Path:
    xml = work / "resnet56_cifar10.xml"
    if not xml.exists():
        subprocess.run(_cli("zoo", "export", "resnet56_cifar10", "--weights",
                            str(SHARED / "models/cifar10/resnet56-4bfd9763.th"), "-o", str(xml)), check=True)
    return xml


def _compress(xml: Path, out: Path, sparsity: float, threads) -> subprocess.Popen:
    args = ["compress", str(xml), "-o", str(out), "--sparsity", str(sparsity), "--int8", "--data",
            str(SHARED / "data/cifar10/calib")]
    if threads:
        args += ["--threads", str(threads)]
    return subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL)


def _result(out: Path, wall: float) -> dict:
    report = json.loads((out / "report.json").read_text())
    recovery = (report["algorithm_reports"].get("WeightSparsity") or {}).get("recovery") or {}
    steps = recovery.get("steps") or 0
    return {"wall_s": round(wall, 1), "recovery_s": recovery.get("seconds"), "steps": steps,
            "s_per_step": round(recovery["seconds"] / steps, 2) if steps else None,
            "threads": report.get("threads", {}).get("threads"),
            "sha256": hashlib.sha256((out / "model.bin").read_bytes()).hexdigest()[:16]}


def run(scenario: str, xml: Path, work: Path, sparsity: float, threads) -> dict:
    outs = [work / f"{scenario}-a", work / f"{scenario}-b"]
    helper = None
    if scenario == "busy":
        cpu = max(os.sched_getaffinity(0))
        helper = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", BUSY])
    t0 = time.perf_counter()
    procs = [_compress(xml, outs[0], sparsity, threads)]
    if scenario == "pair":
        procs.append(_compress(xml, outs[1], sparsity, threads))
    walls = []
    for p in procs:
        if p.wait():
            raise SystemExit(f"{scenario}: compress failed")
        walls.append(time.perf_counter() - t0)
    if helper is not None:
        helper.kill()
    return _result(outs[0], walls[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="runs/contention")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--scenarios", default="alone,busy,pair")
    args = ap.parse_args()
    if not (SHARED / "models/cifar10/resnet56-4bfd9763.th").is_file():
        raise SystemExit(f"needs ../shared (ResNet-56 weights and CIFAR-10 calibration images); not found at {SHARED}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    xml = _model(work)
    rows = {}
    for scenario in args.scenarios.split(","):
        rows[scenario] = run(scenario, xml, work, args.sparsity, args.threads)
        print(scenario, json.dumps(rows[scenario]), flush=True)
    if "alone" in rows:
        base = rows["alone"]["wall_s"]
        for name, r in rows.items():
            print(f"{name:6s} {r['wall_s']:7.1f} s  x{r['wall_s'] / base:.2f} of alone  "
                  f"recovery {r['s_per_step']} s/step  threads {r['threads']}  bin {r['sha256']}")
        print("same bytes:", len({r["sha256"] for r in rows.values()}) == 1)
    (work / "contention.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
