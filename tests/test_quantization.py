import numpy as np

from ov_sparsity.algorithms import Pipeline, create_algorithm
from ov_sparsity.engine.infer import predict
from ov_sparsity.graph import find_weighted_ops
from tests.conftest import random_inputs
from tests.models import build


def test_zeros_survive_default_quantization():
    model = build("depthwise")
    data = random_inputs(model, n=24)
    result = Pipeline([create_algorithm("WeightSparsity", {"sparsity_level": 0.5}),
                       create_algorithm("DefaultQuantization", {"subset_size": 24})]).run(model, data, progress=False)
    report = result.context.reports["DefaultQuantization"]
    assert report["zeros_preserved"] and report["zeros_lost"] == 0 and report["zeros_before"] > 0
    quantized = {op.name: op for op in find_weighted_ops(result.model)}
    # weights are int8 behind Convert/Multiply now, and every pruned weight is still exactly zero
    assert quantized["conv1"].node.input(1).get_source_output().get_node().get_type_name() == "Multiply"
    for name, mask in result.context.masks.items():
        assert np.all(quantized[name].weight()[mask] == 0)
    dense, _ = predict(model, data, progress=False)
    q, _ = predict(result.model, data, progress=False)
    assert np.corrcoef(dense.ravel(), q.ravel())[0, 1] > 0.95
