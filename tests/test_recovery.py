"""Recovery beyond the layer: masks fixed, held-out loss lowered, fallback on ops the mirror lacks."""

import json

import numpy as np
import openvino as ov
import pytest
from openvino import opset15 as ops

from ov_sparsity.algorithms import create_algorithm
from ov_sparsity.algorithms.base import Context
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph import find_weighted_ops
from tests.conftest import random_inputs
from tests.models import build, save


def pruned(model, level=0.7):
    """Magnitude pruning, per layer, no corrections: a model with much to recover."""
    sparse = model.clone()
    for op in find_weighted_ops(sparse):
        w = op.weight()
        cut = np.quantile(np.abs(w), level)
        op.set_weight(np.where(np.abs(w) <= cut, 0.0, w).astype(np.float32))
    return sparse


def first_lr(report: dict) -> float:
    """The learning rate the Recovery started from (its report gives the last one tried, after back-offs)."""
    from ov_sparsity.algorithms.recovery.algorithm import LR_BACKOFF

    first = report["lr"][0]
    return first["lr"] * LR_BACKOFF ** (first["attempts"] - 1)


def zero_masks(model):
    return {op.name: op.weight() == 0 for op in find_weighted_ops(model)}


@pytest.mark.parametrize("mode", ["model", "block", "block+model"])
def test_recovery_keeps_every_zero_and_lowers_the_held_out_loss(mode):
    dense = build("residual", hw=8)
    sparse = pruned(dense)
    before = zero_masks(sparse)
    ctx = Context(dense_model=dense, dataset=random_inputs(dense, n=64), seed=0, progress=False)
    algo = create_algorithm("Recovery", {"mode": mode, "epochs": 12, "lr": 1e-2, "batch_size": 8, "patience": 50})
    out = algo.apply(sparse, ctx)
    report = ctx.reports["Recovery"]
    assert report["applied"] and report["held_out"] == 6 and report["taps"] == 1
    assert report["held_out_loss_end"] < 0.7 * report["held_out_loss_start"]
    after = zero_masks(out)
    for name, mask in before.items():
        np.testing.assert_array_equal(after[name], mask)  # the same zeros, no new ones


def test_recovery_is_seeded():
    dense = build("depthwise", hw=8)
    runs = []
    for _ in range(2):
        sparse = pruned(dense)
        ctx = Context(dense_model=dense, dataset=random_inputs(dense, n=40), seed=3, progress=False)
        create_algorithm("Recovery", {"epochs": 3, "lr": 1e-3, "batch_size": 8}).apply(sparse, ctx)
        runs.append([op.weight() for op in find_weighted_ops(sparse)])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_a_model_that_cannot_improve_is_left_as_it_was():
    dense = build("conv_bias_relu", hw=8)
    sparse = dense.clone()  # nothing pruned: the held-out loss starts at 0
    ctx = Context(dense_model=dense, dataset=random_inputs(dense, n=30), seed=0, progress=False)
    create_algorithm("Recovery", {"epochs": 2, "lr": 1e-2, "batch_size": 8}).apply(sparse, ctx)
    assert not ctx.reports["Recovery"]["applied"]
    for a, b in zip(find_weighted_ops(sparse), find_weighted_ops(dense)):
        np.testing.assert_array_equal(a.weight(), b.weight())


def test_text_outputs_use_a_normalised_mse():
    dense = build("matmul")
    sparse = pruned(dense, 0.6)
    ctx = Context(dense_model=dense, dataset=random_inputs(dense, n=40), seed=0, progress=False)
    create_algorithm("Recovery", {"epochs": 8, "lr": 3e-3, "batch_size": 8, "patience": 50}).apply(sparse, ctx)
    report = ctx.reports["Recovery"]
    assert report["output_loss"] == "nmse" and report["taps"] == 1  # no merges: fc1 (fc2 is the output)
    assert report["held_out_loss_best"] < 0.95 * report["held_out_loss_start"] and report["applied"]


