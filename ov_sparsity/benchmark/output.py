"""Write a benchmark's results.json, results.md and report.html into its folder.

Imports flow one way: output -> html -> results."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ov_sparsity.benchmark.html import benchmark_page
from ov_sparsity.benchmark.results import markdown
from ov_sparsity.outputs import make_dirs, mark


def finite(value):
    """value with every NaN or infinity replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def write_results(results: dict, out: Path, html: bool = True) -> list[Path]:
    """results.json, results.md and report.html into `out` (each written whole, then renamed)."""
    make_dirs(out)
    results = finite(results)
    files = {"results.json": json.dumps(results, indent=1, allow_nan=False) + "\n", "results.md": markdown(results)}
    if html:
        files["report.html"] = benchmark_page(results)
    written = []
    for name, text in files.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)
        written.append(out / name)
    mark(out, "benchmark")
    return written
