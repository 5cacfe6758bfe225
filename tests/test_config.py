from pathlib import Path

import pytest

from ov_sparsity import OvSparsityError
from ov_sparsity.algorithms import Pipeline
from ov_sparsity.config import load_config
from ov_sparsity.config.loader import strip_json_comments

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_parse_and_build(path):
    config = load_config(path)
    assert config.model.model is not None and config.compression.algorithms
    Pipeline.from_specs(config.compression.algorithms)  # every algorithm and parameter is known


def test_json_comments_are_stripped_outside_strings():
    text = '{"a": "http://x/*y*/", // note\n "b": 2 /* c */}'
    import json

    assert json.loads(strip_json_comments(text)) == {"a": "http://x/*y*/", "b": 2}


def test_unknown_keys_named(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {model: m.xml}\nengine: {type: data_free, data_source: noise, subset: 3}\n")
    with pytest.raises(OvSparsityError, match=r"unknown key 'subset' in 'engine'"):
        load_config(cfg)
    cfg.write_text("model: {model: m.xml}\nengine: {type: data_free, data_source: pictures}\n")
    with pytest.raises(OvSparsityError, match=r"engine type 'data_free' takes data_source 'noise' or 'fractal', got 'pictures'"):
        load_config(cfg)
    cfg.write_text("{not yaml: [")
    with pytest.raises(OvSparsityError, match=r"cannot parse config file"):
        load_config(cfg)


def test_overrides(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"model": {"model": "m.xml"}, "compression": {"algorithms": '
                   '[{"name": "MagnitudeSparsity", "params": {"sparsity_level": 0.2}}]}}')
    config = load_config(cfg)
    config.set_sparsity(0.7)
    config.ensure_int8()
    assert config.compression.algorithms == [
        {"name": "MagnitudeSparsity", "params": {"sparsity_level": 0.7}},
        {"name": "DefaultQuantization", "params": {"preset": "performance"}}]
    assert config.model.model == tmp_path / "m.xml"  # relative to the config's folder
