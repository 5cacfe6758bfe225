"""Rendering an IFS instance as a randomly coloured RGB image (uint8, H x W x 3)."""

from __future__ import annotations

import colorsys

import numpy as np

from ov_sparsity.data.fractals.ifs import FractalOptions, iterate, to_pixels


def _patch_kernel(rng: np.random.Generator) -> np.ndarray:
    """FractalDB's patch rendering: every point stamps a random 3x3 binary patch."""
    k = rng.random((3, 3)) < 0.5
    k[1, 1] = True
    return k


def _stamp(density: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """density [M, H, W] convolved with a 3x3 kernel (zero padded)."""
    padded = np.pad(density, ((0, 0), (1, 1), (1, 1)))
    h, w = density.shape[1:]
    out = np.zeros_like(density)
    for dy in range(3):
        for dx in range(3):
            if kernel[dy, dx]:
                out += padded[:, dy:dy + h, dx:dx + w]
    return out


def _colours(n: int, rng: np.random.Generator, gray: bool) -> np.ndarray:
    if gray:
        v = rng.uniform(0.5, 1.0, n)
        return np.stack([v, v, v], axis=1)
    hue0 = rng.random()
    return np.array([colorsys.hsv_to_rgb((hue0 + rng.uniform(0, 0.5) * i / max(1, n - 1)) % 1.0,
                                         rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0)) for i in range(n)])


def _background(size: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "black":
        return np.zeros((size, size, 3))
    a, b = rng.random(3) * rng.uniform(0.1, 0.6), rng.random(3) * rng.uniform(0.1, 0.6)
    ramp = np.linspace(0, 1, size)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    return a * (1 - t[..., None]) + b * t[..., None]


def render(system: np.ndarray, size: int, rng: np.random.Generator, options: FractalOptions) -> np.ndarray | None:
    """One image, or None if the instance degenerated (jitter can break a system)."""
    pts, which = iterate(system, options.render_points, rng)
    px = to_pixels(pts, size, margin=rng.uniform(0.02, 0.12))
    if px is None:
        return None
    if rng.random() < 0.5:
        px[:, 0] = size - 1 - px[:, 0]  # horizontal flip
    n_maps = len(system)
    flat = (which * size + px[:, 1]) * size + px[:, 0]
    density = np.bincount(flat, minlength=n_maps * size * size).reshape(n_maps, size, size).astype(np.float64)
    if options.patch:
        density = _stamp(density, _patch_kernel(rng))
    total = density.sum(axis=0)
    if np.count_nonzero(total) < 0.01 * size * size:
        return None
    colours = _colours(n_maps, rng, options.colour == "gray")  # one colour per map: multicolour fractals
    rgb = np.einsum("mhw,mc->hwc", density, colours) / np.maximum(total, 1e-9)[..., None]
    alpha = np.clip(np.log1p(total) / np.log1p(np.percentile(total[total > 0], 95)), 0, 1)[..., None]
    img = _background(size, rng, options.background) * (1 - alpha) + rgb * alpha
    if options.colour != "gray":  # per-channel scale and shift
        img = img * rng.uniform(0.7, 1.3, 3) + rng.uniform(-0.15, 0.15, 3)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
