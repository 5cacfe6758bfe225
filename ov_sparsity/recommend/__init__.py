"""Recommenders with `user` and `item` id inputs (NCF): interaction files, the leave-one-out split,
calibration pairs, and HR@10 / NDCG@10 by the NCF protocol (each held-out item among 99 sampled negatives)."""

from ov_sparsity.recommend.data import Interactions, is_recommender, read_interactions
from ov_sparsity.recommend.metrics import evaluate_ranking, hit_ratio_ndcg

__all__ = ["Interactions", "is_recommender", "read_interactions", "evaluate_ranking", "hit_ratio_ndcg"]
