"""Bad input, as a new user types it: exit code 2, exactly one stderr line naming the
problem, no traceback, every input byte unchanged, and nothing left behind (no output,
no temporary folder). Ctrl-C stops a run within seconds with exit 130, no leftovers."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from openvino import opset15 as ops
from PIL import Image

from ov_sparsity.cli import main
from ov_sparsity.outputs import _umask
from tests.models import build, save

W = "{w}"  # the world folder in argument templates


def _images(root: Path, classes: int, per_class: int = 3, size: int = 32) -> Path:
    rng = np.random.default_rng(classes)
    for c in range(classes):
        (root / f"class{c:02d}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"class{c:02d}" / f"{i}.png")
    return root


def _conv_model(shape, channels=3):
    rng = np.random.default_rng(0)
    x = ops.parameter(shape, np.float32, name="input")
    c = ops.convolution(x, ops.constant(rng.standard_normal((4, channels, 3, 3)).astype(np.float32)), [1, 1], [1, 1],
                        [1, 1], [1, 1])
    c.set_friendly_name("conv")
    return ov.Model([ops.reduce_mean(c, ops.constant(np.array([2, 3])), False)], [x], "m")


def _two_inputs():
    a = ops.parameter([1, 3, 32, 32], np.float32, name="a")
    b = ops.parameter([1, 3, 32, 32], np.float32, name="b")
    w = ops.constant(np.ones((4, 3, 3, 3), np.float32))
    return ov.Model([ops.add(ops.convolution(a, w, [1, 1], [1, 1], [1, 1], [1, 1]), ops.convolution(
        b, w, [1, 1], [1, 1], [1, 1], [1, 1]))], [a, b], "two")


def _quantized():
    x = ops.parameter([-1, 3, 32, 32], np.float32, name="input")
    lo, hi = ops.constant(np.float32(-1)), ops.constant(np.float32(1))
    fq = ops.fake_quantize(x, lo, hi, lo, hi, 256)
    c = ops.convolution(fq, ops.constant(np.ones((4, 3, 3, 3), np.float32)), [1, 1], [1, 1], [1, 1], [1, 1])
    return ov.Model([ops.reduce_mean(c, ops.constant(np.array([2, 3])), False)], [x], "q")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = tmp_path_factory.mktemp("world")
    save(build("conv_bias_relu", 0, hw=32), w / "m.xml")  # 4 outputs, 32x32
    _images(w / "imgs", 4)
    _images(w / "imgs12", 12, per_class=1)
    (w / "flat" / "images").mkdir(parents=True)
    Image.new("RGB", (32, 32), (9, 9, 9)).save(w / "flat" / "images" / "n00000001_x.png")
    (w / "flat" / "synsets.txt").write_text("".join(f"{i} n{i + 1:08d} thing{i}\n" for i in range(1000)))
    (w / "empty").mkdir()
    (w / "userdir").mkdir()
    (w / "userdir" / "notes.txt").write_text("my notes\n")
    (w / "afile").write_text("x")
    (w / "junk.xml").write_text("<net><layers>")
    (w / "junk.bin").write_bytes(b"\0" * 8)
    (w / "trunc.xml").write_bytes((w / "m.xml").read_bytes())
    (w / "trunc.bin").write_bytes((w / "m.bin").read_bytes()[:100])
    (w / "lonely.xml").write_bytes((w / "m.xml").read_bytes())
    (w / "m.onnx").write_bytes(b"onnx")
    x = ops.parameter([1, 3, 4, 4], np.float32)
    save(ov.Model([ops.relu(x)], [x]), w / "relu.xml")
    save(_two_inputs(), w / "two.xml")
    save(_conv_model(ov.PartialShape.dynamic()), w / "dynrank.xml")
    save(_conv_model([-1, 3, -1, -1]), w / "dynhw.xml")
    save(_conv_model([-1, 1, 32, 32], channels=1), w / "gray.xml")
    save(_quantized(), w / "q.xml")
    (w / "rep_list").mkdir()
    (w / "rep_list" / "report.json").write_text("[]")
    (w / "rep_keys").mkdir()
    (w / "rep_keys" / "report.json").write_text('{"model": {}}')
    cfg = lambda name, text: (w / name).write_text(text)  # noqa: E731
    cfg("nan.yaml", "compression:\n  algorithms:\n  - name: WeightSparsity\n    params: {sparsity_level: .nan}\n")
    cfg("seed.json", '{"engine": {"data_source": "noise", "type": "data_free", "seed": -1}}')
    cfg("foo.json", '{"compression": {"algorithms": [{"name": "Foo"}]}}')
    cfg("levle.json", '{"compression": {"algorithms": [{"name": "WeightSparsity", "params": {"levle": 1}}]}}')
    cfg("ignored.json", '{"compression": {"algorithms": [{"name": "WeightSparsity", "params": '
                        '{"ignored": {"scope": ["conv9"]}}}]}}')
    cfg("datafree.json", '{"engine": {"type": "data_free", "data_source": "imgs"}}')
    cfg("broken.json", '{"model": ')
    return w


LONG = "a" * 256
# id: (arguments, with {w} the world folder; a piece of the one stderr line)
CASES = {
    "missing model": (["compress", "{w}/nope.xml", "-o", "{w}/o"], "model file not found"),
    "model is a folder": (["compress", "{w}/imgs", "-o", "{w}/o"], "model path is a directory"),
    "model not .xml": (["compress", "{w}/m.onnx", "-o", "{w}/o"], "must be an OpenVINO IR .xml"),
    "corrupt xml": (["compress", "{w}/junk.xml", "-o", "{w}/o", "--data", "noise"], "Unable to read the model"),
    "truncated bin": (["compress", "{w}/trunc.xml", "-o", "{w}/o", "--data", "noise"],
                      "Incorrect weights in bin file!"),
    "missing bin": (["compress", "{w}/lonely.xml", "-o", "{w}/o"], "weights file not found"),
    "no weighted ops": (["compress", "{w}/relu.xml", "-o", "{w}/o", "--data", "noise", "--preprocess", "cifar10"],
                        "no weighted ops"),
    "sparsity 1.5": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "1.5"], "in [0, 1), got 1.5"),
    "sparsity 1.0": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "1"], "in [0, 1), got 1.0"),
    "sparsity nan": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "nan"], "finite number, got nan"),
    "sparsity inf": (["compress", "{w}/m.xml", "-o", "{w}/o", "--sparsity", "inf"], "finite number, got inf"),
    "sparsity empties layers": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "noise", "--sparsity",
                                 "0.999999"], "no layer may be emptied"),
    "seed -1": (["compress", "{w}/m.xml", "-o", "{w}/o", "--seed", "-1"], "argument --seed: must be an integer"),
    "subset size 0": (["compress", "{w}/m.xml", "-o", "{w}/o", "--subset-size", "0"], "--subset-size: must be"),
    "prune ratio nan": (["compress", "{w}/m.xml", "-o", "{w}/o", "--udfc", "--prune-ratio", "nan"],
                        "--prune-ratio: must be a finite number"),
    "udfc changes nothing": (["compress", "{w}/m.xml", "-o", "{w}/o", "--udfc", "--prune-ratio", "0.01"],
                             "UDFC would change nothing"),
    "weight bits 1": (["compress", "{w}/m.xml", "-o", "{w}/o", "--udfc", "--weight-bits", "1"],
                      "--weight-bits: must be an integer in [2, 8]"),
    "config unknown algorithm": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/foo.json"],
                                 "unknown algorithm 'Foo'"),
    "config unknown parameter": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/levle.json"],
                                 "WeightSparsity: unknown parameter 'levle'"),
    "config nan level": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/nan.yaml"],
                         "parameter 'sparsity_level' must be a finite number"),
    "config seed -1": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/seed.json"],
                       "engine.seed must be an integer in [0, 4294967295], got -1"),
    "config is a folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/imgs"], "config path is a folder"),
    "config missing": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/none.json"], "config file not found"),
    "config unparsable": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/broken.json"],
                          "cannot parse config file"),
    "config data_free folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "-c", "{w}/datafree.json"],
                                "engine type 'data_free' takes data_source 'noise' or 'fractal'"),
    "ignored layer unknown": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "noise", "-c", "{w}/ignored.json"],
                              "ignored scope names a layer that is not in the model: 'conv9'"),
    "empty data folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "{w}/empty"],
                          "no images found in data folder"),
    "missing data folder": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "{w}/nothing"],
                            "data folder not found"),
    "output under a file": (["compress", "{w}/m.xml", "-o", "{w}/afile/o", "--data", "noise"],
                            "output path is under a file, not a folder"),
    "output is a user folder": (["compress", "{w}/m.xml", "-o", "{w}/userdir", "--data", "noise"],
                                "refusing to overwrite"),
    "output is the model's folder": (["compress", "{w}/m.xml", "-o", "{w}", "--data", "noise"],
                                     "it holds the input"),
    "output is the data folder": (["compress", "{w}/m.xml", "-o", "{w}/imgs", "--data", "{w}/imgs"],
                                  "it holds the data folder"),
    "output inside the data folder": (["compress", "{w}/m.xml", "-o", "{w}/imgs/out", "--data", "{w}/imgs"],
                                      "it is inside the data folder"),
    "output name too long": (["compress", "{w}/m.xml", "-o", "{w}/" + LONG, "--data", "noise"],
                             "output name is too long (256 bytes"),
    "two inputs compress": (["compress", "{w}/two.xml", "-o", "{w}/o", "--data", "noise"], "the model has 2 inputs"),
    "two inputs eval": (["eval", "{w}/two.xml", "--data", "{w}/imgs"], "the model has 2 inputs"),
    "dynamic rank": (["compress", "{w}/dynrank.xml", "-o", "{w}/o", "--data", "noise"], "has a dynamic rank"),
    "dynamic image size": (["benchmark", "{w}/dynhw.xml", "--seconds", "0"], "has a dynamic shape"),
    "preprocess size mismatch": (["compress", "{w}/m.xml", "-o", "{w}/o", "--data", "{w}/imgs", "--preprocess",
                                  "imagenet"], "gives 224x224 images but the model input is 32x32"),
    "one-channel model": (["compress", "{w}/gray.xml", "-o", "{w}/o", "--data", "{w}/imgs", "--preprocess",
                           "cifar10"], "takes 1 channels; images give 3"),
    "int8 model": (["compress", "{w}/q.xml", "-o", "{w}/o", "--data", "noise", "--preprocess", "cifar10"],
                   "the model is already quantized"),
    "int8 model --int8": (["compress", "{w}/q.xml", "-o", "{w}/o", "--data", "noise", "--preprocess", "cifar10",
                           "--int8"], "already quantized"),
    "eval 12 classes": (["eval", "{w}/m.xml", "--data", "{w}/imgs12"], "has 12 classes but the model has 4 outputs"),
    "eval 1000 synsets": (["eval", "{w}/m.xml", "--data", "{w}/flat"],
                          "has 1000 classes but the model has 4 outputs"),
    "benchmark 12 classes": (["benchmark", "{w}/m.xml", "--data", "{w}/imgs12", "--seconds", "0"],
                             "has 12 classes but the model has 4 outputs"),
    "eval batch size 0": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--batch-size", "0"], "--batch-size: must be"),
    "eval batch size -1": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--batch-size", "-1"], "--batch-size: must"),
    "eval limit -3": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--limit", "-3"], "--limit: must be an integer"),
    "eval limit 0": (["eval", "{w}/m.xml", "--data", "{w}/imgs", "--limit", "0"], "--limit: must be an integer >= 1"),
    "benchmark limit -2": (["benchmark", "{w}/m.xml", "--data", "{w}/imgs", "--limit", "-2"], "--limit: must be"),
    "benchmark seconds nan": (["benchmark", "{w}/m.xml", "--seconds", "nan"], "--seconds: must be a finite number"),
    "benchmark into a user folder": (["benchmark", "{w}/m.xml", "--seconds", "0", "-o", "{w}/userdir"],
                                     "refusing to overwrite"),
    "report of a list": (["report", "{w}/rep_list"], "not a report.json written by ov-sparsity (it holds a list"),
    "report missing keys": (["report", "{w}/rep_keys"], "not a report.json written by ov-sparsity (no 'global"),
    "report of a file": (["report", "{w}/afile"], "not a folder"),
    "fractals size 100000": (["fractals", "generate", "-n", "2", "--size", "100000", "-o", "{w}/f"],
                             "--size: must be an integer in [16, 4096]"),
    "fractals workers -1": (["fractals", "generate", "-n", "2", "--workers", "-1", "-o", "{w}/f"],
                            "--workers: must be an integer in [1, 256]"),
    "fractals n 0": (["fractals", "generate", "-n", "0", "-o", "{w}/f"], "-n: must be an integer"),
    "fractals into a user folder": (["fractals", "generate", "-n", "2", "--size", "32", "-o", "{w}/userdir"],
                                    "refusing to overwrite"),
    "fractals sheet nowhere": (["fractals", "generate", "-n", "2", "--size", "32", "-o", "{w}/f", "--sheet",
                                "{w}/no/such/sheet.png"], "folder not found for"),
    "fractals sheet format": (["fractals", "generate", "-n", "2", "--size", "32", "-o", "{w}/f", "--sheet",
                               "{w}/sheet.xyz"], "unknown image format"),
    "zoo export over a user model": (["zoo", "export", "resnet20_cifar10", "--weights", "{w}/afile", "-o",
                                      "{w}/m.xml"], "refusing to overwrite"),
    "zoo unknown model": (["zoo", "export", "vgg16", "-o", "{w}/v.xml"], "unknown zoo model 'vgg16'"),
    "zoo weights missing": (["zoo", "export", "resnet20_cifar10", "--weights", "{w}/none.th", "-o", "{w}/r.xml"],
                            "weights file not found"),
}


def snapshot(root: Path) -> dict:
    """Every path under root with the sha256 of its bytes (folders as None)."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_at_least_45_cases():
    assert len(CASES) >= 45


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, world, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    args, expected = CASES[case]
    before = snapshot(world)
    code = main(["-q", *(a.replace(W, str(world)) for a in args)])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, (code, captured.err)
    assert len(lines) == 1 and lines[0].startswith("ov-sparsity: error: "), captured.err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in captured.err
    assert snapshot(world) == before  # inputs unchanged; no output, no temporary folder


