"""Threads from the CPUs this process may use: affinity, cgroup quota, CPUs busy at start; --threads wins."""

import json
import os
import subprocess
import sys
import time

import pytest

from ov_sparsity.engine.threads import available_cpus, busy_cpus, quota_cpus, threads_flag
from tests.models import build, save


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert quota_cpus(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert quota_cpus(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert quota_cpus(tmp_path) == 0.5


def test_the_threads_flag_is_read_before_the_parser():
    assert threads_flag(["compress", "m.xml", "--threads", "3"]) == 3
    assert threads_flag(["benchmark", "--threads=2"]) == 2
    assert threads_flag(["compress", "--threads", "x"]) is None and threads_flag([]) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_cpu_kept_busy_is_left_to_its_process():
    cpu = max(os.sched_getaffinity(0))
    loop = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert cpu in busy_cpus(set(os.sched_getaffinity(0)), interval=0.5)
        info = available_cpus()
        assert info["busy"] >= 1 and info["cpus"] == info["affinity"] - info["busy"]
    finally:
        loop.kill()
        loop.wait()


def test_the_report_records_the_threads(tmp_path):
    """In a process of its own (the count is set once per process): --threads 1 on two CPUs, and taskset."""
    save(build("conv_bias_relu", 0, hw=32), tmp_path / "m.xml")
    env = {**os.environ, "OV_SPARSITY_CACHE": str(tmp_path / "cache")}
    for name, prefix, flags in (("given", [], ["--threads", "1"]), ("pinned", ["taskset", "-c", "0"], [])):
        subprocess.run([*prefix, sys.executable, "-m", "ov_sparsity", "-q", "compress", str(tmp_path / "m.xml"),
                        "-o", str(tmp_path / name), "--data", "noise", "--subset-size", "4", *flags],
                       check=True, env=env, capture_output=True, timeout=300)
        threads = json.loads((tmp_path / name / "report.json").read_text())["threads"]
        assert threads["threads"] == 1, threads
        assert threads["source"] == ("given" if name == "given" else "available CPUs")
    assert threads["affinity"] == 1
