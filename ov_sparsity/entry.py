"""The `ov-sparsity` command and `python -m ov_sparsity`: Ctrl-C while the modules still load ends as it
does later (exit 130, one line), not in a traceback; torch and OpenMP start with the thread count the run
will use (`--threads N`, else the CPUs this process may use), set before torch is imported."""

import os
import sys


def run() -> int:
    try:
        from ov_sparsity.engine.threads import available_cpus, plan, threads_flag

        given = threads_flag(sys.argv[1:])
        cpus = available_cpus(sample_idle=given is None)
        count = given or cpus.pop("cpus")
        cpus.pop("cpus", None)
        plan(count, "given" if given else "available CPUs", cpus)
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[key] = str(count)
        from ov_sparsity.cli import main
    except KeyboardInterrupt:
        print("ov-sparsity: interrupted", file=sys.stderr)
        return 130
    return main()
