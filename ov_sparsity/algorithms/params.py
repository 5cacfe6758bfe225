"""Typed keyword parameters for algorithms: defaults, type checks (pydantic, strict: no
string-to-number or number-to-bool coercion, NaN and infinity refused), POT aliases,
unknown keys rejected by name. Ranges are checked by each Params' __post_init__."""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any, Literal, Optional, Union

from pydantic import ConfigDict, TypeAdapter, ValidationError

from ov_sparsity.errors import OvSparsityError

_STRICT = ConfigDict(strict=True, allow_inf_nan=False)


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    if origin is Union:
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None)) + " or null"
    if origin in (list, tuple):
        (arg, *_) = typing.get_args(hint) or (Any,)
        return f"a list of {_describe(arg)}"
    return getattr(hint, "__name__", str(hint))


@functools.lru_cache(maxsize=None)
def _adapter(hint) -> TypeAdapter:
    return TypeAdapter(hint, config=_STRICT)


def _plain(value):
    """numpy scalars as Python numbers and tuples as lists (what a user of the Python API may pass)."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def build_params(algo: str, params_cls, given: dict, aliases: dict | None = None):
    """Instantiate params_cls from user keys: aliases mapped, unknown keys and
    wrong types rejected with a message naming the algorithm and the key."""
    aliases = aliases or {}
    hints = typing.get_type_hints(params_cls)
    names = [f.name for f in dataclasses.fields(params_cls)]
    if given is not None and not isinstance(given, dict):
        raise OvSparsityError(f"{algo}: params must be a mapping of parameter names to values, got {given!r}")
    kwargs = {}
    for key, value in (given or {}).items():
        target = aliases.get(key, key)
        if target not in hints:
            known = ", ".join(sorted(set(names) | set(aliases)))
            raise OvSparsityError(f"{algo}: unknown parameter '{key}' (known: {known})")
        try:
            kwargs[target] = _adapter(hints[target]).validate_python(_plain(value))
        except ValidationError:
            what = _describe(hints[target]).replace("float", "a finite number")
            raise OvSparsityError(f"{algo}: parameter '{key}' must be {what}, got {value!r}") from None
    try:
        return params_cls(**kwargs)
    except OvSparsityError as exc:
        raise OvSparsityError(f"{algo}: {exc}") from None


def check_range(name: str, value: float, low: float, high: float, high_open: bool = True) -> None:
    bad = not math.isfinite(value) or value < low or (value >= high if high_open else value > high)
    if bad:
        bracket = ")" if high_open else "]"
        raise OvSparsityError(f"parameter '{name}' must be in [{low}, {high}{bracket}, got {value}")


def check_shared(name: str, value, key: str) -> None:
    """A parameter that is also a command-line flag or an engine key: the range they share (validate.RANGES)."""
    from ov_sparsity.validate import RANGES, checked

    checked(f"parameter '{name}'", value, RANGES[key])


__all__ = ["build_params", "check_range", "check_shared", "Optional", "Literal", "Any"]
