"""MagnitudeSparsity: one global threshold over importance scores pooled from all
layers (per-layer rates come out of it), then per-channel weight correction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.params import check_range
from ov_sparsity.algorithms.weight_correction import correct_rows, correct_rows_pot
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.edits import SetWeight, apply_commands
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import require_weighted_ops

CRITERIA = ("magnitude", "l2_normalized", "lamp")
WEIGHT_CORRECTIONS = {"pot": correct_rows_pot, "exact": correct_rows}


def importance(w: np.ndarray, criterion: str) -> np.ndarray:
    """Scores (flat, float64): larger = more important."""
    a = np.abs(w.astype(np.float64).reshape(-1))
    if criterion == "magnitude":
        return a
    if criterion == "l2_normalized":
        norm = np.linalg.norm(a)
        return a / norm if norm > 0 else a
    if criterion == "lamp":  # Lee et al. 2021: w_u^2 / sum of w_v^2 over v no smaller than u
        order = np.argsort(a, kind="stable")
        sq = a[order] ** 2
        tail = np.cumsum(sq[::-1])[::-1]
        scores = np.empty_like(a)
        scores[order] = np.divide(sq, tail, out=np.zeros_like(sq), where=tail > 0)
        return scores
    raise ValueError(criterion)


def smallest(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k lowest scores, by selection (np.argpartition), not a sort."""
    mask = np.zeros(scores.size, dtype=bool)
    if k >= scores.size:
        mask[:] = True
    elif k > 0:
        mask[np.argpartition(scores, k - 1)[:k]] = True
    return mask


def select_masks(weights: dict, level: float, criterion: str, distribution: str,
                 keep_pruned: dict | None = None) -> dict:
    """{layer: bool mask, True = pruned}; masks in keep_pruned stay pruned."""
    keep_pruned = keep_pruned or {}
    scores = {}
    for name, w in weights.items():
        s = importance(w, criterion)
        if name in keep_pruned:
            s[keep_pruned[name].reshape(-1)] = -1.0  # selected first, counted in the level
        scores[name] = s
    if distribution == "uniform":
        return {name: smallest(s, int(round(level * s.size))).reshape(weights[name].shape)
                for name, s in scores.items()}
    pooled = np.concatenate(list(scores.values()))
    flat = smallest(pooled, int(round(level * pooled.size)))
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = flat[start:start + w.size].reshape(w.shape)
        start += w.size
    return masks


def check_not_emptied(who: str, level: float, counts: dict, sizes: dict) -> None:
    """No layer may lose every weight (its output would be a constant)."""
    emptied = [name for name, k in counts.items() if k >= sizes[name]]
    if emptied:
        raise OvSparsityError(f"{who}: sparsity {level:g} would remove every weight of layer '{emptied[0]}' "
                              f"({len(emptied)} layer(s) in all): no layer may be emptied; lower the sparsity or "
                              "put the layer in the ignored scope")


@dataclass
class MagnitudeParams:
    sparsity_level: float = 0.5
    criterion: Literal["magnitude", "l2_normalized", "lamp"] = "l2_normalized"
    normed_threshold: Optional[bool] = None  # POT: True = l2_normalized, False = magnitude
    distribution: Literal["global", "uniform"] = "global"
    weight_correction: bool = True
    weight_correction_mode: Literal["pot", "exact"] = "pot"
    eps: float = 1e-9
    ignored_scope: Any = None

    def __post_init__(self):
        check_range("sparsity_level", self.sparsity_level, 0.0, 1.0)
        if self.normed_threshold is not None:
            self.criterion = "l2_normalized" if self.normed_threshold else "magnitude"
            self.normed_threshold = None
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)


MAGNITUDE_ALIASES = {"correct_weight_bias": "weight_correction", "eps_factor": "eps", "ignored": "ignored_scope"}


@register
class MagnitudeSparsity(Algorithm):
    name = "MagnitudeSparsity"
    Params = MagnitudeParams
    aliases = MAGNITUDE_ALIASES

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        ops_ = require_weighted_ops(model, p.ignored_scope)
        weights = {op.name: op.weight() for op in ops_}
        masks = select_masks(weights, p.sparsity_level, p.criterion, p.distribution,
                             {n: m for n, m in ctx.masks.items() if n in weights})
        check_not_emptied(self.name, p.sparsity_level, {n: int(m.sum()) for n, m in masks.items()},
                          {n: m.size for n, m in masks.items()})
        commands = []
        for op in ops_:
            w, mask = weights[op.name], masks[op.name]
            if p.weight_correction:
                correct = WEIGHT_CORRECTIONS[p.weight_correction_mode]
                new = op.from_rows(correct(op.to_rows(w), op.to_rows(mask), p.eps))
            else:
                new = np.where(mask, 0.0, w).astype(np.float32)
            commands.append(SetWeight(op.name, new))
            ctx.masks[op.name] = mask
        apply_commands(model, commands)
        pruned = sum(int(m.sum()) for m in masks.values())
        total = sum(m.size for m in masks.values())
        log.info("%s: %d of %d weights pruned in %d layers (%.2f%%)", self.name, pruned, total, len(ops_),
                 100.0 * pruned / total)
        return model
