"""Latencies measured on this CPU, for the speed-up search.

- `for_timing(model, int8)`: the model as it runs in the target precision. For INT8, FakeQuantize
  nodes on every convolution / MatMul input and weight (OpenVINO's low-precision transformations turn
  them into INT8 kernels, the same kernels an nncf.quantize'd model runs); the values do not matter
  for the time.
- `group_model(group, width)`: one prunable group alone (producer conv, its depthwise convs, its
  consumers) at `width` channels, with the real shapes and attributes and random weights.
- `block_multiple`: the channel multiple the CPU kernels work in, measured by timing a scan of widths
  on one group (not assumed).
- `width_table`: each group's latency at candidate widths (multiples of the block), interleaved; width
  0 (a residual branch dropped) costs nothing.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.engine.latency import interleaved_latency
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.channels import ChannelGroup
from ov_sparsity.graph.weighted import const_value

MIXERS = ("Convolution", "GroupConvolution", "MatMul")


def _fq(x: ov.Output, lo: float, hi: float, levels: int = 256) -> ov.Output:
    low, high = ops.constant(np.float32(lo)), ops.constant(np.float32(hi))
    return ops.fake_quantize(x, low, high, low, high, levels).output(0)


def for_timing(model: ov.Model, int8: bool) -> ov.Model:
    """A clone that runs in the target precision (FP32 as it is; INT8 through FakeQuantize)."""
    clone = model.clone()
    if not int8:
        return clone
    for node in clone.get_ordered_ops():
        if node.get_type_name() not in MIXERS:
            continue
        weight = const_value(node.input(1).get_source_output())
        if weight is None:
            continue
        bound = float(np.abs(weight).max()) or 1.0
        node.input(1).replace_source_output(_fq(node.input(1).get_source_output(), -bound, bound, 255))
        node.input(0).replace_source_output(_fq(node.input(0).get_source_output(), -4.0, 4.0))
    clone.validate_nodes_and_infer_types()
    return clone


def _conv_like(node: ov.Node, x: ov.Output, weight_shape: tuple, rng) -> ov.Output:
    a = node.get_attributes()
    w = ops.constant((rng.standard_normal(weight_shape) * 0.1).astype(np.float32))
    kind = ops.group_convolution if node.get_type_name() == "GroupConvolution" else ops.convolution
    return kind(x, w, a["strides"], a["pads_begin"], a["pads_end"], a["dilations"], a["auto_pad"]).output(0)


def _relu_bias(x: ov.Output, channels: int, rng) -> ov.Output:
    bias = ops.constant(rng.standard_normal((1, channels, 1, 1)).astype(np.float32) * 0.1)
    return ops.relu(ops.add(x, bias)).output(0)


def group_model(group: ChannelGroup, width: int, seed: int = 0) -> ov.Model:
    """The group alone at `width` channels: producer (+ bias, ReLU), depthwise convs (+ bias, ReLU),
    consumers (a MatMul consumer behind a spatial mean and a flatten, as a classifier reads it)."""
    rng = np.random.default_rng(seed)
    producer = group.producer
    in_shape = producer.get_input_partial_shape(0)
    if not all(in_shape[i].is_static for i in range(1, len(in_shape))):
        raise OvSparsityError(f"speedup: {group.name}'s input {in_shape} needs a static channel count and image "
                              "size to be timed (reshape the model first)")
    x = ops.parameter([1, *(in_shape[i].get_length() for i in range(1, len(in_shape)))], np.float32, name="x")
    w_shape = tuple(producer.input(1).get_shape())
    y = _relu_bias(_conv_like(producer, x.output(0), (width, *w_shape[1:]), rng), width, rng)
    for dw in group.depthwise:
        k = tuple(dw.input(1).get_shape())
        y = _relu_bias(_conv_like(dw, y, (width, *k[1:]), rng), width, rng)
    outs = []
    for node, kind, axis in group.consumers:
        shape = list(node.input(1).get_shape())
        shape[axis] = width
        if kind == "conv":
            outs.append(_conv_like(node, y, tuple(shape), rng))
        else:
            flat = ops.reshape(ops.reduce_mean(y, ops.constant(np.array([2, 3])), False),
                               ops.constant(np.array([-1, width])), False)
            w = ops.constant((rng.standard_normal(shape) * 0.1).astype(np.float32))
            outs.append(ops.matmul(flat, w, False, bool(node.get_attributes().get("transpose_b"))).output(0))
    return ov.Model([ops.result(o) for o in outs], [x], f"group_{group.name}_{width}")


def _time(models: list, seconds: float, batch: int, int8: bool, rounds: int = 6) -> np.ndarray:
    timed = [for_timing(m, int8) for m in models]
    return np.asarray([r["median_ms"] for r in interleaved_latency(timed, seconds=seconds, rounds=rounds,
                                                                   batch=batch)])


def block_multiple(group: ChannelGroup, batch: int, int8: bool, seconds: float = 4.0) -> tuple[int, dict]:
    """The channel block of the CPU kernels, measured: on a scan of up to 64 widths of `group`, the
    latency falls in jumps where a block fewer is needed (w+1 -> w, w a multiple of the block). m is the
    largest of (32, 16, 8, 4, 2) whose multiples hold at least half of the summed drops; 1 if none
    does (noise spreads the drops evenly: a share of about 1/m). Returns (m, {width: ms})."""
    top = max(32, (group.channels // 32) * 32)
    widths = [w for w in range(top, max(top - 64, 1), -1) if w <= group.channels]
    times = dict(zip(widths, _time([group_model(group, w) for w in widths], seconds, batch, int8)))
    drops = {w: max(times[w + 1] - times[w], 0.0) for w in widths if w + 1 in times}
    total = sum(drops.values())
    for m in (32, 16, 8, 4, 2):
        if total > 0 and sum(d for w, d in drops.items() if w % m == 0) >= 0.5 * total:
            return m, times
    return 1, times


def candidate_widths(channels: int, multiple: int, min_fraction: float = 0.25, levels: int = 12) -> list[int]:
    """Dense width first, then multiples of `multiple` down to min_fraction of it, at most `levels`."""
    low = max(multiple, int(np.ceil(channels * min_fraction / multiple)) * multiple)
    grid = list(range((channels // multiple) * multiple, low - 1, -multiple))
    grid = [w for w in grid if 0 < w < channels]
    if len(grid) > levels - 1:
        pick = np.unique(np.round(np.linspace(0, len(grid) - 1, levels - 1)).astype(int))
        grid = [grid[i] for i in pick]
    return [channels] + grid


def width_table(groups: list, widths: dict, batch: int, int8: bool, seconds_per_group: float = 1.0,
                tick: Optional[Callable[[int], None]] = None) -> dict:
    """{group name: ms at each of widths[name]}, each group's widths timed interleaved."""
    table = {}
    for g in groups:
        timed = [w for w in widths[g.name] if w > 0]  # width 0: the branch dropped, nothing left to run
        ms = dict(zip(timed, _time([group_model(g, w) for w in timed], seconds_per_group, batch, int8)))
        table[g.name] = np.asarray([ms.get(w, 0.0) for w in widths[g.name]])
        if tick:
            tick(1)
    return table
