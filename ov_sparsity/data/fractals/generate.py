"""Deterministic, cached, parallel generation of fractal calibration images.

Image i of seed s depends only on (s, i, size, options): category i // k (k
instances per category) is searched with its own generator, the instance
jittered and rendered with another; no global RNG state, no network. Images are
cached as PNG under $OV_SPARSITY_CACHE (default ~/.cache/ov_sparsity) and reused.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from ov_sparsity.data.datasets import Dataset
from ov_sparsity.data.fractals.ifs import FractalOptions, jitter, sample_category
from ov_sparsity.data.fractals.render import render
from ov_sparsity.data.preprocess import Preprocessing

log = logging.getLogger("ov_sparsity")
VERSION = "v4"  # bumped whenever an image of the same options changes


def cache_root() -> Path:
    return Path(os.environ.get("OV_SPARSITY_CACHE", Path.home() / ".cache" / "ov_sparsity"))


def _category(seed: int, category: int, options: FractalOptions) -> np.ndarray:
    return _searched(seed, category, options.search_options())


@lru_cache(maxsize=4096)
def _searched(seed: int, category: int, search_options: FractalOptions) -> np.ndarray:
    """Keyed by the search options only: renderings that differ share the search."""
    return sample_category(np.random.default_rng([seed, 1, category]), search_options)


def make_image(seed: int, index: int, size: int, options: FractalOptions,
               system: Optional[np.ndarray] = None) -> np.ndarray:
    """Image `index`; `system`: its category's IFS where already known (else searched)."""
    k = max(1, options.instances_per_category)
    system = _category(seed, index // k, options) if system is None else system
    rng = np.random.default_rng([seed, 2, index])
    extras = tuple(jitter(system, 1 + j % 3, rng) for j in range(int(rng.integers(0, max(1, options.composite)))))
    for attempt in range(16):
        img = render(jitter(system, index % k if attempt == 0 else 1 + attempt % 3, rng), size, rng, options,
                     extras)
        if img is not None:
            return img
    img = render(system, size, rng, options)  # the category itself passed the fill test
    return img if img is not None else np.zeros((size, size, 3), np.uint8)


def _work(args) -> tuple:
    """(images [(index, image)], categories {category: system}) of one task; each image is also
    written as PNG into every folder of `folders` ((folder, name pattern)), by the worker that made it."""
    seed, indices, size, options, known, folders = args
    k = max(1, options.instances_per_category)
    systems = dict(known)
    for c in sorted({i // k for i in indices} - set(systems)):
        systems[c] = _category(seed, c, options)
    done = []
    for i in indices:
        img = make_image(seed, i, size, options, systems[i // k])
        for folder, pattern, required in folders:
            _write_png(img, folder / pattern.format(i), required)
        done.append((i, img))
    return done, systems


def _write_png(img: np.ndarray, path: Path, required: bool = True) -> None:
    """Written whole or not at all (a temporary name, then renamed); where not `required` (the
    cache) a failure is only logged: a read-only home is no reason to fail."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    try:
        Image.fromarray(img).save(tmp, compress_level=1)
        os.replace(tmp, path)
    except OSError as exc:
        if required:
            raise
        log.warning("fractal cache not written (%s): %s", path.parent, exc.strerror)
    finally:
        tmp.unlink(missing_ok=True)


def _categories_file(seed: int, options: FractalOptions, root: Path) -> Path:
    """The searched IFS categories of a seed, kept apart from the rendered images: other sizes and
    rendering options reuse them."""
    digest = hashlib.sha1(f"{VERSION}|{seed}|{options.search_options().key()}".encode()).hexdigest()[:12]
    return root / f"ifs-categories-{VERSION}-seed{seed}-{digest}.npz"


def _load_categories(path: Optional[Path]) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path) as z:
            return {int(name[1:]): z[name] for name in z.files}
    except (OSError, ValueError, KeyError, EOFError):
        log.warning("fractal cache: %s is unreadable; searching its categories again", path)
        return {}


def _save_categories(path: Path, systems: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **{f"c{c}": s for c, s in sorted(systems.items())})
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("fractal cache not written (%s): %s", path, exc.strerror)
    finally:
        tmp.unlink(missing_ok=True)


def _folder(seed: int, size: int, options: FractalOptions, root: Path) -> Path:
    digest = hashlib.sha1(f"{VERSION}|{seed}|{size}|{options.key()}".encode()).hexdigest()[:12]
    return root / f"fractals-{VERSION}-{size}px-seed{seed}-{digest}"


def _worker_init() -> None:
    """Workers leave Ctrl-C and SIGTERM to the main process, which terminates them; on Linux they
    are also killed when the main process dies however it dies (a second Ctrl-C, SIGKILL)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _terminate(pool) -> None:
    """Stop the workers; a second Ctrl-C meanwhile must not leave the pool half torn down."""
    import threading

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        pool.terminate()
        pool.join()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _read_cached(path: Path) -> Optional[np.ndarray]:
    """A cached image, or None when it is missing or unreadable (it is then generated again)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError):
        log.warning("fractal cache: %s is unreadable; generating it again", path)
        return None


def generate_images(n: int, size: int = 256, seed: int = 0, options: Optional[FractalOptions] = None,
                    workers: Optional[int] = None, cache: bool = True, progress: bool = True,
                    write_to: Optional[Path] = None) -> np.ndarray:
    """[n, size, size, 3] uint8, generated with `workers` processes (default: all cores) or read from cache;
    write_to: a folder where the workers also write each new image as fractal_NNNNN.png."""
    from ov_sparsity.progress import bar

    options = options or FractalOptions()
    folder = _folder(seed, size, options, cache_root()) if cache else None
    images: dict = {}
    if folder is not None and folder.is_dir():
        for i in range(n):
            path = folder / f"{i:05d}.png"
            img = _read_cached(path) if path.exists() else None
            if img is not None and img.shape == (size, size, 3):
                images[i] = img
    missing = [i for i in range(n) if i not in images]
    if missing:
        t0 = time.perf_counter()
        workers = workers or min(os.cpu_count() or 1, 8)
        k = max(1, options.instances_per_category)
        cat_file = _categories_file(seed, options, cache_root()) if cache else None
        folders = [(write_to, "fractal_{:05d}.png", True)] if write_to is not None else []
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                folders.append((folder, "{:05d}.png", False))
            except OSError as exc:
                log.warning("fractal cache not written (%s): %s", folder, exc.strerror)
        known = _load_categories(cat_file)
        found = dict(known)
        # whole categories per task, so each category is searched once
        cats = sorted({i // k for i in missing})
        per_task = max(1, len(cats) // (workers * 4))
        tasks = []
        for j in range(0, len(cats), per_task):
            chunk = set(cats[j:j + per_task])
            tasks.append((seed, [i for i in missing if i // k in chunk], size, options,
                          {c: known[c] for c in chunk if c in known}, folders))
        with bar(total=len(missing), desc="fractals", enable=progress) as pbar:
            if workers > 1 and len(tasks) > 1:
                # fork: the workers run numpy only, and a user's script without a __main__
                # guard must not be re-run by spawned workers; spawn where fork is missing
                method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
                pool = multiprocessing.get_context(method).Pool(workers, initializer=_worker_init)
                try:
                    for done, systems in pool.imap_unordered(_work, tasks):
                        images.update(done)
                        found.update(systems)
                        pbar.update(len(done))
                except BaseException:  # Ctrl-C, SIGTERM, an error: stop every worker now
                    _terminate(pool)
                    raise
                pool.close()
                pool.join()
            else:
                for task in tasks:
                    done, systems = _work(task)
                    images.update(done)
                    found.update(systems)
                    pbar.update(len(done))
        elapsed = time.perf_counter() - t0
        log.info("generated %d fractal images at %dx%d in %.1f s (%.1f images/s, %d workers)", len(missing), size,
                 size, elapsed, len(missing) / elapsed, workers)
        if write_to is not None:  # images read from the cache are written here too
            for i in sorted(set(range(n)) - set(missing)):
                _write_png(images[i], write_to / f"fractal_{i:05d}.png")
        if cat_file is not None and len(found) > len(known):
            _save_categories(cat_file, found)
    return np.stack([images[i] for i in range(n)])


class FractalDataset(Dataset):
    """n fractal images through the model's own preprocessing."""

    synthetic = True

    def __init__(self, n: int, preprocessing: Preprocessing, seed: int = 0, options: Optional[FractalOptions] = None,
                 cache: bool = True, progress: bool = True, workers: Optional[int] = None):
        self.preprocessing = preprocessing
        size = max(128, *preprocessing.raw_hw)
        self.images = generate_images(n, size, seed, options, workers=workers, cache=cache, progress=progress)
        self.description = f"FractalDB-style fractals ({n} images at {size}px, seed {seed})"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.preprocessing(Image.fromarray(self.images[i])), -1
