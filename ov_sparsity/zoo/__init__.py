"""Model zoo for benchmarks: torch definitions written here, exported to IR."""

from ov_sparsity.zoo.export import MODELS, export, default_weights

__all__ = ["MODELS", "export", "default_weights"]
