"""Bad input, as a new user types it: exit code 2, exactly one stderr line naming the
problem, no traceback, every input byte unchanged, and nothing left behind (no output,
no temporary folder). Ctrl-C stops a run within seconds with exit 130, no leftovers."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from openvino import opset15 as ops
from PIL import Image

from ov_sparsity.cli import main
from ov_sparsity.outputs import _umask
from tests.models import build, save

W = "{w}"  # the world folder in argument templates


def _images(root: Path, classes: int, per_class: int = 3, size: int = 32) -> Path:
    rng = np.random.default_rng(classes)
    for c in range(classes):
        (root / f"class{c:02d}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"class{c:02d}" / f"{i}.png")
    return root


def _conv_model(shape, channels=3):
    rng = np.random.default_rng(0)
    x = ops.parameter(shape, np.float32, name="input")
    c = ops.convolution(x, ops.constant(rng.standard_normal((4, channels, 3, 3)).astype(np.float32)), [1, 1], [1, 1],
                        [1, 1], [1, 1])
    c.set_friendly_name("conv")
    return ov.Model([ops.reduce_mean(c, ops.constant(np.array([2, 3])), False)], [x], "m")


def _two_inputs():
    a = ops.parameter([1, 3, 32, 32], np.float32, name="a")
    b = ops.parameter([1, 3, 32, 32], np.float32, name="b")
    w = ops.constant(np.ones((4, 3, 3, 3), np.float32))
    return ov.Model([ops.add(ops.convolution(a, w, [1, 1], [1, 1], [1, 1], [1, 1]), ops.convolution(
        b, w, [1, 1], [1, 1], [1, 1], [1, 1]))], [a, b], "two")


def _quantized():
    x = ops.parameter([-1, 3, 32, 32], np.float32, name="input")
    lo, hi = ops.constant(np.float32(-1)), ops.constant(np.float32(1))
    fq = ops.fake_quantize(x, lo, hi, lo, hi, 256)
    c = ops.convolution(fq, ops.constant(np.ones((4, 3, 3, 3), np.float32)), [1, 1], [1, 1], [1, 1], [1, 1])
    return ov.Model([ops.reduce_mean(c, ops.constant(np.array([2, 3])), False)], [x], "q")


def _suite(w: Path, name: str, settings: str, extra: str = "") -> None:
    (w / name).write_text(f"name: t\nmodel: {{ir: {w}/m.xml}}\npreprocess: cifar10\ndata: {{noise: noise}}\n"
                          f"seconds: 0\n{extra}settings:\n{settings}")


def _text_world(w: Path, tiny_bert: Path) -> None:
    """Two exports of the tiny BERT (dynamic length, fixed 16), calibration text and broken texts."""
    import shutil

    shutil.copytree(tiny_bert, w / "bert")
    for name, extra in (("enc.xml", []), ("enc16.xml", ["--seq-len", "16"])):
        assert main(["-q", "zoo", "export", "minilm_l6", "--weights", str(w / "bert"), "-o", str(w / name),
                     *extra]) == 0
    (w / "calib.txt").write_text("the man plays guitar .\na dog is happy .\n" * 20, encoding="utf-8")
    (w / "ctrl.txt").write_bytes(b"\0\0\0\n\x01\x02\x07\n\0\x1b\n")
    (w / "blank.txt").write_text("\n   \n\t\n")
    (w / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))


def _config_world(w: Path) -> None:
    cfg = lambda name, text: (w / name).write_text(text)  # noqa: E731
    ws = '{"name": "WeightSparsity", "params": %s}'
    algos = lambda *a: '{"compression": {"algorithms": [%s]}}' % ", ".join(a)  # noqa: E731
    with_ws = ', "compression": {"algorithms": [{"name": "WeightSparsity"}]}}'
    cfg("scale0.json", '{"engine": {"type": "data_free", "data_source": "noise", "preprocessing": '
                       '{"size": [32, 32], "scale": 0}}' + with_ws)
    cfg("std0.json", '{"engine": {"type": "data_free", "data_source": "noise", "preprocessing": '
                     '{"size": [32, 32], "std": [1, 0, 1]}}' + with_ws)
    cfg("twice.json", algos(ws % "{}", '{"name": "DefaultQuantization"}', '{"name": "DefaultQuantization"}'))
    cfg("subset_huge.json", '{"engine": {"type": "data_free", "data_source": "noise", '
                            '"subset_size": 100000000000000000000}}')
    cfg("device.json", '{"compression": {"target_device": "TPU", "algorithms": [%s]}}' % (ws % "{}"))
    cfg("steps.json", algos(ws % '{"schedule": {"steps": 1000}}'))
    cfg("steps0.json", algos(ws % '{"schedule": {"steps": 0}}'))
    cfg("params_num.json", algos('{"name": "WeightSparsity", "params": 5}'))
    cfg("name_num.json", algos('{"name": 5}'))
    cfg("toplist.json", "[1, 2]")
    cfg("level_str.json", algos(ws % '{"sparsity_level": "0.5"}'))
    cfg("level_bool.json", algos(ws % '{"sparsity_level": true}'))
    cfg("recovery_key.json", algos(ws % '{"recovery": {"epoch": 3}}'))
    cfg("recovery_mode.json", algos(ws % '{"recovery": "always"}'))
    cfg("scope_num.json", algos(ws % '{"ignored_scope": {"names": 5}}'))
    cfg("batch0.json", '{"engine": {"type": "data_free", "data_source": "noise", "batch_size": 0}}')
    ac = "datasets:\n- name: x\n  data_source: imgs\n"
    cfg("ac_std0.yaml", ac + "  preprocessing:\n  - {type: normalization, mean: 0, std: 0}\n")
    cfg("ac_stdneg.yaml", ac + "  preprocessing:\n  - {type: normalization, mean: 0, std: [1, -1, 1]}\n")
    cfg("ac_size.yaml", ac + "  preprocessing:\n  - {type: resize, size: big}\n")
    cfg("ac_steps.yaml", ac + "  preprocessing: resize\n")
    cfg("ac_conv.yaml", ac + "  annotation_conversion: imagenet\n")
    cfg("ac_neg.yaml", ac + "  annotation_conversion: {converter: imagenet, annotation_file: ann_neg.txt}\n")
    cfg("ann_neg.txt", "class00/0.png 1\nclass00/1.png -5\n")
    cfg("ac_big.yaml", ac + "  annotation_conversion: {converter: imagenet, annotation_file: ann_big.txt}\n")
    cfg("ann_big.txt", "class00/0.png 1\nclass00/1.png 7\n")
    for name in ("ac_std0", "ac_stdneg", "ac_size", "ac_steps", "ac_conv", "ac_neg", "ac_big"):
        cfg(f"{name}.json", '{"engine": {"config": "%s.yaml"}' % name + with_ws)
    one = "- {label: a, levels: %s, algorithms: [{name: WeightSparsity}]}\n"
    _suite(w, "s_levels.yaml", one % "0.5")
    _suite(w, "s_levels_str.yaml", one % "[a, b]")
    _suite(w, "s_levels_empty.yaml", one % "[]")
    _suite(w, "s_algo.yaml", "- {label: a, algorithms: [{name: Foo}]}\n")
    _suite(w, "s_param.yaml", "- {label: a, algorithms: [{name: WeightSparsity, params: {levle: 1}}]}\n")
    _suite(w, "s_twice.yaml", "- {label: a, algorithms: [{name: DefaultQuantization}, {name: DefaultQuantization}]}\n")
    _suite(w, "s_data.yaml", "- {label: a, data: [real], algorithms: [{name: WeightSparsity}]}\n")
    _suite(w, "s_empty.yaml", "  []\n")
    _suite(w, "s_key.yaml", one % "[0.5]", extra="modle: 1\n")
    _suite(w, "s_seconds.yaml", one % "[0.5]", extra="seconds: -1\n")
    (w / "s_model.yaml").write_text("name: t\nmodel: {ir: nowhere.xml}\nsettings:\n"
                                    "- {algorithms: [{name: WeightSparsity}]}\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_bert):
    w = tmp_path_factory.mktemp("world")
    _text_world(w, tiny_bert)
    _config_world(w)
    save(build("conv_bias_relu", 0, hw=32), w / "m.xml")  # 4 outputs, 32x32
    _images(w / "imgs", 4)
    _images(w / "imgs12", 12, per_class=1)
    (w / "flat" / "images").mkdir(parents=True)
    Image.new("RGB", (32, 32), (9, 9, 9)).save(w / "flat" / "images" / "n00000001_x.png")
    (w / "flat" / "synsets.txt").write_text("".join(f"{i} n{i + 1:08d} thing{i}\n" for i in range(1000)))
    (w / "empty").mkdir()
    (w / "userdir").mkdir()
    (w / "userdir" / "notes.txt").write_text("my notes\n")
    (w / "afile").write_text("x")
    (w / "junk.xml").write_text("<net><layers>")
    (w / "junk.bin").write_bytes(b"\0" * 8)
    (w / "trunc.xml").write_bytes((w / "m.xml").read_bytes())
    (w / "trunc.bin").write_bytes((w / "m.bin").read_bytes()[:100])
    (w / "lonely.xml").write_bytes((w / "m.xml").read_bytes())
    (w / "m.onnx").write_bytes(b"onnx")
    x = ops.parameter([1, 3, 4, 4], np.float32)
    save(ov.Model([ops.relu(x)], [x]), w / "relu.xml")
    save(_two_inputs(), w / "two.xml")
    save(_conv_model(ov.PartialShape.dynamic()), w / "dynrank.xml")
    save(_conv_model([-1, 3, -1, -1]), w / "dynhw.xml")
    save(_conv_model([-1, 1, 32, 32], channels=1), w / "gray.xml")
    save(_quantized(), w / "q.xml")
    (w / "rep_list").mkdir()
    (w / "rep_list" / "report.json").write_text("[]")
    (w / "rep_keys").mkdir()
    (w / "rep_keys" / "report.json").write_text('{"model": {}}')
    cfg = lambda name, text: (w / name).write_text(text)  # noqa: E731
    cfg("nan.yaml", "compression:\n  algorithms:\n  - name: WeightSparsity\n    params: {sparsity_level: .nan}\n")
    cfg("seed.json", '{"engine": {"data_source": "noise", "type": "data_free", "seed": -1}}')
    cfg("foo.json", '{"compression": {"algorithms": [{"name": "Foo"}]}}')
    cfg("levle.json", '{"compression": {"algorithms": [{"name": "WeightSparsity", "params": {"levle": 1}}]}}')
    cfg("ignored.json", '{"compression": {"algorithms": [{"name": "WeightSparsity", "params": '
                        '{"ignored": {"scope": ["conv9"]}}}]}}')
    cfg("datafree.json", '{"engine": {"type": "data_free", "data_source": "imgs"}}')
    cfg("broken.json", '{"model": ')
    cfg("w_unknown.json", '{"nope": 3}')
    cfg("w_bad.json", '{"conv1": "x"}')
    cfg("w_wide.json", '{"conv1": 9}')
    cfg("w_drop.json", '{"conv1": 0}')
    cfg("w_report.json", '{"algorithm_reports": {"WeightSparsity": {}}}')
    return w


LONG = "a" * 256
# id: (arguments, with {w} the world folder; a piece of the one stderr line)
CASES = {
    "missing model": (["compress", "{w}/nope.xml", "-o", "{w}/o"], "model file not found"),
    "model is a folder": (["compress", "{w}/imgs", "-o", "{w}/o"], "model path is a directory"),
    "model not .xml": (["compress", "{w}/m.onnx", "-o", "{w}/o"], "must be an OpenVINO IR .xml"),
    "corrupt xml": (["compress", "{w}/junk.xml", "-o", "{w}/o", "--data", "noise"], "Unable to read the model"),
    "truncated bin": (["compress", "{w}/trunc.xml", "-o", "{w}/o", "--data", "noise"],
                      "Incorrect weights in bin file!"),
    "missing bin": (["compress", "{w}/lonely.xml", "-o", "{w}/o"], "weights file not found"),
    "no weighted ops": (["compress", "{w}/relu.xml", "-o", "{w}/o", "--data", "noise", "--preprocess", "cifar10"],
                        "no weighted ops"),
    "sparsity 1.5": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "1.5"], "in [0, 1), got 1.5"),
    "sparsity 1.0": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "1"], "in [0, 1), got 1.0"),
    "sparsity nan": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "nan"], "finite number, got nan"),
    "sparsity inf": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "inf"], "finite number, got inf"),
    "sparsity empties layers": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "noise", "--sparsity",
                                 "0.999999"], "no layer may be emptied"),
    "seed -1": (["compress", "{w}/m.xml", "-o", "{w}/o", "--seed", "-1"], "argument --seed: must be an integer"),
    "subset size 0": (["compress", "{w}/m.xml", "-o", "{w}/o", "--subset-size", "0"], "--subset-size: must be"),
    "prune ratio nan": (["compress", "{w}/m.xml", "-o", "{w}/o", "--udfc", "--prune-ratio", "nan"],
                        "--prune-ratio: must be a finite number"),
    "udfc changes nothing": (["compress", "{w}/m.xml", "-o", "{w}/o", "--udfc", "--prune-ratio", "0.01"],
                             "UDFC would change nothing"),
    "weight bits 1": (["compress", "{w}/m.xml", "-o", "{w}/o", "--udfc", "--weight-bits", "1"],
                      "--weight-bits: must be an integer in [2, 8]"),
    "config unknown algorithm": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/foo.json"],
                                 "unknown algorithm 'Foo'"),
    "config unknown parameter": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/levle.json"],
                                 "WeightSparsity: unknown parameter 'levle'"),
    "config nan level": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/nan.yaml"],
                         "parameter 'sparsity_level' must be a finite number"),
    "config seed -1": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/seed.json"],
                       "engine.seed must be an integer in [0, 4294967295], got -1"),
    "config is a folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/imgs"], "config path is a folder"),
    "config missing": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/none.json"], "config file not found"),
    "config unparsable": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/broken.json"],
                          "cannot parse config file"),
    "config data_free folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/datafree.json"],
                                "engine type 'data_free' takes data_source 'noise' or 'fractal'"),
    "ignored layer unknown": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "noise", "-c", "{w}/ignored.json"],
                              "ignored scope names a layer that is not in the model: 'conv9'"),
    "empty data folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "{w}/empty"],
                          "no images found in data folder"),
    "missing data folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "{w}/nothing"],
                            "data folder not found"),
    "output under a file": (["compress", "{w}/m.xml", "-o", "{w}/afile/o", "--data", "noise"],
                            "output path is under a file, not a folder"),
    "output is a user folder": (["compress", "{w}/m.xml", "-o", "{w}/userdir", "--data", "noise"],
                                "refusing to overwrite"),
    "output is the model's folder": (["compress", "{w}/m.xml", "-o", "{w}", "--data", "noise"],
                                     "it holds the input"),
    "output is the data folder": (["compress", "{w}/m.xml", "-o", "{w}/imgs", "--data", "{w}/imgs"],
                                  "it holds the data folder"),
    "output inside the data folder": (["compress", "{w}/m.xml", "-o", "{w}/imgs/out", "--data", "{w}/imgs"],
                                      "it is inside the data folder"),
    "output name too long": (["compress", "{w}/m.xml", "-o", "{w}/" + LONG, "--data", "noise"],
                             "output name is too long (256 bytes"),
    "two inputs compress": (["compress", "{w}/two.xml", "-o", "{w}/o", "--data", "noise"], "the model has 2 inputs"),
    "two inputs eval": (["eval", "{w}/two.xml", "--data", "{w}/imgs"], "the model has 2 inputs"),
    "dynamic rank": (["compress", "{w}/dynrank.xml", "-o", "{w}/o", "--data", "noise"], "has a dynamic rank"),
    "dynamic image size": (["benchmark", "{w}/dynhw.xml", "--seconds", "0"], "has a dynamic shape"),
    "preprocess size mismatch": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "{w}/imgs", "--preprocess",
                                  "imagenet"], "gives 224x224 images but the model input is 32x32"),
    "one-channel model": (["compress", "{w}/gray.xml", "-o", "{w}/o", "--data", "{w}/imgs", "--preprocess",
                           "cifar10"], "takes 1 channels; images give 3"),
    "int8 model": (["compress", "{w}/q.xml", "-o", "{w}/o", "--data", "noise", "--preprocess", "cifar10"],
                   "the model is already quantized"),
    "int8 model --int8": (["compress", "{w}/q.xml", "-o", "{w}/o", "--data", "noise", "--preprocess", "cifar10",
                           "--int8"], "already quantized"),
    "eval 12 classes": (["eval", "{w}/m.xml", "--data", "{w}/imgs12"], "has 12 classes but the model has 4 outputs"),
    "eval 1000 synsets": (["eval", "{w}/m.xml", "--data", "{w}/flat"],
                          "has 1000 classes but the model has 4 outputs"),
    "benchmark 12 classes": (["benchmark", "{w}/m.xml", "--data", "{w}/imgs12", "--seconds", "0"],
                             "has 12 classes but the model has 4 outputs"),
    "eval batch size 0": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--batch-size", "0"], "--batch-size: must be"),
    "eval batch size -1": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--batch-size", "-1"], "--batch-size: must"),
    "eval limit -3": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--limit", "-3"], "--limit: must be an integer"),
    "eval limit 0": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--limit", "0"],
                     "--limit: must be an integer in [1, 10000000], got 0"),
    "benchmark limit -2": (["benchmark", "{w}/m.xml", "--data", "{w}/imgs", "--limit", "-2"], "--limit: must be"),
    "benchmark seconds nan": (["benchmark", "{w}/m.xml", "--seconds", "nan"], "--seconds: must be a finite number"),
    "benchmark into a user folder": (["benchmark", "{w}/m.xml", "--seconds", "0", "-o", "{w}/userdir"],
                                     "refusing to overwrite"),
    "report of a list": (["report", "{w}/rep_list"], "not a report.json written by ov-sparsity (it holds a list"),
    "report missing keys": (["report", "{w}/rep_keys"], "not a report.json written by ov-sparsity (no 'global"),
    "report of a file": (["report", "{w}/afile"], "not a folder"),
    "fractals size 100000": (["fractals", "generate", "-n", "2", "--size", "100000", "-o", "{w}/f"],
                             "--size: must be an integer in [16, 4096]"),
    "fractals workers -1": (["fractals", "generate", "-n", "2", "--workers", "-1", "-o", "{w}/f"],
                            "--workers: must be an integer in [1, 256]"),
    "fractals n 0": (["fractals", "generate", "-n", "0", "-o", "{w}/f"], "-n: must be an integer"),
    "fractals into a user folder": (["fractals", "generate", "-n", "2", "--size", "32", "-o", "{w}/userdir"],
                                    "refusing to overwrite"),
    "fractals sheet nowhere": (["fractals", "generate", "-n", "2", "--size", "32", "-o", "{w}/f", "--sheet",
                                "{w}/no/such/sheet.png"], "folder not found for"),
    "fractals sheet format": (["fractals", "generate", "-n", "2", "--size", "32", "-o", "{w}/f", "--sheet",
                               "{w}/sheet.xyz"], "unknown image format"),
    "zoo export over a user model": (["zoo", "export", "resnet20_cifar10", "--weights", "{w}/afile", "-o",
                                      "{w}/m.xml"], "refusing to overwrite"),
    "zoo unknown model": (["zoo", "export", "vgg16", "-o", "{w}/v.xml"], "unknown zoo model 'vgg16'"),
    "zoo weights missing": (["zoo", "export", "resnet20_cifar10", "--weights", "{w}/none.th", "-o", "{w}/r.xml"],
                            "weights file not found"),
    "speedup below 1": (["compress", "{w}/m.xml", "-o", "{w}/o", "--speedup", "0.9"],
                        "--speedup: must be a number in [1, 100], got 0.9"),
    "speedup with --udfc": (["compress", "{w}/m.xml", "-o", "{w}/o", "--speedup", "1.3", "--udfc"],
                            "--speedup chooses the channels to remove itself"),
    "latency batch without speedup": (["compress", "{w}/m.xml", "-o", "{w}/o", "--latency-batch", "8"],
                                      "--latency-batch goes with --speedup"),
    "widths file missing": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/none.json"],
                            "--widths: no such file"),
    "widths with speedup": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_unknown.json", "--speedup",
                             "1.3"], "--widths fixes the channels --speedup would search for"),
    "widths with udfc": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_unknown.json", "--udfc"],
                         "--widths chooses the channels to remove itself"),
    "widths not counts": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_bad.json"],
                          "holds neither a report.json nor an object of channel group names"),
    "widths report without channels": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_report.json"],
                                       "a report.json without ChannelPruning widths"),
    "widths unknown group": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_unknown.json", "--data",
                              "noise", "--preprocess", "cifar10"],
                             "parameter 'widths': no prunable channel group named 'nope' in this model (its 3"),
    "widths over the channels": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_wide.json", "--data",
                                  "noise", "--preprocess", "cifar10"],
                                 "parameter 'widths': conv1 has 8 channels, asked to keep 9"),
    "widths drops a plain layer": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_drop.json", "--data",
                                    "noise", "--preprocess", "cifar10"],
                                   "conv1 at 0 channels, but it is not a residual branch"),
    # --- text models: one range for the sequence length, flags that do not apply -------------------------------
    "zoo export seq-len 2": (["zoo", "export", "minilm_l6", "--weights", "{w}/bert", "--seq-len", "2", "-o",
                              "{w}/e.xml"], "--seq-len: must be an integer in [3, 65536], got 2"),
    "zoo export seq-len beyond positions": (["zoo", "export", "minilm_l6", "--weights", "{w}/bert", "--seq-len",
                                             "100", "-o", "{w}/e.xml"],
                                            "--seq-len 100 is beyond the model's 64 token positions"),
    "compress seq-len beyond positions": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--data", "{w}/calib.txt",
                                           "--seq-len", "100"], "--seq-len 100 is beyond the model's 64 token"),
    "benchmark seq-len beyond positions": (["benchmark", "{w}/enc.xml", "--seq-len", "100", "--seconds", "0"],
                                           "--seq-len 100 is beyond the model's 64 token positions"),
    "compress fixed length, other seq-len": (["compress", "{w}/enc16.xml", "-o", "{w}/o", "--data",
                                              "{w}/calib.txt", "--seq-len", "32"],
                                             "the model takes sequences of 16 tokens, --seq-len asks 32"),
    "benchmark fixed length, other seq-len": (["benchmark", "{w}/enc16.xml", "--seq-len", "32", "--seconds", "0"],
                                              "the model takes sequences of 16 tokens, --seq-len asks 32"),
    "benchmark image model --seq-len": (["benchmark", "{w}/m.xml", "--seq-len", "64", "--seconds", "0"],
                                        "--seq-len is for text models; m.xml takes images"),
    "compress image model --seq-len": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "noise", "--seq-len",
                                        "16"], "--seq-len (engine.seq_len) is for text models"),
    "compress text model --preprocess": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--preprocess", "imagenet"],
                                         "--preprocess (engine.preprocessing) does not apply to a text model"),
    "compress text model --synsets": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--synsets",
                                       "{w}/flat/synsets.txt"], "--synsets (engine.synsets) does not apply"),
    "text of control characters": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--data", "{w}/ctrl.txt"],
                                    "ctrl.txt holds no text"),
    "text of blank lines": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--data", "{w}/blank.txt"],
                            "blank.txt holds no text"),
    "text not UTF-8": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--data", "{w}/latin1.txt"],
                       "latin1.txt is not UTF-8 text (byte 3)"),
    "text model on an image folder": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--data", "{w}/imgs"],
                                      "is a folder; a text model calibrates on text"),
    "text model on fractals": (["compress", "{w}/enc.xml", "-o", "{w}/o", "--data", "fractal"],
                               "fractal images do not fit a text model"),
    "image model on a text file": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "{w}/calib.txt"],
                                   "calib.txt is a file; this model takes images"),
    "eval text, image reference": (["eval", "{w}/enc.xml", "--reference", "{w}/m.xml"],
                                   "m.xml is an image model, the model is a text model"),
    "eval image, text reference": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--reference", "{w}/enc.xml"],
                                   "enc.xml is a text model, the model is an image model"),
    "eval text model --data": (["eval", "{w}/enc.xml", "--data", "{w}/imgs"],
                               "--data does not apply to a text model (--task sts)"),
    "eval text model --limit": (["eval", "{w}/enc.xml", "--limit", "5"], "--limit does not apply to a text model"),
    "eval image model --tokenizer": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--tokenizer", "{w}/bert"],
                                     "--tokenizer does not apply to an image model"),
    "eval sts on an image model": (["eval", "{w}/m.xml", "--task", "sts"], "--task sts needs a text model"),
    "benchmark text model --data": (["benchmark", "{w}/enc.xml", "--data", "{w}/imgs", "--seconds", "0"],
                                    "--data (labelled images) is for image models"),
    "benchmark text and image together": (["benchmark", "{w}/enc.xml", "{w}/m.xml", "--seconds", "0"],
                                          "benchmark text models and image models apart"),
    "benchmark --preprocess without --data": (["benchmark", "{w}/m.xml", "--preprocess", "cifar10", "--seconds",
                                               "0"], "--preprocess does not apply to a benchmark without --data"),
    "benchmark --limit without --data": (["benchmark", "{w}/m.xml", "--limit", "5", "--seconds", "0"],
                                         "--limit does not apply to a benchmark without --data"),
    "benchmark no models": (["benchmark", "--seconds", "0"], "give one or more MODEL.xml"),
    # --- configs: POT and Accuracy Checker ------------------------------------------------------------------------
    "config preprocessing scale 0": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/scale0.json"],
                                     "preprocessing: scale must be a positive number, got 0"),
    "config preprocessing std 0": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/std0.json"],
                                   "preprocessing: std must be 3 positive numbers"),
    "config algorithm twice": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/twice.json"],
                               "algorithm 'DefaultQuantization' is listed twice"),
    "config subset_size 1e20": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/subset_huge.json"],
                                "engine.subset_size must be an integer in [1, 10000000]"),
    "config unknown target_device": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/device.json"],
                                     "unknown compression.target_device 'TPU' (known: ANY, CPU"),
    "config schedule steps 1000": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/steps.json"],
                                   "schedule: steps must be an integer in [1, 100], got 1000"),
    "config schedule steps 0": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/steps0.json"],
                                "schedule: steps must be an integer in [1, 100], got 0"),
    "config params not a mapping": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/params_num.json"],
                                    "(WeightSparsity) params must be a mapping, got 5"),
    "config algorithm name a number": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/name_num.json"],
                                       "compression.algorithms[0].name must be an algorithm name, got 5"),
    "config a list": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/toplist.json"],
                      "toplist.json must hold a mapping at the top level"),
    "config level a string": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/level_str.json"],
                              "parameter 'sparsity_level' must be a finite number, got '0.5'"),
    "config level a bool": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/level_bool.json"],
                            "parameter 'sparsity_level' must be a finite number, got True"),
    "config recovery unknown key": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/recovery_key.json"],
                                    "Recovery: unknown parameter 'epoch'"),
    "config recovery unknown mode": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/recovery_mode.json"],
                                     "parameter 'recovery' must be one of"),
    "config ignored names a number": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/scope_num.json"],
                                      "ignored_scope: 'names' must be a list of strings, got 5"),
    "config batch_size 0": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/batch0.json"],
                            "engine.batch_size must be an integer in [1, 4096], got 0"),
    "AC normalization std 0": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/ac_std0.json"],
                               "normalization std must be positive numbers, got [0]"),
    "AC normalization std negative": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/ac_stdneg.json"],
                                      "normalization std must be positive numbers"),
    "AC resize size not a number": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/ac_size.json"],
                                    "resize size must be a positive integer (pixels), got 'big'"),
    "AC preprocessing not a list": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/ac_steps.json"],
                                    "preprocessing must be a list of steps, got 'resize'"),
    "AC annotation_conversion a string": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/ac_conv.json"],
                                          "annotation_conversion must be a mapping"),
    "AC annotation label -5": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/ac_neg.json"],
                               "ann_neg.txt, line 2: label -5 is negative"),
    "AC annotation label beyond the outputs": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/ac_big.json"],
                                              "has label 7 (image "),
    # --- suites: the whole suite validated before any work, nothing left behind ----------------------------------
    "suite levels a number": (["benchmark", "--suite", "{w}/s_levels.yaml", "-o", "{w}/so"],
                              "levels must be a non-empty list of numbers, got 0.5"),
    "suite levels strings": (["benchmark", "--suite", "{w}/s_levels_str.yaml", "-o", "{w}/so"],
                             "levels must be a non-empty list of numbers, got ['a', 'b']"),
    "suite levels empty": (["benchmark", "--suite", "{w}/s_levels_empty.yaml", "-o", "{w}/so"],
                           "levels must be a non-empty list of numbers, got []"),
    "suite unknown algorithm": (["benchmark", "--suite", "{w}/s_algo.yaml", "-o", "{w}/so"],
                                "settings[0] (a): unknown algorithm 'Foo'"),
    "suite unknown parameter": (["benchmark", "--suite", "{w}/s_param.yaml", "-o", "{w}/so"],
                                "WeightSparsity: unknown parameter 'levle'"),
    "suite algorithm twice": (["benchmark", "--suite", "{w}/s_twice.yaml", "-o", "{w}/so"],
                              "algorithm 'DefaultQuantization' is listed twice"),
    "suite unknown data label": (["benchmark", "--suite", "{w}/s_data.yaml", "-o", "{w}/so"],
                                 "uses data 'real', not among noise"),
    "suite settings not a list": (["benchmark", "--suite", "{w}/s_empty.yaml", "-o", "{w}/so"],
                                  "'settings' must be a non-empty list"),
    "suite unknown key": (["benchmark", "--suite", "{w}/s_key.yaml", "-o", "{w}/so"], "unknown key 'modle'"),
    "suite seconds -1": (["benchmark", "--suite", "{w}/s_seconds.yaml", "-o", "{w}/so"],
                         "seconds must be a number in [0, 86400], got -1"),
    "suite model missing": (["benchmark", "--suite", "{w}/s_model.yaml", "-o", "{w}/so"], "suite: model not found"),
    "suite file missing": (["benchmark", "--suite", "{w}/none.yaml", "-o", "{w}/so"], "suite file not found"),
    "suite with a model": (["benchmark", "--suite", "{w}/s_levels.yaml", "{w}/m.xml", "-o", "{w}/so"],
                           "--suite names its models and data itself"),
    "suite with --limit": (["benchmark", "--suite", "{w}/s_algo.yaml", "-o", "{w}/so", "--limit", "5"],
                           "--limit does not apply to a suite"),
    "suite without -o": (["benchmark", "--suite", "{w}/s_algo.yaml"], "--suite needs -o DIR"),
}


def snapshot(root: Path) -> dict:
    """Every path under root with the sha256 of its bytes (folders as None)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_at_least_110_cases():
    assert len(CASES) + len(API_CASES) >= 110


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, world, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    args, expected = CASES[case]
    before = snapshot(world)
    code = main(["-q", *(a.replace(W, str(world)) for a in args)])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, (code, captured.err)
    assert len(lines) == 1 and lines[0].startswith("ov-sparsity: error: "), captured.err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in captured.err
    assert snapshot(world) == before  # inputs unchanged; no output, no temporary folder


