"""Our algorithms as NNCF post-training algorithms.

Each class here is an `nncf.quantization.algorithms.algorithm.Algorithm` for the
OpenVINO backend, so it composes in NNCF's `Pipeline` with MinMaxQuantization and
FastBiasCorrection. The two phases map one to one:

- get_statistic_points: the algorithm's StatRequests become NNCF statistic points
  whose reducer is our engine's patch-mean subgraph, inserted in place by NNCF's
  aggregator (so NNCF's one inference pass computes them beside its own); an
  algorithm that reads samples (second-order, layer-wise tuning) also gets the
  model's inputs, kept by a raw reducer, instead of iterating the dataset again.
- apply: the collected values fill a Context and the algorithm runs as in our
  own pipeline, on a copy of the model.

These NNCF classes are NNCF's internal API: setup.cfg pins the nncf versions
tested (docs/pot.md).
"""

from __future__ import annotations

from typing import ClassVar, Optional

import numpy as np
import openvino as ov
from nncf.common.graph.graph import NNCFGraph
from nncf.common.graph.transformations.commands import TargetType
from nncf.common.tensor_statistics.collectors import (MeanAggregator, NoopAggregator, RawReducer, TensorCollector,
                                                     TensorReducerBase)
from nncf.common.tensor_statistics.statistic_point import StatisticPoint, StatisticPointsContainer
from nncf.common.utils.backend import BackendType
from nncf.openvino.graph.transformations.commands import OVTargetPoint
from nncf.tensor import Tensor
from nncf.quantization.algorithms.algorithm import Algorithm as NNCFAlgorithm

from ov_sparsity.algorithms import Pipeline
from ov_sparsity.algorithms.base import Context, create_algorithm
from ov_sparsity.algorithms.quantization import zero_masks
from ov_sparsity.data import ArrayDataset
from ov_sparsity.data.samples import inference_items
from ov_sparsity.engine.statistics import StatRequest, patch_mean_of, stat_geometry
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.validate import RANGES, checked
from ov_sparsity.graph.weighted import weighted_ops_by_name

INPUTS = "model_input"  # the statistic kind that keeps a model input per sample


class PatchMeanReducer(TensorReducerBase):
    """Our engine's patch-mean subgraph (engine.statistics.patch_mean_of), in place: only the per-sample
    means leave the model. Equal geometry on one tensor means one statistic."""

    def __init__(self, geometry: tuple):
        super().__init__(inplace=True)
        self.geometry = geometry

    def _reduce_out_of_place(self, x):
        raise NotImplementedError("PatchMeanReducer runs in place")

    def get_inplace_fn(self):
        geometry = self.geometry

        def build(node: ov.Node, port: int, name: str) -> ov.Node:
            out = patch_mean_of(node.output(port), geometry).get_node()
            out.set_friendly_name(name)
            return out

        return build

    def __eq__(self, other) -> bool:
        return isinstance(other, PatchMeanReducer) and other.geometry == self.geometry

    def __hash__(self) -> int:
        return hash(("PatchMeanReducer", self.geometry))


def refresh_weight_statistics(statistic_points: StatisticPointsContainer, model: ov.Model) -> None:
    """Weight statistics that the algorithms after us in the step collected on the dense weights (MinMax's
    weight ranges) recomputed from `model`'s weights: they depend on the weights alone, so no inference."""
    ops_ = weighted_ops_by_name(model)
    for _, point, collector in statistic_points.get_tensor_collectors():
        target = point.target_point
        op = ops_.get(target.target_node_name)
        if not target.is_weight_target_point() or op is None or target.port_id != op.weight_port:
            continue
        value = Tensor(op.weight())
        collector.clear_cache()
        collector.reset()
        collector.enable()
        collector.register_inputs({hash(r): r._reduce_out_of_place([value]) if r.inplace else [value]
                                   for r in collector.reducers})


def _point(target: OVTargetPoint, key: str, reducer, aggregator, algorithm: str) -> StatisticPoint:
    collector = TensorCollector()
    collector.register_statistic_branch(key, reducer, aggregator)
    return StatisticPoint(target, collector, algorithm)


