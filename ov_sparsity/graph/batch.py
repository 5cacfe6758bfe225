"""Models whose graph pins the batch size, and a safe way to free it.

Many exported IRs were traced at batch 1 and keep that batch inside Reshape constants:
ShuffleNetV2's channel shuffle (FastestDet) reshapes [1, 48, 44, 44] to the constant
[24, 2, 1936], i.e. b*c/2 with b = 1. Such a model accepts a dynamic batch at reshape time
and fails at inference on any other batch.

`free_batch` rewrites each Reshape whose constant pattern has no -1: its first entry becomes
-1, which absorbs the batch (b * that entry rows, each sample's rows contiguous, as the
traced code meant). The rewrite is kept only if it is *measured* to be right: the freed model
at batch 2 must give what the original gives on each sample alone. Otherwise (or where no
Reshape explains the pin) the engine runs the model at its own batch.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.graph.model_io import core

_MODES: dict = {}  # structural signature -> batch_mode (the verdict is the graph's, not its weights')
ANY, FREED, PINNED = "any", "freed", "pinned"


def static_batch(model: ov.Model) -> Optional[int]:
    """The first input's batch if it is static, else None."""
    ps = model.input(0).get_partial_shape()
    if ps.rank.is_static and len(ps) and ps[0].is_static:
        return ps[0].get_length()
    return None


def _with_batch(model: ov.Model, batch) -> ov.Model:
    """A clone with every input's first dimension set to `batch` (an int or ov.Dimension())."""
    clone = model.clone()
    shapes = {}
    for p in clone.get_parameters():
        ps = ov.PartialShape(p.get_partial_shape())
        if ps.rank.is_static and len(ps):
            ps[0] = batch if isinstance(batch, ov.Dimension) else ov.Dimension(batch)
        shapes[p.output(0)] = ps
    clone.reshape(shapes)
    return clone


def takes_batch(model: ov.Model, batch: int = 2) -> bool:
    """Shape inference accepts `batch` and every output's first dimension scales with it."""
    own = static_batch(model) or 1
    try:
        probe = _with_batch(model, batch)
    except Exception:
        return False
    for before, after in zip(model.outputs, probe.outputs):
        b, a = before.get_partial_shape(), after.get_partial_shape()
        if b.rank.is_dynamic or a.rank.is_dynamic or len(b) == 0:
            continue
        if b[0].is_static and a[0].is_static and a[0].get_length() * own != b[0].get_length() * batch:
            return False
    return True


def pinning_reshapes(model: ov.Model) -> list:
    """Reshapes with a constant pattern and no -1 (the ones a traced batch can hide in)."""
    found = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Reshape":
            continue
        src = op.input(1).get_source_output().get_node()
        if src.get_type_name() != "Constant":
            continue
        pattern = src.get_data().reshape(-1)
        if pattern.size and -1 not in pattern and not (op.get_special_zero() and 0 in pattern):
            found.append(op)
    return found


def free_reshapes(model: ov.Model) -> int:
    """In place: the first entry of each pinning Reshape's pattern becomes -1. Returns how many changed."""
    reshapes = pinning_reshapes(model)
    for op in reshapes:
        const = op.input(1).get_source_output().get_node()
        pattern = np.array(const.get_data().reshape(-1), dtype=np.int64)
        pattern[0] = -1
        op.input(1).replace_source_output(ops.constant(pattern).output(0))
    if reshapes:
        model.validate_nodes_and_infer_types()
    return len(reshapes)


def _rewrite(model: ov.Model) -> Optional[ov.Model]:
    clone = model.clone()
    return clone if free_reshapes(clone) else None


def _signature(model: ov.Model) -> tuple:
    return tuple((op.get_type_name(), str(op.get_output_partial_shape(0)) if op.get_output_size() else "")
                 for op in model.get_ordered_ops() if op.get_type_name() != "Constant")


def _same_per_sample(original: ov.Model, freed: ov.Model, seed: int = 0) -> bool:
    """The freed model on two random samples at once equals the original on each alone."""
    def compile_model(m):
        return core().compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    rng = np.random.default_rng(seed)
    one = compile_model(_with_batch(original, 1))
    two = compile_model(_with_batch(freed, 2))
    feeds = []
    for port in one.inputs:
        shape = tuple(port.get_shape())
        if port.get_element_type().is_integral():
            feeds.append(rng.integers(0, 2, size=(2, *shape[1:])).astype(port.get_element_type().to_dtype()))
        else:
            feeds.append(rng.standard_normal((2, *shape[1:])).astype(np.float32))
    both = two(dict(enumerate(feeds)))
    for i in range(2):
        alone = one({j: f[i:i + 1] for j, f in enumerate(feeds)})
        for o1, o2 in zip(one.outputs, two.outputs):
            a, b = np.asarray(alone[o1]), np.asarray(both[o2])
            if b.shape[0] != 2 * a.shape[0]:
                return False
            rows = b[i * a.shape[0]:(i + 1) * a.shape[0]]
            if not np.allclose(rows, a, rtol=1e-3, atol=1e-4 * (1.0 + float(np.abs(a).max(initial=0.0)))):
                return False
    return True


def batch_mode(model: ov.Model) -> str:
    """ANY: the graph takes other batches as it is; FREED: it does once its pinning Reshapes are freed
    (free_reshapes), measured right on two samples; PINNED: it runs only at its own batch. Decided once per
    graph structure (the check reshapes and runs the model)."""
    key = _signature(model)
    if key not in _MODES:
        if takes_batch(model):
            _MODES[key] = ANY
        else:
            try:
                freed = _rewrite(model)
                ok = freed is not None and takes_batch(freed) and _same_per_sample(model, freed)
            except Exception:  # a graph the rewrite cannot handle runs at its own batch
                ok = False
            _MODES[key] = FREED if ok else PINNED
    return _MODES[key]


def free_batch(model: ov.Model) -> Optional[ov.Model]:
    """A dynamic-batch clone of a model that takes any batch, freed where its graph pins it (batch_mode), or
    None where no freeing was proven right."""
    mode = batch_mode(model)
    if mode == PINNED:
        return None
    return _with_batch(_rewrite(model) if mode == FREED else model, ov.Dimension())
