"""POT-shaped run configs (JSON with comments, or YAML): load, validate, override."""

from ov_sparsity.config.schema import RunConfig, ModelSection, EngineSection, CompressionSection
from ov_sparsity.config.loader import load_config, parse_config

__all__ = ["RunConfig", "ModelSection", "EngineSection", "CompressionSection", "load_config", "parse_config"]
