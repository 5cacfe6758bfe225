"""Each group's accuracy curve measured through the whole network (SPDY's measured costs, for widths):
the model with only that group narrowed to a width (channels by the structured cost, consumers rebuilt
by least squares) against the dense model's outputs on a few calibration samples — KL over classes for
a classifier, the normalised MSE otherwise. The per-layer structured cost is relative to each consumer
alone and does not rank groups across the network; this does."""

from __future__ import annotations

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.recovery.losses import is_classifier
from ov_sparsity.engine.infer import first_output
from ov_sparsity.progress import bar


def output_loss(out: np.ndarray, dense: np.ndarray, classifier: bool) -> float:
    if not classifier:
        return float(((out - dense) ** 2).sum() / max((dense ** 2).sum(), 1e-12))
    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))
    p, q = log_softmax(dense), log_softmax(out)
    return float((np.exp(p) * (p - q)).sum(1).mean())


def measured_costs(model: ov.Model, plans: dict, widths: dict, moments: dict, values: np.ndarray,
                   progress: bool = True, stride: int = 1) -> dict:
    """{group: output loss at each of widths[group]} (0 at the dense width), one group narrowed at a time.
    With `stride` > 1 only every stride-th width (and the narrowest) is measured and the widths between
    are interpolated linearly (the curves are smooth; each measurement is a compiled model)."""
    from ov_sparsity.algorithms.structured.algorithm import apply_widths

    classifier = is_classifier(model)
    dense = first_output(model, values)
    dense_widths = {n: p.channels for n, p in plans.items()}
    picks = {n: sorted({*range(stride, len(w), stride), len(w) - 1, len(w) - 2 if w[-1] == 0 else 0} - {0})
             for n, w in widths.items()}
    costs = {}
    with bar(total=sum(len(p) for p in picks.values()), desc="channel sensitivity", enable=progress,
             unit="model") as pbar:
        for name, candidates in widths.items():
            measured = {0: 0.0}
            for j in picks[name]:
                trial = model.clone()
                apply_widths(trial, plans, {**dense_widths, name: candidates[j]}, moments)
                measured[j] = output_loss(first_output(trial, values), dense, classifier)
                pbar.update(1)
            known = sorted(measured)
            curve = np.interp(np.arange(len(candidates)), known, [measured[j] for j in known])
            if candidates[-1] == 0:  # a dropped branch is no point on the narrowing curve: never interpolated
                curve[:-1] = np.interp(np.arange(len(candidates) - 1), [j for j in known if j < len(candidates) - 1],
                                       [measured[j] for j in known if j < len(candidates) - 1])
            costs[name] = np.maximum.accumulate(curve)  # narrower never costs less
    return costs
