"""Datasets: image folders, synthetic sources (noise), preprocessing, batching."""

from ov_sparsity.data.preprocess import Preprocessing
from ov_sparsity.data.datasets import (
    Dataset, ImageFolder, NoiseDataset, ArrayDataset, Subset, random_subset, iter_batches,
)

__all__ = ["Preprocessing", "Dataset", "ImageFolder", "NoiseDataset", "ArrayDataset",
           "Subset", "random_subset", "iter_batches"]
