"""Detection: decoders + NMS on hand-made heads, reference mAP (pycocotools), box agreement, COCO
annotations, eval --task detection on a tiny opset detector, resize modes and their inverse."""

import json

import numpy as np
import pytest
from PIL import Image

from ov_sparsity.cli import main
from ov_sparsity.data.preprocess import Preprocessing
from ov_sparsity.detection import Detections, box_agreement, decode, reference_map
from ov_sparsity.detection.decode import nms
from ov_sparsity.errors import OvSparsityError
from tests.models import build, save


def _logit(p):
    return np.log(p / (1 - p))


def fastestdet_head(classes=3):
    """[5 + C, 2, 2]: cell (0, 0) a class-1 box, cell (0, 1) an overlapping class-1 box of lower score
    (suppressed), cell (1, 1) a class-2 box; cell (1, 0) empty."""
    out = np.zeros((5 + classes, 2, 2))
    out[5:] = 1.0 / classes
    for (y, x), obj, cls, (dx, dy), (w, h) in (((0, 0), 0.9, 1, (0.5, 0.5), (0.5, 0.5)),
                                              ((0, 1), 0.6, 1, (-0.9, 0.5), (0.5, 0.5)),
                                              ((1, 1), 0.8, 2, (0.0, 0.0), (0.2, 0.4))):
        out[0, y, x] = obj
        out[1, y, x], out[2, y, x] = np.arctanh(dx), np.arctanh(dy)
        out[3, y, x], out[4, y, x] = _logit(w), _logit(h)
        out[5:, y, x] = 0.0
        out[5 + cls, y, x] = 1.0
    out[0, 1, 0] = 1e-4  # scores 0.003: under the 0.01 kept for mAP
    return out


def test_fastestdet_decoder_and_nms_give_the_hand_made_boxes():
    d = decode("fastestdet", fastestdet_head(), (32, 32))
    assert d.classes.tolist() == [1, 2]
    np.testing.assert_allclose(d.scores, [0.9 ** 0.6, 0.8 ** 0.6], rtol=1e-9)
    # centre (cell + offset) / 2, size as given; the suppressed box [0, 0, 0.3, 0.5] (clipped) had IoU 0.6
    np.testing.assert_allclose(d.boxes[0], [0.0, 0.0, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(d.boxes[1], [0.4, 0.3, 0.6, 0.7], atol=1e-9)


def test_yolo_decoder():
    out = np.zeros((3, 5 + 2))
    out[0, :5] = [16, 16, 8, 8, 0.9]
    out[0, 5:] = [0.2, 0.8]
    out[1, :5] = [17, 16, 8, 8, 0.5]  # same class, IoU 0.78 with the first: suppressed
    out[1, 5:] = [0.1, 0.9]
    out[2, :5] = [4, 4, 4, 4, 0.7]
    out[2, 5:] = [1.0, 0.0]
    d = decode("yolo", out, (32, 32))
    assert d.classes.tolist() == [1, 0]
    np.testing.assert_allclose(d.scores, [0.72, 0.7])
    np.testing.assert_allclose(d.boxes[0], [0.375, 0.375, 0.625, 0.625])


def test_nms_is_class_wise():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1.0]])
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 1])).tolist() == [0, 2]


def _dets(rng, n=6):
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        xy = rng.uniform(0, 0.6, (k, 2))
        wh = rng.uniform(0.1, 0.4, (k, 2))
        out.append(Detections(np.concatenate([xy, xy + wh], 1), rng.uniform(0.6, 1.0, k), rng.integers(0, 3, k)))
    return out


