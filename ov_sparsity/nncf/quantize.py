"""quantize_with_sparsity: WeightSparsity composed with nncf.quantize's own post-training pipeline."""

from __future__ import annotations

from typing import Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import log
from ov_sparsity.algorithms.quantization import lost_zeros, zero_masks
from ov_sparsity.graph.edits import SetBias, apply_commands
from ov_sparsity.graph.model_io import as_model
from ov_sparsity.graph.weighted import find_weighted_ops
from ov_sparsity.nncf.algorithms import WeightSparsity


def with_biases(model: ov.Model) -> ov.Model:
    """A copy of `model` where every weighted layer has a bias (zero where it had none), so the layers our
    corrections give a bias are the ones FastBiasCorrection collected statistics for, in the same step."""
    model = model.clone()
    apply_commands(model, [SetBias(op.name, np.zeros(op.num_out_channels, np.float32))
                           for op in find_weighted_ops(model) if op.bias() is None])
    return model


def sparsity_pipeline(sparsity: WeightSparsity, one_pass: bool = False, **nncf_quantize_kwargs):
    """NNCF's post-training quantization pipeline with `sparsity` first: in the step of MinMaxQuantization
    and FastBiasCorrection (one statistics collection, on the dense model), or as a step of its own
    (quantization statistics collected again on the sparse model, as the CLI does)."""
    from nncf.quantization.algorithms.pipeline import Pipeline
    from nncf.quantization.algorithms.post_training.pipeline import create_ptq_pipeline

    steps = [list(step) for step in create_ptq_pipeline(**nncf_quantize_kwargs).pipeline_steps]
    if one_pass:
        steps[0].insert(0, sparsity)
    else:
        steps.insert(0, [sparsity])
    return Pipeline(steps)


def quantize_with_sparsity(model, calibration_dataset, sparsity_level: float = 0.5, *,
                           sparsity_params: Optional[dict] = None, one_pass: bool = False, seed: int = 0,
                           progress: bool = True, **nncf_quantize_kwargs) -> ov.Model:
    """A sparse INT8 copy of `model`: WeightSparsity (`sparsity_level`, further WeightSparsity parameters in
    `sparsity_params`) then NNCF's post-training quantization, which takes nncf.quantize's keyword arguments
    (preset, target_device, subset_size, fast_bias_correction, model_type, ignored_scope,
    advanced_parameters) with nncf.quantize's defaults.

    one_pass=False (default): quantization statistics are collected again on the sparse model; the result
    equals the CLI's WeightSparsity + DefaultQuantization up to float rounding.
    one_pass=True: one statistics collection on the dense model serves the sparsity and the quantization;
    the INT8 weights are the same, the activation ranges and the fast bias correction's targets are the
    dense model's (measured less accurate: docs/pot.md).

    model: an openvino.Model or the path of an IR .xml; calibration_dataset: an nncf.Dataset or a plain
    list of model inputs. Bad arguments raise ov_sparsity.OvSparsityError naming the argument."""
    import nncf
    from nncf.openvino.graph.model_utils import remove_friendly_name_duplicates
    from nncf.openvino.quantization.backend_parameters import is_weight_compression_needed
    from nncf.quantization.quantize_model import _update_advanced_quantization_parameters

    from ov_sparsity.data.samples import CheckedItems, inference_items
    from ov_sparsity.validate import RANGES, checked

    model = as_model(model)
    kwargs = dict(nncf_quantize_kwargs)
    kwargs["subset_size"] = checked("subset_size", kwargs.get("subset_size", 300), RANGES["subset_size"])
    inference_items(calibration_dataset, "calibration_dataset")  # its type, now
    # every item NNCF feeds is checked as it is read: a wrong shape, dtype or NaN is one line naming it
    calibration_dataset = nncf.Dataset(CheckedItems(model, calibration_dataset, "calibration_dataset"))
    kwargs["advanced_parameters"] = _update_advanced_quantization_parameters(kwargs.get("advanced_parameters"),
                                                                             calibration_dataset)
    sparsity = WeightSparsity(sparsity_level=sparsity_level, subset_size=kwargs["subset_size"], seed=seed,
                              progress=progress, **(sparsity_params or {}))
    model = remove_friendly_name_duplicates(with_biases(model) if one_pass else model)
    pipeline = sparsity_pipeline(sparsity, one_pass, **kwargs)
    quantized = pipeline.run(model, calibration_dataset)
    if is_weight_compression_needed(kwargs["advanced_parameters"]):
        from openvino._offline_transformations import compress_quantize_weights_transformation

        compress_quantize_weights_transformation(quantized)
    lost = lost_zeros(sparsity.zeros, zero_masks(quantized))
    if lost:
        log.warning("quantize_with_sparsity: %d zero weights became nonzero after quantization", lost)
    return quantized