def test_output_in_the_model_folder_from_inside_it(world, capsys, monkeypatch):
    monkeypatch.chdir(world)
    before = snapshot(world)
    assert main(["-q", "compress", "m.xml", "-o", ".", "--data", "noise"]) == 2
    assert main(["-q", "compress", "m.xml", "-o", "..", "--data", "noise"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("refusing to write into" in line for line in err)
    assert snapshot(world) == before


@pytest.mark.parametrize("case", ["corrupt xml", "seed -1", "output is a user folder", "report of a list"])
def test_bad_input_in_a_real_process(case, world):
    args, expected = CASES[case]
    proc = subprocess.run([sys.executable, "-m", "ov_sparsity.cli", "-q", *(a.replace(W, str(world)) for a in args)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and expected in proc.stderr


def test_previous_output_is_replaced_and_marked(world, tmp_path, capsys):
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces the first one's folder
        assert main(["-q", "compress", str(world / "m.xml"), "-o", str(out), "--data", "noise",
                     "--subset-size", "4"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [".ov-sparsity", "model.bin", "model.xml", "report.html",
                                                      "report.json"]
    assert (out.stat().st_mode & 0o777) == (0o777 & ~_umask())
    (out / "notes.txt").write_text("mine")  # a user's file in it: no longer ours to replace
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(out), "--data", "noise"]) == 2
    assert "holds files this tool did not write" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(empty), "--data", "noise",
                 "--subset-size", "4"]) == 0
    long_name = tmp_path / ("b" * 250)  # a legal name stays legal: temporary names do not grow from it
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(long_name), "--data", "noise",
                 "--subset-size", "4"]) == 0
    assert (long_name / "model.xml").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ovs-")]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    from ov_sparsity.data.preprocess import to_rgb

    grey = (np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as img:
        rgb = np.asarray(to_rgb(img))
    np.testing.assert_allclose(rgb[..., 0], grey / 257.0, atol=0.51)
    assert (rgb == 255).mean() < 0.01


def test_corrupt_png_in_the_fractal_cache_is_regenerated(tmp_path, monkeypatch):
    from ov_sparsity.data.fractals import FractalOptions, generate_images

    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    fast = FractalOptions(search_points=20_000, search_canvas=256, render_points=8_000)
    first = generate_images(3, 32, seed=1, options=fast, workers=1, progress=False)
    (png,) = [p for p in (tmp_path / "cache").rglob("00001.png")]
    png.write_bytes(b"\x89PNG broken")
    np.testing.assert_array_equal(generate_images(3, 32, seed=1, options=fast, workers=1, progress=False), first)
    with Image.open(png) as img:  # and the cache is mended
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), first[1])


