"""STS evaluation of sentence encoders: metrics on constructed embeddings, the CLI on a tiny BERT."""

import json

import numpy as np
import pytest

from ov_sparsity import OvSparsityError
from ov_sparsity.cli import main
from ov_sparsity.data import text
from ov_sparsity.engine.sts import pair_cosines, probe_accuracy, similarity_scores


def test_similarity_scores_on_constructed_ratings():
    human = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    pearson, spearman = similarity_scores(human ** 3, human)  # monotonic, not linear
    assert spearman == pytest.approx(1.0) and pearson < 0.99
    assert similarity_scores(-human, human) == pytest.approx((-1.0, -1.0))


def test_pair_cosines_and_probe_on_constructed_embeddings():
    a = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    b = np.array([[2.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    np.testing.assert_allclose(pair_cosines(a, b), [1.0, 0.0, -1.0], atol=1e-12)
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    separable = rng.standard_normal((100, 8)) + 4.0 * labels[:, None]
    assert probe_accuracy(separable, labels) == 100.0
    noise = rng.standard_normal((100, 8))
    assert probe_accuracy(noise, labels) < 75.0


def test_gensim_benchmarks_read_in_place():
    pytest.importorskip("importlib.util")
    try:
        docs, human = text.lee_benchmark()
    except OvSparsityError as exc:
        pytest.skip(str(exc))
    assert len(docs) == 50 and human.shape == (50 * 49 // 2,)
    first, second, scores = text.word_pairs("wordsim353.tsv")
    assert len(first) == len(second) == len(scores) == 353 and (first[0], second[0]) == ("love", "sex")
    assert len(text.word_pairs("simlex999.txt")[2]) == 999
    sentences, labels = text.polarity_sentences()
    assert len(sentences) == 200 and labels.sum() == 100


def test_missing_gensim_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(text.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(OvSparsityError, match="pip install --no-deps gensim"):
        text.lee_benchmark()


@pytest.fixture(scope="module")
def encoders(tiny_bert, tmp_path_factory):
    """The tiny BERT exported, and a copy with its weights perturbed."""
    import openvino as ov

    from ov_sparsity.graph import find_weighted_ops

    out = tmp_path_factory.mktemp("enc")
    assert main(["-q", "zoo", "export", "minilm_l6", "--weights", str(tiny_bert), "-o", str(out / "a.xml")]) == 0
    model = ov.Core().read_model(out / "a.xml")
    rng = np.random.default_rng(0)
    for op in find_weighted_ops(model):  # every weight, perturbed
        w = op.weight()
        op.set_weight((w + rng.standard_normal(w.shape) * 3 * w.std()).astype(np.float32))
    ov.save_model(model, out / "b.xml", compress_to_fp16=False)
    return out / "a.xml", out / "b.xml"


def test_eval_sts_prints_every_metric_and_the_cosine_to_the_reference(encoders, capsys):
    try:
        text.gensim_test_data("lee.cor")
    except OvSparsityError as exc:
        pytest.skip(str(exc))
    a, b = encoders
    assert main(["-q", "eval", str(a), "--task", "sts", "--reference", str(a), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["cosine_to_reference"] == pytest.approx(1.0, abs=1e-6)
    for key in ("lee_spearman", "lee_pearson", "wordsim353_spearman", "simlex999_spearman"):
        assert -1.0 <= same[key] <= 1.0 and same[key] == pytest.approx(same[f"reference_{key}"], abs=1e-6)
    assert main(["-q", "eval", str(b), "--reference", str(a), "--json"]) == 0  # sts is the default for text
    changed = json.loads(capsys.readouterr().out)
    assert 0.0 < changed["cosine_to_reference"] < 0.999
    assert changed["reference_lee_spearman"] == pytest.approx(same["lee_spearman"], abs=1e-6)


@pytest.mark.parametrize("args, expected", [
    (["--task", "classification", "--data", "{tmp}"], "this is a text model (input_ids input): evaluate it "
                                                       "with --task sts"),
    (["--tokenizer", "{tmp}/none"], "tokenizer folder not found"),
    (["--tokenizer", "{tmp}"], "no tokenizer in"),
])
def test_eval_text_model_errors_are_one_line(encoders, tmp_path, capsys, args, expected):
    a, _ = encoders
    assert main(["-q", "eval", str(a), *[x.replace("{tmp}", str(tmp_path)) for x in args]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_eval_sts_on_an_image_model_and_classification_without_data(model_xml, capsys):
    xml = str(model_xml())
    assert main(["-q", "eval", xml, "--task", "sts"]) == 2
    assert "--task sts needs a text model" in capsys.readouterr().err
    assert main(["-q", "eval", xml]) == 2
    assert "eval needs --data DIR" in capsys.readouterr().err


def test_a_fixed_length_export_evaluates_and_serves_as_reference(encoders, tiny_bert, tmp_path, capsys):
    """A model exported with --seq-len takes every text padded (or cut) to that length: eval --task sts and
    --reference work on it, and benchmark defaults to its length."""
    a, _ = encoders
    fixed = tmp_path / "fixed.xml"
    assert main(["-q", "zoo", "export", "minilm_l6", "--weights", str(tiny_bert), "-o", str(fixed),
                 "--seq-len", "64"]) == 0
    capsys.readouterr()
    assert main(["-q", "eval", str(fixed), "--reference", str(a), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cosine_to_reference"] > 0.999  # 64 tokens hold the tiny tokenizer's texts: padding only
    assert main(["-q", "eval", str(a), "--reference", str(fixed), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cosine_to_reference"] > 0.999
    assert main(["-q", "benchmark", str(fixed), "--seconds", "0", "--json"]) == 0
    capsys.readouterr()
