"""Top-1/top-5 accuracy of an IR on labelled images, and top-1 agreement between two IRs."""

from __future__ import annotations

from typing import Optional

import numpy as np
import openvino as ov

from ov_sparsity.data.datasets import Dataset
from ov_sparsity.engine.infer import predict
from ov_sparsity.errors import OvSparsityError


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float(100.0 * np.mean(np.any(top == labels[:, None], axis=1)))


def scores(logits: np.ndarray, labels: np.ndarray) -> dict:
    """{n, top1, top5} in percent; top-k only where every image is labelled."""
    result: dict = {"n": int(len(labels))}
    if np.all(labels >= 0):
        result["top1"] = topk_accuracy(logits, labels, 1)
        result["top5"] = topk_accuracy(logits, labels, 5)
    return result


def evaluate(model: ov.Model, dataset: Dataset, reference: Optional[ov.Model] = None,
             batch_size: int = 32, progress: bool = True) -> dict:
    logits, labels = predict(model, dataset, batch_size, desc="evaluate", progress=progress)
    result = scores(logits, labels)
    if "top1" not in result and reference is None:
        raise OvSparsityError("the data has no labels (class subfolders or a synsets file) and no --reference "
                              "model was given: nothing to measure")
    if reference is not None:
        ref_logits, _ = predict(reference, dataset, batch_size, desc="reference", progress=progress)
        if ref_logits.shape != logits.shape:
            raise OvSparsityError(f"reference model outputs {ref_logits.shape[1:]} values per image, "
                                  f"the model {logits.shape[1:]}")
        result["agreement"] = float(100.0 * np.mean(ref_logits.argmax(1) == logits.argmax(1)))
        if np.all(labels >= 0):
            result["reference_top1"] = topk_accuracy(ref_logits, labels, 1)
    return result
