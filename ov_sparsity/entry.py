"""The `ov-sparsity` command and `python -m ov_sparsity`: Ctrl-C while the modules still load ends as it
does later (exit 130, one line), not in a traceback or a crash; torch and OpenMP start with the thread count
the run will use (`--threads N`, else the CPUs this process may use), set before torch is imported."""

import os
import signal
import sys


def run() -> int:
    interrupted = []
    # while openvino and torch load, a KeyboardInterrupt raised inside their C++ callbacks aborts the process
    # (pybind11: terminate), so Ctrl-C is only noted then, and acted on once the imports are done
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        from ov_sparsity.engine.threads import available_cpus, plan, threads_flag

        given = threads_flag(sys.argv[1:])
        cpus = available_cpus(sample_idle=given is None)
        count = given or cpus["cpus"]
        cpus.pop("cpus", None)
        plan(count, "given" if given else "available CPUs", cpus)
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[key] = str(count)
        import ov_sparsity.api  # noqa: F401 - the heavy imports, here where Ctrl-C is deferred
        from ov_sparsity.cli import main
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("ov-sparsity: interrupted", file=sys.stderr)
        return 130
    return main()
