"""Output folders that never cost the user a file.

A run writes into a temporary folder beside its target and moves it into place
only when complete. The target may be replaced only when it is missing, empty,
or a previous output of this tool -- recognised by what the tool itself writes
there (a `.ov-sparsity` marker, or nothing but the files of that kind of
output). It may never be, or contain, an input (model, weights, config, data),
nor lie inside an input data folder. Temporary folders are removed on every
failure path, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from ov_sparsity.errors import OvSparsityError

MARKER = ".ov-sparsity"
_TMP_PREFIX = ".ovs-tmp-"
_OLD_PREFIX = ".ovs-old-"
NAME_MAX = 255

# What each kind of output holds; (names, patterns, signature: one of these marks an older output without a marker)
KINDS = {
    "compress": ({"model.xml", "model.bin", "report.json", "report.html", "config.json", "wall_s.txt"}, (),
                 {"report.json"}),
    "fractals": (set(), (r"fractal_\d+\.png",), set()),
    "benchmark": ({"results.json", "results.md", "report.html", "models", "runs", "data"}, (),
                  {"results.json"}),
    "demo": ({"mobilenet_v2.xml", "mobilenet_v2.bin"}, (r"mobilenet_v2_sparse\d+_int8",), {"mobilenet_v2.xml"}),
}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _owned(entries: list, kind: str) -> bool:
    names, patterns, _ = KINDS[kind]
    return all(e == MARKER or e in names or any(re.fullmatch(p, e) for p in patterns) for e in entries)


def replaceable(folder: Path, kind: str) -> bool:
    """True when `folder` is missing, empty, or holds only what this tool writes for `kind`
    (an older output without the marker counts when it holds the kind's signature file, or,
    for fractals, only fractal images)."""
    if not folder.exists():
        return True
    entries = sorted(os.listdir(folder))
    if not entries:
        return True
    if not _owned(entries, kind):
        return False
    signature = KINDS[kind][2]
    return MARKER in entries or not signature or bool(signature & set(entries))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _first_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(out_dir, kind: str, inputs: Iterable = (), data_dirs: Iterable = ()) -> Path:
    """The resolved target, after every check that can fail before long work starts.
    inputs: files and folders the run reads (never inside the output); data_dirs: folders
    the output may not be inside either (writing there would change the data)."""
    out_dir = Path(os.path.abspath(os.path.expanduser(str(out_dir))))  # '.' and '..' become real names
    if not out_dir.name:
        raise OvSparsityError(f"output folder cannot be the filesystem root: {out_dir}")
    out_dir = out_dir.parent.resolve() / out_dir.name
    if len(os.fsencode(out_dir.name)) > NAME_MAX:
        raise OvSparsityError(f"output name is too long ({len(os.fsencode(out_dir.name))} bytes, at most {NAME_MAX}): "
                              f"{out_dir.name[:40]}...")
    existing = _first_existing(out_dir)
    if existing == out_dir and not out_dir.is_dir():
        raise OvSparsityError(f"output path exists and is not a folder: {out_dir}")
    if existing != out_dir and not existing.is_dir():
        raise OvSparsityError(f"output path is under a file, not a folder: {existing}")
    for p in list(inputs) + list(data_dirs):
        if p is None:
            continue
        p = Path(p).resolve()
        if _inside(p, out_dir):
            what = "data folder" if p.is_dir() else "input"
            raise OvSparsityError(f"refusing to write into {out_dir}: it holds the {what} {p}")
    for d in data_dirs:
        if d is not None and _inside(out_dir, Path(d).resolve()):
            raise OvSparsityError(f"refusing to write into {out_dir}: it is inside the data folder {Path(d).resolve()}")
    if out_dir.is_dir():
        try:
            ok = replaceable(out_dir, kind)
        except OSError as exc:
            raise OvSparsityError(f"cannot read output folder {out_dir}: {exc.strerror}") from None
        if not ok:
            raise OvSparsityError(f"refusing to overwrite {out_dir}: it holds files this tool did not write")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OvSparsityError(f"output folder is not writable: {existing}")
    return out_dir


def make_dirs(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OvSparsityError(f"cannot create output folder {folder}: {exc.strerror}") from None


def mark(folder: Path, kind: str) -> None:
    (Path(folder) / MARKER).write_text(f"written by ov-sparsity ({kind}); this folder may be replaced by its next run\n")


@contextlib.contextmanager
def atomic_output_dir(out_dir, kind: str, inputs: Iterable = (), data_dirs: Iterable = ()):
    """Yield a temporary folder beside out_dir; move it into place only on success."""
    inputs, data_dirs = list(inputs), list(data_dirs)
    out_dir = check_output_dir(out_dir, kind, inputs, data_dirs)
    make_dirs(out_dir.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=out_dir.parent))
    except OSError as exc:
        raise OvSparsityError(f"output folder is not writable: {out_dir.parent} ({exc.strerror})") from None
    backup: Optional[Path] = None
    try:
        yield tmp
        mark(tmp, kind)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give it the mode any new folder gets
        check_output_dir(out_dir, kind, inputs, data_dirs)  # again: the folder may have changed meanwhile
        if out_dir.exists():
            backup = Path(tempfile.mkdtemp(prefix=_OLD_PREFIX, dir=out_dir.parent))
            os.rmdir(backup)
            os.replace(out_dir, backup)
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if backup is not None:
                os.replace(backup, out_dir)
                backup = None
            raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = errno.errorcode.get(exc.errno, "") if exc.strerror is None else exc.strerror
        raise OvSparsityError(f"cannot write output folder {out_dir}: {reason}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def check_output_file(path, inputs: Iterable = (), create_parents: bool = True) -> Path:
    """A single output file (zoo export .xml, contact sheet): its folder must exist (or, with
    create_parents, be creatable) and be writable, and the file must not be one of the inputs."""
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise OvSparsityError(f"output name is too long ({len(os.fsencode(path.name))} bytes, at most {NAME_MAX})")
    if path.is_dir():
        raise OvSparsityError(f"output path is a folder, expected a file: {path}")
    existing = _first_existing(path.parent)
    if not existing.is_dir():
        raise OvSparsityError(f"output path is under a file, not a folder: {existing}")
    if not create_parents and existing != path.parent:
        raise OvSparsityError(f"folder not found for {path}: {path.parent}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OvSparsityError(f"output folder is not writable: {existing}")
    for p in inputs:
        if p is not None and Path(p).resolve() == path.resolve():
            raise OvSparsityError(f"refusing to overwrite the input {path}")
    return path
