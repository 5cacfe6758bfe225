"""EmbeddingSparsity: magnitude pruning of embedding tables (Gather of a constant float table), for
recommenders and text models whose size is mostly their tables. Data-free; the smallest |w| of each row
(granularity "row", every id keeps the same count) or of each table go to zero. Measured on NeuMF
(docs/results.md): the tables hold 95% of the weights and cost accuracy fast, so it is opt-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.magnitude import smallest
from ov_sparsity.algorithms.params import check_range
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import const_value


def embedding_tables(model: ov.Model, ignored: IgnoredScope | None = None) -> list:
    """(Gather op, its table as float32) for each Gather on axis 0 of a constant 2-D float table."""
    found = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Gather" or (ignored and ignored.matches(op.get_friendly_name(), "Gather")):
            continue
        table = const_value(op.input(0).get_source_output())
        axis = const_value(op.input(2).get_source_output())
        if table is None or axis is None or table.ndim != 2 or not np.issubdtype(table.dtype, np.floating) \
                or int(np.asarray(axis).reshape(-1)[0]) != 0:
            continue
        found.append((op, table.astype(np.float32)))
    return found


@dataclass
class EmbeddingParams:
    sparsity_level: float = 0.3
    granularity: Literal["row", "table"] = "row"
    ignored_scope: Any = None

    def __post_init__(self):
        check_range("sparsity_level", self.sparsity_level, 0.0, 1.0)
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)


@register
class EmbeddingSparsity(Algorithm):
    name = "EmbeddingSparsity"
    Params = EmbeddingParams
    aliases = {"ignored": "ignored_scope"}

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        p = self.params
        tables = embedding_tables(model, p.ignored_scope)
        if not tables:
            raise OvSparsityError("EmbeddingSparsity: the model has no embedding table (a Gather on axis 0 of a "
                                  "constant 2-D float table)")
        report = {}
        for op, w in tables:
            a = np.abs(w)
            if p.granularity == "row":
                k = int(round(p.sparsity_level * w.shape[1]))
                mask = np.zeros_like(w, dtype=bool)
                if k:
                    mask[np.arange(len(w))[:, None], np.argpartition(a, k - 1, axis=1)[:, :k]] = True
            else:
                mask = smallest(a.reshape(-1), int(round(p.sparsity_level * a.size))).reshape(w.shape)
            new = np.where(mask, 0.0, w).astype(np.float32)
            op.input(0).replace_source_output(ops.constant(new).output(0))
            report[op.get_friendly_name()] = {"rows": int(w.shape[0]), "dim": int(w.shape[1]),
                                              "sparsity": float(mask.mean())}
        model.validate_nodes_and_infer_types()
        total = sum(t["rows"] * t["dim"] for t in report.values())
        zeros = sum(t["rows"] * t["dim"] * t["sparsity"] for t in report.values())
        ctx.reports[self.name] = {"tables": report, "weights": total, "sparsity": zeros / max(1, total),
                                  "granularity": p.granularity}
        log.info("%s: %d of %d table weights pruned in %d tables (%.2f%%)", self.name, int(zeros), total,
                 len(report), 100.0 * zeros / max(1, total))
        return model
