"""SecondOrderSparsity: per-layer levels from one global budget, then one sequential
pass in topological order; each layer's Hessian (input Gram) is taken on the inputs
of the model as pruned so far, and the layer is pruned and compensated by the
second-order solver (solver.py). The network is run once (engine.sequential)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np
import openvino as ov
import torch

from ov_sparsity.algorithms.damping import DAMPING, SYNTHETIC_DAMPING
from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.layerwise.lstsq import dense_augmented, solve_masked
from ov_sparsity.algorithms.magnitude import check_not_emptied, select_masks
from ov_sparsity.algorithms.obs.budget import allocate, saliency_curve
from ov_sparsity.algorithms.obs.solver import prune_layer
from ov_sparsity.algorithms.params import check_range
from ov_sparsity.data.datasets import Subset, as_array, iter_batches
from ov_sparsity.engine.layer_data import collect_layer_data
from ov_sparsity.engine.layer_torch import SUPPORTED, LayerGeometry
from ov_sparsity.engine.sequential import FrontierWalk, activation_bytes, prefix_inputs
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import find_weighted_ops
from ov_sparsity.progress import bar

MIN_SAMPLES_PER_INPUT = 2  # fewer samples than this per Hessian column: keep only its diagonal and means


def default_damping(dataset) -> float:
    return SYNTHETIC_DAMPING if getattr(dataset, "synthetic", False) else DAMPING


@dataclass
class SecondOrderParams:
    sparsity_level: float = 0.5
    allocation: Literal["threshold", "loss", "uniform", "measured"] = "threshold"  # how the global level is spread
    # over layers: one threshold over `criterion` scores, single-weight OBS losses ('loss'), the same level
    # everywhere, or each layer's output loss measured through the network, allocated by DP ('measured')
    sensitivity_samples: int = 64  # 'measured': calibration samples the curves are measured on
    criterion: Literal["lamp", "l2_normalized", "magnitude"] = "lamp"  # scores for 'threshold'
    block_size: int = 128
    damping: Optional[float] = None  # None: DAMPING, or SYNTHETIC_DAMPING on synthetic images
    target: Literal["dense", "current"] = "dense"  # fit the dense model's output, or the layer's own on its inputs
    refit: bool = True  # after the mask is chosen, solve the masked least squares exactly
    num_samples: int = 300  # calibration images used for the Hessians (fewer if memory_budget_gb says so)
    memory_budget_gb: float = 3.0  # for the activations kept at the frontier of the sequential pass
    stream_samples: int = 1000  # layers short of Hessian samples (a classifier sees one pooled vector per
    # image) also take up to this many calibration images, streamed through the network's prefix
    cap_undersampled: bool = False  # layers with too few samples for their Hessian: at most the global level
    # (measured worse on MobileNetV2: docs/results.md)
    batch_size: int = 16
    ignored_scope: Any = None

    def __post_init__(self):
        check_range("sparsity_level", self.sparsity_level, 0.0, 1.0)
        check_range("block_size", self.block_size, 1, 1 << 20)
        if self.damping is not None:
            check_range("damping", self.damping, 1e-8, 10.0, high_open=False)
        check_range("num_samples", self.num_samples, 1, 1 << 24)
        check_range("stream_samples", self.stream_samples, 1, 1 << 24)
        check_range("sensitivity_samples", self.sensitivity_samples, 1, 1 << 20)
        check_range("batch_size", self.batch_size, 1, 4096, high_open=False)
        check_range("memory_budget_gb", self.memory_budget_gb, 0.01, 1024)
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)


def columns(geo: LayerGeometry, values: np.ndarray, groups: np.ndarray | None = None) -> torch.Tensor:
    """[G, F, M]: every receptive-field patch of the batch as a column, per group (only `groups`,
    where given: the kept channels of a pruned depthwise conv)."""
    p = geo.patches(torch.from_numpy(values))  # [N, G, F, L]
    if groups is not None:
        p = p[:, torch.from_numpy(groups)]
    n, g, f, positions = p.shape
    return p.permute(1, 2, 0, 3).reshape(g, f, n * positions)


def moment(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Σ ã b~ᵀ over the columns of a [G, Fa, M], b [G, Fb, M] with the constant 1 appended:
    [G, Fa+1, Fb+1] float64."""
    g, f, m = a.shape
    fb = b.shape[1]
    out = torch.empty(g, f + 1, fb + 1, dtype=torch.float64)
    out[:, :f, :fb] = torch.bmm(a, b.transpose(1, 2)).double()  # float32 products, float64 across batches
    ones = torch.ones(m, 1, dtype=a.dtype)
    out[:, :f, fb] = (a @ ones)[..., 0].double()
    out[:, f, :fb] = (b @ ones)[..., 0].double()
    out[:, f, fb] = m
    return out


