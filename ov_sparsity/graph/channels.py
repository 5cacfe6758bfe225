"""Channel dependency groups and channel removal (graph surgery).

A group starts at a producer Convolution and follows its output channels forward
through ops that keep channels apart — unary activations, per-channel or scalar
Add/Multiply/Subtract/Divide with a constant, depthwise GroupConvolutions,
ReduceMean over spatial axes, a flattening Reshape — to the ops that mix them:
Convolutions and MatMuls (the consumers). Anything else on the way (a residual
Add, a Concat, a Result, an unknown op) couples the channels to another tensor,
and the producer is not prunable: it is left alone rather than split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.graph.weighted import const_value

UNARY = {"Relu", "Clamp", "Sigmoid", "Swish", "HSwish", "HSigmoid", "Gelu", "Elu", "Tanh", "Mish", "SoftPlus",
         "Abs", "Exp", "Convert"}
BINARY = {"Add", "Multiply", "Subtract", "Divide", "Maximum", "Minimum"}


@dataclass
class ChannelGroup:
    producer: ov.Node
    channels: int
    per_channel: list = field(default_factory=list)  # (node, port) constants shaped [.., C, ..] on axis 1
    depthwise: list = field(default_factory=list)  # GroupConvolution nodes [C, 1, 1, k, k]
    reshapes: list = field(default_factory=list)  # (node, port) Reshape target-shape constants naming C
    consumers: list = field(default_factory=list)  # (node, kind, weight axis of the channels)
    activation: Optional[ov.Output] = None  # the tensor the consumers read

    @property
    def name(self) -> str:
        return self.producer.get_friendly_name()


def _per_channel_const(value: np.ndarray, channels: int, rank: int) -> Optional[bool]:
    """True: per-channel along axis 1 (slice it); False: scalar-like (leave it); None: anything else."""
    if value.size == 1:
        return False
    shape = (1,) * (rank - value.ndim) + tuple(value.shape)
    if len(shape) == rank and shape[1] == channels and value.size == channels:
        return True
    return None


def _follow(output: ov.Output, group: ChannelGroup, seen: set) -> bool:
    """Walk every consumer of `output`; False as soon as the channels meet another tensor."""
    targets = list(output.get_target_inputs())
    if not targets:
        return False
    for target in targets:
        node, port = target.get_node(), target.get_index()
        kind = node.get_type_name()
        if id(node) in seen:
            continue
        rank = len(output.get_partial_shape())
        if kind in UNARY:
            seen.add(id(node))
            if not _follow(node.output(0), group, seen):
                return False
        elif kind == "PRelu" and port == 0:
            slope = const_value(node.input(1).get_source_output())
            if slope is None or _per_channel_const(slope, group.channels, rank) is None:
                return False
            if _per_channel_const(slope, group.channels, rank):
                group.per_channel.append((node, 1))
            seen.add(id(node))
            if not _follow(node.output(0), group, seen):
                return False
        elif kind in BINARY:
            other = 1 - port
            value = const_value(node.input(other).get_source_output())
            if value is None:
                return False  # a residual Add or the like: coupled to another tensor
            per = _per_channel_const(value, group.channels, rank)
            if per is None:
                return False
            if per:
                group.per_channel.append((node, other))
            seen.add(id(node))
            if not _follow(node.output(0), group, seen):
                return False
        elif kind == "GroupConvolution" and port == 0:
            shape = tuple(node.input(1).get_shape())
            if shape[0] != group.channels or shape[1] != 1 or shape[2] != 1:
                return False  # a grouped (not depthwise) convolution ties channels in groups
            if const_value(node.input(1).get_source_output()) is None:
                return False
            group.depthwise.append(node)
            seen.add(id(node))
            if not _follow(node.output(0), group, seen):
                return False
        elif kind == "Convolution" and port == 0:
            if const_value(node.input(1).get_source_output()) is None:
                return False
            group.consumers.append((node, "conv", 1))
            group.activation = output
        elif kind == "MatMul" and port == 0 and rank == 2:
            if const_value(node.input(1).get_source_output()) is None or node.get_attributes().get("transpose_a"):
                return False
            group.consumers.append((node, "matmul", 1 if node.get_attributes().get("transpose_b") else 0))
            group.activation = output
        elif kind == "ReduceMean" and port == 0:
            axes = const_value(node.input(1).get_source_output())
            if axes is None or np.any((np.asarray(axes) % rank) <= 1):
                return False
            seen.add(id(node))
            if not _follow(node.output(0), group, seen):
                return False
        elif kind == "Reshape" and port == 0:
            target_shape = const_value(node.input(1).get_source_output())
            out_shape = node.get_output_partial_shape(0)
            if target_shape is None or len(out_shape) != 2 or not out_shape[1].is_static \
                    or out_shape[1].get_length() != group.channels:
                return False
            if group.channels in np.asarray(target_shape).tolist():
                group.reshapes.append((node, 1))
            seen.add(id(node))
            if not _follow(node.output(0), group, seen):
                return False
        else:
            return False
    return True


def channel_group(node: ov.Node) -> Optional[ChannelGroup]:
    """The group a producer Convolution starts, or None if its channels are coupled or unmixed."""
    if node.get_type_name() != "Convolution" or const_value(node.input(1).get_source_output()) is None:
        return None
    channels = int(node.input(1).get_shape()[0])
    group = ChannelGroup(node, channels)
    if _follow(node.output(0), group, {id(node)}) and group.consumers and channels > 1:
        return group
    return None


def find_channel_groups(model: ov.Model) -> list[ChannelGroup]:
    """Prunable groups, one per producer Convolution whose channels stay apart until mixed."""
    return [g for g in map(channel_group, model.get_ordered_ops()) if g is not None]


def _replace(node: ov.Node, port: int, value: np.ndarray) -> None:
    src = node.input(port).get_source_output()
    const = ops.constant(np.ascontiguousarray(value))
    const.set_friendly_name(src.get_node().get_friendly_name())
    node.input(port).replace_source_output(const.output(0))


def remove_channels(model: ov.Model, group: ChannelGroup, keep: np.ndarray) -> None:
    """Keep only channels `keep` (sorted indices) of the group, for real: the producer's
    rows, every per-channel constant, the depthwise kernels and the consumers' inputs."""
    keep = np.asarray(sorted(keep), dtype=np.int64)
    _replace(group.producer, 1, const_value(group.producer.input(1).get_source_output())[keep])
    for node, port in group.per_channel:
        value = const_value(node.input(port).get_source_output())
        rank = len(node.get_output_partial_shape(0))
        shaped = value.reshape((1,) * (rank - value.ndim) + tuple(value.shape))
        _replace(node, port, np.take(shaped, keep, axis=1).astype(value.dtype))
    for node in group.depthwise:
        _replace(node, 1, const_value(node.input(1).get_source_output())[keep])
    for node, port in group.reshapes:
        value = np.asarray(const_value(node.input(port).get_source_output()))
        _replace(node, port, np.where(value == group.channels, len(keep), value).astype(value.dtype))
    for node, kind, axis in group.consumers:
        _replace(node, 1, np.take(const_value(node.input(1).get_source_output()), keep, axis=axis))
    model.validate_nodes_and_infer_types()
    group.channels = len(keep)


