import numpy as np
import openvino as ov
import pytest
from openvino import opset15 as ops

from ov_sparsity.algorithms import Pipeline, create_algorithm
from ov_sparsity.engine.infer import predict, with_dynamic_batch, run_batches
from ov_sparsity.engine.statistics import StatRequest, collect_statistics
from ov_sparsity.graph.weighted import weighted_ops_by_name
from tests.conftest import random_inputs
from tests.models import build


def layer_output_mean(model, layer, data):
    """Per-channel mean over the data of a weighted op's raw output (before its bias)."""
    clone = with_dynamic_batch(model)
    node = weighted_ops_by_name(clone)[layer].node
    probe = ov.Model([ops.result(node.output(0))], clone.get_parameters())
    outs = [o[:n] for (o,), _, n in run_batches(probe, data, progress=False)]
    y = np.concatenate(outs)
    axes = tuple(a for a in range(y.ndim) if a != (1 if y.ndim == 4 else y.ndim - 1))
    return y.mean(axis=axes)


@pytest.mark.parametrize("name,layer", [("conv_bias_relu", "conv1"), ("strided_asym", "conv_asym"),
                                        ("depthwise", "conv1"), ("matmul", "fc1")])
def test_patch_mean_gives_the_exact_output_mean(name, layer):
    """E[f(W, X)] = rows(W) @ patch_mean, zero padding, strides and asymmetric pads included."""
    model = build(name)
    data = random_inputs(model, n=20)
    op = weighted_ops_by_name(model)[layer]
    stats = collect_statistics(model, [StatRequest("patch_mean", layer)], data, progress=False)
    predicted = op.to_rows(op.weight()).astype(np.float64) @ stats[StatRequest("patch_mean", layer)]
    np.testing.assert_allclose(predicted, layer_output_mean(model, layer, data), rtol=1e-4, atol=1e-5)


def test_patch_mean_for_depthwise_groups():
    from ov_sparsity.algorithms.bias_correction import expected_output

    model = build("depthwise")
    data = random_inputs(model, n=12)
    op = weighted_ops_by_name(model)["dw"]
    stats = collect_statistics(model, [StatRequest("patch_mean", "dw")], data, progress=False)
    predicted = expected_output(op, op.to_rows(op.weight()), stats[StatRequest("patch_mean", "dw")])
    np.testing.assert_allclose(predicted, layer_output_mean(model, "dw", data), rtol=1e-4, atol=1e-5)


def test_first_layer_mean_restored_exactly_and_outputs_closer_to_dense():
    model = build("conv_bias_relu")
    data = random_inputs(model, n=40)
    dense_out, _ = predict(model, data, progress=False)
    plain = Pipeline([create_algorithm("MagnitudeSparsity", {"sparsity_level": 0.6, "weight_correction": False})])
    corrected = Pipeline([create_algorithm("MagnitudeSparsity", {"sparsity_level": 0.6, "weight_correction": False}),
                          create_algorithm("BiasCorrection")])
    m_plain = plain.run(model, data, progress=False).model
    m_corr = corrected.run(model, data, progress=False).model
    # the first layer sees the same inputs in both models: its output mean (with bias) matches dense exactly
    dense_mean = layer_output_mean(model, "conv1", data) + weighted_ops_by_name(model)["conv1"].bias()
    corr_mean = layer_output_mean(m_corr, "conv1", data) + weighted_ops_by_name(m_corr)["conv1"].bias()
    np.testing.assert_allclose(corr_mean, dense_mean, atol=1e-5)
    err_plain = np.abs(predict(m_plain, data, progress=False)[0] - dense_out).mean()
    err_corr = np.abs(predict(m_corr, data, progress=False)[0] - dense_out).mean()
    assert err_corr < 0.7 * err_plain


def test_layer_without_bias_gets_one():
    model = build("conv_bias_relu")
    data = random_inputs(model, n=16)
    out = Pipeline([create_algorithm("WeightSparsity", {"sparsity_level": 0.5})]).run(model, data, progress=False)
    assert weighted_ops_by_name(model)["conv3_nobias"].bias() is None
    bias = weighted_ops_by_name(out.model)["conv3_nobias"].bias()
    assert bias is not None and np.any(bias != 0)


def test_statistics_are_collected_once_for_the_pipeline(monkeypatch):
    import ov_sparsity.algorithms.base as base

    calls = []
    real = base.collect_statistics
    monkeypatch.setattr(base, "collect_statistics", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = build("depthwise")
    Pipeline([create_algorithm("WeightSparsity", {"sparsity_level": 0.3}),
              create_algorithm("BiasCorrection")]).run(model, random_inputs(model), progress=False)
    assert len(calls) == 1
