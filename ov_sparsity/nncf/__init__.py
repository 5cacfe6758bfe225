"""ov_sparsity's algorithms as NNCF post-training algorithms (NNCF's internal API: see docs/pot.md).

    from ov_sparsity.nncf import quantize_with_sparsity, WeightSparsity
    int8 = quantize_with_sparsity(model, nncf.Dataset(samples), sparsity_level=0.5)
"""

from ov_sparsity.nncf.algorithms import (UDFC, BiasCorrection, ChannelPruning, LayerwiseFinetuning,
                                         MagnitudeSparsity, OVSparsityAlgorithm, Recovery, SecondOrderSparsity,
                                         WeightSparsity)
from ov_sparsity.nncf.quantize import quantize_with_sparsity, sparsity_pipeline

__all__ = ["OVSparsityAlgorithm", "WeightSparsity", "MagnitudeSparsity", "SecondOrderSparsity", "BiasCorrection",
           "LayerwiseFinetuning", "ChannelPruning", "Recovery", "UDFC", "quantize_with_sparsity", "sparsity_pipeline"]
