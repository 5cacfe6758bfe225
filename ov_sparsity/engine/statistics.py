"""Dense-model statistics, collected in one inference pass.

An algorithm declares what it needs as StatRequests (two-phase, as in NNCF);
the pipeline collects the union once on the dense model. Each statistic is a
small subgraph appended to a clone of the model, ending in a ReduceMean over the
batch, so only per-batch means leave the device.

`patch_mean` of a weighted op is E[x] over every receptive-field patch the op
sees (zero padding included), laid out like a row of WeightedOp.to_rows. As the
op is linear in its weights, E[f(W, X)] per output channel = rows(W) @ patch_mean,
exactly, for any W: one dense pass serves every later weight change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.data.datasets import Dataset
from ov_sparsity.engine.infer import mean_over_batches, with_dynamic_batch
from ov_sparsity.graph.weighted import WeightedOp, weighted_ops_by_name


@dataclass(frozen=True)
class StatRequest:
    kind: str
    layer: str


def stat_geometry(kind: str, op: WeightedOp):
    """What a statistic of `kind` needs of `op` besides its input, as a hashable tuple (None: not served):
    two ops with equal geometry on one input tensor share the statistic."""
    if kind != "patch_mean":
        return None
    if op.type in ("Convolution", "GroupConvolution"):
        rank = len(op.node.input(0).get_partial_shape())
        attrs = op.node.get_attributes()
        return ("conv", tuple(op.weight_shape()[-(rank - 2):]), tuple(attrs["strides"]), tuple(attrs["pads_begin"]),
                tuple(attrs["pads_end"]), tuple(attrs["dilations"]), attrs["auto_pad"].upper())
    if op.type == "MatMul":
        return ("matmul", bool(op.node.get_attributes().get("transpose_a")))
    return None  # transposed convolutions: not supported


def patch_mean_of(x: ov.Output, geometry: tuple) -> ov.Output:
    """The patch mean of input `x` for an op of `geometry` (stat_geometry), reduced over the batch."""
    rank = len(x.get_partial_shape())
    if geometry[0] == "matmul":
        feature_axis = rank - 2 if geometry[1] else rank - 1
        axes = [a for a in range(rank) if a != feature_axis]
        return ops.reduce_mean(x, ops.constant(np.array(axes, np.int64)), keep_dims=False).output(0)
    _, kernel, strides, pads_begin, pads_end, dilations, auto_pad = geometry
    channels = x.get_partial_shape()[1].get_length()
    k = int(np.prod(kernel))
    spatial_axes = list(range(2, rank))
    if k == 1 and all(s == 1 for s in strides) and not any(pads_begin) and not any(pads_end):
        return ops.reduce_mean(x, ops.constant(np.array([0] + spatial_axes, np.int64)), keep_dims=False).output(0)
    # one-hot depthwise kernels: output channel c*k + j holds input channel c at kernel offset j
    eye = np.eye(k, dtype=np.float32).reshape(k, *kernel)
    filters = np.broadcast_to(eye[None, :, None], (channels, k, 1, *kernel)).copy()
    patches = ops.group_convolution(x, ops.constant(filters), list(strides), list(pads_begin), list(pads_end),
                                    list(dilations), auto_pad)
    return ops.reduce_mean(patches, ops.constant(np.array([0] + spatial_axes, np.int64)),
                           keep_dims=False).output(0)


def supports(kind: str, op: WeightedOp) -> bool:
    return stat_geometry(kind, op) is not None


def collect_statistics(model: ov.Model, requests: list[StatRequest], dataset: Dataset,
                       batch_size: int = 16, progress: bool = True) -> dict:
    """{StatRequest: np.ndarray} for every request that can be served on this model."""
    requests = list(dict.fromkeys(requests))
    if not requests:
        return {}
    clone = with_dynamic_batch(model)
    by_name = weighted_ops_by_name(clone)
    served, results = [], []
    for req in requests:
        op = by_name.get(req.layer)
        geometry = stat_geometry(req.kind, op) if op is not None else None
        if geometry is None:
            continue
        served.append(req)
        results.append(ops.result(patch_mean_of(op.node.input(0).get_source_output(), geometry)))
    if not results:
        return {}
    stats_model = ov.Model(results, clone.get_parameters(), "statistics")
    values = mean_over_batches(stats_model, dataset, batch_size, desc="statistics", progress=progress)
    return {req: np.asarray(v, dtype=np.float64).reshape(-1) for req, v in zip(served, values)}
