"""Second-order pruning of one layer (Optimal Brain Surgeon, made practical as in
Optimal Brain Compression / SparseGPT).

The layer's output error for weights W' against the weights W it had, on inputs
x (bias slot appended, x~ = [x; 1]), is (W − W') H (W − W')ᵀ with H = E[x~ x~ᵀ].
Columns are eliminated in order. For column j, with H_j the block of H on the
columns ≥ j still free to move, OBS says: setting w_j to q costs
(w_j − q)² / [H_j⁻¹]₀₀, and the best compensation moves the later columns by
−(w_j − q)/[H_j⁻¹]₀₀ · [H_j⁻¹]₀,₁: (a pruned weight goes to q = 0). All the
[H_j⁻¹] rows needed are the rows of U, the upper Cholesky factor of H⁻¹
(U[j, j:] / U[j, j] is row 0 of H_j⁻¹ / √[H_j⁻¹]₀₀), so one factorisation serves
the whole layer. Masks are chosen per block of columns by the saliency
w² / [H_j⁻¹]₀₀ on the weights as updated so far, the block's share of the
layer's pruned count taken where it is cheapest (so rows may differ); updates
inside a block are applied column by column, those to later blocks lazily, in
one matrix product per block.

Dead inputs (a channel that is always zero after a ReLU) have H_jj = 0: their
weights carry nothing, they are zeroed and their diagonal set to 1. H is damped
by `damp` · mean(diag H). The bias column (the constant input) is last and
never pruned: the compensation it receives is the bias correction.
Grouped convolutions have one H per group (shape [G, F+1, F+1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ov_sparsity.algorithms.damping import DAMPING


@dataclass
class PruneResult:
    weight: torch.Tensor  # [G, O, F] float64
    bias: torch.Tensor  # [G, O] float64
    mask: torch.Tensor  # [G, O, F] bool, True = pruned
    loss: float  # OBS estimate of the added output error, sum over rows (same units as H)


def prepare_hessian(gram: torch.Tensor, damp: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(damped H with dead inputs' diagonals set to 1, dead-input mask [G, F+1])."""
    h = gram.clone().double()
    diag = torch.diagonal(h, dim1=1, dim2=2)
    dead = diag == 0
    dead[:, -1] = False  # the bias slot is the constant 1: never dead
    diag[dead] = 1.0
    mean = torch.diagonal(h, dim1=1, dim2=2).mean(dim=1)
    diag += damp * mean[:, None]
    return h, dead


def inverse_cholesky(h: torch.Tensor) -> torch.Tensor:
    """Upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ U), batched over groups; damping raised until H factors."""
    extra = 0.0
    mean = torch.diagonal(h, dim1=1, dim2=2).mean(dim=1)
    eye = torch.eye(h.shape[-1], dtype=h.dtype)
    for _ in range(8):
        try:
            lower = torch.linalg.cholesky(h + extra * mean[:, None, None] * eye)
            return torch.linalg.cholesky(torch.cholesky_inverse(lower), upper=True)
        except RuntimeError:  # torch.linalg.LinAlgError: not positive definite in float64
            extra = 1e-6 if extra == 0 else extra * 10
    raise RuntimeError("the layer's Hessian cannot be factored even with damping")


def block_count(n_prune: int, stop: int, total_cols: int, done: int, forced: int) -> int:
    """Weights the block ending at column `stop` prunes: the layer's cumulative share rounded at the
    block boundary (so the layer prunes exactly n_prune), and never fewer than must go (dead inputs,
    weights already pruned)."""
    return max(int(round(n_prune * stop / total_cols)) - done, forced)


