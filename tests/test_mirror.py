"""The torch mirror of an IR against OpenVINO's CPU plugin (FP32), op by op and on the zoo models."""

import numpy as np
import openvino as ov
import pytest
import torch
from openvino import opset15 as ops

from ov_sparsity.algorithms.recovery import block_outputs
from ov_sparsity.engine.infer import with_dynamic_batch
from ov_sparsity.graph import find_weighted_ops
from ov_sparsity.mirror import Mirror, UnsupportedOp
from tests.conftest import shared_or_skip
from tests.models import MODELS, build

RTOL = 1e-4  # the tolerance: max |mirror - OpenVINO| / max |OpenVINO|


def ov_outputs(model, feed):
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(feed)
    return [np.asarray(result[o]) for o in compiled.outputs]


def assert_mirrors(model, feed, rtol=RTOL, reference=None):
    expected = ov_outputs(reference or model, feed)
    mirror = Mirror(model)
    x = {k: torch.from_numpy(v) for k, v in feed.items()} if isinstance(feed, dict) else torch.from_numpy(feed)
    with torch.no_grad():
        got, _ = mirror(x)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        g = g.numpy()
        assert g.shape == e.shape
        scale = max(float(np.abs(e).max()), 1e-6)
        assert float(np.abs(g - e).max()) / scale < rtol
    return mirror


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_models_mirror_openvino(name):
    model = build(name)
    shape = [2] + [d.get_length() for d in list(model.input(0).get_partial_shape())[1:]]
    if name == "mixing_pinned":  # its batch cannot be freed (tests/test_batch.py): no batched mirror
        with pytest.raises(UnsupportedOp, match="pins batch 1"):
            Mirror(model)
        return
    # a model that pins batch 1 (shuffle_pinned) mirrors its freed graph at batch 2
    assert_mirrors(model, np.random.default_rng(0).standard_normal(shape).astype(np.float32),
                   reference=with_dynamic_batch(model))


def _image_graph():
    """Most of the ops the zoo, FastestDet and MiniLM use, in one small image model."""
    rng = np.random.default_rng(0)
    x = ops.parameter([2, 4, 9, 9], np.float32, name="x")
    c = ops.convolution(x, ops.constant(rng.standard_normal((8, 4, 3, 3)).astype(np.float32)), [2, 2], [0, 1],
                        [1, 0], [1, 1])  # asymmetric pads, stride 2
    c = ops.add(c, ops.constant(rng.standard_normal((1, 8, 1, 1)).astype(np.float32)))
    g = ops.group_convolution(ops.clamp(c, 0.0, 6.0), ops.constant(rng.standard_normal((8, 1, 1, 3, 3))
                                                                   .astype(np.float32)),
                              [1, 1], [1, 1], [1, 1], [1, 1])
    a = ops.avg_pool(g, [2, 2], [1, 1], [1, 1], [3, 3], exclude_pad=True, rounding_type="ceil")
    m = ops.max_pool(ops.sigmoid(g), [1, 1], [1, 1], [1, 1], [1, 1], [3, 3], rounding_type="floor")
    m = ops.interpolate(ops.slice(m.output(0), [0, 0, 0, 0], [2, 8, 3, 3], [1, 1, 1, 1]),
                        ops.constant(np.array([1, 1, 2, 2], np.float32)),
                        "nearest", "scales", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    cat = ops.concat([a, ops.pad(m, [0, 0, 0, 0], [0, 0, a.get_output_shape(0)[2] - 6,
                                                      a.get_output_shape(0)[3] - 6], "constant")], 1)
    shuffled = ops.reshape(ops.transpose(ops.reshape(cat, [2, 2, 8, -1], False), [0, 2, 1, 3]), [0, 16, -1], True)
    half = ops.gather(shuffled, ops.constant(np.array([1, 3, 5, 7, 0], np.int64)), ops.constant(np.int64(1)))
    norm = ops.mvn(half, ops.constant(np.array([2], np.int64)), True, 1e-5, "inside_sqrt")
    s = ops.softmax(ops.gelu(norm, "erf"), -1)
    hs = ops.multiply(ops.hswish(norm), ops.swish(norm))
    red = ops.reduce_mean(ops.add(s, hs), ops.constant(np.array([2], np.int64)), keep_dims=False)
    mm = ops.matmul(red, ops.constant(rng.standard_normal((3, 5)).astype(np.float32)), False, True)
    stretched = ops.strided_slice(mm, [0, 1], [2, 3], [1, 1], [1, 0], [1, 0])
    return ov.Model([mm, stretched, ops.reduce_l2(red, ops.constant(np.array([1], np.int64)), True)], [x], "ops")


def test_op_zoo_mirrors_openvino():
    assert_mirrors(_image_graph(), np.random.default_rng(1).standard_normal((2, 4, 9, 9)).astype(np.float32))


def _exported(name, tmp_path):
    """A zoo model with seeded random weights, exported to IR through the zoo's own exporter."""
    import importlib

    from ov_sparsity.graph import read_model
    from ov_sparsity.zoo import MODELS as ZOO, export

    torch.manual_seed(0)
    net = importlib.import_module(f"ov_sparsity.zoo.{ZOO[name].module}").build(name)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    state = net.state_dict()
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}} if "cifar" in name else state,
               tmp_path / "w.pth")
    return read_model(export(name, tmp_path / "w.pth", tmp_path / f"{name}.xml"))


