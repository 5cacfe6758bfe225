"""The closed form: rebuild the damaged channels in the consumer.

The consumer computes Z = Σ_c W[:, c] * a_c (per kernel tap). After the producer
is damaged it reads ã (K kept channels, pruned and/or quantized). UDFC's
assumption: every damaged channel is, in part, a linear combination of the
channels that remain, a_c ≈ Σ_j s_jc ã_j + s_0c. Putting that into Z gives the
reconstruction form Ŵ[:, j] = Σ_c s_jc W[:, c] (the kept channel's own weight
is the c = j term), and a bias Σ_c s_0c Σ_taps W[:, c]. The coefficients
minimise

    α1 · E‖Z − Ẑ‖²  +  α2 · λ0 · ‖S − S_id‖²

(S_id: no reconstruction, a kept channel maps to itself, λ0 = mean diag R, so
α2 is scale-free). The error is quadratic in S and, because S is shared by every
output row and tap, its minimiser does not depend on W:

    S = (α1 R + α2 λ0 I)⁻¹ (α1 Cᵀ + α2 λ0 S_idᵀ)ᵀ ... written per column below,

with C = E[a ãᵀ] and R = E[ã ãᵀ] (moments.py). For pruning alone
(ã = a_K) this is S_K = I, S_P = R_KK⁻¹ R_KP: the least-squares regression of
each pruned channel on the kept ones — with exact statistics, a pruned channel
that *is* a linear combination of kept ones is restored exactly.
"""

from __future__ import annotations

import numpy as np


def coefficients(cross: np.ndarray, gram: np.ndarray, identity: np.ndarray, alpha1: float = 1.0,
                 alpha2: float = 0.0) -> np.ndarray:
    """S [C, K+1]: activation channel c ≈ S[c] · ã. identity: the no-reconstruction S.

    Kept channels that never fire (dead after ReLU) make R singular: λ0 falls back to 1
    when every kept channel is dead, and a system that is still singular (α2 = 0) is
    solved in the least-squares sense."""
    k1 = gram.shape[0]
    diag = np.diag(gram)[:-1] if k1 > 1 else np.ones(1)
    lam0 = float(np.mean(diag)) if np.mean(diag) > 0 else 1.0
    damp = alpha2 * lam0
    lhs = alpha1 * gram + damp * np.eye(k1)
    rhs = alpha1 * cross + damp * identity  # [C, K+1]
    try:
        return np.linalg.solve(lhs, rhs.T).T
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(lhs, rhs.T, rcond=None)[0].T


def identity_map(channels: int, keep: np.ndarray) -> np.ndarray:
    s = np.zeros((channels, len(keep) + 1))
    s[keep, np.arange(len(keep))] = 1.0
    return s


def consumer_update(weight: np.ndarray, axis: int, out_axis: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """weight: the consumer's original weight, channels on `axis`; returns (new weight with
    K channels on `axis`, bias delta per output channel)."""
    w = np.moveaxis(weight.astype(np.float64), axis, -1)  # [..., C]
    new = w @ s  # [..., K+1]
    out_pos = out_axis if out_axis < axis else out_axis - 1 if out_axis > axis else None
    sum_axes = tuple(i for i in range(new.ndim - 1) if i != out_pos)
    bias = new[..., -1].sum(axis=sum_axes) if sum_axes else new[..., -1]
    return np.moveaxis(new[..., :-1], -1, axis).astype(np.float32), np.asarray(bias, np.float64).reshape(-1)
