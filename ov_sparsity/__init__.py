"""ov_sparsity: post-training sparsity and compression for OpenVINO IR models."""

__version__ = "0.1.0"

from ov_sparsity.errors import OvSparsityError  # noqa: E402


def __getattr__(name):
    # Lazy so that `import ov_sparsity` stays cheap (no openvino/nncf import).
    if name in ("sparsify", "compress"):
        from ov_sparsity import api

        return getattr(api, name)
    raise AttributeError(name)


__all__ = ["OvSparsityError", "sparsify", "compress", "__version__"]
