"""ov_sparsity: post-training sparsity and compression for OpenVINO IR models."""

__version__ = "0.1.0"

import os as _os

# NNCF sends telemetry from child processes that try to reach the network (an offline machine waits on them,
# and Ctrl-C prints their tracebacks). NNCF_CI is NNCF's own switch to its no-op telemetry stub; it is read when
# nncf is first imported, and set here for this process only (a user who set it keeps their value).
_os.environ.setdefault("NNCF_CI", "1")

from ov_sparsity.errors import OvSparsityError  # noqa: E402


def __getattr__(name):
    # Lazy so that `import ov_sparsity` stays cheap (no openvino/nncf import).
    if name in ("sparsify", "compress"):
        from ov_sparsity import api

        return getattr(api, name)
    raise AttributeError(name)


__all__ = ["OvSparsityError", "sparsify", "compress", "__version__"]
