"""`eval --task detection`: run a detector over an image folder, decode its head, NMS; score it against a
reference model's boxes (reference mAP@0.5) and, given COCO annotations, against human labels."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import openvino as ov
from PIL import Image

from ov_sparsity.data.datasets import Dataset
from ov_sparsity.data.preprocess import Preprocessing
from ov_sparsity.detection.decode import SSD_OUTPUTS, decode, guess_decoder
from ov_sparsity.detection.metrics import annotation_map, box_agreement, reference_map
from ov_sparsity.engine.infer import input_hw, run_batches, with_dynamic_batch
from ov_sparsity.detection.annotations import parse_instances
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.userfiles import LARGE, load_json

DEFAULT_THRESHOLD = 0.5  # reference boxes scoring at least this are the ground truth


def _named_outputs(model: ov.Model) -> dict:
    """{TF OD API output name: output index} for the names a model's outputs carry."""
    found = {}
    for i, out in enumerate(model.outputs):
        for name in out.get_names():
            base = name.split(":")[0]
            if base in SSD_OUTPUTS + ("num_detections",):
                found.setdefault(base, i)
    return found


def check_detector(model: ov.Model, decoder: Optional[str]) -> str:
    """The decoder for the model's outputs (given, recorded by the zoo, or guessed); a head it cannot decode
    is one line."""
    named = _named_outputs(model)
    key = ["ov_sparsity", "decoder"]
    if decoder is None and model.has_rt_info(key):
        decoder = model.get_rt_info(key).astype(str)
    if decoder == "ssd" or (decoder is None and all(n in named for n in SSD_OUTPUTS)):
        missing = [n for n in SSD_OUTPUTS if n not in named]
        if missing:
            raise OvSparsityError(f"decoder ssd needs the outputs {', '.join(SSD_OUTPUTS)}; the model lacks "
                                  f"{', '.join(missing)}")
        return "ssd"
    ps = model.output(0).get_partial_shape()
    if ps.rank.is_dynamic or not all(d.is_static for d in list(ps)[1:]):
        raise OvSparsityError(f"the detection head {ps} has dynamic dimensions: cannot decode it")
    shape = (1, *[d.get_length() for d in list(ps)[1:]])
    name = decoder or guess_decoder(shape)
    expected = {"fastestdet": 4, "yolo": 3}
    if name in expected and len(shape) != expected[name]:
        raise OvSparsityError(f"decoder {name} does not fit the head {list(shape)}: it decodes "
                              f"{'[1, 5 + C, H, W]' if name == 'fastestdet' else '[1, N, 5 + C]'}")
    return name


def detect(model: ov.Model, data: Dataset, decoder: str, batch_size: int = 8, progress: bool = True) -> list:
    """Detections per image (in dataset order)."""
    hw = input_hw(model)
    named = _named_outputs(model) if decoder == "ssd" else {}
    wanted = sorted(set(named.values())) if named else [0]
    dets = []
    for outs, _, n in run_batches(with_dynamic_batch(model), data, outputs=wanted, batch_size=batch_size,
                                  desc="detect", progress=progress):
        by_index = dict(zip(wanted, outs))
        for i in range(n):
            one = {k: by_index[j][i] for k, j in named.items()} if named else by_index[0][i]
            dets.append(decode(decoder, one, hw))
    return dets


def read_annotations(path) -> dict:
    """A COCO instances JSON, checked against its declared shape (annotations.CocoInstances)."""
    path = Path(path)
    if not path.exists():
        raise OvSparsityError(f"--annotations {path}: no such file")
    return parse_instances(load_json(path, "--annotations", LARGE), f"--annotations {path}")


def evaluate_detection(model: ov.Model, data, pre: Preprocessing, *, decoder: Optional[str] = None,
                       reference: Optional[ov.Model] = None, annotations: Optional[dict] = None,
                       threshold: float = DEFAULT_THRESHOLD, batch_size: int = 8, progress: bool = True,
                       reference_dets: Optional[list] = None, dets: Optional[list] = None, resamples: int = 0,
                       seed: int = 0) -> dict:
    """data: an ImageFolder (its files give the names annotations are matched by). resamples > 0: a bootstrap
    95% interval of the reference mAP@0.5 over images (seeded). reference_dets / dets: detections already
    found (the reference's, the model's), so no model runs twice over the images."""
    name = check_detector(model, decoder)
    if reference is not None and check_detector(reference, decoder) != name:
        raise OvSparsityError("the reference model's head does not decode like the model's")
    dets = dets if dets is not None else detect(model, data, name, batch_size, progress)
    result = {"images": len(dets), "decoder": name, "threshold": threshold,
              "boxes_per_image": float(np.mean([len(d.above(threshold)) for d in dets])) if dets else 0.0}
    if reference is not None or reference_dets is not None:
        refs = reference_dets if reference_dets is not None else detect(reference, data, name, batch_size, progress)
        classes = _classes(model, name)
        scored = reference_map(dets, refs, threshold, classes=classes, resamples=resamples, seed=seed)
        result.update({"reference_map50": scored["map50"] if scored else None,
                       "reference_map": scored["map"] if scored else None})
        if resamples:
            result["reference_map50_ci95"] = scored["map50_ci95"] if scored else None
        result.update(box_agreement(dets, refs, threshold))
    if annotations is not None:
        files = [f for f, _ in data.files]
        sizes = []
        for f in files:
            with Image.open(f) as img:
                sizes.append(img.size)
        scored = annotation_map(dets, files, sizes, pre.to_source, annotations, coco91=name == "ssd")
        if scored is None:
            raise OvSparsityError("--annotations: none of its images (matched by file name) is in --data, or they "
                                  "hold no box")
        result.update({"map50": scored["map50"], "map": scored["map"]})
    return result


def _classes(model: ov.Model, decoder: str) -> int:
    if decoder == "ssd":
        return 90  # TF OD API label ids (COCO's 1..90)
    ps = model.output(0).get_partial_shape()
    return ps[1].get_length() - 5 if decoder == "fastestdet" else ps[2].get_length() - 5
