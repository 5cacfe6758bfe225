"""Models whose graph pins batch 1 (Reshape constants traced at batch 1, as in FastestDet): every engine path
runs them, freed where that is proven right, else one sample at a time."""

import numpy as np
import openvino as ov
import pytest

import ov_sparsity
from ov_sparsity.cli import main
from ov_sparsity.engine.infer import batch_is_dynamic, compile_model, first_output, predict, with_dynamic_batch
from ov_sparsity.engine.latency import interleaved_latency
from ov_sparsity.engine.sequential import FrontierWalk
from ov_sparsity.graph.batch import free_batch, takes_batch
from ov_sparsity.graph.model_io import read_model, with_batch1
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity
from tests.conftest import random_inputs
from tests.models import build, save


def _alone(model, values):
    compiled = compile_model(model)
    return np.concatenate([np.asarray(compiled(values[i:i + 1])[compiled.outputs[0]]) for i in range(len(values))])


def _patterns(model):
    return [list(op.input(1).get_source_output().get_node().get_data())
            for op in model.get_ordered_ops() if op.get_type_name() == "Reshape"]


def test_the_pinned_model_fails_at_batch_4_as_exported():
    model = build("shuffle_pinned")
    assert not takes_batch(model)
    clone = model.clone()
    clone.reshape({clone.input(0): ov.PartialShape([-1, 3, 8, 8])})  # accepted at reshape time ...
    with pytest.raises(RuntimeError, match="reshape"):  # ... and fails at inference
        compile_model(clone)(np.zeros((4, 3, 8, 8), np.float32))


def test_freed_shuffle_equals_each_sample_alone():
    model = build("shuffle_pinned")
    x = np.random.default_rng(0).standard_normal((5, 3, 8, 8)).astype(np.float32)
    freed = with_dynamic_batch(model)
    assert batch_is_dynamic(freed)
    out = np.asarray(compile_model(freed)(x)[0])
    np.testing.assert_allclose(out, _alone(model, x), rtol=1e-5, atol=1e-5)
    assert _patterns(model)[0] == [4, 2, 64]  # the input model is untouched


def test_a_reshape_that_would_mix_samples_is_not_freed_and_runs_one_at_a_time():
    model = build("mixing_pinned")
    assert free_batch(model) is None
    assert not batch_is_dynamic(with_dynamic_batch(model))
    data = random_inputs(model, n=7)
    logits, _ = predict(model, data)
    x = np.stack([data[i][0] for i in range(7)])
    np.testing.assert_allclose(logits, _alone(model, x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(first_output(model, x), _alone(model, x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ov_sparsity.OvSparsityError, match="pins the batch"):
        with_batch1(model, 4)


@pytest.mark.parametrize("name", ["shuffle_pinned", "mixing_pinned"])
def test_the_sequential_pass_gives_each_layer_its_true_input(name):
    model = build(name)
    x = np.random.default_rng(1).standard_normal((6, 3, 8, 8)).astype(np.float32)
    layers = ["conv1", "branch_conv", "conv2"] if name == "shuffle_pinned" else ["conv1", "conv2"]
    walk = FrontierWalk(model, x, layers, batch_size=4)
    assert walk.freed == (name == "shuffle_pinned") and walk.per_sample == (name == "mixing_pinned")
    for layer, values in walk:
        node = next(op for op in model.get_ordered_ops() if op.get_friendly_name() == layer)
        probe = ov.Model([ov.opset15.result(node.input(0).get_source_output())], model.get_parameters())
        np.testing.assert_allclose(values, _alone(probe, x), rtol=1e-5, atol=1e-5, err_msg=layer)


@pytest.mark.parametrize("name", ["shuffle_pinned", "mixing_pinned"])
def test_sparsify_int8_and_latency_on_a_pinned_model(name):
    model = build(name)
    sparse = ov_sparsity.sparsify(model, random_inputs(model, n=24), 0.5, quantize=True, subset_size=24,
                                  progress=False)
    assert global_sparsity(layer_sparsity(sparse)) == pytest.approx(0.5, abs=0.02)
    assert list(sparse.input(0).get_partial_shape()) == list(model.input(0).get_partial_shape())
    assert _patterns(sparse) == _patterns(model)  # the IR handed back keeps its own graph
    (result,) = interleaved_latency([sparse], seconds=0.2, rounds=2, batch=1)
    assert result["median_ms"] > 0
    if name == "shuffle_pinned":
        assert interleaved_latency([sparse], seconds=0.2, rounds=2, batch=4)[0]["median_ms"] > 0


def test_cli_compress_pinned_model_from_images(tmp_path, image_folder):
    xml = save(build("shuffle_pinned"), tmp_path / "pinned.xml")
    rc = main(["-q", "compress", xml, "-o", str(tmp_path / "out"), "--sparsity", "0.5", "--data", str(image_folder),
               "--input-size", "8", "--mean", "0", "--std", "1", "--int8"])
    assert rc == 0
    assert global_sparsity(layer_sparsity(read_model(tmp_path / "out" / "model.xml"))) == pytest.approx(0.5, abs=0.02)
