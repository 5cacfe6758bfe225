import numpy as np
import pytest
from PIL import Image

from ov_sparsity import OvSparsityError
from ov_sparsity.data import ImageFolder, NoiseDataset, Preprocessing, random_subset


def test_cifar10_preset_normalizes_like_torchvision():
    img = Image.fromarray(np.full((32, 32, 3), 255, np.uint8))
    x = Preprocessing.preset("cifar10")(img)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], rtol=1e-6)


def test_imagenet_preset_resizes_shorter_side_and_center_crops():
    arr = np.zeros((300, 400, 3), np.uint8)
    arr[:, 200:] = 255  # right half white
    x = Preprocessing.preset("imagenet")(Image.fromarray(arr))
    assert x.shape == (3, 224, 224)
    # shorter side 300 -> 256 (width 341), crop 224 centred: the white edge sits at column 112 +- 1
    white = x[0, 100] > 0
    assert 110 <= np.argmax(white) <= 114


def test_image_folder_with_class_subfolders(image_folder):
    ds = ImageFolder(image_folder, Preprocessing.parse({"size": [8, 8]}))  # resized from 32x32
    assert ds.classes == ["cat", "dog", "eel", "fox"] and len(ds) == 24
    x, label = ds[9]
    assert x.shape == (3, 8, 8) and label == 1


def test_flat_folder_with_synsets(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (10, 10)).save(tmp_path / "images" / "n02_a.JPEG")
    Image.new("RGB", (10, 10)).save(tmp_path / "images" / "n01_b.JPEG")
    (tmp_path / "synsets.txt").write_text("0 n01 tench\n1 n02 goldfish\n")
    ds = ImageFolder(tmp_path, Preprocessing.parse({"size": [8, 8]}))  # finds images/ + synsets.txt
    assert [label for _, label in (ds[0], ds[1])] == [0, 1]


def test_bad_folders(tmp_path):
    with pytest.raises(OvSparsityError, match="data folder not found"):
        ImageFolder(tmp_path / "nope", Preprocessing.preset("cifar10"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(OvSparsityError, match="no images found in data folder"):
        ImageFolder(tmp_path / "empty", Preprocessing.preset("cifar10"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(OvSparsityError, match="cannot read image"):
        ImageFolder(tmp_path / "bad", Preprocessing.preset("cifar10"))[0]


def test_noise_is_deterministic_per_seed_and_uses_the_preprocessing():
    pre = Preprocessing.preset("cifar10")
    a, b, c = NoiseDataset(4, pre, seed=3), NoiseDataset(4, pre, seed=3), NoiseDataset(4, pre, seed=4)
    np.testing.assert_array_equal(a[2][0], b[2][0])
    assert not np.array_equal(a[2][0], c[2][0])
    x = a[0][0]
    lo, hi = (0 - 0.485) / 0.229, (1 - 0.406) / 0.225
    assert x.shape == (3, 32, 32) and x.min() >= lo - 1e-6 and x.max() <= hi + 1e-6


def test_random_subset_is_seeded():
    pre = Preprocessing.preset("cifar10")
    ds = NoiseDataset(100, pre)
    assert random_subset(ds, 10, 0).indices == random_subset(ds, 10, 0).indices
    assert random_subset(ds, 10, 0).indices != random_subset(ds, 10, 1).indices
    assert random_subset(ds, 500, 0) is ds
