"""Model inputs handed to the Python API (an nncf.Dataset's items, or a plain list of them) checked
against the model and split into samples; every problem one OvSparsityError naming the argument.

An item is what NNCF passes to the model: an array (an image model's one input) or a dict of named
arrays, with the batch axis first ([1, C, H, W], as NNCF's examples pass them). An item without the
batch axis ([C, H, W]) is one sample: the model's input rank tells which.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import openvino as ov

from ov_sparsity.errors import OvSparsityError


def _inputs(model: ov.Model) -> list:
    """[(name, partial shape, numpy dtype)] of the model's inputs."""
    out = []
    for inp in model.inputs:
        names = inp.get_names()
        name = sorted(names)[0] if names else inp.get_node().get_friendly_name()
        out.append((name, inp.get_partial_shape(), inp.get_element_type().to_dtype()))
    return out


def _array(value, where: str, shape: ov.PartialShape, dtype) -> np.ndarray:
    """`value` as a batch [N, ...] of the input's dtype, or a one-line error."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # a torch tensor
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else value.numpy()
    try:
        x = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise OvSparsityError(f"{where} is not an array ({exc})") from None
    if x.dtype.kind not in "biuf":
        raise OvSparsityError(f"{where} holds {x.dtype} values ({type(value).__name__}); the model input takes "
                              f"{np.dtype(dtype).name} numbers")
    rank = shape.rank.get_length() if shape.rank.is_static else None
    if rank is not None and x.ndim == rank - 1:
        x = x[None]  # one sample without the batch axis
    if rank is not None and x.ndim != rank:
        raise OvSparsityError(f"{where} has shape {list(x.shape)}; the model input takes {shape}")
    if rank is not None:
        for axis in range(1, rank):
            if shape[axis].is_static and shape[axis].get_length() != x.shape[axis]:
                raise OvSparsityError(f"{where} has shape {list(x.shape)}; the model input takes {shape}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise OvSparsityError(f"{where} holds NaN or infinity: calibration inputs must be finite numbers")
    if np.dtype(dtype).kind in "iu" and x.dtype.kind == "f":
        raise OvSparsityError(f"{where} holds floats; the model input takes {np.dtype(dtype).name} (token ids)")
    return np.ascontiguousarray(x.astype(dtype, copy=False))


def inference_items(dataset, argument: str = "dataset"):
    """The model inputs of an nncf.Dataset, or of a plain list/tuple of them."""
    if hasattr(dataset, "get_inference_data"):
        return dataset.get_inference_data()
    if isinstance(dataset, (list, tuple)):
        return dataset
    raise OvSparsityError(f"{argument} must be an nncf.Dataset or a list of model inputs, got "
                          f"{type(dataset).__name__}")


def item_batch(inputs: list, item, where: str):
    """One item as the model takes it: a batch array (one input) or a dict of batch arrays by input name,
    the batch axis added where the item has none."""
    if isinstance(item, (list, tuple)) and len(item) == 1:
        item = item[0]
    names = [n for n, _, _ in inputs]
    if isinstance(item, dict):
        missing = [n for n in names if n not in item] if len(inputs) > 1 or len(item) > 1 else []
        if missing:
            raise OvSparsityError(f"{where} has no input '{missing[0]}' (keys: {', '.join(map(str, item))}; "
                                  f"the model takes {', '.join(names)})")
        batch = {n: _array(item[n] if n in item else next(iter(item.values())), f"{where} '{n}'", shape, dtype)
                 for n, shape, dtype in inputs}
        sizes = {len(v) for v in batch.values()}
        if len(sizes) != 1:
            raise OvSparsityError(f"{where}: its inputs have different batch sizes {sorted(sizes)}")
        return batch if len(inputs) > 1 else next(iter(batch.values()))
    if len(inputs) > 1:
        raise OvSparsityError(f"{where} is a {type(item).__name__}; the model has {len(inputs)} inputs: give "
                              f"a dict of {', '.join(names)}")
    _, shape, dtype = inputs[0]
    return _array(item, where, shape, dtype)


def _iterate(items, argument: str):
    try:
        return iter(items)
    except TypeError:
        raise OvSparsityError(f"{argument} must be an nncf.Dataset or a list of model inputs, got "
                              f"{type(items).__name__}") from None


def model_samples(model: ov.Model, items: Iterable, limit: int, argument: str = "dataset") -> list:
    """The first `limit` samples (no batch axis) of `items` for `model`: arrays for a one-input model,
    dicts by input name for several inputs."""
    inputs = _inputs(model)
    samples: list = []
    for index, item in enumerate(_iterate(items, argument)):
        batch = item_batch(inputs, item, f"{argument} item {index}")
        if isinstance(batch, dict):
            samples.extend({n: v[i] for n, v in batch.items()} for i in range(len(next(iter(batch.values())))))
        else:
            samples.extend(list(batch))
        if len(samples) >= limit:
            break
    if not samples:
        raise OvSparsityError(f"{argument} is empty: give at least one calibration sample")
    return samples[:limit]


class CheckedItems:
    """A dataset's model inputs, each checked (and given its batch axis) as it is read: wrapped in an
    nncf.Dataset, NNCF's own passes read it once, as before, and a bad item is one line naming it."""

    def __init__(self, model: ov.Model, dataset, argument: str = "dataset"):
        self.inputs, self.dataset, self.argument = _inputs(model), dataset, argument

    def __iter__(self):
        empty = True
        for index, item in enumerate(_iterate(inference_items(self.dataset, self.argument), self.argument)):
            empty = False
            yield item_batch(self.inputs, item, f"{self.argument} item {index}")
        if empty:
            raise OvSparsityError(f"{self.argument} is empty: give at least one calibration sample")

    def __len__(self) -> int:
        length = self.dataset.get_length() if hasattr(self.dataset, "get_length") else len(self.dataset)
        if length is None:
            raise TypeError("length unknown")
        return length
