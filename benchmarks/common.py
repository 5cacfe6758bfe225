"""Shared helpers for benchmark harnesses: run the CLI, export zoo models, split data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

MODELS = {
    "resnet20_cifar10": {"weights": SHARED / "models/cifar10/resnet20-12fca82f.th",
                         "calib": SHARED / "data/cifar10/calib", "test": SHARED / "data/cifar10/test"},
    "resnet56_cifar10": {"weights": SHARED / "models/cifar10/resnet56-4bfd9763.th",
                         "calib": SHARED / "data/cifar10/calib", "test": SHARED / "data/cifar10/test"},
    # ImageNet: calibrate on the unlabelled images, evaluate on all 500 labelled samples
    "mobilenet_v2": {"weights": SHARED / "models/imagenet/mobilenet_v2-b0353104.pth",
                     "calib": SHARED / "data/imagenet-unlabelled", "test": SHARED / "data/imagenet-samples"},
}


def cli(*args, quiet=True, peak=False):
    """Run `ov-sparsity ARGS` in a fresh process; (stdout, wall seconds), and with peak=True also the
    process's peak memory (max RSS, GB, through /usr/bin/time). Fails loudly."""
    cmd = [sys.executable, "-m", "ov_sparsity.cli"] + (["-q"] if quiet else []) + [str(a) for a in args]
    if peak:
        cmd = ["/usr/bin/time", "-f", "PEAK_KB %M"] + cmd
    env = dict(os.environ, OV_SPARSITY_PROGRESS="0")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    if peak:
        import re

        return proc.stdout, wall, int(re.findall(r"PEAK_KB (\d+)", proc.stderr)[-1]) / (1 << 20)
    return proc.stdout, wall


def command_line(*args) -> str:
    return "ov-sparsity " + " ".join(str(a) for a in args)


def export(name: str, work: Path) -> Path:
    xml = work / "models" / f"{name}.xml"
    if not xml.exists():
        if not SHARED.exists():
            sys.exit(f"../shared is absent ({SHARED}): the benchmarks need its weights and images")
        cli("zoo", "export", name, "--weights", MODELS[name]["weights"], "-o", xml)
    return xml


def evaluate(xml: Path, data: Path, reference: Path | None = None) -> dict:
    args = ["eval", xml, "--data", data, "--json"] + (["--reference", reference] if reference else [])
    out, _ = cli(*args)
    return json.loads(out.strip().splitlines()[-1])


def split_imagenet_samples(work: Path) -> tuple[Path, Path]:
    """Two halves of the ImageNet samples (sorted files: even -> calib, odd -> eval) as
    folders of symlinks with the synsets file: nothing is copied."""
    src = SHARED / "data/imagenet-samples"
    files = sorted((src / "images").iterdir())
    halves = []
    for part, chosen in (("calib", files[0::2]), ("eval", files[1::2])):
        root = work / "data" / f"imagenet-samples-{part}"
        if not root.exists():
            (root / "images").mkdir(parents=True)
            for f in chosen:
                (root / "images" / f.name).symlink_to(f)
            (root / "synsets.txt").symlink_to(src / "synsets.txt")
        halves.append(root)
    return halves[0], halves[1]


def run_variant(model: str, dense: Path, out: Path, level: float, calib: Path, flags: list, tests: dict,
                dense_acc: dict, label: str) -> dict:
    """One `compress` run through the CLI, evaluated on every test set against the dense model."""
    args = ["compress", dense, "-o", out, "--sparsity", level, "--data", calib, *flags]
    _, wall = cli(*args)
    report = json.loads((out / "report.json").read_text())
    accs = {k: evaluate(out / "model.xml", d, dense) for k, d in tests.items()}
    return {"model": model, "sparsity": level, "variant": label, "wall_s": round(wall, 1),
            "global_sparsity": report["global_sparsity"], "dense_top1": dense_acc,
            "top1": {k: a["top1"] for k, a in accs.items()}, "agreement": {k: a["agreement"] for k, a in accs.items()},
            "command": command_line(*args), "report": {k: report["algorithm_reports"].get(k) for k in
                                                       ("WeightSparsity", "LayerwiseFinetuning")}}


