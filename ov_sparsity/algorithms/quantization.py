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


class _Inputs:
    """Re-iterable batch-1 model inputs for nncf.Dataset."""

    def __init__(self, dataset, limit):
        self.dataset, self.n = dataset, min(len(dataset), limit)

    def __len__(self):
        return self.n

    def __iter__(self):
        for i in range(self.n):
            yield inputs.with_batch_axis(self.dataset[i][0])


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
        nncf_log = logging.getLogger("nncf")
        level = nncf_log.level
        nncf_log.setLevel(logging.WARNING)
        console = _rich_console()  # NNCF draws its progress bars on rich's global console
        quiet = console.quiet if console is not None else None
        if console is not None and not (ctx.progress and progress_enabled()):
            console.quiet = True  # -q means no progress bars, NNCF's included
        try:
            quantized = nncf.quantize(model, nncf.Dataset(_Inputs(dataset, self.params.subset_size)), **kwargs)
        finally:
            nncf_log.setLevel(level)
            if console is not None:
                console.quiet = quiet
        lost = lost_zeros(before, zero_masks(quantized))
        zeros = sum(int(m.sum()) for m in before.values())
        ctx.reports[self.name] = {"zeros_before": zeros, "zeros_lost": lost, "zeros_preserved": lost == 0,
                                  "nncf_kwargs": {k: str(v) for k, v in kwargs.items()}}
        if lost:
            log.warning("%s: %d of %d zero weights became nonzero after quantization", self.name, lost, zeros)
        return quantized
