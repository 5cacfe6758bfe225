"""Per-layer data for layer-wise tuning, gathered in one streaming pass.

For each layer, over every receptive-field patch x (bias slot appended: x~ = [x; 1]):
  gram   E[x~_s x~_sᵀ]   per group, x_s the layer's input in the *source* model
  cross  E[x~_s x~_dᵀ]   x_d the same patch in the dense model (only when source != dense)
  and, optionally, a seeded sample of patches per image with the dense layer's
  output at those positions (the regression data Adam needs), within a memory budget.
Nothing but these accumulators outlives a batch, so the pass fits any model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import openvino as ov
import torch
from openvino import opset15 as ops

from ov_sparsity.data import inputs
from ov_sparsity.data.datasets import Dataset, iter_batches
from ov_sparsity.engine.infer import batch_is_dynamic, compile_model, with_dynamic_batch
from ov_sparsity.engine.layer_torch import LayerGeometry
from ov_sparsity.graph.weighted import weighted_ops_by_name


@dataclass
class LayerData:
    geometry: LayerGeometry
    gram: Optional[torch.Tensor] = None  # [G, F+1, F+1] float64
    cross: Optional[torch.Tensor] = None  # [G, F+1, F+1] float64, None = same as gram
    count: int = 0
    patches: Optional[torch.Tensor] = None  # [S, G, F] float32 (source model)
    targets: Optional[torch.Tensor] = None  # [S, C_out] float32 (dense output, bias included)
    target_power: float = 1.0  # E[y^2] of the dense output: loss normaliser


def _augment(p: torch.Tensor) -> torch.Tensor:
    """[N, G, F, L] -> [G, N*L, F+1] with a constant-1 column."""
    n, g, f, l_ = p.shape
    flat = p.permute(1, 0, 3, 2).reshape(g, n * l_, f)
    return torch.cat([flat, torch.ones(g, n * l_, 1, dtype=flat.dtype)], dim=2)


def _input_model(model: ov.Model, layers: list[str]) -> ov.Model:
    clone = with_dynamic_batch(model)
    by_name = weighted_ops_by_name(clone)
    return ov.Model([ops.result(by_name[n].node.input(0).get_source_output()) for n in layers],
                    clone.get_parameters(), "layer_inputs")


def collect_layer_data(dense: ov.Model, source: Optional[ov.Model], layers: list[str], dataset: Dataset, *,
                       gram: bool = True, samples: bool = False, budget_bytes: int = 2 << 30, seed: int = 0,
                       batch_size: int = 8, progress: bool = True) -> dict:
    """source None: inputs from the dense model. Returns {layer: LayerData}."""
    dense_ops = weighted_ops_by_name(dense)
    geo = {n: LayerGeometry.from_op(dense_ops[n]) for n in layers}
    dense_rows = {n: torch.from_numpy(dense_ops[n].to_rows(dense_ops[n].weight())) for n in layers}
    dense_bias = {n: dense_ops[n].bias() for n in layers}
    probes = [_input_model(dense, layers)] + ([_input_model(source, layers)] if source is not None else [])
    if not all(batch_is_dynamic(m) for m in probes):
        batch_size = 1  # a model that runs only at its own batch (graph.batch)
    models = [compile_model(m) for m in probes]
    requests = [m.create_infer_request() for m in models]
    data = {n: LayerData(geo[n]) for n in layers}
    rng = np.random.default_rng(seed)
    per_layer_budget = budget_bytes / max(1, len(layers))
    n_images = len(dataset)
    power = {n: 0.0 for n in layers}
    chunks: dict = {n: ([], []) for n in layers}
    for images, _ in iter_batches(dataset, batch_size, desc="layer data", progress=progress):
        outs = [[np.asarray(r.infer(inputs.feed(images))[i]) for i in range(len(layers))] for r in requests]
        for i, name in enumerate(layers):
            g, d = geo[name], data[name]
            p_dense = g.patches(torch.from_numpy(outs[0][i]))
            p_src = g.patches(torch.from_numpy(outs[-1][i])) if source is not None else p_dense
            if gram:
                a_src = _augment(p_src).double()
                acc = a_src.transpose(1, 2) @ a_src
                d.gram = acc if d.gram is None else d.gram + acc
                if source is not None:
                    xc = a_src.transpose(1, 2) @ _augment(p_dense).double()
                    d.cross = xc if d.cross is None else d.cross + xc
            n, groups, f, positions = p_src.shape
            d.count += n * positions
            y_dense = torch.einsum("gof,ngfl->nglo", torch.from_numpy(g.group_rows(dense_rows[name].numpy())),
                                   p_dense).permute(0, 2, 1, 3).reshape(n, positions, -1)
            if dense_bias[name] is not None:
                y_dense = y_dense + torch.from_numpy(dense_bias[name])
            power[name] += float((y_dense.double() ** 2).sum())
            if samples:
                row_bytes = 4 * (groups * f + g.out_channels)
                keep = int(max(1, min(positions, per_layer_budget / (row_bytes * n_images))))
                idx = torch.from_numpy(np.stack([rng.choice(positions, keep, replace=False) for _ in range(n)]))
                xs = torch.take_along_dim(p_src, idx[:, None, None, :], dim=3)  # [n, G, F, keep]
                ys = torch.take_along_dim(y_dense, idx[:, :, None], dim=1)  # [n, keep, C_out]
                chunks[name][0].append(xs.permute(0, 3, 1, 2).reshape(n * keep, groups, f).float())
                chunks[name][1].append(ys.reshape(n * keep, -1).float())
    for name in layers:
        d = data[name]
        if gram:
            d.gram /= d.count
            if d.cross is not None:
                d.cross /= d.count
        d.target_power = power[name] / (d.count * geo[name].out_channels) or 1.0
        if samples:
            d.patches = torch.cat(chunks[name][0])
            d.targets = torch.cat(chunks[name][1])
    return data
