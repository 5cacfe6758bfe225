"""Zero counting over weighted ops."""

from __future__ import annotations

import numpy as np
import openvino as ov

from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import find_weighted_ops


def layer_sparsity(model: ov.Model, ignored: IgnoredScope | None = None) -> list[dict]:
    rows = []
    for op in find_weighted_ops(model, ignored):
        w = op.weight()
        rows.append({"name": op.name, "type": op.type, "shape": list(w.shape),
                     "weights": int(w.size), "zeros": int(np.count_nonzero(w == 0)),
                     "sparsity": float(np.count_nonzero(w == 0) / w.size)})
    return rows


def global_sparsity(rows: list[dict]) -> float:
    total = sum(r["weights"] for r in rows)
    return float(sum(r["zeros"] for r in rows) / total) if total else 0.0


def layer_table(rows: list[dict]) -> list[dict]:
    """The per-layer entries reports keep: name, type, shape, sparsity."""
    return [{k: r[k] for k in ("name", "type", "shape", "sparsity")} for r in rows]
