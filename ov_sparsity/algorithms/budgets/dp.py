"""Per-layer levels under a global budget by dynamic programming over measured costs (SPDY's solve).

Each layer l offers the levels of GRID at a measured cost c_l(level). The DP minimises Σ c_l over
one level per layer such that the pruned weights reach the global count, on a budget discretised
into `buckets` units (a layer's count rounded to the nearest unit). The result is then made exact:
the layers' counts are moved, within their grid segment, by the least marginal cost per weight
until they sum to the global count.
"""

from __future__ import annotations

import numpy as np

from ov_sparsity.algorithms.obs.budget import GRID


def dp_levels(costs: dict, sizes: dict, total_prune: int, buckets: int = 20000,
              grid: np.ndarray = GRID) -> dict:
    """{layer: grid index} minimising the summed cost with at least total_prune weights pruned (in
    bucket units). costs: {layer: cost at each grid level}."""
    names = list(costs)
    unit = max(sum(sizes.values()) / buckets, 1.0)
    need = int(np.ceil(total_prune / unit - 0.5))
    steps = {n: np.round(grid * sizes[n] / unit).astype(int) for n in names}
    top = int(sum(s[-1] for s in steps.values()))
    best = np.full(top + 1, np.inf)
    best[0] = 0.0
    args = []
    for n in names:
        new = np.full(top + 1, np.inf)
        arg = np.zeros(top + 1, np.int16)
        for j, (s, cj) in enumerate(zip(steps[n], np.asarray(costs[n], np.float64))):
            cand = np.full(top + 1, np.inf)
            cand[s:] = best[:top + 1 - s] + cj
            better = cand < new
            new[better], arg[better] = cand[better], j
        best = new
        args.append(arg)
    reach = np.arange(top + 1) >= min(need, top)
    b = int(np.argmin(np.where(reach, best, np.inf)))
    levels = {}
    for n, arg in zip(reversed(names), reversed(args)):
        j = int(arg[b])
        levels[n] = j
        b -= int(steps[n][j])
    return {n: levels[n] for n in names}


def exact_counts(levels: dict, costs: dict, sizes: dict, total_prune: int, grid: np.ndarray = GRID) -> dict:
    """The DP's levels as weight counts summing to exactly total_prune: the surplus (or shortfall) is
    given back by (taken from) the layers whose cost changes least per weight on the grid segment
    beside their count, linearly inside it."""
    points = {n: np.round(grid * sizes[n]).astype(int) for n in levels}
    counts = {n: int(points[n][j]) for n, j in levels.items()}
    diff = total_prune - sum(counts.values())
    while diff:
        best, pick = np.inf, None
        for n in levels:
            p, c, k = points[n], np.asarray(costs[n], np.float64), counts[n]
            if diff > 0:
                j = int(np.searchsorted(p, k, side="right"))  # the next grid point above k
                if j >= len(p):
                    continue
                room, slope = p[j] - k, (c[j] - c[j - 1]) / max(p[j] - p[j - 1], 1)
            else:
                j = int(np.searchsorted(p, k, side="left")) - 1  # the grid point below k
                if j < 0:
                    continue
                room, slope = k - p[j], -(c[j + 1] - c[j]) / max(p[j + 1] - p[j], 1)
            if room > 0 and slope < best:
                best, pick = slope, (n, int(room))
        if pick is None:
            break
        n, room = pick
        move = min(room, abs(diff))
        counts[n] += move if diff > 0 else -move
        diff -= move if diff > 0 else -move
    return counts


def allocate_dp(costs: dict, sizes: dict, total_prune: int, floor: dict | None = None) -> dict:
    """{layer: weights to prune} summing to exactly total_prune; levels below a layer's floor (weights
    pruned already) are not offered."""
    floor = floor or {}
    masked = {}
    for n, c in costs.items():
        c = np.asarray(c, np.float64).copy()
        c[np.round(GRID * sizes[n]) < floor.get(n, 0)] = np.inf
        if not np.isfinite(c).any():
            c[-1] = 0.0
        masked[n] = c
    levels = dp_levels(masked, sizes, total_prune)
    finite = {n: np.where(np.isfinite(c), c, 1e30) for n, c in masked.items()}
    return exact_counts(levels, finite, sizes, total_prune)
