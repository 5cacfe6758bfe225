"""ov_sparsity: post-training sparsity and compression for OpenVINO IR models."""

__version__ = "0.1.0"

import os as _os

# NNCF sends telemetry from child processes that try to reach the network (an offline machine waits on them,
# and Ctrl-C prints their tracebacks). NNCF_CI is NNCF's own switch to its no-op telemetry stub; it is read when
# nncf is first imported, and set here for this process only (a user who set it keeps their value).
_os.environ.setdefault("NNCF_CI", "1")


def _decline_openvino_telemetry() -> None:
    """`import openvino` sends a usage event from a child process (ovc's telemetry): offline it waits on the
    network, and Ctrl-C prints that child's traceback. Declined for this process only, as OpenVINO's own
    consent check does in CI; the user's consent file (opt_in_out) is neither read nor changed."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED


_decline_openvino_telemetry()

from ov_sparsity.errors import OvSparsityError  # noqa: E402


def __getattr__(name):
    # Lazy so that `import ov_sparsity` stays cheap (no openvino/nncf import).
    if name in ("sparsify", "compress"):
        from ov_sparsity import api

        return getattr(api, name)
    raise AttributeError(name)


__all__ = ["OvSparsityError", "sparsify", "compress", "__version__"]