# --- the Python API: one exception type, OvSparsityError, whose message names the argument -------------------

def _api_model():
    return build("conv_bias_relu", 0, hw=32)


def _nan_weights():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    w[0, 0, 0, 0] = np.nan
    x = ops.parameter([1, 3, 32, 32], np.float32, name="input")
    c = ops.convolution(x, ops.constant(w), [1, 1], [0, 0], [0, 0], [1, 1])
    c.set_friendly_name("conv")
    return ov.Model([ops.reduce_mean(c, ops.constant(np.array([2, 3])), False)], [x], "nan")


def _x(shape=(1, 3, 32, 32), fill=None):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    if fill is not None:
        x.flat[5] = fill
    return x


def _sparsify(*args, **kwargs):
    from ov_sparsity import sparsify

    kwargs.setdefault("progress", False)
    return sparsify(*args, **kwargs)


def _qws(model, data, **kwargs):
    from ov_sparsity.nncf import quantize_with_sparsity

    return quantize_with_sparsity(model, data, progress=False, **kwargs)


def _nncf_algo(name, **params):
    import ov_sparsity.nncf as on

    return getattr(on, name)(**params)


M = _api_model
# id: (call taking the world folder, a piece of the message: the argument it names)
API_CASES = {
    "sparsify model None": (lambda w: _sparsify(None), "model must be an openvino.Model or the path of an IR"),
    "sparsify model a number": (lambda w: _sparsify(5), "model must be an openvino.Model"),
    "sparsify model path missing": (lambda w: _sparsify(str(w / "nope.xml")), "model file not found"),
    "sparsify model path not xml": (lambda w: _sparsify(w / "m.onnx"), "model must be an OpenVINO IR .xml"),
    "sparsify model NaN weights": (lambda w: _sparsify(_nan_weights()), "the model's weights hold NaN or infinity "
                                                                        "(layer conv)"),
    "sparsify quantized model": (lambda w: _sparsify(_quantized()), "the model is already quantized"),
    "sparsify no weighted ops": (lambda w: _sparsify(w / "relu.xml"), "no weighted ops"),
    "sparsify dataset a number": (lambda w: _sparsify(M(), 5), "dataset must be an nncf.Dataset or a list"),
    "sparsify dataset unknown source": (lambda w: _sparsify(M(), "fractals"),
                                        "dataset: unknown synthetic data source 'fractals'"),
    "sparsify dataset empty list": (lambda w: _sparsify(M(), []), "dataset is empty"),
    "sparsify dataset empty nncf.Dataset": (lambda w: _sparsify(M(), __import__("nncf").Dataset([])),
                                            "dataset is empty"),
    "sparsify dataset wrong size": (lambda w: _sparsify(M(), [_x((1, 3, 8, 8))]),
                                    "dataset item 0 has shape [1, 3, 8, 8]; the model input takes"),
    "sparsify dataset wrong channels": (lambda w: _sparsify(M(), [_x((1, 1, 32, 32))]),
                                        "dataset item 0 has shape [1, 1, 32, 32]"),
    "sparsify dataset wrong rank": (lambda w: _sparsify(M(), [_x((32, 32))]), "dataset item 0 has shape [32, 32]"),
    "sparsify dataset strings": (lambda w: _sparsify(M(), ["image.png"]), "dataset item 0 holds <U9 values"),
    "sparsify dataset ragged": (lambda w: _sparsify(M(), [[[1.0, 2.0], [3.0]]]), "dataset item 0 is not an array"),
    "sparsify dataset NaN": (lambda w: _sparsify(M(), [_x(), _x(), _x(fill=np.nan)]),
                             "dataset item 2 holds NaN or infinity"),
    "sparsify dataset inf": (lambda w: _sparsify(M(), [_x(fill=np.inf)]), "dataset item 0 holds NaN or infinity"),
    "sparsify dataset dict of two": (lambda w: _sparsify(M(), [{"a": _x(), "b": _x()}]),
                                     "dataset item 0 has no input 'input'"),
    "sparsify subset_size 0": (lambda w: _sparsify(M(), subset_size=0),
                               "subset_size must be an integer in [1, 10000000], got 0"),
    "sparsify subset_size float": (lambda w: _sparsify(M(), subset_size=2.5), "subset_size must be an integer"),
    "sparsify seed -1": (lambda w: _sparsify(M(), seed=-1), "seed must be an integer in [0, 4294967295], got -1"),
    "sparsify level 1.5": (lambda w: _sparsify(M(), sparsity_level=1.5),
                           "parameter 'sparsity_level' must be in [0.0, 1.0), got 1.5"),
    "sparsify level a string": (lambda w: _sparsify(M(), sparsity_level="0.5"),
                                "parameter 'sparsity_level' must be a finite number, got '0.5'"),
    "sparsify level NaN": (lambda w: _sparsify(M(), sparsity_level=float("nan")),
                           "parameter 'sparsity_level' must be a finite number"),
    "sparsify unknown keyword": (lambda w: _sparsify(M(), levle=0.5), "unknown parameter 'levle'"),
    "sparsify criterion unknown": (lambda w: _sparsify(M(), criterion="random"), "parameter 'criterion' must be"),
    "sparsify quantize not a bool": (lambda w: _sparsify(M(), quantize="yes"), "quantize must be True or False"),
    "sparsify ignored_scope a number": (lambda w: _sparsify(M(), ignored_scope=5), "ignored_scope must be a mapping"),
    "sparsify ignored_scope unknown layer": (lambda w: _sparsify(M(), ignored_scope=["conv9"]),
                                             "ignored scope names a layer that is not in the model: 'conv9'"),
    "sparsify preprocessing unknown": (lambda w: _sparsify(M(), "noise", preprocessing="foo"),
                                       "unknown preprocessing preset 'foo'"),
    "sparsify preprocessing scale 0": (lambda w: _sparsify(M(), "noise", preprocessing={"size": [32, 32], "scale": 0}),
                                       "preprocessing: scale must be a positive number, got 0"),
    "sparsify schedule steps 1000": (lambda w: _sparsify(M(), schedule={"steps": 1000}),
                                     "schedule: steps must be an integer in [1, 100], got 1000"),
    "quantize_with_sparsity model None": (lambda w: _qws(None, [_x()]), "model must be an openvino.Model"),
    "quantize_with_sparsity dataset None": (lambda w: _qws(M(), None), "calibration_dataset must be an nncf.Dataset"),
    "quantize_with_sparsity dataset wrong size": (lambda w: _qws(M(), [_x((1, 3, 8, 8))]),
                                                  "calibration_dataset item 0 has shape [1, 3, 8, 8]"),
    "quantize_with_sparsity dataset NaN": (lambda w: _qws(M(), [_x(), _x(fill=np.nan)]),
                                           "calibration_dataset item 1 holds NaN or infinity"),
    "quantize_with_sparsity dataset empty": (lambda w: _qws(M(), []), "calibration_dataset is empty"),
    "quantize_with_sparsity subset_size 0": (lambda w: _qws(M(), [_x()], subset_size=0),
                                             "subset_size must be an integer in [1, 10000000], got 0"),
    "quantize_with_sparsity level 2": (lambda w: _qws(M(), [_x()], sparsity_level=2.0),
                                       "parameter 'sparsity_level' must be in [0.0, 1.0), got 2.0"),
    "compress config None": (lambda w: __import__("ov_sparsity").compress(None, w / "o"),
                             "config must be a RunConfig, a POT-shaped dict or the path of a config file"),
    "compress config unknown key": (lambda w: __import__("ov_sparsity").compress({"modle": {}}, w / "o"),
                                    "config: unknown key 'modle'"),
    "sparsify distribution unknown": (lambda w: _sparsify(M(), distribution="local"),
                                      "parameter 'distribution' must be 'global' | 'uniform', got 'local'"),
    "sparsify dataset a generator": (lambda w: _sparsify(M(), (x for x in [_x()])),
                                     "dataset must be an nncf.Dataset or a list of model inputs, got generator"),
    "sparsify text model on fractals": (lambda w: _sparsify(w / "enc.xml", "fractal"),
                                        "dataset: unknown synthetic text source 'fractal'"),
    "sparsify text model preprocessing": (lambda w: _sparsify(w / "enc.xml", "zipf", preprocessing="imagenet"),
                                          "preprocessing does not apply to a text model"),
    "sparsify text model items without mask": (lambda w: _sparsify(w / "enc.xml", [
        {"input_ids": np.ones((1, 8), np.int64)}]), "dataset item 0 has no input 'attention_mask'"),
    "sparsify text model float ids": (lambda w: _sparsify(w / "enc.xml", [
        {k: np.ones((1, 8)) for k in ("input_ids", "attention_mask", "token_type_ids")}]),
        "holds floats; the model input takes int64 (token ids)"),
    "nncf WeightSparsity level 2": (lambda w: _nncf_algo("WeightSparsity", sparsity_level=2.0),
                                    "parameter 'sparsity_level' must be in [0.0, 1.0), got 2.0"),
    "nncf WeightSparsity subset_size 0": (lambda w: _nncf_algo("WeightSparsity", subset_size=0),
                                          "WeightSparsity: subset_size must be an integer in [1, 10000000]"),
    "nncf WeightSparsity unknown keyword": (lambda w: _nncf_algo("WeightSparsity", levle=1),
                                            "WeightSparsity: unknown parameter 'levle'"),
    "nncf UDFC prune_ratio 2": (lambda w: _nncf_algo("UDFC", prune_ratio=2.0), "parameter 'prune_ratio' must be in"),
    "nncf apply on None": (lambda w: _nncf_algo("WeightSparsity").apply(None, None),
                           "WeightSparsity.apply: model must be an openvino.Model, got NoneType"),
    "nncf apply dataset wrong size": (lambda w: _nncf_algo("WeightSparsity", progress=False).apply(
        M(), None, dataset=__import__("nncf").Dataset([_x((1, 3, 8, 8))])), "dataset item 0 has shape [1, 3, 8, 8]"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_input(case, world, monkeypatch, tmp_path):
    from ov_sparsity import OvSparsityError

    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    call, expected = API_CASES[case]
    before = snapshot(world)
    with pytest.raises(OvSparsityError) as info:
        call(world)
    message = str(info.value)
    assert expected in message and "\n" not in message, message
    assert snapshot(world) == before


def test_unbatched_items_are_samples_not_channels(world):
    """NNCF's examples pass [1, C, H, W]; a user may pass [C, H, W]: the same samples either way."""
    import nncf

    batched = [_x() for _ in range(8)]
    a = _sparsify(M(), nncf.Dataset(batched), 0.5, recovery="none")
    b = _sparsify(M(), nncf.Dataset([x[0] for x in batched]), 0.5, recovery="none")
    c = _sparsify(M(), [np.concatenate(batched[:4]), np.concatenate(batched[4:])], 0.5, recovery="none")
    from ov_sparsity.graph import find_weighted_ops

    for other in (b, c):
        for x, y in zip(find_weighted_ops(a), find_weighted_ops(other)):
            np.testing.assert_array_equal(x.weight(), y.weight())


def test_sparsify_takes_a_path(world):
    from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity

    model = _sparsify(str(world / "m.xml"), "noise", 0.5, subset_size=8)
    assert 0.49 < global_sparsity(layer_sparsity(model)) < 0.51


def test_non_finite_weights_are_never_handed_back(world):
    """The last guard before a model is returned or saved: whatever produced them, NaN weights are refused."""
    from ov_sparsity import OvSparsityError
    from ov_sparsity.algorithms import Pipeline
    from ov_sparsity.algorithms.base import Algorithm
    from ov_sparsity.graph import find_weighted_ops
    from ov_sparsity.graph.edits import SetWeight, apply_commands

    class Poison(Algorithm):
        name = "Poison"

        def __init__(self):
            self.params = None

        def apply(self, model, ctx):
            op = find_weighted_ops(model)[0]
            return apply_commands(model, [SetWeight(op.name, np.full_like(op.weight(), np.nan))])

    with pytest.raises(OvSparsityError, match=r"compression gave non-finite weights \(layer "):
        Pipeline([Poison()]).run(M(), None, progress=False)


def test_output_in_the_model_folder_from_inside_it(world, capsys, monkeypatch):
    monkeypatch.chdir(world)
    before = snapshot(world)
    assert main(["-q", "compress", "m.xml", "-o", ".", "--data", "noise"]) == 2
    assert main(["-q", "compress", "m.xml", "-o", "..", "--data", "noise"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("refusing to write into" in line for line in err)
    assert snapshot(world) == before


@pytest.mark.parametrize("case", ["corrupt xml", "seed -1", "output is a user folder", "report of a list"])
def test_bad_input_in_a_real_process(case, world):
    args, expected = CASES[case]
    proc = subprocess.run([sys.executable, "-m", "ov_sparsity.cli", "-q", *(a.replace(W, str(world)) for a in args)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and expected in proc.stderr


def test_previous_output_is_replaced_and_marked(world, tmp_path, capsys):
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces the first one's folder
        assert main(["-q", "compress", str(world / "m.xml"), "-o", str(out), "--data", "noise",
                     "--subset-size", "4"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".ov-sparsity", "model.bin", "model.xml", "report.html",
                                                      "report.json"]
    assert (out.stat().st_mode & 0o777) == (0o777 & ~_umask())
    (out / "notes.txt").write_text("mine")  # a user's file in it: no longer ours to replace
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(out), "--data", "noise"]) == 2
    assert "holds files this tool did not write" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(empty), "--data", "noise",
                 "--subset-size", "4"]) == 0
    long_name = tmp_path / ("b" * 250)  # a legal name stays legal: temporary names do not grow from it
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(long_name), "--data", "noise",
                 "--subset-size", "4"]) == 0
    assert (long_name / "model.xml").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ovs-")]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    from ov_sparsity.data.preprocess import to_rgb

    grey = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as img:
        rgb = np.asarray(to_rgb(img))
    np.testing.assert_allclose(rgb[..., 0], grey / 257.0, atol=0.51)
    assert (rgb == 255).mean() < 0.01


def test_corrupt_png_in_the_fractal_cache_is_regenerated(tmp_path, monkeypatch):
    from ov_sparsity.data.fractals import FractalOptions, generate_images

    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    fast = FractalOptions(search_points=20_000, search_canvas=256, render_points=8_000)
    first = generate_images(3, 32, seed=1, options=fast, workers=1, progress=False)
    (png,) = [p for p in (tmp_path / "cache").rglob("00001.png")]
    png.write_bytes(b"\x89PNG broken")
    np.testing.assert_array_equal(generate_images(3, 32, seed=1, options=fast, workers=1, progress=False), first)
    with Image.open(png) as img:  # and the cache is mended
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), first[1])


