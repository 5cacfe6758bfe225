"""The image preprocessing flags of compress, eval and benchmark: any image model's own steps without a zoo
entry. They fold into one preprocessing mapping (data.preprocess.Preprocessing.parse), the same one a
config's `engine.preprocessing` or an Accuracy Checker YAML gives."""

from __future__ import annotations

import argparse

from ov_sparsity.data.preprocess import MODES

FLAGS = ("input_size", "resize_mode", "mean", "std", "scale", "channels")


def _numbers(count: int):
    def parse(text: str) -> tuple:
        try:
            values = tuple(float(v) for v in text.replace(",", " ").split())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be 1 or {count} numbers (comma-separated), got {text!r}") from None
        if len(values) == 1:
            values *= count
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"must be 1 or {count} numbers (comma-separated), got {text!r}")
        return values
    parse.__name__ = "numbers"
    return parse


def _input_size(text: str) -> tuple:
    parts = text.lower().replace("x", " ").replace(",", " ").split()
    try:
        hw = tuple(int(p) for p in parts)
    except ValueError:
        hw = ()
    if len(hw) == 1:
        hw *= 2
    if len(hw) != 2 or not all(0 < v <= 16384 for v in hw):
        raise argparse.ArgumentTypeError(f"must be N or HxW pixels, got {text!r}")
    return hw


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_flags(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("image preprocessing (any image model; override --preprocess, else start "
                                  "from plain resize, scale 255, mean 0, std 1, RGB)")
    g.add_argument("--input-size", type=_input_size, metavar="N|HxW",
                   help="image size fed (default: the model's input)")
    g.add_argument("--resize-mode", choices=MODES,
                   help="resize: the whole image to the size; crop: shorter side to size/0.875 then centre crop; "
                        "letterbox: fit inside, padded grey")
    g.add_argument("--mean", type=_numbers(3), metavar="M|R,G,B", help="subtracted after scaling, in --channels order")
    g.add_argument("--std", type=_numbers(3), metavar="S|R,G,B", help="divided by after the mean")
    g.add_argument("--scale", type=_scale, help="pixels (0..255) are divided by this first (default 255)")
    g.add_argument("--channels", choices=("RGB", "BGR"), help="channel order the model takes")


def fold(args) -> None:
    """args.preprocess becomes a mapping when any flag is given (flags over the --preprocess preset)."""
    given = {k: getattr(args, k, None) for k in FLAGS if getattr(args, k, None) is not None}
    if not given:
        return
    spec = {"preset": args.preprocess} if getattr(args, "preprocess", None) else \
        {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "scale": 255.0, "channels": "RGB"}
    if "input_size" in given or "resize_mode" in given:
        spec["mode"] = given.pop("resize_mode", "resize")
    if "input_size" in given:
        spec["size"] = given.pop("input_size")
    spec.update(given)
    spec["name"] = "flags"
    args.preprocess = spec
