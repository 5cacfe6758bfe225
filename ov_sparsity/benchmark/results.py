"""results.json (schema: results.schema.json beside this file), results.md, and the
terminal summary. The first model is the reference every ratio is taken against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
SCHEMA_VERSION = 1


def make_results(measured: dict, title: str, suite: Optional[str] = None, settings: Optional[dict] = None) -> dict:
    return {"schema_version": SCHEMA_VERSION, "title": title, "suite": suite, "settings": settings or {},
            "machine": measured["machine"], "models": measured["models"]}


def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def _ratio(value: Optional[float], ref: Optional[float]) -> str:
    return f"{value / ref:.2f}x" if value is not None and ref else ""


def rows(results: dict) -> list[dict]:
    """One display row per model, as strings, with ratios to the first model."""
    models = results["models"]
    ref = models[0]
    out = []
    for m in models:
        run = m.get("run") or {}
        acc, ref_acc = m.get("accuracy") or {}, ref.get("accuracy") or {}
        lat, thr = m.get("latency"), m.get("throughput")
        size, c = m["size"], m["complexity"]
        top1 = acc.get("top1")
        det = m.get("detection") or {}
        rank = m.get("ranking") or {}
        out.append({
            "model": m["label"],
            "zero weights": f"{100 * m['weight_sparsity']:.1f}%",
            "top-1": f"{top1:.2f}" if top1 is not None else "",
            "Δ top-1": f"{top1 - ref_acc['top1']:+.2f}" if top1 is not None and "top1" in ref_acc else "",
            "agreement": f"{acc['agreement']:.1f}" if "agreement" in acc else "",
            "HR@10": f"{rank['hr@10']:.4f}" if "hr@10" in rank else "",
            "Δ HR@10": f"{0.0 - rank['hr@10_drop']:+.4f}" if "hr@10_drop" in rank else "",
            "NDCG@10": f"{rank['ndcg@10']:.4f}" if "ndcg@10" in rank else "",
            "ref mAP@0.5": f"{det['reference_map50']:.3f}" if det.get("reference_map50") is not None else "",
            "box count agr.": f"{100 * det['count_agreement']:.1f}%" if "count_agreement" in det else "",
            "matched IoU": f"{det['matched_iou']:.3f}" if det.get("matched_iou") is not None else "",
            "latency ms": f"{lat['median_ms']:.3f} ({_ratio(lat['median_ms'], ref['latency']['median_ms'])})"
            if lat else "",
            "FPS": f"{thr['fps']:.0f} ({_ratio(thr['fps'], ref['throughput']['fps'])})" if thr else "",
            ".bin MB": f"{size['bytes'] / 1e6:.2f}",
            f"{size['codec']} MB": f"{size['compressed_bytes'] / 1e6:.2f} "
                                   f"({_ratio(size['compressed_bytes'], ref['size']['compressed_bytes'])})",
            "nonzero MACs": f"{c['effective_macs'] / 1e6:.1f}M "
                            f"({_ratio(c['effective_macs'], ref['complexity']['effective_macs'])})",
            "compress s": f"{run['wall_s']:.0f}" if "wall_s" in run else "",
        })
    return out


def _columns(table: list[dict]) -> list[str]:
    return [k for k in table[0] if any(r[k] for r in table)]


def markdown(results: dict) -> str:
    table = rows(results)
    cols = _columns(table)
    m = results["machine"]
    lines = [f"# {results['title']}", "",
             f"Reference: **{results['models'][0]['label']}** ({results['models'][0]['path']}). "
             f"Ratios are to the reference. CPU: {m['cpu']} ({m['cores']} cores), "
             f"OpenVINO {m['versions'].get('openvino')}.", ""]
    s = results.get("settings") or {}
    if s.get("eval_images"):
        lines += [f"Accuracy on {s['eval_images']} images of {s.get('eval_data')}.", ""]
    if s.get("seconds"):
        lines += [f"Latency: batch 1, LATENCY hint, median of interleaved synchronous runs; throughput: THROUGHPUT "
                  f"hint, async queue; {s['seconds']:g} s per model in all.", ""]
    sw = m.get("sparse_weights_decompression") or {}
    if sw:
        lines += [f"Sparse-weights decompression: {'used (rate %.2f)' % sw['rate'] if sw.get('used') else 'not used'}"
                  + (f" — {sw['note']}" if sw.get("note") else "") + ".", ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in table]
    commands = [(mm["label"], mm["run"]["command"]) for mm in results["models"] if mm.get("run")]
    if commands:
        lines += ["", "Re-run one model:", ""] + [f"- {label}: `{cmd}`" for label, cmd in commands]
    return "\n".join(lines) + "\n"


def terminal_table(results: dict) -> str:
    table = rows(results)
    cols = [c for c in _columns(table) if c != ".bin MB"]
    widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in cols}
    line = lambda vals: "  ".join(v.ljust(widths[c]) for c, v in zip(cols, vals))  # noqa: E731
    return "\n".join([line(cols), line(["-" * widths[c] for c in cols])] + [line([r[c] for c in cols]) for r in table])
