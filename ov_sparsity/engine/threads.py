"""How many threads a run uses: the CPUs this process may actually run on, for torch and OpenVINO alike.

`os.cpu_count()` counts the machine's CPUs, not ours: a container with a CPU quota, a job pinned to some
cores (`taskset`, a cluster task) or a shared workstation gives fewer. Torch starts one intra-op thread per
counted CPU, and its threads meet at a barrier after every operation, so one thread without a core holds up
all the others. The count comes from the affinity mask and the cgroup CPU quota (v2 `cpu.max`, v1
`cfs_quota_us`/`cfs_period_us`), or from the user (`--threads N`, `engine.threads`, `threads=`).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Optional

from ov_sparsity.errors import OvSparsityError

_CHOSEN: dict = {}
_PLANNED: dict = {}
MAX_THREADS = 1024
IDLE_SAMPLE_S = 0.25  # how long the CPUs' load is sampled at start
BUSY_SHARE = 0.5  # a CPU another process kept more than half busy over the sample is left to it


def quota_cpus(root: Path = Path("/sys/fs/cgroup")) -> Optional[float]:
    """The cgroup CPU quota in CPUs (None: no quota): cgroup v2's cpu.max of this process's group, or v1's."""
    group = _own_group(root)
    for folder in ([root / group.lstrip("/"), root] if group else [root]):
        try:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        except (OSError, ValueError):
            pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def _own_group(root: Path) -> str:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].strip()
    except OSError:
        pass
    return ""


def busy_cpus(cpus: set, interval: float = IDLE_SAMPLE_S) -> set:
    """The CPUs of `cpus` another process kept busy over `interval` seconds (/proc/stat; none off Linux)."""
    def sample() -> dict:
        found = {}
        try:
            for line in Path("/proc/stat").read_text().splitlines():
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                    ticks = [int(v) for v in fields[:8]]
                    found[int(name[3:])] = (sum(ticks), ticks[3] + ticks[4])  # total, idle + iowait
        except (OSError, ValueError):
            pass
        return found

    first = sample()
    time.sleep(interval)
    second = sample()
    busy = set()
    for cpu, (total, idle) in second.items():
        if cpu in first and total > first[cpu][0]:
            if 1 - (idle - first[cpu][1]) / (total - first[cpu][0]) > BUSY_SHARE:
                busy.add(cpu)
    return busy


def available_cpus(sample_idle: bool = True) -> dict:
    """{'cpus': the threads to run, 'affinity': CPUs in the mask, 'quota': CPUs the quota allows or None,
    'busy': CPUs of the mask another process kept busy at start}. One thread per CPU we may use, less
    those already busy: beside a busy core, torch's barrier waits on the thread that shares it (ResNet-56
    training steps measured 0.29 s alone on 2 cores, 0.98 s with 2 threads beside a busy core, 0.54 s
    with 1)."""
    try:
        mask = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mask = set(range(os.cpu_count() or 1))
    quota = quota_cpus()
    busy = busy_cpus(mask) if sample_idle and len(mask) > 1 else set()
    usable = len(mask) if quota is None else min(len(mask), math.ceil(quota - 1e-9))
    usable = max(1, min(usable, len(mask) - len(busy)))
    return {"cpus": usable, "affinity": len(mask), "quota": None if quota is None else round(quota, 2),
            "busy": len(busy)}


def plan(count: int, source: str, cpus: dict) -> None:
    """Record the count the command line chose before torch was imported (configure then keeps it)."""
    _PLANNED.update(threads=count, source=source, **cpus)


def configure(threads: Optional[int] = None) -> dict:
    """Set torch's intra-op threads and OpenVINO's inference threads, once per process, before either runs
    work: `threads` if given, else the count the command line planned, else the CPUs this process may use
    (available_cpus). Returns what was set (the report records it). Torch's count cannot change once
    its pool has started, so a second call asking for another count is refused."""
    if _CHOSEN:
        if threads is not None and int(threads) != _CHOSEN["threads"]:
            raise OvSparsityError(f"threads: this process already runs {_CHOSEN['threads']} threads; the count "
                                  f"is set once per process (asked {threads})")
        return dict(_CHOSEN)
    if threads is not None:
        info = {"threads": int(threads), "source": "given", **available_cpus(sample_idle=False)}
    elif _PLANNED:
        info = dict(_PLANNED)
    else:
        cpus = available_cpus()
        info = {"threads": cpus["cpus"], "source": "available CPUs", **cpus}
    info.pop("cpus", None)
    import torch

    from ov_sparsity.graph.model_io import core

    if torch.get_num_threads() != info["threads"]:  # a call with torch's own count, once its pool has
        torch.set_num_threads(info["threads"])  # started, breaks MKL's batched LU for the process (torch 2.13)
    core().set_property("CPU", {"INFERENCE_NUM_THREADS": info["threads"]})
    _CHOSEN.update(info)
    return dict(_CHOSEN)


def chosen() -> dict:
    """What configure set in this process ({} before it ran)."""
    return dict(_CHOSEN)


def threads_flag(argv: list) -> Optional[int]:
    """The value of `--threads N` / `--threads=N` in a command line, if a valid count (the parser checks it
    properly later)."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else arg[10:] if arg.startswith(
            "--threads=") else None
        if value is not None and value.isdigit() and 0 < int(value) <= MAX_THREADS:
            return int(value)
    return None
