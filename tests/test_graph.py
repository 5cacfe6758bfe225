import numpy as np
import openvino as ov
from openvino import opset15 as ops

from ov_sparsity.engine.infer import predict
from ov_sparsity.graph import IgnoredScope, find_weighted_ops, read_model, save_model
from ov_sparsity.graph.weighted import weighted_ops_by_name
from tests.conftest import random_inputs
from tests.models import build


def test_finds_every_weighted_op_with_its_layout():
    ops_ = weighted_ops_by_name(build("depthwise"))
    assert [(n, o.type, o.num_out_channels) for n, o in ops_.items()] == [
        ("conv1", "Convolution", 8), ("dw", "GroupConvolution", 8), ("pw", "Convolution", 12),
        ("fc", "MatMul", 4)]
    mm = weighted_ops_by_name(build("matmul"))
    assert mm["fc1"].out_axes == (0,) and mm["fc2"].out_axes == (1,)
    assert mm["fc2"].num_out_channels == 10


def test_rows_round_trip_for_every_layout():
    for name in ("depthwise", "matmul", "residual"):
        for op in find_weighted_ops(build(name)):
            w = op.weight()
            rows = op.to_rows(w)
            assert rows.shape[0] == op.num_out_channels
            np.testing.assert_array_equal(op.from_rows(rows), w)


def test_bias_read_and_missing_bias_inserted():
    model = build("conv_bias_relu")
    ops_ = weighted_ops_by_name(model)
    assert ops_["conv1"].bias().shape == (8,)
    assert ops_["conv3_nobias"].bias() is None
    data = random_inputs(model)
    before, _ = predict(model, data, progress=False)
    ops_["conv3_nobias"].set_bias(np.zeros(16, np.float32))
    model.validate_nodes_and_infer_types()
    assert np.allclose(weighted_ops_by_name(model)["conv3_nobias"].bias(), 0)
    after, _ = predict(model, data, progress=False)
    np.testing.assert_allclose(after, before, atol=1e-6)  # a zero bias changes nothing


def test_weight_behind_decompression_chain_is_read_as_fp32():
    rng = np.random.default_rng(0)
    q = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    scale = rng.random((4, 1, 1, 1)).astype(np.float32)
    x = ops.parameter([1, 3, 5, 5], np.float32)
    w = ops.multiply(ops.convert(ops.constant(q), "f32"), ops.constant(scale))
    conv = ops.convolution(x, w, [1, 1], [0, 0], [0, 0], [1, 1])
    (op,) = find_weighted_ops(ov.Model([conv], [x]))
    np.testing.assert_array_equal(op.weight(), q.astype(np.float32) * scale)
    op.set_weight(np.zeros((4, 3, 3, 3), np.float32))  # replaces the whole chain by an FP32 Constant
    assert op.node.input(1).get_source_output().get_node().get_type_name() == "Constant"


def test_ignored_scope_names_patterns_types():
    model = build("depthwise")
    names = lambda scope: [o.name for o in find_weighted_ops(model, scope)]  # noqa: E731
    assert names(IgnoredScope(names=("fc",))) == ["conv1", "dw", "pw"]
    assert names(IgnoredScope(patterns=("p.*",))) == ["conv1", "dw", "fc"]
    assert names(IgnoredScope(types=("GroupConvolution", "MatMul"))) == ["conv1", "pw"]
    assert IgnoredScope.parse({"scope": ["fc"], "operations": [{"type": "MatMul"}]}) == \
        IgnoredScope(names=("fc",), types=("MatMul",))


def test_save_load_round_trip(tmp_path):
    model = build("residual")
    save_model(model, tmp_path / "m.xml")
    loaded = read_model(tmp_path / "m.xml")
    for a, b in zip(find_weighted_ops(model), find_weighted_ops(loaded)):
        assert a.name == b.name
        np.testing.assert_array_equal(a.weight(), b.weight())
    data = random_inputs(model)
    np.testing.assert_array_equal(predict(model, data, progress=False)[0], predict(loaded, data, progress=False)[0])
