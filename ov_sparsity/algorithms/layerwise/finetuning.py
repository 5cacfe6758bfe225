"""LayerwiseFinetuning: each sparse layer, its mask fixed, is fitted to the dense
layer's output. `tuning_method: lstsq` solves the masked least squares exactly;
`adam` runs the paper's Adam. Inputs come from the dense model
(`use_only_fp_inputs: true`, the paper) or from the current sparse model, then
re-collected after every round so later layers see earlier layers' tuning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np
import openvino as ov
import torch

from ov_sparsity.algorithms.damping import DAMPING
from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.layerwise.adam import adam_tune
from ov_sparsity.algorithms.layerwise.lstsq import dense_augmented, layer_loss, solve_masked
from ov_sparsity.algorithms.params import check_range
from ov_sparsity.engine.layer_data import collect_layer_data
from ov_sparsity.engine.layer_torch import SUPPORTED
from ov_sparsity.progress import bar
from ov_sparsity.graph.edits import SetBias, SetWeight, apply_commands
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import WeightedOp, find_weighted_ops, weighted_ops_by_name


MIN_SAMPLES_PER_WEIGHT = 2  # lstsq: samples (images x positions) per unknown of a row


@dataclass
class LayerwiseParams:
    tuning_method: Literal["lstsq", "adam"] = "lstsq"
    num_samples_for_tuning: int = 2000
    batch_size: int = 50
    tuning_iterations: Optional[int] = None  # rounds; default 1 for lstsq, 30 for adam
    weights_lr: float = 1e-5
    bias_lr: float = 1e-4
    use_only_fp_inputs: bool = False
    damping: float = DAMPING
    memory_budget_gb: float = 2.0
    ignored_scope: Any = None

    def __post_init__(self):
        for name in ("num_samples_for_tuning", "batch_size"):
            check_range(name, getattr(self, name), 1, 1 << 31)
        if self.tuning_iterations is not None:
            check_range("tuning_iterations", self.tuning_iterations, 1, 10_000)
        check_range("damping", self.damping, 0.0, 1e6)
        check_range("memory_budget_gb", self.memory_budget_gb, 0.01, 1024)
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)

    @property
    def rounds(self) -> int:
        return self.tuning_iterations or (1 if self.tuning_method == "lstsq" else 30)


@register
class LayerwiseFinetuning(Algorithm):
    name = "LayerwiseFinetuning"
    Params = LayerwiseParams

    def reads_dataset(self) -> bool:
        return True

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        dataset = ctx.require_dataset(self.name)
        names = [op.name for op in find_weighted_ops(model, p.ignored_scope) if op.type in SUPPORTED]
        budget = int(p.memory_budget_gb * (1 << 30))
        history = []
        self.skipped: list = []
        current = weighted_ops_by_name(model)  # handles stay valid: edits replace constants, not ops
        for r in range(p.rounds):
            losses = []
            with bar(total=len(names), desc=f"tuning ({p.tuning_method}) round {r + 1}/{p.rounds}",
                     enable=ctx.progress, unit="layer") as pbar:
                if p.use_only_fp_inputs:  # all layers from one dense pass, reused across rounds and steps
                    key = ("layer_data", p.tuning_method, tuple(names))
                    if key not in ctx.cache:
                        ctx.cache[key] = self._collect(ctx, None, names, dataset, budget, r)
                    data = ctx.cache[key]
                    commands = []
                    for i, name in enumerate(names):
                        commands += self._tune_layer(current[name], data[name], ctx, i, r, losses)
                        pbar.update(1)
                    apply_commands(model, commands)
                else:  # sequential: each layer sees the inputs of the model tuned so far
                    for i, name in enumerate(names):
                        data = self._collect(ctx, model, [name], dataset, budget, r)
                        apply_commands(model, self._tune_layer(current[name], data[name], ctx, i, r, losses))
                        pbar.update(1)
            before = float(np.mean([b for b, _ in losses])) if losses else 0.0
            after = float(np.mean([a for _, a in losses])) if losses else 0.0
            history.append({"round": r + 1, "mean_relative_loss_before": before, "mean_relative_loss_after": after})
            log.info("%s round %d/%d: mean relative layer loss %.4g -> %.4g", self.name, r + 1, p.rounds,
                     before, after)
        if self.skipped:
            log.info("%s: %d layer(s) left untuned, too few samples for their fan-in: %s", self.name,
                     len(set(self.skipped)), ", ".join(sorted(set(self.skipped))[:5]))
        ctx.reports[self.name] = {"layers": len(names), "untuned_layers": sorted(set(self.skipped)),
                                  "method": p.tuning_method,
                                  "inputs": "dense" if p.use_only_fp_inputs else "sequential", "rounds": history}
        return model

    def _collect(self, ctx: Context, source, names, dataset, budget, round_index):
        return collect_layer_data(ctx.dense_model, source, names, dataset, gram=self.params.tuning_method == "lstsq",
                                  samples=self.params.tuning_method == "adam", budget_bytes=budget,
                                  seed=ctx.seed + round_index, progress=False)

    def _tune_layer(self, op: WeightedOp, d, ctx, i, r, losses) -> list:
        name = op.name
        if self.params.tuning_method == "lstsq" and d.count < MIN_SAMPLES_PER_WEIGHT * (d.geometry.fan_in + 1):
            # fewer samples than unknowns (e.g. a classifier fed one pooled vector per image):
            # the least squares would fit the calibration set, not the layer; leave it be
            self.skipped.append(name)
            return []
        rows, bias, before, after = self._tune(op, d, ctx, i, r)
        losses.append((before, after))
        return [SetWeight(name, op.from_rows(rows)), SetBias(name, bias)]

    def _tune(self, op: WeightedOp, d, ctx: Context, layer_index: int, round_index: int):
        p = self.params
        geo = d.geometry
        rows_now = op.to_rows(op.weight())
        bias_now = op.bias()
        groups = geo.groups
        keep_rows = rows_now != 0
        dense_rows = op.to_rows(ctx.dense_weight(op.name))
        dense_bias = ctx.dense_bias(op.name)
        dense_aug = dense_augmented(dense_rows, dense_bias, groups)
        now_aug = dense_augmented(rows_now, bias_now, groups)
        keep_aug = torch.from_numpy(np.concatenate([keep_rows, np.ones((len(keep_rows), 1), bool)], axis=1)
                                    .reshape(dense_aug.shape))
        energy = d.target_power * geo.out_channels
        if p.tuning_method == "lstsq":
            solved = solve_masked(d.gram, d.cross, dense_aug, keep_aug, p.damping)
            before = layer_loss(d.gram, d.cross, dense_aug, now_aug, energy) / energy
            after = layer_loss(d.gram, d.cross, dense_aug, solved, energy) / energy
            flat = solved.reshape(geo.out_channels, -1).numpy()
            return flat[:, :-1].astype(np.float32), flat[:, -1].astype(np.float32), before, after
        per_image = max(1, d.patches.shape[0] // max(1, len(ctx.dataset)))
        steps = max(1, p.num_samples_for_tuning // p.batch_size)
        w, b, losses = adam_tune(
            d.patches, d.targets, torch.from_numpy(geo.group_rows(rows_now)),
            torch.from_numpy(bias_now if bias_now is not None else np.zeros(geo.out_channels, np.float32)),
            torch.from_numpy(geo.group_rows(keep_rows)), weights_lr=p.weights_lr, bias_lr=p.bias_lr,
            steps=steps, batch_rows=p.batch_size * per_image, seed=ctx.seed * 1000 + layer_index * 7 + round_index,
            power=d.target_power)
        rows = w.reshape(geo.out_channels, -1).numpy()
        return rows.astype(np.float32), b.numpy().astype(np.float32), losses[0], losses[-1]
