import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("OV_SPARSITY_PROGRESS", "0")

from tests.models import build, save  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_or_skip(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"integration data absent: {path} (../shared is not beside this checkout)")
    return path


@pytest.fixture
def model_xml(tmp_path):
    """Save a registry model as IR and return its .xml path."""
    def make(name="conv_bias_relu", seed=0, **kwargs):
        return Path(save(build(name, seed, **kwargs), tmp_path / f"{name}_{seed}.xml"))
    return make


@pytest.fixture
def image_folder(tmp_path):
    """A tiny labelled image folder: 4 classes (the registry models' outputs) x 6 images of 32x32 pixels."""
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "eel", "fox"):
        (root / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / c / f"{i:02d}.png")
    return root


def random_inputs(model, n=32, seed=1):
    from ov_sparsity.data import ArrayDataset

    shape = [d.get_length() for d in list(model.input(0).get_partial_shape())[1:]]
    rng = np.random.default_rng(seed)
    return ArrayDataset([np.abs(rng.standard_normal(shape)).astype(np.float32) for _ in range(n)])
