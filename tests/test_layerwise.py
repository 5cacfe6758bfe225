import numpy as np
import pytest
import torch

from ov_sparsity.algorithms import Pipeline, create_algorithm
from ov_sparsity.algorithms.layerwise.adam import adam_tune
from ov_sparsity.algorithms.layerwise.lstsq import solve_masked
from ov_sparsity.algorithms.schedule import Schedule
from ov_sparsity.data import ArrayDataset
from ov_sparsity.engine.capture import capture_activations
from ov_sparsity.engine.infer import predict
from ov_sparsity.engine.layer_torch import LayerGeometry
from ov_sparsity.graph import find_weighted_ops
from ov_sparsity.graph.weighted import weighted_ops_by_name
from tests.conftest import random_inputs
from tests.models import build


@pytest.mark.parametrize("name,layer", [("strided_asym", "conv_asym"), ("depthwise", "dw"), ("matmul", "fc2"),
                                        ("conv_bias_relu", "conv2")])
def test_torch_layer_and_patches_reproduce_openvino(name, layer):
    model = build(name)
    data = random_inputs(model, n=5)
    op = weighted_ops_by_name(model)[layer]
    x = capture_activations(model, [layer], data, "input", progress=False).arrays[layer]
    y = capture_activations(model, [layer], data, "output", progress=False).arrays[layer]
    geo = LayerGeometry.from_op(op)
    rows = torch.from_numpy(op.to_rows(op.weight()))
    np.testing.assert_allclose(geo.output(torch.from_numpy(x), rows).numpy(), y, atol=1e-5)
    p = geo.patches(torch.from_numpy(x))  # [N, G, F, L]
    via_patches = torch.einsum("gof,ngfl->ngol", torch.from_numpy(geo.group_rows(rows.numpy())), p)
    np.testing.assert_allclose(via_patches.reshape(y.shape[0], -1, p.shape[-1]).numpy(),
                               y.reshape(y.shape[0], y.shape[1], -1) if y.ndim == 4 else y[:, :, None], atol=1e-5)


def test_lstsq_reaches_the_analytic_optimum():
    rng = np.random.default_rng(0)
    s, f, c = 400, 12, 5
    x = rng.standard_normal((s, f))
    w_dense = rng.standard_normal((c, f))
    b_dense = rng.standard_normal(c)
    y = x @ w_dense.T + b_dense
    keep = rng.random((c, f)) > 0.5
    xa = np.concatenate([x, np.ones((s, 1))], axis=1)
    gram = torch.from_numpy(xa.T @ xa / s)[None]
    dense_aug = torch.from_numpy(np.concatenate([w_dense, b_dense[:, None]], axis=1))[None]
    keep_aug = torch.from_numpy(np.concatenate([keep, np.ones((c, 1), bool)], axis=1))[None]
    solved = solve_masked(gram, None, dense_aug, keep_aug, damping=0.0)[0].numpy()
    for o in range(c):
        cols = np.flatnonzero(np.append(keep[o], True))
        ref, *_ = np.linalg.lstsq(xa[:, cols], y[:, o], rcond=None)
        np.testing.assert_allclose(solved[o, cols], ref, rtol=1e-8, atol=1e-8)
        assert np.all(solved[o, :f][~keep[o]] == 0)


def test_adam_lowers_the_loss_monotonically_on_a_fixed_batch():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((256, 1, 10)).astype(np.float32))
    w_dense = torch.from_numpy(rng.standard_normal((1, 4, 10)).astype(np.float32))
    y = torch.einsum("sgf,gof->so", x, w_dense)
    keep = torch.from_numpy(rng.random((1, 4, 10)) > 0.4)
    w, b, losses = adam_tune(x, y, w_dense * keep, torch.zeros(4), keep, weights_lr=1e-3, bias_lr=1e-3,
                             steps=60, batch_rows=256, seed=0)
    assert np.all(np.diff(losses) <= 1e-7) and losses[-1] < 0.99 * losses[0]
    assert torch.all(w[~keep] == 0)


@pytest.mark.parametrize("method,fp_inputs", [("lstsq", False), ("lstsq", True), ("adam", True), ("adam", False)])
def test_tuning_keeps_masks_and_brings_outputs_closer(method, fp_inputs):
    model = build("depthwise")
    data = random_inputs(model, n=32)
    magnitude = {"sparsity_level": 0.6, "method": "magnitude"}  # POT's recipe: what the tuning is for
    untuned = Pipeline([create_algorithm("WeightSparsity", magnitude)]).run(model, data, progress=False).model
    tuned_run = Pipeline([create_algorithm("WeightSparsity", magnitude), create_algorithm(
        "LayerwiseFinetuning", {"tuning_method": method, "use_only_fp_inputs": fp_inputs, "weights_lr": 1e-3,
                                "bias_lr": 1e-3, "num_samples_for_tuning": 320, "batch_size": 8,
                                "tuning_iterations": 2})]).run(model, data, progress=False)
    for a, b in zip(find_weighted_ops(untuned), find_weighted_ops(tuned_run.model)):
        np.testing.assert_array_equal(a.weight() == 0, b.weight() == 0)
    if not fp_inputs:  # sequential tuning fits each layer to the inputs it really gets: the output improves
        dense, _ = predict(model, data, progress=False)
        err = lambda m: float(np.mean((predict(m, data, progress=False)[0] - dense) ** 2))  # noqa: E731
        assert err(tuned_run.model) < err(untuned)
    rounds = tuned_run.context.reports["LayerwiseFinetuning"]["rounds"]
    assert rounds[0]["mean_relative_loss_after"] < rounds[0]["mean_relative_loss_before"]


