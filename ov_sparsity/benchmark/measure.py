"""What a user gained and lost, model by model: CPU latency and throughput
(interleaved), size on disk and after zstd/gzip, parameters and MACs (dense and
nonzero), and — given labelled images — accuracy and top-1 agreement with the
first model."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Optional

import numpy as np
import openvino as ov

from ov_sparsity.engine.threads import chosen as chosen_threads
from ov_sparsity.data.datasets import Dataset
from ov_sparsity.engine.evaluate import scores
from ov_sparsity.engine.infer import predict
from ov_sparsity.engine.latency import interleaved_latency, interleaved_throughput, sparse_weights_supported
from ov_sparsity.graph.complexity import complexity
from ov_sparsity.data.text import NOT_FOR_TEXT, check_seq_len, default_seq_len, is_text_model
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.model_io import check_single_input, read_model, with_sequence
from ov_sparsity.graph.sparse_fc import sparse_fc_layers
from ov_sparsity.graph.sparsity import global_sparsity, layer_sparsity, layer_table
from ov_sparsity.progress import bar
from ov_sparsity.report import compressed_size, versions

SPARSE_RATE = 0.5  # CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE: layers at least this sparse use sparse kernels


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        from ov_sparsity.engine.infer import core

        cpu = core().get_property("CPU", "FULL_DEVICE_NAME")
    except Exception:  # noqa: BLE001 - a name is a nicety
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": chosen_threads(), "versions": versions()}


def sparse_weights_setting() -> dict:
    """Sparse-weights decompression is tried only where the CPU has AMX (the plugin ignores it elsewhere);
    there every model's latency is measured both without it ("latency") and with it
    ("latency_sparse_kernels")."""
    supported = sparse_weights_supported()
    return {"supported": supported, "used": supported, "rate": SPARSE_RATE if supported else None,
            "note": "measured with and without it: latency / latency_sparse_kernels" if supported else
            "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE needs AMX; this CPU has none, so sparse layers run dense "
            "kernels"}


def static_facts(path: Path, model: ov.Model) -> dict:
    size = compressed_size(Path(path).with_suffix(".bin"))
    rows = layer_sparsity(model)
    return {"size": size, "complexity": complexity(model), "weight_sparsity": global_sparsity(rows),
            "layers": layer_table(rows), "sparse_fc": sparse_fc_layers(model, SPARSE_RATE)}


def accuracy(models: list[ov.Model], dataset: Dataset, progress: bool = True) -> list[dict]:
    """Top-1/top-5 where labelled, and top-1 agreement with the first model, one pass each."""
    results, first = [], None
    for i, m in enumerate(models):
        logits, labels = predict(m, dataset, desc=f"accuracy {i + 1}/{len(models)}", progress=progress)
        top = logits.argmax(1)
        first = top if first is None else first
        results.append({**scores(logits, labels), "agreement": float(100.0 * np.mean(top == first))})
    return results


def ranking(models: list[ov.Model]) -> list[dict]:
    """HR@10 / NDCG@10 of each recommender on the held-out interactions its IR records, against the first."""
    from ov_sparsity.recommend.data import read_interactions, recorded
    from ov_sparsity.recommend.metrics import evaluate_ranking

    rec = recorded(models[0])
    data = read_interactions(rec["ratings"], rec["users"], rec["items"])
    return [evaluate_ranking(m, data, seed=0, reference=models[0]) for m in models]


def detection(models: list[ov.Model], dataset: Dataset, decoder: Optional[str] = None,
              progress: bool = True) -> list[dict]:
    """Each detector's boxes against the first model's (reference mAP@0.5, box agreement), one pass each."""
    from ov_sparsity.detection.evaluate import check_detector, detect, evaluate_detection

    name = check_detector(models[0], decoder)
    refs = detect(models[0], dataset, name, progress=progress)
    return [evaluate_detection(m, dataset, None, decoder=name, reference_dets=refs, dets=refs if i == 0 else None,
                               progress=progress) for i, m in enumerate(models)]


def benchmark_models(paths: list, dataset: Optional[Dataset] = None, seconds: float = 10.0,
                     progress: bool = True, labels: Optional[list] = None, seq_len: Optional[int] = None,
                     task: str = "classification", decoder: Optional[str] = None) -> dict:
    """results.json's "models" and "machine": paths[0] is the reference. `seconds` per model,
    split between latency and throughput. Text models run sequences of `seq_len` tokens (default:
    the model's fixed length, else 128); image models take no `seq_len`. task "detection": `dataset`
    is any image folder, and each model's boxes are scored against the first model's."""
    paths = [Path(p) for p in paths]
    models = [read_model(p) for p in paths]
    text = [is_text_model(m) for m in models]
    if any(text) and not all(text):
        raise OvSparsityError("benchmark text models and image models apart: their inputs differ")
    if all(text):
        if dataset is not None:
            raise OvSparsityError(NOT_FOR_TEXT)
        lengths = [check_seq_len(m, seq_len or default_seq_len(m)) for m in models]
        models = [with_sequence(m, n) for m, n in zip(models, lengths)]
    elif seq_len is not None:
        raise OvSparsityError(f"--seq-len is for text models; {paths[0].name} takes images")
    from ov_sparsity.recommend.data import is_recommender

    pairs = [is_recommender(m) for m in models]
    if any(pairs) and not all(pairs):
        raise OvSparsityError("benchmark recommenders apart from other models: their inputs differ")
    for m, pair in zip(models, pairs):
        if not is_text_model(m) and not pair:
            check_single_input(m)
    sparse = sparse_weights_setting()
    config = {"CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE": SPARSE_RATE} if sparse["used"] else None
    entries = []
    for i, (p, m) in enumerate(zip(paths, models)):
        entries.append({"label": labels[i] if labels else p.stem if p.stem != "model" else p.parent.name,
                        "path": str(p), **static_facts(p, m)})
    if seconds > 0:
        with bar(total=round(seconds * len(models)), desc="latency + throughput", enable=progress, unit="s",
                 bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as pbar:
            half = seconds * len(models) / 2  # the interleaved loops split their time between the models
            lat = interleaved_latency(models, seconds=half, tick=pbar.update)
            thr = interleaved_throughput(models, seconds=half, tick=pbar.update)
            with_sparse = interleaved_latency(models, seconds=half, config=config) if config else None
        for i, (e, la, th) in enumerate(zip(entries, lat, thr)):
            e["latency"], e["throughput"] = la, th
            if with_sparse is not None:
                e["latency_sparse_kernels"] = with_sparse[i]
    if all(pairs) and task == "recommendation":
        for e, r in zip(entries, ranking(models)):
            e["ranking"] = r
    elif task == "recommendation":
        raise OvSparsityError("task recommendation needs recommenders (user and item inputs)")
    if dataset is not None and task == "detection":
        for e, det in zip(entries, detection(models, dataset, decoder, progress)):
            e["detection"] = det
    elif dataset is not None:
        for e, acc in zip(entries, accuracy(models, dataset, progress)):
            e["accuracy"] = acc
    return {"machine": {**machine(), "sparse_weights_decompression": sparse}, "models": entries}
