import socket

import numpy as np
import pytest

from ov_sparsity.data import Preprocessing
from ov_sparsity.data.fractals import FractalDataset, FractalOptions, fill_ratio, generate_images
from ov_sparsity.data.fractals.ifs import search_category

FAST = FractalOptions(search_points=20_000, search_canvas=256, render_points=8_000)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))


def test_same_seed_same_images_other_seed_other_images():
    a = generate_images(6, 48, seed=3, options=FAST, workers=1, cache=False, progress=False)
    b = generate_images(6, 48, seed=3, options=FAST, workers=1, cache=False, progress=False)
    c = generate_images(6, 48, seed=4, options=FAST, workers=1, cache=False, progress=False)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (6, 48, 48, 3) and a.dtype == np.uint8
    assert all(img.std() > 5 for img in a)  # not blank
    assert len({img.tobytes() for img in a}) == 6


def test_parallel_generation_equals_serial():
    serial = generate_images(8, 32, seed=1, options=FAST, workers=1, cache=False, progress=False)
    parallel = generate_images(8, 32, seed=1, options=FAST, workers=2, cache=False, progress=False)
    np.testing.assert_array_equal(serial, parallel)


@pytest.mark.parametrize("sampler", ["fractaldb", "svd"])
def test_every_accepted_category_meets_the_fill_threshold(sampler):
    options = FractalOptions(sampler=sampler)  # the defaults: 100,000 points on a 512x512 canvas, >= 0.2
    for seed in range(3):
        system, fill = search_category(np.random.default_rng(seed), options)
        assert 2 <= len(system) <= 7
        assert fill >= 0.2
        again = fill_ratio(system, np.random.default_rng(100 + seed), 100_000, 512)
        assert again >= 0.19  # a fresh sample of the same attractor covers the same area, up to noise


def test_cache_is_reused(monkeypatch):
    first = generate_images(4, 32, seed=2, options=FAST, workers=1, progress=False)
    import ov_sparsity.data.fractals.generate as gen

    monkeypatch.setattr(gen, "make_image", lambda *a: pytest.fail("regenerated instead of reading the cache"))
    np.testing.assert_array_equal(generate_images(4, 32, seed=2, options=FAST, workers=1, progress=False), first)


def test_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("fractal generation opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    generate_images(3, 32, seed=5, options=FAST, workers=1, progress=False)


def test_dataset_goes_through_the_models_preprocessing():
    ds = FractalDataset(4, Preprocessing.preset("cifar10"), seed=0, options=FAST, workers=1, progress=False)
    x, label = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and label == -1
    lo, hi = (0 - 0.485) / 0.229, (1 - 0.406) / 0.225
    assert lo - 1e-5 <= x.min() and x.max() <= hi + 1e-5


def test_cli_generate(tmp_path, capsys):
    from ov_sparsity.cli import main

    assert main(["-q", "fractals", "generate", "-n", "3", "--size", "40", "-o", str(tmp_path / "f"),
                 "--workers", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [".ov-sparsity"] + [f"fractal_0000{i}.png"
                                                                                       for i in range(3)]
    assert "images/s" in capsys.readouterr().out


def test_categories_are_cached_apart_from_the_images(monkeypatch):
    import ov_sparsity.data.fractals.generate as gen

    first = generate_images(4, 32, seed=7, options=FAST, workers=1, progress=False)
    files = list(gen.cache_root().glob("ifs-categories-*.npz"))
    assert len(files) == 1
    with np.load(files[0]) as z:
        assert sorted(z.files) == ["c0"]  # 4 instances per category: one category
    monkeypatch.setattr(gen, "sample_category", lambda *a: pytest.fail("searched again"))
    gen._searched.cache_clear()
    other_size = generate_images(4, 48, seed=7, options=FAST, workers=1, progress=False)  # renders, no search
    assert other_size.shape == (4, 48, 48, 3) and first.shape == (4, 32, 32, 3)


def test_workers_write_the_images_where_asked(tmp_path):
    images = generate_images(5, 32, seed=3, options=FAST, workers=2, cache=False, progress=False,
                             write_to=tmp_path)
    from PIL import Image

    for i in range(5):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / f"fractal_{i:05d}.png")), images[i])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"fractal_{i:05d}.png" for i in range(5)]


def test_synthetic_images_get_the_synthetic_damping():
    from ov_sparsity.algorithms.obs.algorithm import DAMPING, SYNTHETIC_DAMPING, default_damping
    from ov_sparsity.data import NoiseDataset
    from ov_sparsity.data.datasets import ArrayDataset, Subset

    pre = Preprocessing.preset("cifar10")
    fractals = FractalDataset(4, pre, seed=0, options=FAST, workers=1, progress=False)
    assert default_damping(Subset(fractals, [0, 1])) == SYNTHETIC_DAMPING
    assert default_damping(NoiseDataset(2, pre)) == SYNTHETIC_DAMPING
    assert default_damping(ArrayDataset([np.zeros((3, 4, 4), np.float32)])) == DAMPING == 0.01
