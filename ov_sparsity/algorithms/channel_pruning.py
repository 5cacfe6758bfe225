"""ChannelPruning: remove whole output channels for real.

Three pieces kept apart (as in Torch-Pruning): what is coupled (graph.channels
finds the dependency groups; coupled producers are never split), how channels
are scored (`criterion`: l1 / l2 norm of the producer's BN-folded rows), and how
much (`prune_ratio` per group, or one global threshold over scores normalised
per group). UDFC builds on the same selection and adds the reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.params import check_range, check_shared
from ov_sparsity.algorithms.recovery.setting import (FRACTAL_SAMPLES, channel_recovery, check_recovery, distil,
                                                     real_images)
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.channels import ChannelGroup, find_channel_groups, remove_channels
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import const_value


def channel_scores(group: ChannelGroup, criterion: str) -> np.ndarray:
    rows = const_value(group.producer.input(1).get_source_output()).reshape(group.channels, -1)
    return np.abs(rows).sum(1) if criterion == "l1" else np.sqrt((rows.astype(np.float64) ** 2).sum(1))


def eligible_groups(model: ov.Model, scope: str, ignored: IgnoredScope) -> list[ChannelGroup]:
    groups = [g for g in find_channel_groups(model) if not ignored.matches(g.name, g.producer.get_type_name())]
    if scope == "expansion":  # inverted-residual expansions: channels that pass a depthwise conv
        groups = [g for g in groups if g.depthwise]
    return groups


def prune_count(channels: int, n_prune: int, multiple: int = 1) -> int:
    """Channels to remove so that the kept count is the nearest multiple of `multiple`
    (CPU kernels work in blocks of 8/16 channels; 11 of 16 costs as much as 16), at
    least one multiple (or one channel) and never more than all."""
    kept = channels - min(max(n_prune, 0), channels - 1)
    if multiple > 1 and channels >= multiple:
        kept = min(channels, max(multiple, int(kept / multiple + 0.5) * multiple))
    return channels - kept


def select_channels(groups: list[ChannelGroup], ratio: float, criterion: str, distribution: str,
                    multiple: int = 1) -> dict:
    """{producer name: sorted indices of the channels to keep}; at least one channel per group."""
    scores = {g.name: channel_scores(g, criterion) for g in groups}
    if distribution == "global":
        normed = {n: s / max(s.mean(), 1e-12) for n, s in scores.items()}
        pooled = np.concatenate(list(normed.values()))
        k = int(round(ratio * pooled.size))
        threshold = np.partition(pooled, k - 1)[k - 1] if k > 0 else -np.inf
        counts = {n: int(np.count_nonzero(s <= threshold)) for n, s in normed.items()}
    else:
        counts = {n: int(round(ratio * s.size)) for n, s in scores.items()}
    keep = {}
    for name, s in scores.items():
        n_prune = prune_count(s.size, counts[name], multiple)
        order = np.argsort(s, kind="stable")
        keep[name] = np.sort(order[n_prune:])
    return keep


def are_widths(value) -> bool:
    """Whether `value` has the `widths` parameter's shape: a non-empty {group name: channels kept >= 0}."""
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0 for k, v in value.items())


def given_widths(groups: list[ChannelGroup], widths: dict, drops: bool = True) -> dict:
    """{group: width} for every group from the `widths` parameter (groups it leaves out: dense), each
    name and count checked against the model; 0 (the residual branch dropped) only where `drops`."""
    from ov_sparsity.graph.channels import residual_branch

    by_name = {g.name: g for g in groups}
    unknown = sorted(set(widths) - set(by_name))
    if unknown:
        names = ", ".join(sorted(by_name)[:8]) + (", ..." if len(by_name) > 8 else "")
        raise OvSparsityError(f"parameter 'widths': no prunable channel group named {unknown[0]!r} in this model "
                              f"(its {len(by_name)} groups: {names})")
    out = {}
    for name, g in by_name.items():
        w = widths.get(name, g.channels)
        if w > g.channels:
            raise OvSparsityError(f"parameter 'widths': {name} has {g.channels} channels, asked to keep {w}")
        if w == 0 and (not drops or residual_branch(g) is None):
            why = "it is not a residual branch" if drops else "dropping a branch needs calibration data"
            raise OvSparsityError(f"parameter 'widths': {name} at 0 channels, but {why}")
        out[name] = w
    return out


