"""Block boundaries of an IR: where the feature losses of recovery are taken.

A block ends at a merge point: an Add or Concat that joins two activation tensors (a residual
connection, the branches of a channel shuffle). An activation is a float tensor computed from a
weighted op's output. A chain with no merges (VGG-like) gets every weighted op's output instead.
At most `limit` taps are kept, evenly spread over the depth.
"""

from __future__ import annotations

import numpy as np
import openvino as ov

from ov_sparsity.graph.weighted import find_weighted_ops
from ov_sparsity.mirror.module import output_key, stable_names

MERGES = ("Add", "Concat")


def _is_float(output: ov.Output) -> bool:
    return output.get_element_type().is_real()


def block_outputs(model: ov.Model, limit: int = 32) -> list:
    """Mirror keys ('node:port') of the block outputs, in topological order."""
    names = stable_names(model)
    _key = lambda output: output_key(names, output)  # noqa: E731
    weighted = {op.node.get_name() for op in find_weighted_ops(model)}
    active: set = set()  # node names whose output 0 is an activation
    merges, layer_outs = [], []
    for node in model.get_ordered_ops():
        name = node.get_name()
        srcs = [i.get_source_output() for i in node.inputs()]
        live = [s for s in srcs if s.get_node().get_name() in active and _is_float(s)]
        if name in weighted or live:
            if node.get_output_size() and _is_float(node.output(0)) and node.get_type_name() != "Result":
                active.add(name)
        if node.get_type_name() in MERGES and len(live) >= 2 and _is_float(node.output(0)):
            merges.append(_key(node.output(0)))
        if name in weighted:
            layer_outs.append(node)
    if not merges:  # a plain chain: each layer's output (after its bias Add, when it has one)
        merges = []
        for node in layer_outs:
            out = node.output(0)
            targets = list(out.get_target_inputs())
            if len(targets) == 1 and targets[0].get_node().get_type_name() == "Add":
                out = targets[0].get_node().output(0)
            merges.append(_key(out))
    results = {_key(r.input(0).get_source_output()) for r in model.get_results()}
    merges = [m for m in merges if m not in results]
    if len(merges) > limit:
        merges = [merges[int(i)] for i in np.linspace(0, len(merges) - 1, limit).round()]
    return list(dict.fromkeys(merges))
