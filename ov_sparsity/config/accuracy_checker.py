"""POT's `engine.config`: the Accuracy Checker YAML that says where the images are and
how to preprocess them, read into our engine fields.

Accepted: `models: [{name, launchers, datasets: [...]}]` or a top-level `datasets:` list;
from the first dataset, `data_source`, `reader` (opencv_imread, AC's default, gives BGR;
pillow_imread gives RGB), the `preprocessing` list and, for labels,
`annotation_conversion: {converter: imagenet, annotation_file, has_background}`.
Preprocessing steps: resize (`size`, or `dst_width`/`dst_height`; `aspect_ratio_scale:
greater` scales the shorter side to the size, as AC does; `fit_to_window` fits the image inside, and a
following `padding` step to the same size, centred, makes it a letterbox), padding, crop / center_crop (`size` or
`dst_width`/`dst_height`), normalization (`mean`/`std` as a number, a list or a tuple
string "(123.675, 116.28, 103.53)", in the channel order the image has at that step),
bgr_to_rgb, rgb_to_bgr. AC keeps pixels in 0..255 and the channel order its reader gave.
Anything else is a one-line error naming it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ov_sparsity.config.schema import check_keys, check_placeholders, resolve_path
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import read_text

READERS = {"opencv_imread": "BGR", "pillow_imread": "RGB"}
STEPS = ("resize", "crop", "center_crop", "normalization", "bgr_to_rgb", "rgb_to_bgr", "padding")


def _fail(path: Path, message: str) -> OvSparsityError:
    return OvSparsityError(f"Accuracy Checker config {path}: {message}")


def _vector(path: Path, key: str, value: Any) -> tuple:
    """AC's mean/std: a number, a list, or a string '(a, b, c)' / 'a, b, c' -> 3 floats."""
    if isinstance(value, str):
        value = [v for v in value.strip().strip("()[]").replace(",", " ").split()]
    if not isinstance(value, (list, tuple)):
        value = [value]
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise _fail(path, f"normalization {key} must be numbers, got {value!r}") from None
    if len(numbers) == 1:
        numbers *= 3
    if len(numbers) != 3:
        raise _fail(path, f"normalization {key} needs 1 or 3 values, got {len(numbers)}")
    if not all(math.isfinite(v) for v in numbers) or (key == "std" and min(numbers) <= 0):
        raise _fail(path, f"normalization {key} must be {'positive' if key == 'std' else 'finite'} numbers, "
                          f"got {value!r}")
    return numbers


