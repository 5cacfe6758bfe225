"""Progress bars (tqdm) that stay quiet when asked or when not on a terminal in CI."""

from __future__ import annotations

import contextlib
import os
import sys


def progress_enabled() -> bool:
    return os.environ.get("OV_SPARSITY_PROGRESS", "1") != "0"


@contextlib.contextmanager
def bar(total: int | None = None, desc: str | None = None, enable: bool = True, unit: str = "img", **kwargs):
    from tqdm import tqdm

    disable = not (enable and progress_enabled())
    with tqdm(total=total, desc=desc, disable=disable, unit=unit, file=sys.stderr,
              leave=False, dynamic_ncols=True, **kwargs) as t:
        yield t