def test_a_gain_below_min_gain_is_not_kept():
    dense = build("residual", hw=8)
    sparse = pruned(dense)
    before = [op.weight() for op in find_weighted_ops(sparse)]
    ctx = Context(dense_model=dense, dataset=random_inputs(dense, n=64), seed=0, progress=False)
    create_algorithm("Recovery", {"epochs": 12, "lr": 1e-2, "batch_size": 8, "patience": 50,
                                  "min_gain": 0.99}).apply(sparse, ctx)
    report = ctx.reports["Recovery"]
    assert report["held_out_loss_best"] < report["held_out_loss_start"] and not report["applied"]
    assert report["held_out_loss_end"] == report["held_out_loss_start"]
    for a, b in zip(before, find_weighted_ops(sparse)):
        np.testing.assert_array_equal(a, b.weight())


def test_unknown_recovery_settings_are_named():
    with pytest.raises(OvSparsityError, match="Recovery: unknown parameter 'epoch'"):
        create_algorithm("WeightSparsity", {"recovery": {"epoch": 3}})
    with pytest.raises(OvSparsityError, match="parameter 'recovery' must be one of"):
        create_algorithm("WeightSparsity", {"recovery": "global"})
    with pytest.raises(OvSparsityError, match="'lr' must be in"):
        create_algorithm("Recovery", {"lr": 2.0})


