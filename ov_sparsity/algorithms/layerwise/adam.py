"""Adam on the layer's MSE to the dense output, masks fixed (the paper's tuning).

The data are sampled receptive-field patches with the dense layer's output at
the same positions; the loss is normalised by E[y²] of the dense output.
Masked parameters: gradients of pruned weights are zeroed and the weights
re-masked after every step, so the mask cannot change.
"""

from __future__ import annotations

import torch


def adam_tune(patches: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor, bias: torch.Tensor,
              keep: torch.Tensor, *, weights_lr: float, bias_lr: float, steps: int, batch_rows: int,
              seed: int, power: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, list]:
    """patches [S, G, F]; targets [S, C_out]; rows [G, Og, F]; bias [C_out]; keep [G, Og, F] bool.
    Returns tuned rows, bias and the loss per step (before each step)."""
    gen = torch.Generator().manual_seed(seed)
    w = rows.clone().float().mul_(keep).requires_grad_(True)
    b = bias.clone().float().requires_grad_(True)
    opt = torch.optim.Adam([{"params": [w], "lr": weights_lr}, {"params": [b], "lr": bias_lr}], weight_decay=0.0)
    keep_f = keep.float()
    losses = []
    n = patches.shape[0]
    for _ in range(steps):
        idx = torch.arange(n) if batch_rows >= n else torch.randint(0, n, (batch_rows,), generator=gen)
        x, y = patches[idx], targets[idx]
        pred = torch.einsum("sgf,gof->sgo", x, w).reshape(len(idx), -1) + b
        loss = ((pred - y) ** 2).mean() / power
        opt.zero_grad(set_to_none=False)
        loss.backward()
        w.grad.mul_(keep_f)
        opt.step()
        with torch.no_grad():
            w.mul_(keep_f)
        losses.append(float(loss.detach()))
    return w.detach(), b.detach(), losses
