"""WeightSparsity (POT's name): the preset MagnitudeSparsity + BiasCorrection,
with a post-condition check that the target sparsity was reached."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import openvino as ov

from ov_sparsity.algorithms.base import Algorithm, Context, register
from ov_sparsity.algorithms.bias_correction import BiasCorrection
from ov_sparsity.algorithms.magnitude import MAGNITUDE_ALIASES, MagnitudeSparsity
from ov_sparsity.algorithms.params import check_range
from ov_sparsity.engine.statistics import StatRequest
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity


class SparsityNotReached(RuntimeError):
    pass


def check_sparsity_reached(model: ov.Model, ignored: IgnoredScope, level: float, who: str) -> float:
    rows = layer_sparsity(model, ignored)
    reached = global_sparsity(rows)
    total = sum(r["weights"] for r in rows)
    if reached + 1.0 / max(total, 1) < level:
        raise SparsityNotReached(f"{who}: target sparsity {level:.4f} not reached ({reached:.4f})")
    return reached


@dataclass
class WeightSparsityParams:
    sparsity_level: float = 0.5
    criterion: Literal["magnitude", "l2_normalized", "lamp"] = "l2_normalized"
    normed_threshold: Optional[bool] = None
    distribution: Literal["global", "uniform"] = "global"
    weight_correction: bool = True
    weight_correction_mode: Literal["pot", "exact"] = "pot"
    bias_correction: bool = True
    eps: float = 1e-9
    ignored_scope: Any = None
    # accepted for POT configs; our bias correction is exact either way
    use_fast_bias: Optional[bool] = None

    def __post_init__(self):
        check_range("sparsity_level", self.sparsity_level, 0.0, 1.0)
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)


@register
class WeightSparsity(Algorithm):
    name = "WeightSparsity"
    Params = WeightSparsityParams
    aliases = MAGNITUDE_ALIASES

    def __init__(self, **params):
        super().__init__(**params)
        p = self.params
        self.steps: list[Algorithm] = [MagnitudeSparsity(
            sparsity_level=p.sparsity_level, criterion=p.criterion, normed_threshold=p.normed_threshold,
            distribution=p.distribution, weight_correction=p.weight_correction,
            weight_correction_mode=p.weight_correction_mode, eps=p.eps,
            ignored_scope=p.ignored_scope)]
        if p.bias_correction:
            self.steps.append(BiasCorrection(ignored_scope=p.ignored_scope))

    def statistics(self, model: ov.Model) -> list[StatRequest]:
        return [r for step in self.steps for r in step.statistics(model)]

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        for step in self.steps:
            model = step.apply(model, ctx)
        reached = check_sparsity_reached(model, self.params.ignored_scope, self.params.sparsity_level, self.name)
        ctx.reports[self.name] = {"target_sparsity": self.params.sparsity_level, "reached_sparsity": reached}
        return model