def test_reference_map_of_a_model_against_itself_is_one_and_drops_when_boxes_move():
    refs = _dets(np.random.default_rng(0))
    assert reference_map(refs, refs, 0.5, classes=3) == {"map50": 1.0, "map": 1.0}
    shifted = [Detections(d.boxes + 0.06, d.scores, d.classes) for d in refs]
    moved = reference_map(shifted, refs, 0.5, classes=3)
    assert moved["map"] < 0.9 and moved["map50"] <= 1.0
    far = [Detections(d.boxes + 0.5, d.scores, d.classes) for d in refs]
    assert reference_map(far, refs, 0.5, classes=3)["map50"] < 0.2
    agree = box_agreement(refs, refs, 0.5)
    assert agree["count_agreement"] == 1.0 and agree["boxes_matched"] == 1.0 and agree["matched_iou"] == 1.0
    half = box_agreement([Detections(d.boxes[:1], d.scores[:1], d.classes[:1]) for d in refs], refs, 0.5)
    assert half["boxes_matched"] == pytest.approx(len(refs) / agree["reference_boxes"])


def test_letterbox_and_crop_invert_to_source_pixels():
    img = Image.new("RGB", (200, 100), (255, 0, 0))
    pre = Preprocessing.parse({"mode": "letterbox", "mean": 0, "std": 1}, input_hw=(64, 64))
    x = pre(img)
    assert x.shape == (3, 64, 64)
    assert x[0, 0, 0] == pytest.approx(114 / 255) and x[0, 32, 32] == pytest.approx(1.0)  # grey pad, red image
    # the image fills rows 16..48: its corners map back to the source's
    np.testing.assert_allclose(pre.to_source(np.array([[0, 0.25, 1, 0.75]]), (200, 100)), [[0, 0, 200, 100]])
    crop = Preprocessing.parse({"mode": "crop"}, input_hw=(224, 224))
    assert (crop.resize, crop.crop) == (256, 224)
    np.testing.assert_allclose(crop.to_source(np.array([[0, 0, 1, 1]]), (512, 256)),
                               [[256 - 112, 16, 256 + 112, 240]])  # shorter side already 256: no scaling
    with pytest.raises(OvSparsityError, match="mode must be one of"):
        Preprocessing.parse({"mode": "stretch"}, input_hw=(8, 8))
    assert Preprocessing.parse('{"size": [8, 8], "channels": "BGR"}').channels == "BGR"


@pytest.fixture
def detector(tmp_path):
    return save(build("tiny_detector"), tmp_path / "det.xml")


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    return root


def test_eval_detection_against_itself_and_against_annotations(detector, photos, tmp_path, capsys):
    flags = ["--data", str(photos), "--channels", "BGR", "--json"]
    assert main(["-q", "eval", detector, "--task", "detection", "--reference", detector, "--threshold", "0.3",
                 *flags]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decoder"] == "fastestdet" and result["images"] == 6
    assert result["reference_boxes"] > 0
    assert result["reference_map50"] == 1.0 and result["count_agreement"] == 1.0
    # annotations made of the model's own boxes above 0.3, in source pixels: true mAP 1.0
    from ov_sparsity.api import resolve_preprocessing
    from ov_sparsity.data import ImageFolder
    from ov_sparsity.detection.evaluate import detect
    from ov_sparsity.detection.metrics import COCO80_TO_91
    from ov_sparsity.graph import read_model

    model = read_model(detector)
    pre = resolve_preprocessing({"mean": 0, "std": 1, "channels": "BGR"}, model)
    data = ImageFolder(photos, pre)
    images, annotations = [], []
    for i, ((f, _), d) in enumerate(zip(data.files, detect(model, data, "fastestdet", progress=False))):
        wh = Image.open(f).size
        images.append({"id": i + 10, "file_name": f.split("/")[-1], "width": wh[0], "height": wh[1]})
        for box, cls in zip(pre.to_source(d.above(0.3).boxes, wh), d.above(0.3).classes):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 10, "category_id": COCO80_TO_91[cls],
                                "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                                "area": (box[2] - box[0]) * (box[3] - box[1]), "iscrowd": 0})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": c, "name": str(c)} for c in COCO80_TO_91[:3]]}))
    assert main(["-q", "eval", detector, "--task", "detection", "--annotations", str(path), *flags]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["map50"] == pytest.approx(1.0)


def test_eval_detection_bad_input_is_one_line(detector, photos, tmp_path, capsys):
    classifier = save(build("conv_bias_relu"), tmp_path / "cls.xml")
    assert main(["eval", classifier, "--task", "detection", "--data", str(photos), "--input-size", "8"]) == 2
    assert "cannot decode a detection head of shape [1, 4]" in capsys.readouterr().err
    assert main(["eval", detector, "--task", "detection", "--data", str(photos), "--channels", "BGR",
                 "--decoder", "yolo"]) == 2
    assert "decoder yolo does not fit the head" in capsys.readouterr().err
    assert main(["eval", detector, "--data", str(photos), "--decoder", "yolo"]) == 2
    assert "--decoder does not apply to --task classification" in capsys.readouterr().err
    assert main(["eval", detector, "--task", "detection", "--data", str(photos), "--mean", "1,2"]) == 2
    assert "must be 1 or 3 numbers" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["eval", detector, "--task", "detection", "--data", str(photos), "--channels", "BGR",
                 "--annotations", str(bad)]) == 2
    assert "not a COCO instances JSON" in capsys.readouterr().err


