import hashlib
import json
from pathlib import Path

import pytest

from ov_sparsity.cli import main


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def compress(*args):
    return main(["-q", "compress", *map(str, args)])


@pytest.fixture
def tiny(model_xml):
    return model_xml("conv_bias_relu", hw=32)


def test_compress_writes_model_report_and_leaves_input_alone(tiny, image_folder, tmp_path, capsys):
    before = (sha(tiny), sha(tiny.with_suffix(".bin")))
    out = tmp_path / "out"
    assert compress(tiny, "-o", out, "--sparsity", "0.5", "--data", image_folder, "--preprocess", "cifar10") == 0
    assert sorted(p.name for p in out.iterdir()) == [".ov-sparsity", "model.bin", "model.xml", "report.html",
                                                      "report.json"]
    assert (sha(tiny), sha(tiny.with_suffix(".bin"))) == before
    report = json.loads((out / "report.json").read_text())
    assert abs(report["global_sparsity"] - 0.5) <= 1 / report["weights"]
    assert {"name", "type", "shape", "sparsity"} <= set(report["layers"][0])
    assert [a["name"] for a in report["algorithms"]] == ["WeightSparsity"]
    assert report["algorithms"][0]["params"]["sparsity_level"] == 0.5
    assert report["seed"] == 0 and report["versions"]["openvino"]
    assert {"WeightSparsity", "total"} <= set(report["timings_s"])
    assert report["algorithms"][0]["params"]["method"] == "second_order"  # the default recipe
    assert len(report["algorithm_reports"]["SecondOrderSparsity"]["layers"]) == 4
    assert "sparsity        50.00%" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ovs-")]  # no temp dirs left


def test_same_seed_same_bytes(tiny, image_folder, tmp_path):
    outs = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"o{i}"
        assert compress(tiny, "-o", out, "--data", image_folder, "--subset-size", "10", "--seed", seed, "--int8") == 0
        outs.append(sha(out / "model.bin"))
    assert outs[0] == outs[1] and outs[0] != outs[2]


def test_eval_json(tiny, image_folder, tmp_path, capsys):
    out = tmp_path / "o"
    compress(tiny, "-o", out, "--data", "noise", "--subset-size", "8")
    capsys.readouterr()
    assert main(["-q", "eval", str(out / "model.xml"), "--data", str(image_folder), "--reference", str(tiny),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 24 and set(result) == {"n", "top1", "top5", "agreement", "reference_top1"}


def test_zoo_list_and_unknown(capsys):
    assert main(["zoo", "list"]) == 0
    assert "resnet56_cifar10" in capsys.readouterr().out
    assert main(["zoo", "export", "vgg16", "-o", "x.xml"]) == 2


def test_tuning_schedule_and_accuracy_aware_flags(tiny, image_folder, tmp_path, capsys):
    out = tmp_path / "tuned"
    assert compress(tiny, "-o", out, "--sparsity", "0.6", "--data", image_folder, "--tune", "lstsq",
                    "--schedule-steps", "2", "--initial-sparsity", "0.3") == 0
    report = json.loads((out / "report.json").read_text())
    params = report["algorithms"][0]["params"]
    assert params["use_layerwise_tuning"] and params["tuning_method"] == "lstsq"
    ws = report["algorithm_reports"]["WeightSparsity"]
    assert [round(s["sparsity"], 4) for s in ws["steps"]] == [round(0.6 - 0.3 * 0.125, 4), 0.6]
    assert report["algorithm_reports"]["LayerwiseFinetuning"]["inputs"] == "sequential"
    capsys.readouterr()
    assert compress(tiny, "-o", tmp_path / "aa", "--data", image_folder, "--max-accuracy-drop", "1") == 2
    assert "max_accuracy_drop needs labelled evaluation data" in capsys.readouterr().err
    assert compress(tiny, "-o", tmp_path / "ab", "--data", image_folder, "--max-accuracy-drop", "50",
                    "--eval-data", image_folder, "--sparsity", "0.5") == 0
    ws = json.loads((tmp_path / "ab" / "report.json").read_text())["algorithm_reports"]["WeightSparsity"]
    assert ws["budget_met"] and len(ws["steps"]) == 6 and "dense_top1" in ws


def test_udfc_flags(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "udfc"
    assert compress(tiny, "-o", out, "--udfc", "--prune-ratio", "0.25", "--weight-bits", "6",
                    "--subset-size", "16") == 0
    report = json.loads((out / "report.json").read_text())
    assert [a["name"] for a in report["algorithms"]] == ["UDFC"]
    udfc = report["algorithm_reports"]["UDFC"]
    assert udfc["channels_removed"] == 2 + 4 + 4 and udfc["weight_bits"] == 6 and "FP32 values" in udfc["note"]
    assert report["data"]["source"] == "fractal"
