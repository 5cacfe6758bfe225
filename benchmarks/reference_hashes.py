"""The model.bin sha256 of a handful of reference commands, recorded or checked: a restructuring that keeps
behaviour gives the same bytes. Threads are pinned (--threads 2): the thread count changes the bytes.

    python benchmarks/reference_hashes.py --record benchmarks/reference_hashes.json
    python benchmarks/reference_hashes.py --check benchmarks/reference_hashes.json [--only NAME,NAME]

Needs ../shared (ResNet-56/20 weights, CIFAR-10 calibration images); NeuMF trains from RecBole's MovieLens-100k.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CALIB = str(SHARED / "data/cifar10/calib")
PIN = ["--threads", "2"]


def _cli(*args) -> None:
    subprocess.run([sys.executable, "-m", "ov_sparsity", "-q", *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def _models(work: Path) -> dict:
    models = {}
    for name, weights in (("resnet56_cifar10", "resnet56-4bfd9763.th"), ("resnet20_cifar10", "resnet20-12fca82f.th")):
        xml = work / f"{name}.xml"
        if not xml.exists():
            _cli("zoo", "export", name, "--weights", str(SHARED / "models/cifar10" / weights), "-o", str(xml))
        models[name] = str(xml)
    ncf = work / "ncf.xml"
    if not ncf.exists():
        _cli("zoo", "export", "ncf_movielens100k", "-o", str(ncf))
    models["ncf"] = str(ncf)
    return models


def commands(m: dict, work: Path) -> dict:
    """name -> compress arguments (the output folder is added)."""
    config = {
        "model": {"model": m["resnet56_cifar10"]},
        "engine": {"type": "simplified", "data_source": CALIB, "preprocessing": "cifar10", "subset_size": 300},
        "compression": {"algorithms": [
            {"name": "WeightSparsity", "params": {"sparsity_level": 0.5, "method": "magnitude",
                                                  "use_layerwise_tuning": True, "tuning_method": "lstsq"}},
            {"name": "DefaultQuantization", "params": {"preset": "performance"}}]}}
    (work / "pot.json").write_text(json.dumps(config))
    return {
        "fast magnitude r56 50% int8": [m["resnet56_cifar10"], "--sparsity", "0.5", "--fast", "--int8", "--data",
                                        CALIB],
        "default r56 50% int8 (recovery)": [m["resnet56_cifar10"], "--sparsity", "0.5", "--int8", "--data", CALIB],
        "udfc r20 30% 6-bit": [m["resnet20_cifar10"], "--udfc", "--prune-ratio", "0.3", "--weight-bits", "6",
                               "--recovery", "none"],
        "ncf 70% int8": [m["ncf"], "--sparsity", "0.7", "--int8", "--data", "ratings"],
        "pot config (lstsq tuning) r56": ["-c", str(work / "pot.json")],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--record")
    group.add_argument("--check")
    ap.add_argument("--only", help="comma-separated names to run")
    ap.add_argument("--work", default="runs/reference")
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs ../shared; not found at {SHARED}")
    work = (ROOT / args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cmds = commands(_models(work), work)
    names = args.only.split(",") if args.only else list(cmds)
    hashes = {}
    for i, name in enumerate(names):
        out = work / f"out{i}"
        t0 = time.perf_counter()
        _cli("compress", *cmds[name], "-o", str(out), *PIN)
        hashes[name] = hashlib.sha256((out / "model.bin").read_bytes()).hexdigest()
        print(f"{name:36s} {hashes[name][:16]}  {time.perf_counter() - t0:.0f} s", flush=True)
    if args.record:
        Path(args.record).write_text(json.dumps(hashes, indent=1) + "\n")
        return
    expected = json.loads(Path(args.check).read_text())
    changed = [n for n in hashes if expected.get(n) != hashes[n]]
    print("same bytes" if not changed else f"CHANGED: {', '.join(changed)}")
    sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()
