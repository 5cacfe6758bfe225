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


def _conv_patch_mean(op: WeightedOp) -> ov.Output:
    x = op.node.input(0).get_source_output()
    rank = len(x.get_partial_shape())
    channels = x.get_partial_shape()[1].get_length()
    kernel = op.weight_shape()[-(rank - 2):]
    k = int(np.prod(kernel))
    attrs = op.node.get_attributes()
    spatial_axes = list(range(2, rank))
    trivial = (k == 1 and all(s == 1 for s in attrs["strides"])
               and not any(attrs["pads_begin"]) and not any(attrs["pads_end"]))
    if trivial:
        return ops.reduce_mean(x, ops.constant(np.array([0] + spatial_axes, np.int64)), keep_dims=False).output(0)
    # one-hot depthwise kernels: output channel c*k + j holds input channel c at kernel offset j
    eye = np.eye(k, dtype=np.float32).reshape(k, *kernel)
    filters = np.broadcast_to(eye[None, :, None], (channels, k, 1, *kernel)).copy()
    patches = ops.group_convolution(x, ops.constant(filters), attrs["strides"], attrs["pads_begin"],
                                    attrs["pads_end"], attrs["dilations"], attrs["auto_pad"].upper())
    return ops.reduce_mean(patches, ops.constant(np.array([0] + spatial_axes, np.int64)),
                           keep_dims=False).output(0)


def _matmul_patch_mean(op: WeightedOp) -> ov.Output:
    x = op.node.input(0).get_source_output()
    rank = len(x.get_partial_shape())
    feature_axis = rank - 2 if op.node.get_attributes().get("transpose_a") else rank - 1
    axes = [a for a in range(rank) if a != feature_axis]
    return ops.reduce_mean(x, ops.constant(np.array(axes, np.int64)), keep_dims=False).output(0)


def patch_mean_output(op: WeightedOp) -> ov.Output | None:
    if op.type in ("Convolution", "GroupConvolution"):
        return _conv_patch_mean(op)
    if op.type == "MatMul":
        return _matmul_patch_mean(op)
    return None  # transposed convolutions: not supported


BUILDERS = {"patch_mean": patch_mean_output}


def supports(kind: str, op: WeightedOp) -> bool:
    return kind in BUILDERS and op.type in (("Convolution", "GroupConvolution", "MatMul"))


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
        out = BUILDERS[req.kind](op) if op is not None and req.kind in BUILDERS else None
        if out is None:
            continue
        served.append(req)
        results.append(ops.result(out))
    if not results:
        return {}
    stats_model = ov.Model(results, clone.get_parameters(), "statistics")
    values = mean_over_batches(stats_model, dataset, batch_size, desc="statistics", progress=progress)
    return {req: np.asarray(v, dtype=np.float64).reshape(-1) for req, v in zip(served, values)}
