"""The recovery's optimisation loop: Adam with warm-up and a cosine schedule, held-out checks, the best weights
kept, early stopping, a divergence test that lets the caller retry at a lower rate."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from ov_sparsity.progress import bar

if TYPE_CHECKING:  # the parameters' class lives with the algorithm, which imports this loop
    from ov_sparsity.algorithms.recovery.algorithm import RecoveryParams

DIVERGED = 1.05  # the first held-out check above 1.05 x the phase's start: the rate is too high


class TrainingRun:
    """The optimisation state shared by the phases: the best weights seen on the held-out loss."""

    def __init__(self, p: RecoveryParams, params: list, train, per_epoch: int, loss_of, held_out,
                 progress: bool, t_start: float, rng):
        self.p, self.params, self.train, self.per_epoch = p, params, train, per_epoch
        self.loss_of, self.held_out, self.progress = loss_of, held_out, progress
        self.t_start, self.rng = t_start, rng
        self.best_loss, self.best_state = math.inf, None
        self.history, self.steps_done, self.stopped = [], 0, "epochs"

    def snapshot(self) -> list:
        return [q.detach().clone() for q in self.params]

    def restore(self, state: list) -> None:
        with torch.no_grad():
            for q, v in zip(self.params, state):
                q.copy_(v)

    def phase(self, mode: str, epochs: float, lr: float, origin_loss: float) -> str:
        """Adam at `lr` (warm-up, then cosine) for `epochs`; 'diverged' when the first held-out check is
        worse than DIVERGED x origin_loss, or when it stops early never having beaten origin_loss, else
        how it ended ('epochs', 'time', 'early')."""
        p = self.p
        planned = max(1, int(round(epochs * self.per_epoch)))
        every = max(1, self.per_epoch // p.evals_per_epoch)
        opt = torch.optim.Adam(self.params, lr=lr)
        total = [planned]
        warm = max(1, int(p.warmup * planned))  # Adam's first steps are sign-like: ramp the rate up
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (
            1 + math.cos(math.pi * min(s, total[0]) / total[0])))
        since_best, batches, step, checks = 0, [], 0, 0
        t_phase = time.perf_counter()
        with bar(total=planned, desc=f"recovery ({mode}, lr {lr:.2g})", enable=self.progress, unit="step") as pbar:
            while step < total[0]:
                if not batches:
                    batches = [b for b in np.array_split(self.rng.permutation(self.train), self.per_epoch) if len(b)]
                loss = self.loss_of(np.sort(batches.pop(0)), mode)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                self.steps_done += 1
                pbar.update(1)
                if p.time_budget_s is not None and step == 3:  # fit the schedule to the budget
                    rate = (time.perf_counter() - t_phase) / step * (1 + 1.0 / every)
                    share = epochs / max(p.epochs, 1e-9)
                    fit = int((p.time_budget_s * share - (time.perf_counter() - self.t_start)) / rate) + step
                    if fit < total[0]:
                        total[0] = pbar.total = max(step, fit)
                        self.stopped = "time"
                first = checks == 0 and step == min(every, max(2, warm))  # the divergence check comes early
                if step % every and step != total[0] and not first:
                    continue
                value = self.held_out("model")
                checks += 1
                self.history.append({"step": self.steps_done, "phase": mode, "lr": lr,
                                     "train_loss": round(float(loss.detach()), 6), "held_out_loss": round(value, 6)})
                pbar.set_postfix(held_out=f"{value:.4g}", start=f"{origin_loss:.4g}")
                if checks == 1 and value > DIVERGED * origin_loss and p.lr_retries:
                    return "diverged"
                if value < self.best_loss:
                    self.best_loss, self.best_state, since_best = value, self.snapshot(), 0
                else:
                    since_best += 1
                    if since_best >= p.patience:
                        self.stopped = "early"
                        if self.best_loss >= origin_loss and p.lr_retries:
                            return "diverged"  # never better than the start: the rate is too high
                        return "early"
        return self.stopped
