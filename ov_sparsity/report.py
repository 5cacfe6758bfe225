"""report.json of a compress run, and the summary printed on the terminal."""

from __future__ import annotations

import gzip
import platform
from pathlib import Path

import openvino as ov

from ov_sparsity.engine.threads import chosen as chosen_threads
from ov_sparsity.graph.scope import IgnoredScope
from ov_sparsity.graph.sparse_fc import sparse_fc_layers
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity, layer_table


def versions() -> dict:
    import importlib.metadata as md

    import ov_sparsity

    out = {"ov_sparsity": ov_sparsity.__version__, "python": platform.python_version()}
    for pkg in ("openvino", "nncf", "numpy", "torch"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def compressed_size(path: Path) -> dict:
    """Bytes of a file, and after zstd (level 3) where zstandard is installed, else gzip -9."""
    data = Path(path).read_bytes()
    try:
        import zstandard

        return {"bytes": len(data), "compressed_bytes": len(zstandard.ZstdCompressor(level=3).compress(data)),
                "codec": "zstd-3"}
    except ImportError:
        return {"bytes": len(data), "compressed_bytes": len(gzip.compress(data, 9, mtime=0)), "codec": "gzip-9"}


def eligible_scope(algorithms: list) -> IgnoredScope:
    """The ignored scope of the sparsity algorithms that ran (their eligible layers define global sparsity)."""
    scope = IgnoredScope()
    for algo in algorithms:
        if algo.name in ("WeightSparsity", "MagnitudeSparsity"):
            scope = scope.merged(algo.params.ignored_scope)
    return scope


def build_report(*, dense_xml: Path, out_xml: Path, model: ov.Model, algorithms: list, reports: dict,
                 timings: dict, seed: int, data: dict) -> dict:
    scope = eligible_scope(algorithms)
    all_rows = layer_sparsity(model)
    rows = [r for r in all_rows if not scope.matches(r["name"], r["type"])]
    dense_bin, out_bin = Path(dense_xml).with_suffix(".bin"), Path(out_xml).with_suffix(".bin")
    return {
        "model": {"input": str(dense_xml), "output": str(out_xml)},
        "global_sparsity": global_sparsity(rows),
        "all_weighted_layers_sparsity": global_sparsity(all_rows),
        "weights": sum(r["weights"] for r in rows),
        "zero_weights": sum(r["zeros"] for r in rows),
        "layers": layer_table(rows),
        "algorithms": [{"name": a.name, "params": _jsonable(a.params_dict())} for a in algorithms],
        "algorithm_reports": _jsonable(reports),
        "size": {"dense": compressed_size(dense_bin), "compressed": compressed_size(out_bin)},
        "data": data,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "versions": versions(),
        "threads": chosen_threads(),
        "seed": seed,
        "sparse_fc": sparse_fc_layers(model),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, IgnoredScope):
        return {"names": list(value.names), "patterns": list(value.patterns), "types": list(value.types)}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def recovery_line(r: dict) -> str:
    """One line on what the recovery did (or why it did not run)."""
    if "skipped" in r:
        return f"skipped: {r['skipped']} (the per-layer result is kept)"
    lr = r["lr"][-1]["lr"] if r.get("lr") else None
    best = r.get("held_out_loss_best", r["held_out_loss_end"])
    what = (f"{r['mode']}, held-out loss {r['held_out_loss_start']:.4g} -> {best:.4g} "
            f"({r['steps']} steps, lr {lr:.2g}, {r['seconds']:.0f} s)")
    if r["applied"]:
        return what
    return what + f": less than the {100 * r.get('min_gain', 0):.0f}% gain it must show, model unchanged"


def summary_lines(report: dict) -> list[str]:
    size = report["size"]
    d, c = size["dense"], size["compressed"]
    lines = [
        f"output          {report['model']['output']}",
        f"algorithms      {' -> '.join(a['name'] for a in report['algorithms'])}",
        f"calibration     {report['data'].get('description', '')}",
        f"sparsity        {100 * report['global_sparsity']:.2f}% of {report['weights']:,} prunable weights "
        f"({len(report['layers'])} layers)",
        f".bin size       {d['bytes'] / 1e6:.2f} MB -> {c['bytes'] / 1e6:.2f} MB "
        f"({c['bytes'] / d['bytes']:.2f}x)",
        f"{c['codec']:<16}{d['compressed_bytes'] / 1e6:.2f} MB -> {c['compressed_bytes'] / 1e6:.2f} MB "
        f"({c['compressed_bytes'] / d['compressed_bytes']:.2f}x)",
    ]
    cp = report["algorithm_reports"].get("ChannelPruning", {})
    if "speedup" in cp:
        sp = cp["speedup"]
        verdict = "met" if sp["met"] else f"MISSED by {100 * (1 - sp['achieved'] / sp['target']):.1f}%"
        if sp.get("within_noise"):
            verdict += ", within this CPU's timing noise"
        if sp["met"] and not sp.get("within_5_percent", True):
            verdict += f", {100 * (sp['achieved'] / sp['target'] - 1):.0f}% over: more removed than needed"
        proxy = " proxy" if "proxy" in sp.get("timed_as", "").split(";")[-1] else ""
        lines.append(f"speed-up        x{sp['achieved']:.3f} measured for x{sp['target']:g} ({verdict}; "
                     f"{sp['precision']}{proxy}, batch {sp['latency_batch']}, channel block {sp['block_multiple']}"
                     f"{'; check the INT8 output with ov-sparsity benchmark' if proxy else ''})")
    if "channels_removed" in cp:
        dropped = cp.get("blocks_dropped") or []
        lines.append(f"channels        {cp['channels_removed']} removed from {cp['groups']} groups"
                     + (f"; {len(dropped)} residual branches dropped whole" if dropped else "")
                     + ("; widths as given (no search)" if cp.get("widths_given") else ""))
    lines += stage_lines(report.get("stages"))
    h = report.get("held_out")
    if h:
        if "agreement" in h:
            lo, hi = h["agreement_ci95"]
            what = f"agreement with dense {h['agreement']:.1f}% [{lo:.1f}, {hi:.1f}], KL {h['output_loss']:.4f}"
        else:
            what = f"{h['output_loss_kind']} {h['output_loss']:.4g}"
        lines.append(f"held out        {what} on {h['samples']} calibration images no step saw")
    fc = report.get("sparse_fc") or {}
    if fc.get("qualifying") or fc.get("near_miss"):
        lines.append(f"sparse FC       {len(fc['qualifying'])} layers fit OpenVINO's AMX sparse INT8 kernels "
                     f"(both dims multiples of 64), {len(fc['sparse_enough'])} of them ≥50% sparse; "
                     f"{len(fc['near_miss'])} miss the multiple by ≤8")
    e = report["algorithm_reports"].get("EmbeddingSparsity")
    if e:
        lines.append(f"embeddings      {100 * e['sparsity']:.2f}% of {e['weights']:,} table weights "
                     f"({len(e['tables'])} tables, by magnitude per {e['granularity']})")
    r = report["algorithm_reports"].get("Recovery")
    if r:
        lines.append(f"recovery        {recovery_line(r)}")
    q = report["algorithm_reports"].get("DefaultQuantization")
    if q:
        lines.append(f"INT8            zeros preserved: {'yes' if q['zeros_preserved'] else 'NO'}"
                     f" ({q['zeros_lost']} of {q['zeros_before']} lost)")
    th = report.get("threads") or {}
    if th:
        quota = f", quota {th['quota']:g}" if th.get("quota") is not None else ""
        busy = f", {th['busy']} busy at start" if th.get("busy") else ""
        lines.append(f"threads         {th['threads']} ({th['source']}; affinity {th['affinity']} CPUs{quota}{busy}; "
                     "the bytes follow the count: --threads N pins it)")
    t = report["timings_s"]
    lines.append(f"wall time       {t.get('total', 0):.1f} s ("
                 + ", ".join(f"{k} {v:.1f}" for k, v in t.items() if k != "total") + ")")
    return lines


def stage_lines(stages) -> list[str]:
    """One line per stage of a combined recipe: latency and speed-up, agreement with the dense model."""
    if not stages:
        return []
    rows = stages["stages"]
    int8 = any("speedup_vs_dense_int8" in r for r in rows)
    synthetic = stages.get("synthetic")  # on fractals a classifier's top class is unstable: its KL says more
    lines = [f"stages          batch {stages['latency_batch']}, interleaved; "
             + (f"output KL to dense on {stages['calibration_samples']} synthetic inputs" if synthetic else
                f"agreement with dense on {stages['calibration_samples']} calibration inputs "
                + ("(held out from every step)" if stages.get("held_out") else "(seen by the algorithms)"))]
    for r in rows:
        speed = f"x{r['speedup_vs_dense_fp32']:.2f} vs dense FP32" + (
            f", x{r['speedup_vs_dense_int8']:.2f} vs dense INT8" if int8 else "")
        if synthetic:
            acc = f", KL {r['output_loss']:.4f}" if "output_loss" in r else ""
        else:
            acc = f", agreement {r['agreement_calibration']:.1f}%" if "agreement_calibration" in r else ""
        acc += f", top-1 {r['top1_eval']:.2f}" if r.get("top1_eval") is not None else ""
        lines.append(f"  {r['stage']:<20}{r['median_ms']:8.2f} ms  {speed}{acc}")
    return lines