def data_for(name: str, work: Path) -> tuple[Path, dict]:
    """Calibration folder and {label: test folder}. MobileNetV2: calibrate on one half of the
    ImageNet samples, evaluate on the other half."""
    if name == "mobilenet_v2":
        calib, held_out = split_imagenet_samples(work)
        return calib, {"held-out 250": held_out}
    return MODELS[name]["calib"], {"test 10k": MODELS[name]["test"]}


def markdown(rows: list) -> str:
    lines = ["| model | sparsity | variant | eval set | dense FP32 | sparse | drop | agreement | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for k in r["top1"]:
            lines.append(f"| {r['model']} | {r['sparsity']:.0%} | {r['variant']} | {k} | {r['dense_top1'][k]:.2f} | "
                         f"{r['top1'][k]:.2f} | {r['dense_top1'][k] - r['top1'][k]:.2f} | {r['agreement'][k]:.1f} | "
                         f"{r['wall_s']} |")
    return "\n".join(lines)


def run_suite(plan: list, work: Path, results_name: str) -> list:
    """plan: [(model, level, label, flags)]. Appends to WORK/results_name as it goes (resumable)."""
    path = work / results_name
    rows = json.loads(path.read_text()) if path.exists() else []
    done = {(r["model"], r["sparsity"], r["variant"]) for r in rows}
    dense_cache: dict = {}
    for model, level, label, flags in plan:
        if (model, level, label) in done:
            continue
        dense = export(model, work)
        calib, tests = data_for(model, work)
        if model not in dense_cache:
            dense_cache[model] = {k: evaluate(dense, d)["top1"] for k, d in tests.items()}
        slug = f"{model}_{int(round(level * 100))}_{''.join(c if c.isalnum() else '_' for c in label)}"
        row = run_variant(model, dense, work / "out" / slug, level, calib, flags, tests, dense_cache[model], label)
        rows.append(row)
        path.write_text(json.dumps(rows, indent=1))
        print(json.dumps({k: row[k] for k in ("model", "sparsity", "variant", "wall_s", "top1", "dense_top1")}),
              flush=True)
    return rows


IMAGENET_TESTS = (SHARED / "data/imagenet-samples", SHARED / "data/imagenet-val227")


def paired(dense_xml: Path, model_xml: Path, folders=IMAGENET_TESTS, resamples: int = 2000, seed: int = 0,
           cache: dict | None = None) -> dict:
    """Top-1 of the dense and the compressed model on the same images pooled over `folders`, the paired
    drop with a bootstrap 95% interval (images resampled), and top-1 agreement with the dense model.
    cache: {folder: dense logits} reused across calls."""
    import numpy as np

    from ov_sparsity.api import labelled_images
    from ov_sparsity.engine.infer import predict
    from ov_sparsity.graph import read_model

    dense, model = read_model(dense_xml), read_model(model_xml)
    d_all, m_all, y_all = [], [], []
    for folder in folders:
        data = labelled_images(folder, None, dense)
        key = (str(dense_xml), str(folder))
        if cache is not None and key in cache:
            d_logits, labels = cache[key]
        else:
            d_logits, labels = predict(dense, data, progress=False)
            if cache is not None:
                cache[key] = (d_logits, labels)
        m_logits, _ = predict(model, data, progress=False)
        d_all.append(d_logits.argmax(1))
        m_all.append(m_logits.argmax(1))
        y_all.append(labels)
    d, m, y = np.concatenate(d_all), np.concatenate(m_all), np.concatenate(y_all)
    dc, mc = (d == y).astype(float), (m == y).astype(float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(resamples, len(y)))
    drops = 100 * (dc[idx].mean(1) - mc[idx].mean(1))
    per_set, start = {}, 0
    for folder, labels in zip(folders, y_all):
        sl = slice(start, start + len(labels))
        per_set[Path(folder).name] = {"dense": round(100 * dc[sl].mean(), 2), "top1": round(100 * mc[sl].mean(), 2),
                                      "agreement": round(100 * float((d[sl] == m[sl]).mean()), 2)}
        start += len(labels)
    return {"n": int(len(y)), "dense_top1": round(100 * dc.mean(), 2), "top1": round(100 * mc.mean(), 2),
            "drop": round(100 * (dc.mean() - mc.mean()), 2),
            "drop_ci95": [round(float(np.percentile(drops, 2.5)), 2), round(float(np.percentile(drops, 97.5)), 2)],
            "agreement": round(100 * float((d == m).mean()), 2), "sets": per_set}