# --- Ctrl-C -------------------------------------------------------------------------------------------------


def _processes_mentioning(text: str) -> list:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(pid))
    return found


def _ctrl_c_delivered() -> None:
    """In the child: SIGINT back to its default, as in a terminal (a shell's background job starts with it
    ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_after(args: list, ready: str, tmp_path: Path, env: dict) -> tuple:
    """Start the CLI, wait until stderr shows `ready` (progress bars end in \\r, not \\n: read what is
    there), let it work a moment, send SIGINT; (exit code, seconds to exit, stderr)."""
    import select

    proc = subprocess.Popen([sys.executable, "-m", "ov_sparsity.cli", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=env, cwd=tmp_path, preexec_fn=_ctrl_c_delivered)
    seen = b""
    deadline = time.time() + 120
    try:
        while time.time() < deadline and ready.encode() not in seen and proc.poll() is None:
            if select.select([proc.stderr], [], [], 0.2)[0]:
                seen += os.read(proc.stderr.fileno(), 65536)
        time.sleep(1.0)
        assert proc.poll() is None, "the run ended before it could be interrupted: " + seen.decode()
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
        return proc.returncode, time.time() - t0, (seen + rest).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("kind", ["compress", "fractals"])
def test_ctrl_c_exits_130_quickly_and_leaves_nothing(kind, world, tmp_path):
    env = {**os.environ, "OV_SPARSITY_CACHE": str(tmp_path / "cache"), "OV_SPARSITY_PROGRESS": "1"}
    marker = f"interrupt-{kind}-{os.getpid()}"
    out = tmp_path / marker
    if kind == "compress":
        args = ["compress", str(world / "m.xml"), "-o", str(out), "--data", "noise", "--subset-size", "3000",
                "--tune", "lstsq", "--schedule-steps", "8", "--int8"]
        ready = "compressing"
    else:
        args = ["fractals", "generate", "-n", "3000", "--size", "224", "--workers", "2", "-o", str(out)]
        ready = "fractals:"
    code, seconds, err = _interrupt_after(args, ready, tmp_path, env)
    assert code == 130, err
    assert seconds < 10
    assert err.rstrip().split("\n")[-1].split("\r")[-1].endswith("ov-sparsity: interrupted"), err[-500:]
    assert "Traceback" not in err
    time.sleep(0.5)
    assert _processes_mentioning(marker) == []  # no orphaned workers
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ovs-")]


def test_extreme_prune_ratio_is_damped_not_singular(world, tmp_path, monkeypatch, capsys):
    """--prune-ratio 0.99 keeps one channel per layer, whose signal may be dead after ReLU:
    the reconstruction is damped (or solved by least squares), never a LinAlgError."""
    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "u"
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(out), "--udfc", "--prune-ratio", "0.99",
                 "--subset-size", "8"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["algorithm_reports"]["UDFC"]["channels_removed"] == 7 + 15 + 15
    compiled = ov.Core().compile_model(str(out / "model.xml"), "CPU")
    result = compiled(np.ones((1, 3, 32, 32), np.float32))[0]
    assert np.isfinite(result).all()


# --- runs that must not destroy files, write what strict readers reject, or hang ---------------------------


def _zoo_and_compress(w: Path) -> None:
    """A zoo export (random ResNet-20 weights) and a 70%-sparse compress output made from it."""
    import torch

    from ov_sparsity.zoo.resnet_cifar import build as build_resnet

    torch.manual_seed(0)
    net = build_resnet("resnet20_cifar10")
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, w / "r20.th")
    assert main(["-q", "zoo", "export", "resnet20_cifar10", "--weights", str(w / "r20.th"), "-o",
                 str(w / "r20.xml")]) == 0
    assert main(["-q", "compress", str(w / "r20.xml"), "-o", str(w / "A"), "--sparsity", "0.7", "--fast",
                 "--data", "noise", "--subset-size", "4"]) == 0


def _recommender(recorded: str, users: int = 3, items: int = 4):
    """A tiny NeuMF-shaped IR (user/item inputs, one embedding table each) with `recorded` as its rt_info."""
    rng = np.random.default_rng(0)
    u = ops.parameter([-1], np.int64, name="user")
    i = ops.parameter([-1], np.int64, name="item")
    axis = ops.constant(np.int64(0))
    eu = ops.gather(ops.constant(rng.standard_normal((users, 8)).astype(np.float32)), u, axis)
    ei = ops.gather(ops.constant(rng.standard_normal((items, 8)).astype(np.float32)), i, axis)
    out = ops.matmul(ops.multiply(eu, ei), ops.constant(rng.standard_normal((8, 1)).astype(np.float32)), False, False)
    model = ov.Model([out], [u, i], "ncf")
    model.set_rt_info(recorded, ["ov_sparsity", "recommender"])
    return model


def _detection_world(w: Path) -> None:
    save(build("tiny_detector"), w / "det.xml")
    (w / "photos").mkdir()
    Image.new("RGB", (24, 20), (9, 90, 9)).save(w / "photos" / "p0.png")
    image = '{"id": 1, "file_name": "p0.png"}'
    box = '{"id": 1, "image_id": 1, "category_id": 1, "bbox": %s, "area": 4}'
    for name, images, boxes in (("neg", image, box % "[1, 1, -2, 2]"), ("nanbox", image, box % "[1, 1, NaN, 2]"),
                                ("nofile", '{"id": 1}', box % "[1, 1, 2, 2]"),
                                ("nobbox", image, '{"id": 1, "image_id": 1, "category_id": 1, "area": 4}'),
                                ("noarea", image, '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}'),
                                ("strings", '"p0.png"', box % "[1, 1, 2, 2]")):
        (w / f"ann_{name}.json").write_text('{"images": [%s], "annotations": [%s]}' % (images, boxes))


def _deep_and_odd_files(w: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    (w / "deep.json").write_text(deep)
    (w / "deep_obj.json").write_text('{"images": %s, "annotations": []}' % deep)
    (w / "w_string.json").write_text('{"algorithm_reports": {"ChannelPruning": "conv1"}}')
    os.mkfifo(w / "fifo.xml")
    (w / "fifo.bin").write_bytes(b"")
    (w / "ratings.inter").write_text("u0 i0\nu1 i1\nu2 i2\n")
    good = json.dumps({"ratings": str(w / "ratings.inter"), "users": ["u0", "u1", "u2"],
                       "items": ["i0", "i1", "i2", "i3"]})
    for name, recorded in (("rec_json", "{not json"), ("rec_nousers", '{"ratings": "r", "items": []}'),
                           ("rec_types", '{"ratings": "r", "users": 5, "items": []}'),
                           ("rec_beyond", good.replace('"u2"]', '"u2", "u3", "u4"]')), ("rec_ok", good)):
        save(_recommender(recorded), w / f"{name}.xml")


@pytest.fixture(scope="module")
def files_world(tmp_path_factory):
    w = tmp_path_factory.mktemp("files")
    _zoo_and_compress(w)
    _detection_world(w)
    _deep_and_odd_files(w)
    user = w / "userbench"  # a user's own results folder: folders named data/models prove nothing
    for name in ("data", "models"):
        (user / name).mkdir(parents=True)
        (user / name / "keep.txt").write_text(name)
    (user / "results.json").write_text('{"mine": true}\n')
    save(build("conv_bias_relu", 0, hw=32), w / "m.xml")
    _images(w / "imgs", 4)
    (w / "widths.json").write_text('{"conv1": 4}')
    return w


DET = ["eval", "{w}/det.xml", "--task", "detection", "--data", "{w}/photos", "--channels", "BGR", "--annotations"]
FILE_CASES = {
    "udfc --fast adds no weight sparsity": (["compress", "{w}/m.xml", "-o", "{w}/o", "--udfc", "--fast"],
                                            "--fast sets how weights are pruned, but this run removes channels"),
    "widths --fast adds no weight sparsity": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths",
                                               "{w}/widths.json", "--fast"], "--fast sets how weights are pruned"),
    "scale 1e-30": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "noise", "--scale", "1e-30"],
                    "scale must lie in [0.001, 100000]"),
    "recovery minutes with recovery none": (["compress", "{w}/m.xml", "-o", "{w}/o", "--recovery", "none",
                                             "--recovery-minutes", "2"], "--recovery-minutes caps a recovery"),
    "annotations: negative box": ([*DET, "{w}/ann_neg.json"], "annotations[0].bbox: Value error, width and height"),
    "annotations: NaN box": ([*DET, "{w}/ann_nanbox.json"], "annotations[0].bbox: Value error, must be 4 finite"),
    "annotations: no file_name": ([*DET, "{w}/ann_nofile.json"], "images[0].file_name: Field required"),
    "annotations: no bbox": ([*DET, "{w}/ann_nobbox.json"], "annotations[0].bbox: Field required"),
    "annotations: no area": ([*DET, "{w}/ann_noarea.json"], "annotations[0].area: Field required"),
    "annotations: a string for an image": ([*DET, "{w}/ann_strings.json"], "images[0]: Input should be a valid"),
    "annotations: /dev/zero": ([*DET, "/dev/zero"], "/dev/zero is a device, not a regular file"),
    "annotations: nested 5,000 deep": ([*DET, "{w}/deep_obj.json"], "JSON nested deeper than 100 levels"),
    "widths: nested 5,000 deep": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/deep.json"],
                                  "JSON nested deeper than 100 levels"),
    "widths: a string per group": (["compress", "{w}/m.xml", "-o", "{w}/o", "--widths", "{w}/w_string.json"],
                                   "is a report.json without ChannelPruning widths"),
    "preprocess nested 5,000 deep": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "noise", "--preprocess",
                                      '{"size": ' + "[" * 5000 + "]" * 5000 + "}"], "nested deeper than 100"),
    "model .xml is a FIFO": (["compress", "{w}/fifo.xml", "-o", "{w}/o", "--data", "noise"],
                             "fifo.xml is a FIFO, not a regular file"),
    "interactions: /dev/zero": (["compress", "{w}/rec_ok.xml", "-o", "{w}/o", "--sparsity", "0.5", "--data",
                                 "/dev/zero"], "/dev/zero is a device, not a regular file"),
    "recommender: recorded JSON malformed": (["compress", "{w}/rec_json.xml", "-o", "{w}/o", "--data", "ratings"],
                                             "recorded interactions (rt_info ov_sparsity/recommender): not valid"),
    "recommender: recorded without users": (["compress", "{w}/rec_nousers.xml", "-o", "{w}/o", "--data",
                                             "ratings"], "users: Field required"),
    "recommender: recorded users of a wrong type": (["compress", "{w}/rec_types.xml", "-o", "{w}/o", "--data",
                                                     "ratings"], "users: Input should be a valid list"),
    "recommender: users beyond the table": (["compress", "{w}/rec_beyond.xml", "-o", "{w}/o", "--data", "ratings"],
                                            "names 5 users, but the model's user embedding tables have 3 rows"),
    "zoo export over a compress output": (["zoo", "export", "resnet20_cifar10", "--weights", "{w}/r20.th", "-o",
                                           "{w}/A/model.xml"], "refusing to overwrite"),
    "benchmark into a user's results folder": (["benchmark", "{w}/m.xml", "--seconds", "0", "-o", "{w}/userbench"],
                                               "refusing to overwrite"),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_a_run_never_replaces_what_it_did_not_write(case, files_world, capsys):
    args, expected = FILE_CASES[case]
    before = snapshot(files_world)
    code = main(["-q", *(a.replace(W, str(files_world)) for a in args)])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], lines
    assert snapshot(files_world) == before  # the 70% model, its report and the user's files as they were


def test_zoo_export_replaces_its_own_export(files_world, tmp_path):
    out = tmp_path / "r.xml"
    for _ in range(2):
        assert main(["-q", "zoo", "export", "resnet20_cifar10", "--weights", str(files_world / "r20.th"), "-o",
                     str(out)]) == 0
    with open(out.with_suffix(".bin"), "r+b") as f:  # weights edited since: no longer the export we wrote
        f.write(b"\0\0\0\0")
    assert main(["-q", "zoo", "export", "resnet20_cifar10", "--weights", str(files_world / "r20.th"), "-o",
                 str(out)]) == 2


def _strict_report(w: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["-q", "compress", str(w / "m.xml"), "-o", str(out), "--widths", str(w / "widths.json"), "--data",
                 str(w / "imgs"), "--subset-size", "8", "--preprocess", "cifar10"]) == 0

    def refuse(token):
        raise AssertionError(f"bare {token} in report.json")

    report = json.loads((out / "report.json").read_text(), parse_constant=refuse)
    recovery = report["algorithm_reports"]["ChannelPruning"]["recovery"]
    assert recovery["applied"] is False and "none to hold out" in recovery["skipped"]


def _ncf_one_user_rated_all(w: Path, tmp_path: Path) -> None:
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"u0\ti{i}\t4\t{i}" for i in range(12)]  # u0 rated every item
    lines += [f"u{u}\ti{(u * 5 + k) % 12}\t4\t{k}" for u in range(1, 9) for k in range(4)]
    (tmp_path / "all.inter").write_text("\n".join(lines) + "\n")
    script = (f"import sys; from ov_sparsity.cli import main; xml = {str(tmp_path / 'n.xml')!r}; "
              f"sys.exit(main(['-q', 'zoo', 'export', 'ncf_movielens100k', '--weights', "
              f"{str(tmp_path / 'all.inter')!r}, '-o', xml]) or main(['-q', 'compress', xml, '-o', "
              f"{str(tmp_path / 'c')!r}, '--sparsity', '0.5', '--data', {str(tmp_path / 'all.inter')!r}]) or "
              f"main(['-q', 'eval', xml]))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "c" / "model.xml").is_file()


def _nncf_names(w: Path, tmp_path: Path) -> None:
    import importlib

    for package in ("ov_sparsity", "ov_sparsity.nncf"):
        module = importlib.import_module(package)
        for name in module.__all__:
            exec(f"from {package} import {name}", {})  # noqa: S102 - our own names, the way a user imports them


HAZARDS = {
    "report.json strict JSON with too few samples to hold out": _strict_report,
    "recommender: a user rated every item": _ncf_one_user_rated_all,
    "every name in __all__ imports": _nncf_names,
}


@pytest.mark.parametrize("case", list(HAZARDS))
def test_runs_end_well(case, files_world, tmp_path, monkeypatch):
    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    HAZARDS[case](files_world, tmp_path)


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0])
def test_ctrl_c_while_the_modules_load(delay, tmp_path):
    env = {**os.environ, "OV_SPARSITY_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "ov_sparsity", "compress", str(tmp_path / "m.xml"), "-o",
                             str(tmp_path / "o"), "--data", "noise"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=env, start_new_session=True,
                            preexec_fn=_ctrl_c_delivered)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends it: to the whole process group
    err = proc.communicate(timeout=60)[1].decode(errors="replace")
    assert "Traceback" not in err, err
    if proc.returncode != 2:  # not already finished with 'model file not found'
        assert proc.returncode == 130 and err.strip() == "ov-sparsity: interrupted", (proc.returncode, err)


def test_kill_9_leaves_nothing_the_next_run_keeps(tmp_path):
    """A run killed outright leaves its temporary folder; the next run to the same -o removes it, and a
    folder a live run owns (this process) is left alone."""
    from ov_sparsity.outputs import temp_dir

    env = {**os.environ, "OV_SPARSITY_CACHE": str(tmp_path / "cache"), "OV_SPARSITY_PROGRESS": "1"}
    out = tmp_path / "f"
    args = [sys.executable, "-m", "ov_sparsity", "fractals", "generate", "-n", "2000", "--size", "64", "--workers",
            "1", "-o", str(out)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".ovs-tmp-*/fractal_*.png")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".ovs-")]
    assert len(left) == 1, left
    live = temp_dir(tmp_path)  # a live run's (ours)
    assert main(["-q", "fractals", "generate", "-n", "2", "--size", "32", "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ovs-")) == [live.name]
    assert len(list(out.glob("fractal_*.png"))) == 2


# --- files that would run code: refused before anything runs ------------------------------------------------


class _Payload:
    """Unpickling this creates `path`: proof that a loader ran code from the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _evil_checkpoints(w: Path) -> dict:
    import pickle

    import torch

    from ov_sparsity.zoo.resnet_cifar import build as build_resnet

    state = {"module." + k: v for k, v in build_resnet("resnet20_cifar10").state_dict().items()}
    files = {}
    for name, write in (
            ("zip", lambda p, obj: torch.save(obj, p)),
            ("legacy", lambda p, obj: torch.save(obj, p, _use_new_zipfile_serialization=False)),
            ("pickle", lambda p, obj: p.write_bytes(pickle.dumps(obj)))):
        marker = w / f"ran-{name}"
        write(w / f"evil_{name}.th", {"state_dict": state, "epoch": 3, "extra": _Payload(marker)})
        files[name] = (w / f"evil_{name}.th", marker)
    return files


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    w = tmp_path_factory.mktemp("evil")
    return w, _evil_checkpoints(w)