@dataclass
class ChannelPruningParams:
    prune_ratio: float = 0.3
    # auto: the structured second-order cost on calibration data (structured/cost.py) where the run has
    # data, else l1 of the producer's rows
    criterion: Literal["auto", "l1", "l2", "obs"] = "auto"
    distribution: Literal["per_layer", "global"] = "per_layer"
    scope: Literal["all", "expansion"] = "all"
    channel_multiple: int = 1
    ignored_scope: Any = None
    speedup: Optional[float] = None  # a measured latency target instead of prune_ratio (structured/)
    # fixed widths instead of a ratio or a search: {group (its producer's name): channels kept, 0: its residual
    # branch dropped whole}, groups left out stay dense. A --speedup run's widths follow this CPU's timing
    # (ResNet-56 81.25-82.10 across runs); its report's `layers` given back here rebuild it byte for byte
    widths: Optional[dict] = None
    latency_batch: int = 1  # the batch the speed-up is measured at (1: latency; larger: throughput users)
    precision: Literal["fp32", "int8"] = "fp32"  # the precision the speed-up is measured in
    min_fraction: float = 0.25  # the narrowest width a group may take, as a fraction of its channels
    num_samples: int = 256  # calibration images for the statistics (channel costs, least-squares rebuild)
    refit: bool = True  # after the least-squares rebuild, UDFC's sequential refit toward the dense model
    # the refit's images: the statistics ones and further ones, up to this many. Fitted on 256, MobileNetV2
    # agreed with dense on 92.6% of them and on 71% of calibration images it had not seen; on 700 the held-out
    # KL fell 0.504 -> 0.409 (ResNet-56 0.319 -> 0.281), but MobileNetV2's refit took 310 s: 512 keeps the
    # compress within 10 minutes (docs/results.md)
    refit_samples: int = 512
    # speedup: each group's accuracy curve measured through the whole network on `sensitivity_samples`
    # calibration samples (structured/sensitivity.py), or the per-consumer structured OBS cost alone
    costs: Literal["measured", "structured"] = "measured"
    sensitivity_samples: int = 64
    # after the refit, the pruned model distilled from the original (recovery/setting.py): on the calibration
    # images themselves (ResNet-56 --speedup 1.4 at fixed widths, 300 calibration images no step saw: KL 0.305
    # -> 0.248, agreement 88.7 -> 90.7), or on synthetic data on `recovery_samples` fractals, as data-free UDFC
    # does (75.67 -> 77.37). 'auto': on for models of at most 200M MACs per image; 'none'; a mode; a mapping
    # of Recovery params (CHANNEL_AUTO's settings, or CHANNEL_AUTO_SYNTHETIC's on fractals, fill what it
    # leaves out)
    recovery: Any = "auto"
    recovery_samples: int = FRACTAL_SAMPLES

    def __post_init__(self):
        check_range("prune_ratio", self.prune_ratio, 0.0, 1.0)
        check_shared("channel_multiple", self.channel_multiple, "channel_multiple")
        if self.speedup is not None:
            check_shared("speedup", self.speedup, "speedup")
        check_shared("latency_batch", self.latency_batch, "batch_size")
        check_range("min_fraction", self.min_fraction, 0.01, 1.0)
        check_range("num_samples", self.num_samples, 1, 1 << 20)
        check_range("refit_samples", self.refit_samples, 1, 1 << 20)
        check_range("sensitivity_samples", self.sensitivity_samples, 1, 1 << 16)
        check_range("recovery_samples", self.recovery_samples, 10, 1 << 20)
        check_recovery(self.recovery)
        if self.widths is not None:
            if not are_widths(self.widths):
                raise OvSparsityError("parameter 'widths' must map channel group names to channel counts "
                                      f"(integers >= 0), got {self.widths!r}"[:300])
            if self.speedup is not None:
                raise OvSparsityError("parameters 'widths' and 'speedup' both given: widths fixes every group's "
                                      "channel count, speedup searches for them; give one")
        if self.speedup is not None and self.criterion in ("l1", "l2"):
            raise OvSparsityError("speedup chooses widths by the structured cost on calibration data: criterion "
                                  "'auto' or 'obs'")
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)


@register
class ChannelPruning(Algorithm):
    name = "ChannelPruning"
    Params = ChannelPruningParams

    def reads_dataset(self) -> bool:
        return self.params.criterion in ("auto", "obs") or self.params.speedup is not None

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        groups = eligible_groups(model, p.scope, p.ignored_scope)
        if not groups:
            raise OvSparsityError(f"{self.name}: the model has no prunable channel groups")
        with_data = ctx.dataset is not None and len(ctx.dataset) > 0
        if p.criterion == "obs" or p.speedup is not None:
            ctx.require_dataset(self.name)
        by_norm = p.criterion in ("l1", "l2") or not with_data
        # checked now (a bad name or count before the statistics), resolved once for the path that follows
        fixed = given_widths(groups, p.widths, drops=not by_norm) if p.widths is not None else None
        if by_norm:
            return self._by_norm(model, groups, ctx, fixed)
        from ov_sparsity.algorithms.structured.algorithm import prune_with_data

        recovery = channel_recovery(p.recovery, model, synthetic=not real_images(ctx))
        original = model.clone() if recovery is not None else None
        model = prune_with_data(model, groups, p, ctx, self.name, fixed)
        if recovery is None or not ctx.reports[self.name]["channels_removed"]:
            return model
        if real_images(ctx) or ctx.preprocessing is not None:  # fractals need the model's preprocessing
            model = distil(model, original, recovery, ctx, p.recovery_samples)
            ctx.reports[self.name]["recovery"] = ctx.reports["Recovery"]
        return model

    def _by_norm(self, model: ov.Model, groups: list, ctx: Context, fixed: Optional[dict]) -> ov.Model:
        p = self.params
        criterion = "l1" if p.criterion == "auto" else p.criterion
        if fixed is not None:
            keep = {g.name: np.sort(np.argsort(channel_scores(g, criterion), kind="stable")
                                    [g.channels - fixed[g.name]:]) for g in groups}
        else:
            keep = select_channels(groups, p.prune_ratio, criterion, p.distribution, p.channel_multiple)
        removed = 0
        for g in groups:
            removed += g.channels - len(keep[g.name])
            remove_channels(model, g, keep[g.name])
        log.info("%s: %d channels removed from %d groups", self.name, removed, len(groups))
        ctx.reports[self.name] = {"groups": len(groups), "channels_removed": removed, "criterion": p.criterion,
                                  "layers": {g.name: {"channels": g.channels, "kept": int(len(keep[g.name]))}
                                             for g in groups}}
        if fixed is not None:
            ctx.reports[self.name]["widths_given"] = True
        return model
