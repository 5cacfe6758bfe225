"""Datasets yield (image CHW float32, label int; -1 when unknown)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
from PIL import Image

from ov_sparsity.data import inputs
from ov_sparsity.data.preprocess import Preprocessing
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import LARGE, read_text

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff"}


class Dataset:
    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int):
        raise NotImplementedError

    description = "dataset"
    synthetic = False  # True: generated images (fractals, noise), not the user's data


def read_synsets(path: Path) -> dict:
    """`index wnid name` per line -> {wnid: index}."""
    mapping = {}
    lines = read_text(path, "synsets file").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=2)
        if len(parts) < 2 or not parts[0].isdigit():
            raise OvSparsityError(f"synsets file {path}, line {n}: expected 'index wnid name'")
        mapping[parts[1]] = int(parts[0])
    return mapping


def read_annotation(path: Path, root: Path) -> list:
    """`relative/path label` per line (Accuracy Checker's imagenet annotation file) ->
    [(image path under root, label)]; every image must exist."""
    lines = read_text(path, "annotation file", LARGE).splitlines()
    files = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise OvSparsityError(f"annotation file {path}, line {n}: expected 'relative/path label'")
        if int(parts[1]) < 0:
            raise OvSparsityError(f"annotation file {path}, line {n}: label {parts[1]} is negative (labels are class "
                                  "indices 0, 1, ...)")
        image = Path(root) / parts[0]
        if not image.is_file():
            raise OvSparsityError(f"annotation file {path}, line {n}: image not found: {image}")
        files.append((str(image), int(parts[1])))
    return files


class ImageFolder(Dataset):
    """Class subfolders (sorted alphabetically = label index), or a flat folder of
    `<wnid>_*.JPEG` files labelled through a synsets file (`index wnid name`).
    A folder holding `images/` and `synsets.txt` is understood as the latter."""

    def __init__(self, root, preprocessing: Preprocessing, synsets=None, annotation=None, label_offset: int = 0):
        root = Path(root)
        if not root.exists():
            raise OvSparsityError(f"data folder not found: {root}")
        if not root.is_dir():
            raise OvSparsityError(f"data path is not a folder: {root}")
        if synsets is None and (root / "images").is_dir() and (root / "synsets.txt").is_file():
            root, synsets = root / "images", root / "synsets.txt"
        self.root = root
        self.preprocessing = preprocessing
        try:
            entries = sorted(os.scandir(root), key=lambda e: e.name)
        except OSError as exc:
            raise OvSparsityError(f"cannot read data folder {root}: {exc.strerror}") from None
        subdirs = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
        files: list[tuple[str, int]] = []
        self.num_classes, self.class_source = None, f"data folder {root}"
        if annotation is not None:  # Accuracy Checker's imagenet converter: 'relative/path label' lines
            files = [(f, label + label_offset) for f, label in read_annotation(annotation, root)]
            self.classes = None
        elif subdirs and synsets is None:
            self.classes = [d.name for d in subdirs]
            self.num_classes = len(subdirs)
            for label, d in enumerate(subdirs):
                files += [(p, label) for p in _images_in(Path(d.path))]
        else:
            wnids = read_synsets(synsets) if synsets is not None else None
            self.classes = None
            if wnids is not None:
                self.num_classes, self.class_source = len(wnids), f"synsets file {synsets}"
            for p in _images_in(root):
                label = -1
                if wnids is not None:
                    wnid = Path(p).name.split("_", 1)[0]
                    if wnid not in wnids:
                        raise OvSparsityError(f"{p}: wnid {wnid!r} is not in the synsets file {synsets}")
                    label = wnids[wnid]
                files.append((p, label))
        if not files:
            raise OvSparsityError(f"no images found in data folder {root}")
        self.files = files
        self.description = f"images from {root}"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        path, label = self.files[i]
        try:
            with Image.open(path) as img:
                return self.preprocessing(img), label
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise OvSparsityError(f"cannot read image {path}: {exc}") from None


def _images_in(folder: Path) -> list:
    return sorted(str(p) for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))


class NoiseDataset(Dataset):
    """White noise: uniform 0..255 RGB pixels through the model's own preprocessing.
    Image i depends only on (seed, i): no global RNG state."""

    synthetic = True

    def __init__(self, n: int, preprocessing: Preprocessing, seed: int = 0):
        self.n, self.preprocessing, self.seed = int(n), preprocessing, int(seed)
        self.description = f"white noise ({n} images, seed {seed})"

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, i])
        h, w = self.preprocessing.raw_hw
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        return self.preprocessing(Image.fromarray(pixels)), -1


class ArrayDataset(Dataset):
    """Ready model inputs (e.g. from an nncf.Dataset): items [C,H,W] or [1,C,H,W]."""

    def __init__(self, items: Sequence[np.ndarray], labels: Optional[Sequence[int]] = None):
        self.items = [np.asarray(x, dtype=np.float32) for x in items]
        self.items = [x[0] if x.ndim >= 4 and x.shape[0] == 1 else x for x in self.items]
        self.labels = list(labels) if labels is not None else [-1] * len(self.items)
        self.description = f"{len(self.items)} in-memory inputs"

    @classmethod
    def from_inputs(cls, inputs, limit: int, model, argument: str = "dataset") -> "ArrayDataset":
        """The first `limit` samples of model inputs as NNCF's datasets give them (arrays or dicts, batch axis
        first, or one sample without it), checked against `model` (data/samples.py)."""
        from ov_sparsity.data.samples import model_samples

        ds = cls([])
        ds.items = model_samples(model, inputs, limit, argument)
        ds.labels = [-1] * len(ds.items)
        ds.description = f"{len(ds.items)} in-memory inputs"
        return ds

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i], self.labels[i]


class Subset(Dataset):
    def __init__(self, base: Dataset, indices: Sequence[int]):
        self.base, self.indices = base, list(indices)
        self.description = f"{len(self.indices)} of {base.description}"
        self.synthetic = base.synthetic

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.base[self.indices[i]]


def random_subset(ds: Dataset, n: Optional[int], seed: int) -> Dataset:
    """n items chosen without replacement for this seed, in index order (all if n >= len)."""
    if n is None or n >= len(ds):
        return ds
    idx = np.random.default_rng(seed).choice(len(ds), size=int(n), replace=False)
    return Subset(ds, sorted(int(i) for i in idx))


def iter_batches(ds: Dataset, batch_size: int, desc: str | None = None,
                 progress: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches of (model inputs: images [N,C,H,W] or a dict of named arrays, labels [N]); items
    decoded by two threads."""
    from ov_sparsity.progress import bar

    n = len(ds)
    starts = range(0, n, batch_size)
    # one thread prefetches the next batch while the caller works on this one;
    # two threads decode its images (Pillow releases the GIL while decoding)
    with ThreadPoolExecutor(max_workers=2) as decode, ThreadPoolExecutor(max_workers=1) as prefetch, \
            bar(total=n, desc=desc, enable=progress) as pbar:
        def load(start):
            items = list(decode.map(ds.__getitem__, range(start, min(start + batch_size, n))))
            return (inputs.stack([x for x, _ in items]), np.asarray([y for _, y in items], dtype=np.int64))

        pending = None
        for start in starts:
            nxt = prefetch.submit(load, start)
            if pending is not None:
                batch = pending.result()
                yield batch
                pbar.update(len(batch[1]))
            pending = nxt
        if pending is not None:
            batch = pending.result()
            yield batch
            pbar.update(len(batch[1]))


def as_array(ds: Dataset, indices: Optional[Sequence[int]] = None):
    """The model inputs of `ds` (or of its items at `indices`, taken in sorted order) as one batch."""
    data = Subset(ds, sorted(int(i) for i in indices)) if indices is not None else ds
    return inputs.concat([x for x, _ in iter_batches(data, 64, progress=False)])


class CachedDataset(Dataset):
    """Items decoded once and kept in memory (calibration sets are read many times)."""

    def __init__(self, base: Dataset, progress: bool = True):
        items = []
        for batch, labels in iter_batches(base, 64, desc="loading calibration data", progress=progress):
            items += [(inputs.take(batch, i), label) for i, label in enumerate(labels.tolist())]
        self.items = items
        self.description = base.description
        self.synthetic = base.synthetic

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def cached(ds: Dataset, max_bytes: int = 2 << 30, progress: bool = True) -> Dataset:
    """ds in memory when it fits in max_bytes, else ds itself."""
    if isinstance(ds, (CachedDataset, ArrayDataset, NoiseDataset)) or len(ds) == 0:
        return ds
    item_bytes = inputs.nbytes(ds[0][0])
    return CachedDataset(ds, progress) if item_bytes * len(ds) <= max_bytes else ds
