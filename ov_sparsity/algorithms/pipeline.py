"""The pipeline: run a list of algorithms; dense-model statistics collected once."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import Algorithm, Context, create_algorithm, log
from ov_sparsity.data.datasets import Dataset, cached
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.model_io import quantized_ops
from ov_sparsity.graph.weighted import find_weighted_ops


@dataclass
class PipelineResult:
    model: ov.Model
    context: Context
    timings_s: dict = field(default_factory=dict)


class Pipeline:
    def __init__(self, algorithms: list[Algorithm]):
        self.algorithms = list(algorithms)
        self._checked = None  # the model check() last passed: run() does not check it again

    @classmethod
    def from_specs(cls, specs: list[dict]) -> "Pipeline":
        """specs: [{name, params}] as in a POT config's compression.algorithms."""
        return cls([create_algorithm(s["name"], s.get("params")) for s in specs])

    def check(self, model: ov.Model) -> None:
        """What every run needs of its input: not quantized already; ignored scopes that name real layers."""
        quantized = quantized_ops(model)
        if quantized:
            raise OvSparsityError(f"the model is already quantized ({quantized} FakeQuantize or 8-bit weight ops): "
                                  "give the floating-point model (--int8 quantizes after pruning)")
        bad = non_finite_layer(model)
        if bad:
            raise OvSparsityError(f"the model's weights hold NaN or infinity (layer {bad}): give a model with "
                                  "finite weights")
        for algo in self.algorithms:
            scope = getattr(algo.params, "ignored_scope", None)
            if scope:
                scope.validate(model, algo.name)
            algo.check(model)
        self._checked = model

    def run(self, model: ov.Model, dataset: Dataset | None, seed: int = 0, target_device: str = "CPU",
            progress: bool = True, eval_dataset: Dataset | None = None, preprocessing=None,
            stages=None) -> PipelineResult:
        """The input model is never modified: algorithms work on a clone. The calibration
        images are decoded once and kept in memory when they fit. `stages` (a stages.StageProbe) sees the
        model after every algorithm."""
        if self._checked is not model:
            self.check(model)
        if dataset is not None:
            dataset = cached(dataset, progress=progress)
        ctx = Context(dense_model=model, dataset=dataset, seed=seed, target_device=target_device,
                      progress=progress, eval_dataset=eval_dataset, preprocessing=preprocessing)
        timings = {}
        requests = [r for algo in self.algorithms for r in algo.statistics(model)]
        if requests:
            t0 = time.perf_counter()
            ctx.ensure_statistics(requests)
            timings["statistics"] = time.perf_counter() - t0
        current = model.clone()
        for i, algo in enumerate(self.algorithms):
            t0 = time.perf_counter()
            log.info("running %s", algo.name)
            current = algo.apply(current, ctx)
            if stages is not None:
                stages.after(algo, current)
            if i + 1 < len(self.algorithms) and shapes_changed(ctx.dense_model, current):
                ctx.rebase(current.clone())  # channels removed: sparsity, recovery, INT8 work from here
            key = algo.name if algo.name not in timings else f"{algo.name}#{i}"
            timings[key] = time.perf_counter() - t0
        bad = non_finite_layer(current)
        if bad:  # the last guard: a NaN model is never handed back, whatever caused it
            raise OvSparsityError(f"compression gave non-finite weights (layer {bad}): the calibration inputs "
                                  "are not finite or far out of range (check the data and its preprocessing)")
        return PipelineResult(current, ctx, timings)


def non_finite_layer(model: ov.Model):
    """The name of the first weighted layer whose weights or bias hold NaN or infinity, else None."""
    for op in find_weighted_ops(model):
        for values in (op.weight(), op.bias()):
            if values is not None and not np.isfinite(values).all():
                return op.name
    return None


def shapes_changed(before: ov.Model, after: ov.Model) -> bool:
    """Whether a weighted layer of `before` is gone from `after` or has another weight shape."""
    now = {op.name: op.weight_shape() for op in find_weighted_ops(after)}
    return any(now.get(op.name) != op.weight_shape() for op in find_weighted_ops(before))
