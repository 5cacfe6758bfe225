"""Parameters and multiply-accumulates of an IR at batch 1, dense and effective (nonzero weights)."""

from __future__ import annotations

import numpy as np
import openvino as ov

from ov_sparsity.graph.model_io import with_batch1
from ov_sparsity.graph.weighted import find_weighted_ops


def complexity(model: ov.Model) -> dict:
    """{params, nonzero_params, macs, effective_macs} over the weighted ops (bias Adds not counted)."""
    static = with_batch1(model)
    params = nonzero = macs = eff = 0
    for op in find_weighted_ops(static):
        w = op.weight()
        nz = int(np.count_nonzero(w))
        rows = op.num_out_channels
        out_elems = int(np.prod(op.node.get_output_shape(0)))
        positions = out_elems // rows  # output positions per output channel
        fan_in = w.size // rows
        params += w.size
        nonzero += nz
        macs += positions * rows * fan_in
        eff += positions * nz
    return {"params": params, "nonzero_params": nonzero, "macs": macs, "effective_macs": eff}
