"""Read a config file: YAML, or JSON in POT's relaxed dialect (jstyleson: // and /* */
comments, trailing commas), read by json5, a superset of it; parse errors keep line and column."""

from __future__ import annotations

import re
from pathlib import Path

from ov_sparsity.config.schema import RunConfig
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import MAX_DEPTH, depth, read_text


def read_config_file(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise OvSparsityError(f"config path is a folder, expected a JSON or YAML file: {path}")
    text = read_text(path, "config file")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            import json5

            data = json5.loads(text)
    except Exception as exc:
        detail = _where(exc) or str(exc).replace("\n", " ")
        raise OvSparsityError(f"cannot parse config file {path}: {detail[:200]}") from None
    if not isinstance(data, dict):
        raise OvSparsityError(f"config file {path} must hold a mapping at the top level")
    if depth(data) > MAX_DEPTH:
        raise OvSparsityError(f"config file {path}: nested deeper than {MAX_DEPTH} levels")
    return data


def _where(exc: Exception) -> str:
    """'line L column C: problem' for YAML errors (json5's messages carry '<string>:L ... column C')."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"line {mark.line + 1} column {mark.column + 1}: {getattr(exc, 'problem', '') or exc}"
    text = str(exc).replace("\n", " ")
    found = re.match(r"<string>:(\d+) (.*) at column (\d+)", text)
    return f"line {found[1]} column {found[3]}: {found[2]}" if found else text


def parse_config(data: dict, base_dir: Path | None = None) -> RunConfig:
    return RunConfig.from_dict(data, base_dir or Path.cwd())


def load_config(path: str | Path) -> RunConfig:
    config = parse_config(read_config_file(path), Path(path).absolute().parent)
    config.path = Path(path).absolute()
    return config