def test_cubic_schedule_levels():
    s = Schedule.parse({"initial_sparsity": 0.3, "steps": 4}, 0.7)
    expected = [0.7 + (0.3 - 0.7) * (1 - t / 4) ** 3 for t in (1, 2, 3, 4)]
    assert s.levels(0.7) == pytest.approx(expected) and s.levels(0.7)[-1] == pytest.approx(0.7)
    assert Schedule.parse(None, 0.5).levels(0.5) == [0.5]


def test_schedule_reaches_each_level_and_pruned_weights_stay_pruned():
    model = build("residual")
    data = random_inputs(model, n=16)
    algo = create_algorithm("WeightSparsity", {"sparsity_level": 0.6, "schedule": {"initial_sparsity": 0.2,
                                                                                   "steps": 3}})
    result = Pipeline([algo]).run(model, data, progress=False)
    steps = result.context.reports["WeightSparsity"]["steps"]
    assert [s["sparsity"] for s in steps] == pytest.approx(algo.levels)
    assert result.context.reports["WeightSparsity"]["reached_sparsity"] == pytest.approx(0.6, abs=1e-3)


def test_accuracy_aware_keeps_the_last_model_within_budget():
    model = build("matmul")
    data = random_inputs(model, n=200)
    logits, _ = predict(model, data, progress=False)
    labelled = ArrayDataset(data.items, labels=(logits - logits.mean(0)).argmax(1).tolist())
    params = {"sparsity_level": 0.9, "schedule": {"initial_sparsity": 0.0, "steps": 10}, "max_accuracy_drop": 5.0,
              "method": "magnitude"}  # the second-order default stays within 5 points even at 90% here
    result = Pipeline([create_algorithm("WeightSparsity", params)]).run(model, data, eval_dataset=labelled,
                                                                         progress=False)
    report = result.context.reports["WeightSparsity"]
    within = [s for s in report["steps"] if s["drop"] <= 5.0]
    assert report["budget_met"] and report["steps"][-1]["drop"] > 5.0  # stopped at the first miss
    assert report["reached_sparsity"] == pytest.approx(within[-1]["sparsity"], abs=1e-3)
    from ov_sparsity.engine.evaluate import evaluate

    assert report["dense_top1"] - evaluate(result.model, labelled, progress=False)["top1"] <= 5.0


def test_lstsq_leaves_layers_with_fewer_samples_than_unknowns_alone():
    model = build("matmul")  # fc1: 16 inputs, fc2: 32 inputs, one sample per image
    data = random_inputs(model, n=40)  # 40 >= 2 * 17 but < 2 * 33
    sparse = Pipeline([create_algorithm("WeightSparsity", {"sparsity_level": 0.5})]).run(model, data, progress=False)
    tuned = Pipeline([create_algorithm("WeightSparsity", {"sparsity_level": 0.5}),
                      create_algorithm("LayerwiseFinetuning", {})]).run(model, data, progress=False)
    assert tuned.context.reports["LayerwiseFinetuning"]["untuned_layers"] == ["fc2"]
    before = weighted_ops_by_name(sparse.model)
    after = weighted_ops_by_name(tuned.model)
    np.testing.assert_array_equal(after["fc2"].weight(), before["fc2"].weight())
    assert not np.array_equal(after["fc1"].weight(), before["fc1"].weight())


def test_wide_rows_solved_on_their_kept_inputs_equal_the_full_size_solve():
    rng = np.random.default_rng(0)
    groups, rows, f1 = 2, 5, 40
    x = torch.from_numpy(rng.standard_normal((groups, 300, f1)))
    x[:, :, 3] = 0.0  # a dead input: singular Gram, damped
    gram = x.transpose(1, 2) @ x / 300
    cross = gram + 0.01 * torch.from_numpy(rng.standard_normal((groups, f1, f1)))
    dense = torch.from_numpy(rng.standard_normal((groups, rows, f1)))
    keep = torch.from_numpy(rng.random((groups, rows, f1)) > 0.5)
    keep[..., -1] = True
    full = solve_masked(gram, cross, dense, keep, damping=0.01, reduce_above=f1)
    reduced = solve_masked(gram, cross, dense, keep, damping=0.01, reduce_above=f1 - 1)
    assert torch.all(reduced[~keep] == 0)
    torch.testing.assert_close(reduced, full, rtol=1e-9, atol=1e-10)
