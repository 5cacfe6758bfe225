"""Compile a model on CPU and run it over a dataset in batches."""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np
import openvino as ov

from ov_sparsity.data import inputs
from ov_sparsity.data.datasets import Dataset, iter_batches
from ov_sparsity.graph.batch import free_batch
from ov_sparsity.graph.model_io import core

DEFAULT_BATCH = 32


def with_dynamic_batch(model: ov.Model) -> ov.Model:
    """A clone whose inputs accept any batch size. A model whose graph pins its batch (Reshape constants
    traced at batch 1) is freed where that is proven right (graph.batch.free_batch), else the clone keeps
    its own static batch and every engine path runs it at that batch."""
    if all(p.get_partial_shape().rank.is_static and len(p.get_partial_shape()) and p.get_partial_shape()[0].is_dynamic
           for p in model.get_parameters()):
        return model.clone()
    freed = free_batch(model)
    return freed if freed is not None else model.clone()


def batch_is_dynamic(model: ov.Model) -> bool:
    ps = model.input(0).get_partial_shape()
    return ps.rank.is_static and len(ps) > 0 and ps[0].is_dynamic


def input_hw(model: ov.Model) -> Optional[tuple]:
    ps = model.input(0).get_partial_shape()
    if ps.rank.is_static and len(ps) == 4 and ps[2].is_static and ps[3].is_static:
        return (ps[2].get_length(), ps[3].get_length())
    return None


def compile_model(model: ov.Model, hint: str = "LATENCY", extra: dict | None = None) -> ov.CompiledModel:
    config = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": "f32"}
    config.update(extra or {})
    return core().compile_model(model, "CPU", config)


def run_batches(model: ov.Model, dataset: Dataset, outputs: Optional[list] = None,
                batch_size: int = DEFAULT_BATCH, desc: str | None = None,
                progress: bool = True) -> Iterator[tuple[list, np.ndarray, int]]:
    """Yield ([output arrays], labels, number of real images) per batch.

    `model` should accept a dynamic batch (see with_dynamic_batch); otherwise the
    batch size falls back to the model's own.
    """
    if not batch_is_dynamic(model):
        batch_size = max(1, model.input(0).get_partial_shape()[0].get_length())
    compiled = compile_model(model)
    request = compiled.create_infer_request()
    outs = outputs if outputs is not None else list(compiled.outputs)
    if outputs is not None:
        outs = [compiled.outputs[i] for i in outputs]
    for batch, labels in iter_batches(dataset, batch_size, desc=desc, progress=progress):
        n = len(labels)
        if n < batch_size and not batch_is_dynamic(model):
            batch = inputs.take(batch, np.minimum(np.arange(batch_size), n - 1))  # the last row repeated
        result = request.infer(inputs.feed(batch))
        # outputs are raw: batched ones may carry padding rows past n
        yield [np.asarray(result[o]) for o in outs], labels, n


def predict(model: ov.Model, dataset: Dataset, batch_size: int = DEFAULT_BATCH,
            desc: str | None = None, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Logits of output 0 for the whole dataset, and the labels."""
    model = with_dynamic_batch(model)
    logits, labels = [], []
    for (out,), lab, n in run_batches(model, dataset, outputs=[0], batch_size=batch_size,
                                      desc=desc, progress=progress):
        logits.append(out[:n].reshape(n, -1))
        labels.append(lab)
    return np.concatenate(logits), np.concatenate(labels)


def mean_over_batches(model: ov.Model, dataset: Dataset, batch_size: int, desc: str,
                      progress: bool = True) -> list:
    """Outputs are per-batch means (ReduceMean over the batch inside the graph);
    return their dataset-wide mean, weighting each batch by its size."""
    totals, count = None, 0
    for outs, _, n in run_batches(model, dataset, batch_size=batch_size, desc=desc, progress=progress):
        outs = [np.asarray(o, dtype=np.float64) * n for o in outs]
        totals = outs if totals is None else [t + o for t, o in zip(totals, outs)]
        count += n
    return [t / count for t in totals]


def first_output(model: ov.Model, values: np.ndarray, batch: int = 32) -> np.ndarray:
    """The model's first output on an array of inputs, one row per input (float64). A model that runs only
    at its own batch (graph.batch) runs one row at a time."""
    model = with_dynamic_batch(model)
    if not batch_is_dynamic(model):
        batch = 1
    compiled = compile_model(model, hint="THROUGHPUT")
    return np.concatenate([compiled(values[s:s + batch])[compiled.outputs[0]].reshape(min(batch, len(values) - s), -1)
                           for s in range(0, len(values), batch)]).astype(np.float64)
