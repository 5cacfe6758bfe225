"""Iterated function systems: category search and instance jitter.

A system is an array [N, 6] of affine maps (a, b, c, d, e, f):
    x' = a x + b y + e,   y' = c x + d y + f
chosen with probabilities proportional to |ad - bc| (FractalDB, Kataoka et al. 2020).

Category search (FractalDB): 2..7 maps, parameters ~ U(-1, 1), kept when 100,000
points of its attractor, min-max normalised onto a 512x512 canvas, cover at least
a fifth of the pixels. Or (`sampler="svd"`, Anderson & Farrell 2022) each map's
linear part is R(θ)·diag(σ1, σ2)·R(φ)·D with a random reflection D and singular
values drawn so that Σ(σ1 + 2σ2) = α, α ~ U((5+N)/2, (6+N)/2): contractive by
construction, with few degenerate systems.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# FractalDB's weight table: one parameter at a time scaled by these factors
JITTER_WEIGHTS = (0.8, 0.9, 1.1, 1.2)


@dataclass(frozen=True)
class FractalOptions:
    sampler: str = "fractaldb"  # "fractaldb" | "svd"
    min_maps: int = 2
    max_maps: int = 7
    fill_threshold: float = 0.2
    search_points: int = 100_000
    search_canvas: int = 512
    instances_per_category: int = 4
    render_points: int = 60_000
    patch: bool = True
    colour: str = "random"  # "random" | "gray"
    background: str = "random"  # "random" | "black"

    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in asdict(self).items())


def probabilities(system: np.ndarray) -> np.ndarray:
    det = np.abs(system[:, 0] * system[:, 3] - system[:, 1] * system[:, 2])
    total = det.sum()
    return det / total if total > 0 else np.full(len(system), 1.0 / len(system))


def iterate(system: np.ndarray, n_points: int, rng: np.random.Generator, chains: int = 2048,
            burn_in: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """The chaos game, run as many parallel chains (vectorised): (points [n, 2], map index [n])."""
    steps = burn_in + -(-n_points // chains)
    choice = rng.choice(len(system), size=(steps, chains), p=probabilities(system))
    x = rng.uniform(-1, 1, chains)
    y = rng.uniform(-1, 1, chains)
    pts = np.empty((steps - burn_in, chains, 2))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            p = system[choice[t]]
            x, y = p[:, 0] * x + p[:, 1] * y + p[:, 4], p[:, 2] * x + p[:, 3] * y + p[:, 5]
            if t >= burn_in:
                pts[t - burn_in, :, 0], pts[t - burn_in, :, 1] = x, y
    return pts.reshape(-1, 2)[:n_points], choice[burn_in:].reshape(-1)[:n_points]


def to_pixels(points: np.ndarray, size: int, margin: float = 0.0) -> np.ndarray | None:
    """Min-max normalise points onto a size x size grid: integer (row, col), or None if degenerate."""
    if not np.all(np.isfinite(points)) or np.abs(points).max() > 1e6:
        return None
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = hi - lo
    if np.any(span < 1e-9):
        return None
    inner = size * (1 - 2 * margin) - 1
    px = (points - lo) / span.max() * inner + size * margin + (span.max() - span) / span.max() * inner / 2
    return np.clip(px.astype(np.int64), 0, size - 1)


def fill_ratio(system: np.ndarray, rng: np.random.Generator, n_points: int = 100_000, canvas: int = 512) -> float:
    """Fraction of a canvas x canvas grid covered by n_points of the attractor (min-max normalised)."""
    pts, _ = iterate(system, n_points, rng)
    px = to_pixels(pts, canvas)
    if px is None:
        return 0.0
    grid = np.zeros(canvas * canvas, dtype=bool)
    grid[px[:, 1] * canvas + px[:, 0]] = True
    return float(np.count_nonzero(grid) / canvas ** 2)


def _random_system(n_maps: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1, 1, (n_maps, 6))


def _svd_system(n_maps: int, rng: np.random.Generator) -> np.ndarray:
    alpha = rng.uniform((5 + n_maps) / 2, (6 + n_maps) / 2)
    while True:  # split alpha over the maps, each share in [0, 3]
        share = alpha * rng.dirichlet(np.ones(n_maps))
        if np.all(share <= 3):
            break
    s2 = rng.uniform(np.maximum(0, (share - 1) / 2), share / 3)
    s1 = share - 2 * s2
    system = np.empty((n_maps, 6))
    for i in range(n_maps):
        th, ph = rng.uniform(0, 2 * np.pi, 2)
        r1 = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        r2 = np.array([[np.cos(ph), -np.sin(ph)], [np.sin(ph), np.cos(ph)]])
        d = np.diag([rng.choice([-1.0, 1.0]), 1.0])
        m = r1 @ np.diag([s1[i], s2[i]]) @ r2 @ d
        system[i, :4] = m.ravel()
    system[:, 4:] = rng.uniform(-1, 1, (n_maps, 2))
    return system


def sample_category(rng: np.random.Generator, options: FractalOptions, max_tries: int = 2000) -> np.ndarray:
    """A system whose attractor fills >= options.fill_threshold of the search canvas."""
    return search_category(rng, options, max_tries)[0]


def search_category(rng: np.random.Generator, options: FractalOptions, max_tries: int = 2000):
    """(system, its measured fill ratio)."""
    make = _svd_system if options.sampler == "svd" else _random_system
    for _ in range(max_tries):
        system = make(int(rng.integers(options.min_maps, options.max_maps + 1)), rng)
        # coverage grows concavely with the number of points: a fifth of them covering less than
        # a fifth of the threshold (with a margin) cannot pass; most candidates stop here
        quick = fill_ratio(system, rng, options.search_points // 5, options.search_canvas)
        if quick * 5 < 0.9 * options.fill_threshold:
            continue
        fill = fill_ratio(system, rng, options.search_points, options.search_canvas)
        if fill >= options.fill_threshold:
            return system, fill
    raise RuntimeError("no fractal category met the fill threshold")


def jitter(system: np.ndarray, instance: int, rng: np.random.Generator) -> np.ndarray:
    """Instance 0 is the category itself; others scale one random parameter by a weight of the table."""
    if instance == 0:
        return system
    out = system.copy()
    i, j = rng.integers(len(system)), rng.integers(6)
    out[i, j] *= JITTER_WEIGHTS[int(rng.integers(len(JITTER_WEIGHTS)))]
    return out
