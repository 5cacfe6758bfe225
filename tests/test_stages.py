"""The per-stage report of a combined recipe: each stage's model measured against the dense one."""

import json

import numpy as np
import pytest

from ov_sparsity.algorithms.pipeline import Pipeline
from ov_sparsity.algorithms.stages import StageProbe, staged
from ov_sparsity.algorithms.structured.sensitivity import output_loss
from ov_sparsity.cli import main
from ov_sparsity.data.datasets import as_array
from ov_sparsity.engine.infer import first_output
from tests.conftest import random_inputs
from tests.models import build, save


def test_which_recipes_are_staged():
    assert staged(["ChannelPruning", "Recovery", "DefaultQuantization"])
    assert staged(["WeightSparsity", "DefaultQuantization"])
    assert not staged(["WeightSparsity", "Recovery"])
    assert not staged(["DefaultQuantization"])


def test_stage_rows_measure_each_stage_against_dense():
    model = build("conv_bias_relu", 0, hw=16)
    data = random_inputs(model, 48)
    probe = StageProbe(samples=40)
    pipeline = Pipeline.from_specs([{"name": "MagnitudeSparsity", "params": {"sparsity_level": 0.6}},
                                    {"name": "DefaultQuantization", "params": {"subset_size": 48}}])
    result = pipeline.run(model, data, progress=False, stages=probe)
    report = probe.report(result.context)
    rows = {r["stage"]: r for r in report["stages"]}
    assert list(rows) == ["dense FP32", "dense INT8", "MagnitudeSparsity", "DefaultQuantization"]
    assert rows["dense FP32"]["speedup_vs_dense_fp32"] == 1.0 and rows["dense INT8"]["speedup_vs_dense_int8"] == 1.0
    # the last stage is the model handed back; its loss is recomputed here on the same 40 inputs
    order = np.sort(np.random.default_rng(0).permutation(48)[:40])
    values = as_array(data, order)
    dense_out = first_output(model, values)
    expected = output_loss(first_output(result.model, values), dense_out, True)
    assert rows["DefaultQuantization"]["output_loss"] == pytest.approx(expected, rel=1e-6)
    magnitude = rows["MagnitudeSparsity"]
    assert magnitude["output_loss"] > 0 and 0 <= magnitude["agreement_calibration"] <= 100
    assert report["calibration_samples"] == 40


