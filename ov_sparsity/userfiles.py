"""Reading files a user hands us, which someone else may have made.

- Only regular files are opened: a FIFO, a device (`/dev/zero`) or a socket is refused before any reader
  touches it (a FIFO would block the reader, a device never ends).
- Every read is capped in size, and the cap names itself in the error.
- JSON is parsed with its nesting bounded; YAML with the safe loader (no python tags); nothing is unpickled
  here (checkpoints: `load_checkpoint`, tensors only).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from ov_sparsity.errors import OvSparsityError

SMALL = 64 << 20  # configs, --widths, --preprocess, reports, suites: far above any real one
LARGE = 2 << 30  # annotations, interactions, texts, checkpoints: MovieLens-25M's ratings are 0.65 GB
MAX_DEPTH = 100  # JSON nesting: real configs and annotations use under 10 levels


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def regular_file(path, what: str) -> Path:
    """`path` as a Path after checking, without opening it, that it is a regular file."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise OvSparsityError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise OvSparsityError(f"cannot read {what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise OvSparsityError(f"{what} is a folder, expected a file: {path}")
    if not stat.S_ISREG(info.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                or stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a file")
        raise OvSparsityError(f"{what} {path} is {kind}, not a regular file")
    return path


def read_bytes(path, what: str, limit: int = SMALL) -> bytes:
    """The bytes of a regular file of at most `limit` bytes."""
    path = regular_file(path, what)
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise OvSparsityError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise OvSparsityError(f"{what} {path} is larger than {_size(limit)}, the most read for it")
    return data


def read_text(path, what: str, limit: int = SMALL, encoding: str = "utf-8") -> str:
    data = read_bytes(path, what, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise OvSparsityError(f"{what} {path} is not {encoding.upper()} text (byte {exc.start})") from None


def depth(value) -> int:
    """Nesting depth of parsed JSON, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str | bytes, what: str) -> Any:
    """JSON text parsed, its nesting at most MAX_DEPTH; every failure one line naming `what`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise OvSparsityError(f"{what}: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise OvSparsityError(f"{what}: not valid JSON ({' '.join(str(exc).split())})") from None
    if depth(value) > MAX_DEPTH:
        raise OvSparsityError(f"{what}: JSON nested deeper than {MAX_DEPTH} levels")
    return value


def first_error(exc) -> str:
    """'where: what' of a pydantic ValidationError's first error (where as images[0].file_name)."""
    err = exc.errors()[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
    return f"{where or 'top level'}: {err['msg']}"


def load_json(path, what: str, limit: int = SMALL) -> Any:
    return parse_json(read_bytes(path, what, limit), f"{what} {path}")


def load_checkpoint(path, what: str = "weights file") -> Any:
    """A torch checkpoint read with `weights_only=True`: tensors, numbers, strings and containers of them,
    never objects (a pickle's code is not run). One that needs more is refused in one line."""
    import pickle

    import torch

    path = regular_file(path, what)
    if path.stat().st_size > LARGE:
        raise OvSparsityError(f"{what} {path} is larger than {_size(LARGE)}, the most read for it")
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        reason = first.split("Unsupported global:")[-1].strip() if "Unsupported global" in str(exc) else first
        raise OvSparsityError(f"refusing to load {what} {path}: it holds more than tensors and plain values, "
                              f"and loading it would run code ({reason[:120]})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise OvSparsityError(f"cannot read {what} {path}: {detail}") from None