def prune_layer(weight: torch.Tensor, bias: Optional[torch.Tensor], gram: torch.Tensor, n_prune: int, *,
                block: int = 128, damp: float = DAMPING, keep_pruned: Optional[torch.Tensor] = None) -> PruneResult:
    """weight [G, O, F], bias [G, O] or None, gram [G, F+1, F+1] (bias slot last): prune exactly
    n_prune of the G·O·F weights (weights already zero in keep_pruned count among them and stay zero)."""
    g, o, f = weight.shape
    w = torch.cat([weight.double(), (bias.double() if bias is not None else torch.zeros(g, o,
                                                                                    dtype=torch.float64))[..., None]],
                  dim=2)  # [G, O, F+1]
    h, dead = prepare_hessian(gram, damp)
    w[:, :, :-1][dead[:, None, :-1].expand(g, o, f)] = 0.0
    u = inverse_cholesky(h)
    f1 = f + 1
    forced = torch.zeros(g, o, f1, dtype=torch.bool)
    forced[:, :, :-1] |= dead[:, None, :-1]
    if keep_pruned is not None:
        forced[:, :, :-1] |= keep_pruned
    mask = torch.zeros(g, o, f1, dtype=torch.bool)
    loss, done = 0.0, 0
    for start in range(0, f, block):
        stop = min(start + block, f)
        cols = slice(start, stop)
        u_blk = u[:, cols, cols]  # [G, B, B]
        d = torch.diagonal(u_blk, dim1=1, dim2=2)  # [G, B]
        w_blk = w[:, :, cols].clone()
        scores = w_blk ** 2 / (d[:, None, :] ** 2)
        scores = torch.where(forced[:, :, cols], torch.full_like(scores, -1.0), scores)
        k = block_count(n_prune, stop, f, done, int(forced[:, :, cols].sum()))
        done += k
        m_blk = torch.zeros_like(w_blk, dtype=torch.bool)
        if k > 0:
            flat = scores.reshape(-1)
            idx = torch.topk(flat, k, largest=False, sorted=False).indices
            m_blk.view(-1)[idx] = True
        err = torch.zeros_like(w_blk)
        for j in range(stop - start):
            col = w_blk[:, :, j]
            q = torch.where(m_blk[:, :, j], torch.zeros_like(col), col)
            e = (col - q) / d[:, j, None]  # [G, O]
            loss += float((e ** 2).sum()) / 2
            w_blk[:, :, j:] -= e[:, :, None] * u_blk[:, None, j, j:]
            w_blk[:, :, j] = q
            err[:, :, j] = e
        w[:, :, cols] = w_blk
        mask[:, :, cols] = m_blk
        w[:, :, stop:] -= torch.einsum("gob,gbc->goc", err, u[:, cols, stop:])
    return PruneResult(w[:, :, :-1], w[:, :, -1], mask[:, :, :-1], loss)


def reference_obs(weight: np.ndarray, bias: np.ndarray, gram: np.ndarray, n_prune: int, block: int,
                  damp: float = DAMPING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brute-force OBS for tests (one group): columns eliminated in order, each block's mask chosen
    greedily by w²/[H_j⁻¹]₀₀, every update taken from H_j⁻¹ recomputed by a full inverse of the
    remaining block of H. O(F⁴): small layers only."""
    o, f = weight.shape
    h_t, dead = prepare_hessian(torch.from_numpy(gram)[None], damp)
    h, dead = h_t[0].numpy(), dead[0].numpy()
    w = np.concatenate([weight.astype(np.float64), bias.astype(np.float64)[:, None]], axis=1)
    w[:, :-1][:, dead[:-1]] = 0.0
    mask = np.zeros((o, f), bool)
    done = 0
    for start in range(0, f, block):
        stop = min(start + block, f)
        sal = np.stack([w[:, j] ** 2 / np.linalg.inv(h[j:, j:])[0, 0] for j in range(start, stop)], axis=1)
        sal[:, dead[start:stop]] = -1.0
        k = block_count(n_prune, stop, f, done, int(dead[start:stop].sum()) * o)
        done += k
        chosen = np.zeros(sal.size, bool)
        chosen[np.argsort(sal.reshape(-1), kind="stable")[:k]] = True
        mask[:, start:stop] = chosen.reshape(sal.shape)
        for j in range(start, stop):
            inv = np.linalg.inv(h[j:, j:])
            for r in np.nonzero(mask[:, j])[0]:
                w[r, j:] -= w[r, j] / inv[0, 0] * inv[0, :]
                w[r, j] = 0.0
    return w[:, :-1], w[:, -1], mask
