"""Text models through compress: tokenized calibration text, the sequential pass over three inputs,
second-order pruning of 3-D MatMul activations, INT8 with NNCF's transformer patterns, STS eval."""

import json

import numpy as np
import openvino as ov
import pytest

from ov_sparsity.cli import main
from ov_sparsity.data.text import TextDataset, Tokenizer, check_text_model
from ov_sparsity.engine.sequential import FrontierWalk
from ov_sparsity.graph import find_weighted_ops
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity
from tests.conftest import TINY_WORDS


@pytest.fixture(scope="module")
def text_world(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    assert main(["-q", "zoo", "export", "minilm_l6", "--weights", str(tiny_bert), "-o", str(root / "enc.xml")]) == 0
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(TINY_WORDS, size=rng.integers(4, 14))) + " ." for _ in range(80)]
    (root / "calib.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_text_dataset_packs_passages_into_full_windows(tiny_bert):
    tok = Tokenizer(tiny_bert)
    ds = TextDataset(["the man plays guitar", "a dog is happy"] * 10, tok, seq_len=8)
    ids = [ds[i][0]["input_ids"] for i in range(len(ds))]
    masks = [ds[i][0]["attention_mask"] for i in range(len(ds))]
    assert all(x.shape == (8,) and x[0] == tok.tok.cls_token_id for x in ids)
    assert all(m.all() for m in masks[:-1]) and masks[-1][0] == 1  # only the last window is padded
    assert ds.tokens == sum(len(tok.tok(t, add_special_tokens=False)["input_ids"]) + 1
                            for t in ["the man plays guitar", "a dog is happy"] * 10)


def test_frontier_walk_feeds_named_inputs_and_runs_each_op_once(text_world, tiny_bert):
    model = ov.Core().read_model(text_world / "enc.xml")
    ds = TextDataset(["the man plays guitar"] * 30, Tokenizer(tiny_bert), 16, check_text_model(model))
    batch = {k: np.stack([ds[i][0][k] for i in range(len(ds))]) for k in ds[0][0]}
    layers = [op.name for op in find_weighted_ops(model)]
    walk = FrontierWalk(model, batch, layers, batch_size=4)
    shapes = {name: values.shape for name, values in walk}
    assert len(shapes) == 12 and all(s[:2] == (len(ds), 16) for s in shapes.values())  # 3-D activations
    assert set(walk.stats.ops_run.values()) == {1}


def test_compress_a_text_model_sparse_int8_and_eval_sts(text_world, capsys):
    out = text_world / "out"
    assert main(["-q", "compress", str(text_world / "enc.xml"), "-o", str(out), "--sparsity", "0.5",
                 "--data", str(text_world / "calib.txt"), "--seq-len", "16", "--int8"]) == 0
    capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert 0.5 <= report["global_sparsity"] < 0.51  # INT8 rounding may zero a few more
    assert report["algorithm_reports"]["DefaultQuantization"]["zeros_preserved"]
    assert "transformer" in report["algorithm_reports"]["DefaultQuantization"]["nncf_kwargs"]["model_type"].lower()
    model = ov.Core().read_model(out / "model.xml")
    assert [i.get_any_name() for i in model.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    assert all(abs(r["sparsity"] - 0.5) < 0.45 for r in layer_sparsity(model))  # every MatMul pruned
    assert main(["-q", "eval", str(out / "model.xml"), "--reference", str(text_world / "enc.xml"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.0 < result["cosine_to_reference"] <= 1.0


def test_fp32_second_order_keeps_the_text_model_close_to_dense(text_world, tiny_bert):
    out = text_world / "fp32"
    assert main(["-q", "compress", str(text_world / "enc.xml"), "-o", str(out), "--sparsity", "0.3",
                 "--data", str(text_world / "calib.txt"), "--seq-len", "16"]) == 0
    dense = ov.compile_model(text_world / "enc.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    sparse = ov.compile_model(out / "model.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    sparse_ir = ov.Core().read_model(out / "model.xml")
    assert abs(global_sparsity(layer_sparsity(sparse_ir)) - 0.3) < 1e-3
    inputs = Tokenizer(tiny_bert).encode(["the old man plays piano", "a big dog and a small cat"])
    a, b = dense(inputs)[0], sparse(inputs)[0]
    assert np.all(np.sum(a * b, axis=1) > 0.9)  # unit vectors: cosine


@pytest.mark.parametrize("which, expected", [
    ("folder_on_text", "is a folder; a text model calibrates on text: --data FILE.txt"),
    ("text_on_image", "is a file; this model takes images: give a folder of images"),
    ("fractal_on_text", "fractal images do not fit a text model; a text model calibrates on text"),
])
def test_wrong_data_kinds_are_one_line(text_world, model_xml, image_folder, tmp_path, capsys, which, expected):
    text_model, image_model = str(text_world / "enc.xml"), str(model_xml())
    args = {"folder_on_text": [text_model, "--data", str(image_folder)],
            "text_on_image": [image_model, "--data", str(text_world / "calib.txt")],
            "fractal_on_text": [text_model, "--data", "fractal"]}[which]
    assert main(["-q", "compress", *args, "-o", str(tmp_path / "o"), "--sparsity", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    assert not (tmp_path / "o").exists()


def test_synthetic_text_zipf_favours_common_words_and_noise_is_uniform(tiny_bert):
    from ov_sparsity.data.text import SyntheticTextDataset, _word_ranks

    tok = Tokenizer(tiny_bert)
    zipf = SyntheticTextDataset("zipf", 200, tok, seq_len=32, seed=0)
    ids = np.concatenate([zipf[i][0]["input_ids"][1:-1] for i in range(len(zipf))])
    words = _word_ranks(tok.tok)
    counts = np.array([np.sum(ids == w) for w in words])
    assert counts[0] > 3 * counts[len(words) // 2]  # the most common word far above a middling one
    assert np.all(zipf[0][0]["attention_mask"] == 1) and zipf[0][0]["input_ids"][0] == tok.tok.cls_token_id
    noise = SyntheticTextDataset("noise", 200, tok, seq_len=32, seed=0)
    assert not set(tok.tok.all_special_ids) & set(np.concatenate([noise[i][0]["input_ids"][1:-1]
                                                                  for i in range(len(noise))]).tolist())
    again = SyntheticTextDataset("zipf", 200, tok, seq_len=32, seed=0)
    assert all(np.array_equal(again[i][0]["input_ids"], zipf[i][0]["input_ids"]) for i in range(200))


def test_data_free_text_compress(text_world, tmp_path):
    out = tmp_path / "zipf"
    assert main(["-q", "compress", str(text_world / "enc.xml"), "-o", str(out), "--sparsity", "0.4",
                 "--seq-len", "16", "--subset-size", "40"]) == 0  # no --data: zipf, the better data-free text
    report = json.loads((out / "report.json").read_text())
    assert abs(report["global_sparsity"] - 0.4) < 1e-3 and "synthetic 'zipf'" in report["data"]["description"]


def test_zipf_on_an_image_model_is_one_line(model_xml, tmp_path, capsys):
    assert main(["-q", "compress", str(model_xml()), "-o", str(tmp_path / "o"), "--data", "zipf"]) == 2
    assert "'zipf' is synthetic text; this model takes images" in capsys.readouterr().err


def test_benchmark_text_models_at_a_sequence_length(text_world, capsys):
    out = text_world / "bench_sparse"
    if not (out / "model.xml").exists():
        assert main(["-q", "compress", str(text_world / "enc.xml"), "-o", str(out), "--sparsity", "0.5",
                     "--data", "zipf", "--seq-len", "16", "--subset-size", "40"]) == 0
    capsys.readouterr()
    assert main(["-q", "benchmark", str(text_world / "enc.xml"), str(out / "model.xml"), "--seconds", "0.4",
                 "--seq-len", "32", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    dense, sparse = results["models"]
    assert results["settings"]["seq_len"] == 32
    assert sparse["complexity"]["macs"] == dense["complexity"]["macs"] > 0  # 32 tokens x 12 MatMuls
    assert abs(sparse["complexity"]["effective_macs"] / dense["complexity"]["macs"] - 0.5) < 0.01
    assert dense["latency"]["median_ms"] > 0 and sparse["throughput"]["fps"] > 0


def test_benchmark_refuses_images_for_text_models(text_world, image_folder, capsys):
    assert main(["-q", "benchmark", str(text_world / "enc.xml"), "--data", str(image_folder), "--seconds", "0"]) == 2
    assert "--data (labelled images) is for image models" in capsys.readouterr().err


def test_sparsify_a_text_model_from_the_python_api(text_world):
    """Token inputs as dicts by input name, or data-free (zipf, the CLI's default for text)."""
    from ov_sparsity import sparsify

    rng = np.random.default_rng(0)
    ids = rng.integers(5, 20, (4, 16))
    items = [{"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}]
    for data in (items, None):
        model = sparsify(str(text_world / "enc.xml"), data, 0.5, subset_size=8, progress=False)
        assert global_sparsity(layer_sparsity(model)) == pytest.approx(0.5, abs=0.01)
