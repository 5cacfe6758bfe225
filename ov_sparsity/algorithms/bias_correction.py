"""BiasCorrection: one-shot activation bias correction from dense-model inputs.

    b_corr = b + E[f(W_dense, X)] - E[f(W_now, X)]      per output channel

with X the dense model's input to the layer. f is linear in W, so the right-hand
difference is rows(W_dense - W_now) @ patch_mean(X): one dense statistics pass
(see engine.statistics) serves any weight change. A layer without a bias gets one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.engine.statistics import StatRequest, supports
from ov_sparsity.graph.edits import SetBias, apply_commands
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import WeightedOp, find_weighted_ops


def expected_output(op: WeightedOp, rows: np.ndarray, patch_mean: np.ndarray) -> np.ndarray:
    """E[f(W, X)] per output channel (without bias) for weights `rows` [C_out, fan_in]."""
    rows = rows.astype(np.float64)
    if op.type != "GroupConvolution":
        return rows @ patch_mean
    groups = op.weight_shape()[0]
    out_per_group = rows.shape[0] // groups
    fan_in = rows.shape[1]
    result = np.empty(rows.shape[0])
    for g in range(groups):
        r = slice(g * out_per_group, (g + 1) * out_per_group)
        result[r] = rows[r] @ patch_mean[g * fan_in:(g + 1) * fan_in]
    return result


@dataclass
class BiasCorrectionParams:
    ignored_scope: Any = None

    def __post_init__(self):
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)


@register
class BiasCorrection(Algorithm):
    name = "BiasCorrection"
    Params = BiasCorrectionParams
    aliases = {"ignored": "ignored_scope"}

    def statistics(self, model: ov.Model) -> list[StatRequest]:
        return [StatRequest("patch_mean", op.name) for op in find_weighted_ops(model, self.params.ignored_scope)
                if supports("patch_mean", op)]

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        requests = self.statistics(ctx.dense_model)
        ctx.ensure_statistics(requests)
        served = {r.layer for r in requests}
        commands, skipped = [], []
        for op in find_weighted_ops(model, self.params.ignored_scope):
            if op.name not in served:
                skipped.append(op.name)
                continue
            delta = op.to_rows(ctx.dense_weight(op.name)) - op.to_rows(op.weight())
            if not np.any(delta):
                continue
            shift = expected_output(op, delta, ctx.stats[StatRequest("patch_mean", op.name)])
            bias = op.bias()
            base = bias.astype(np.float64) if bias is not None else np.zeros(op.num_out_channels)
            commands.append(SetBias(op.name, (base + shift).astype(np.float32)))
        apply_commands(model, commands)
        if skipped:
            log.warning("%s: not supported for %d layer(s) (transposed convolutions): %s", self.name,
                        len(skipped), ", ".join(skipped[:5]))
        ctx.reports[self.name] = {"corrected_layers": len(commands), "skipped_layers": skipped}
        return model
