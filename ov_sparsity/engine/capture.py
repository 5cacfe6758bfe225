"""Capture of chosen layers' inputs or outputs, within a memory budget.

Outputs are added to a clone of the model (the model itself is untouched). When
the whole capture would exceed the budget, each 4-D activation keeps a seeded
random subset of spatial positions per image: the result is then [N, C, P]
instead of [N, C, H, W] (P positions kept), and `positions_kept` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.data.datasets import Dataset
from ov_sparsity.engine.infer import run_batches, with_dynamic_batch
from ov_sparsity.graph.weighted import weighted_ops_by_name

DEFAULT_BUDGET = 4 << 30  # 4 GiB: comfortable on a 24 GiB desktop


@dataclass
class Capture:
    arrays: dict = field(default_factory=dict)  # layer name -> np.ndarray
    positions_kept: dict = field(default_factory=dict)  # layer -> fraction of spatial positions kept


def capture_activations(model: ov.Model, layers: list[str], dataset: Dataset, which: str = "input",
                        budget_bytes: int = DEFAULT_BUDGET, seed: int = 0, batch_size: int = 16,
                        progress: bool = True) -> Capture:
    if which not in ("input", "output"):
        raise ValueError("which must be 'input' or 'output'")
    clone = with_dynamic_batch(model)
    by_name = weighted_ops_by_name(clone)
    missing = [name for name in layers if name not in by_name]
    if missing:
        raise KeyError(f"no weighted op named {missing[0]!r}")
    sources = [by_name[n].node.input(0).get_source_output() if which == "input" else by_name[n].node.output(0)
               for n in layers]
    capture_model = ov.Model([ops.result(s) for s in sources], clone.get_parameters(), "capture")
    n_total = len(dataset)
    rng = np.random.default_rng(seed)
    chunks: dict = {name: [] for name in layers}
    keep: dict = {}
    for outs, _, n in run_batches(capture_model, dataset, batch_size=batch_size, desc=f"capture {which}s",
                                  progress=progress):
        if not keep:  # plan from the first batch: bytes per image per layer
            per_image = {name: o[:n].nbytes / n for name, o in zip(layers, outs)}
            projected = sum(per_image.values()) * n_total
            frac = min(1.0, budget_bytes / projected) if projected else 1.0
            keep = {name: frac for name in layers}
        for name, o in zip(layers, outs):
            o = o[:n]
            if keep[name] < 1.0 and o.ndim == 4:
                hw = o.shape[2] * o.shape[3]
                p = max(1, int(hw * keep[name]))
                flat = o.reshape(n, o.shape[1], hw)
                idx = np.stack([rng.choice(hw, p, replace=False) for _ in range(n)])
                o = np.take_along_axis(flat, idx[:, None, :], axis=2)
            chunks[name].append(np.ascontiguousarray(o))
    result = Capture()
    for name in layers:
        result.arrays[name] = np.concatenate(chunks[name])
        result.positions_kept[name] = keep.get(name, 1.0)
    return result
