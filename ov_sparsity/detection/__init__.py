"""Object detectors: decode a head into boxes, NMS, and the mAP of a model's boxes against a reference
model's boxes or against COCO annotations (pycocotools)."""

from ov_sparsity.detection.decode import DECODERS, Detections, decode
from ov_sparsity.detection.evaluate import evaluate_detection
from ov_sparsity.detection.metrics import box_agreement, coco_map, reference_map

__all__ = ["DECODERS", "Detections", "decode", "evaluate_detection", "box_agreement", "coco_map", "reference_map"]
