import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ov_sparsity.benchmark.results import schema
from ov_sparsity.benchmark.suite import load_suite, split_folder
from ov_sparsity.cli import main
from ov_sparsity.engine.latency import interleaved_latency, interleaved_throughput
from tests.models import build

jsonschema = pytest.importorskip("jsonschema")

BLUE, ORANGE = (0x00, 0x68, 0xB5), (0xE9, 0x61, 0x15)  # the first two plot colours in benchmark/html.py


@pytest.fixture
def tiny(model_xml):
    return model_xml("conv_bias_relu", hw=32)


def _suite(tmp_path, tiny, image_folder, extra=""):
    path = tmp_path / "suite.yaml"
    path.write_text(f"""
name: tiny
title: Tiny suite
model: {{ir: {tiny}}}
preprocess: cifar10
eval: {{data: {image_folder}}}
data: {{noise: noise, real: {image_folder}}}
seconds: 0.4
settings:
  - label: magnitude
    levels: [0.3, 0.6]
    data: [noise]
    algorithms: [{{name: MagnitudeSparsity}}]
  - label: udfc
    levels: [0.25]
    data: [real]
    algorithms: [{{name: UDFC, params: {{statistics: calibration}}}}]
{extra}""")
    return path


def test_latency_and_throughput_loops_return_sane_numbers():
    models = [build("residual"), build("depthwise")]
    for r in interleaved_latency(models, seconds=0.4, rounds=2):
        assert 0 < r["p10_ms"] <= r["median_ms"] <= r["p90_ms"] < 1000 and r["runs"] >= 2
    for r in interleaved_throughput(models, seconds=0.4, rounds=2):
        assert 10 < r["fps"] < 1e7 and r["requests"] >= 1 and r["images"] >= 1


