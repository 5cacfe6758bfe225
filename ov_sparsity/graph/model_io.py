"""Loading and saving OpenVINO IR models (output folders: ov_sparsity.outputs)."""

from __future__ import annotations

import os
from pathlib import Path

import openvino as ov

from ov_sparsity.errors import OvSparsityError, ov_error_text, write_failure
from ov_sparsity.userfiles import regular_file

_CORE = None


def core() -> ov.Core:
    global _CORE
    if _CORE is None:
        _CORE = ov.Core()
    return _CORE


def read_model(xml: str | os.PathLike, weights: str | os.PathLike | None = None) -> ov.Model:
    """Read an IR; every failure becomes a one-line OvSparsityError."""
    xml = Path(xml)
    if not xml.exists():
        raise OvSparsityError(f"model file not found: {xml}")
    if xml.is_dir():
        raise OvSparsityError(f"model path is a directory, expected an .xml file: {xml}")
    if xml.suffix.lower() != ".xml":
        raise OvSparsityError(f"model must be an OpenVINO IR .xml file, got: {xml}")
    bin_path = Path(weights) if weights else xml.with_suffix(".bin")
    if not bin_path.exists():
        raise OvSparsityError(f"weights file not found: {bin_path}")
    regular_file(xml, "model file")  # a FIFO or a device would block or never end the reader
    regular_file(bin_path, "weights file")
    try:
        return core().read_model(str(xml), str(bin_path))
    except Exception as exc:  # openvino raises RuntimeError with a long, multi-line text
        raise OvSparsityError(f"cannot read model {xml}: {ov_error_text(exc)}") from None


def as_model(model, argument: str = "model") -> ov.Model:
    """An ov.Model, or read from the path of an IR .xml (what a user of the Python API means by a string)."""
    if isinstance(model, ov.Model):
        return model
    if isinstance(model, (str, Path)) or hasattr(model, "__fspath__"):
        return read_model(model)
    raise OvSparsityError(f"{argument} must be an openvino.Model or the path of an IR .xml file, got "
                          f"{type(model).__name__}")


def with_batch1(model: ov.Model, batch: int = 1) -> ov.Model:
    """A clone whose inputs have batch 1, or `batch` (latency runs, per-image MAC counts). A model whose graph
    pins its batch is freed first (graph.batch); one that cannot be is refused for other batches."""
    from ov_sparsity.graph.batch import free_batch, static_batch, takes_batch

    source = model
    if batch != (static_batch(model) or batch) and not takes_batch(model, batch):
        source = free_batch(model)
        if source is None:
            raise OvSparsityError(f"{model.get_friendly_name()} runs only at batch {static_batch(model)}: its graph "
                                  f"pins the batch (Reshape constants traced at that batch), so batch {batch} "
                                  "cannot be measured")
    clone = source.clone()
    shapes = {}
    for p in clone.get_parameters():
        ps = ov.PartialShape(p.get_partial_shape())
        if ps.rank.is_static and len(ps):
            ps[0] = batch
        shapes[p.output(0)] = ps
    clone.reshape(shapes)
    return clone


def with_sequence(model: ov.Model, seq_len: int) -> ov.Model:
    """A clone whose [batch, sequence] inputs (a text model's) take `seq_len` tokens."""
    clone = model.clone()
    shapes = {}
    for p in clone.get_parameters():
        ps = ov.PartialShape(p.get_partial_shape())
        if ps.rank.is_static and len(ps) == 2:
            ps[1] = seq_len
        shapes[p.output(0)] = ps
    clone.reshape(shapes)
    return clone


def save_model(model: ov.Model, xml: str | os.PathLike) -> None:
    """Save with FP32 weights kept as they are (no FP16 compression); a failed write is one line."""
    try:
        ov.save_model(model, str(xml), compress_to_fp16=False)
    except (RuntimeError, OSError) as exc:
        raise OvSparsityError(f"cannot write {xml}: {write_failure(xml, exc)}") from None


def input_description(model: ov.Model) -> str:
    return ", ".join(f"{p.get_friendly_name()} {p.get_partial_shape()}" for p in model.get_parameters())


def check_single_input(model: ov.Model) -> None:
    """One input of static rank: what the image pipeline handles (a one-line error otherwise)."""
    params = model.get_parameters()
    if len(params) != 1:
        raise OvSparsityError(f"the model has {len(params)} inputs ({input_description(model)}); "
                              "ov-sparsity handles single-input models")
    ps = params[0].get_partial_shape()
    if ps.rank.is_dynamic:
        raise OvSparsityError(f"the model input {params[0].get_friendly_name()} has a dynamic rank: reshape it to "
                              "a static [N, C, H, W] first (ov.Model.reshape)")
    if len(ps) == 4 and not all(ps[i].is_static for i in (1, 2, 3)):
        raise OvSparsityError(f"the model input {params[0].get_friendly_name()} has a dynamic shape {ps}: reshape "
                              "it to a static channel count and image size first (ov.Model.reshape)")


def quantized_ops(model: ov.Model) -> int:
    """FakeQuantize ops, and constants of 8-bit (or narrower) integer weights, in the model."""
    low_bit = {ov.Type.i8, ov.Type.u8, ov.Type.i4, ov.Type.u4}
    count = 0
    for node in model.get_ops():
        kind = node.get_type_name()
        if kind == "FakeQuantize" or (kind == "Constant" and node.get_output_element_type(0) in low_bit):
            count += 1
    return count
