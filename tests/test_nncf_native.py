"""Our algorithms inside NNCF's post-training Pipeline (ov_sparsity.nncf)."""

import nncf
import numpy as np
import openvino as ov
import pytest
from nncf.common.factory import build_graph
from nncf.quantization.algorithms.pipeline import Pipeline as NNCFPipeline

import ov_sparsity
from ov_sparsity import OvSparsityError
from ov_sparsity.engine.statistics import collect_statistics
from ov_sparsity.graph import find_weighted_ops
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity
from ov_sparsity.nncf import BiasCorrection, MagnitudeSparsity, WeightSparsity, quantize_with_sparsity
from tests.conftest import random_inputs
from tests.models import build

N = 24


class Counted:
    """Model inputs for nncf.Dataset that count how often the dataset is read."""

    def __init__(self, model, n=N):
        data = random_inputs(model, n=n)
        self.samples = [data[i][0][None] for i in range(len(data))]
        self.reads = 0

    def transform(self, x):
        self.reads += 1
        return x

    def dataset(self):
        return nncf.Dataset(self.samples, self.transform)


def weights(model):
    return {op.name: op.weight() for op in find_weighted_ops(model)}


def run(model, x):
    return ov.compile_model(model, "CPU")(x)[0]


@pytest.mark.parametrize("name", ["residual", "matmul"])
@pytest.mark.parametrize("method", ["second_order", "magnitude"])
def test_one_statistics_collection_serves_sparsity_and_quantization_with_the_cli_zeros(name, method):
    model = build(name)
    data = Counted(model)
    kwargs = dict(target_device=nncf.TargetDevice.CPU, subset_size=N)
    one = quantize_with_sparsity(model, data.dataset(), 0.5, sparsity_params={"method": method}, one_pass=True,
                                 progress=False, **kwargs)
    assert data.reads == N  # one pass over the calibration data, nothing else read it
    data.reads = 0
    steps = quantize_with_sparsity(model, data.dataset(), 0.5, sparsity_params={"method": method}, progress=False,
                                   **kwargs)
    assert data.reads == 2 * N  # sparsity, then quantization statistics on the sparse model
    cli = ov_sparsity.sparsify(model, nncf.Dataset(data.samples), 0.5, quantize=True, method=method, subset_size=N,
                               progress=False)
    a, b, c = weights(one), weights(steps), weights(cli)
    assert a.keys() == c.keys()
    for layer in c:
        assert np.array_equal(a[layer] == 0, c[layer] == 0)  # the same zeros as the CLI
        # weight ranges are recomputed from the sparse weights, so the INT8 weights are the CLI's too
        np.testing.assert_array_equal(a[layer], c[layer])
        np.testing.assert_array_equal(b[layer], c[layer])
    assert abs(global_sparsity(layer_sparsity(one)) - 0.5) < 0.01
    x = np.concatenate(data.samples[:8])
    np.testing.assert_allclose(run(steps, x), run(cli, x), atol=1e-5)  # per-step = CLI up to rounding
    dense = run(model, x)
    corr = {k: np.corrcoef(run(m, x).ravel(), dense.ravel())[0, 1] for k, m in (("one", one), ("cli", cli))}
    assert corr["one"] > corr["cli"] - 0.03 and corr["one"] > 0.9, corr  # dense activation ranges: close


@pytest.mark.parametrize("name", ["strided_asym", "depthwise", "matmul"])
def test_nncf_collected_patch_means_equal_the_engine_statistics(name):
    model = build(name)
    data = Counted(model)
    algo = BiasCorrection(subset_size=N)
    graph = build_graph(model)
    from nncf.quantization.algorithms.pipeline import collect_statistics as nncf_collect

    collected = nncf_collect(algo.get_statistic_points(model, graph), model, graph, data.dataset())
    stats, _ = algo._collected(collected)
    requests = algo.algorithm.statistics(model)
    ours = collect_statistics(model, requests, random_inputs(model, n=N), progress=False)
    assert stats.keys() == ours.keys() and len(ours) == len(requests) > 0
    for req in ours:
        np.testing.assert_allclose(stats[req], ours[req], rtol=1e-5, atol=1e-6)


def test_bias_correction_later_in_a_step_corrects_toward_the_dense_model():
    model = build("depthwise")
    data = Counted(model)
    pipeline = NNCFPipeline([[MagnitudeSparsity(sparsity_level=0.5, subset_size=N), BiasCorrection(subset_size=N)]])
    sparse = pipeline.run(model, data.dataset())
    assert data.reads == N
    expected = ov_sparsity.sparsify(model, random_inputs(model, n=N), 0.5, method="magnitude", progress=False)
    for layer, w in weights(expected).items():
        np.testing.assert_allclose(weights(sparse)[layer], w, atol=1e-6)
    x = np.concatenate(data.samples[:8])
    np.testing.assert_allclose(run(sparse, x), run(expected, x), rtol=1e-4, atol=1e-4)


def test_weight_sparsity_alone_in_an_nncf_pipeline_reads_the_data_once():
    model = build("residual")
    data = Counted(model)
    algo = WeightSparsity(sparsity_level=0.6, subset_size=N, progress=False)
    sparse = NNCFPipeline([[algo]]).run(model, data.dataset())
    assert data.reads == N
    assert abs(algo.reports["WeightSparsity"]["reached_sparsity"] - 0.6) < 0.01
    assert abs(global_sparsity(layer_sparsity(sparse)) - 0.6) < 0.01
    assert global_sparsity(layer_sparsity(model)) == 0.0  # the input is untouched


def test_unknown_parameters_are_named():
    with pytest.raises(OvSparsityError, match="sparsity_levl"):
        WeightSparsity(sparsity_levl=0.5)
    with pytest.raises(OvSparsityError, match="subset_size"):
        WeightSparsity(subset_size=0)


def test_data_free_udfc_reads_no_data_and_needs_a_preprocessing_it_can_tell():
    from ov_sparsity.nncf import UDFC

    model = build("residual", hw=32)
    data = Counted(model)
    algo = UDFC(prune_ratio=0.3, statistics="noise", preprocessing="cifar10", progress=False)
    NNCFPipeline([[algo]]).run(model, data.dataset())
    assert data.reads == 0 and algo.reports["UDFC"]["channels_removed"] > 0
    small = build("residual")  # 8x8 input: no preset to guess
    with pytest.raises(OvSparsityError, match="synthetic statistics need the model's preprocessing"):
        NNCFPipeline([[UDFC(prune_ratio=0.3, statistics="noise")]]).run(small, Counted(small).dataset())
