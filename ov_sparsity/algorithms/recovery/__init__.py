"""Recovery beyond the layer: the sparse model fitted to the dense one through the
torch mirror of the IR, block by block or as a whole."""

from ov_sparsity.algorithms.recovery.algorithm import Recovery, RecoveryParams
from ov_sparsity.algorithms.recovery.taps import block_outputs

__all__ = ["Recovery", "RecoveryParams", "block_outputs"]
