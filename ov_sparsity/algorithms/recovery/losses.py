"""The dense-vs-sparse output losses that recovery trains on and the measured budgets measure with:
KL over classes for a classifier, the normalised MSE ‖s − d‖² / ‖d‖² for any other output."""

from __future__ import annotations

import openvino as ov
import torch
import torch.nn.functional as F


def is_classifier(model: ov.Model) -> bool:
    """One [N, classes] output and an image input: the output loss is a KL over classes."""
    out = model.output(0).get_partial_shape()
    inp = model.input(0).get_partial_shape()
    return (len(model.outputs) == 1 and out.rank.is_static and len(out) == 2 and out[1].is_static
            and out[1].get_length() > 1 and len(model.inputs) == 1 and inp.rank.is_static and len(inp) == 4)


def nmse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return ((student - teacher) ** 2).sum() / (teacher ** 2).sum().clamp_min(1e-12)


def output_loss(student: torch.Tensor, teacher: torch.Tensor, classifier: bool,
                temperature: float = 1.0) -> torch.Tensor:
    """Per-sample mean: T² · KL(teacher ‖ student) at temperature T for a classifier, else the batch's
    normalised MSE."""
    if not classifier:
        return nmse(student, teacher)
    t = temperature
    return F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                    reduction="batchmean") * t * t
