"""Algorithm base class, the registry, and the context algorithms share."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
import openvino as ov

from ov_sparsity.algorithms.params import build_params
from ov_sparsity.data.datasets import Dataset
from ov_sparsity.engine.statistics import StatRequest, collect_statistics
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.weighted import weighted_ops_by_name

log = logging.getLogger("ov_sparsity")

REGISTRY: dict[str, type] = {}


def register(cls):
    REGISTRY[cls.name] = cls
    return cls


def create_algorithm(name: str, params: dict | None = None):
    if name not in REGISTRY:
        raise OvSparsityError(f"unknown algorithm '{name}' (known: {', '.join(sorted(REGISTRY))})")
    if params is not None and not isinstance(params, dict):
        raise OvSparsityError(f"{name}: params must be a mapping, got {type(params).__name__}")
    return REGISTRY[name](**(params or {}))


@dataclass
class Context:
    """What algorithms share during one pipeline run. The dense model is never modified."""

    dense_model: ov.Model
    dataset: Optional[Dataset]
    seed: int = 0
    target_device: str = "CPU"
    progress: bool = True
    stats: dict = field(default_factory=dict)
    masks: dict = field(default_factory=dict)  # layer -> bool array, True where pruned
    reports: dict = field(default_factory=dict)  # algorithm name -> what it measured
    eval_dataset: Optional[Dataset] = None  # labelled images, for accuracy-aware modes
    preprocessing: Optional[object] = None  # the model's Preprocessing, for synthetic data
    cache: dict = field(default_factory=dict)  # dense-model data reused across schedule steps
    original_model: Optional[ov.Model] = None  # the model the run started from, where dense_model was rebased
    _dense: dict = field(default_factory=dict)

    @property
    def original(self) -> ov.Model:
        """The model the run started from (what accuracy and speed are reported against)."""
        return self.original_model if self.original_model is not None else self.dense_model

    def rebase(self, model: ov.Model) -> None:
        """After a stage that changed layer shapes (channels removed), `model` is what the later stages
        treat as dense: their per-layer references, statistics and teacher must have its shapes. The
        original stays in `original`."""
        if self.original_model is None:
            self.original_model = self.dense_model
        self.dense_model = model
        self.stats, self.masks, self.cache, self._dense = {}, {}, {}, {}

    def _dense_ops(self) -> dict:
        if not self._dense:
            self._dense = {n: (op.weight(), op.bias()) for n, op in weighted_ops_by_name(self.dense_model).items()}
        return self._dense

    def dense_weight(self, layer: str) -> np.ndarray:
        return self._dense_ops()[layer][0]

    def dense_bias(self, layer: str) -> Optional[np.ndarray]:
        return self._dense_ops()[layer][1]

    def require_dataset(self, who: str) -> Dataset:
        if self.dataset is None or len(self.dataset) == 0:
            raise OvSparsityError(f"{who} needs calibration data (a data folder, 'noise' or an nncf.Dataset)")
        return self.dataset

    def ensure_statistics(self, requests: list[StatRequest]) -> None:
        """Collect, on the dense model, whatever of `requests` is not there yet."""
        missing = [r for r in dict.fromkeys(requests) if r not in self.stats]
        if missing:
            self.stats.update(collect_statistics(self.dense_model, missing, self.require_dataset("statistics"),
                                                 progress=self.progress))


class Algorithm:
    """Two phases: `statistics` declares what dense-model statistics are needed,
    `apply` changes a model (in place or a copy) and returns it."""

    name: ClassVar[str] = "Algorithm"
    changes_model: ClassVar[bool] = True
    Params: ClassVar[type]
    aliases: ClassVar[dict] = {}

    def __init__(self, **params):
        self.params = build_params(self.name, self.Params, params, self.aliases)

    def check(self, model: ov.Model) -> None:
        """Fail on what the model cannot take, before any data is made or read (default: nothing)."""

    def statistics(self, model: ov.Model) -> list[StatRequest]:
        return []

    def reads_dataset(self) -> bool:
        """Whether `apply` reads calibration samples themselves, beyond the declared statistics."""
        return False

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        raise NotImplementedError

    def params_dict(self) -> dict:
        return dataclasses.asdict(self.params)

    def __repr__(self) -> str:
        return f"{self.name}({self.params_dict()})"
