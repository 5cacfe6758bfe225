"""Per-layer sparsity budgets from measured sensitivity: curves measured through
the network, levels allocated by dynamic programming (SPDY)."""

from ov_sparsity.algorithms.budgets.dp import allocate_dp, dp_levels, exact_counts
from ov_sparsity.algorithms.budgets.sensitivity import measure_curves

__all__ = ["allocate_dp", "dp_levels", "exact_counts", "measure_curves"]