BLOCKS = {"resnet20_cifar10": 9, "resnet32_cifar10": 15, "resnet44_cifar10": 21, "resnet56_cifar10": 27,
          "resnet110_cifar10": 32, "mobilenet_v2": 10}  # residual merges (at most 32 taps)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_zoo_image_models_mirror_openvino(name, tmp_path):
    model = _exported(name, tmp_path)
    hw = 224 if name == "mobilenet_v2" else 32
    x = np.random.default_rng(0).standard_normal((2, 3, hw, hw)).astype(np.float32)
    assert_mirrors(model, x)
    assert len(block_outputs(model)) == BLOCKS[name]


def test_text_model_mirrors_openvino(tiny_bert, tmp_path):
    from ov_sparsity.graph import read_model
    from ov_sparsity.zoo import export

    model = read_model(export("minilm_l6", tiny_bert, tmp_path / "bert.xml"))
    rng = np.random.default_rng(0)
    mask = np.ones((2, 12), np.int64)
    mask[1, 7:] = 0
    feed = {"input_ids": rng.integers(5, 60, (2, 12)), "attention_mask": mask,
            "token_type_ids": np.zeros((2, 12), np.int64)}
    assert_mirrors(model, feed)


def test_fastestdet_mirrors_openvino():
    from ov_sparsity.graph import read_model

    model = read_model(shared_or_skip("models", "detection", "fastestdet_coco80.xml"))
    x = np.random.default_rng(0).random((1, 3, 352, 352)).astype(np.float32)
    assert_mirrors(model, x)


def test_masks_keep_zeros_and_write_back_round_trips():
    model = build("residual")
    op = find_weighted_ops(model)[1]
    w = op.weight()
    w[:, :4] = 0.0
    op.set_weight(w)
    mirror = Mirror(model)
    with torch.no_grad():
        for p in mirror.weights:
            p.add_(0.5)  # what an optimiser might do to a pruned weight
    mirror.write_back(model)
    after = find_weighted_ops(model)[1].weight()
    assert np.all(after[:, :4] == 0.0) and np.all(after[:, 4:] != 0.0)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        got = mirror(torch.from_numpy(x))[0][0].numpy()
    np.testing.assert_allclose(got, ov_outputs(model, x)[0], rtol=1e-4, atol=1e-5)


def test_an_op_without_a_torch_form_is_named():
    x = ops.parameter([1, 3, 8, 8], np.float32, name="x")
    c = ops.convolution(x, ops.constant(np.ones((4, 3, 1, 1), np.float32)), [1, 1], [0, 0], [0, 0], [1, 1])
    cum = ops.cumsum(c, ops.constant(np.int64(1)))
    cum.set_friendly_name("running_total")
    with pytest.raises(UnsupportedOp, match="CumSum 'running_total'"):
        Mirror(ov.Model([cum], [x]))


def test_every_zoo_model_is_covered_here():
    from ov_sparsity.zoo import MODELS as ZOO

    # minilm_l6: test_text_model_mirrors_openvino; ncf_movielens100k: its recovery runs through the mirror in
    # tests/test_recommend.py; ssdlite_person holds TF's NMS (Loop, ScatterNDUpdate): no mirror, recovery skipped
    assert set(ZOO) == set(BLOCKS) | {"minilm_l6", "ncf_movielens100k", "ssdlite_person"}