def _pixels(path: Path, step: dict, key: str) -> int:
    value = step[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 16384:
        raise _fail(path, f"{step['type']} {key} must be a positive integer (pixels), got {value!r}")
    return value


def _size(path: Path, step: dict) -> tuple:
    """(height, width) from `size` or `dst_height`/`dst_width`."""
    if "size" in step:
        return _pixels(path, step, "size"), _pixels(path, step, "size")
    if "dst_width" in step and "dst_height" in step:
        return _pixels(path, step, "dst_height"), _pixels(path, step, "dst_width")
    raise _fail(path, f"{step['type']} needs 'size' or 'dst_width' and 'dst_height'")


def preprocessing_from_steps(path: Path, steps: list, order: str) -> dict:
    """AC's preprocessing list -> our Preprocessing fields (pixels 0..255, channel order kept)."""
    if steps is not None and not isinstance(steps, list):
        raise _fail(path, f"preprocessing must be a list of steps, got {steps!r}")
    pre: dict = {"scale": 1.0, "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "name": "accuracy_checker"}
    for i, step in enumerate(steps or []):
        kind = step.get("type") if isinstance(step, dict) else None
        if kind not in STEPS:
            raise _fail(path, f"preprocessing step {i} {kind!r} is not supported (supported: {', '.join(STEPS)})")
        if kind == "resize":
            h, w = _size(path, step)
            scale = step.get("aspect_ratio_scale")
            if scale == "greater" and h == w:
                pre["resize"] = h  # the shorter side to the size, the other in proportion
            elif scale is None:
                pre["size"] = (h, w)
            elif scale == "fit_to_window":
                pre["size"], pre["fit"] = (h, w), True  # a letterbox once padded (next step)
            else:
                raise _fail(path, f"resize aspect_ratio_scale {scale!r} is not supported (supported: greater "
                                  "with a square size, fit_to_window with padding, or none)")
        elif kind == "padding":
            h, w = _size(path, step)
            if not pre.pop("fit", False) or pre.get("size") != (h, w) or step.get("pad_type", "center") != "center":
                raise _fail(path, "padding is supported after resize with aspect_ratio_scale: fit_to_window, to the "
                                  "same size, centred (a letterbox)")
            value = step.get("pad_value", 0)
            value = value[0] if isinstance(value, (list, tuple)) and value else value
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 255:
                raise _fail(path, f"padding pad_value must be a grey level 0..255, got {step.get('pad_value')!r}")
            pre["letterbox"], pre["fill"] = True, int(value)
        elif kind in ("crop", "center_crop"):
            h, w = _size(path, step)
            if h != w:
                raise _fail(path, f"{kind} to {w}x{h}: only square center crops are supported")
            pre["crop"] = h
        elif kind == "normalization":
            mean = _vector(path, "mean", step.get("mean", 0.0))
            std = _vector(path, "std", step.get("std", 1.0))
            pre["mean"], pre["std"], pre["norm_order"] = mean, std, order
        else:
            order = "RGB" if kind == "bgr_to_rgb" else "BGR"
    if pre.pop("fit", False):
        raise _fail(path, "resize with aspect_ratio_scale: fit_to_window needs a padding step to the same size "
                          "(a letterbox)")
    if pre.pop("norm_order", order) != order:  # normalised in one order, then the channels were swapped
        pre["mean"], pre["std"] = pre["mean"][::-1], pre["std"][::-1]
    pre["channels"] = order
    return pre


def _reader(path: Path, dataset: dict) -> str:
    reader = dataset.get("reader", "opencv_imread")
    kind = reader.get("type") if isinstance(reader, dict) else reader
    if kind not in READERS:
        raise _fail(path, f"reader {kind!r} is not supported (supported: {', '.join(READERS)})")
    return READERS[kind]


def _labels(path: Path, dataset: dict, base: Path) -> dict:
    conversion = dataset.get("annotation_conversion")
    if not conversion:
        return {}
    if not isinstance(conversion, dict):
        raise _fail(path, f"annotation_conversion must be a mapping {{converter, annotation_file, has_background}}, "
                          f"got {conversion!r}")
    converter = conversion.get("converter")
    if converter != "imagenet":
        raise _fail(path, f"annotation converter {converter!r} is not supported (supported: imagenet)")
    if not conversion.get("annotation_file"):
        raise _fail(path, "the imagenet converter needs an 'annotation_file'")
    return {"annotation": resolve_path(conversion["annotation_file"], base),
            "label_offset": 1 if conversion.get("has_background") else 0}


def read_accuracy_checker(path: Path) -> dict:
    """{data_source, preprocessing, annotation?, label_offset?} from the AC YAML at `path`."""
    import yaml

    if not path.exists():
        raise OvSparsityError(f"Accuracy Checker config not found: {path} (engine.config)")
    text = read_text(path, "Accuracy Checker config (engine.config)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(path, f"cannot read it: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise _fail(path, "nested too deep") from None
    if not isinstance(data, dict):
        raise _fail(path, "expected a mapping with 'models' or 'datasets'")
    datasets = data.get("datasets")
    if datasets is None and isinstance(data.get("models"), list) and data["models"]:
        datasets = data["models"][0].get("datasets") if isinstance(data["models"][0], dict) else None
    if not isinstance(datasets, list) or not datasets or not isinstance(datasets[0], dict):
        raise _fail(path, "no dataset found (expected models[0].datasets or datasets: a list)")
    dataset = check_keys("datasets[0]", datasets[0], {"name", "data_source", "reader", "preprocessing",
                                                       "annotation_conversion", "annotation", "dataset_meta",
                                                       "metrics", "postprocessing", "subsample_size"},
                         kind=f"Accuracy Checker config {path}")
    check_placeholders(dataset, f"{path.name}: datasets[0]")
    if not dataset.get("data_source"):
        raise _fail(path, "the dataset has no 'data_source'")
    base = path.absolute().parent
    return {"data_source": str(resolve_path(dataset["data_source"], base)),
            "preprocessing": preprocessing_from_steps(path, dataset.get("preprocessing"), _reader(path, dataset)),
            **_labels(path, dataset, base)}
