import pytest

from ov_sparsity import OvSparsityError
from ov_sparsity.algorithms import REGISTRY, create_algorithm


def test_registry_has_pot_names():
    assert {"MagnitudeSparsity", "WeightSparsity", "BiasCorrection", "DefaultQuantization"} <= set(REGISTRY)


def test_unknown_key_is_rejected_by_name():
    with pytest.raises(OvSparsityError, match=r"^WeightSparsity: unknown parameter 'sparsity_levle' \(known: "):
        create_algorithm("WeightSparsity", {"sparsity_levle": 0.5})


def test_wrong_type_and_range():
    with pytest.raises(OvSparsityError, match=r"MagnitudeSparsity: parameter 'criterion' must be "):
        create_algorithm("MagnitudeSparsity", {"criterion": "random"})
    with pytest.raises(OvSparsityError,
                       match=r"WeightSparsity: parameter 'sparsity_level' must be in \[0.0, 1.0\), got 1.0"):
        create_algorithm("WeightSparsity", {"sparsity_level": 1.0})
    with pytest.raises(OvSparsityError, match="parameter 'weight_correction' must be bool"):
        create_algorithm("WeightSparsity", {"weight_correction": "yes"})


def test_unknown_algorithm():
    with pytest.raises(OvSparsityError, match=r"unknown algorithm 'AccuracyAwareQuantization' \(known: "):
        create_algorithm("AccuracyAwareQuantization", {})


def test_pot_aliases():
    a = create_algorithm("WeightSparsity", {"sparsity_level": 0.4, "normed_threshold": False,
                                            "correct_weight_bias": False, "eps_factor": 1e-8,
                                            "ignored": {"scope": ["fc"]}})
    mag = a._magnitude(0.4).params
    assert mag.criterion == "magnitude" and mag.weight_correction is False and mag.eps == 1e-8
    assert mag.ignored_scope.names == ("fc",)
    q = create_algorithm("DefaultQuantization", {"preset": "mixed", "stat_subset_size": 100, "use_fast_bias": False})
    assert (q.params.subset_size, q.params.fast_bias_correction) == (100, False)


def test_quantization_params_translate_to_nncf_kwargs():
    import nncf

    q = create_algorithm("DefaultQuantization", {"preset": "mixed", "subset_size": 64,
                                                 "ignored_scope": {"types": ["MatMul"]}, "model_type": "transformer"})
    kw = q.params.to_nncf_kwargs("CPU")
    assert kw["preset"] == nncf.QuantizationPreset.MIXED
    assert kw["target_device"] == nncf.TargetDevice.CPU
    assert kw["subset_size"] == 64 and kw["model_type"] == nncf.ModelType.TRANSFORMER
    assert kw["ignored_scope"].types == ["MatMul"]