def layer_moments(geo: LayerGeometry, inputs: np.ndarray, dense_inputs=None, batch: int = 16):
    """H = E[x~ x~ᵀ] per group over every receptive-field patch of the layer's `inputs`; with the
    dense model's inputs also C = E[x~ x~_dᵀ]. Returns (H, C or None, patch count)."""
    gram, cross, count = None, None, 0
    for start in range(0, len(inputs), batch):
        a = columns(geo, inputs[start:start + batch])
        acc = moment(a, a)
        gram = acc if gram is None else gram + acc
        if dense_inputs is not None:
            xc = moment(a, columns(geo, dense_inputs[start:start + batch]))
            cross = xc if cross is None else cross + xc
        count += a.shape[2]
    return gram / count, (cross / count if cross is not None else None), count


def retarget(w_aug: torch.Tensor, gram: torch.Tensor, cross: torch.Tensor, damping: float,
             toward: torch.Tensor | None = None) -> torch.Tensor:
    """The weights that best reproduce the dense layer's output on the dense inputs from the inputs the
    pruned model gives it, damped toward the dense weights (or `toward`):
    W* = (W C_ᵀ + λ W)(H + λI)⁻¹ with C = E[x~ x~_dᵀ], λ = damping · mean diag H. OBS then prunes W*:
    E‖W x_d − W' x‖² = (W' − W*) H (W' − W*)ᵀ + const. C may be rectangular (the pruned layer reads
    fewer channels than the dense one)."""
    lam = damping * torch.diagonal(gram[:, :-1, :-1], dim1=1, dim2=2).mean(dim=1).clamp_min(1e-12)
    eye = torch.eye(gram.shape[-1], dtype=torch.float64)
    lhs = gram + lam[:, None, None] * eye
    rhs = torch.einsum("goj,gij->goi", w_aug, cross) + lam[:, None, None] * (w_aug if toward is None else toward)
    return torch.linalg.solve(lhs, rhs.transpose(1, 2)).transpose(1, 2)


def shrink(moment: torch.Tensor, samples: int) -> torch.Tensor:
    """Too few samples for a full second moment (a classifier fed one pooled vector per image): the
    means (bias slot) are kept, the covariance is shrunk toward its diagonal in proportion to the
    samples per column, α = n / (n + F) (Ledoit-Wolf's direction, a fixed weight):
    M = [[m m_dᵀ + α Cov + (1 − α) diag(Cov), m], [m_dᵀ, 1]]. For H (m_d = m) this is positive
    definite wherever inputs vary; cross-input updates are damped as far as the samples are few,
    so they do not fit the calibration set."""
    f = moment.shape[-1] - 1
    alpha = samples / (samples + f)
    m, m_d = moment[:, :-1, -1], moment[:, -1, :-1]
    outer = m[:, :, None] * m_d[:, None, :]
    cov = moment[:, :-1, :-1] - outer
    out = moment.clone()
    out[:, :-1, :-1] = outer + alpha * cov + (1 - alpha) * torch.diag_embed(torch.diagonal(cov, dim1=1, dim2=2))
    return out


