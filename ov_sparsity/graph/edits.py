"""Graph edits as small commands, applied by one transformer.

Algorithms compute new values; they never poke the graph themselves. A list of
commands is applied to a model by `apply_commands`, which resolves ops by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov

from ov_sparsity.graph.weighted import weighted_ops_by_name


@dataclass(frozen=True)
class SetWeight:
    op: str
    value: np.ndarray


@dataclass(frozen=True)
class SetBias:
    op: str
    value: np.ndarray


def apply_commands(model: ov.Model, commands: list) -> ov.Model:
    """Apply the commands to `model` in place and return it."""
    if not commands:
        return model
    ops_ = weighted_ops_by_name(model)
    for cmd in commands:
        op = ops_.get(cmd.op)
        if op is None:
            raise KeyError(f"no weighted op named {cmd.op!r} in the model")
        if isinstance(cmd, SetWeight):
            op.set_weight(cmd.value)
        elif isinstance(cmd, SetBias):
            op.set_bias(cmd.value)
        else:
            raise TypeError(f"unknown graph command {type(cmd).__name__}")
    model.validate_nodes_and_infer_types()
    return model
