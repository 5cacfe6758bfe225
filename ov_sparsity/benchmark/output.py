"""Write a benchmark's results.json, results.md and report.html into its folder.

Imports flow one way: output -> html -> results."""

from __future__ import annotations

import shutil
from pathlib import Path

from ov_sparsity.benchmark.html import benchmark_page
from ov_sparsity.benchmark.results import markdown
from ov_sparsity.errors import OvSparsityError, write_failure
from ov_sparsity.jsonio import dumps, finite
from ov_sparsity.outputs import make_dirs, mark


def write_results(results: dict, out: Path, html: bool = True) -> list[Path]:
    """results.json, results.md and report.html into `out` (each written whole, then renamed)."""
    created = not out.exists()
    make_dirs(out)
    try:
        return _write(finite(results), out, html)
    except OvSparsityError:
        if created:  # nothing of ours is left half-written in a folder this call made
            shutil.rmtree(out, ignore_errors=True)
        raise


def _write(results: dict, out: Path, html: bool) -> list[Path]:
    files = {"results.json": dumps(results, indent=1) + "\n", "results.md": markdown(results)}
    if html:
        files["report.html"] = benchmark_page(results)
    written = []
    for name, text in files.items():
        tmp = out / f".{name}.tmp"
        try:
            tmp.write_text(text)
            tmp.replace(out / name)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OvSparsityError(f"cannot write {out / name}: {write_failure(tmp, exc)}") from None
        written.append(out / name)
    try:
        mark(out, "benchmark")
    except OSError as exc:
        raise OvSparsityError(f"cannot write {out}: {write_failure(out, exc)}") from None
    return written