@register
class SecondOrderSparsity(Algorithm):
    name = "SecondOrderSparsity"
    Params = SecondOrderParams
    aliases = {"ignored": "ignored_scope"}

    def reads_dataset(self) -> bool:
        return True

    def layer_counts(self, ops_: dict, ctx: Context, images: int) -> dict:
        """{layer: weights to prune}: from measured second-order losses (allocation 'loss'), or one
        global threshold over normalised magnitudes (or the same level everywhere: 'uniform')."""
        p = self.params
        weights = {name: op.weight() for name, op in ops_.items()}
        kept = {n: m for n, m in ctx.masks.items() if n in weights}
        if p.allocation == "measured":
            from ov_sparsity.algorithms.budgets import allocate_dp, measure_curves
            from ov_sparsity.algorithms.recovery.losses import is_classifier

            sizes = {n: w.size for n, w in weights.items()}
            order = np.random.default_rng([ctx.seed, 2]).permutation(len(ctx.dataset))[:p.sensitivity_samples]
            samples = as_array(ctx.dataset, order)
            curves = measure_curves(ctx.dense_model, samples, list(weights), is_classifier(ctx.dense_model),
                                    batch=p.batch_size * 2, progress=ctx.progress)
            self.curves = curves
            return allocate_dp(curves, sizes, int(round(p.sparsity_level * sum(sizes.values()))),
                               {n: int(m.sum()) for n, m in kept.items()})
        if p.allocation == "loss":
            sizes = {n: w.size for n, w in weights.items()}
            data = collect_layer_data(ctx.dense_model, None, list(weights), _subset(ctx.dataset, p.num_samples),
                                      gram=True, progress=False)
            curves = {name: saliency_curve(_augmented_rows(op, data[name].geometry), data[name].gram, self.damping)
                      for name, op in ops_.items()}
            self.curves = curves
            return allocate(curves, sizes, int(round(p.sparsity_level * sum(sizes.values()))),
                            {n: int(m.sum()) for n, m in kept.items()})
        distribution = "uniform" if p.allocation == "uniform" else "global"
        counts = {n: int(m.sum()) for n, m in select_masks(weights, p.sparsity_level, p.criterion, distribution,
                                                             kept).items()}
        capped = {n for n in self._undersampled(ops_, images)
                  if counts[n] > p.sparsity_level * weights[n].size}
        if not p.cap_undersampled or not capped or len(capped) == len(weights):
            return counts
        # a layer with too few samples for its Hessian gets only a weak compensation: no more than the
        # global level; the rest of the budget is spread over the other layers by the same threshold
        fixed = {n: max(int(round(p.sparsity_level * weights[n].size)), int(kept[n].sum()) if n in kept else 0)
                 for n in capped}
        rest = {n: w for n, w in weights.items() if n not in capped}
        target = int(round(p.sparsity_level * sum(w.size for w in weights.values())))
        level = min(max(target - sum(fixed.values()), 0) / sum(w.size for w in rest.values()), 0.999)
        counts = {n: int(m.sum()) for n, m in select_masks(rest, level, p.criterion, distribution,
                                                             {n: m for n, m in kept.items() if n in rest}).items()}
        return {**counts, **fixed}

    @staticmethod
    def _undersampled(ops_: dict, images: int) -> set:
        """Layers whose calibration samples (images x output positions) are fewer than
        MIN_SAMPLES_PER_INPUT per Hessian column (static shapes only)."""
        out = set()
        for op in ops_.values():
            ps = op.node.get_output_partial_shape(0)
            if ps.rank.is_dynamic or not all(d.is_static for d in list(ps)[1:]):
                continue
            dims = [1] + [d.get_length() for d in list(ps)[1:]]
            positions = int(np.prod(dims[2:])) if op.type != "MatMul" else int(np.prod(dims[1:-1]))
            if images * positions < MIN_SAMPLES_PER_INPUT * (LayerGeometry.from_op(op).fan_in + 1):
                out.add(op.name)
        return out

    def _prune(self, op, values: np.ndarray, dense_values, count: int, ctx: Context, extra=None,
               model: ov.Model | None = None) -> dict:
        """Prune one layer in place: its Hessian from `values` (its inputs in the model pruned so far),
        the target retargeted to the dense model's output when dense_values are given. A layer with
        too few samples there also takes the images of `extra`, streamed through the prefix of `model`."""
        p = self.params
        geo = LayerGeometry.from_op(op)
        clock = [time.perf_counter()]
        gram, cross, samples = layer_moments(geo, values, dense_values, p.batch_size)
        if extra is not None and len(extra) and samples < MIN_SAMPLES_PER_INPUT * (geo.fan_in + 1):
            gram, cross, samples = self._add_streamed(op, geo, model, extra, ctx, (gram, cross, samples),
                                                      dense_values is not None)
        clock.append(time.perf_counter())
        full = samples >= MIN_SAMPLES_PER_INPUT * (geo.fan_in + 1)
        if not full:
            gram = shrink(gram, samples)
            cross = shrink(cross, samples) if cross is not None else None
        rows = op.to_rows(op.weight())
        w_aug = _augmented_rows(op, geo)
        energy = float(torch.einsum("goi,gij,goj->", w_aug, gram, w_aug))
        start = retarget(w_aug, gram, cross, self.damping) if cross is not None else w_aug
        clock.append(time.perf_counter())
        keep_pruned = ctx.masks.get(op.name)
        result = prune_layer(start[..., :-1], start[..., -1], gram, count,
                             block=p.block_size, damp=self.damping,
                             keep_pruned=None if keep_pruned is None else torch.from_numpy(
                                 geo.group_rows(op.to_rows(keep_pruned))))
        clock.append(time.perf_counter())
        solved = torch.cat([result.weight, result.bias[..., None]], dim=2)
        if p.refit and full:  # the exact masked least squares on the chosen mask (every kept weight moves)
            keep = torch.cat([~result.mask, torch.ones_like(result.mask[..., :1])], dim=2)
            solved = solve_masked(gram, cross, w_aug, keep, self.damping)
        clock.append(time.perf_counter())
        op.set_weight(op.from_rows(solved[..., :-1].reshape(geo.out_channels, -1).numpy().astype(np.float32)))
        op.set_bias(solved[..., -1].reshape(-1).numpy().astype(np.float32))
        ctx.masks[op.name] = op.from_rows(result.mask.reshape(geo.out_channels, -1).numpy()).astype(bool)
        return {"name": op.name, "sparsity": count / rows.size, "samples": samples,
                "hessian": "full" if full else "shrunk", "relative_loss": result.loss / max(energy / 2, 1e-30),
                "seconds": dict(zip(("moments", "retarget", "obs", "refit"),
                                    (round(b - a, 4) for a, b in zip(clock, clock[1:]))))}

    def _add_streamed(self, op, geo: LayerGeometry, model: ov.Model, extra, ctx: Context, moments: tuple,
                      dense: bool) -> tuple:
        """The moments of `moments` (gram, cross, samples) pooled with those of the images in `extra`,
        whose inputs to `op` come from running the prefix of the current (and of the dense) model."""
        gram, cross, samples = moments
        gram, cross = gram * samples, (cross * samples if cross is not None else None)
        batches = [x for x, _ in iter_batches(extra, 64, progress=False)]
        current = prefix_inputs(model, op.name, batches, self.params.batch_size)
        reference = prefix_inputs(ctx.dense_model, op.name, batches, self.params.batch_size) if dense else None
        for values in current:
            g, c, m = layer_moments(geo, values, next(reference) if dense else None, self.params.batch_size)
            gram, samples = gram + g * m, samples + m
            cross = cross + c * m if dense else None
        return gram / samples, (cross / samples if dense else None), samples

    def _images_within_budget(self, model: ov.Model, layers: list, n: int) -> int:
        """The sequential pass keeps about two activations per walk per image (the layer's input and
        what is still live beside it); a second walk runs on the dense model for the dense target."""
        p = self.params
        per_image = 2 * activation_bytes(model, layers) * (2 if p.target == "dense" else 1)
        fit = int(p.memory_budget_gb * (1 << 30) // per_image) if per_image else n
        if fit < n:
            log.info("%s: %d of %d calibration images fit the %.1f GB activation budget (memory_budget_gb)",
                     self.name, max(fit, 1), n, p.memory_budget_gb)
        return max(1, min(n, fit))

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        dataset = ctx.require_dataset(self.name)
        self.damping = p.damping if p.damping is not None else default_damping(dataset)
        # handles stay valid while the walk edits weights: edits replace constants, not ops
        ops_ = {op.name: op for op in find_weighted_ops(model, p.ignored_scope) if op.type in SUPPORTED}
        if not ops_:
            raise OvSparsityError(f"{self.name}: no prunable layers (Convolution, GroupConvolution, MatMul)")
        n = self._images_within_budget(model, list(ops_), min(len(dataset), p.num_samples))
        counts = self.layer_counts(ops_, ctx, n)
        sizes = {name: int(np.prod(op.weight_shape())) for name, op in ops_.items()}
        check_not_emptied(self.name, p.sparsity_level, counts, sizes)
        # a seeded random n, not the first n: synthetic sets come ordered (fractal categories)
        order = np.random.default_rng(ctx.seed).permutation(len(dataset))
        images = as_array(dataset, order[:n])
        extra = Subset(dataset, sorted(order[n:max(n, p.stream_samples)].tolist()))  # for layers short of data
        walk = FrontierWalk(model, images, list(ops_), batch_size=p.batch_size)
        dense_walk = FrontierWalk(ctx.dense_model, images, list(ops_), batch_size=p.batch_size) \
            if p.target == "dense" else None
        layers, t_start = [], time.perf_counter()
        with bar(total=len(ops_), desc="second-order pruning", enable=ctx.progress, unit="layer") as pbar:
            for (name, values), dense in zip(walk, dense_walk or [(None, None)] * len(ops_)):
                t0 = time.perf_counter()
                layers.append(self._prune(ops_[name], values, dense[1], counts[name], ctx, extra, model))
                model.validate_nodes_and_infer_types()
                layers[-1].update(input_s=round(walk.stats.seconds[name] + (
                    dense_walk.stats.seconds[name] if dense_walk else 0.0), 4),
                    solve_s=round(time.perf_counter() - t0, 4))
                pbar.update(1)
        pruned = sum(counts.values())
        total = sum(sizes.values())
        log.info("%s: %d of %d weights pruned in %d layers (%.2f%%) in %.1f s", self.name, pruned, total,
                 len(counts), 100.0 * pruned / total, time.perf_counter() - t_start)
        ctx.reports[self.name] = {"layers": layers, "images": n, "subgraph_runs": walk.stats.subgraph_runs,
                                  "max_runs_per_op": max(walk.stats.ops_run.values(), default=0)}
        return model


def _subset(dataset, n: int):
    return Subset(dataset, range(min(len(dataset), n)))


def _augmented_rows(op, geo: LayerGeometry) -> torch.Tensor:
    """[G, O/G, F+1] float64: the op's weight rows with its bias (or 0) last."""
    return dense_augmented(op.to_rows(op.weight()), op.bias(), geo.groups)
