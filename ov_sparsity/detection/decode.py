"""Heads -> boxes. A decoder takes one image's raw output (batch axis removed) and gives boxes as
[x1, y1, x2, y2] fractions of the network input, a score and a class; then class-wise NMS.

- fastestdet: [85, H, W] (FastestDet, ../shared/README.md): channel 0 objectness (a probability),
  1-2 centre offsets in the cell (tanh; centre = (cell + offset) / H), 3-4 width and height as fractions
  (sigmoid), 5.. class probabilities (softmax); score = objectness^0.6 * class^0.4 (upstream).
- yolo: [N, 5 + C] (the common YOLOv5/v7/v8-export layout): cx, cy, w, h in input pixels, objectness,
  class scores (probabilities); score = objectness * class.
- ssd: the TensorFlow Object Detection API's post-processed outputs (NMS inside the graph):
  detection_boxes [N, 4] (y1, x1, y2, x2 fractions), detection_classes [N] (1-based), detection_scores [N],
  num_detections; boxes come out as given (no second NMS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ov_sparsity.errors import OvSparsityError

NMS_IOU = 0.45  # upstream FastestDet's and YOLO's
MIN_SCORE = 0.01  # boxes kept for mAP (low, so the precision-recall curve is whole)
MAX_BOXES = 100  # per image, as COCO's maxDets


@dataclass
class Detections:
    boxes: np.ndarray  # [K, 4] x1, y1, x2, y2 as fractions of the network input
    scores: np.ndarray  # [K]
    classes: np.ndarray  # [K] int

    def above(self, threshold: float) -> "Detections":
        keep = self.scores >= threshold
        return Detections(self.boxes[keep], self.scores[keep], self.classes[keep])

    def __len__(self) -> int:
        return len(self.scores)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def fastestdet(out: np.ndarray, input_hw: tuple) -> tuple:
    if out.ndim != 3 or out.shape[0] < 6:
        raise OvSparsityError(f"decoder fastestdet expects a [5 + classes, H, W] head per image, got {list(out.shape)}")
    c, h, w = out.shape
    obj = out[0]
    cls = out[5:]
    best = cls.argmax(0)
    prob = np.take_along_axis(cls, best[None], 0)[0]
    score = obj ** 0.6 * np.clip(prob, 0, None) ** 0.4
    gy, gx = np.mgrid[0:h, 0:w]
    cx = (gx + np.tanh(out[1])) / w
    cy = (gy + np.tanh(out[2])) / h
    bw, bh = _sigmoid(out[3]), _sigmoid(out[4])
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)
    return boxes.reshape(-1, 4), score.reshape(-1), best.reshape(-1)


def yolo(out: np.ndarray, input_hw: tuple) -> tuple:
    if out.ndim != 2 or out.shape[1] < 6:
        raise OvSparsityError(f"decoder yolo expects an [N, 5 + classes] head per image, got {list(out.shape)}")
    ih, iw = input_hw
    cls = out[:, 5:]
    best = cls.argmax(1)
    score = out[:, 4] * cls[np.arange(len(out)), best]
    cx, cy, bw, bh = out[:, 0] / iw, out[:, 1] / ih, out[:, 2] / iw, out[:, 3] / ih
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1), score, best


def ssd(outs: dict, input_hw: tuple) -> tuple:
    boxes, classes, scores = outs["detection_boxes"], outs["detection_classes"], outs["detection_scores"]
    n = int(outs["num_detections"].reshape(-1)[0]) if "num_detections" in outs else len(scores)
    return boxes[:n][:, [1, 0, 3, 2]], scores[:n], np.rint(classes[:n]).astype(np.int64) - 1


DECODERS = {"fastestdet": fastestdet, "yolo": yolo, "ssd": ssd}
SSD_OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores")
POSTPROCESSED = {"ssd"}  # NMS is in the graph


def guess_decoder(output_shape: tuple, names: tuple = ()) -> str:
    """ssd where the model has TF OD API's named outputs, fastestdet for a [1, 5 + C, H, W] head, yolo for
    [1, N, 5 + C]."""
    if all(n in names for n in SSD_OUTPUTS):
        return "ssd"
    if len(output_shape) == 4 and output_shape[1] > 5:
        return "fastestdet"
    if len(output_shape) == 3 and output_shape[2] > 5:
        return "yolo"
    raise OvSparsityError(f"cannot decode a detection head of shape {list(output_shape)}: known layouts are "
                          "fastestdet [1, 5 + C, H, W], yolo [1, N, 5 + C] and ssd (TF Object Detection API "
                          "outputs detection_boxes/classes/scores) (--decoder NAME)")


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a [K, 4] with every box in b [M, 4] (x1, y1, x2, y2)."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float = NMS_IOU,
        limit: int = MAX_BOXES) -> np.ndarray:
    """Indices kept by greedy class-wise non-maximum suppression, highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    suppressed = np.zeros(len(scores), bool)
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) == limit:
            break
        rest = order[pos + 1:]
        rest = rest[~suppressed[rest] & (classes[rest] == classes[i])]
        if len(rest):
            suppressed[rest[iou_matrix(boxes[i:i + 1], boxes[rest])[0] > iou]] = True
    return np.asarray(keep, dtype=np.int64)


def decode(name: str, out, input_hw: tuple, min_score: float = MIN_SCORE,
           iou: float = NMS_IOU) -> Detections:
    """One image's head output (no batch axis; for ssd a dict of its named outputs) -> boxes after NMS."""
    if name not in DECODERS:
        raise OvSparsityError(f"unknown decoder {name!r} (known: {', '.join(DECODERS)})")
    if isinstance(out, dict):
        out = {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
    else:
        out = np.asarray(out, dtype=np.float64)
    boxes, scores, classes = DECODERS[name](out, input_hw)
    boxes = np.clip(boxes, 0.0, 1.0)
    first = scores >= min_score
    boxes, scores, classes = boxes[first], scores[first], classes[first]
    keep = np.arange(len(scores)) if name in POSTPROCESSED else nms(boxes, scores, classes, iou)
    return Detections(boxes[keep], scores[keep], classes[keep].astype(np.int64))