@pytest.mark.parametrize("kind", ["zip", "legacy", "pickle"])
def test_a_checkpoint_that_would_run_code_is_refused(kind, evil, capsys, tmp_path):
    w, files = evil
    path, marker = files[kind]
    assert main(["zoo", "export", "resnet20_cifar10", "--weights", str(path), "-o", str(tmp_path / "r.xml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "refusing to load weights file" in err[0] and "would run code" in err[0], err
    assert not marker.exists() and not (tmp_path / "r.xml").exists()
    from ov_sparsity import OvSparsityError
    from ov_sparsity.zoo import export

    with pytest.raises(OvSparsityError, match="refusing to load weights file"):
        export("resnet20_cifar10", path, tmp_path / "api.xml")
    assert not marker.exists()


def test_a_suite_naming_such_a_checkpoint_runs_nothing(evil, capsys, tmp_path):
    w, files = evil
    path, marker = files["zip"]
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: t\nmodel: {{zoo: resnet20_cifar10, weights: {path}}}\npreprocess: cifar10\n"
                     "data: {noise: noise}\nseconds: 0\nsettings:\n- {label: a, levels: [0.5], algorithms: "
                     "[{name: MagnitudeSparsity}]}\n")
    assert main(["-q", "benchmark", "--suite", str(suite), "-o", str(tmp_path / "so")]) == 2
    assert "refusing to load weights file" in capsys.readouterr().err
    assert not marker.exists()


def test_a_real_checkpoint_still_loads(evil, tmp_path):
    """What the CIFAR .th files hold (a dict with state_dict and a few numbers) loads as before."""
    import torch

    from ov_sparsity.zoo.resnet_cifar import build as build_resnet

    state = {"module." + k: v for k, v in build_resnet("resnet20_cifar10").state_dict().items()}
    torch.save({"state_dict": state, "best_prec1": 91.7}, tmp_path / "ok.th")
    assert main(["-q", "zoo", "export", "resnet20_cifar10", "--weights", str(tmp_path / "ok.th"), "-o",
                 str(tmp_path / "ok.xml")]) == 0


# --- a full disk, links and stale temporaries -----------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KB tmpfs (root can mount one; elsewhere the test is skipped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_is_one_line_and_leaves_nothing(small_disk, files_world, capsys):
    (small_disk / "filler").write_bytes(b"\0" * (200 << 10))
    before = snapshot(files_world)
    runs = [["compress", str(files_world / "r20.xml"), "-o", str(small_disk / "c"), "--sparsity", "0.5", "--fast",
             "--data", "noise", "--subset-size", "4"],
            ["zoo", "export", "resnet20_cifar10", "--weights", str(files_world / "r20.th"), "-o",
             str(small_disk / "z.xml")],
            ["fractals", "generate", "-n", "200", "--size", "64", "--workers", "1", "-o", str(small_disk / "f")],
            ["benchmark", str(files_world / "r20.xml"), "--seconds", "0", "-o", str(small_disk / "b")]]
    (small_disk / "filler").unlink()
    (small_disk / "filler").write_bytes(b"\0" * (290 << 10))  # about 10 KB left: every output is larger
    for args in runs:
        code = main(["-q", *args])
        err = capsys.readouterr().err.splitlines()
        assert code == 2 and len(err) == 1 and "No space left on device" in err[0], (args[0], err)
        assert sorted(p.name for p in small_disk.iterdir()) == ["filler"], (args[0], list(small_disk.iterdir()))
    assert snapshot(files_world) == before


def test_replacing_an_output_through_a_link_leaves_nothing_beside_it(files_world, tmp_path):
    real = tmp_path / "real"
    args = ["-q", "compress", str(files_world / "m.xml"), "--data", "noise", "--subset-size", "4"]
    assert main([*args, "-o", str(real)]) == 0
    link = tmp_path / "link"
    link.symlink_to(real)
    assert main([*args, "-o", str(link), "--sparsity", "0.3"]) == 0
    assert link.is_symlink() and (link / "report.json").is_file()
    assert json.loads((real / "report.json").read_text())["algorithms"][0]["params"]["sparsity_level"] == 0.3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
