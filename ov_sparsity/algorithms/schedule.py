"""The cubic sparsity schedule: s_t = s_f + (s_i − s_f)(1 − t/T)³, t = 1..T."""

from __future__ import annotations

from dataclasses import dataclass

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.validate import RANGES, checked


@dataclass(frozen=True)
class Schedule:
    initial_sparsity: float
    steps: int

    @classmethod
    def parse(cls, value, final: float) -> "Schedule":
        """None -> one step straight to `final`; {initial_sparsity, steps} as given."""
        if value is None:
            return cls(final, 1)
        if not isinstance(value, dict):
            raise OvSparsityError("schedule must be a mapping {initial_sparsity, steps}")
        unknown = sorted(set(value) - {"initial_sparsity", "steps"})
        if unknown:
            raise OvSparsityError(f"schedule: unknown key '{unknown[0]}' (known: initial_sparsity, steps)")
        steps = checked("schedule: steps", value.get("steps", 4), RANGES["schedule_steps"])  # the CLI's range
        initial = value.get("initial_sparsity", max(0.0, final - 0.3))
        checked("schedule: initial_sparsity", initial, RANGES["initial_sparsity"])
        if initial > final:
            raise OvSparsityError(f"schedule: initial_sparsity must be in [0, {final}], got {initial!r}")
        return cls(float(initial), steps)

    def levels(self, final: float) -> list[float]:
        t_max = self.steps
        return [final + (self.initial_sparsity - final) * (1 - t / t_max) ** 3 for t in range(1, t_max + 1)]
