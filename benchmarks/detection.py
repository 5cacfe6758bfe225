"""A detector compressed, scored against the dense FP32 model's own boxes on 1,150 natural photos
(imagenet-samples + imagenet-val227: reference boxes, not human labels).

    python benchmarks/detection.py --work DIR [--model fastestdet|ssdlite] [--variants int8,sparse50_int8,...]

fastestdet: ../shared's FastestDet IR (COCO-80); ssdlite: `zoo export ssdlite_person` (TF SSDLite, PyPI).

Each variant is `ov-sparsity compress` as a user runs it (preprocessing by flags: plain resize to 352,
BGR, pixels / 255); then reference mAP@0.5 (pycocotools), a bootstrap 95% interval over images, mAP@0.5:0.95,
box count agreement and IoU of matched boxes. Prints a table and writes DIR/detection.json."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import SHARED, cli  # noqa: E402

MODEL = SHARED / "models/detection/fastestdet_coco80.xml"
CALIB = SHARED / "data/imagenet-unlabelled"
EVAL = [SHARED / "data/imagenet-samples", SHARED / "data/imagenet-val227"]
PRE = ["--channels", "BGR"]  # FastestDet: plain resize to its 352x352 input, BGR, /255 (../shared/README.md)
VARIANTS = {
    "int8": ["-c", "INT8_CONFIG"],  # dense INT8 alone: a POT config with DefaultQuantization only
    "sparse50_fp32": ["--sparsity", "0.5", "--data", CALIB],
    "sparse10_int8": ["--sparsity", "0.1", "--int8", "--data", CALIB],
    "sparse20_int8": ["--sparsity", "0.2", "--int8", "--data", CALIB],
    "sparse30_int8": ["--sparsity", "0.3", "--int8", "--data", CALIB],
    "sparse50_int8": ["--sparsity", "0.5", "--int8", "--data", CALIB],
    "sparse50_int8_fractal": ["--sparsity", "0.5", "--int8", "--data", "fractal"],
    "sparse50_int8_noise": ["--sparsity", "0.5", "--int8", "--data", "noise"],
}
THRESHOLD = 0.5
BOOTSTRAP = 200
SETUP = {"pre": PRE, "spec": {"mean": [0, 0, 0], "std": [1, 1, 1], "channels": "BGR"}, "decoder": "fastestdet"}


SSDLITE = {"pre": [], "spec": None, "decoder": "ssd"}  # preprocessing and decoder recorded in its IR


def int8_config(work: Path) -> Path:
    path = work / "int8.json"
    engine = {"type": "simplified", "data_source": str(CALIB)}
    if SETUP["spec"]:
        engine["preprocessing"] = SETUP["spec"]
    path.write_text(json.dumps({
        "model": {"model_name": "detector", "model": str(MODEL)},
        "engine": engine,
        "compression": {"algorithms": [{"name": "DefaultQuantization", "params": {"preset": "performance",
                                                                                  "stat_subset_size": 300}}]}}))
    return path


def pooled_images():
    from ov_sparsity.api import resolve_preprocessing
    from ov_sparsity.data import ImageFolder
    from ov_sparsity.graph import read_model

    pre = resolve_preprocessing(SETUP["spec"], read_model(MODEL))
    return [ImageFolder(folder, pre) for folder in EVAL]


def detections(xml, folders):
    from ov_sparsity.detection.evaluate import detect
    from ov_sparsity.graph import read_model

    model = read_model(xml)
    return [d for folder in folders for d in detect(model, folder, SETUP["decoder"], progress=False)]


def score(dets, refs, seed=0):
    from ov_sparsity.detection import box_agreement, reference_map

    classes = 90 if SETUP["decoder"] == "ssd" else 80
    whole = reference_map(dets, refs, THRESHOLD, classes=classes, resamples=BOOTSTRAP, seed=seed)
    return {"reference_map50": whole["map50"], "ci95": whole["map50_ci95"], "reference_map": whole["map"],
            **box_agreement(dets, refs, THRESHOLD)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--model", choices=("fastestdet", "ssdlite"), default="fastestdet")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    global MODEL, SETUP
    if args.model == "ssdlite":
        MODEL, SETUP = args.work / "ssdlite_person.xml", SSDLITE
        if not MODEL.exists():
            cli("zoo", "export", "ssdlite_person", "-o", MODEL)
    folders = pooled_images()
    refs = detections(MODEL, folders)
    results = {"dense_fp32": {"reference_map50": 1.0, "images": len(refs),
                              "boxes_per_image": float(np.mean([len(r.above(THRESHOLD)) for r in refs]))}}
    for name in args.variants.split(","):
        out = args.work / name
        flags = [int8_config(args.work) if a == "INT8_CONFIG" else a for a in VARIANTS[name]]
        if not (out / "model.xml").exists():
            cli("compress", *([] if name == "int8" else [MODEL]), "-o", out, *flags,
                *([] if name == "int8" else SETUP["pre"]))
        wall = json.loads((out / "report.json").read_text())["timings_s"].get("total")
        results[name] = {**score(detections(out / "model.xml", folders), refs), "compress_s": wall,
                         "command": "ov-sparsity compress " + (
                                    "-c int8.json (DefaultQuantization only)" if name == "int8"
                                    else f"{MODEL.name} -o OUT " + " ".join(
                                        str(a).replace(str(SHARED), "../shared") for a in VARIANTS[name]
                                        + SETUP["pre"]))}
        print(name, json.dumps(results[name]), flush=True)
    (args.work / "detection.json").write_text(json.dumps(results, indent=1))
    for name, r in results.items():
        ci = r.get("ci95")
        print(f"{name:<24} ref mAP@0.5 {r['reference_map50']:.3f}"
              + (f" [{ci[0]:.3f}, {ci[1]:.3f}]  mAP {r['reference_map']:.3f}  count agr {r['count_agreement']:.3f}  "
                 f"matched {r['boxes_matched']:.3f}  IoU {r['matched_iou'] or 0:.3f}" if ci else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
