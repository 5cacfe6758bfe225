"""DefaultQuantization (POT's name): INT8 through nncf.quantize.

The parameters translate themselves into nncf keyword arguments (one method);
after quantization every weight that was zero must still be zero, which is
checked and reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.params import check_shared
from ov_sparsity.data import inputs
from ov_sparsity.data.text import is_text_model
from ov_sparsity.recommend.data import is_recommender
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.weighted import find_weighted_ops
from ov_sparsity.progress import progress_enabled

DEVICES = ("ANY", "CPU", "GPU", "NPU", "CPU_SPR")


@dataclass
class QuantizationParams:
    preset: Literal["performance", "mixed", "accuracy"] = "performance"  # POT's three; 'accuracy' runs as
    # 'mixed' (asymmetric activations) because asymmetric weights would not keep the zeros
    subset_size: int = 300
    fast_bias_correction: bool = True
    model_type: Optional[Literal["transformer"]] = None
    target_device: Optional[Literal["ANY", "CPU", "GPU", "NPU", "CPU_SPR"]] = None
    ignored_scope: Any = None

    def __post_init__(self):
        check_shared("subset_size", self.subset_size, "subset_size")
        self.ignored_scope = IgnoredScope.parse(self.ignored_scope)

    def to_nncf_kwargs(self, default_device: str = "CPU") -> dict:
        import nncf

        kwargs = {
            "preset": nncf.QuantizationPreset.PERFORMANCE if self.preset == "performance"
            else nncf.QuantizationPreset.MIXED,  # 'accuracy' too: POT's asymmetric weights lose exact zeros
            # (NNCF's asymmetric weight grid moved a 50%-sparse test model to 30.6%): weights stay symmetric
            "target_device": nncf.TargetDevice[(self.target_device or default_device).upper()],
            "subset_size": self.subset_size,
            "fast_bias_correction": self.fast_bias_correction,
        }
        if self.model_type == "transformer":
            kwargs["model_type"] = nncf.ModelType.TRANSFORMER
        if self.ignored_scope:
            kwargs["ignored_scope"] = self.ignored_scope.to_nncf()
        return kwargs


PAIR_BATCH = 64  # a recommender's (user, item) pairs per NNCF statistics sample (see DefaultQuantization.apply)


class _Inputs:
    """Re-iterable model inputs for nncf.Dataset: batch-1 samples, or `batch` samples per item."""

    def __init__(self, dataset, limit, batch: int = 1):
        self.dataset, self.batch = dataset, batch
        self.n = min(len(dataset), limit * batch)

    def __len__(self):
        return -(-self.n // self.batch)

    def __iter__(self):
        for start in range(0, self.n, self.batch):
            yield inputs.stack([self.dataset[i][0] for i in range(start, min(self.n, start + self.batch))])


def scoring_layers(model: ov.Model) -> list:
    """MatMuls whose output reaches a model output through bias Adds and shape ops only (the score layer)."""
    passing = {"Add", "Reshape", "Squeeze", "Unsqueeze", "Convert", "Result"}
    found = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul":
            continue
        frontier, ok = [op], True
        while frontier and ok:
            node = frontier.pop()
            for out in node.outputs():
                for t in out.get_target_inputs():
                    consumer = t.get_node()
                    if consumer.get_type_name() not in passing:
                        ok = False
                    elif consumer.get_type_name() != "Result":
                        frontier.append(consumer)
        if ok:
            found.append(op.get_friendly_name())
    return found


def _rich_console():
    try:
        import rich

        return rich.get_console()
    except ImportError:
        return None


def zero_masks(model: ov.Model) -> dict:
    return {op.name: op.weight() == 0 for op in find_weighted_ops(model)}


def lost_zeros(before: dict, after: dict) -> int:
    """Weights zero in `before` (zero_masks) that are not zero in `after`."""
    return sum(int(np.count_nonzero(before[n] & ~after[n])) for n in before if n in after)


@register
class DefaultQuantization(Algorithm):
    name = "DefaultQuantization"
    Params = QuantizationParams
    aliases = {"stat_subset_size": "subset_size", "use_fast_bias": "fast_bias_correction",
               "ignored": "ignored_scope"}

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        import nncf

        dataset = ctx.require_dataset(self.name)
        before = zero_masks(model)
        kwargs = self.params.to_nncf_kwargs(ctx.target_device)
        if self.params.model_type is None and is_text_model(model):
            kwargs["model_type"] = nncf.ModelType.TRANSFORMER  # NNCF's patterns for attention blocks
        batch, kept_fp = 1, []
        if is_recommender(model):
            # One (user, item) pair gives each activation a single value, and NNCF's ranges average per-sample
            # min/max: over batches of 64 pairs they mean something. The score layer stays FP32: its INT8
            # input (the GMF product beside the MLP tower) cost NeuMF 6.0 HR@10 points (docs/results.md).
            batch = PAIR_BATCH
            if not self.params.ignored_scope:  # a user's own scope replaces this choice
                kept_fp = scoring_layers(model)
                kwargs["ignored_scope"] = nncf.IgnoredScope(names=kept_fp)
        nncf_log = logging.getLogger("nncf")
        level = nncf_log.level
        nncf_log.setLevel(logging.WARNING)
        console = _rich_console()  # NNCF draws its progress bars on rich's global console
        quiet = console.quiet if console is not None else None
        if console is not None and not (ctx.progress and progress_enabled()):
            console.quiet = True  # -q means no progress bars, NNCF's included
        try:
            items = _Inputs(dataset, self.params.subset_size, batch)
            if batch > 1:
                kwargs["subset_size"] = len(items)  # batches of pairs, all of them
            quantized = nncf.quantize(model, nncf.Dataset(items), **kwargs)
        finally:
            nncf_log.setLevel(level)
            if console is not None:
                console.quiet = quiet
        lost = lost_zeros(before, zero_masks(quantized))
        zeros = sum(int(m.sum()) for m in before.values())
        ctx.reports[self.name] = {"zeros_before": zeros, "zeros_lost": lost, "zeros_preserved": lost == 0,
                                  "nncf_kwargs": {k: str(v) for k, v in kwargs.items()}, "kept_fp32": kept_fp,
                                  "samples_per_statistic": batch}
        if lost:
            log.warning("%s: %d of %d zero weights became nonzero after quantization", self.name, lost, zeros)
        return quantized
