"""mAP with pycocotools (COCOeval, bbox): of a model's boxes against a reference model's boxes (the
reference's boxes above a score threshold taken as ground truth), or against COCO annotations; and
how closely two models' boxes agree (count per image, IoU of matched boxes)."""

from __future__ import annotations

import contextlib
import io
from typing import Optional

import numpy as np

from ov_sparsity.detection.decode import iou_matrix

# the 80 COCO training classes -> the 91-id space of instances_*.json
COCO80_TO_91 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
                32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
                58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
                88, 89, 90)


def _xywh(box) -> list:
    return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]


def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def coco_map(gt: dict, results: list, resamples: int = 0, seed: int = 0) -> Optional[dict]:
    """gt: a COCO-format dict (images, annotations, categories); results: [{image_id, category_id, bbox
    [x, y, w, h], score}]. {"map50", "map"} (AP at IoU 0.5 and at 0.5:0.95, all areas, 100 boxes), with
    resamples > 0 also "map50_ci95": a bootstrap interval over images (COCOeval's per-image matches reused,
    images drawn with replacement, seeded); None where gt holds no box."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not gt.get("annotations"):
        return None
    coco_gt = COCO()
    coco_gt.dataset = {"info": {}, **gt}
    _quiet(coco_gt.createIndex)
    if not results:
        return {"map50": 0.0, "map": 0.0, **({"map50_ci95": [0.0, 0.0]} if resamples else {})}
    coco_dt = _quiet(coco_gt.loadRes, results)
    ev = COCOeval(coco_gt, coco_dt, "bbox")
    ev.params.imgIds = [im["id"] for im in gt["images"]]
    ev.params.areaRng, ev.params.areaRngLbl = ev.params.areaRng[:1], ev.params.areaRngLbl[:1]  # all areas
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    out = {"map50": _ap(ev.eval["precision"][:1]), "map": _ap(ev.eval["precision"])}
    if resamples:
        out["map50_ci95"] = _bootstrap(ev, resamples, seed)
    return out


def _ap(precision: np.ndarray) -> float:
    """COCO's AP from COCOeval's precision [IoU, recall, category, area, max boxes]: area 'all', 100 boxes,
    the mean over the valid entries (-1 marks categories with no ground truth), as its summarize() does."""
    precision = precision[:, :, :, 0, -1]
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else 0.0


def _bootstrap(ev, resamples: int, seed: int) -> list:
    """AP@0.5 over images drawn with replacement: COCOeval.accumulate on its per-image results re-indexed."""
    import copy

    rng = np.random.default_rng(seed)
    ids = list(ev._paramsEval.imgIds)
    n_img, n_cat = len(ids), len(ev._paramsEval.catIds)
    base = ev.evalImgs
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, n_img, n_img)
        boot = copy.copy(ev)
        boot.params = copy.copy(ev._paramsEval)
        boot.params.imgIds = [ids[i] for i in pick]
        boot._paramsEval = boot.params
        boot.evalImgs = [base[k * n_img + i] for k in range(n_cat) for i in pick]
        _quiet(boot.accumulate)
        values.append(_ap(boot.eval["precision"][:1]))
    return [float(v) for v in np.percentile(values, [2.5, 97.5])]


def _results(dets: list, scale: tuple, category=lambda c: int(c) + 1) -> list:
    """Detections (fractions) -> COCO results in pixels of a canvas (w, h)."""
    w, h = scale
    out = []
    for image_id, d in enumerate(dets):
        for box, score, cls in zip(d.boxes, d.scores, d.classes):
            out.append({"image_id": image_id, "category_id": category(cls),
                        "bbox": _xywh(box * [w, h, w, h]), "score": float(score)})
    return out


def reference_map(dets: list, refs: list, threshold: float, canvas: tuple = (640, 640),
                  classes: int = 80, resamples: int = 0, seed: int = 0) -> Optional[dict]:
    """mAP of `dets` against the reference's boxes scoring at least `threshold` (per image, same order)."""
    w, h = canvas
    images = [{"id": i, "width": w, "height": h} for i in range(len(refs))]
    annotations = []
    for image_id, r in enumerate(refs):
        for box, cls in zip(r.above(threshold).boxes, r.above(threshold).classes):
            xywh = _xywh(box * [w, h, w, h])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(cls) + 1,
                                "bbox": xywh, "area": xywh[2] * xywh[3], "iscrowd": 0})
    gt = {"images": images, "annotations": annotations,
          "categories": [{"id": c + 1, "name": str(c)} for c in range(classes)]}
    return coco_map(gt, _results(dets, canvas), resamples, seed)


def box_agreement(dets: list, refs: list, threshold: float, iou: float = 0.5) -> dict:
    """Over boxes scoring at least `threshold`: the fraction of images where both models find as many boxes,
    the fraction of reference boxes matched (same class, IoU >= iou, greedy by IoU) and their mean IoU."""
    same, total, ious = 0, 0, []
    for d, r in zip(dets, refs):
        d, r = d.above(threshold), r.above(threshold)
        same += len(d) == len(r)
        total += len(r)
        if not len(d) or not len(r):
            continue
        m = iou_matrix(r.boxes, d.boxes) * (r.classes[:, None] == d.classes[None, :])
        while m.size and m.max() >= iou:
            i, j = np.unravel_index(np.argmax(m), m.shape)
            ious.append(float(m[i, j]))
            m[i, :], m[:, j] = -1.0, -1.0
    return {"count_agreement": same / max(1, len(refs)), "boxes_matched": len(ious) / max(1, total),
            "matched_iou": float(np.mean(ious)) if ious else None, "reference_boxes": total}


def annotation_map(dets: list, files: list, sizes: list, to_source, annotations: dict,
                   coco91: bool = False) -> Optional[dict]:
    """True mAP against COCO annotations (instances.json): images matched by file name, boxes mapped back
    to source pixels by `to_source(boxes, (w, h))`, 80 classes mapped to COCO's 91 ids (coco91: the
    classes are already those ids, less one)."""
    from pathlib import Path

    by_name = {im["file_name"]: im["id"] for im in annotations.get("images", [])}
    ids = [by_name.get(Path(f).name) for f in files]
    results = []
    for image_id, d, wh in zip(ids, dets, sizes):
        if image_id is None:
            continue
        for box, score, cls in zip(to_source(d.boxes, wh), d.scores, d.classes):
            category = int(cls) + 1 if coco91 or cls >= 80 else COCO80_TO_91[int(cls)]
            results.append({"image_id": image_id, "category_id": category,
                            "bbox": _xywh(box), "score": float(score)})
    keep = {i for i in ids if i is not None}
    gt = {"images": [im for im in annotations["images"] if im["id"] in keep],
          "annotations": [a for a in annotations.get("annotations", []) if a["image_id"] in keep],
          "categories": annotations.get("categories", [])}
    return coco_map(gt, results)