def test_compress_prints_and_saves_the_stages(tmp_path, capsys):
    xml = tmp_path / "m.xml"
    save(build("conv_bias_relu", 0, hw=32), xml)
    out = tmp_path / "out"
    assert main(["compress", str(xml), "-o", str(out), "--sparsity", "0.5", "--int8", "--data", "noise",
                 "--preprocess", "cifar10", "--subset-size", "32", "--fast"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert [r["stage"] for r in report["stages"]["stages"]][-1] == "DefaultQuantization"
    assert "stages          batch 1" in printed and "dense INT8" in printed
    assert report["stages"]["synthetic"] and "output KL to dense on 32 synthetic inputs" in printed  # noise
    assert "What each stage bought" in (out / "report.html").read_text()


def test_channels_then_second_order_sparsity_then_int8():
    """The combined recipe: the sparsity stage works from the channel-pruned model (its layer shapes),
    the stage report still measures every stage against the original dense model."""
    from ov_sparsity.graph.channels import find_channel_groups
    from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity

    model = build("conv_bias_relu", 0, hw=16)
    data = random_inputs(model, 48)
    probe = StageProbe(samples=32)
    pipeline = Pipeline.from_specs([{"name": "ChannelPruning", "params": {"prune_ratio": 0.5}},
                                    {"name": "WeightSparsity", "params": {"sparsity_level": 0.5}},
                                    {"name": "DefaultQuantization", "params": {"subset_size": 48}}])
    result = pipeline.run(model, data, progress=False, stages=probe)
    dense_widths = {g.name: g.channels for g in find_channel_groups(model)}
    stage = next(m for name, m in probe.stages if name == "WeightSparsity")
    assert {g.name: g.channels for g in find_channel_groups(stage)} == {n: c - c // 2 for n, c in dense_widths.items()}
    assert global_sparsity(layer_sparsity(stage)) == pytest.approx(0.5, abs=0.05)
    assert result.context.original is model
    rows = {r["stage"]: r for r in probe.report(result.context)["stages"]}
    assert list(rows) == ["dense FP32", "dense INT8", "ChannelPruning", "WeightSparsity", "DefaultQuantization"]


def _folder(root, n, hw=32):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        c = root / ("cat", "dog", "eel", "fox")[i % 4]
        c.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (hw, hw, 3), dtype=np.uint8)).save(c / f"{i:03d}.png")
    return root


def test_a_folder_of_300_images_keeps_a_tenth_from_every_step_and_checks_the_output_on_it(tmp_path, capsys):
    from ov_sparsity.algorithms.stages import held_out_check, split_holdout
    from ov_sparsity.api import resolve_preprocessing
    from ov_sparsity.data.datasets import ImageFolder
    from ov_sparsity.graph import read_model

    xml = tmp_path / "m.xml"
    save(build("conv_bias_relu", 0, hw=32), xml)
    folder = _folder(tmp_path / "images", 300)
    out = tmp_path / "out"
    assert main(["compress", str(xml), "-o", str(out), "--sparsity", "0.5", "--data", str(folder),
                 "--preprocess", "cifar10", "--fast"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["images"] == 270 and report["data"]["held_out"] == 30
    h = report["held_out"]
    # the same 30 images, recomputed: the output model against the dense one
    dense = read_model(xml)
    _, held = split_holdout(ImageFolder(folder, resolve_preprocessing("cifar10", dense)), 30, 0)
    again = held_out_check(dense, read_model(out / "model.xml"), as_array(held))
    assert h["samples"] == 30 and h["agreement"] == pytest.approx(again["agreement"])
    assert h["output_loss"] == pytest.approx(again["output_loss"], rel=1e-4)
    assert h["agreement_ci95"][0] <= h["agreement"] <= h["agreement_ci95"][1]
    assert "held out        agreement with dense" in printed and "on 30 calibration images no step saw" in printed


def test_holdout_is_set_by_hand_or_off_and_refused_when_it_leaves_nothing(tmp_path, capsys, image_folder):
    xml = tmp_path / "m.xml"
    save(build("conv_bias_relu", 0, hw=32), xml)
    base = ["compress", str(xml), "--sparsity", "0.5", "--data", str(image_folder), "--preprocess", "cifar10", "--fast"]
    assert main(base + ["-o", str(tmp_path / "a"), "--holdout", "8"]) == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["data"]["images"] == 16 and report["held_out"]["samples"] == 8
    assert main(base + ["-o", str(tmp_path / "b")]) == 0  # 24 images: under 300, nothing held out by default
    assert "held_out" not in json.loads((tmp_path / "b" / "report.json").read_text())
    capsys.readouterr()
    assert main(base + ["-o", str(tmp_path / "c"), "--holdout", "24"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "engine.holdout 24 leaves no calibration images" in err[0]
    assert not (tmp_path / "c").exists()
    assert main(["compress", str(xml), "-o", str(tmp_path / "d"), "--sparsity", "0.5", "--data", "noise",
                 "--preprocess", "cifar10", "--fast", "--holdout", "4"]) == 2
    assert "engine.holdout takes calibration images from a folder" in capsys.readouterr().err


def test_the_stages_are_measured_on_the_held_out_images(tmp_path, capsys, image_folder):
    xml = tmp_path / "m.xml"
    save(build("conv_bias_relu", 0, hw=32), xml)
    out = tmp_path / "out"
    assert main(["compress", str(xml), "-o", str(out), "--sparsity", "0.5", "--int8", "--data", str(image_folder),
                 "--preprocess", "cifar10", "--fast", "--holdout", "8"]) == 0
    report = json.loads((out / "report.json").read_text())
    stages = report["stages"]
    assert stages["held_out"] and stages["calibration_samples"] == 8
    last = stages["stages"][-1]
    assert last["stage"] == "DefaultQuantization"
    assert last["agreement_calibration"] == pytest.approx(report["held_out"]["agreement"])
    assert "agreement with dense on 8 calibration inputs (held out from every step)" in capsys.readouterr().out


def test_engine_holdout_in_a_config_is_checked_by_name(tmp_path, image_folder):
    from ov_sparsity.config.schema import EngineSection
    from ov_sparsity.errors import OvSparsityError

    sec = EngineSection.from_dict({"data_source": str(image_folder), "holdout": 5}, tmp_path)
    assert sec.holdout == 5
    with pytest.raises(OvSparsityError, match="engine.holdout"):
        EngineSection.from_dict({"data_source": str(image_folder), "holdout": -1}, tmp_path)
