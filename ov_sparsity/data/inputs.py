"""Model inputs as the engine passes them around: one array (an image model's single input) or a dict
of named arrays (a text model's input_ids / attention_mask / token_type_ids), batch axis first."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def stack(items: Sequence):
    """Samples (no batch axis) -> one batch."""
    if items and isinstance(items[0], dict):
        return {k: np.stack([x[k] for x in items]) for k in items[0]}
    return np.stack(items)


def concat(batches: Sequence):
    if batches and isinstance(batches[0], dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    return np.concatenate(batches)


def take(batch, index):
    """Rows `index` (a slice or indices) of a batch."""
    if isinstance(batch, dict):
        return {k: v[index] for k, v in batch.items()}
    return batch[index]


def length(batch) -> int:
    return len(next(iter(batch.values()))) if isinstance(batch, dict) else len(batch)


def with_batch_axis(sample):
    return {k: v[None] for k, v in sample.items()} if isinstance(sample, dict) else sample[None]


def nbytes(sample) -> int:
    return sum(v.nbytes for v in sample.values()) if isinstance(sample, dict) else sample.nbytes


def feed(batch) -> dict:
    """The infer() argument: named inputs by name, a single array to input 0."""
    return dict(batch) if isinstance(batch, dict) else {0: batch}
