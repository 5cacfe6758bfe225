"""WeightSparsity (POT's name): the preset run at each level of the cubic
schedule, optionally accuracy-aware, with a post-condition check that the
target sparsity was reached. Two recipes:

- `second_order` (the default): SecondOrderSparsity -- per-layer levels from one
  global threshold, each layer pruned by the second-order solver on the inputs of
  the model pruned so far, fitted to the dense model's output, one pass.
- `magnitude` (`--fast`, and POT's configs that set `use_layerwise_tuning`):
  MagnitudeSparsity + BiasCorrection (+ LayerwiseFinetuning when
  use_layerwise_tuning is true), as POT ran it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import openvino as ov

from ov_sparsity.algorithms.damping import DAMPING
from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.bias_correction import BiasCorrection
from ov_sparsity.algorithms.layerwise.finetuning import LayerwiseFinetuning
from ov_sparsity.algorithms.magnitude import MAGNITUDE_ALIASES, MagnitudeSparsity
from ov_sparsity.algorithms.obs.algorithm import SecondOrderSparsity
from ov_sparsity.algorithms.params import check_range
from ov_sparsity.algorithms.recovery.setting import check_recovery, recovery_step
from ov_sparsity.algorithms.schedule import Schedule
from ov_sparsity.engine.evaluate import evaluate
from ov_sparsity.engine.statistics import StatRequest
from ov_sparsity.errors import OvSparsityError
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
    # None: 'lamp' for second_order (measured best: docs/results.md), 'l2_normalized' (POT's) for magnitude
    criterion: Optional[Literal["magnitude", "l2_normalized", "lamp"]] = None
    normed_threshold: Optional[bool] = None
    distribution: Literal["global", "uniform"] = "global"
    weight_correction: bool = True
    weight_correction_mode: Literal["pot", "exact"] = "pot"
    bias_correction: bool = True
    eps: float = 1e-9
    ignored_scope: Any = None
    use_fast_bias: Optional[bool] = None  # accepted for POT configs; our bias correction is exact
    method: Optional[Literal["second_order", "magnitude"]] = None  # None: second_order unless POT's
    # use_layerwise_tuning is given (then POT's own recipe, magnitude + corrections [+ tuning])
    allocation: Literal["threshold", "loss", "measured"] = "threshold"  # second_order: per-layer levels from the global
    # threshold over `criterion` scores, or from measured second-order losses (obs/budget.py)
    block_size: int = 128  # second_order: columns per lazy-update block
    num_samples: int = 300  # second_order: calibration images for the Hessians (POT: stat_subset_size)
    apply_for_all_nodes: Optional[bool] = None  # POT's: False leaves the convolutions fed by a model input
    # dense; None (not given) prunes every layer, as true does
    stream_samples: int = 1000  # second_order: images for layers short of samples (the classifier)
    # layer-wise tuning (POT's names where POT had them)
    use_layerwise_tuning: Optional[bool] = None
    tuning_method: Literal["lstsq", "adam"] = "lstsq"
    num_samples_for_tuning: int = 2000
    batch_size: int = 50
    tuning_iterations: Optional[int] = None
    weights_lr: float = 1e-5
    bias_lr: float = 1e-4
    use_only_fp_inputs: bool = False
    damping: Optional[float] = None  # None: DAMPING on calibration images, SYNTHETIC_DAMPING on synthetic ones
    memory_budget_gb: float = 3.0  # second_order: frontier activations; lstsq/adam: layer data
    # recovery beyond the layer (algorithms/recovery): after the last level of the second-order recipe,
    # the sparse model is fitted to the dense one through the torch mirror of the IR. 'auto': whole-model
    # distillation on real calibration images, none on synthetic ones or with method 'magnitude'
    # (docs/results.md); 'none'; a mode ('model', 'block', 'block+model'); or a dict of Recovery params
    recovery: Any = "auto"
    # progressive schedule and accuracy-aware stopping
    schedule: Optional[dict] = None
    max_accuracy_drop: Optional[float] = None

    def __post_init__(self):
        check_range("sparsity_level", self.sparsity_level, 0.0, 1.0)
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)
        self.schedule_ = Schedule.parse(self.schedule, self.sparsity_level)
        if self.method is None:
            self.method = "magnitude" if self.use_layerwise_tuning is not None else "second_order"
        if self.normed_threshold is not None:  # POT's switch
            self.criterion = "l2_normalized" if self.normed_threshold else "magnitude"
            self.normed_threshold = None
        if self.criterion is None:
            self.criterion = "lamp" if self.method == "second_order" else "l2_normalized"
        if self.method == "second_order" and self.use_layerwise_tuning:
            raise OvSparsityError("method 'second_order' refits every layer itself; use_layerwise_tuning goes "
                                  "with method 'magnitude'")
        if self.max_accuracy_drop is not None:
            check_range("max_accuracy_drop", self.max_accuracy_drop, 0.0, 100.0)
        check_recovery(self.recovery)


def first_convolutions(model: ov.Model) -> list:
    """Friendly names of the convolutions that read a model input (through non-weighted ops only)."""
    names, stack, seen = [], [p.output(0) for p in model.get_parameters()], set()
    while stack:
        out = stack.pop()
        for target in out.get_target_inputs():
            node = target.get_node()
            if node.get_name() in seen:
                continue
            seen.add(node.get_name())
            if node.get_type_name() in ("Convolution", "GroupConvolution"):
                names.append(node.get_friendly_name())
            elif node.get_type_name() not in ("MatMul", "Result"):
                stack.extend(node.outputs())
    return sorted(names)


TUNING_KEYS = ("tuning_method", "num_samples_for_tuning", "batch_size", "tuning_iterations", "weights_lr",
               "bias_lr", "use_only_fp_inputs", "damping", "memory_budget_gb")


@register
class WeightSparsity(Algorithm):
    name = "WeightSparsity"
    Params = WeightSparsityParams
    aliases = {**MAGNITUDE_ALIASES, "stat_subset_size": "num_samples"}

    def __init__(self, **params):
        super().__init__(**params)
        self.scope = self.params.ignored_scope  # with POT's first convolutions when apply_for_all_nodes is False
        self._build()

    def _build(self) -> None:
        p = self.params
        self.levels = p.schedule_.levels(p.sparsity_level)
        magnitude = p.method == "magnitude"
        self.bias = BiasCorrection(ignored_scope=self.scope) if p.bias_correction and magnitude else None
        tuning = {k: getattr(p, k) for k in TUNING_KEYS}
        tuning["damping"] = DAMPING if p.damping is None else p.damping
        self.tuning = (LayerwiseFinetuning(ignored_scope=self.scope, **tuning)
                       if p.use_layerwise_tuning else None)

    def _prune(self, level: float):
        p = self.params
        if p.method == "second_order":
            return SecondOrderSparsity(sparsity_level=level, criterion=p.criterion, damping=p.damping,
                                       block_size=p.block_size, num_samples=p.num_samples,
                                       stream_samples=p.stream_samples,
                                       memory_budget_gb=p.memory_budget_gb,
                                       ignored_scope=self.scope,
                                       allocation="uniform" if p.distribution == "uniform" else p.allocation)
        return self._magnitude(level)

    def _magnitude(self, level: float) -> MagnitudeSparsity:
        p = self.params
        return MagnitudeSparsity(sparsity_level=level, criterion=p.criterion, normed_threshold=p.normed_threshold,
                                 distribution=p.distribution, weight_correction=p.weight_correction,
                                 weight_correction_mode=p.weight_correction_mode, eps=p.eps,
                                 ignored_scope=self.scope)

    def params_dict(self) -> dict:
        out = super().params_dict()
        out.pop("schedule_", None)
        return out

    def statistics(self, model: ov.Model) -> list[StatRequest]:
        return self.bias.statistics(model) if self.bias else []

    def reads_dataset(self) -> bool:
        return self.params.method == "second_order" or bool(self.params.use_layerwise_tuning)

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        if p.apply_for_all_nodes is False:  # POT: the first convolutions stay dense
            self.scope = p.ignored_scope.merged(IgnoredScope(names=tuple(first_convolutions(model))))
            self._build()
        aware = p.max_accuracy_drop is not None
        if aware and (ctx.eval_dataset is None or len(ctx.eval_dataset) == 0):
            raise OvSparsityError(f"{self.name}: max_accuracy_drop needs labelled evaluation data (--eval-data DIR)")
        dense_top1 = evaluate(ctx.original, ctx.eval_dataset, progress=ctx.progress)["top1"] if aware else None
        steps, kept = [], None
        for i, level in enumerate(self.levels):
            log.info("%s: step %d/%d, sparsity %.4f", self.name, i + 1, len(self.levels), level)
            model = self._prune(level).apply(model, ctx)
            if self.bias:
                model = self.bias.apply(model, ctx)
            if self.tuning:
                model = self.tuning.apply(model, ctx)
            step = {"sparsity": level}
            if aware:
                step["top1"] = evaluate(model, ctx.eval_dataset, progress=ctx.progress)["top1"]
                step["drop"] = dense_top1 - step["top1"]
                log.info("%s: sparsity %.4f -> top-1 %.2f (dense %.2f)", self.name, level, step["top1"], dense_top1)
                if step["drop"] > p.max_accuracy_drop:
                    steps.append(step)
                    break
                kept = (model.clone(), dict(ctx.masks), level)
            steps.append(step)
        report = {"target_sparsity": p.sparsity_level, "steps": steps}
        if aware:
            if kept is None:
                log.warning("%s: even %.4f sparsity drops top-1 by %.2f > %.2f; returning that first step",
                            self.name, self.levels[0], steps[0]["drop"], p.max_accuracy_drop)
                final_level = self.levels[0]
            else:
                model, ctx.masks, final_level = kept
            report.update(dense_top1=dense_top1, max_accuracy_drop=p.max_accuracy_drop,
                          budget_met=kept is not None)
        else:
            final_level = self.levels[-1]
        recovery = self._recovery(ctx)
        if recovery is not None:
            model = recovery.apply(model, ctx)
            report["recovery"] = ctx.reports.get(recovery.name)
        report["reached_sparsity"] = check_sparsity_reached(model, self.scope, final_level, self.name)
        ctx.reports[self.name] = report
        return model

    def _recovery(self, ctx: Context):
        """The Recovery step this run takes, or None."""
        synthetic = getattr(ctx.dataset, "synthetic", False)
        auto = {"mode": "model"} if self.params.method == "second_order" and not synthetic else None
        return recovery_step(self.params.recovery, auto)
