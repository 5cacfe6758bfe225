"""One pass over a model, layer by layer, each layer seeing the inputs of the model as
compressed so far -- without re-running the network from its input for every layer.

The walk keeps the activations at the frontier: the tensors computed so far that
ops not yet run still need (at first, the model's inputs). For the next weighted
layer (topological order) a sub-model is cut from the current model: its
parameters are the frontier tensors, its results the layer's input and every
other tensor that the new frontier needs. Each op runs once over the calibration
set (the weighted layer itself in the step after it was changed, with its new
weights), so time grows linearly with depth; memory is the frontier's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.data import inputs
from ov_sparsity.engine.infer import batch_is_dynamic, compile_model, with_dynamic_batch
from ov_sparsity.graph.batch import FREED, PINNED, batch_mode, free_reshapes, static_batch
from ov_sparsity.errors import OvSparsityError

Key = tuple  # (name of the producing op in the live model, output port)
SHARED = "shared"  # layout of a tensor with no batch axis: one value for every sample


@dataclass
class WalkStats:
    subgraph_runs: int = 0  # sub-model inferences (one per batch)
    ops_run: dict = field(default_factory=dict)  # op name -> times its sub-model ran over the data
    seconds: dict = field(default_factory=dict)  # layer name -> seconds spent reaching its input


def activation_bytes(model: ov.Model, layers: list[str]) -> int:
    """The largest per-image input among `layers` (static shapes; 0 where unknown)."""
    largest = 0
    for op in model.get_ordered_ops():
        if op.get_friendly_name() in layers:
            ps = op.input(0).get_partial_shape()
            if ps.is_static:
                largest = max(largest, 4 * int(np.prod([d.get_length() for d in ps][1:])))
            elif ps.rank.is_static and all(d.is_static for d in list(ps)[1:]):
                largest = max(largest, 4 * int(np.prod([d.get_length() for d in list(ps)[1:]])))
    return largest


def _key(output: ov.Output) -> Key:
    return (output.get_node().get_name(), output.get_index())


def _is_result(node) -> bool:
    return node.get_type_name() == "Result"


class FrontierWalk:
    """Iterate over weighted layers in topological order; for each, the values of its input over the
    calibration set, computed from the frontier. Change the layer's weights in `model` (new weight
    constants are fine; the ops themselves must stay) before asking for the next one."""

    def __init__(self, model: ov.Model, inputs, layers: list[str], batch_size: int = 32):
        """inputs: the model's input over the calibration set, or a dict of them by input name."""
        params = model.get_parameters()
        if isinstance(inputs, dict):
            by_name = {name: p for p in params for name in p.output(0).get_names()}
            missing = [n for n in inputs if n not in by_name]
            if missing or len(inputs) != len(params):
                raise OvSparsityError(f"the sequential pass got inputs {sorted(inputs)} for a model that takes "
                                      f"{sorted(n for p in params for n in p.output(0).get_names())}")
            self.frontier: dict = {_key(by_name[n].output(0)): v for n, v in inputs.items()}
        elif len(params) != 1:
            raise OvSparsityError(f"the sequential pass got one input array for a model with {len(params)} inputs")
        else:
            self.frontier = {_key(params[0].output(0)): inputs}
        self.model = model
        self.layers = layers
        self.batch_size = batch_size
        self.done: set = {p.get_name() for p in params}  # ops whose outputs are computed
        self.stats = WalkStats()
        # how each frontier tensor holds the batch (see _layout); a model whose graph pins its batch is
        # walked with its Reshapes freed where that is proven right, else one sample at a time
        mode = batch_mode(model)
        self.freed, self.per_sample = mode == FREED, mode == PINNED
        if self.per_sample and (static_batch(model) or 1) != 1:
            raise OvSparsityError(f"the model takes only batch {static_batch(model)} and its graph pins it: "
                                  "the sequential pass needs a model that takes batch 1")
        self.layout: dict = {k: (0, 1) for k in self.frontier}

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for name in self.layers:
            t0 = time.perf_counter()
            values = self._advance(name)
            self.stats.seconds[name] = time.perf_counter() - t0
            yield name, values

    # ---- one step ---------------------------------------------------------------
    def _advance(self, layer: str) -> np.ndarray:
        node = next(op for op in self.model.get_ordered_ops() if op.get_friendly_name() == layer)
        target = node.input(0).get_source_output()
        if _key(target) in self.frontier:
            return self._model_view(_key(target))
        region = self._region(target)  # ops to run: ancestors of target not yet computed
        wanted = sorted(set(self._boundary(region)) | {_key(target)})
        values = self._run(region, wanted)
        self.done |= set(region)
        self.frontier.update(values)
        self._drop_consumed()
        return self._model_view(_key(target))

    def _model_view(self, key: Key) -> np.ndarray:
        """A frontier tensor over all samples as the model holds a batch of them (batch axis back in place)."""
        value = self.frontier[key]
        if self.layout[key] == SHARED:
            return value
        if self.layout[key] is None:
            return value.reshape(-1, *value.shape[2:])
        return _from_samples(value, *self.layout[key])

    def _region(self, target: ov.Output) -> dict:
        """{name: op} of the ancestors of target that are neither computed nor constant."""
        region, stack = {}, [target.get_node()]
        while stack:
            op = stack.pop()
            name = op.get_name()
            if name in region or name in self.done or op.get_type_name() == "Constant":
                continue
            region[name] = op
            for inp in op.inputs():
                src = inp.get_source_output()
                if _key(src) not in self.frontier:
                    stack.append(src.get_node())
        return region

    def _boundary(self, region: dict) -> list:
        """Outputs of region ops that an op outside the computed part still reads."""
        computed = self.done | set(region)
        keys = []
        for name, op in region.items():
            for out in op.outputs():
                if any(not _is_result(t.get_node()) and t.get_node().get_name() not in computed
                       for t in out.get_target_inputs()):
                    keys.append((name, out.get_index()))
        return keys

    def _drop_consumed(self) -> None:
        outputs = {}
        for op in self.model.get_ordered_ops():
            for out in op.outputs():
                outputs[_key(out)] = out
        for key in list(self.frontier):
            live = any(not _is_result(t.get_node()) and t.get_node().get_name() not in self.done
                       for t in outputs[key].get_target_inputs())
            if not live:
                del self.frontier[key]

    def _run(self, region: dict, wanted: list) -> dict:
        """Cut the sub-model (frontier -> wanted) from a clone of the current model and run it."""
        order = list(self.model.get_ordered_ops())
        clone = self.model.clone()
        c_order = list(clone.get_ordered_ops())
        if [o.get_type_name() for o in order] != [o.get_type_name() for o in c_order]:
            raise RuntimeError("a clone of the model is ordered differently from the model")
        twin = {a.get_name(): b for a, b in zip(order, c_order)}
        originals = {a.get_name(): a for a in order}
        used = [k for k in self.frontier if any(t.get_node().get_name() in region
                                                for t in originals[k[0]].output(k[1]).get_target_inputs())]
        params = []
        for key in used:
            src = twin[key[0]].output(key[1])
            shape = ov.PartialShape(src.get_partial_shape())
            if self.layout[key] not in (None, SHARED) and shape.rank.is_static and len(shape):
                shape[self.layout[key][0]] = ov.Dimension()
            p = ops.parameter(shape, src.get_element_type())
            for tin in list(src.get_target_inputs()):
                tin.replace_source_output(p.output(0))
            params.append(p)
        results = [ops.result(twin[k[0]].output(k[1])) for k in wanted]
        sub = ov.Model(results, params, "frontier_step")
        if self.freed:
            free_reshapes(sub)
        sub.validate_nodes_and_infer_types()
        layouts = {k: None if self.per_sample else self._layout(k, r, originals) for k, r in zip(wanted, sub.outputs)}
        compiled = compile_model(sub)
        request = compiled.create_infer_request()
        n = len(next(v for k, v in self.frontier.items() if self.layout[k] != SHARED))
        step = 1 if self.per_sample else self.batch_size
        values: dict = {}
        for start in range(0, n, step):
            feed = {}
            for i, k in enumerate(used):
                if self.layout[k] == SHARED:
                    feed[i] = self.frontier[k]
                    continue
                part = self.frontier[k][start:start + step]
                feed[i] = part[0] if self.layout[k] is None else _from_samples(part, *self.layout[k])
            out = request.infer(feed)
            self.stats.subgraph_runs += 1
            for j, k in enumerate(wanted):
                part = np.asarray(out[compiled.outputs[j]])
                if layouts[k] == SHARED:  # no batch axis (shape values, constants computed at run time)
                    values.setdefault(k, part.copy())
                    continue
                part = part[None] if layouts[k] is None else _to_samples(part, *layouts[k])
                if k not in values:  # one array per tensor, filled batch by batch (no concatenation copy)
                    values[k] = np.empty((n, *part.shape[1:]), dtype=part.dtype)
                values[k][start:start + len(part)] = part
        self.layout.update(layouts)
        for name in region:
            self.stats.ops_run[name] = self.stats.ops_run.get(name, 0) + 1
        return values


    def _layout(self, key: Key, output: ov.Output, originals: dict) -> tuple:
        """(axis, rows per sample) of a tensor: the one dimension that follows the batch in the sub-model
        (dynamic inputs), and its size per sample in the model (a pinned model traced at batch 1 merges the
        batch into a dimension: ShuffleNet's [24, 2, 1936] holds 24 rows per sample)."""
        ps = output.get_partial_shape()
        if ps.rank.is_dynamic:
            raise OvSparsityError(f"the sequential pass cannot tell where the batch is in tensor {key[0]}:{key[1]} "
                                  f"(dynamic rank)")
        axes = [i for i, d in enumerate(ps) if d.is_dynamic]
        if not axes:
            return SHARED
        if 0 in axes and (len(axes) > 1 or not self.freed):  # batch first (and e.g. a text model's sequence)
            return 0, 1
        if len(axes) != 1:
            raise OvSparsityError(f"the sequential pass cannot tell where the batch is in tensor {key[0]}:{key[1]} "
                                  f"(shape {ps})")
        own = originals[key[0]].output(key[1]).get_partial_shape()[axes[0]]
        per = own.get_length() // (static_batch(self.model) or 1) if own.is_static and self.freed else 1
        return axes[0], max(1, per)


