"""Which layers OpenVINO's sparse FullyConnected kernels can serve.

On CPUs with AMX, CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE turns an INT8 FullyConnected layer (a MatMul
with constant weights) into `brgemm_avx512_amx_sparse_I8` when both weight dimensions are multiples of
64 and the layer is at least that sparse; convolutions and weight-only INT8 get no sparse kernel.
A layer whose dimensions miss a multiple of 64 by a few channels is listed apart: pruning or padding
those channels would let it qualify."""

from __future__ import annotations

import numpy as np
import openvino as ov

from ov_sparsity.graph.weighted import find_weighted_ops

BLOCK = 64
NEAR = 8  # channels away from a multiple of 64 that count as a near miss


def sparse_fc_layers(model: ov.Model, rate: float = 0.5) -> dict:
    """{"qualifying": [names], "sparse_enough": [names of those at least `rate` sparse],
    "near_miss": [{name, shape}]} over the MatMuls with constant 2-D weights."""
    qualifying, sparse, near = [], [], []
    for op in find_weighted_ops(model):
        if op.type != "MatMul":
            continue
        shape = tuple(op.weight_shape())
        if len(shape) != 2:
            continue
        off = [d % BLOCK for d in shape]
        if all(o == 0 for o in off):
            qualifying.append(op.name)
            if float(np.mean(op.weight() == 0)) >= rate:
                sparse.append(op.name)
        elif all(o == 0 or o >= BLOCK - NEAR or o <= NEAR for o in off) and min(shape) >= BLOCK:
            near.append({"name": op.name, "shape": list(shape)})
    return {"qualifying": qualifying, "sparse_enough": sparse, "near_miss": near}
