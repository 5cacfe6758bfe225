import numpy as np
import openvino as ov
import pytest
from openvino import opset15 as ops

from ov_sparsity.algorithms import Pipeline, create_algorithm
from ov_sparsity.algorithms.udfc.moments import clipped_gaussian_moments, joint_moments
from ov_sparsity.algorithms.udfc.reconstruct import coefficients, consumer_update, identity_map
from ov_sparsity.engine.infer import predict
from ov_sparsity.graph.channels import find_channel_groups, remove_channels
from ov_sparsity.graph.complexity import complexity
from ov_sparsity.graph.weighted import weighted_ops_by_name
from tests.conftest import random_inputs
from tests.models import build


def two_convs(w1, b1, w2, act=True):
    x = ops.parameter([-1, 3, 8, 8], np.float32, name="input")
    c1 = ops.convolution(x, ops.constant(w1), [1, 1], [1, 1], [1, 1], [1, 1])
    c1.set_friendly_name("producer")
    y = ops.add(c1, ops.constant(b1.reshape(1, -1, 1, 1)))
    y.set_friendly_name("producer/bias")
    if act:
        y = ops.relu(y)
    c2 = ops.convolution(y, ops.constant(w2), [1, 1], [1, 1], [1, 1], [1, 1])
    c2.set_friendly_name("consumer")
    return ov.Model([c2], [x])


def test_groups_follow_activations_and_depthwise_and_stop_at_residuals():
    assert [g.name for g in find_channel_groups(build("residual"))] == ["block_conv1"]
    (g1, g2, *_) = find_channel_groups(build("depthwise"))
    assert g1.name == "conv1" and [n.get_friendly_name() for n in g1.depthwise] == ["dw"]
    assert [c[0].get_friendly_name() for c in g1.consumers] == ["pw"]
    assert [c[1] for c in find_channel_groups(build("conv_bias_relu"))[-1].consumers] == ["matmul"]


def test_pruning_a_dead_channel_changes_no_output():
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    b1 = rng.standard_normal(6).astype(np.float32)
    w1[4], b1[4] = 0, 0  # channel 4 is identically zero
    model = two_convs(w1, b1, rng.standard_normal((5, 6, 3, 3)).astype(np.float32))
    data = random_inputs(model, n=8)
    before, _ = predict(model, data, progress=False)
    (group,) = find_channel_groups(model)
    remove_channels(model, group, np.array([0, 1, 2, 3, 5]))
    after, _ = predict(model, data, progress=False)
    assert tuple(model.get_ordered_ops()[2].get_output_partial_shape(0))[1] == 5
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_reconstruction_restores_a_channel_that_is_a_linear_combination():
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    b1 = rng.standard_normal(5).astype(np.float32)
    w1[3] = 0.5 * w1[0] + 2.0 * w1[1]  # a_3 = 0.5 a_0 + 2 a_1 - 0.25: a linear combination plus a constant
    b1[3] = 0.5 * b1[0] + 2.0 * b1[1] - 0.25
    w2 = rng.standard_normal((4, 5, 3, 3)).astype(np.float32)
    model = two_convs(w1, b1, w2, act=False)
    data = random_inputs(model, n=16)
    dense, _ = predict(model, data, progress=False)
    reference = model.clone()
    (group,) = find_channel_groups(model)
    keep = np.array([0, 1, 2, 4])
    remove_channels(model, group, keep)
    act = group.activation.get_node().get_friendly_name()
    cross, gram = joint_moments(reference, act, model, act, data)
    s = coefficients(cross, gram, identity_map(5, keep), alpha1=1.0, alpha2=0.0)
    np.testing.assert_allclose(s[3], [0.5, 2.0, 0, 0, -0.25], atol=1e-6)
    weight, bias = consumer_update(w2, 1, 0, s)
    consumer = weighted_ops_by_name(model)["consumer"]
    consumer.set_weight(weight)
    consumer.set_bias(bias)
    rebuilt, _ = predict(model, data, progress=False)
    interior = lambda y: y.reshape(len(y), 4, 8, 8)[:, :, 1:-1, 1:-1]  # noqa: E731 (the constant meets zero padding at the border)
    np.testing.assert_allclose(interior(rebuilt), interior(dense), rtol=1e-5, atol=1e-4)


