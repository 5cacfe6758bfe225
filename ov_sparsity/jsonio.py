"""JSON as strict parsers read it: NaN and infinity written as null, never as bare tokens."""

from __future__ import annotations

import json
import math


def finite(value):
    """value with every NaN or infinity replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value, indent=None) -> str:
    """Strict JSON text of `value` (non-finite numbers as null)."""
    return json.dumps(finite(value), indent=indent, allow_nan=False)
