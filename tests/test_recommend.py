"""Recommenders (NCF): interactions files, the leave-one-out split, HR@10 / NDCG@10 by the NCF protocol, and
the zoo's NeuMF trained on a tiny seeded ratings file, compressed (MLP sparsity, INT8 with its score layer
kept FP32, optional embedding sparsity) and evaluated end to end."""

import json

import numpy as np
import pytest

from ov_sparsity.cli import main
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.recommend.data import read_interactions
from ov_sparsity.recommend.metrics import hit_ratio_ndcg, ranking_lists


def test_hit_ratio_and_ndcg_on_a_hand_made_ranking_are_exact():
    scores = np.zeros((3, 20))
    scores[0, 0] = 5.0  # rank 0
    scores[1, 0], scores[1, 1:4] = 1.0, 2.0  # three negatives above: rank 3
    scores[2, 0], scores[2, 1:13] = 1.0, 1.0  # twelve ties count above it: rank 12, a miss
    hr, ndcg, rank = hit_ratio_ndcg(scores, k=10)
    assert rank.tolist() == [0, 3, 12]
    assert hr == pytest.approx(2 / 3)
    assert ndcg == pytest.approx((1.0 + 1.0 / np.log2(5)) / 3)


def test_leave_one_out_holds_out_each_users_latest(tmp_path):
    path = tmp_path / "r.inter"
    path.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                    "7\t1\t5\t30\n7\t2\t3\t10\n8\t1\t4\t5\n7\t3\t4\t30\n9\t2\t1\t1\n9\t1\t2\t2\n#c\n9\t4\t1\t0\n")
    data = read_interactions(path)
    assert (data.n_users, data.n_items) == (3, 4)
    train, test = data.leave_one_out()
    # user 7: two at time 30, the later line (item 3) is held out; user 8 has one and keeps it; user 9: item 1
    held = sorted((int(data.users[t]), int(data.items[t])) for t in test)
    assert held == [(0, 2), (2, 0)]
    assert len(train) == 5
    users, lists = ranking_lists(data, seed=0, negatives=1)
    seen = data.seen()
    assert all(int(i) not in seen[int(u)] for u, i in zip(users, lists[:, 1]))
    with pytest.raises(OvSparsityError, match="none of its user/item ids"):
        read_interactions(path, users=["x"], items=["y"])


@pytest.fixture(scope="module")
def ncf(tmp_path_factory):
    """A tiny NeuMF from the zoo exporter on 40 users x 30 items (seeded)."""
    root = tmp_path_factory.mktemp("ncf")
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for u in range(40):
        liked = rng.choice(30, size=8, replace=False) if u % 2 else rng.choice(15, size=8, replace=False)
        lines += [f"u{u}\ti{i}\t4\t{t}" for t, i in enumerate(liked)]
    ratings = root / "tiny.inter"
    ratings.write_text("\n".join(lines) + "\n")
    xml = root / "ncf.xml"
    assert main(["-q", "zoo", "export", "ncf_movielens100k", "--weights", str(ratings), "-o", str(xml)]) == 0
    return xml, ratings


def test_ncf_export_compress_eval(ncf, tmp_path, capsys):
    xml, ratings = ncf
    assert main(["-q", "eval", str(xml), "--json"]) == 0
    dense = json.loads(capsys.readouterr().out)
    assert dense["users"] == 40 and dense["negatives"] == 30 - 8  # every unseen item where fewer than 99
    out = tmp_path / "sparse"
    assert main(["-q", "compress", str(xml), "-o", str(out), "--sparsity", "0.7", "--int8", "--data", "ratings",
                 "--embedding-sparsity", "0.25"]) == 0
    capsys.readouterr()
    report = json.loads((out / "report.json").read_text())["algorithm_reports"]
    assert report["DefaultQuantization"]["kept_fp32"] == ["__module.predict/aten::linear/MatMul"]
    assert report["DefaultQuantization"]["samples_per_statistic"] == 64
    assert report["EmbeddingSparsity"]["sparsity"] == pytest.approx(0.25)
    assert report["WeightSparsity"]["reached_sparsity"] >= 0.69  # plus weights of units dead on the pairs
    assert main(["-q", "eval", str(out / "model.xml"), "--reference", str(xml), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reference_hr@10"] == pytest.approx(dense["hr@10"])
    lo, hi = result["hr@10_drop_ci95"]
    assert lo <= result["hr@10_drop"] <= hi and 0.0 <= result["hit_agreement"] <= 1.0


def test_ncf_data_free_and_bad_input(ncf, tmp_path, capsys):
    xml, ratings = ncf
    assert main(["-q", "compress", str(xml), "-o", str(tmp_path / "free"), "--sparsity", "0.5", "--data", "noise"]) == 0
    assert main(["-q", "compress", str(xml), "-o", str(tmp_path / "own"), "--sparsity", "0.5",
                 "--data", str(ratings)]) == 0
    capsys.readouterr()
    folder = tmp_path / "images"
    folder.mkdir()
    assert main(["compress", str(xml), "-o", str(tmp_path / "x"), "--data", str(folder)]) == 2
    assert "a recommender calibrates on (user, item) pairs" in capsys.readouterr().err
    assert main(["eval", str(xml), "--task", "detection", "--data", str(folder)]) == 2
    assert "evaluate it with --task recommendation" in capsys.readouterr().err
    assert main(["compress", str(xml), "-o", str(tmp_path / "y"), "--data", "ratings", "--mean", "0"]) == 2
    assert "does not apply to a recommender" in capsys.readouterr().err


def test_ncf_suite_reports_hit_ratio(ncf, tmp_path):
    import jsonschema

    from ov_sparsity.benchmark.results import schema

    xml, _ = ncf
    suite = tmp_path / "ncf.yaml"
    suite.write_text(f"name: tiny_ncf\ntask: recommendation\nmodel: {{ir: {xml}}}\ndata: {{ratings: ratings}}\n"
                     "settings:\n  - label: sparse\n    levels: [0.5]\n    algorithms: [{name: WeightSparsity}]\n")
    assert main(["-q", "benchmark", "--suite", str(suite), "-o", str(tmp_path / "out"), "--seconds", "0.2"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    jsonschema.validate(results, schema())
    dense, sparse = (m["ranking"] for m in results["models"])
    assert dense["hit_agreement"] == 1.0 and 0.0 <= sparse["hr@10"] <= 1.0
    assert "HR@10" in (tmp_path / "out" / "results.md").read_text()
