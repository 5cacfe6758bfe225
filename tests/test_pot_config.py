"""POT's configs as POT wrote them: the relaxed JSON dialect, engine.config pointing at an
Accuracy Checker YAML, POT's keys and placeholders."""

import json

import numpy as np
import pytest
from PIL import Image

from ov_sparsity import OvSparsityError
from ov_sparsity.algorithms import Pipeline, create_algorithm
from ov_sparsity.algorithms.weight_sparsity import first_convolutions
from ov_sparsity.api import build_dataset, build_eval_dataset
from ov_sparsity.cli import main
from ov_sparsity.config import load_config
from ov_sparsity.graph.model_io import read_model
from ov_sparsity.graph.sparsity import layer_sparsity
from tests.conftest import random_inputs, shared_or_skip

AC_YAML = """
models:
  - name: tiny
    launchers: [{{framework: openvino, adapter: classification}}]
    datasets:
      - name: tiny_images
        data_source: {data}
{reader}        annotation_conversion:
          converter: imagenet
          annotation_file: {annotation}
        preprocessing:
          - type: resize
            dst_width: 16
            dst_height: 16
{swap}          - type: normalization
            mean: (10, 20, 30)
            std: [2, 4, 8]
        metrics: [{{type: accuracy, top_k: 1}}]
"""

POT_JSON = """/* POT's sparsity sample, paths filled in */
{
  "model": {"model_name": "tiny", "model": "%(model)s", "weights": "%(weights)s",},
  "engine": {"config": "%(ac)s", "stat_requests_number": 2,},  // the AC YAML
  "compression": {
    "target_device": "ANY",
    "algorithms": [
      {"name": "WeightSparsity", "params": {"sparsity_level": 0.5, "stat_subset_size": 300,
                                            "ignored": {"scope": []},}},
      {"name": "DefaultQuantization", "params": {"preset": "%(preset)s", "stat_subset_size": 300,}},
    ],
  },
}
"""


