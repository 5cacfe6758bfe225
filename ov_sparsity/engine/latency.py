"""Batch-1 CPU latency of several models, measured interleaved so that their
ratio is fair on a noisy machine."""

from __future__ import annotations

import time

import numpy as np
import openvino as ov

from ov_sparsity.engine.infer import compile_model


def static_batch1(model: ov.Model) -> ov.Model:
    clone = model.clone()
    shapes = {}
    for p in clone.get_parameters():
        ps = ov.PartialShape(p.get_partial_shape())
        ps[0] = 1
        shapes[p.output(0)] = ps
    clone.reshape(shapes)
    return clone


def interleaved_latency(models: list[ov.Model], seconds: float = 5.0, rounds: int = 10, seed: int = 0) -> list[dict]:
    """Median and p90 latency (ms) per model: `rounds` rounds, each running every model
    for seconds/rounds/len(models) in turn."""
    compiled = [compile_model(static_batch1(m), hint="LATENCY") for m in models]
    requests = [c.create_infer_request() for c in compiled]
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(tuple(c.input(0).get_shape())).astype(np.float32) for c in compiled]
    for r, x in zip(requests, inputs):  # warm-up
        for _ in range(3):
            r.infer({0: x})
    samples: list[list[float]] = [[] for _ in models]
    slot = seconds / rounds / len(models)
    for _ in range(rounds):
        for i, (r, x) in enumerate(zip(requests, inputs)):
            end = time.perf_counter() + slot
            while True:
                t0 = time.perf_counter()
                r.infer({0: x})
                t1 = time.perf_counter()
                samples[i].append((t1 - t0) * 1e3)
                if t1 >= end:
                    break
    return [{"median_ms": float(np.median(s)), "p90_ms": float(np.percentile(s, 90)), "runs": len(s)}
            for s in samples]
