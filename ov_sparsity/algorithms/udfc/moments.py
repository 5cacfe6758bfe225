"""Second moments of the activations a consumer reads, dense vs damaged.

With a the dense model's activation (C channels) and ã the damaged model's
(K kept channels) with a constant 1 appended, the reconstruction needs
    C = E[a ãᵀ]   (C x K+1)   and   R = E[ã ãᵀ]   (K+1 x K+1)
over all images and positions. `joint_moments` measures them on images (fractal
or noise from the data engine); `bn_moments` derives them from the BatchNorm
that precedes the activation, with channels independent and pre-activations
z ~ N(β, γ²) (the BN's output distribution), through ReLU or ReLU6.
"""

from __future__ import annotations

import math

import numpy as np
import openvino as ov
import torch
from openvino import opset15 as ops

from ov_sparsity.data.datasets import Dataset, iter_batches
from ov_sparsity.engine.infer import batch_is_dynamic, compile_model, with_dynamic_batch


def _channels_last(x: np.ndarray) -> torch.Tensor:
    """[N, C, ...] -> [N*positions, C]."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t.reshape(t.shape[0], t.shape[1], -1).permute(0, 2, 1).reshape(-1, t.shape[1]).double()


def joint_moments(dense: ov.Model, dense_out: str, damaged: ov.Model, damaged_out: str, dataset: Dataset,
                  batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """dense_out / damaged_out: friendly names of the nodes whose output 0 is the activation."""
    requests = []
    for model, name in ((dense, dense_out), (damaged, damaged_out)):
        clone = with_dynamic_batch(model)
        node = next(n for n in clone.get_ordered_ops() if n.get_friendly_name() == name)
        probe = ov.Model([ops.result(node.output(0))], clone.get_parameters(), "probe")
        requests.append(compile_model(probe).create_infer_request())
        if not batch_is_dynamic(clone):
            batch_size = 1  # a model that runs only at its own batch (graph.batch)
    cross = gram = None
    count = 0
    for images, _ in iter_batches(dataset, batch_size, progress=False):
        a = _channels_last(np.asarray(requests[0].infer({0: images})[0]))
        d = _channels_last(np.asarray(requests[1].infer({0: images})[0]))
        d = torch.cat([d, torch.ones(len(d), 1, dtype=d.dtype)], dim=1)
        c, r = a.T @ d, d.T @ d
        cross, gram = (c, r) if cross is None else (cross + c, gram + r)
        count += len(a)
    return (cross / count).numpy(), (gram / count).numpy()


def _phi(t):
    return math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)


def _Phi(t):
    return 0.5 * (1 + math.erf(t / math.sqrt(2)))


def clipped_gaussian_moments(mu: float, sigma: float, low: float = 0.0, high: float = math.inf) -> tuple:
    """E[a], E[a²] for a = clip(z, low, high), z ~ N(mu, sigma²)."""
    sigma = max(abs(sigma), 1e-12)
    a = (low - mu) / sigma
    b = (high - mu) / sigma if math.isfinite(high) else math.inf
    pa, pb = _Phi(a), (_Phi(b) if math.isfinite(b) else 1.0)
    fa, fb = _phi(a), (_phi(b) if math.isfinite(b) else 0.0)
    mid1 = mu * (pb - pa) + sigma * (fa - fb)
    upper_b = (mu + high) * fb if math.isfinite(high) else 0.0
    mid2 = (mu * mu + sigma * sigma) * (pb - pa) + sigma * ((mu + low) * fa - upper_b)
    tail = (1 - pb) if math.isfinite(high) else 0.0
    m1 = low * pa + mid1 + (high * tail if math.isfinite(high) else 0.0)
    m2 = low * low * pa + mid2 + (high * high * tail if math.isfinite(high) else 0.0)
    return m1, m2


def bn_moments(gamma: np.ndarray, beta: np.ndarray, keep: np.ndarray, high: float = math.inf):
    """(C, R) for pruning only (ã = a[keep]) under independent channels."""
    m1, m2 = np.array([clipped_gaussian_moments(b, g, 0.0, high) for g, b in zip(gamma, beta)]).T
    full = np.outer(m1, m1)
    np.fill_diagonal(full, m2)
    full = np.concatenate([np.concatenate([full, m1[:, None]], 1), np.append(m1, 1.0)[None]], 0)
    cols = np.append(keep, len(gamma))
    return full[:len(gamma)][:, cols], full[np.ix_(cols, cols)]


def activation_moments(model: ov.Model, names: list[str], dataset: Dataset, batch_size: int = 16) -> dict:
    """{name: E[ã ãᵀ]} (constant 1 appended) of several activations of one model, in one pass."""
    clone = with_dynamic_batch(model)
    by_name = {n.get_friendly_name(): n for n in clone.get_ordered_ops()}
    probe = ov.Model([ops.result(by_name[n].output(0)) for n in names], clone.get_parameters(), "probe")
    request = compile_model(probe).create_infer_request()
    batch_size = batch_size if batch_is_dynamic(clone) else 1
    sums, count = {n: None for n in names}, {n: 0 for n in names}
    for images, _ in iter_batches(dataset, batch_size, progress=False):
        outs = request.infer({0: images})
        for i, name in enumerate(names):
            a = _channels_last(np.asarray(outs[i]))
            a = torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], dim=1)
            g = a.T @ a
            sums[name] = g if sums[name] is None else sums[name] + g
            count[name] += len(a)
    return {n: (sums[n] / count[n]).numpy() for n in names}
