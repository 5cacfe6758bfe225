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
    assert rows["MagnitudeSparsity"]["output_loss"] > 0 and 0 <= rows["MagnitudeSparsity"]["agreement_calibration"] <= 100
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
    assert "What each stage bought" in (out / "report.html").read_text()
