"""Each layer's loss-versus-sparsity curve measured through the network (SPDY's database, OBC's
per-layer sensitivity): the dense model with one layer magnitude-pruned at a few levels, its
output compared with the dense output (KL for a classifier, normalised MSE otherwise) on held-out
calibration samples. The torch mirror runs the model; the prefix before the pruned layer is
computed once per batch, so each measurement reruns only the ops from that layer on."""

from __future__ import annotations

import numpy as np
import openvino as ov
import torch

from ov_sparsity.algorithms.obs.budget import GRID
from ov_sparsity.algorithms.recovery.losses import output_loss
from ov_sparsity.data import inputs as model_inputs
from ov_sparsity.mirror import Mirror
from ov_sparsity.progress import bar

LEVELS = (0.4, 0.6, 0.8, 0.95)  # measured; the GRID between them is interpolated (0 costs 0)


def magnitude_pruned(w: torch.Tensor, level: float) -> torch.Tensor:
    k = int(round(level * w.numel()))
    if k == 0:
        return w
    flat = w.abs().reshape(-1)
    cut = torch.kthvalue(flat, k).values
    out = w.clone()
    out[w.abs() <= cut] = 0.0
    return out


def measure_curves(model: ov.Model, samples, layers: list, classifier: bool, batch: int = 32,
                   levels=LEVELS, progress: bool = True) -> dict:
    """{layer: mean output loss per sample at each GRID level} for the named layers of the dense `model`."""
    mirror = Mirror(model, masks=False)
    index = {name: i for i, name in enumerate(mirror.layer_names) if name in set(layers)}
    starts = {name: mirror.layer_step(i) for name, i in index.items()}
    totals = {name: np.zeros(len(levels)) for name in index}
    n = model_inputs.length(samples)
    with torch.no_grad(), bar(total=len(index) * ((n + batch - 1) // batch), desc="layer sensitivity",
                              enable=progress, unit="layer") as pbar:
        for s in range(0, n, batch):
            x = Mirror.as_input(model_inputs.take(samples, slice(s, s + batch)))
            env = mirror.run_steps(mirror.bind_inputs(x), keep_all=True)
            ref = mirror.outputs_of(env)[0]
            for name, i in index.items():
                p = mirror.weights[i]  # (scale 1: not relative)
                dense = p.detach().clone()
                for j, level in enumerate(levels):
                    p.copy_(magnitude_pruned(dense, level))
                    out = mirror.outputs_of(mirror.run_steps(env, starts[name]))[0]
                    totals[name][j] += float(output_loss(out, ref, classifier)) * len(out)
                p.copy_(dense)
                pbar.update(1)
    curves = {}
    for name, t in totals.items():
        xs, ys = np.concatenate([[0.0], levels]), np.concatenate([[0.0], np.maximum.accumulate(t / n)])
        curves[name] = np.interp(GRID, xs, ys)
    return curves