def test_residual_coupled_channels_are_never_split_and_counts_drop_as_expected():
    model = build("residual")
    before = complexity(model)
    result = Pipeline([create_algorithm("ChannelPruning", {"prune_ratio": 0.5})]).run(model, None, progress=False)
    ops_ = weighted_ops_by_name(result.model)
    assert ops_["stem"].weight().shape[0] == 8 and ops_["block_conv2"].weight().shape[0] == 8
    assert ops_["block_conv1"].weight().shape == (4, 8, 3, 3) and ops_["block_conv2"].weight().shape == (8, 4, 3, 3)
    after = complexity(result.model)
    removed = 4 * 8 * 9 + 8 * 4 * 9  # block_conv1 rows + block_conv2 input columns
    assert before["params"] - after["params"] == removed
    assert before["macs"] - after["macs"] == removed * 8 * 8  # 8x8 output positions, stride 1


def test_channel_pruning_keeps_the_largest_l1_rows():
    model = build("conv_bias_relu")
    w = weighted_ops_by_name(model)["conv1"].weight()
    result = Pipeline([create_algorithm("ChannelPruning", {"prune_ratio": 0.25})]).run(model, None, progress=False)
    kept = weighted_ops_by_name(result.model)["conv1"].weight()
    expected = np.sort(np.argsort(np.abs(w).reshape(8, -1).sum(1))[2:])
    np.testing.assert_array_equal(kept, w[expected])


def test_channel_multiple_rounds_the_kept_count():
    from ov_sparsity.algorithms.channel_pruning import prune_count
    assert [16 - prune_count(16, 5, m) for m in (1, 4, 8)] == [11, 12, 8]
    assert [64 - prune_count(64, 19, m) for m in (1, 4, 8, 16)] == [45, 44, 48, 48]
    assert 16 - prune_count(16, 15, 8) == 8 and 16 - prune_count(16, 0, 8) == 16 and 4 - prune_count(4, 3, 8) == 1
    model = build("conv_bias_relu")  # conv1: 6 of 8 kept is a tie between 4 and 8: ties keep more
    result = Pipeline([create_algorithm("ChannelPruning", {"prune_ratio": 0.25, "channel_multiple": 4})]).run(
        model, None, progress=False)
    assert weighted_ops_by_name(result.model)["conv1"].weight().shape[0] == 8


def test_rectified_gaussian_moments():
    rng = np.random.default_rng(0)
    z = rng.normal(0.3, 1.7, 2_000_000)
    for high in (np.inf, 2.0):
        a = np.clip(z, 0, high)
        m1, m2 = clipped_gaussian_moments(0.3, 1.7, 0.0, high)
        assert m1 == pytest.approx(a.mean(), rel=3e-3) and m2 == pytest.approx((a ** 2).mean(), rel=3e-3)


@pytest.mark.parametrize("criterion", ["l1", "recon", "energy"])
def test_udfc_on_a_tiny_model_beats_plain_pruning(criterion):
    model = build("depthwise", hw=32)
    data = random_inputs(model, n=48)
    dense, _ = predict(model, data, progress=False)
    err = {}
    for reconstruct in (False, True):
        algo = create_algorithm("UDFC", {"prune_ratio": 0.4, "reconstruct": reconstruct, "statistics": "calibration",
                                         "refit": False,
                                         "criterion": criterion})
        out = Pipeline([algo]).run(model, data, progress=False).model
        err[reconstruct] = float(np.mean((predict(out, data, progress=False)[0] - dense) ** 2))
    assert err[True] < 0.5 * err[False]