def _cumsum_model():
    """A classifier with an op the mirror does not have (CumSum)."""
    rng = np.random.default_rng(0)
    x = ops.parameter([-1, 3, 32, 32], np.float32, name="input")
    c = ops.convolution(x, ops.constant(rng.standard_normal((8, 3, 3, 3)).astype(np.float32)), [1, 1], [1, 1],
                        [1, 1], [1, 1])
    c.set_friendly_name("conv")
    y = ops.cumsum(ops.relu(c), ops.constant(np.int64(1)))
    y.set_friendly_name("running_total")
    pooled = ops.reduce_mean(y, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    fc = ops.matmul(pooled, ops.constant(rng.standard_normal((4, 8)).astype(np.float32)), False, True)
    fc.set_friendly_name("fc")
    return ov.Model([fc], [x], "cumsum")


def test_an_unsupported_op_falls_back_with_its_name_in_the_report(tmp_path, capsys):
    from ov_sparsity.cli import main

    xml = save(_cumsum_model(), tmp_path / "m.xml")
    rc = main(["compress", xml, "-o", str(tmp_path / "out"), "--sparsity", "0.5", "--data", "noise",
               "--preprocess", "cifar10", "--recovery", "model"])
    assert rc == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    recovery = report["algorithm_reports"]["Recovery"]
    assert recovery["unsupported_op"] == "CumSum" and "running_total" in recovery["skipped"]
    assert abs(report["global_sparsity"] - 0.5) < 0.01


def test_default_recipe_recovers_on_real_data_and_not_on_synthetic(tmp_path, image_folder):
    from ov_sparsity.cli import main

    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    for data, expected in ((str(image_folder), True), ("noise", False)):
        out = tmp_path / f"out_{expected}"
        assert main(["-q", "compress", xml, "-o", str(out), "--sparsity", "0.6", "--data", data,
                     "--preprocess", "cifar10"]) == 0
        report = json.loads((out / "report.json").read_text())
        assert ("Recovery" in report["algorithm_reports"]) is expected
        if expected:
            assert report["algorithm_reports"]["Recovery"]["samples"] == 24


def test_a_quantized_model_is_not_trained():
    dense = build("conv_bias_relu", hw=8)
    q = dense.clone()
    x = q.get_parameters()[0]
    target = list(x.output(0).get_target_inputs())
    lo, hi = ops.constant(np.float32(-3.0)), ops.constant(np.float32(3.0))
    fq = ops.fake_quantize(x, lo, hi, lo, hi, 256)
    for t in target:
        t.replace_source_output(fq.output(0))
    ctx = Context(dense_model=dense, dataset=random_inputs(dense, n=20), seed=0, progress=False)
    create_algorithm("Recovery", {"epochs": 1}).apply(q, ctx)
    assert "quantized already" in ctx.reports["Recovery"]["skipped"]


def test_udfc_on_real_data_is_followed_by_recovery(tmp_path, image_folder):
    from ov_sparsity.cli import main

    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    for data, expected in ((str(image_folder), True), ("noise", False)):
        out = tmp_path / f"udfc_{expected}"
        assert main(["-q", "compress", xml, "-o", str(out), "--udfc", "--prune-ratio", "0.25", "--data", data,
                     "--preprocess", "cifar10"]) == 0
        reports = json.loads((out / "report.json").read_text())["algorithm_reports"]
        if expected:  # on the run's 24 images, from the model the run started from, not the pruned one it now has
            recovery = reports["UDFC"]["recovery"]
            assert recovery == reports["Recovery"] and recovery["samples"] == 24
            assert recovery["held_out_loss_start"] > 1e-3
        else:  # noise: synthetic, so UDFC's own distillation on 2,000 fractals
            assert reports["UDFC"]["recovery"]["samples"] == 2000


def test_a_time_budget_cuts_the_schedule():
    dense = build("residual", hw=8)
    sparse = pruned(dense)
    ctx = Context(dense_model=dense, dataset=random_inputs(dense, n=64), seed=0, progress=False)
    create_algorithm("Recovery", {"epochs": 50, "lr": 1e-2, "batch_size": 8, "lr_retries": 0,
                                  "time_budget_s": 0.0}).apply(sparse, ctx)
    report = ctx.reports["Recovery"]
    assert report["stopped_by"] == "time" and report["steps"] == 3  # the schedule is fitted after 3 steps


def test_recovery_minutes_reach_the_algorithm(tmp_path, image_folder):
    from ov_sparsity.cli import main

    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    out = tmp_path / "out"
    assert main(["-q", "compress", xml, "-o", str(out), "--sparsity", "0.5", "--data", str(image_folder),
                 "--preprocess", "cifar10", "--recovery-minutes", "0"]) == 0
    report = json.loads((out / "report.json").read_text())
    ws = next(a for a in report["algorithms"] if a["name"] == "WeightSparsity")
    assert ws["params"]["recovery"] == {"mode": "model", "time_budget_s": 0.0}
    assert report["algorithm_reports"]["Recovery"]["steps"] <= 3  # 24 images: a 2-step schedule


def _udfc_config(tmp_path, xml, **udfc):
    config = {"model": {"model_name": "m", "model": xml},
              "engine": {"type": "data_free", "data_source": "fractal", "preprocessing": "cifar10"},
              "compression": {"algorithms": [{"name": "UDFC", "params": {"prune_ratio": 0.25, **udfc}}]}}
    path = tmp_path / "udfc.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_data_free_udfc_distils_on_fractals_before_the_weights_go_to_their_grid(tmp_path):
    from ov_sparsity.cli import main

    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    out = tmp_path / "out"
    config = _udfc_config(tmp_path, xml, weight_bits=4, recovery_samples=48,
                          recovery={"epochs": 4, "batch_size": 8, "patience": 50, "min_gain": 0.0})
    assert main(["-q", "compress", xml, "-o", str(out), "-c", config]) == 0
    report = json.loads((out / "report.json").read_text())
    udfc, recovery = report["algorithm_reports"]["UDFC"], report["algorithm_reports"]["Recovery"]
    assert udfc["channels_removed"] > 0 and udfc["weight_bits"] == 4 and udfc["recovery"] == recovery
    assert recovery["samples"] == 48 and recovery["applied"]
    assert first_lr(recovery) == pytest.approx(3e-3)  # on fractals the larger step (the mapping takes it too)
    assert recovery["held_out_loss_end"] < recovery["held_out_loss_start"]  # taught by the original model
    for op in find_weighted_ops(ov.Core().read_model(str(out / "model.xml"))):
        rows = op.to_rows(op.weight())
        assert max(len(np.unique(r)) for r in rows) <= 16  # trained in FP32, then put on the 4-bit grid


def test_udfc_recovery_auto_is_off_for_models_too_costly_to_train(tmp_path, monkeypatch):
    from ov_sparsity.algorithms.recovery import setting
    from ov_sparsity.cli import main

    monkeypatch.setattr(setting, "CHANNEL_MAX_MACS", 0)
    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    out = tmp_path / "out"
    assert main(["-q", "compress", xml, "-o", str(out), "-c", _udfc_config(tmp_path, xml)]) == 0
    reports = json.loads((out / "report.json").read_text())["algorithm_reports"]
    assert "recovery" not in reports["UDFC"] and "Recovery" not in reports


def test_channel_recovery_settings_by_data_kind():
    from ov_sparsity.algorithms.recovery.setting import channel_recovery

    model = build("residual", hw=32)
    assert channel_recovery("auto", model).params.lr == 1e-3  # real images
    assert channel_recovery("auto", model, synthetic=True).params.lr == 3e-3  # fractals
    assert channel_recovery({"lr": 1e-2}, model, synthetic=True).params.lr == 1e-2  # the user's own wins
    assert channel_recovery("none", model, synthetic=True) is None


def test_a_bad_udfc_recovery_setting_is_named():
    with pytest.raises(OvSparsityError, match="recovery"):
        create_algorithm("UDFC", {"recovery": "sometimes"})
    with pytest.raises(OvSparsityError, match="epochz"):
        create_algorithm("UDFC", {"recovery": {"epochz": 3}})


def test_recovery_flag_reaches_data_free_udfc(tmp_path):
    from ov_sparsity.cli import main

    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    out = tmp_path / "out"
    assert main(["-q", "compress", xml, "-o", str(out), "--udfc", "--prune-ratio", "0.25", "--preprocess", "cifar10",
                 "--recovery", "none"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert [a["params"]["recovery"] for a in report["algorithms"]] == ["none"]
    assert "Recovery" not in report["algorithm_reports"]


def test_channel_pruning_on_fractals_distils_from_the_original(tmp_path):
    from ov_sparsity.cli import main

    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    config = {"model": {"model_name": "m", "model": xml},
              "engine": {"type": "data_free", "data_source": "fractal", "preprocessing": "cifar10", "subset_size": 40},
              "compression": {"algorithms": [{"name": "ChannelPruning", "params": {
                  "prune_ratio": 0.25, "recovery_samples": 48,
                  "recovery": {"epochs": 4, "batch_size": 8, "patience": 50, "min_gain": 0.0}}}]}}
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "out"
    assert main(["-q", "compress", xml, "-o", str(out), "-c", str(path)]) == 0
    reports = json.loads((out / "report.json").read_text())["algorithm_reports"]
    recovery = reports["ChannelPruning"]["recovery"]
    assert recovery == reports["Recovery"] and recovery["samples"] == 48 and recovery["applied"]
    assert first_lr(recovery) == pytest.approx(3e-3)
    assert recovery["held_out_loss_end"] < recovery["held_out_loss_start"]


def test_channel_pruning_on_real_images_distils_on_them_from_the_original(tmp_path, image_folder):
    from ov_sparsity.cli import main

    xml = save(build("residual", hw=32), tmp_path / "m.xml")
    settings = {"prune_ratio": 0.25, "recovery": {"epochs": 4, "batch_size": 8, "patience": 50, "min_gain": 0.0}}
    for recovery, expected in ((settings["recovery"], True), ("none", False)):
        config = {"model": {"model_name": "m", "model": xml},
                  "engine": {"data_source": str(image_folder), "preprocessing": "cifar10"},
                  "compression": {"algorithms": [{"name": "ChannelPruning",
                                                  "params": {**settings, "recovery": recovery}}]}}
        path = tmp_path / "cp.json"
        path.write_text(json.dumps(config))
        out = tmp_path / f"out_{expected}"
        assert main(["-q", "compress", xml, "-o", str(out), "-c", str(path)]) == 0
        reports = json.loads((out / "report.json").read_text())["algorithm_reports"]
        assert ("recovery" in reports["ChannelPruning"]) is expected and ("Recovery" in reports) is expected
        if expected:  # the run's own 24 images, the original model the teacher
            recovery = reports["Recovery"]
            assert recovery["samples"] == 24 and recovery["applied"] and first_lr(recovery) == pytest.approx(1e-3)
            assert 1e-3 < recovery["held_out_loss_end"] < recovery["held_out_loss_start"]
