import numpy as np

from ov_sparsity.engine.capture import capture_activations
from ov_sparsity.engine.infer import predict
from ov_sparsity.engine.latency import interleaved_latency
from tests.conftest import random_inputs
from tests.models import build


def test_batched_prediction_equals_one_by_one():
    model = build("residual")
    data = random_inputs(model, n=37)
    batched, _ = predict(model, data, batch_size=16, progress=False)
    single, _ = predict(model, data, batch_size=1, progress=False)
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


def test_capture_full_and_within_budget():
    model = build("conv_bias_relu")
    data = random_inputs(model, n=20)
    full = capture_activations(model, ["conv2"], data, which="input", progress=False)
    assert full.arrays["conv2"].shape == (20, 8, 8, 8) and full.positions_kept["conv2"] == 1.0
    small = capture_activations(model, ["conv2"], data, which="input", budget_bytes=20 * 8 * 16 * 4, progress=False)
    arr = small.arrays["conv2"]
    assert arr.shape == (20, 8, 16) and arr.nbytes <= 20 * 8 * 16 * 4
    # kept positions are real positions of the full activation
    flat = full.arrays["conv2"].reshape(20, 8, 64)
    for i in range(3):
        for p in range(16):
            assert any(np.array_equal(arr[i, :, p], flat[i, :, q]) for q in range(64))


def test_latency_loop_returns_sane_numbers():
    (a, b) = interleaved_latency([build("residual"), build("depthwise")], seconds=0.4, rounds=2)
    for r in (a, b):
        assert 0 < r["median_ms"] < 1000 and r["p90_ms"] >= r["median_ms"] and r["runs"] >= 2
