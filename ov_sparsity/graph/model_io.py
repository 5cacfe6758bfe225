"""Loading, saving and atomic output of OpenVINO IR models."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import openvino as ov

from ov_sparsity.errors import OvSparsityError

_CORE = None


def core() -> ov.Core:
    global _CORE
    if _CORE is None:
        _CORE = ov.Core()
    return _CORE


def read_model(xml: str | os.PathLike, weights: str | os.PathLike | None = None) -> ov.Model:
    """Read an IR; every failure becomes a one-line OvSparsityError."""
    xml = Path(xml)
    if not xml.exists():
        raise OvSparsityError(f"model file not found: {xml}")
    if xml.is_dir():
        raise OvSparsityError(f"model path is a directory, expected an .xml file: {xml}")
    if xml.suffix.lower() != ".xml":
        raise OvSparsityError(f"model must be an OpenVINO IR .xml file, got: {xml}")
    bin_path = Path(weights) if weights else xml.with_suffix(".bin")
    if not bin_path.exists():
        raise OvSparsityError(f"weights file not found: {bin_path}")
    try:
        return core().read_model(str(xml), str(bin_path))
    except Exception as exc:  # openvino raises RuntimeError with a long, multi-line text
        first = str(exc).strip().splitlines()
        detail = next((line.strip() for line in first if line.strip()), type(exc).__name__)
        raise OvSparsityError(f"cannot read model {xml}: {detail[:300]}") from None


def with_batch1(model: ov.Model) -> ov.Model:
    """A clone whose inputs have batch 1 (latency runs, per-image MAC counts)."""
    clone = model.clone()
    shapes = {}
    for p in clone.get_parameters():
        ps = ov.PartialShape(p.get_partial_shape())
        if ps.rank.is_static and len(ps):
            ps[0] = 1
        shapes[p.output(0)] = ps
    clone.reshape(shapes)
    return clone


def save_model(model: ov.Model, xml: str | os.PathLike) -> None:
    """Save with FP32 weights kept as they are (no FP16 compression)."""
    ov.save_model(model, str(xml), compress_to_fp16=False)


def check_writable_parent(out_dir: Path) -> Path:
    """Fail early (before long work) if out_dir cannot be created or written."""
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise OvSparsityError(f"output path exists and is not a directory: {out_dir}")
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=f".{out_dir.name}.probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise OvSparsityError(f"output directory is not writable: {out_dir} ({exc.strerror})") from None
    return out_dir


@contextlib.contextmanager
def atomic_output_dir(out_dir: str | os.PathLike):
    """Yield a temporary directory next to out_dir; move it into place on success only."""
    out_dir = check_writable_parent(Path(out_dir))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    backup = None
    if out_dir.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rmdir(backup)
        os.replace(out_dir, backup)
    os.replace(tmp, out_dir)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
