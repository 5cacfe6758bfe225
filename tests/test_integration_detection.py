"""FastestDet from ../shared (skipped without it): the issue's failing POT config + Accuracy Checker YAML now
compresses (the IR pins batch 1 in its Reshape constants), and eval --task detection scores it."""

import json

from ov_sparsity.cli import main
from tests.conftest import shared_or_skip


def test_fastestdet_pot_config_with_accuracy_checker_yaml(tmp_path, capsys):
    xml = shared_or_skip("models", "detection", "fastestdet_coco80.xml")
    photos = shared_or_skip("data", "imagenet-unlabelled")
    ac = tmp_path / "ac.yml"
    ac.write_text(f"models:\n  - name: fastestdet\n    launchers: [{{framework: openvino}}]\n    datasets:\n"
                  f"      - name: photos\n        data_source: {photos}\n        preprocessing:\n"
                  "          - {type: resize, size: 352}\n          - {type: normalization, std: 255}\n")
    config = tmp_path / "pot.json"
    config.write_text(json.dumps({"model": {"model_name": "fastestdet", "model": str(xml)},
                                  "engine": {"config": str(ac)},
                                  "compression": {"algorithms": [{"name": "WeightSparsity",
                                                                  "params": {"sparsity_level": 0.1}}]}}))
    out = tmp_path / "out"
    assert main(["-q", "compress", "-c", str(config), "-o", str(out), "--subset-size", "16", "--recovery", "none",
                 "--int8"]) == 0
    capsys.readouterr()
    val = shared_or_skip("data", "imagenet-val227")
    assert main(["-q", "eval", str(out / "model.xml"), "--task", "detection", "--data", str(val), "--limit", "40",
                 "--channels", "BGR", "--reference", str(xml), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decoder"] == "fastestdet" and result["images"] == 40 and result["reference_boxes"] > 40
    assert 0.5 < result["reference_map50"] <= 1.0