class OVSparsityAlgorithm(NNCFAlgorithm):
    """One of our algorithms (`algorithm_name`, with its own keyword parameters) as an NNCF algorithm.

    subset_size: calibration samples its statistics (and the inputs it reads) take, as nncf.quantize's;
    preprocessing: the model's preprocessing for synthetic data (UDFC's fractal/noise statistics)."""

    algorithm_name: ClassVar[str]

    def __init__(self, *, subset_size: int = 300, seed: int = 0, progress: bool = True, preprocessing=None,
                 **params):
        checked("subset_size", subset_size, RANGES["subset_size"], f"{self.algorithm_name}: ")
        checked("seed", seed, RANGES["seed"], f"{self.algorithm_name}: ")
        self.algorithm = create_algorithm(self.algorithm_name, params)
        self.subset_size, self.seed, self.progress, self.preprocessing = subset_size, seed, progress, preprocessing
        self.reports: dict = {}
        self.masks: dict = {}
        self.zeros: dict = {}  # layer -> weights zero after apply
        self._key = f"ov_sparsity_{self.algorithm_name}_{id(self)}"
        self._reference: Optional[ov.Model] = None  # the model the statistics are collected on

    @property
    def available_backends(self) -> list[BackendType]:
        return [BackendType.OPENVINO]

    def get_statistic_points(self, model: ov.Model, graph: NNCFGraph) -> StatisticPointsContainer:
        self._reference = model
        container = StatisticPointsContainer()
        ops_ = weighted_ops_by_name(model)
        for req in dict.fromkeys(self.algorithm.statistics(model)):
            op = ops_.get(req.layer)
            geometry = stat_geometry(req.kind, op) if op is not None else None
            if geometry is None:
                continue
            target = OVTargetPoint(TargetType.PRE_LAYER_OPERATION, req.layer, 0)
            container.add_statistic_point(_point(target, f"{req.kind}|{req.layer}", PatchMeanReducer(geometry),
                                                 MeanAggregator(num_samples=self.subset_size), self._key))
        if self.algorithm.reads_dataset():
            params = model.get_parameters()
            if len(params) != 1:
                raise OvSparsityError(f"{self.algorithm_name}: models with {len(params)} inputs are not supported "
                                      "yet (one image input)")
            name = params[0].get_friendly_name()
            target = OVTargetPoint(TargetType.POST_LAYER_OPERATION, name, 0)
            container.add_statistic_point(_point(target, f"{INPUTS}|{name}", RawReducer(),
                                                 NoopAggregator(num_samples=self.subset_size), self._key))
        return container

    def _collected(self, statistic_points: Optional[StatisticPointsContainer]) -> tuple[dict, list]:
        stats, inputs = {}, []
        for algorithm, _, collector in (statistic_points or StatisticPointsContainer()).get_tensor_collectors():
            if algorithm != self._key:
                continue
            for key, value in collector.get_statistics().items():
                kind, layer = key.split("|", 1)
                if kind == INPUTS:
                    inputs = [np.asarray(t.data) for t in value]
                else:
                    stats[StatRequest(kind, layer)] = np.asarray(value.data, dtype=np.float64).reshape(-1)
        return stats, inputs

    def _preprocessing(self, model: ov.Model):
        """The model's preprocessing for algorithms that make synthetic images: the one given, else the
        exporter's or a guess from the input size; None where none can be told (those algorithms then
        say so)."""
        from ov_sparsity.api import resolve_preprocessing

        try:
            return resolve_preprocessing(self.preprocessing, model)
        except OvSparsityError:
            if self.preprocessing is not None:
                raise
            return None

    def apply(self, model: ov.Model, graph: NNCFGraph, statistic_points: Optional[StatisticPointsContainer] = None,
              dataset=None) -> ov.Model:
        """A compressed copy of `model`; `statistic_points` as collected for get_statistic_points, else
        (called alone) they are taken from `dataset` (an nncf.Dataset)."""
        if not isinstance(model, ov.Model):  # NNCF's algorithms take models only; so do these
            raise OvSparsityError(f"{self.algorithm_name}.apply: model must be an openvino.Model, got "
                                  f"{type(model).__name__} (read an IR with openvino.Core().read_model)")
        Pipeline([self.algorithm]).check(model)
        # the dense reference is the model the statistics were collected on: an algorithm later in a step
        # (BiasCorrection after MagnitudeSparsity) corrects toward it, not toward its own input
        reference = self._reference if statistic_points and self._reference is not None else model
        stats, inputs = self._collected(statistic_points)
        samples = ArrayDataset.from_inputs(inputs, self.subset_size, reference) if inputs else None
        missing = [r for r in self.algorithm.statistics(reference) if r not in stats]
        if samples is None and dataset is not None and (missing or self.algorithm.reads_dataset()):
            samples = ArrayDataset.from_inputs(inference_items(dataset), self.subset_size, reference)
        ctx = Context(dense_model=reference, dataset=samples, seed=self.seed, progress=self.progress,
                      preprocessing=self._preprocessing(model))
        ctx.stats.update(stats)
        result = self.algorithm.apply(model.clone(), ctx)
        self.reports, self.masks, self.zeros = ctx.reports, ctx.masks, zero_masks(result)
        if statistic_points:
            refresh_weight_statistics(statistic_points, result)
        return result


def _nncf_class(name: str, doc: str) -> type:
    return type(name, (OVSparsityAlgorithm,), {"algorithm_name": name, "__doc__": doc, "__module__": __name__})


WeightSparsity = _nncf_class("WeightSparsity", "POT's WeightSparsity: second-order pruning by default, "
                             "method='magnitude' the corrections-only recipe.")
MagnitudeSparsity = _nncf_class("MagnitudeSparsity", "Global-threshold magnitude pruning with weight correction.")
SecondOrderSparsity = _nncf_class("SecondOrderSparsity", "Second-order (OBS) pruning fitted to the dense model.")
BiasCorrection = _nncf_class("BiasCorrection", "Bias correction toward the model the statistics came from.")
LayerwiseFinetuning = _nncf_class("LayerwiseFinetuning", "POT's layer-wise fine-tuning of pruned layers.")
ChannelPruning = _nncf_class("ChannelPruning", "Structured channel pruning.")
Recovery = _nncf_class("Recovery", "Recovery beyond the layer: the sparse model fitted to the dense one through "
                       "the IR's torch mirror (masks fixed).")
UDFC = _nncf_class("UDFC", "Data-free channel pruning + low-bit weights (Bai et al., ICCV 2023).")
