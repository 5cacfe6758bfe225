"""Reconstruction-aware channel selection (criterion "recon", beyond the paper).

Dropping channel c and rebuilding it from the others in closed form leaves an
output error Q_cc / [R⁻¹]_cc, with R = E[ã ãᵀ] over the channels still kept (and
the constant) and Q = Σ_taps W'ᵀ W' the consumer's column energy: a channel that
its neighbours explain well, or that the consumer barely reads, is cheap to
drop. Channels are removed greedily, the inverse downdated after each removal
(O(C²) a step).
"""

from __future__ import annotations

import numpy as np


def consumer_energy(weight: np.ndarray, axis: int) -> np.ndarray:
    """Q = Σ over outputs and taps of w wᵀ, w the channel vector: [C, C]."""
    w = np.moveaxis(weight.astype(np.float64), axis, -1).reshape(-1, weight.shape[axis])
    return w.T @ w


def greedy_keep(gram: np.ndarray, energy: np.ndarray, n_prune: int, ridge: float = 1e-3) -> np.ndarray:
    """gram: [C+1, C+1] (constant last); energy: [C, C]. Returns sorted kept channel indices."""
    c = energy.shape[0]
    lam = ridge * float(np.mean(np.diag(gram)[:-1]))
    inv = np.linalg.inv(gram + lam * np.eye(c + 1))
    alive = list(range(c + 1))  # positions in `inv` map to these channels; c is the constant
    q = np.diag(energy)
    for _ in range(min(n_prune, c - 1)):
        d = np.diag(inv)[:-1]
        scores = q[alive[:-1]] / np.maximum(d, 1e-30)
        j = int(np.argmin(scores))
        col = inv[:, j].copy()
        inv = inv - np.outer(col, inv[j, :]) / inv[j, j]
        inv = np.delete(np.delete(inv, j, axis=0), j, axis=1)
        del alive[j]
    return np.asarray(sorted(alive[:-1]), dtype=np.int64)
