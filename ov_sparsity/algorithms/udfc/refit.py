"""Sequential refit after UDFC's closed form (beyond the paper).

The closed form rebuilds a pruned channel in the next layer from per-layer second
moments; errors still compound down the network. The refit then walks the
compressed model once in topological order (engine.sequential), beside the
original one on the same synthetic images, and gives every layer the weights that
best reproduce the original layer's output from the inputs the compressed model
now gives it:

    W* = (W_d Cᵀ + λ W_0)(H + λI)⁻¹,   H = E[x~ x~ᵀ],  C = E[x~ x~_dᵀ]

x~ the layer's (augmented) input patches in the compressed model, x~_d the
original model's at the same positions (other channels where channels were
removed), W_d the original rows of the channels kept, W_0 the closed form's
weights (λ = damping · mean diag H pulls toward them). With low-bit weights the
refit rows are then quantized column by column with the error carried to the
columns not yet quantized (GPTQ, the OBS update with q = the grid point), so the
grid costs what H says it must. Layers with fewer patches than twice their fan-in
(a classifier fed one pooled vector per image) keep the closed form's weights.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ov_sparsity.algorithms.damping import DAMPING
from ov_sparsity.algorithms.layerwise.lstsq import dense_augmented
from ov_sparsity.algorithms.obs.algorithm import MIN_SAMPLES_PER_INPUT, columns, moment, retarget
from ov_sparsity.algorithms.obs.solver import inverse_cholesky, prepare_hessian
from ov_sparsity.algorithms.udfc.quantize import fake_quantize_rows
from ov_sparsity.engine.layer_torch import SUPPORTED, LayerGeometry
from ov_sparsity.engine.sequential import FrontierWalk
from ov_sparsity.graph.weighted import find_weighted_ops, weighted_ops_by_name
from ov_sparsity.progress import bar



def refit_moments(geo: LayerGeometry, values: np.ndarray, geo_d: LayerGeometry, dense_values: np.ndarray,
                  dense_groups: Optional[np.ndarray] = None, batch: int = 16):
    """(H, C, patches) of one layer: H over the compressed model's inputs, C against the original's."""
    gram, cross, count = None, None, 0
    for s in range(0, len(values), batch):
        a = columns(geo, values[s:s + batch])
        b = columns(geo_d, dense_values[s:s + batch], dense_groups)
        g, c = moment(a, a), moment(a, b)
        gram, cross = (g, c) if gram is None else (gram + g, cross + c)
        count += a.shape[2]
    return gram / count, cross / count, count


def quantize_gptq(w_aug: torch.Tensor, gram: torch.Tensor, bits: int, damp: float = DAMPING,
                  block: int = 128) -> torch.Tensor:
    """w_aug [G, O, F+1] (bias last, kept in float): weights on a symmetric per-row grid of
    2^(bits-1)-1 levels, columns quantized in order, each one's error compensated in the columns
    after it (and the bias) through the upper Cholesky factor of H⁻¹, lazily per block."""
    levels = 2 ** (bits - 1) - 1
    w = w_aug.clone().double()
    g, o, f1 = w.shape
    f = f1 - 1
    scale = w[:, :, :-1].abs().amax(dim=2) / levels  # [G, O]
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    h, dead = prepare_hessian(gram, damp)
    w[:, :, :-1][dead[:, None, :-1].expand(g, o, f)] = 0.0
    u = inverse_cholesky(h)
    for start in range(0, f, block):
        stop = min(start + block, f)
        u_blk = u[:, start:stop, start:stop]
        w_blk = w[:, :, start:stop].clone()
        err = torch.zeros_like(w_blk)
        for j in range(stop - start):
            col = w_blk[:, :, j]
            q = torch.clamp(torch.round(col / scale), -levels, levels) * scale
            e = (col - q) / u_blk[:, None, j, j]
            w_blk[:, :, j:] -= e[:, :, None] * u_blk[:, None, j, j:]
            w_blk[:, :, j] = q
            err[:, :, j] = e
        w[:, :, start:stop] = w_blk
        w[:, :, stop:] -= torch.einsum("gob,gbc->goc", err, u[:, start:stop, stop:])
    return w


def sequential_refit(model, reference, images, kept: dict, bits: Optional[int], damping: float = DAMPING,
                     batch_size: int = 16, progress: bool = True) -> list[dict]:
    """Refit every supported layer of `model` (compressed in place) to `reference` (the original),
    in one sequential pass over `images`. kept: {layer name: kept output channels} of the layers whose
    outputs lost channels. Returns one record per layer."""
    ops_ = {op.name: op for op in find_weighted_ops(model) if op.type in SUPPORTED}
    ops_d = weighted_ops_by_name(reference)
    names = [n for n in ops_ if n in ops_d]
    walk = FrontierWalk(model, images, names, batch_size=batch_size)
    dense_walk = FrontierWalk(reference, images, names, batch_size=batch_size)
    records = []
    with bar(total=len(names), desc="UDFC refit", enable=progress, unit="layer") as pbar:
        for (name, values), (name_d, dense_values) in zip(walk, dense_walk):
            assert name == name_d, (name, name_d)
            records.append(_refit_layer(ops_[name], ops_d[name], values, dense_values, kept.get(name), bits,
                                        damping, batch_size))
            model.validate_nodes_and_infer_types()
            pbar.update(1)
    return records


def _refit_layer(op, op_d, values, dense_values, rows: Optional[np.ndarray], bits, damping, batch) -> dict:
    geo, geo_d = LayerGeometry.from_op(op), LayerGeometry.from_op(op_d)
    depthwise = geo_d.groups > 1 and geo.groups != geo_d.groups
    w_d = dense_augmented(op_d.to_rows(op_d.weight()), op_d.bias(), geo_d.groups)  # [Gd, Od/Gd, Fd+1]
    if rows is not None:
        w_d = w_d[torch.from_numpy(rows)] if depthwise else w_d[:, torch.from_numpy(rows)]
    w0 = dense_augmented(op.to_rows(op.weight()), op.bias(), geo.groups)
    gram, cross, samples = refit_moments(geo, values, geo_d, dense_values, rows if depthwise else None, batch)
    full = samples >= MIN_SAMPLES_PER_INPUT * (geo.fan_in + 1)
    solved = retarget(w_d.double(), gram, cross, damping, toward=w0.double()) if full else w0.double()
    if bits is not None and full:
        solved = quantize_gptq(solved, gram, bits, damping)
    elif bits is not None:  # too few samples to trust H: round to the grid
        solved[..., :-1] = torch.from_numpy(fake_quantize_rows(solved[..., :-1].reshape(geo.out_channels, -1).numpy(),
                                                               bits).astype(np.float64)).reshape(solved[..., :-1].shape)
    op.set_weight(op.from_rows(solved[..., :-1].reshape(geo.out_channels, -1).numpy().astype(np.float32)))
    op.set_bias(solved[..., -1].reshape(-1).numpy().astype(np.float32))
    return {"name": op.name, "samples": samples, "refit": bool(full)}
