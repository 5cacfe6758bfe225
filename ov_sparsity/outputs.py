"""Output folders that never cost the user a file.

A run writes into a temporary folder beside its target and moves it into place
only when complete. The target may be replaced only when it is missing, empty,
or a previous output of this tool -- recognised by what the tool itself writes
there (a `.ov-sparsity` marker, or nothing but the files of that kind of
output). It may never be, or contain, an input (model, weights, config, data),
nor lie inside an input data folder. Temporary folders are removed on every
failure path, Ctrl-C included; their names carry the host and process that made
them, so one left by a killed run (`kill -9`, power loss) is removed by the next
run that writes beside it, while one a live run owns is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from ov_sparsity.errors import OvSparsityError, write_failure

MARKER = ".ov-sparsity"
NAME_MAX = 255

@dataclass(frozen=True)
class OutputKind:
    """What one kind of output holds. Without the marker a folder counts as an older output of ours only
    when it holds nothing but `files` (no folder: a name like `data` proves nothing) and its signature file
    reads as ours (a JSON object with `keys`)."""
    files: frozenset = frozenset()
    patterns: tuple = ()  # file names by pattern (fractal_00001.png)
    folders: frozenset = frozenset()  # allowed only beside the marker
    signature: str = ""
    keys: tuple = ()


KINDS = {
    "compress": OutputKind(frozenset({"model.xml", "model.bin", "report.json", "report.html", "config.json",
                                      "wall_s.txt"}), signature="report.json",
                           keys=("model", "global_sparsity", "layers", "algorithms")),
    "fractals": OutputKind(patterns=(r"fractal_\d+\.png",)),
    "benchmark": OutputKind(frozenset({"results.json", "results.md", "report.html"}),
                            folders=frozenset({"models", "runs", "data"}), signature="results.json",
                            keys=("schema_version", "machine", "models")),
    "demo": OutputKind(frozenset({"mobilenet_v2.xml", "mobilenet_v2.bin"}),
                       folders=frozenset({f"mobilenet_v2_sparse{p}_int8" for p in range(100)})),
}
SIGNATURE_BYTES = 64 << 20  # a signature file larger than this is not one of ours


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so that a reused pid is not taken for
    the process that made a folder; '0' where /proc is not there."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start == "0" or _start_time(pid) in (start, "0")


_OWNED_TEMP = re.compile(r"\.ovs-(?:tmp|old)-([0-9a-f]{8})-(\d+)-(\d+)-.+")


def sweep_stale(folder: Path) -> list:
    """Remove the temporary folders beside an output that a dead run of ours left in `folder` (its name
    carries this host and a process that is gone); those of live runs and other hosts stay."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    host = _host_tag()
    for name in names:
        found = _OWNED_TEMP.fullmatch(name)
        if found and found[1] == host and not _alive(int(found[2]), found[3]):
            path = Path(folder) / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def temp_dir(parent: Path, role: str = "tmp") -> Path:
    """A new folder in `parent` named for this host and process (role 'tmp': work in progress; 'old': an
    output being replaced), after the stale ones of dead runs there are removed."""
    sweep_stale(parent)
    pid = os.getpid()
    return Path(tempfile.mkdtemp(prefix=f".ovs-{role}-{_host_tag()}-{pid}-{_start_time(pid)}-", dir=parent))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _ours(folder: Path, kind: OutputKind) -> bool:
    """The signature file is a JSON object with the kind's keys (read capped; nesting a parser rejects
    is not ours either)."""
    path = folder / kind.signature
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > SIGNATURE_BYTES:
            return False
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and all(k in data for k in kind.keys)


def replaceable(folder: Path, kind: str) -> bool:
    """True when `folder` is missing, empty, or an earlier output of this tool for `kind`: it holds our
    marker and only what that kind writes, or, without the marker, only the kind's files (no folders, no
    links) with a signature file that reads as ours (fractals: only fractal images)."""
    if not folder.exists():
        return True
    entries = sorted(os.listdir(folder))
    if not entries:
        return True
    spec = KINDS[kind]
    marked = MARKER in entries and (folder / MARKER).is_file()
    for e in entries:
        path = folder / e
        if e == MARKER:
            continue
        if e in spec.folders and marked and path.is_dir() and not path.is_symlink():
            continue
        named = e in spec.files or any(re.fullmatch(p, e) for p in spec.patterns)
        if not named or path.is_symlink() or not path.is_file():
            return False
    return marked or not spec.signature or _ours(folder, spec)


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
    if out_dir.is_symlink():  # write where the link points; the link then points at the new output
        out_dir = out_dir.resolve()
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
    (Path(folder) / MARKER).write_text(f"written by ov-sparsity ({kind}); this folder may be replaced by its next "
                                       "run\n")


@contextlib.contextmanager
def atomic_output_dir(out_dir, kind: str, inputs: Iterable = (), data_dirs: Iterable = ()):
    """Yield a temporary folder beside out_dir; move it into place only on success."""
    inputs, data_dirs = list(inputs), list(data_dirs)
    out_dir = check_output_dir(out_dir, kind, inputs, data_dirs)
    make_dirs(out_dir.parent)
    try:
        tmp = temp_dir(out_dir.parent)
    except OSError as exc:
        raise OvSparsityError(f"output folder is not writable: {out_dir.parent} ({exc.strerror})") from None
    backup: Optional[Path] = None
    try:
        yield tmp
        mark(tmp, kind)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give it the mode any new folder gets
        check_output_dir(out_dir, kind, inputs, data_dirs)  # again: the folder may have changed meanwhile
        if out_dir.exists():
            backup = temp_dir(out_dir.parent, "old")
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
        raise OvSparsityError(f"cannot write output folder {out_dir}: {write_failure(out_dir, exc)}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if backup is not None:
        remove(backup)


def remove(path: Path) -> None:
    """A folder of ours removed whole (a link: the link only)."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


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
