from pathlib import Path

import pytest

from ov_sparsity import OvSparsityError
from ov_sparsity.algorithms import Pipeline
from ov_sparsity.config import load_config
from ov_sparsity.config.loader import read_config_file

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_parse_and_build(path):
    config = load_config(path)
    assert config.model.model is not None and config.compression.algorithms
    Pipeline.from_specs(config.compression.algorithms)  # every algorithm and parameter is known


def test_pot_json_dialect_comments_and_trailing_commas(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('/* POT sample */\n{"a": "http://x/*y*/", // note\n "b": [1, 2,],\n'
                   ' "params": {"use_layerwise_tuning": true,},\n}\n')
    assert read_config_file(cfg) == {"a": "http://x/*y*/", "b": [1, 2], "params": {"use_layerwise_tuning": True}}


@pytest.mark.parametrize("suffix, text, where", [
    (".json", '{"a": 1,\n "b": tru }', "line 2 column"),
    (".yaml", "a: 1\nb: [1,\n", "line 3 column"),
])
def test_parse_errors_keep_line_and_column(tmp_path, suffix, text, where):
    cfg = tmp_path / f"c{suffix}"
    cfg.write_text(text)
    with pytest.raises(OvSparsityError, match=rf"cannot parse config file .*{where}"):
        read_config_file(cfg)


def test_unknown_keys_named(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {model: m.xml}\nengine: {type: data_free, data_source: noise, subset: 3}\n")
    with pytest.raises(OvSparsityError, match=r"unknown key 'subset' in 'engine'"):
        load_config(cfg)
    cfg.write_text("model: {model: m.xml}\nengine: {type: data_free, data_source: pictures}\n")
    with pytest.raises(OvSparsityError,
                       match=r"engine type 'data_free' takes data_source 'noise' or 'fractal', got 'pictures'"):
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


def test_target_devices_are_nncfs():
    import nncf

    from ov_sparsity.config.schema import TARGET_DEVICES

    assert set(TARGET_DEVICES) == {t.name for t in nncf.TargetDevice}