# --- Ctrl-C -------------------------------------------------------------------------------------------------


def _processes_mentioning(text: str) -> list:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(pid))
    return found


def _interrupt_after(args: list, ready: str, tmp_path: Path, env: dict) -> tuple:
    """Start the CLI, wait until stderr shows `ready` (progress bars end in \\r, not \\n: read what is
    there), let it work a moment, send SIGINT; (exit code, seconds to exit, stderr)."""
    import select

    proc = subprocess.Popen([sys.executable, "-m", "ov_sparsity.cli", *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=env, cwd=tmp_path)
    seen = b""
    deadline = time.time() + 120
    try:
        while time.time() < deadline and ready.encode() not in seen and proc.poll() is None:
            if select.select([proc.stderr], [], [], 0.2)[0]:
                seen += os.read(proc.stderr.fileno(), 65536)
        time.sleep(1.0)
        assert proc.poll() is None, "the run ended before it could be interrupted: " + seen.decode()
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
        return proc.returncode, time.time() - t0, (seen + rest).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("kind", ["compress", "fractals"])
def test_ctrl_c_exits_130_quickly_and_leaves_nothing(kind, world, tmp_path):
    env = {**os.environ, "OV_SPARSITY_CACHE": str(tmp_path / "cache"), "OV_SPARSITY_PROGRESS": "1"}
    marker = f"interrupt-{kind}-{os.getpid()}"
    out = tmp_path / marker
    if kind == "compress":
        args = ["compress", str(world / "m.xml"), "-o", str(out), "--data", "noise", "--subset-size", "3000",
                "--tune", "lstsq", "--schedule-steps", "8", "--int8"]
        ready = "compressing"
    else:
        args = ["fractals", "generate", "-n", "3000", "--size", "224", "--workers", "2", "-o", str(out)]
        ready = "fractals:"
    code, seconds, err = _interrupt_after(args, ready, tmp_path, env)
    assert code == 130, err
    assert seconds < 10
    assert err.rstrip().split("\n")[-1].split("\r")[-1].endswith("ov-sparsity: interrupted"), err[-500:]
    assert "Traceback" not in err
    time.sleep(0.5)
    assert _processes_mentioning(marker) == []  # no orphaned workers
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ovs-")]


def test_extreme_prune_ratio_is_damped_not_singular(world, tmp_path, monkeypatch, capsys):
    """--prune-ratio 0.99 keeps one channel per layer, whose signal may be dead after ReLU:
    the reconstruction is damped (or solved by least squares), never a LinAlgError."""
    monkeypatch.setenv("OV_SPARSITY_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "u"
    assert main(["-q", "compress", str(world / "m.xml"), "-o", str(out), "--udfc", "--prune-ratio", "0.99",
                 "--subset-size", "8"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["algorithm_reports"]["UDFC"]["channels_removed"] == 7 + 15 + 15
    compiled = ov.Core().compile_model(str(out / "model.xml"), "CPU")
    result = compiled(np.ones((1, 3, 32, 32), np.float32))[0]
    assert np.isfinite(result).all()
