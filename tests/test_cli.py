import hashlib
import json
import subprocess
import sys
from pathlib import Path

import openvino as ov
import pytest
from openvino import opset15 as ops

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
    assert sorted(p.name for p in out.iterdir()) == ["model.bin", "model.xml", "report.html", "report.json"]
    assert (sha(tiny), sha(tiny.with_suffix(".bin"))) == before
    report = json.loads((out / "report.json").read_text())
    assert abs(report["global_sparsity"] - 0.5) <= 1 / report["weights"]
    assert {"name", "type", "shape", "sparsity"} <= set(report["layers"][0])
    assert [a["name"] for a in report["algorithms"]] == ["WeightSparsity"]
    assert report["algorithms"][0]["params"]["sparsity_level"] == 0.5
    assert report["seed"] == 0 and report["versions"]["openvino"]
    assert {"statistics", "WeightSparsity", "total"} <= set(report["timings_s"])
    assert "sparsity        50.00%" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temp dirs left


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


def _no_weights_model(path):
    x = ops.parameter([1, 3, 4, 4], ov.Type.f32)
    ov.save_model(ov.Model([ops.relu(x)], [x]), str(path))
    return path


BAD = {
    "missing model": (lambda t, d: ["compress", t / "nope.xml", "-o", t / "o"], "model file not found"),
    "corrupt xml": (lambda t, d: ["compress", _corrupt(t), "-o", t / "o"], "cannot read model"),
    "missing bin": (lambda t, d: ["compress", _no_bin(t, d), "-o", t / "o"], "weights file not found"),
    "no weighted ops": (lambda t, d: ["compress", _no_weights_model(t / "relu.xml"), "-o", t / "o", "--data", "noise",
                                      "--preprocess", "cifar10"], "no weighted ops"),
    "sparsity out of range": (lambda t, d: ["compress", d["xml"], "-o", t / "o", "--sparsity", "1.5"],
                              "sparsity must be in [0, 1)"),
    "unknown algorithm": (lambda t, d: ["compress", d["xml"], "-o", t / "o", "-c",
                                        _cfg(t, '{"name": "Foo"}')], "unknown algorithm 'Foo'"),
    "unknown parameter": (lambda t, d: ["compress", d["xml"], "-o", t / "o", "-c",
                                        _cfg(t, '{"name": "WeightSparsity", "params": {"levle": 1}}')],
                          "WeightSparsity: unknown parameter 'levle'"),
    "empty data folder": (lambda t, d: ["compress", d["xml"], "-o", t / "o", "--data", _empty(t)],
                          "no images found in data folder"),
    "missing data folder": (lambda t, d: ["compress", d["xml"], "-o", t / "o", "--data", t / "nothing"],
                            "data folder not found"),
    "unwritable output": (lambda t, d: ["compress", d["xml"], "-o", _file(t) / "o"], "output directory is not writable"),
}


def _corrupt(t):
    (t / "bad.xml").write_text("<net><layers>")
    (t / "bad.bin").write_bytes(b"\0" * 8)
    return t / "bad.xml"


def _no_bin(t, d):
    xml = t / "lonely.xml"
    xml.write_bytes(Path(d["xml"]).read_bytes())
    return xml


def _cfg(t, algo):
    (t / "c.json").write_text('{"compression": {"algorithms": [%s]}}' % algo)
    return t / "c.json"


def _empty(t):
    (t / "empty").mkdir()
    return t / "empty"


def _file(t):
    (t / "afile").write_text("x")
    return t / "afile"


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2(case, tiny, tmp_path, capsys):
    make_args, expected = BAD[case]
    args = [str(a) for a in make_args(tmp_path, {"xml": tiny})]
    assert main(["-q", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("ov-sparsity: error: ") and expected in err
    assert not (tmp_path / "o").exists()


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ov_sparsity.cli", "compress", str(tmp_path / "x.xml"), "-o",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"ov-sparsity: error: model file not found: {tmp_path / 'x.xml'}"


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