def test_benchmark_prints_detection_metrics_beside_latency(detector, photos, tmp_path, capsys):
    import jsonschema

    from ov_sparsity.benchmark.results import schema

    sparse = tmp_path / "sparse"
    assert main(["-q", "compress", detector, "-o", str(sparse), "--sparsity", "0.5", "--data", str(photos),
                 "--channels", "BGR", "--recovery", "none"]) == 0
    capsys.readouterr()
    assert main(["-q", "benchmark", detector, str(sparse / "model.xml"), "--task", "detection", "--data", str(photos),
                 "--channels", "BGR", "--seconds", "0.2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    jsonschema.validate(results, schema())
    dense, pruned = (m["detection"] for m in results["models"])
    assert dense["reference_map50"] == 1.0 and dense["count_agreement"] == 1.0
    assert pruned["reference_map50"] is not None and 0.0 <= pruned["reference_map50"] <= 1.0
    assert main(["-q", "benchmark", detector, "--task", "detection", "--data", str(photos), "--channels", "BGR",
                 "--seconds", "0.2"]) == 0
    assert "ref mAP@0.5" in capsys.readouterr().out


def test_detection_suite(detector, photos, tmp_path):
    suite = tmp_path / "det.yaml"
    suite.write_text(f"name: tiny_det\ntask: detection\nmodel: {{ir: {detector}}}\n"
                     "preprocess: {mean: [0, 0, 0], std: [1, 1, 1], channels: BGR}\n"
                     f"eval: {{data: {photos}}}\ndata: {{real: {photos}}}\n"
                     "settings:\n  - label: sparse\n    levels: [0.5]\n    algorithms: [{name: WeightSparsity, "
                     "params: {recovery: none}}]\n")
    assert main(["-q", "benchmark", "--suite", str(suite), "-o", str(tmp_path / "out"), "--seconds", "0.2"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    dense, sparse = (m["detection"] for m in results["models"])
    assert dense["reference_map50"] == 1.0 and sparse["images"] == 6


def test_accuracy_checker_letterbox_is_the_same_preprocessing(tmp_path):
    from ov_sparsity.config.accuracy_checker import preprocessing_from_steps

    steps = [{"type": "resize", "size": 64, "aspect_ratio_scale": "fit_to_window"},
             {"type": "padding", "size": 64, "pad_value": [114, 114, 114]}, {"type": "normalization", "std": 255}]
    ac = Preprocessing.parse(preprocessing_from_steps(tmp_path / "ac.yml", steps, "BGR"))
    flags = Preprocessing.parse({"mode": "letterbox", "mean": 0, "std": 1, "channels": "BGR"}, input_hw=(64, 64))
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8))
    np.testing.assert_allclose(ac(img), flags(img), rtol=1e-6, atol=1e-6)
    with pytest.raises(OvSparsityError, match="needs a padding step"):
        preprocessing_from_steps(tmp_path / "ac.yml", steps[:1], "BGR")
