import numpy as np
import pytest

from ov_sparsity.algorithms import Context, create_algorithm
from ov_sparsity.algorithms.magnitude import importance, select_masks
from ov_sparsity.algorithms.weight_correction import correct_rows, correct_rows_pot
from ov_sparsity.graph import IgnoredScope, find_weighted_ops
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity
from tests.conftest import random_inputs
from tests.models import build


def run(model, name="MagnitudeSparsity", **params):
    algo = create_algorithm(name, params)
    ctx = Context(dense_model=model, dataset=random_inputs(model), progress=False)
    return algo.apply(model.clone(), ctx), ctx


@pytest.mark.parametrize("level", [0.0, 0.3, 0.5, 0.77])
def test_global_level_is_exact(level):
    model = build("depthwise")
    sparse, _ = run(model, sparsity_level=level)
    rows = layer_sparsity(sparse)
    total = sum(r["weights"] for r in rows)
    assert sum(r["zeros"] for r in rows) == round(level * total)


def test_global_threshold_matches_a_sorted_reference():
    model = build("residual")
    weights = {op.name: op.weight() for op in find_weighted_ops(model)}
    masks = select_masks(weights, 0.6, "l2_normalized", "global")
    pooled = np.concatenate([np.abs(w).ravel() / np.linalg.norm(w) for w in weights.values()])
    k = round(0.6 * pooled.size)
    threshold = np.sort(pooled)[k - 1]
    for name, w in weights.items():
        scores = np.abs(w) / np.linalg.norm(w)
        np.testing.assert_array_equal(masks[name], scores <= threshold)


def test_per_layer_rates_come_out_of_the_threshold_and_uniform_is_flat():
    model = build("depthwise")
    sparse, _ = run(model, sparsity_level=0.5)
    rates = [r["sparsity"] for r in layer_sparsity(sparse)]
    assert len(set(np.round(rates, 3))) > 1  # global: layers differ
    uniform, _ = run(model, sparsity_level=0.5, distribution="uniform")
    for r in layer_sparsity(uniform):
        assert r["zeros"] == round(0.5 * r["weights"])


def test_masks_recorded_and_zeros_match_masks():
    model = build("conv_bias_relu")
    sparse, ctx = run(model, sparsity_level=0.5)
    for op in find_weighted_ops(sparse):
        np.testing.assert_array_equal(op.weight() == 0, ctx.masks[op.name])


def test_ignored_scope_is_respected():
    model = build("depthwise")
    sparse, _ = run(model, sparsity_level=0.5, ignored_scope={"names": ["dw"], "types": ["MatMul"]})
    dense = {o.name: o.weight() for o in find_weighted_ops(model)}
    after = {o.name: o.weight() for o in find_weighted_ops(sparse)}
    np.testing.assert_array_equal(after["dw"], dense["dw"])
    np.testing.assert_array_equal(after["fc"], dense["fc"])
    rows = layer_sparsity(sparse, IgnoredScope(names=("dw",), types=("MatMul",)))
    assert abs(global_sparsity(rows) - 0.5) < 1e-3


def test_input_model_is_not_modified():
    model = build("conv_bias_relu")
    before = [o.weight().copy() for o in find_weighted_ops(model)]
    run(model, name="WeightSparsity", sparsity_level=0.5)
    for w, o in zip(before, find_weighted_ops(model)):
        np.testing.assert_array_equal(o.weight(), w)


def test_lamp_scores():
    w = np.array([3.0, -1.0, 2.0])
    # sorted |w|: 1, 2, 3 -> 1/14, 4/13, 9/9
    np.testing.assert_allclose(importance(w, "lamp"), [1.0, 1 / 14, 4 / 13])
    assert np.argsort(importance(w, "l2_normalized")).tolist() == [1, 2, 0]


def test_exact_weight_correction_restores_each_channels_mean_and_std():
    rng = np.random.default_rng(0)
    scale = rng.random((16, 1)) + 0.1
    dense = (rng.standard_normal((16, 75)) + rng.standard_normal((16, 1)) * 0.1) * scale
    pruned = np.abs(dense) < np.quantile(np.abs(dense), 0.5, axis=1, keepdims=True)
    fixed = correct_rows(dense, pruned)
    assert np.all(fixed[pruned] == 0)
    np.testing.assert_allclose(fixed.mean(axis=1), dense.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(fixed.std(axis=1), dense.std(axis=1), rtol=1e-5)
    naive = np.where(pruned, 0, dense)
    assert np.abs(naive.std(axis=1) - dense.std(axis=1)).min() > 1e-3  # there was something to restore


def test_pot_weight_correction_keeps_mask_and_moves_std_toward_dense():
    rng = np.random.default_rng(1)
    dense = rng.standard_normal((8, 50))
    pruned = np.abs(dense) < 0.7
    fixed = correct_rows_pot(dense, pruned)
    assert np.all(fixed[pruned] == 0) and np.all(fixed[~pruned] != 0)
    naive = np.where(pruned, 0, dense)
    gap_fixed = np.abs(fixed.std(axis=1) - dense.std(axis=1))
    gap_naive = np.abs(naive.std(axis=1) - dense.std(axis=1))
    assert np.all(gap_fixed < gap_naive)


def test_keep_pruned_masks_stay_pruned():
    model = build("conv_bias_relu")
    weights = {op.name: op.weight() for op in find_weighted_ops(model)}
    first = select_masks(weights, 0.3, "l2_normalized", "global")
    # make the pruned weights large: they must still count as pruned at the next level
    boosted = {n: np.where(first[n], 100.0, w) for n, w in weights.items()}
    second = select_masks(boosted, 0.5, "l2_normalized", "global", keep_pruned=first)
    for n in weights:
        assert np.all(second[n][first[n]])


def test_exact_correction_restores_the_mean_where_the_std_is_out_of_reach():
    # half the weights zero cannot keep std < |mean|: only the mean is restored
    dense = np.array([[1.0, 1.1, 0.9, 1.05]])
    pruned = np.array([[False, True, False, True]])
    fixed = correct_rows(dense, pruned)
    assert fixed[0, 1] == 0 and fixed[0, 3] == 0
    np.testing.assert_allclose(fixed.mean(), dense.mean(), rtol=1e-6)
