"""Issue-14 fractal fidelity: where do synthetic calibration images differ from natural ones,
and which rendering choices close the gap? For each calibration source (real images, white
noise, fractal variants) on ResNet-56 50% and MobileNetV2 40% (default recipe + INT8):

- per-layer input statistics against real calibration images (standardised mean shift,
  log std ratio, channels alive on real images but dead on synthetic ones, cosine of the
  second-moment matrices), averaged over the model's weighted layers;
- top-1 and agreement with dense on held-out images (CIFAR-10 test 10k; all 500 labelled
  ImageNet samples, calibrating on ../shared/data/imagenet-unlabelled).

    python benchmarks/fractal_fidelity.py [--work runs/fidelity] [--models resnet56_cifar10 mobilenet_v2]
                                          [--variants real noise v1 ...]

Every row runs in this process through `ov_sparsity.api.sparsify` (what `compress --sparsity S
--int8` runs); the variants are FractalOptions fields, so the chosen default is then measured
again through the CLI (benchmarks/data_free.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import MODELS, export  # noqa: E402

LEVEL = {"resnet56_cifar10": 0.5, "mobilenet_v2": 0.4}
PRESET = {"resnet56_cifar10": "cifar10", "mobilenet_v2": "imagenet"}

# FractalOptions overrides per variant ("v1": the options before issue 14)
V1 = {"instances_per_category": 4, "composite": 1, "texture": 0.0, "blur": 0.0, "rotate": 0.0,
      "background": "random", "colour": "random", "tone": "raw"}
TEXTURE = {"background": "texture", "texture": 0.3}
AUGMENT = {"blur": 0.5, "rotate": 30.0}
VARIANTS = {
    "v1": V1,
    "texture": {**V1, **TEXTURE},
    "composite": {**V1, "composite": 3},
    "augment": {**V1, **AUGMENT},
    "many-instances": {**V1, "instances_per_category": 20},
    "tone": {**V1, "tone": "natural"},
    "tone-texture": {**V1, **TEXTURE, "tone": "natural"},
    "all": {**V1, **TEXTURE, **AUGMENT, "composite": 3, "tone": "natural"},
    "tone-augment-composite": {**V1, **AUGMENT, "composite": 3, "tone": "natural"},
    "default": {},
}


def dataset_for(source: str, model: str, n: int, seed: int = 0):
    from ov_sparsity.data import ImageFolder, NoiseDataset, Preprocessing
    from ov_sparsity.data.datasets import random_subset
    from ov_sparsity.data.fractals import FractalDataset, FractalOptions

    pre = Preprocessing.preset(PRESET[model])
    if source == "real":
        return random_subset(ImageFolder(MODELS[model]["calib"], pre), n, seed)
    if source == "noise":
        return NoiseDataset(n, pre, seed=seed)
    return FractalDataset(n, pre, seed=seed, options=FractalOptions(**VARIANTS[source]), progress=False)


def layer_statistics(model, datasets: dict, n: int = 64) -> dict:
    """{source: {metric: mean over layers}} against datasets['real']."""
    from ov_sparsity.data.datasets import Subset
    from ov_sparsity.engine.capture import capture_activations
    from ov_sparsity.graph.weighted import find_weighted_ops

    layers = [op.name for op in find_weighted_ops(model)]
    moments = {}
    for source, ds in datasets.items():
        cap = capture_activations(model, layers, Subset(ds, list(range(min(n, len(ds))))), "input",
                                  budget_bytes=1 << 30, progress=False)
        per = {}
        for name, a in cap.arrays.items():
            x = a.reshape(a.shape[0], a.shape[1], -1).transpose(1, 0, 2).reshape(a.shape[1], -1).astype(np.float64)
            per[name] = (x.mean(1), x.std(1), x @ x.T / x.shape[1])
        moments[source] = per
    real = moments["real"]
    out = {}
    for source, per in moments.items():
        shift, ratio, dead, cos = [], [], [], []
        for name, (m, s, g) in per.items():
            mr, sr, gr = real[name]
            alive = sr > 1e-6
            shift.append(np.mean(np.abs(m - mr)[alive] / sr[alive]))
            ratio.append(np.mean(np.abs(np.log((s[alive] + 1e-6) / sr[alive]))))
            dead.append(np.mean(s[alive] <= 1e-6))
            cos.append(float(np.sum(g * gr) / (np.linalg.norm(g) * np.linalg.norm(gr) + 1e-30)))
        out[source] = {"mean_shift": float(np.mean(shift)), "abs_log_std_ratio": float(np.mean(ratio)),
                       "dead_on_synthetic": float(np.mean(dead)), "gram_cosine": float(np.mean(cos)),
                       "worst_layers_by_shift": [layers for _, layers in sorted(zip(shift, per), reverse=True)[:3]]}
    return out


def main() -> None:
    from ov_sparsity.api import labelled_images, sparsify
    from ov_sparsity.engine.infer import predict
    from ov_sparsity.graph import read_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="runs/fidelity")
    ap.add_argument("--models", nargs="+", default=list(LEVEL))
    ap.add_argument("--variants", nargs="+", default=["real", "noise", *VARIANTS])
    ap.add_argument("--stats-only", action="store_true")
    ap.add_argument("--recipe", default="{}", help="WeightSparsity parameters as JSON, e.g. '{\"damping\": 0.1}'")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "results.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    for model_name in args.models:
        dense_xml = export(model_name, work)
        dense = read_model(dense_xml)
        stats_path = work / f"stats_{model_name}.json"
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        todo = [v for v in args.variants if v not in stats]
        if todo:
            sets = {v: dataset_for(v, model_name, 64) for v in dict.fromkeys(["real", *todo])}
            stats.update(layer_statistics(dense, sets))
            stats_path.write_text(json.dumps(stats, indent=1))
        for v in args.variants:
            print(model_name, v, json.dumps({k: round(x, 4) for k, x in stats[v].items() if isinstance(x, float)}),
                  flush=True)
        if args.stats_only:
            continue
        test = labelled_images(MODELS[model_name]["test"], PRESET[model_name], dense)
        dense_logits, labels = predict(dense, test, progress=False)
        dense_top1 = float(np.mean(dense_logits.argmax(1) == labels) * 100)
        recipe = json.loads(args.recipe)
        for v in args.variants:
            if any(r["model"] == model_name and r["variant"] == v and r.get("recipe", {}) == recipe for r in rows):
                continue
            n = 300 if v in ("real", "noise") else 500  # the CLI's default calibration sizes
            t0 = time.perf_counter()
            ds = dataset_for(v, model_name, n)
            sparse = sparsify(dense, ds, LEVEL[model_name], quantize=True, subset_size=n,
                              preprocessing=PRESET[model_name], progress=False, **recipe)
            wall = time.perf_counter() - t0
            logits, _ = predict(sparse, test, progress=False)
            row = {"model": model_name, "sparsity": LEVEL[model_name], "variant": v, "options": VARIANTS.get(v),
                   "recipe": recipe,
                   "dense_top1": dense_top1, "top1": float(np.mean(logits.argmax(1) == labels) * 100),
                   "agreement": float(np.mean(logits.argmax(1) == dense_logits.argmax(1)) * 100),
                   "wall_s": round(wall, 1), "stats": stats.get(v)}
            rows.append(row)
            path.write_text(json.dumps(rows, indent=1))
            print(json.dumps({k: row[k] for k in ("model", "variant", "dense_top1", "top1", "agreement", "wall_s")}),
                  flush=True)
    print("\n| model | calibration | top-1 (dense) | drop | agreement | mean shift | log std ratio | dead | "
          "Gram cosine |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["stats"] or {}
        label = r["variant"] + (" " + json.dumps(r["recipe"]) if r.get("recipe") else "")
        print(f"| {r['model']} | {label} | {r['top1']:.2f} ({r['dense_top1']:.2f}) | "
              f"{r['dense_top1'] - r['top1']:.2f} | {r['agreement']:.2f} | {s.get('mean_shift', 0):.3f} | "
              f"{s.get('abs_log_std_ratio', 0):.3f} | {s.get('dead_on_synthetic', 0):.3f} | "
              f"{s.get('gram_cosine', 0):.3f} |")


if __name__ == "__main__":
    main()