def test_benchmark_command_measures_side_by_side_and_validates(tiny, image_folder, tmp_path, capsys):
    sparse = tmp_path / "sparse"
    assert main(["-q", "compress", str(tiny), "-o", str(sparse), "--sparsity", "0.5", "--data", "noise",
                 "--preprocess", "cifar10"]) == 0
    capsys.readouterr()
    out = tmp_path / "bench"
    assert main(["-q", "benchmark", str(tiny), str(sparse / "model.xml"), "--data", str(image_folder),
                 "--preprocess", "cifar10", "--seconds", "0.4", "-o", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    results = json.loads((out / "results.json").read_text())
    assert printed == results
    jsonschema.validate(results, schema())
    dense, sp = results["models"]
    assert dense["accuracy"]["agreement"] == 100.0 and dense["accuracy"]["n"] == 24
    assert dense["size"]["bytes"] == tiny.with_suffix(".bin").stat().st_size
    assert dense["weight_sparsity"] == 0.0 and abs(sp["weight_sparsity"] - 0.5) < 0.01
    assert sp["complexity"]["macs"] == dense["complexity"]["macs"]
    assert sp["complexity"]["effective_macs"] < 0.6 * dense["complexity"]["effective_macs"]
    md = (out / "results.md").read_text()
    assert md.count("\n| ") == 3 and "1.00x" in md
    assert (out / "report.html").stat().st_size > 10_000


def test_suite_compresses_measures_and_resumes(tiny, image_folder, tmp_path, capsys):
    suite = _suite(tmp_path, tiny, image_folder)
    out = tmp_path / "suite-out"
    assert main(["-q", "benchmark", "--suite", str(suite), "-o", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    jsonschema.validate(results, schema())
    labels = [m["label"] for m in results["models"]]
    assert labels == ["dense FP32", "magnitude · noise · 30%", "magnitude · noise · 60%", "udfc · real · 25%"]
    levels = [m["run"]["global_sparsity"] for m in results["models"][1:3]]
    assert abs(levels[0] - 0.3) < 0.01 and abs(levels[1] - 0.6) < 0.01
    udfc = results["models"][3]
    assert udfc["complexity"]["params"] < results["models"][0]["complexity"]["params"]
    run_dir = Path(results["models"][1]["run"]["report"]).parent
    assert json.loads((run_dir / "config.json").read_text())["compression"]["algorithms"][0]["params"] == \
        {"sparsity_level": 0.3}
    stamp = (run_dir / "report.json").stat().st_mtime_ns
    assert main(["-q", "benchmark", "--suite", str(suite), "-o", str(out), "--seconds", "0"]) == 0
    assert (run_dir / "report.json").stat().st_mtime_ns == stamp  # finished runs are not redone
    assert "latency" not in json.loads((out / "results.json").read_text())["models"][0]
    # a run a signal cut short (no wall_s.txt) and one whose report is corrupt are redone; the rest kept
    cut, corrupt = (Path(m["run"]["report"]).parent for m in results["models"][2:4])
    (cut / "wall_s.txt").unlink()
    (corrupt / "report.json").write_text('{"model": ')
    assert main(["-q", "benchmark", "--suite", str(suite), "-o", str(out), "--seconds", "0"]) == 0
    assert (run_dir / "report.json").stat().st_mtime_ns == stamp
    again = json.loads((out / "results.json").read_text())
    assert [m["label"] for m in again["models"]] == labels
    assert (cut / "wall_s.txt").is_file() and json.loads((corrupt / "report.json").read_text())["global_sparsity"] >= 0


def test_a_suite_that_fails_before_its_first_run_leaves_no_folder(tiny, image_folder, tmp_path, capsys):
    """Found only when the run starts (a scope naming no layer of the model): no -o folder is left behind."""
    suite = _suite(tmp_path, tiny, image_folder).read_text().replace(
        "algorithms: [{name: MagnitudeSparsity}]", "algorithms: [{name: MagnitudeSparsity, params: "
                                                   "{ignored_scope: [conv9]}}]")
    (tmp_path / "suite.yaml").write_text(suite)
    out = tmp_path / "suite-out"
    assert main(["-q", "benchmark", "--suite", str(tmp_path / "suite.yaml"), "-o", str(out)]) == 2
    assert "ignored scope names a layer that is not in the model: 'conv9'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("text,message", [
    ("bogus: 1", "suite: unknown key 'bogus' in 'the suite'"),
    ("", None),
])
def test_suite_errors(tiny, image_folder, tmp_path, capsys, text, message):
    if message is None:  # a setting that asks for an unknown calibration source
        path = _suite(tmp_path, tiny, image_folder).read_text().replace("data: [noise]", "data: [imagenet]")
        (tmp_path / "suite.yaml").write_text(path)
        message = "uses data 'imagenet', not among noise, real"
    else:
        _suite(tmp_path, tiny, image_folder, text)
    assert main(["-q", "benchmark", "--suite", str(tmp_path / "suite.yaml"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,message", [
    ([], "give one or more MODEL.xml"),
    (["--suite", "s.yaml"], "--suite needs -o DIR"),
    (["nope.xml", "--seconds", "0"], "model file not found"),
    (["--suite", "nope.yaml", "-o", "o"], "suite file not found"),
])
def test_benchmark_bad_input(args, message, capsys):
    assert main(["-q", "benchmark", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err


@pytest.mark.parametrize("name", ["resnet20_cifar10", "resnet56_cifar10", "mobilenet_v2_imagenet"])
def test_default_suites_load(name):
    from tests.conftest import shared_or_skip

    shared_or_skip("data")
    suite = load_suite(Path(__file__).resolve().parents[1] / "benchmarks" / "suites" / f"{name}.yaml")
    assert suite.runs and suite.eval_data is not None and suite.runs[0].setting == "dense INT8"
    assert len({r.slug for r in suite.runs}) == len(suite.runs)


def test_split_folder_halves_are_disjoint_and_complete(tmp_path):
    src = tmp_path / "samples"
    (src / "images").mkdir(parents=True)
    for i in range(7):
        Image.new("RGB", (4, 4)).save(src / "images" / f"n0000{i}_x.png")
    (src / "synsets.txt").write_text("".join(f"{i} n0000{i} c{i}\n" for i in range(7)))
    even, odd = split_folder(src, "even", tmp_path / "d"), split_folder(src, "odd", tmp_path / "d")
    names = [sorted(p.name for p in (f / "images").iterdir()) for f in (even, odd)]
    assert names[0] == [f"n0000{i}_x.png" for i in (0, 2, 4, 6)] and names[1] == [f"n0000{i}_x.png" for i in (1, 3, 5)]
    assert (even / "synsets.txt").is_file()


def test_report_renders_a_compress_run(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["-q", "compress", str(tiny), "-o", str(out), "--sparsity", "0.5", "--data", "noise",
                 "--preprocess", "cifar10"]) == 0
    assert main(["-q", "report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "http://" not in page and "https://" not in page
    report = json.loads((out / "report.json").read_text())
    assert f"{100 * report['global_sparsity']:.1f}% overall" in page
    assert page.count("<tr>") == 1 + len(report["layers"]) + 1 + len(report["algorithms"])  # two tables
    assert main(["-q", "report", str(tmp_path)]) == 2
    assert "no report.json" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _screenshot(html: Path, png: Path, height: int = 2000) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no headless Chromium (make test installs Debian's chromium where apt-get works)")
    profile = png.parent / "chromium-profile"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--hide-scrollbars", f"--window-size=1280,{height}",
                    f"--screenshot={png}", html.as_uri()], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "HOME": str(png.parent)})


def _colour_pixels(png: Path, colour: tuple) -> int:
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int(np.count_nonzero(np.abs(img - np.array(colour)).sum(-1) < 30))


def test_report_page_renders_with_plots_in_headless_chromium(tiny, image_folder, tmp_path):
    out = tmp_path / "suite-out"
    assert main(["-q", "benchmark", "--suite", str(_suite(tmp_path, tiny, image_folder)), "-o", str(out)]) == 0
    png = tmp_path / "shot.png"
    _screenshot(out / "report.html", png)
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape[1] == 1280 and img.std() > 10  # not a blank page
    # the bars and lines are drawn in these colours only inside the embedded plots
    assert _colour_pixels(png, ORANGE) > 2000 and _colour_pixels(png, BLUE) > 2000
    bands = [img[y:y + 200].std() for y in range(0, 1200, 200)]
    assert sum(b > 5 for b in bands) >= 4  # content all the way down, not one strip
