"""Data-free calibration images: FractalDB-style IFS fractals, randomly coloured."""

from ov_sparsity.data.fractals.ifs import FractalOptions, sample_category, fill_ratio
from ov_sparsity.data.fractals.generate import FractalDataset, generate_images

__all__ = ["FractalOptions", "sample_category", "fill_ratio", "FractalDataset", "generate_images"]
