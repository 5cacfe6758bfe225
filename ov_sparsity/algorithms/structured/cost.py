"""The structured OBS cost (OBC / ZipLM structured mode): removing input channel c of a consumer
removes its block of columns G_c (the channel's kernel taps); with the consumer's input moment H and
the others' weights re-solved by least squares, the output error grows by

    ΔL_c = tr( W_G (H⁻¹_GG)⁻¹ W_Gᵀ )

and the optimal compensation is W ← W − W_G (H⁻¹_GG)⁻¹ (H⁻¹)_G,: , H⁻¹ ← H⁻¹ − (H⁻¹):,G (H⁻¹_GG)⁻¹ (H⁻¹)_G,:.
Channels are removed greedily, cheapest first; the costs are summed over the consumers that read the
channel (each with its own W and H) and given relative to the consumers' dense output energy tr(W H Wᵀ),
so groups of different layers compare on one scale.
"""

from __future__ import annotations

import numpy as np

from ov_sparsity.algorithms.damping import DAMPING


def damped_inverse(h: np.ndarray, damping: float = DAMPING) -> np.ndarray:
    h = np.asarray(h, np.float64)
    lam = damping * max(float(np.mean(np.diag(h))), 1e-12)
    return np.linalg.inv(h + lam * np.eye(len(h)))


def greedy_order(consumers: list, channels: int, taps: list, max_remove: int,
                 damping: float = DAMPING) -> tuple[list, np.ndarray]:
    """consumers: [(W [O, F(+1)], H [F(+1), F(+1)])], F = channels · taps[i] columns in (channel, tap)
    order, an extra last column (the bias' constant) never removed. Returns (channels in removal order,
    cumulative relative cost after each removal)."""
    state = []
    energy = 0.0
    for (w, h), k in zip(consumers, taps):
        w = np.asarray(w, np.float64).copy()
        h = np.asarray(h, np.float64)
        energy += float(np.einsum("of,fg,og->", w, h, w))
        state.append([w, damped_inverse(h, damping), k])
    energy = max(energy, 1e-30)
    alive = list(range(channels))
    order, costs, total = [], [], 0.0
    for _ in range(min(max_remove, channels - 1)):
        scores = np.zeros(len(alive))
        for w, hinv, k in state:
            idx = (np.asarray(alive)[:, None] * k + np.arange(k)[None, :])  # [A, k] columns per channel
            blocks = hinv[idx[:, :, None], idx[:, None, :]]  # [A, k, k]
            wg = w[:, idx].transpose(1, 0, 2)  # [A, O, k]
            inv = np.linalg.inv(blocks)
            scores += np.einsum("aok,akl,aol->a", wg, inv, wg)
        j = int(np.argmin(scores))
        c = alive.pop(j)
        for entry in state:
            w, hinv, k = entry
            g = np.arange(c * k, c * k + k)
            inv = np.linalg.inv(hinv[np.ix_(g, g)])
            w -= (w[:, g] @ inv) @ hinv[g, :]
            entry[1] = hinv - hinv[:, g] @ inv @ hinv[g, :]
        total += float(scores[j])
        order.append(c)
        costs.append(total / energy)
    return order, np.asarray(costs)


def least_squares_rebuild(w: np.ndarray, h: np.ndarray, keep_cols: np.ndarray, damping: float = DAMPING) -> np.ndarray:
    """W' on the kept columns minimising E‖W x − W' x_K‖² (H = E[x xᵀ], damped): W H_:K (H_KK)⁻¹."""
    w = np.asarray(w, np.float64)
    h = np.asarray(h, np.float64)
    hk = h[np.ix_(keep_cols, keep_cols)]
    lam = damping * max(float(np.mean(np.diag(hk))), 1e-12)
    return np.linalg.solve(hk + lam * np.eye(len(keep_cols)), (w @ h[:, keep_cols]).T).T
