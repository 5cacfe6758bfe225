"""Image preprocessing: presets (torchvision-equivalent, written with Pillow and numpy) and any image
model's own steps -- input size, resize mode (plain resize / shorter side + centre crop / letterbox),
scale, mean/std and channel order -- from the CLI's flags, a config's mapping or an Accuracy Checker
YAML alike (all become one Preprocessing)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

import numpy as np
from PIL import Image

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import parse_json

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODES = ("resize", "crop", "letterbox")  # plain resize | shorter side then centre crop | fit inside, padded
CROP_FRACTION = 0.875  # "crop" mode: the shorter side goes to size / 0.875 (256 for 224, torchvision's ratio)
LETTERBOX_FILL = 114  # the grey YOLO exporters pad with
DIVISOR_RANGE = (1e-3, 1e5)  # scale and std divide the pixels: outside this, inputs reach 1e8 or more (no model's)
MEAN_LIMIT = 1e5  # |mean| beyond this subtracts more than any pixel scale holds


@dataclass(frozen=True)
class Preprocessing:
    """resize: shorter side to this many pixels (None: no resize);
    crop: center crop to crop x crop (None: no crop); size: direct resize to (h, w);
    letterbox: with size, fit the image inside (h, w) keeping its aspect ratio, the rest grey (114)."""

    resize: Optional[int] = None
    crop: Optional[int] = None
    size: Optional[tuple] = None
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    scale: float = 255.0
    channels: str = "RGB"  # the order the model takes; mean/std are given in that order
    name: str = "custom"
    letterbox: bool = False
    fill: int = LETTERBOX_FILL  # letterbox: the grey level around the image

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
        lo, hi = DIVISOR_RANGE
        for key, values in (("scale", [self.scale]), ("std", list(self.std))):
            if not all(lo <= v <= hi for v in values):
                raise OvSparsityError(f"preprocessing: {key} must lie in [{lo:g}, {hi:g}] (it divides the pixels), "
                                      f"got {values[0] if key == 'scale' else values!r}")
        if not all(abs(v) <= MEAN_LIMIT for v in self.mean):
            raise OvSparsityError(f"preprocessing: mean must lie in [-{MEAN_LIMIT:g}, {MEAN_LIMIT:g}], got "
                                  f"{list(self.mean)!r}")
        if self.channels not in ("RGB", "BGR"):
            raise OvSparsityError(f"preprocessing: channels must be 'RGB' or 'BGR', got {self.channels!r}")
        if not isinstance(self.letterbox, bool) or (self.letterbox and self.size is None):
            raise OvSparsityError("preprocessing: letterbox is true or false, and needs size [height, width]")
        if isinstance(self.fill, bool) or not isinstance(self.fill, int) or not 0 <= self.fill <= 255:
            raise OvSparsityError(f"preprocessing: fill must be a grey level 0..255, got {self.fill!r}")

    @classmethod
    def preset(cls, name: str) -> "Preprocessing":
        if name == "cifar10":
            return cls(size=(32, 32), name="cifar10")
        if name == "imagenet":
            return cls(resize=256, crop=224, name="imagenet")
        raise OvSparsityError(f"unknown preprocessing preset {name!r} (known: {', '.join(cls.PRESETS)})")

    @classmethod
    def parse(cls, value: Any, input_hw: Optional[tuple] = None) -> "Preprocessing":
        """A preset name, a JSON object string, or a mapping of fields. A mapping may also give `preset`
        (start from it), `mode` (resize | crop | letterbox) and leave the size out: with `input_hw` (the
        model's input) the size is the model's."""
        if isinstance(value, Preprocessing):
            return value
        if isinstance(value, str) and value.strip().startswith("{"):
            value = parse_json(value, "preprocessing")
        if isinstance(value, str):
            return cls.preset(value)
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)} | {"preset", "mode"}
            unknown = sorted(set(value) - known)
            if unknown:
                raise OvSparsityError(f"preprocessing: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")
            kw = dict(value)
            for key in ("mean", "std", "size"):
                if kw.get(key) is not None:
                    if isinstance(kw[key], (int, float)) and key != "size":
                        kw[key] = [kw[key]] * 3
                    if not isinstance(kw[key], (list, tuple)):
                        raise OvSparsityError(f"preprocessing: {key} must be a list of numbers, got {kw[key]!r}")
                    kw[key] = tuple(kw[key])
            preset, mode = kw.pop("preset", None), kw.pop("mode", None)
            base = cls.preset(preset).to_dict() if preset is not None else {}
            if mode is not None or not any(kw.get(k) or base.get(k) for k in ("resize", "crop", "size")):
                hw = kw.get("size") or (tuple(input_hw) if input_hw else None)
                if hw is None:
                    raise OvSparsityError("preprocessing: no input size (give size [height, width]; the model's "
                                          "input has none)")
                base.update(_geometry(mode or "resize", tuple(hw)))
                kw.pop("size", None)
            return cls(**{**base, **kw})
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
        if self.size and self.letterbox:
            img = _letterbox(img, tuple(self.size), self.fill)
        elif self.size and tuple(self.size) != (img.size[1], img.size[0]):
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

    def to_source(self, boxes: np.ndarray, source_wh: tuple) -> np.ndarray:
        """Boxes [K, 4] (x1, y1, x2, y2 as fractions of the network input) -> pixels of the source image
        (width, height): the resize, crop or letterbox undone."""
        w, h = source_wh
        out = np.asarray(boxes, dtype=np.float64).copy()
        if self.size and self.letterbox:
            scale = min(self.size[0] / h, self.size[1] / w)
            nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
            pad = ((self.size[1] - nw) // 2, (self.size[0] - nh) // 2)
            out[:, 0::2] = (out[:, 0::2] * self.size[1] - pad[0]) * (w / nw)
            out[:, 1::2] = (out[:, 1::2] * self.size[0] - pad[1]) * (h / nh)
        elif self.crop:
            nw, nh = w, h
            if self.resize:
                nw, nh = (self.resize, int(self.resize * h / w)) if w <= h else (int(self.resize * w / h), self.resize)
            left, top = int(round((nw - self.crop) / 2.0)), int(round((nh - self.crop) / 2.0))
            out[:, 0::2] = (out[:, 0::2] * self.crop + left) * (w / nw)
            out[:, 1::2] = (out[:, 1::2] * self.crop + top) * (h / nh)
        else:  # a plain resize (or none): fractions of the whole image
            out[:, 0::2] *= w
            out[:, 1::2] *= h
        out[:, 0::2] = np.clip(out[:, 0::2], 0, w)
        out[:, 1::2] = np.clip(out[:, 1::2], 0, h)
        return out

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _geometry(mode: str, hw: tuple) -> dict:
    """The resize/crop/size fields of a resize mode for an input of hw pixels."""
    if mode not in MODES:
        raise OvSparsityError(f"preprocessing: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "crop":
        if hw[0] != hw[1]:
            raise OvSparsityError(f"preprocessing: mode crop takes a square centre crop; the input is {hw[0]}x{hw[1]} "
                                  "(use resize or letterbox)")
        return {"resize": int(round(hw[0] / CROP_FRACTION)), "crop": int(hw[0]), "size": None, "letterbox": False}
    return {"resize": None, "crop": None, "size": (int(hw[0]), int(hw[1])), "letterbox": mode == "letterbox"}


def _letterbox(img: Image.Image, hw: tuple, fill: int = LETTERBOX_FILL) -> Image.Image:
    """Fit inside (h, w) keeping the aspect ratio, centred on grey."""
    w, h = img.size
    scale = min(hw[0] / h, hw[1] / w)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    canvas = Image.new("RGB", (hw[1], hw[0]), (fill,) * 3)
    canvas.paste(img.resize((nw, nh), Image.BILINEAR), ((hw[1] - nw) // 2, (hw[0] - nh) // 2))
    return canvas


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
