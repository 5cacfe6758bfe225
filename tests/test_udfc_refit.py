"""UDFC's sequential refit (issue 14): exact where nothing was damaged, closer to the original
model than the closed form alone, GPTQ rounding on the grid and better than plain rounding."""

import numpy as np
import pytest
import torch

from ov_sparsity.algorithms import Pipeline, create_algorithm
from ov_sparsity.algorithms.udfc.quantize import fake_quantize_rows
from ov_sparsity.algorithms.udfc.refit import quantize_gptq, sequential_refit
from ov_sparsity.data import inputs
from ov_sparsity.data.datasets import iter_batches
from ov_sparsity.engine.infer import predict
from ov_sparsity.graph.weighted import weighted_ops_by_name
from tests.conftest import random_inputs
from tests.models import build


def _mse(model, data, dense):
    return float(np.mean((predict(model, data, progress=False)[0] - dense) ** 2))


def test_refit_of_an_undamaged_model_gives_back_its_weights():
    model = build("depthwise", hw=16)
    data = random_inputs(model, n=24)
    values = inputs.concat([x for x, _ in iter_batches(data, 64, progress=False)])
    copy = model.clone()
    records = sequential_refit(copy, model, values, {}, None, damping=0.01, progress=False)
    assert all(r["refit"] for r in records[:-1])  # the pooled classifier has too few samples
    for name, op in weighted_ops_by_name(copy).items():
        np.testing.assert_allclose(op.weight(), weighted_ops_by_name(model)[name].weight(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bits,factor", [(None, 0.9), (6, 0.4)])  # measured 0.86 and 0.35
def test_refit_brings_channel_pruning_closer_to_the_dense_model(bits, factor):
    model = build("depthwise", hw=32)
    data = random_inputs(model, n=48)
    dense, _ = predict(model, data, progress=False)
    err = {}
    for refit in (False, True):
        params = {"prune_ratio": 0.4, "statistics": "calibration", "refit": refit, "recovery": "none"}
        if bits:
            params["weight_bits"] = bits
        out = Pipeline([create_algorithm("UDFC", params)]).run(model, data, progress=False)
        err[refit] = _mse(out.model, data, dense)
        assert out.context.reports["UDFC"]["refit_layers"] == (4 if refit else 0)
    assert err[True] < factor * err[False]


def test_gptq_weights_lie_on_the_grid_and_beat_rounding():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 24)) @ rng.standard_normal((24, 24))  # correlated inputs
    x_aug = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    gram = torch.from_numpy(x_aug.T @ x_aug / len(x))[None]
    w = rng.standard_normal((1, 8, 25))
    q = quantize_gptq(torch.from_numpy(w), gram, bits=4, damp=1e-6).numpy()
    scale = np.abs(w[0, :, :-1]).max(axis=1, keepdims=True) / 7
    steps = q[0, :, :-1] / scale
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert np.abs(steps).max() <= 7
    rtn = w.copy()
    rtn[0, :, :-1] = fake_quantize_rows(w[0, :, :-1], 4)

    def err(v):
        return float(np.mean((x_aug @ (v[0] - w[0]).T) ** 2))

    assert err(q) < 0.8 * err(rtn)  # measured 0.67


def test_auto_criterion_scores_depthwise_chains_by_reconstruction_and_others_by_l1():
    model = build("depthwise", hw=16)  # groups: conv1 (through a depthwise conv), pw (none)
    data = random_inputs(model, n=16)

    def kept(criterion):
        algo = create_algorithm("UDFC", {"prune_ratio": 0.4, "statistics": "calibration", "criterion": criterion,
                                         "refit": False})
        Pipeline([algo]).run(model, data, progress=False)
        return {n: k.tolist() for n, k in algo.kept.items()}

    auto, recon, l1 = kept("auto"), kept("recon"), kept("l1")
    assert auto["conv1"] == recon["conv1"] != l1["conv1"]
    assert auto["pw"] == l1["pw"]
