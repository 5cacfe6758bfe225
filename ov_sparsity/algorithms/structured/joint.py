"""The DP adds each group's cost measured alone; removing channels in many groups at once can cost far
more than that sum. ResNet-56 at x1.4 (batch 32): the DP dropped seven residual branches, five of them
in a row in the first stage; their held-out KL measured alone summed to 1.04, together 2.89, and the
model fell to 33.6% top-1 (docs/results.md). So every choice is measured whole on the held-out samples
and, where it costs more than `TOLERANCE` x the sum, each narrowed group's cost is replaced by what it
costs in that context (the joint loss with and without it, SPDY's idea of correcting the DP's costs by
measurement), and the DP solved again, at most `ROUNDS` times. Corrections only raise costs and persist
for the rest of the search."""

from __future__ import annotations

from typing import Callable

import numpy as np

TOLERANCE = 1.25
ROUNDS = 3


class JointCosts:
    """Costs per group and width that the searches share, corrected in place by joint measurements.
    `loss(widths)`: the held-out output loss of the model at those widths (rebuilt, no refit)."""

    def __init__(self, costs: dict, widths: dict, dense_widths: dict, loss: Callable[[dict], float]):
        self.costs = {n: np.asarray(c, np.float64).copy() for n, c in costs.items()}
        self.widths, self.dense_widths, self.loss = widths, dense_widths, loss
        self.corrections: list = []

    def predicted(self, choice: dict) -> float:
        return float(sum(self.costs[n][j] for n, j in choice.items()))

    def solve(self, choose: Callable[[dict], dict], tolerance: float = TOLERANCE, rounds: int = ROUNDS) -> tuple:
        """(choice {group: width index}, its joint held-out loss, the sum of its costs) after up to `rounds`
        corrections; `choose(costs)` is the DP for the current costs."""
        for attempt in range(rounds + 1):
            choice = choose(self.costs)
            chosen = self.chosen(choice)
            predicted, joint = self.predicted(choice), self.loss(chosen)
            if joint <= tolerance * predicted + 1e-12 or attempt == rounds:
                return choice, joint, predicted
            self.correct(choice, chosen, joint, predicted)
        raise AssertionError("unreachable")

    def chosen(self, choice: dict) -> dict:
        return {n: self.widths[n][j] for n, j in choice.items()}

    def correct(self, choice: dict, chosen: dict, joint: float, predicted: float) -> None:
        """Each narrowed group's cost at its chosen width and narrower raised to its marginal cost in the
        choice: joint loss minus the joint loss with that group left dense."""
        raised = {}
        for n, j in choice.items():
            if j == 0:
                continue
            marginal = joint - self.loss({**chosen, n: self.dense_widths[n]})
            alone = float(self.costs[n][j])
            if marginal > alone:
                if alone > 0:
                    self.costs[n][j:] *= marginal / alone
                else:
                    self.costs[n][j:] += marginal
                self.costs[n] = np.maximum.accumulate(self.costs[n])
                raised[n] = {"alone": round(alone, 6), "in_context": round(marginal, 6)}
        self.corrections.append({"joint_loss": round(joint, 6), "predicted_loss": round(predicted, 6),
                                 "raised": raised})
