"""What each stage of a combined recipe bought (channels removed, then sparsity, then INT8).

After every algorithm that changes what the model computes or how fast it runs (channel pruning,
UDFC, sparsity, recovery, INT8) the model as it stands is kept; at the end each one is measured
against the dense model:
- accuracy: top-1 on the eval data where the run has it (`--eval-data`), and always top-1 agreement
  and the output KL (a classifier; the normalised MSE otherwise) against the dense model on up to
  `samples` calibration inputs. These inputs were seen by the algorithms, so agreement on them is an
  upper bound of what held-out data gives: it is labelled as such.
- speed: latency at the latency batch, all stages and the dense model interleaved; where a stage is
  INT8, the dense model quantized the same way is timed beside them too.
Only runs with at least two kinds of change (channels, sparsity, INT8) are staged, and only models
with one input (images; text models, with several inputs of a dynamic length, are not).
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import Context, log

RUNS = 400  # timed runs per model, at most seconds/2 each
KINDS = {"ChannelPruning": "channels", "UDFC": "channels", "WeightSparsity": "sparsity",
         "MagnitudeSparsity": "sparsity", "DefaultQuantization": "INT8", "Recovery": "recovery"}


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

    def report(self, ctx: Context) -> Optional[dict]:
        if not self.stages or ctx.dataset is None:
            return None
        from ov_sparsity.algorithms.recovery.losses import is_classifier
        from ov_sparsity.algorithms.structured.sensitivity import output_loss
        from ov_sparsity.data.datasets import as_array
        from ov_sparsity.engine.infer import first_output
        from ov_sparsity.engine.latency import interleaved_latency

        t0 = time.perf_counter()
        dense = ctx.original
        order = np.random.default_rng(ctx.seed).permutation(len(ctx.dataset))[:self.samples]
        values = as_array(ctx.dataset, np.sort(order))
        if isinstance(values, dict):  # a text model: several inputs of a dynamic length, not staged (yet)
            log.info("stage report: not for models with several inputs")
            return None
        classifier = is_classifier(dense)
        reference = first_output(dense, values)
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
                out = first_output(model, values)
                row["output_loss"] = output_loss(out, reference, classifier)
                if classifier:
                    row["agreement_calibration"] = float(100 * np.mean(out.argmax(1) == reference.argmax(1)))
            if ctx.eval_dataset is not None and classifier:
                from ov_sparsity.engine.evaluate import evaluate

                row["top1_eval"] = evaluate(model, ctx.eval_dataset, progress=False).get("top1")
            rows.append(row)
        return {"latency_batch": self.latency_batch, "calibration_samples": int(len(order)),
                "synthetic": bool(getattr(ctx.dataset, "synthetic", False)),
                "output_loss": "KL to the dense model" if classifier else "normalised MSE to the dense model",
                "note": "agreement on calibration inputs the algorithms saw: an upper bound of held-out agreement",
                "stages": rows, "seconds": time.perf_counter() - t0}