def _to_samples(part: np.ndarray, axis: int, per: int) -> np.ndarray:
    """[.., m*per (axis), ..] -> [m, (per,) ..]: samples first, each sample's rows together."""
    moved = np.moveaxis(part, axis, 0)
    if per == 1:
        return moved
    return moved.reshape(moved.shape[0] // per, per, *moved.shape[1:])


def _from_samples(value: np.ndarray, axis: int, per: int) -> np.ndarray:
    if per != 1:
        value = value.reshape(value.shape[0] * per, *value.shape[2:])
    return np.moveaxis(value, 0, axis)


def prefix_inputs(model: ov.Model, layer: str, batches, batch_size: int = 32) -> Iterator[np.ndarray]:
    """The input of `layer` in `model` as it is now, batch by batch over `batches` (arrays of model
    inputs): the whole prefix of the network runs on each batch and nothing is kept, for layers that
    need more images than the frontier can hold (a classifier sees one pooled vector per image)."""
    clone = model.clone()
    node = next(op for op in clone.get_ordered_ops() if op.get_friendly_name() == layer)
    prefix = ov.Model([ops.result(node.input(0).get_source_output())], clone.get_parameters(), "prefix")
    prefix = with_dynamic_batch(prefix)
    batch_size = batch_size if batch_is_dynamic(prefix) else 1
    compiled = compile_model(prefix)
    request = compiled.create_infer_request()
    for batch in batches:
        for start in range(0, inputs.length(batch), batch_size):
            yield request.infer(inputs.feed(inputs.take(batch, slice(start, start + batch_size))))[compiled.outputs[0]]
