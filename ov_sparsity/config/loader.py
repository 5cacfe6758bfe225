"""Read a config file: JSON (comments allowed) or YAML."""

from __future__ import annotations

import json
from pathlib import Path

from ov_sparsity.config.schema import RunConfig
from ov_sparsity.errors import OvSparsityError


def strip_json_comments(text: str) -> str:
    """Remove // and /* */ comments outside of strings."""
    out, i, n = [], 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif text.startswith("//", i) or c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            out.append("\n" * text.count("\n", i, end))
            i = end + 2
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def read_config_file(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise OvSparsityError(f"config path is a folder, expected a JSON or YAML file: {path}")
    if not path.is_file():
        raise OvSparsityError(f"config file not found: {path}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise OvSparsityError(f"cannot read config file {path}: {exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(strip_json_comments(text))
    except Exception as exc:
        detail = str(exc).replace("\n", " ")
        raise OvSparsityError(f"cannot parse config file {path}: {detail[:200]}") from None
    if not isinstance(data, dict):
        raise OvSparsityError(f"config file {path} must hold a mapping at the top level")
    return data


def parse_config(data: dict, base_dir: Path | None = None) -> RunConfig:
    return RunConfig.from_dict(data, base_dir or Path.cwd())


def load_config(path: str | Path) -> RunConfig:
    config = parse_config(read_config_file(path), Path(path).absolute().parent)
    config.path = Path(path).absolute()
    return config
