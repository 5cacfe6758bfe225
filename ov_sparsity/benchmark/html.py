"""Self-contained HTML pages (inline CSS, plots as embedded PNG; nothing fetched):
the benchmark/suite page from results.json, and the page of one compress run
from its report.json."""

from __future__ import annotations

import base64
import html
import io
import math
from collections import defaultdict
from typing import Optional

from ov_sparsity.benchmark.results import rows

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#1d232b;
background:#fff;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}
h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d6dbe1;padding-bottom:4px}
p.meta{color:#59636e;font-size:13px;margin-top:0}
table{border-collapse:collapse;font-size:13px;margin:8px 0;width:100%}
th,td{border:1px solid #d6dbe1;padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f1f4f7}td:first-child,th:first-child,.text{text-align:left;white-space:normal}
tr:first-child td{background:#fbfaf2}
img{max-width:100%;display:block;margin:8px 0}code{font-size:12px;background:#f1f4f7;padding:1px 4px}
.note{background:#f6f8fa;border-left:3px solid #0068b5;padding:6px 10px;font-size:13px}
"""

COLORS = ["#0068b5", "#e96115", "#2a9d3b", "#8e44ad", "#c0392b", "#7f8c8d", "#d4a017", "#16a085"]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width, height), dpi=100)
    return fig


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(table: list[dict], text: tuple = ()) -> str:
    """An HTML table; columns named in `text` are left-aligned and wrap."""
    if not table:
        return ""
    cols = [k for k in table[0] if any(r[k] for r in table)]
    cell = {c: " class='text'" if c in text else "" for c in cols}
    head = "".join(f"<th{cell[c]}>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td{cell[c]}>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>"
                   for r in table)
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, meta: str, sections: list[tuple[str, str]]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><p class='meta'>{meta}</p>"]
    parts += [f"<h2>{html.escape(h)}</h2>{body}" for h, body in sections if body]
    parts.append("</body></html>\n")
    return "".join(parts)


def removed_per_layer(layers: list[dict], dense_layers: Optional[list[dict]]) -> list[float]:
    """Fraction of each layer's dense weights that are zero or gone (channel pruning shrinks shapes)."""
    size = math.prod
    same = dense_layers is not None and len(dense_layers) == len(layers)
    out = []
    for i, layer in enumerate(layers):
        kept = size(layer["shape"]) * (1.0 - layer["sparsity"])
        full = size(dense_layers[i]["shape"]) if same else size(layer["shape"])
        out.append(1.0 - kept / full if full else 0.0)
    return out


def layer_bars(series: list[tuple[str, list[float]]], names: list[str], title: str) -> str:
    """Fig. 3 of the paper: per-layer sparsity, one bar group per layer."""
    import numpy as np

    n = len(names)
    fig = _figure(min(16, max(7, 0.22 * n * max(1, len(series)) ** 0.5 + 3)), 3.6)
    ax = fig.add_subplot(111)
    width = 0.85 / max(1, len(series))
    x = np.arange(n)
    for k, (label, values) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, [100 * v for v in values], width, label=label,
               color=COLORS[k % len(COLORS)])
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 100)
    ax.set_ylabel("weights removed, %")
    ax.set_xlabel("layer (graph order)")
    step = max(1, n // 30)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([str(i) for i in x[::step]], fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, ncol=min(4, len(series)))
    return _png(fig)


def accuracy_plot(results: dict) -> str:
    """Fig. 2 of the paper: top-1 drop against the level, one line per calibration source."""
    ref = results["models"][0].get("accuracy") or {}
    if "top1" not in ref:
        return ""
    by_setting: dict = defaultdict(lambda: defaultdict(list))
    for m in results["models"][1:]:
        run, acc = m.get("run"), m.get("accuracy") or {}
        if run and run.get("level") is not None and "top1" in acc:
            by_setting[run["setting"]][run["data_source"]].append((run["level"], ref["top1"] - acc["top1"]))
    if not by_setting:
        return ""
    fig = _figure(min(15, 5 * len(by_setting)), 3.8)
    for i, (setting, lines) in enumerate(by_setting.items()):
        ax = fig.add_subplot(1, len(by_setting), i + 1)
        for k, (source, points) in enumerate(lines.items()):
            points.sort()
            ax.plot([100 * p[0] for p in points], [p[1] for p in points], marker="o", label=source,
                    color=COLORS[k % len(COLORS)])
        ax.axhline(0, color="#999", lw=0.8)
        ax.set_xlabel("sparsity / prune ratio, %")
        ax.set_ylabel("top-1 drop vs dense, pt")
        ax.set_title(setting, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="calibration", title_fontsize=8)
    return _png(fig)


def performance_bars(results: dict) -> str:
    """Latency, throughput and size side by side, one bar per model, ratio to the first printed."""
    models = results["models"]
    panels = []
    if all(m.get("latency") for m in models):
        panels.append(("latency, ms (batch 1, median)", [m["latency"]["median_ms"] for m in models]))
    if all(m.get("throughput") for m in models):
        panels.append(("throughput, images/s", [m["throughput"]["fps"] for m in models]))
    codec = models[0]["size"]["codec"]
    panels.append((f"size after {codec}, MB", [m["size"]["compressed_bytes"] / 1e6 for m in models]))
    labels = [m["label"] for m in models]
    fig = _figure(13, 0.8 + 0.32 * len(models))
    for i, (title, values) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        y = list(range(len(values)))[::-1]
        ax.barh(y, values, color=[COLORS[0]] + [COLORS[1]] * (len(values) - 1))
        for yy, v in zip(y, values):
            ax.text(v, yy, f" {v / values[0]:.2f}x", va="center", fontsize=7)
        ax.set_yticks(y)
        ax.set_yticklabels(labels if i == 0 else [""] * len(labels), fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(0, max(values) * 1.25)
        ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def benchmark_page(results: dict) -> str:
    models = results["models"]
    m = results["machine"]
    s = results.get("settings") or {}
    meta = (f"{html.escape(m['cpu'])}, {m['cores']} cores · OpenVINO {m['versions'].get('openvino')} · "
            f"NNCF {m['versions'].get('nncf')} · reference: {html.escape(models[0]['label'])}")
    dense_layers = models[0]["layers"]
    series_by_setting: dict = defaultdict(list)
    for mm in models[1:]:
        run = mm.get("run") or {}
        series_by_setting[(run.get("setting", ""), run.get("data_source", ""))].append(mm)
    layer_figs = []
    seen_settings = set()
    for (setting, source), group in series_by_setting.items():
        if setting in seen_settings:  # one data source per setting: the layer rates barely depend on it
            continue
        if setting and all(g["run"]["level"] is None for g in group):  # a baseline (dense INT8): nothing pruned
            continue
        seen_settings.add(setting)
        series = [(g["run"]["level"] is not None and f"{g['run']['level']:.0%}" or g["label"],
                   removed_per_layer(g["layers"], dense_layers)) for g in group] if setting else \
            [(g["label"], removed_per_layer(g["layers"], dense_layers)) for g in group]
        title = f"{setting} · {source}" if setting else "per-layer sparsity"
        layer_figs.append(layer_bars(series[:6], [layer["name"] for layer in dense_layers], title))
    note = ""
    sw = m.get("sparse_weights_decompression") or {}
    if sw:
        note = (f"<p class='note'>Sparse-weights decompression: "
                f"{'used, rate %.2f' % sw['rate'] if sw.get('used') else 'not used'}"
                f"{' — ' + html.escape(sw['note']) if sw.get('note') else ''}. Latency: batch 1, LATENCY hint, "
                f"median of interleaved runs; throughput: THROUGHPUT hint"
                f"{', %g s per model' % s['seconds'] if s.get('seconds') else ''}.</p>")
    commands = "".join(f"<li>{html.escape(mm['label'])}: <code>{html.escape(mm['run']['command'])}</code></li>"
                       for mm in models if mm.get("run"))
    acc_note = (f"<p class='meta'>Accuracy on {s['eval_images']} images of {html.escape(str(s.get('eval_data')))}."
                f"</p>") if s.get("eval_images") else ""
    sections = [("Accuracy drop vs sparsity", accuracy_plot(results)),
                ("Latency, throughput and size", performance_bars(results) + note),
                ("Per-layer weights removed (zeros or pruned channels)", "".join(layer_figs)),
                ("All models", acc_note + _table(rows(results))),
                ("Commands", f"<ul>{commands}</ul>" if commands else "")]
    return _page(results["title"], meta, sections)


def run_page(report: dict) -> str:
    """The page of one `ov-sparsity compress` run."""
    from ov_sparsity.report import summary_lines

    size = report["size"]
    layers = report["layers"]
    dense_layers = None  # report.json keeps only the compressed shapes
    fig = _figure(8, 2.4)
    ax = fig.add_subplot(111)
    labels = [".bin", size["compressed"]["codec"]]
    dense = [size["dense"]["bytes"] / 1e6, size["dense"]["compressed_bytes"] / 1e6]
    comp = [size["compressed"]["bytes"] / 1e6, size["compressed"]["compressed_bytes"] / 1e6]
    ax.barh([1.2, 0.2], dense, 0.4, label="dense", color=COLORS[0])
    ax.barh([0.8, -0.2], comp, 0.4, label="compressed", color=COLORS[1])
    for y, v, d in ((0.8, comp[0], dense[0]), (-0.2, comp[1], dense[1])):
        ax.text(v, y, f" {v:.2f} MB ({v / d:.2f}x)", va="center", fontsize=8)
    ax.set_yticks([1.0, 0.0])
    ax.set_yticklabels(labels)
    ax.set_xlabel("MB")
    ax.set_xlim(0, max(dense + comp) * 1.3)
    ax.legend(fontsize=8)
    size_png = _png(fig)
    bars = layer_bars([("sparsity", removed_per_layer(layers, dense_layers))], [layer["name"] for layer in layers],
                      f"per-layer sparsity ({100 * report['global_sparsity']:.1f}% overall)")
    layer_table = _table([{"#": str(i), "layer": row["name"], "type": row["type"],
                           "shape": "×".join(map(str, row["shape"])), "sparsity": f"{100 * row['sparsity']:.1f}%"}
                          for i, row in enumerate(layers)],
                         text=("layer", "type"))
    algos = _table([{"algorithm": a["name"], "parameters": ", ".join(f"{k}={v}" for k, v in a["params"].items()
                                                                     if v not in (None, {}, []))}
                    for a in report["algorithms"]], text=("parameters",))
    summary = "<pre>" + html.escape("\n".join(summary_lines(report))) + "</pre>"
    recovery = recovery_plot(report["algorithm_reports"].get("Recovery"))
    versions = report['versions']
    meta = f"seed {report['seed']} · OpenVINO {versions.get('openvino')} · NNCF {versions.get('nncf')}"
    stages = stage_table(report.get("stages"))
    return _page(f"ov-sparsity: {report['model']['input']}", meta,
                 [("Summary", summary), *([("What each stage bought", stages)] if stages else []), ("Size", size_png),
                  (f"Per-layer sparsity ({100 * report['global_sparsity']:.1f}% overall)", bars), ("Algorithms", algos),
                  *([("Recovery beyond the layer: held-out loss", recovery)] if recovery else []),
                  ("Layers", layer_table)])


def stage_table(stages: dict | None) -> str:
    """Latency, speed-up and agreement of the model after each stage of a combined recipe."""
    if not stages:
        return ""
    rows = []
    for r in stages["stages"]:
        row = {"stage": r["stage"], "median ms": f"{r['median_ms']:.2f}",
               "p10–p90 ms": f"{r['p10_ms']:.2f}–{r['p90_ms']:.2f}",
               "vs dense FP32": f"×{r['speedup_vs_dense_fp32']:.2f}"}
        if "speedup_vs_dense_int8" in r:
            row["vs dense INT8"] = f"×{r['speedup_vs_dense_int8']:.2f}"
        synthetic = stages.get("synthetic")  # a classifier's top class on fractals is unstable: the loss says more
        shown = "agreement_calibration" in r and not synthetic
        row["agreement"] = f"{r['agreement_calibration']:.1f}%" if shown else ""
        row["output loss"] = f"{r['output_loss']:.4f}" if "output_loss" in r else ""
        if r.get("top1_eval") is not None:
            row["top-1 (eval data)"] = f"{r['top1_eval']:.2f}"
        rows.append(row)
    return _table(rows, text=("stage",)) + (f"<p>Batch {stages['latency_batch']}, all models timed interleaved. "
                                            f"Agreement and output loss ({html.escape(stages['output_loss'])}) on "
                                            f"{stages['calibration_samples']} calibration inputs, "
                                            + ("held out from every algorithm.</p>" if stages.get("held_out") else
                                               "which the algorithms saw: an upper bound of held-out agreement.</p>"))


def recovery_plot(rec: dict | None) -> str:
    """The held-out calibration loss at every check of the recovery, one line per learning rate tried."""
    if not rec or not rec.get("history"):
        return ""
    fig = _figure(8, 2.6)
    ax = fig.add_subplot(111)
    by_lr: dict = {}
    for h in rec["history"]:
        by_lr.setdefault((h["phase"], h["lr"]), []).append(h)
    for i, ((phase, lr), hs) in enumerate(by_lr.items()):
        ax.plot([h["step"] for h in hs], [h["held_out_loss"] for h in hs], marker="o", ms=3,
                color=COLORS[i % len(COLORS)], label=f"{phase}, lr {lr:.2g}")
    ax.axhline(rec["held_out_loss_start"], color="#7f8c8d", ls="--", lw=1, label="per-layer result")
    ax.set_xlabel("step")
    ax.set_ylabel("held-out loss")
    ax.legend(fontsize=8)
    kept = "kept" if rec.get("applied") else \
        f"not kept (less than the {100 * rec.get('min_gain', 0):.0f}% gain required)"
    return _png(fig) + f"<p>{rec['held_out']} held-out samples; best weights {kept}.</p>"
