"""Weighted ops of an IR: their weight constants, bias Adds and output-channel layout.

A weight reaches its op as a Constant, possibly behind a decompression chain
(Convert, Subtract zero point, Multiply scale, Reshape): we evaluate that chain
with numpy to read the effective FP32 weight, and replace the whole chain by a
plain FP32 Constant when we write one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import openvino as ov

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.scope import IgnoredScope

# op type -> weight input port, axes of the weight tensor that enumerate output channels
CONV_TYPES = {
    "Convolution": (1, (0,)),
    "GroupConvolution": (1, (0, 1)),
    "ConvolutionBackpropData": (1, (1,)),
    "GroupConvolutionBackpropData": (1, (0, 2)),
}
WEIGHTED_TYPES = tuple(CONV_TYPES) + ("MatMul",)
_CHAIN_TYPES = {"Convert", "Subtract", "Multiply", "Reshape", "Unsqueeze", "Squeeze"}


def const_value(output: ov.Output) -> Optional[np.ndarray]:
    """Evaluate a constant-only decompression chain, or None if not constant."""
    node = output.get_node()
    kind = node.get_type_name()
    if kind == "Constant":
        return np.array(node.get_data(), copy=True)
    if kind not in _CHAIN_TYPES:
        return None
    args = [const_value(inp.get_source_output()) for inp in node.inputs()]
    if any(a is None for a in args):
        return None
    if kind == "Convert":
        return args[0].astype(np.float32)
    if kind == "Subtract":
        return args[0].astype(np.float32) - args[1].astype(np.float32)
    if kind == "Multiply":
        return args[0].astype(np.float32) * args[1].astype(np.float32)
    shape = tuple(int(d) for d in node.get_output_shape(0))
    return args[0].reshape(shape)


def _float(value: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(value, dtype=np.float32)


@dataclass
class WeightedOp:
    """A weighted op of a given model (handles stay valid while the model lives)."""

    node: ov.Node
    weight_port: int
    out_axes: tuple

    @property
    def name(self) -> str:
        return self.node.get_friendly_name()

    @property
    def type(self) -> str:
        return self.node.get_type_name()

    # ---- weights -------------------------------------------------------
    def weight(self) -> np.ndarray:
        return _float(const_value(self.node.input(self.weight_port).get_source_output()))

    def weight_shape(self) -> tuple:
        return tuple(int(d) for d in self.node.input(self.weight_port).get_shape())

    @property
    def num_out_channels(self) -> int:
        shape = self.weight_shape()
        return int(np.prod([shape[a] for a in self.out_axes]))

    def to_rows(self, w: np.ndarray) -> np.ndarray:
        """Weight tensor -> [out_channels, fan_in] matrix (a view-preserving reorder)."""
        rest = [a for a in range(w.ndim) if a not in self.out_axes]
        return np.transpose(w, self.out_axes + tuple(rest)).reshape(self.num_out_channels, -1)

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        """Inverse of to_rows."""
        shape = self.weight_shape()
        rest = [a for a in range(len(shape)) if a not in self.out_axes]
        order = self.out_axes + tuple(rest)
        w = rows.reshape([shape[a] for a in order])
        return np.ascontiguousarray(np.transpose(w, np.argsort(order)), dtype=np.float32)

    def set_weight(self, value: np.ndarray) -> None:
        from openvino import opset15 as ops

        value = _float(value)
        if value.shape != self.weight_shape():
            raise ValueError(f"{self.name}: weight shape {value.shape} != {self.weight_shape()}")
        src = self.node.input(self.weight_port).get_source_output()
        const = ops.constant(value)
        const.set_friendly_name(src.get_node().get_friendly_name())
        self.node.input(self.weight_port).replace_source_output(const.output(0))

    # ---- bias ----------------------------------------------------------
    @property
    def output_channel_axis(self) -> int:
        if self.type == "MatMul":
            return len(self.node.get_output_partial_shape(0)) - 1
        return 1

    def _bias_add(self):
        """(Add node, port of its constant) if the op's only consumer is a per-channel bias Add."""
        targets = list(self.node.output(0).get_target_inputs())
        if len(targets) != 1:
            return None
        add = targets[0].get_node()
        if add.get_type_name() != "Add":
            return None
        other = 1 - targets[0].get_index()
        value = const_value(add.input(other).get_source_output())
        if value is None or value.size != self.num_out_channels:
            return None
        rank = len(self.node.get_output_partial_shape(0))
        shape = value.shape
        if len(shape) > rank:
            return None
        # the channels must sit on the output channel axis
        padded = (1,) * (rank - len(shape)) + tuple(shape)
        if value.size > 1 and padded[self.output_channel_axis] != value.size:
            return None
        return add, other

    def has_bias(self) -> bool:
        return self._bias_add() is not None

    def bias(self) -> Optional[np.ndarray]:
        found = self._bias_add()
        if found is None:
            return None
        add, port = found
        return _float(const_value(add.input(port).get_source_output())).reshape(-1)

    def set_bias(self, value: np.ndarray) -> None:
        """Write the bias; insert an Add after the op when it has none."""
        from openvino import opset15 as ops

        value = _float(value).reshape(-1)
        if value.size != self.num_out_channels:
            raise ValueError(f"{self.name}: bias of {value.size} values for {self.num_out_channels} channels")
        rank = len(self.node.get_output_partial_shape(0))
        shape = [1] * rank
        shape[self.output_channel_axis] = value.size
        const = ops.constant(value.reshape(shape))
        found = self._bias_add()
        if found is not None:
            add, port = found
            const.set_friendly_name(add.input(port).get_source_output().get_node().get_friendly_name())
            add.input(port).replace_source_output(const.output(0))
            return
        const.set_friendly_name(self.name + "/bias")
        consumers = list(self.node.output(0).get_target_inputs())
        add = ops.add(self.node.output(0), const)
        add.set_friendly_name(self.name + "/bias_add")
        for inp in consumers:
            inp.replace_source_output(add.output(0))


