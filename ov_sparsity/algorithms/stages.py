"""What each stage of a combined recipe bought (channels removed, then sparsity, then INT8).

After every algorithm that changes what the model computes or how fast it runs (channel pruning,
UDFC, sparsity, recovery, INT8) the model as it stands is kept; at the end each one is measured
against the dense model:
- accuracy: top-1 on the eval data where the run has it (`--eval-data`), and always top-1 agreement
  and the output KL (a classifier; the normalised MSE otherwise) against the dense model on the
  calibration images held out from every algorithm (`holdout_count`), else on up to `samples`
  calibration inputs the algorithms saw (an upper bound of what held-out data gives: labelled as such).
- speed: latency at the latency batch, all stages and the dense model interleaved; where a stage is
  INT8, the dense model quantized the same way is timed beside them too.
Only runs with at least two kinds of change (channels, sparsity, INT8) are staged, and only models
with one input (images; text models, with several inputs of a dynamic length, are not).

`held_out_check`: the output model against the dense one on the held-out calibration images, for every
run with an image folder of at least HOLDOUT_MIN images: the accuracy estimate a user without labels gets.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import Context, log

RUNS = 400  # timed runs per model, at most seconds/2 each
# A calibration folder of at least HOLDOUT_MIN images keeps HOLDOUT_SHARE of them (at most HOLDOUT_MAX) from
# every algorithm, to measure the output on: 1,000 images -> 100 held out, agreement good to about +-9 points
# at 60% and +-4 at 95% (Wilson 95%); the algorithms fit 900 (their results move by less than run-to-run noise)
HOLDOUT_MIN, HOLDOUT_SHARE, HOLDOUT_MAX = 300, 0.1, 200
KINDS = {"ChannelPruning": "channels", "UDFC": "channels", "WeightSparsity": "sparsity",
         "MagnitudeSparsity": "sparsity", "DefaultQuantization": "INT8", "Recovery": "recovery"}


def holdout_count(n: int, asked: Optional[int] = None) -> int:
    """How many of `n` calibration images are held out: `asked` where given (0: none), else HOLDOUT_SHARE of
    them from HOLDOUT_MIN images on."""
    if asked is not None:
        if asked >= n:
            from ov_sparsity.errors import OvSparsityError

            raise OvSparsityError(f"engine.holdout {asked} leaves no calibration images (the run has {n}): give "
                                  f"fewer than {n}, or 0")
        return int(asked)
    return min(HOLDOUT_MAX, int(n * HOLDOUT_SHARE)) if n >= HOLDOUT_MIN else 0


def split_holdout(dataset, n_hold: int, seed: int) -> tuple:
    """(the images the algorithms get, the `n_hold` held out) of `dataset`, a seeded choice, index order."""
    from ov_sparsity.data.datasets import Subset

    order = np.random.default_rng([seed, 2]).permutation(len(dataset))
    return Subset(dataset, np.sort(order[n_hold:]).tolist()), Subset(dataset, np.sort(order[:n_hold]).tolist())


def wilson(hits: int, n: int, z: float = 1.96) -> list:
    """The Wilson 95% interval of a proportion, in percent."""
    if n == 0:
        return [0.0, 100.0]
    p = hits / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(100 * max(0.0, mid - half), 2), round(100 * min(1.0, mid + half), 2)]


def loss_kind(classifier: bool) -> str:
    return "KL to the dense model" if classifier else "normalised MSE to the dense model"


def held_out_check(dense: ov.Model, model: ov.Model, values: np.ndarray,
                   reference: Optional[np.ndarray] = None) -> dict:
    """`model` against `dense` on held-out inputs (`reference`: dense's outputs on them, where known): output
    loss, and for a classifier top-1 agreement with its Wilson 95% interval."""
    from ov_sparsity.algorithms.recovery.losses import is_classifier
    from ov_sparsity.algorithms.structured.sensitivity import output_loss
    from ov_sparsity.engine.infer import first_output

    classifier = is_classifier(dense)
    reference = first_output(dense, values) if reference is None else reference
    out = first_output(model, values)
    row = {"samples": int(len(values)), "output_loss": output_loss(out, reference, classifier),
           "output_loss_kind": loss_kind(classifier)}
    if classifier:
        hits = int(np.sum(out.argmax(1) == reference.argmax(1)))
        row.update(agreement=100.0 * hits / len(values), agreement_ci95=wilson(hits, len(values)))
    return row


def staged(names: list) -> bool:
    """Whether a pipeline of these algorithms gets a per-stage report."""
    return len({KINDS[n] for n in names if n in KINDS} - {"recovery"}) >= 2


class StageProbe:
    """Collects the model after each staged algorithm; `report()` measures them all."""

    def __init__(self, latency_batch: int = 1, samples: int = 128, seconds: float = 12.0):
        self.latency_batch, self.samples, self.seconds = latency_batch, samples, seconds
        self.stages: list = []  # (algorithm name, model clone)
        self.quantizer = None

    def after(self, algo, model: ov.Model) -> None:
        if algo.name not in KINDS:
            return
        if algo.name == "DefaultQuantization":
            self.quantizer = algo
        self.stages.append((algo.name, model.clone()))

    def report(self, ctx: Context, held: Optional[np.ndarray] = None,
               held_reference: Optional[np.ndarray] = None) -> Optional[dict]:
        """`held`: inputs no algorithm saw, to measure on instead of the calibration set (`held_reference`:
        the dense model's outputs on them, where the caller has them)."""
        if not self.stages or ctx.dataset is None:
            return None
        from ov_sparsity.algorithms.recovery.losses import is_classifier
        from ov_sparsity.data.datasets import as_array
        from ov_sparsity.engine.infer import first_output
        from ov_sparsity.engine.latency import interleaved_latency

        t0 = time.perf_counter()
        dense = ctx.original
        use_held = held is not None and len(held) > 0
        if use_held:
            values = held
        else:
            values = as_array(ctx.dataset, np.sort(np.random.default_rng(ctx.seed).permutation(len(ctx.dataset))
                                                  [:self.samples]))
        if isinstance(values, dict):  # a text model: several inputs of a dynamic length, not staged (yet)
            log.info("stage report: not for models with several inputs")
            return None
        classifier = is_classifier(dense)
        reference = held_reference if use_held and held_reference is not None else first_output(dense, values)
        timed = [("dense FP32", dense)]
        if self.quantizer is not None:
            dense_q = self.quantizer.apply(dense.clone(), Context(dense_model=dense, dataset=ctx.dataset,
                                                                  seed=ctx.seed, progress=False))
            timed.append(("dense INT8", dense_q))
        timed += self.stages
        log.info("stage report: timing %d models interleaved", len(timed))
        once = interleaved_latency([dense], seconds=0.2, rounds=1, batch=self.latency_batch)[0]["median_ms"]
        seconds = float(np.clip(RUNS * once / 1e3, 0.2, self.seconds / 2)) * len(timed)  # ~RUNS runs each
        lat = interleaved_latency([m for _, m in timed], seconds=seconds, rounds=10, batch=self.latency_batch)
        rows = []
        for (name, model), t in zip(timed, lat):
            row = {"stage": name, "median_ms": t["median_ms"], "p10_ms": t["p10_ms"], "p90_ms": t["p90_ms"],
                   "speedup_vs_dense_fp32": lat[0]["median_ms"] / t["median_ms"]}
            if self.quantizer is not None:
                row["speedup_vs_dense_int8"] = lat[1]["median_ms"] / t["median_ms"]
            if name != "dense FP32":
                check = held_out_check(dense, model, values, reference)
                row["output_loss"] = check["output_loss"]
                if classifier:
                    row["agreement_calibration"] = check["agreement"]
            if ctx.eval_dataset is not None and classifier:
                from ov_sparsity.engine.evaluate import evaluate

                row["top1_eval"] = evaluate(model, ctx.eval_dataset, progress=False).get("top1")
            rows.append(row)
        return {"latency_batch": self.latency_batch, "calibration_samples": int(len(values)), "held_out": use_held,
                "synthetic": bool(getattr(ctx.dataset, "synthetic", False)),
                "output_loss": loss_kind(classifier),
                "note": ("agreement on calibration images held out from every algorithm" if use_held else
                         "agreement on calibration inputs the algorithms saw: an upper bound of held-out agreement"),
                "stages": rows, "seconds": time.perf_counter() - t0}
