"""Typed keyword parameters for algorithms: defaults, type checks, POT aliases,
unknown keys rejected by name."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal, Optional, Union

from ov_sparsity.errors import OvSparsityError


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin is Union:
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None)) + " or null"
    return getattr(hint, "__name__", str(hint))


def _check(value, hint) -> tuple[bool, Any]:
    """(ok, coerced value)."""
    if hint is Any:
        return True, value
    origin = typing.get_origin(hint)
    if origin is Union:
        if value is None and type(None) in typing.get_args(hint):
            return True, None
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            ok, v = _check(value, arg)
            if ok:
                return True, v
        return False, value
    if origin is Literal:
        return value in typing.get_args(hint), value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, value
        (arg, *_) = typing.get_args(hint) or (Any,)
        out = []
        for item in value:
            ok, v = _check(item, arg)
            if not ok:
                return False, value
            out.append(v)
        return True, list(out) if origin is list else tuple(out)
    if origin is dict:
        return isinstance(value, dict), value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:  # NaN and infinity are never a parameter value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False, value
        return True, float(value)
    if hint is str:
        return isinstance(value, str), value
    return isinstance(value, hint), value


def build_params(algo: str, params_cls, given: dict, aliases: dict | None = None):
    """Instantiate params_cls from user keys: aliases mapped, unknown keys and
    wrong types rejected with a message naming the algorithm and the key."""
    aliases = aliases or {}
    hints = typing.get_type_hints(params_cls)
    names = [f.name for f in dataclasses.fields(params_cls)]
    kwargs = {}
    for key, value in (given or {}).items():
        target = aliases.get(key, key)
        if target not in hints:
            known = ", ".join(sorted(set(names) | set(aliases)))
            raise OvSparsityError(f"{algo}: unknown parameter '{key}' (known: {known})")
        ok, coerced = _check(value, hints[target])
        if not ok:
            what = _describe(hints[target]).replace("float", "a finite number")
            raise OvSparsityError(f"{algo}: parameter '{key}' must be {what}, got {value!r}")
        kwargs[target] = coerced
    try:
        return params_cls(**kwargs)
    except OvSparsityError as exc:
        raise OvSparsityError(f"{algo}: {exc}") from None


def check_range(name: str, value: float, low: float, high: float, high_open: bool = True) -> None:
    bad = not math.isfinite(value) or value < low or (value >= high if high_open else value > high)
    if bad:
        bracket = ")" if high_open else "]"
        raise OvSparsityError(f"parameter '{name}' must be in [{low}, {high}{bracket}, got {value}")


__all__ = ["build_params", "check_range", "Optional", "Literal", "Any"]
