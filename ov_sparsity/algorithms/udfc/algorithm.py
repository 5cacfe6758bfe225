"""UDFC: prune output channels and/or quantize weights to b bits, layer after
layer in topological order, each damage rebuilt in the consumer in closed form
from second moments measured on synthetic images (or derived from BatchNorm)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Literal, Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.damping import DAMPING, SYNTHETIC_REFIT_DAMPING
from ov_sparsity.algorithms.base import Algorithm, Context, register
from ov_sparsity.algorithms.channel_pruning import eligible_groups, prune_count, select_channels
from ov_sparsity.algorithms.params import check_range, check_shared
from ov_sparsity.algorithms.recovery.setting import (FRACTAL_SAMPLES, channel_recovery, check_recovery, distil,
                                                     real_images)
from ov_sparsity.algorithms.udfc.moments import activation_moments, bn_moments, joint_moments
from ov_sparsity.algorithms.udfc.quantize import fake_quantize_rows
from ov_sparsity.algorithms.udfc.select import consumer_energy, greedy_keep
from ov_sparsity.algorithms.udfc.reconstruct import coefficients, consumer_update, identity_map
from ov_sparsity.data import NoiseDataset
from ov_sparsity.data.fractals import FractalDataset
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.channels import ChannelGroup, channel_group, remove_channels
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import const_value, weighted_ops_by_name
from ov_sparsity.progress import bar
from ov_sparsity.userfiles import parse_json

BN_KEY = ["ov_sparsity", "batchnorm"]


@dataclass
class UDFCParams:
    prune_ratio: float = 0.3
    weight_bits: Optional[int] = None  # None: no quantization
    # auto: "recon" for channels that pass through a depthwise conv (MobileNetV2's expansions, where
    # l1 of the producer's rows measured far worse), "l1" elsewhere (ResNet-56: l1 measured best)
    criterion: Literal["auto", "l1", "l2", "recon", "energy"] = "auto"
    distribution: Literal["per_layer", "global"] = "per_layer"
    scope: Literal["all", "expansion"] = "all"
    channel_multiple: int = 1
    reconstruct: bool = True
    refit: bool = True  # after the closed form, refit every layer to the original model's outputs (refit.py)
    refit_damping: Optional[float] = None  # None: DAMPING on calibration images, SYNTHETIC_REFIT_DAMPING on synthetic
    alpha1: float = 1.0
    alpha2: float = 1e-3
    statistics: Literal["fractal", "noise", "bn", "calibration"] = "fractal"
    num_samples: int = 256
    # after the channels are removed and rebuilt: the pruned model distilled from the original one
    # (algorithms/recovery, whole model), before the weights go to their grid: on the run's calibration
    # images where they are real, else on `recovery_samples` fractals. 'auto': on for models of at most 200M
    # MACs per image with real images or fractal statistics (recovery/setting.py, measured there); 'none';
    # a mode; or a mapping of Recovery parameters (CHANNEL_AUTO's settings, or CHANNEL_AUTO_SYNTHETIC's on
    # fractals, fill what it leaves out)
    recovery: Any = "auto"
    recovery_samples: int = FRACTAL_SAMPLES
    ignored_scope: Any = None

    def __post_init__(self):
        check_range("prune_ratio", self.prune_ratio, 0.0, 1.0)
        if self.weight_bits is not None:
            check_shared("weight_bits", self.weight_bits, "weight_bits")
        check_shared("channel_multiple", self.channel_multiple, "channel_multiple")
        check_range("alpha1", self.alpha1, 1e-12, 1e12)
        check_range("alpha2", self.alpha2, 0.0, 1e12)
        check_range("num_samples", self.num_samples, 1, 1 << 20)
        check_range("recovery_samples", self.recovery_samples, 10, 1 << 20)
        check_recovery(self.recovery)
        if self.refit_damping is not None:
            check_range("refit_damping", self.refit_damping, 1e-8, 10.0, high_open=False)
        if self.criterion == "auto" and self.statistics == "bn":
            self.criterion = "l1"  # no measured covariances to score with
        if self.criterion in ("recon", "energy") and self.statistics == "bn":
            raise OvSparsityError("criterion 'recon' needs measured channel covariances (statistics: fractal | "
                                  "noise | calibration), BatchNorm parameters give none")
        if self.statistics == "bn" and self.weight_bits is not None:
            raise OvSparsityError("statistics 'bn' serves channel pruning only: quantization damage needs "
                                  "images (statistics: fractal | noise | calibration)")
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)


def _bn_table(model: ov.Model) -> dict:
    if not model.has_rt_info(BN_KEY):
        raise OvSparsityError("statistics 'bn' needs BatchNorm parameters recorded in the IR "
                              "(export the model with `ov-sparsity zoo export`)")
    table = parse_json(model.get_rt_info(BN_KEY).astype(str), "the BatchNorm table the IR records (rt_info)")
    if not isinstance(table, dict) or not all(isinstance(v, dict) and isinstance(v.get("gamma"), list)
                                              and isinstance(v.get("beta"), list) for v in table.values()):
        raise OvSparsityError("the BatchNorm table the IR records (rt_info) is not {module: {gamma, beta}}")
    return table


def _bn_for(group: ChannelGroup, table: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """γ, β of the BatchNorm right before the activation the consumers read, and the clip."""
    node = group.activation.get_node()
    high = math.inf
    while node.get_type_name() in ("Relu", "Clamp", "Reshape", "ReduceMean"):
        if node.get_type_name() == "Clamp":
            high = float(node.get_attributes()["max"])
        if node.get_type_name() in ("Reshape", "ReduceMean"):
            raise OvSparsityError(f"statistics 'bn': {group.name} feeds a pooled layer; use fractal or noise")
        node = node.input(0).get_source_output().get_node()
    match = re.search(r"__module\.(.+?)/aten::batch_norm", node.get_friendly_name())
    if not match or match.group(1) not in table:
        raise OvSparsityError(f"statistics 'bn': no BatchNorm recorded for the layer before {node.get_friendly_name()}")
    entry = table[match.group(1)]
    return np.asarray(entry["gamma"]), np.asarray(entry["beta"]), high


@register
class UDFC(Algorithm):
    name = "UDFC"
    Params = UDFCParams

    def reads_dataset(self) -> bool:
        return self.params.statistics == "calibration"

    def _images(self, ctx: Context):
        p = self.params
        if p.statistics == "calibration":
            return ctx.require_dataset(self.name)
        if ctx.preprocessing is None:
            raise OvSparsityError(f"{self.name}: synthetic statistics need the model's preprocessing")
        if p.statistics in ("fractal", "bn"):  # bn: images only for the refit
            return FractalDataset(p.num_samples, ctx.preprocessing, seed=ctx.seed, progress=ctx.progress)
        return NoiseDataset(p.num_samples, ctx.preprocessing, seed=ctx.seed)

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        recovery = self._recovery(model, real_images(ctx))
        if recovery is None:
            return self._compress(model, ctx)
        original = model.clone()
        self.params = replace(p, weight_bits=None)
        try:  # channels out and rebuilt in FP32, distilled, then (a second pass) the weights to their grid
            model = self._compress(model, ctx)
            report = ctx.reports[self.name]
            model = distil(model, original, recovery, ctx, p.recovery_samples)
            if p.weight_bits is not None:
                self.params = replace(p, prune_ratio=0.0)
                model = self._compress(model, ctx)
                report.update(weight_bits=p.weight_bits, note=ctx.reports[self.name]["note"],
                              refit_layers=report["refit_layers"] + ctx.reports[self.name]["refit_layers"])
            ctx.reports[self.name] = {**report, "recovery": ctx.reports["Recovery"]}
        finally:
            self.params = p
        return model

    def _recovery(self, model: ov.Model, real: bool):
        """The Recovery step between the channels and the grid (`real`: on the run's calibration images), or
        None."""
        p = self.params
        if p.prune_ratio <= 0 or (p.recovery == "auto" and p.statistics != "fractal" and not real):
            return None
        return channel_recovery(p.recovery, model, synthetic=not real)

    def _compress(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        reference = model.clone()
        groups = {g.name: g for g in eligible_groups(model, p.scope, p.ignored_scope)} if p.prune_ratio > 0 or \
            p.weight_bits else {}
        quantize = p.weight_bits is not None
        self._check_changes(groups, quantize)
        measured = [g for g in groups.values() if p.criterion in ("recon", "energy") or
                    (p.criterion == "auto" and g.depthwise)]
        by_norm = [g for g in groups.values() if g.name not in {m.name for m in measured}]
        needs_images = groups and p.statistics != "bn" and (p.reconstruct or bool(measured))
        refit = p.refit and (groups or quantize)
        images = self._images(ctx) if needs_images or refit else None
        norm = "l1" if p.criterion == "auto" else p.criterion
        keep = select_channels(by_norm, p.prune_ratio, norm, p.distribution, p.channel_multiple) if by_norm else {}
        if measured:
            keep.update(self._recon_keep(reference, measured, images, "recon" if p.criterion == "auto"
                                         else p.criterion))
        bn = _bn_table(model) if p.reconstruct and p.statistics == "bn" else None
        in_groups = {dw.get_friendly_name() for g in groups.values() for dw in g.depthwise}
        ops_ = weighted_ops_by_name(model)  # handles stay valid: edits replace constants, not ops
        removed, self.kept = 0, {}
        with bar(total=len(ops_), desc="UDFC", enable=ctx.progress, unit="layer") as pbar:
            for name, op in ops_.items():
                if name in groups:  # walked again: earlier steps may have given this layer a bias Add
                    group = channel_group(op.node)
                    removed += self._damage_and_rebuild(model, reference, group, keep[name], images, bn, ops_)
                elif quantize and name not in in_groups:
                    op.set_weight(op.from_rows(fake_quantize_rows(op.to_rows(op.weight()), p.weight_bits)))
                pbar.update(1)
        model.validate_nodes_and_infer_types()
        refitted = self._refit(model, reference, images, ctx) if refit else []
        ctx.reports[self.name] = {"groups": len(groups), "channels_removed": removed, "weight_bits": p.weight_bits,
                                  "reconstruct": p.reconstruct, "statistics": p.statistics,
                                  "refit_layers": sum(r["refit"] for r in refitted),
                                  "note": (f"{p.weight_bits}-bit weights are stored as FP32 values on the "
                                           f"{p.weight_bits}-bit grid" if quantize and p.weight_bits < 8 else "")}
        return model

    def _refit(self, model: ov.Model, reference: ov.Model, images, ctx: Context) -> list:
        from ov_sparsity.algorithms.udfc.refit import sequential_refit
        from ov_sparsity.data.datasets import as_array

        p = self.params
        damping = p.refit_damping if p.refit_damping is not None else \
            (DAMPING if p.statistics == "calibration" else SYNTHETIC_REFIT_DAMPING)
        values = as_array(images)
        return sequential_refit(model, reference, values, self.kept, p.weight_bits, damping, progress=ctx.progress)

    def check(self, model: ov.Model) -> None:
        p = self.params
        groups = {g.name: g for g in eligible_groups(model, p.scope, p.ignored_scope)}
        self._check_changes(groups, p.weight_bits is not None)

    def _check_changes(self, groups: dict, quantize: bool) -> None:
        """A run that would remove no channel and quantize nothing is an error, said before any work."""
        p = self.params
        if quantize:
            return
        per_layer = p.distribution == "per_layer"
        removes = any(prune_count(g.channels, int(round(p.prune_ratio * g.channels)), p.channel_multiple) > 0
                      for g in groups.values()) if per_layer else p.prune_ratio > 0
        if not groups or not removes:
            why = (f"prune_ratio {p.prune_ratio:g} removes no channel of the {len(groups)} prunable layers"
                   if groups else "the model has no prunable channel groups")
            raise OvSparsityError(f"{self.name} would change nothing: {why}; raise --prune-ratio or add "
                                  "--weight-bits")

    def _recon_keep(self, reference, groups, images, criterion: str) -> dict:
        p = self.params
        names = [g.activation.get_node().get_friendly_name() for g in groups]
        grams = activation_moments(reference, list(dict.fromkeys(names)), images)
        keep = {}
        for g, act in zip(groups, names):
            energy = sum(consumer_energy(const_value(node.input(1).get_source_output()), axis)
                         for node, _, axis in g.consumers)
            n_prune = prune_count(g.channels, int(round(p.prune_ratio * g.channels)), p.channel_multiple)
            if criterion == "energy":  # what the consumer loses if the channel's centred signal goes
                gram = grams[act]
                centred = np.diag(gram)[:-1] - gram[-1, :-1] ** 2  # variance: the mean moves to the bias
                scores = centred * np.diag(energy)
                keep[g.name] = np.sort(np.argsort(scores, kind="stable")[n_prune:])
            else:
                keep[g.name] = greedy_keep(grams[act], energy, n_prune)
        return keep

    def _damage_and_rebuild(self, model, reference, group: ChannelGroup, keep: np.ndarray, images, bn,
                            ops_: dict) -> int:
        p = self.params
        full = group.channels
        consumers = [(node, kind, axis, const_value(node.input(1).get_source_output()))
                     for node, kind, axis in group.consumers]
        act_name = group.activation.get_node().get_friendly_name()
        if len(keep) < full:
            remove_channels(model, group, keep)
            for node in [group.producer] + group.depthwise:
                self.kept[node.get_friendly_name()] = np.asarray(keep)
        if p.weight_bits is not None:
            for node in [group.producer] + group.depthwise:
                op = ops_[node.get_friendly_name()]
                op.set_weight(op.from_rows(fake_quantize_rows(op.to_rows(op.weight()), p.weight_bits)))
        if not p.reconstruct:
            return full - len(keep)
        if bn is not None:
            gamma, beta, high = _bn_for(group, bn)
            cross, gram = bn_moments(gamma, beta, keep, high)
        else:
            cross, gram = joint_moments(reference, act_name, model, act_name, images)
        s = coefficients(cross, gram, identity_map(full, keep), p.alpha1, p.alpha2)
        for node, kind, axis, original in consumers:
            out_axis = 0 if kind == "conv" or axis == 1 else 1
            weight, bias_delta = consumer_update(original, axis, out_axis, s)
            op = ops_[node.get_friendly_name()]
            op.set_weight(weight)
            old = op.bias()
            op.set_bias((old if old is not None else 0.0) + bias_delta)
        return full - len(keep)
