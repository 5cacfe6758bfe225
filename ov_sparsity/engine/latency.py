"""CPU latency (LATENCY hint, batch 1, synchronous) and throughput (THROUGHPUT
hint, an async queue of the plugin's optimal number of requests) of several
models, measured *interleaved*: every round runs each model for an equal slot in
turn, so a noisy neighbour slows all of them alike and their ratio stays fair."""

from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np
import openvino as ov

from ov_sparsity.engine.infer import compile_model, core
from ov_sparsity.graph.model_io import with_batch1


def sparse_weights_supported() -> bool:
    """CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE only acts on CPUs with AMX."""
    try:
        caps = core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:
        return False
    return any("AMX" in str(c).upper() for c in caps) or _cpu_flags_have("amx_tile")


def _cpu_flags_have(flag: str) -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any(flag in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


def _summary(samples: list[float]) -> dict:
    s = np.asarray(samples)
    return {"median_ms": float(np.median(s)), "mean_ms": float(s.mean()), "p10_ms": float(np.percentile(s, 10)),
            "p90_ms": float(np.percentile(s, 90)), "min_ms": float(s.min()), "runs": int(s.size)}


def _inputs(compiled: ov.CompiledModel, rng: np.random.Generator) -> dict:
    """Random floats for image inputs; for a text model's integer inputs, token ids (small ones, valid in
    any vocabulary), a full attention mask and zero token types."""
    out = {}
    for i, port in enumerate(compiled.inputs):
        shape = tuple(port.get_shape())
        if port.get_element_type().is_integral():
            names = " ".join(port.get_names())
            value = (np.ones(shape) if "mask" in names else np.zeros(shape) if "type" in names
                     else rng.integers(5, 100, size=shape))
            out[i] = value.astype(port.get_element_type().to_dtype())
        else:
            out[i] = rng.standard_normal(shape).astype(np.float32)
    return out


def interleaved_latency(models: list[ov.Model], seconds: float = 5.0, rounds: int = 10, seed: int = 0,
                        config: Optional[dict] = None, tick: Optional[Callable[[float], None]] = None,
                        batch: int = 1) -> list[dict]:
    """Synchronous latency of one batch (1 image unless `batch`) per model (median, mean, p10/p90,
    min in ms): `rounds` rounds, each running every model for seconds/rounds/len(models) in turn."""
    compiled = [compile_model(with_batch1(m, batch), hint="LATENCY", extra=config) for m in models]
    requests = [c.create_infer_request() for c in compiled]
    rng = np.random.default_rng(seed)
    inputs = [_inputs(c, rng) for c in compiled]
    for r, x in zip(requests, inputs):  # warm-up
        for _ in range(3):
            r.infer(x)
    samples: list[list[float]] = [[] for _ in models]
    slot = seconds / rounds / len(models)
    for _ in range(rounds):
        for i, (r, x) in enumerate(zip(requests, inputs)):
            end = time.perf_counter() + slot
            while True:
                t0 = time.perf_counter()
                r.infer(x)
                t1 = time.perf_counter()
                samples[i].append((t1 - t0) * 1e3)
                if t1 >= end:
                    break
            if tick:
                tick(slot)
    return [_summary(s) for s in samples]


def interleaved_throughput(models: list[ov.Model], seconds: float = 5.0, rounds: int = 5, seed: int = 0,
                           config: Optional[dict] = None,
                           tick: Optional[Callable[[float], None]] = None) -> list[dict]:
    """Images per second per model under the THROUGHPUT hint (batch 1 per request,
    the plugin's optimal number of requests in flight), interleaved like the latency."""
    compiled = [compile_model(with_batch1(m), hint="THROUGHPUT", extra=config) for m in models]
    queues, inputs = [], []
    rng = np.random.default_rng(seed)
    for c in compiled:
        n = int(c.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        queues.append(ov.AsyncInferQueue(c, n))
        inputs.append(_inputs(c, rng))
    for q, x in zip(queues, inputs):  # warm-up
        for _ in range(len(q)):
            q.start_async(x)
        q.wait_all()
    done = [0] * len(models)
    busy = [0.0] * len(models)
    slot = seconds / rounds / len(models)
    for _ in range(rounds):
        for i, (q, x) in enumerate(zip(queues, inputs)):
            t0 = time.perf_counter()
            end = t0 + slot
            n = 0
            while time.perf_counter() < end:
                q.start_async(x)  # blocks while every request is busy
                n += 1
            q.wait_all()
            busy[i] += time.perf_counter() - t0
            done[i] += n
            if tick:
                tick(slot)
    return [{"fps": d / b, "requests": len(q), "images": d} for d, b, q in zip(done, busy, queues)]
