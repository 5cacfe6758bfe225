"""One numeric validation for the command line and configs alike: the same ranges,
NaN and infinity rejected everywhere, one-line messages."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Optional

from ov_sparsity.errors import OvSparsityError


@dataclass(frozen=True)
class Range:
    low: Optional[float] = None
    high: Optional[float] = None
    integer: bool = False
    high_open: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in [{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{kind} >= {_num(self.low)}"
        if self.high is not None:
            return f"{kind} <= {_num(self.high)}"
        return f"a finite {kind[2:] if kind.startswith('a ') else kind}"

    def problem(self, value) -> Optional[str]:
        """None when value fits, else what is wrong (without the name)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be {self.describe()}, got {value!r}"
        if self.integer and not isinstance(value, int):
            return f"must be {self.describe()}, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value}"
        if (self.low is not None and value < self.low) or (self.high is not None and (
                value >= self.high if self.high_open else value > self.high)):
            return f"must be {self.describe()}, got {value}"
        return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


SEED_MAX = 2 ** 32 - 1
MAX_SAMPLES = 10_000_000  # calibration / evaluation samples: far beyond any dataset here, and no overflow
RANGES = {
    "sparsity": Range(0.0, 1.0, high_open=True),
    "initial_sparsity": Range(0.0, 1.0, high_open=True),
    "prune_ratio": Range(0.0, 1.0, high_open=True),
    "max_accuracy_drop": Range(0.0, 100.0),
    "seed": Range(0, SEED_MAX, integer=True),
    "subset_size": Range(1, MAX_SAMPLES, integer=True),
    "holdout": Range(0, MAX_SAMPLES, integer=True),
    "seq_len": Range(3, 1 << 16, integer=True),
    "eval_subset_size": Range(1, MAX_SAMPLES, integer=True),
    "batch_size": Range(1, 4096, integer=True),
    "limit": Range(1, MAX_SAMPLES, integer=True),
    "schedule_steps": Range(1, 100, integer=True),
    "weight_bits": Range(2, 8, integer=True),
    "speedup": Range(1.0, 100.0),
    "channel_multiple": Range(1, 1024, integer=True),
    "threshold": Range(0.0, 1.0),
    "seconds": Range(0.0, 86400.0),
    "recovery_minutes": Range(0.0, 10080.0),
    "workers": Range(1, 256, integer=True),
    "threads": Range(1, 1024, integer=True),
    "images": Range(1, 1_000_000, integer=True),
    "image_size": Range(16, 4096, integer=True),
}


def checked(name: str, value, rng: Range, prefix: str = ""):
    """value, or a one-line OvSparsityError naming `name`."""
    problem = rng.problem(value)
    if problem:
        raise OvSparsityError(f"{prefix}{name} {problem}")
    return float(value) if not rng.integer else int(value)


def cli_type(key: str):
    """An argparse `type` that parses the text and checks it against RANGES[key]."""
    rng = RANGES[key]

    def parse(text: str):
        try:
            value = int(text) if rng.integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rng.describe()}, got {text!r}") from None
        problem = rng.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = key
    return parse