def _annotation(tmp_path, image_folder):
    lines = [f"{d.name}/{f.name} {label}" for label, d in enumerate(sorted(image_folder.iterdir()))
             for f in sorted(d.iterdir())]
    (tmp_path / "val.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "val.txt"


def _ac(tmp_path, image_folder, reader="", swap=""):
    ann = _annotation(tmp_path, image_folder)
    path = tmp_path / "ac.yml"
    path.write_text(AC_YAML.format(data=image_folder, annotation=ann.name, reader=reader, swap=swap))
    return path


def _engine_config(tmp_path, ac):
    cfg = tmp_path / "pot.json"
    cfg.write_text(json.dumps({"model": {"model": "m.xml"}, "engine": {"config": str(ac)}}))
    return load_config(cfg)


def _first_image(image_folder, order):
    with Image.open(sorted((image_folder / "cat").iterdir())[0]) as img:
        x = np.asarray(img.convert("RGB").resize((16, 16), Image.BILINEAR), np.float32)
    return x[..., ::-1] if order == "BGR" else x


@pytest.mark.parametrize("reader, swap, order, mean", [
    ("", "", "BGR", (10, 20, 30)),  # AC's default reader (OpenCV) gives BGR; mean/std in that order
    ("        reader: pillow_imread\n", "", "RGB", (10, 20, 30)),
    ("", "          - type: bgr_to_rgb\n", "RGB", (10, 20, 30)),
])
def test_accuracy_checker_preprocessing_matches_ac_semantics(tmp_path, image_folder, model_xml, reader, swap,
                                                             order, mean):
    config = _engine_config(tmp_path, _ac(tmp_path, image_folder, reader, swap))
    model = read_model(model_xml("conv_bias_relu", hw=16))
    data = build_dataset(config.engine, model, progress=False)
    expected = (_first_image(image_folder, order) - np.float32(mean)) / np.float32([2, 4, 8])
    x, label = data[0]  # 24 images < the 300 of a subset: the folder in annotation order
    np.testing.assert_allclose(x, expected.transpose(2, 0, 1), atol=1e-5)
    assert label == 0
    labels = sorted(label for _, label in build_eval_dataset(config.engine, model).files)
    assert labels == sorted([0, 1, 2, 3] * 6)  # the annotation's labels serve evaluation, as in POT


def test_normalised_then_swapped_keeps_each_channel_its_mean(tmp_path, image_folder, model_xml):
    path = _ac(tmp_path, image_folder)  # BGR normalisation, then a swap after it
    text = path.read_text().replace("        metrics:", "          - type: bgr_to_rgb\n        metrics:")
    path.write_text(text)
    pre = _engine_config(tmp_path, path).engine.preprocessing
    assert pre["channels"] == "RGB" and pre["mean"] == (30.0, 20.0, 10.0) and pre["std"] == (8.0, 4.0, 2.0)


@pytest.mark.parametrize("edit, message", [
    (("type: normalization", "type: flip"), "preprocessing step 1 'flip' is not supported"),
    (("converter: imagenet", "converter: voc_detection"), "annotation converter 'voc_detection' is not supported"),
    (("dst_width: 16\n            dst_height: 16", "size: 16\n            aspect_ratio_scale: fit_to_window"),
     "fit_to_window needs a padding step"),
    (("dst_width: 16\n            dst_height: 16", "size: 16\n            aspect_ratio_scale: height"),
     "aspect_ratio_scale 'height' is not supported"),
])
def test_unsupported_ac_parts_are_named(tmp_path, image_folder, edit, message):
    path = _ac(tmp_path, image_folder)
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(OvSparsityError, match=message):
        _engine_config(tmp_path, path)


def test_greater_aspect_ratio_scale_resizes_the_shorter_side(tmp_path, image_folder):
    path = _ac(tmp_path, image_folder)
    path.write_text(path.read_text().replace("dst_width: 16\n            dst_height: 16",
                                             "size: 256\n            aspect_ratio_scale: greater\n"
                                             "          - type: crop\n            size: 224"))
    pre = _engine_config(tmp_path, path).engine.preprocessing
    assert pre["resize"] == 256 and pre["crop"] == 224 and "size" not in pre


@pytest.mark.parametrize("where, text", [
    ("model.model", '{"model": {"model": "<MODEL_PATH>"}}'),
    ("engine.config", '{"model": {"model": "m.xml"}, "engine": {"config": "<CONFIG_PATH>"}}'),
])
def test_placeholders_name_the_key_to_fill(tmp_path, where, text):
    cfg = tmp_path / "c.json"
    cfg.write_text(text)
    with pytest.raises(OvSparsityError, match=rf"fill in '{where}': it still holds the placeholder <"):
        load_config(cfg)


@pytest.mark.parametrize("preset", ["performance", "mixed", "accuracy"])
def test_pot_json_with_engine_config_runs_unchanged(tmp_path, image_folder, model_xml, preset):
    xml = model_xml("conv_bias_relu", hw=16)
    ac = _ac(tmp_path, image_folder)
    cfg = tmp_path / "pot.json"
    cfg.write_text(POT_JSON % {"model": xml, "weights": xml.with_suffix(".bin"), "ac": ac, "preset": preset})
    out = tmp_path / "out"
    assert main(["-q", "compress", "-c", str(cfg), "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert abs(report["global_sparsity"] - 0.5) <= 1 / report["weights"]
    assert report["algorithm_reports"]["DefaultQuantization"]["zeros_lost"] == 0


def test_pot_config_on_cifar10_folders(tmp_path):
    """A POT config in its own dialect + an AC YAML for the CIFAR-10 JPEG folders of ../shared."""
    calib = shared_or_skip("data", "cifar10", "calib")
    weights = shared_or_skip("models", "cifar10", "resnet20-12fca82f.th")
    xml = tmp_path / "resnet20.xml"
    assert main(["-q", "zoo", "export", "resnet20_cifar10", "--weights", str(weights), "-o", str(xml)]) == 0
    (tmp_path / "ac.yml").write_text(f"""
datasets:
  - name: cifar10_calib
    data_source: {calib}
    reader: pillow_imread
    preprocessing:
      - type: normalization
        mean: (123.675, 116.28, 103.53)
        std: (58.395, 57.12, 57.375)
""")
    (tmp_path / "pot.json").write_text(f"""{{
  // ResNet-20, 50% sparse
  "model": {{"model_name": "resnet20", "model": "{xml}", "weights": "{xml.with_suffix('.bin')}",}},
  "engine": {{"config": "{tmp_path / 'ac.yml'}",}},
  "compression": {{"algorithms": [{{"name": "WeightSparsity",
                                  "params": {{"sparsity_level": 0.5, "stat_subset_size": 64,}}}},],}},
}}""")
    assert main(["-q", "compress", "-c", str(tmp_path / "pot.json"), "-o", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert abs(report["global_sparsity"] - 0.5) < 1e-3  # dead inputs may add a few


@pytest.mark.parametrize("apply_all", [False, True])
def test_apply_for_all_nodes_keeps_pots_meaning(model_xml, apply_all):
    model = read_model(model_xml("residual"))
    algo = create_algorithm("WeightSparsity", {"sparsity_level": 0.5, "apply_for_all_nodes": apply_all,
                                               "stat_subset_size": 16})
    assert algo.params.num_samples == 16  # POT's stat_subset_size: the samples for statistics
    firsts = first_convolutions(model)
    assert len(firsts) == 1
    out = Pipeline([algo]).run(model, random_inputs(model, n=16), progress=False).model
    levels = {layer["name"]: layer["sparsity"] for layer in layer_sparsity(out)}
    assert (levels[firsts[0]] == 0.0) is (not apply_all)
    assert abs(algo.params.sparsity_level - 0.5) < 1e-9
