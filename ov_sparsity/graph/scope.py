"""Ignored scope in NNCF's vocabulary: names, regex patterns, op types."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ov_sparsity.errors import OvSparsityError


@dataclass(frozen=True)
class IgnoredScope:
    names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def __post_init__(self):
        for p in self.patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise OvSparsityError(f"ignored scope: bad pattern {p!r}: {exc}") from None

    def matches(self, name: str, op_type: str) -> bool:
        return (name in self.names or op_type in self.types
                or any(re.fullmatch(p, name) for p in self.patterns))

    def __bool__(self) -> bool:
        return bool(self.names or self.patterns or self.types)

    def merged(self, other: "IgnoredScope") -> "IgnoredScope":
        return IgnoredScope(self.names + other.names, self.patterns + other.patterns,
                            self.types + other.types)

    def validate(self, model, who: str) -> None:
        """Every name, pattern and type must match something in the model (as NNCF's validated
        IgnoredScope): a misspelt layer is an error, not a silent no-op."""
        ops = list(model.get_ops())
        names = {op.get_friendly_name() for op in ops}
        for name in self.names:
            if name not in names:
                raise OvSparsityError(f"{who}: ignored scope names a layer that is not in the model: '{name}'")
        for pattern in self.patterns:
            if not any(re.fullmatch(pattern, n) for n in names):
                raise OvSparsityError(f"{who}: ignored scope pattern '{pattern}' matches no layer of the model")
        types = {op.get_type_name() for op in ops}
        for t in self.types:
            if t not in types:
                raise OvSparsityError(f"{who}: ignored scope type '{t}' matches no operation of the model")

    def to_nncf(self):
        import nncf

        return nncf.IgnoredScope(names=list(self.names), patterns=list(self.patterns),
                                 types=list(self.types), validate=False)

    @classmethod
    def parse(cls, value: Any) -> "IgnoredScope":
        """Accept None, an IgnoredScope, NNCF-style {names, patterns, types},
        or POT-style {scope: [names], operations: [{type: T}]}."""
        if value is None:
            return cls()
        if isinstance(value, IgnoredScope):
            return value
        if isinstance(value, (list, tuple)):
            return cls(names=tuple(str(v) for v in value))
        if not isinstance(value, dict):
            raise OvSparsityError(f"ignored_scope must be a mapping {{names, patterns, types}} or a list of layer "
                                  f"names, got {type(value).__name__}")
        known = {"names", "patterns", "types", "scope", "operations"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise OvSparsityError(f"ignored_scope: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")
        for key in known:
            entries = value.get(key, [])
            if not isinstance(entries, (list, tuple)) or (key != "operations" and not all(
                    isinstance(e, str) for e in entries)):
                what = "mappings {type: T}" if key == "operations" else "strings"
                raise OvSparsityError(f"ignored_scope: '{key}' must be a list of {what}, got {entries!r}")
        names = list(value.get("names", [])) + list(value.get("scope", []))
        types = list(value.get("types", []))
        for op in value.get("operations", []):
            if not isinstance(op, dict) or "type" not in op:
                raise OvSparsityError("ignored scope: each entry of 'operations' needs a 'type'")
            types.append(op["type"])
        return cls(names=tuple(map(str, names)), patterns=tuple(map(str, value.get("patterns", []))),
                   types=tuple(map(str, types)))
