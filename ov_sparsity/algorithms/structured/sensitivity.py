"""Each group's accuracy curve measured through the whole network (SPDY's measured costs, for widths):
the model with only that group narrowed to a width (channels by the structured cost, consumers rebuilt
by least squares) against the dense model's outputs on a few calibration samples — KL over classes for
a classifier, the normalised MSE otherwise. The per-layer structured cost is relative to each consumer
alone and does not rank groups across the network; this does."""

from __future__ import annotations

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.recovery.losses import is_classifier
from ov_sparsity.engine.infer import compile_model
from ov_sparsity.progress import bar


def _outputs(model: ov.Model, values: np.ndarray, batch: int = 32) -> np.ndarray:
    compiled = compile_model(model, hint="THROUGHPUT")
    return np.concatenate([compiled(values[s:s + batch])[compiled.outputs[0]].reshape(min(batch, len(values) - s), -1)
                           for s in range(0, len(values), batch)]).astype(np.float64)


def output_loss(out: np.ndarray, dense: np.ndarray, classifier: bool) -> float:
    if not classifier:
        return float(((out - dense) ** 2).sum() / max((dense ** 2).sum(), 1e-12))
    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))
    p, q = log_softmax(dense), log_softmax(out)
    return float((np.exp(p) * (p - q)).sum(1).mean())


def measured_costs(model: ov.Model, plans: dict, widths: dict, moments: dict, values: np.ndarray,
                   progress: bool = True) -> dict:
    """{group: output loss at each of widths[group]} (0 at the dense width), one group narrowed at a time."""
    from ov_sparsity.algorithms.structured.algorithm import apply_widths

    classifier = is_classifier(model)
    dense = _outputs(model, values)
    dense_widths = {n: p.channels for n, p in plans.items()}
    costs = {}
    total = sum(len(w) - 1 for w in widths.values())
    with bar(total=total, desc="channel sensitivity", enable=progress, unit="model") as pbar:
        for name, candidates in widths.items():
            curve = [0.0]
            for width in candidates[1:]:
                trial = model.clone()
                apply_widths(trial, plans, {**dense_widths, name: width}, moments)
                curve.append(output_loss(_outputs(trial, values), dense, classifier))
                pbar.update(1)
            costs[name] = np.maximum.accumulate(np.asarray(curve))  # narrower never costs less
    return costs
