import numpy as np
import openvino as ov
import pytest
import torch
from openvino import opset15 as ops

import ov_sparsity
from ov_sparsity.graph import find_weighted_ops
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity
from ov_sparsity.zoo import MODELS, export
from tests.models import build


def test_sparsify_accepts_an_nncf_dataset_and_returns_a_new_model():
    import nncf

    model = build("conv_bias_relu", hw=32)
    rng = np.random.default_rng(0)
    images = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(12)]
    sparse = ov_sparsity.sparsify(model, nncf.Dataset(images), sparsity_level=0.6, progress=False)
    assert abs(global_sparsity(layer_sparsity(sparse)) - 0.6) < 1e-3
    assert global_sparsity(layer_sparsity(model)) == 0.0  # the input model is untouched


def test_sparsify_without_data_uses_noise_and_can_quantize():
    model = build("depthwise", hw=32)
    q = ov_sparsity.sparsify(model, sparsity_level=0.5, quantize=True, subset_size=8, progress=False)
    assert abs(global_sparsity(layer_sparsity(q)) - 0.5) < 0.01
    assert any(o.node.input(1).get_source_output().get_node().get_type_name() == "Multiply"
               for o in find_weighted_ops(q))


def test_transposed_convolution_is_found_with_its_layout():
    rng = np.random.default_rng(0)
    x = ops.parameter([-1, 4, 5, 5], np.float32)
    w = rng.standard_normal((4, 6, 3, 3)).astype(np.float32)  # [C_in, C_out, k, k]
    deconv = ops.convolution_backprop_data(x, ops.constant(w), [2, 2])
    (op,) = find_weighted_ops(ov.Model([deconv], [x]))
    assert op.type == "ConvolutionBackpropData" and op.num_out_channels == 6
    np.testing.assert_array_equal(op.to_rows(w)[2], w[:, 2].ravel())


@pytest.mark.parametrize("name,params", [("resnet20_cifar10", 269_722), ("resnet56_cifar10", 853_018),
                                         ("resnet110_cifar10", 1_727_962), ("mobilenet_v2", 3_504_872)])
def test_zoo_definitions_have_the_published_sizes(name, params):
    import importlib

    module = importlib.import_module(f"ov_sparsity.zoo.{MODELS[name].module}")
    model = module.build(name)
    assert sum(p.numel() for p in model.parameters()) == params


def test_export_folds_batchnorm_and_matches_torch(tmp_path):
    from ov_sparsity.engine.infer import predict
    from ov_sparsity.data import ArrayDataset
    from ov_sparsity.graph import read_model
    from ov_sparsity.zoo.resnet_cifar import build as build_resnet

    torch.manual_seed(0)
    net = build_resnet("resnet20_cifar10")
    for m in net.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, tmp_path / "w.th")
    xml = export("resnet20_cifar10", tmp_path / "w.th", tmp_path / "r20.xml")
    ir = read_model(xml)
    assert [o.type for o in find_weighted_ops(ir)].count("Convolution") == 19
    assert not [n for n in ir.get_ordered_ops() if "BatchNorm" in n.get_type_name()]
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = net.eval()(x).numpy()
    got, _ = predict(ir, ArrayDataset(list(x.numpy())), progress=False)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert ir.get_rt_info(["ov_sparsity", "preprocessing"]).astype(str) == "cifar10"
