"""Image preprocessing presets (torchvision-equivalent, written with Pillow and numpy)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

import numpy as np
from PIL import Image

from ov_sparsity.errors import OvSparsityError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """resize: shorter side to this many pixels (None: no resize);
    crop: center crop to crop x crop (None: no crop); size: direct resize to (h, w)."""

    resize: Optional[int] = None
    crop: Optional[int] = None
    size: Optional[tuple] = None
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    scale: float = 255.0
    channels: str = "RGB"  # the order the model takes; mean/std are given in that order
    name: str = "custom"

    PRESETS = ("cifar10", "imagenet")

    def __post_init__(self):
        """Every field checked: a zero std or scale would give NaN/inf inputs and a NaN model."""
        for key in ("resize", "crop"):
            value = getattr(self, key)
            if value is not None and not _positive_int(value):
                raise OvSparsityError(f"preprocessing: {key} must be a positive integer (pixels), got {value!r}")
        if self.size is not None and (len(self.size) != 2 or not all(_positive_int(v) for v in self.size)):
            raise OvSparsityError(f"preprocessing: size must be two positive integers [height, width], got "
                                  f"{list(self.size)!r}")
        for key, positive in (("mean", False), ("std", True)):
            value = getattr(self, key)
            if len(value) != 3 or not all(_finite(v, positive) for v in value):
                what = "positive" if positive else "finite"
                raise OvSparsityError(f"preprocessing: {key} must be 3 {what} numbers (one per channel), got "
                                      f"{list(value)!r}")
        if not _finite(self.scale, positive=True):
            raise OvSparsityError(f"preprocessing: scale must be a positive number, got {self.scale!r}")
        if self.channels not in ("RGB", "BGR"):
            raise OvSparsityError(f"preprocessing: channels must be 'RGB' or 'BGR', got {self.channels!r}")

    @classmethod
    def preset(cls, name: str) -> "Preprocessing":
        if name == "cifar10":
            return cls(size=(32, 32), name="cifar10")
        if name == "imagenet":
            return cls(resize=256, crop=224, name="imagenet")
        raise OvSparsityError(f"unknown preprocessing preset {name!r} (known: {', '.join(cls.PRESETS)})")

    @classmethod
    def parse(cls, value: Any) -> "Preprocessing":
        if isinstance(value, Preprocessing):
            return value
        if isinstance(value, str):
            return cls.preset(value)
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise OvSparsityError(f"preprocessing: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")
            kw = dict(value)
            for key in ("mean", "std", "size"):
                if kw.get(key) is not None:
                    if not isinstance(kw[key], (list, tuple)):
                        raise OvSparsityError(f"preprocessing: {key} must be a list of numbers, got {kw[key]!r}")
                    kw[key] = tuple(kw[key])
            return cls(**kw)
        raise OvSparsityError(f"preprocessing must be a preset name or a mapping, got {value!r}")

    @property
    def output_hw(self) -> tuple:
        if self.crop:
            return (self.crop, self.crop)
        if self.size:
            return tuple(self.size)
        raise OvSparsityError("preprocessing has no fixed output size (set crop or size)")

    @property
    def raw_hw(self) -> tuple:
        """A natural source image size for synthetic images fed through this preprocessing."""
        if self.resize:
            return (self.resize, self.resize)
        return self.output_hw

    def __call__(self, img: Image.Image) -> np.ndarray:
        img = to_rgb(img)
        if self.resize:
            w, h = img.size
            if w <= h:
                nw, nh = self.resize, int(self.resize * h / w)
            else:
                nw, nh = int(self.resize * w / h), self.resize
            img = img.resize((nw, nh), Image.BILINEAR)
        if self.size and tuple(self.size) != (img.size[1], img.size[0]):
            img = img.resize((self.size[1], self.size[0]), Image.BILINEAR)
        if self.crop:
            w, h = img.size
            left = int(round((w - self.crop) / 2.0))
            top = int(round((h - self.crop) / 2.0))
            img = img.crop((left, top, left + self.crop, top + self.crop))
        x = np.asarray(img, dtype=np.float32) / self.scale
        if self.channels == "BGR":
            x = x[..., ::-1]
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 16384


def _finite(value, positive: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        return False
    return bool(np.isfinite(value)) and (value > 0 or not positive)


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB. 16-bit and 32-bit integer images are scaled to 0..255 (Pillow's own convert
    clips them, which turns a 16-bit PNG white); float images are taken as 0..1 when they
    stay there, else as 0..255."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        if img.mode == "I" and arr.max(initial=0) > 65535:
            top = float(2 ** 31 - 1)
        img = Image.fromarray(np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        img = Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), "L")
    return img.convert("RGB")


def guess_preset(input_hw: tuple) -> Optional[str]:
    """The preset matching a model's static input size, if any."""
    return {(32, 32): "cifar10", (224, 224): "imagenet"}.get(tuple(input_hw))
