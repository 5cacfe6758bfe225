"""Text models in the zoo: MiniLM-style sentence encoders exported to one IR."""

import numpy as np
import openvino as ov
import pytest

from ov_sparsity.cli import main
from ov_sparsity.graph import find_weighted_ops
from ov_sparsity.zoo.minilm import INPUTS, build, example_inputs


@pytest.mark.parametrize("seq_len", [None, 24])
def test_export_three_inputs_pooled_normalised_and_equal_to_torch(tiny_bert, tmp_path, seq_len):
    import torch

    xml = tmp_path / "enc.xml"
    args = ["-q", "zoo", "export", "minilm_l6", "--weights", str(tiny_bert), "-o", str(xml)]
    assert main(args + (["--seq-len", str(seq_len)] if seq_len else [])) == 0
    model = ov.Core().read_model(xml)
    assert [i.get_any_name() for i in model.inputs] == list(INPUTS)
    assert str(model.inputs[0].get_partial_shape()) == (f"[?,{seq_len}]" if seq_len else "[?,?]")
    # 2 layers x (query, key, value, attention output, intermediate, output): the prunable MatMuls
    assert len(find_weighted_ops(model)) == 12
    inputs = example_inputs(batch=3, length=seq_len or 11)
    with torch.no_grad():
        expected = build(tiny_bert)(**inputs).numpy()
    compiled = ov.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    out = compiled({k: v.numpy() for k, v in inputs.items()})[0]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_padding_does_not_change_an_embedding(tiny_bert, tmp_path):
    xml = tmp_path / "enc.xml"
    assert main(["-q", "zoo", "export", "minilm_l6", "--weights", str(tiny_bert), "-o", str(xml)]) == 0
    compiled = ov.compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ids = np.array([[101, 7, 8, 9, 102]], np.int64)
    short = compiled({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0]
    padded_ids = np.concatenate([ids, np.zeros((1, 4), np.int64)], axis=1)
    mask = (padded_ids != 0).astype(np.int64)
    padded = compiled({"input_ids": padded_ids, "attention_mask": mask,
                       "token_type_ids": np.zeros_like(padded_ids)})[0]
    np.testing.assert_allclose(padded, short, atol=1e-5)


@pytest.mark.parametrize("args, expected", [
    (["--weights", "{tmp}"], "expected a Hugging Face model folder with config.json"),
    (["--weights", "{tmp}", "--seq-len", "0"], "--seq-len: must be an integer in [3, 65536], got 0"),
])
def test_bad_text_exports_are_one_line(tmp_path, capsys, args, expected):
    argv = ["-q", "zoo", "export", "minilm_l6", "-o", str(tmp_path / "x.xml")]
    assert main(argv + [a.replace("{tmp}", str(tmp_path)) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "x.xml").exists()


def test_seq_len_is_for_text_models(tmp_path, capsys):
    weights = tmp_path / "w.th"
    weights.write_bytes(b"x")
    assert main(["-q", "zoo", "export", "resnet20_cifar10", "--weights", str(weights), "-o", str(tmp_path / "x.xml"),
                 "--seq-len", "8"]) == 2
    assert "--seq-len is for text models" in capsys.readouterr().err
