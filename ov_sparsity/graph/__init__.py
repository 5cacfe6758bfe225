"""IR access: loading and saving models, weighted ops, ignored scope, graph edits."""

from ov_sparsity.graph.model_io import read_model, save_model
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import WeightedOp, find_weighted_ops
from ov_sparsity.graph.edits import SetWeight, SetBias, apply_commands

__all__ = [
    "read_model", "save_model", "IgnoredScope", "WeightedOp",
    "find_weighted_ops", "SetWeight", "SetBias", "apply_commands",
]