def residual_branch(group: ChannelGroup) -> Optional[tuple[ov.Node, int]]:
    """(the Add, its port) where the group's branch joins a residual connection, or None: the group has one
    convolution consumer whose output (after a constant bias Add) feeds only an Add with another, computed
    tensor of its shape (the skip). Such a group can go to width 0: the whole branch dropped, the block an
    identity (plus a constant)."""
    if len(group.consumers) != 1 or group.consumers[0][1] != "conv":
        return None
    out = group.consumers[0][0].output(0)
    for _ in range(2):
        targets = list(out.get_target_inputs())
        if len(targets) != 1 or targets[0].get_node().get_type_name() != "Add":
            return None
        node, port = targets[0].get_node(), targets[0].get_index()
        other = node.input(1 - port).get_source_output()
        if const_value(other) is None:
            if other.get_partial_shape() != out.get_partial_shape():
                return None
            return node, port
        out = node.output(0)  # the consumer's bias
    return None


def drop_branch(model: ov.Model, group: ChannelGroup, value: np.ndarray) -> None:
    """Replace the group's residual branch (residual_branch) by the constant `value` [C] (its mean): the
    producer, depthwise convs and consumer leave the graph; the Add keeps the skip plus the constant."""
    merge, port = residual_branch(group)
    rank = len(merge.get_output_partial_shape(0))
    const = ops.constant(np.asarray(value, np.float32).reshape((1, -1) + (1,) * (rank - 2)))
    const.set_friendly_name(group.name + "/dropped_branch")
    skip = merge.input(1 - port).get_source_output()
    # the constant always second: with it first, OpenVINO's CPU plugin (2026.4) failed to compile ResNet-56 at
    # a dynamic batch with one of a stage's first three blocks kept and the rest dropped ("Can not create
    # StaticMemory object"); with it second it compiled (found by the speed-up search, docs/results.md)
    merge.input(0).replace_source_output(skip)
    merge.input(1).replace_source_output(const.output(0))
    model.validate_nodes_and_infer_types()
