"""Compression algorithms, registered by name (POT's names where POT had them)."""

from ov_sparsity.algorithms.base import REGISTRY, Algorithm, Context, create_algorithm, register
from ov_sparsity.algorithms.magnitude import MagnitudeSparsity
from ov_sparsity.algorithms.bias_correction import BiasCorrection
from ov_sparsity.algorithms.weight_sparsity import WeightSparsity
from ov_sparsity.algorithms.quantization import DefaultQuantization
from ov_sparsity.algorithms.layerwise.finetuning import LayerwiseFinetuning
from ov_sparsity.algorithms.channel_pruning import ChannelPruning
from ov_sparsity.algorithms.udfc.algorithm import UDFC
from ov_sparsity.algorithms.obs.algorithm import SecondOrderSparsity
from ov_sparsity.algorithms.recovery import Recovery
from ov_sparsity.algorithms.embedding_sparsity import EmbeddingSparsity
from ov_sparsity.algorithms.pipeline import Pipeline, PipelineResult

__all__ = ["REGISTRY", "Algorithm", "Context", "create_algorithm", "register", "MagnitudeSparsity", "EmbeddingSparsity",
           "BiasCorrection", "WeightSparsity", "DefaultQuantization", "LayerwiseFinetuning", "ChannelPruning", "UDFC",
           "SecondOrderSparsity", "Recovery", "Pipeline", "PipelineResult"]
