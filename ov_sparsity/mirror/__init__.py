"""A differentiable torch mirror of an OpenVINO IR : recovery beyond the layer
trains it and writes the weights back."""

from ov_sparsity.mirror.module import Mirror, UnsupportedOp

__all__ = ["Mirror", "UnsupportedOp"]
