"""Per-layer sparsity from measured losses.

Each layer's loss-versus-sparsity curve comes from the second-order solver on the
dense model's Hessian (relative to the layer's output energy, so layers compare).
The levels minimise the summed relative loss under the global budget: a greedy
priority queue raises, one grid step at a time, the layer whose next step costs
the least loss per pruned weight; the last step is taken in part, so the global
count is met exactly.
"""

from __future__ import annotations

import heapq

import numpy as np

from ov_sparsity.algorithms.damping import DAMPING

GRID = np.round(np.linspace(0.0, 0.95, 20), 4)  # a layer is never pruned past 95%


def allocate(curves: dict, sizes: dict, total_prune: int, floor: dict | None = None) -> dict:
    """curves: {layer: relative loss at each GRID level}; sizes: {layer: weights}; floor: {layer: weights
    that must be pruned already}. Returns {layer: weights to prune}, summing to exactly total_prune
    (or to what the grid allows)."""
    floor = floor or {}
    curve = {n: np.maximum.accumulate(np.asarray(c, np.float64)) for n, c in curves.items()}
    at = {n: lambda i, n=n: int(round(GRID[i] * sizes[n])) for n in curves}  # weights at grid level i
    counts, level, heap = {}, {}, []

    def push(n):
        i = level[n]
        if i + 1 < len(GRID):
            slope = (curve[n][i + 1] - curve[n][i]) / max(at[n](i + 1) - at[n](i), 1)  # loss per weight
            heapq.heappush(heap, (slope, n))

    for n in curves:  # every layer starts at what it must prune already, inside its grid segment
        counts[n] = min(floor.get(n, 0), at[n](len(GRID) - 1))
        level[n] = max(i for i in range(len(GRID)) if at[n](i) <= counts[n])
        push(n)
    remaining = total_prune - sum(counts.values())
    while remaining > 0 and heap:
        _, n = heapq.heappop(heap)
        step = at[n](level[n] + 1) - counts[n]
        take = min(step, remaining)
        counts[n] += take
        remaining -= take
        if take == step:
            level[n] += 1
            push(n)
    return counts


def uniform_counts(sizes: dict, total_prune: int) -> dict:
    """The same fraction everywhere (largest remainders), for comparison."""
    total = sum(sizes.values())
    exact = {n: total_prune * s / total for n, s in sizes.items()}
    counts = {n: int(np.floor(v)) for n, v in exact.items()}
    short = total_prune - sum(counts.values())
    for n in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:short]:
        counts[n] += 1
    return counts


def saliency_curve(weight, gram, damp: float = DAMPING) -> np.ndarray:
    """Relative loss at each GRID level estimated from the single-weight OBS costs w²/[H⁻¹]ⱼⱼ, summed
    over the cheapest k (interactions ignored): one inverse per layer. weight [G, O, F+1] with the bias
    last (never pruned), gram [G, F+1, F+1]."""
    import torch

    from ov_sparsity.algorithms.obs.solver import prepare_hessian

    h, _ = prepare_hessian(gram, damp)
    inv_diag = torch.diagonal(torch.linalg.inv(h), dim1=1, dim2=2)  # [G, F+1]
    w = weight.double()
    costs = (w[:, :, :-1] ** 2 / inv_diag[:, None, :-1]).reshape(-1).numpy() / 2
    energy = float(torch.einsum("goi,gij,goj->", w, gram.double(), w)) / 2
    cum = np.concatenate([[0.0], np.cumsum(np.sort(costs))])
    ks = np.round(GRID * costs.size).astype(int)
    return cum[ks] / max(energy, 1e-30)
