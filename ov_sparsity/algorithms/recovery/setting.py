"""The `recovery` parameter shared by the algorithms that run Recovery as their last step (WeightSparsity,
UDFC): a mode name, 'auto' (the algorithm decides), 'none', or a mapping of Recovery parameters."""

from __future__ import annotations

from typing import Any, Optional

from ov_sparsity.errors import OvSparsityError

RECOVERY_MODES = ("auto", "none", "model", "block", "block+model")


def check_recovery(value: Any) -> None:
    """Refuse a bad setting now, naming it (unknown keys and bad values too), not after the pruning."""
    from ov_sparsity.algorithms.recovery.algorithm import Recovery

    if isinstance(value, str):
        if value not in RECOVERY_MODES:
            raise OvSparsityError(f"parameter 'recovery' must be one of {', '.join(RECOVERY_MODES)} or a "
                                  f"mapping of Recovery parameters, got {value!r}")
    elif isinstance(value, dict):
        Recovery(**value)
    else:
        raise OvSparsityError(f"parameter 'recovery' must be a mode name or a mapping, got {value!r}")


def recovery_step(value: Any, auto: Optional[dict], **defaults):
    """The Recovery the setting asks for, or None. `auto`: the Recovery parameters 'auto' stands for
    (None: no recovery); `defaults` fill what a mode name or a mapping leaves out."""
    from ov_sparsity.algorithms.recovery.algorithm import Recovery

    if value == "none" or (value == "auto" and auto is None):
        return None
    if value == "auto":
        return Recovery(**{**defaults, **auto})
    if isinstance(value, dict):
        return Recovery(**{**defaults, **value})
    return Recovery(**{**defaults, "mode": value})
