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
    """planes [M, H, W] convolved with a 3x3 kernel (zero padded)."""
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


def pink_noise(size: int, rng: np.random.Generator, channels: int = 3) -> np.ndarray:
    """[size, size, channels] noise with a 1/f amplitude spectrum (natural images' own), unit std."""
    f = np.sqrt(np.fft.fftfreq(size)[:, None] ** 2 + np.fft.rfftfreq(size)[None, :] ** 2)
    f[0, 0] = 1.0
    spectrum = (rng.standard_normal((channels, size, size // 2 + 1)) +
                1j * rng.standard_normal((channels, size, size // 2 + 1))) / f
    spectrum[:, 0, 0] = 0
    noise = np.fft.irfft2(spectrum, s=(size, size)).transpose(1, 2, 0)
    return noise / max(noise.std(), 1e-12)


def _background(size: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "black":
        return np.zeros((size, size, 3))
    a, b = rng.random(3) * rng.uniform(0.1, 0.6), rng.random(3) * rng.uniform(0.1, 0.6)
    ramp = np.linspace(0, 1, size)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None])
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    img = a * (1 - t[..., None]) + b * t[..., None]
    if kind == "texture":  # a textured ground: colour-correlated 1/f noise over the gradient
        grey = pink_noise(size, rng, 1)
        img = img + rng.uniform(0.05, 0.2) * (0.7 * grey + 0.3 * pink_noise(size, rng))
    return img


def _layer(system: np.ndarray, size: int, rng: np.random.Generator, options: FractalOptions, points: int = 0):
    """One fractal as (rgb [size, size, 3], alpha [size, size, 1]), or None if it degenerated."""
    pts, which = iterate(system, points or options.render_points, rng)
    px = to_pixels(pts, size, margin=rng.uniform(0.02, 0.12))
    if px is None:
        return None
    if rng.random() < 0.5:
        px[:, 0] = size - 1 - px[:, 0]  # horizontal flip
    n_maps = len(system)
    # per pixel: the point count and the colour-weighted counts (one colour per map: multicolour
    # fractals); the patch stamp is linear, so it is applied to these four planes, not per map
    kernel = _patch_kernel(rng) if options.patch else None
    colours = _colours(n_maps, rng, options.colour == "gray")
    pix = px[:, 1] * size + px[:, 0]
    weights = colours[which]  # [n, 3]
    planes = np.stack([np.bincount(pix, minlength=size * size)] +
                      [np.bincount(pix, weights=weights[:, k], minlength=size * size) for k in range(3)])
    planes = planes.reshape(4, size, size).astype(np.float32)
    if kernel is not None:
        planes = _stamp(planes, kernel)
    total = planes[0]
    if np.count_nonzero(total) < 0.01 * size * size:
        return None
    rgb = np.moveaxis(planes[1:], 0, -1) / np.maximum(total, 1e-9)[..., None]
    alpha = np.clip(np.log1p(total) / np.log1p(np.percentile(total[total > 0], 95)), 0, 1)[..., None]
    return rgb, alpha


def _paste(img: np.ndarray, layer, rng: np.random.Generator) -> None:
    """Alpha-blend a smaller fractal layer into img at a random place."""
    rgb, alpha = layer
    s, size = rgb.shape[0], img.shape[0]
    y, x = rng.integers(0, size - s + 1, 2)
    region = img[y:y + s, x:x + s]
    region[:] = region * (1 - alpha) + rgb * alpha


def _augment(img: np.ndarray, rng: np.random.Generator, options: FractalOptions) -> np.ndarray:
    """POT's data-free augmentations: rotation (reflected borders) and Gaussian blur."""
    from PIL import Image, ImageFilter

    if options.rotate <= 0 and options.blur <= 0:
        return img
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    if options.rotate > 0:
        size = img.shape[0]
        angle = np.radians(min(options.rotate, 45.0))
        pad = int(np.ceil(size / 2 * (np.cos(angle) + np.sin(angle) - 1))) + 1  # the corners' reach
        big = Image.fromarray(np.pad(np.asarray(pil), ((pad, pad), (pad, pad), (0, 0)), mode="reflect"))
        big = big.rotate(rng.uniform(-options.rotate, options.rotate), resample=Image.BILINEAR)
        pil = big.crop((pad, pad, pad + size, pad + size))
    if options.blur > 0 and rng.random() < options.blur:
        kernel = int(rng.integers(0, 8)) * 2 + 1  # 1, 3, ..., 15 pixels at 224 px
        pil = pil.filter(ImageFilter.GaussianBlur(kernel / 6 * img.shape[0] / 224))
    return np.asarray(pil).astype(np.float64) / 255


# ImageNet's per-channel pixel mean and std (the constants every ImageNet model normalises with)
NATURAL_MEAN, NATURAL_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _natural_tone(img: np.ndarray, rng: np.random.Generator, gray: bool) -> np.ndarray:
    """Shift and scale the image so its channel means and contrast are drawn around those of natural
    images (means N(NATURAL_MEAN, 0.1), contrast NATURAL_STD x U(0.6, 1.3)), keeping its hues."""
    mean, std = img.mean(axis=(0, 1)), img.std(axis=(0, 1)).mean()
    shift = rng.normal(0, 0.1) + (0 if gray else rng.normal(0, 0.04, 3))
    target_mean = np.clip(NATURAL_MEAN + shift, 0.1, 0.9)
    target_std = NATURAL_STD.mean() * rng.uniform(0.6, 1.3)
    return (img - mean) * (target_std / max(std, 1e-6)) + target_mean


def render(system: np.ndarray, size: int, rng: np.random.Generator, options: FractalOptions,
           extras: tuple = ()) -> np.ndarray | None:
    """One image, or None if the instance degenerated (jitter can break a system). `extras`: more
    systems, pasted smaller (a third to two thirds of the image) at random places."""
    layer = _layer(system, size, rng, options)
    if layer is None:
        return None
    rgb, alpha = layer
    img = _background(size, rng, options.background) * (1 - alpha) + rgb * alpha
    for extra in extras:
        scale = rng.uniform(0.33, 0.67)  # as many points per pixel as the main fractal
        points = max(1000, int(options.render_points * scale ** 2))
        small = _layer(extra, max(8, int(size * scale)), rng, options, points)
        if small is not None:
            _paste(img, small, rng)
    if options.texture > 0:
        img = img * (1 + options.texture * rng.uniform(0.3, 1.0) * pink_noise(size, rng, 1))
    if options.tone == "natural":
        img = _natural_tone(img, rng, options.colour == "gray")
    elif options.colour != "gray":  # per-channel scale and shift
        img = img * rng.uniform(0.7, 1.3, 3) + rng.uniform(-0.15, 0.15, 3)
    img = _augment(img, rng, options)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