def _weighted_op(node: ov.Node) -> Optional[WeightedOp]:
    kind = node.get_type_name()
    if kind in CONV_TYPES:
        port, axes = CONV_TYPES[kind]
        if const_value(node.input(port).get_source_output()) is None:
            return None
        return WeightedOp(node, port, axes)
    if kind == "MatMul":
        if const_value(node.input(1).get_source_output()) is None:
            return None
        if len(node.input(1).get_shape()) != 2:
            return None
        transpose_b = bool(node.get_attributes().get("transpose_b", False))
        return WeightedOp(node, 1, (0,) if transpose_b else (1,))
    return None


def find_weighted_ops(model: ov.Model, ignored: IgnoredScope | None = None) -> list[WeightedOp]:
    """Weighted ops in topological order, minus the ignored scope."""
    ignored = ignored or IgnoredScope()
    ops_ = []
    seen = set()
    for node in model.get_ordered_ops():
        op = _weighted_op(node)
        if op is None or ignored.matches(op.name, op.type):
            continue
        if op.name in seen:
            raise OvSparsityError(f"the model has two weighted ops named {op.name!r}; names must be unique")
        seen.add(op.name)
        ops_.append(op)
    return ops_


def weighted_ops_by_name(model: ov.Model, ignored: IgnoredScope | None = None) -> dict[str, WeightedOp]:
    return {op.name: op for op in find_weighted_ops(model, ignored)}


def require_weighted_ops(model: ov.Model, ignored: IgnoredScope | None = None) -> list[WeightedOp]:
    ops_ = find_weighted_ops(model, ignored)
    if not ops_:
        what = "outside the ignored scope " if ignored else ""
        raise OvSparsityError(
            f"the model has no weighted ops {what}(Convolution, GroupConvolution, "
            "ConvolutionBackpropData, MatMul with constant weights): nothing to compress")
    return ops_
