"""HR@K and NDCG@K by the NCF protocol (He et al. 2017): each user's held-out item is ranked among 99 items
the user never interacted with, sampled with a fixed seed; a hit is the held-out item in the top K."""

from __future__ import annotations

from typing import Optional

import numpy as np
import openvino as ov

from ov_sparsity.engine.infer import compile_model, with_dynamic_batch
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.recommend.data import Interactions, _negative

NEGATIVES = 99
K = 10


def hit_ratio_ndcg(scores: np.ndarray, k: int = K) -> tuple:
    """scores [users, 1 + negatives], the held-out item's in column 0 -> (HR@k, NDCG@k), and the ranks.
    Ties count against the held-out item (it ranks after every negative scoring the same)."""
    scores = np.asarray(scores, dtype=np.float64)
    rank = (scores[:, 1:] >= scores[:, :1]).sum(1)  # 0 = first
    hit = rank < k
    return float(hit.mean()), float(np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0).mean()), rank


def ranking_lists(data: Interactions, seed: int = 0, negatives: int = NEGATIVES) -> tuple:
    """(users [U], items [U, 1 + negatives]) for the users with a held-out item: its item first. Where a user
    has fewer unseen items than `negatives` (a small catalogue), every list takes that fewer."""
    _, test = data.leave_one_out()
    rng = np.random.default_rng(seed)
    seen = data.seen()
    test = test[[len(seen[u]) < data.n_items for u in data.users[test].tolist()]]  # a user who rated every
    users = data.users[test]  # item has no negative to rank the held-out one against
    if not len(users):
        raise OvSparsityError("no user has two interactions and an item left unrated: nothing to hold out and rank")
    negatives = min(negatives, min(data.n_items - len(seen[u]) for u in users.tolist()))
    lists = np.empty((len(test), 1 + negatives), np.int64)
    lists[:, 0] = data.items[test]
    for row, u in enumerate(users.tolist()):
        chosen: set = set()
        while len(chosen) < negatives:
            chosen.add(_negative(rng, seen[u], data.n_items))
        lists[row, 1:] = sorted(chosen)
    return users, lists


def score_pairs(model: ov.Model, users: np.ndarray, items: np.ndarray, batch: int = 4096) -> np.ndarray:
    compiled = compile_model(with_dynamic_batch(model), hint="THROUGHPUT")
    names = {n: i for i, port in enumerate(compiled.inputs) for n in port.get_names()}
    out = []
    for s in range(0, len(users), batch):
        feed = {names["user"]: users[s:s + batch], names["item"]: items[s:s + batch]}
        out.append(np.asarray(compiled(feed)[compiled.outputs[0]]).reshape(-1))
    return np.concatenate(out)


def evaluate_ranking(model: ov.Model, data: Interactions, seed: int = 0, reference: Optional[ov.Model] = None,
                     k: int = K) -> dict:
    users, lists = ranking_lists(data, seed)
    flat_users = np.repeat(users, lists.shape[1])

    def measure(m):
        return hit_ratio_ndcg(score_pairs(m, flat_users, lists.reshape(-1)).reshape(lists.shape), k)

    hr, ndcg, rank = measure(model)
    result = {"users": int(len(users)), "negatives": int(lists.shape[1] - 1), f"hr@{k}": hr, f"ndcg@{k}": ndcg}
    if reference is not None:
        ref_hr, ref_ndcg, ref_rank = measure(reference)
        hits, ref_hits = (rank < k).astype(float), (ref_rank < k).astype(float)
        gains = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
        ref_gains = np.where(ref_rank < k, 1.0 / np.log2(ref_rank + 2.0), 0.0)
        result.update({f"reference_hr@{k}": ref_hr, f"reference_ndcg@{k}": ref_ndcg,
                       f"hr@{k}_drop": ref_hr - hr, f"hr@{k}_drop_ci95": paired_ci(ref_hits - hits, seed),
                       f"ndcg@{k}_drop": ref_ndcg - ndcg, f"ndcg@{k}_drop_ci95": paired_ci(ref_gains - gains, seed),
                       "hit_agreement": float(np.mean(hits == ref_hits))})
    return result


def paired_ci(diff: np.ndarray, seed: int = 0, resamples: int = 2000) -> list:
    """95% bootstrap interval of the mean of per-user differences (users resampled, seeded)."""
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (resamples, len(diff)))].mean(1)
    return [float(v) for v in np.percentile(means, [2.5, 97.5])]
