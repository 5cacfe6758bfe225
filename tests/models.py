"""A registry of tiny seeded IR models built from openvino opset ops."""

from __future__ import annotations

import numpy as np
import openvino as ov
from openvino import opset15 as ops

MODELS = {}


def register(fn):
    MODELS[fn.__name__] = fn
    return fn


def _w(rng, *shape):
    return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def _conv(x, w, name, stride=1, pad=1, dil=1, pads_end=None):
    c = ops.convolution(x, ops.constant(w), [stride] * 2, [pad] * 2,
                        [pad if pads_end is None else pads_end] * 2, [dil] * 2)
    c.set_friendly_name(name)
    return c


def _bias(x, rng, c, name):
    add = ops.add(x, ops.constant(rng.standard_normal((1, c, 1, 1)).astype(np.float32) * 0.1))
    add.set_friendly_name(name + "/add")
    return add


def _head(x, rng, c, classes=4):
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    fc = ops.matmul(pooled, ops.constant(_w(rng, classes, c)), transpose_a=False, transpose_b=True)
    fc.set_friendly_name("fc")
    out = ops.add(fc, ops.constant(rng.standard_normal((1, classes)).astype(np.float32) * 0.1))
    return out


@register
def conv_bias_relu(seed=0, hw=8):
    rng = np.random.default_rng(seed)
    x = ops.parameter([-1, 3, hw, hw], np.float32, name="input")
    y = ops.relu(_bias(_conv(x, _w(rng, 8, 3, 3, 3), "conv1"), rng, 8, "conv1"))
    y = ops.relu(_bias(_conv(y, _w(rng, 16, 8, 3, 3), "conv2", stride=2), rng, 16, "conv2"))
    y = ops.relu(_conv(y, _w(rng, 16, 16, 1, 1), "conv3_nobias", pad=0))
    return ov.Model([_head(y, rng, 16)], [x], "conv_bias_relu")


@register
def depthwise(seed=0, hw=8):
    rng = np.random.default_rng(seed)
    x = ops.parameter([-1, 3, hw, hw], np.float32, name="input")
    y = ops.relu(_bias(_conv(x, _w(rng, 8, 3, 3, 3), "conv1"), rng, 8, "conv1"))
    dw = ops.group_convolution(y, ops.constant(_w(rng, 8, 1, 1, 3, 3)), [1, 1], [1, 1], [1, 1], [1, 1])
    dw.set_friendly_name("dw")
    y = ops.relu(_bias(dw, rng, 8, "dw"))
    y = ops.relu(_bias(_conv(y, _w(rng, 12, 8, 1, 1), "pw", pad=0), rng, 12, "pw"))
    return ov.Model([_head(y, rng, 12)], [x], "depthwise")


@register
def residual(seed=0, hw=8):
    rng = np.random.default_rng(seed)
    x = ops.parameter([-1, 3, hw, hw], np.float32, name="input")
    a = ops.relu(_bias(_conv(x, _w(rng, 8, 3, 3, 3), "stem"), rng, 8, "stem"))
    b = ops.relu(_bias(_conv(a, _w(rng, 8, 8, 3, 3), "block_conv1"), rng, 8, "block_conv1"))
    b = _bias(_conv(b, _w(rng, 8, 8, 3, 3), "block_conv2"), rng, 8, "block_conv2")
    y = ops.relu(ops.add(a, b))
    return ov.Model([_head(y, rng, 8)], [x], "residual")


@register
def matmul(seed=0, features=16):
    rng = np.random.default_rng(seed)
    x = ops.parameter([-1, features], np.float32, name="input")
    h = ops.matmul(x, ops.constant(_w(rng, 32, features)), False, True)
    h.set_friendly_name("fc1")
    h = ops.relu(ops.add(h, ops.constant(rng.standard_normal((1, 32)).astype(np.float32) * 0.1)))
    w2 = _w(rng, 10, 32).T.copy()  # [K, N], no transpose flag
    out = ops.matmul(h, ops.constant(w2), False, False)
    out.set_friendly_name("fc2")
    return ov.Model([out], [x], "matmul")


@register
def strided_asym(seed=0, hw=9):
    """Stride 2, dilation 2 and asymmetric pads."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([-1, 3, hw, hw], np.float32, name="input")
    c = ops.convolution(x, ops.constant(_w(rng, 6, 3, 3, 3)), [2, 2], [0, 1], [2, 0], [2, 2])
    c.set_friendly_name("conv_asym")
    y = ops.relu(_bias(c, rng, 6, "conv_asym"))
    return ov.Model([_head(y, rng, 6)], [x], "strided_asym")


def build(name: str, seed: int = 0, **kwargs) -> ov.Model:
    return MODELS[name](seed=seed, **kwargs)


def save(model: ov.Model, path) -> str:
    ov.save_model(model, str(path), compress_to_fp16=False)
    return str(path)


def _shuffle(x, c, hw):
    """ShuffleNetV2's channel shuffle as an exported IR holds it at batch 1: Reshape [c/2, 2, h*w] (the
    batch folded into a constant), Transpose, Reshape [2, -1, c/2, h, w], the two halves by Gather."""
    y = ops.reshape(x, ops.constant(np.array([c // 2, 2, hw * hw], np.int64)), False)
    y = ops.transpose(y, ops.constant(np.array([1, 0, 2], np.int64)))
    y = ops.reshape(y, ops.constant(np.array([2, -1, c // 2, hw, hw], np.int64)), False)
    zero = ops.constant(np.array(0, np.int64))
    halves = [ops.gather(y, ops.constant(np.array(i, np.int64)), zero) for i in (0, 1)]
    return halves


@register
def shuffle_pinned(seed=0, hw=8):
    """A static batch-1 model whose Reshape constants pin the batch (FastestDet's shuffle units)."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, 3, hw, hw], np.float32, name="input")
    y = ops.relu(_bias(_conv(x, _w(rng, 8, 3, 3, 3), "conv1"), rng, 8, "conv1"))
    keep, branch = _shuffle(y, 8, hw)
    branch = ops.relu(_bias(_conv(branch, _w(rng, 4, 4, 3, 3), "branch_conv"), rng, 4, "branch_conv"))
    y = ops.concat([keep, branch], 1)
    y = ops.relu(_bias(_conv(y, _w(rng, 8, 8, 1, 1), "conv2", pad=0), rng, 8, "conv2"))
    return ov.Model([_head(y, rng, 8)], [x], "shuffle_pinned")


@register
def mixing_pinned(seed=0, hw=8):
    """A batch-1 model whose pinned Reshapes cannot be freed: Reshape [8, h*w], Transpose, Reshape back
    to [1, 8, h, w] scrambles positions, which at any other batch would mix samples."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, 3, hw, hw], np.float32, name="input")
    y = ops.relu(_bias(_conv(x, _w(rng, 8, 3, 3, 3), "conv1"), rng, 8, "conv1"))
    y = ops.reshape(y, ops.constant(np.array([8, hw * hw], np.int64)), False)
    y = ops.transpose(y, ops.constant(np.array([1, 0], np.int64)))
    y = ops.reshape(y, ops.constant(np.array([1, 8, hw, hw], np.int64)), False)
    y = ops.relu(_bias(_conv(y, _w(rng, 8, 8, 3, 3), "conv2"), rng, 8, "conv2"))
    return ov.Model([_head(y, rng, 8)], [x], "mixing_pinned")


@register
def tiny_detector(seed=0, hw=16, classes=3):
    """A FastestDet-layout head [1, 5 + classes, hw/4, hw/4]: objectness by sigmoid, raw offsets and sizes,
    class probabilities by softmax."""
    rng = np.random.default_rng(seed)
    x = ops.parameter([1, 3, hw, hw], np.float32, name="input")
    y = ops.relu(_bias(_conv(x, _w(rng, 8, 3, 3, 3), "conv1", stride=2), rng, 8, "conv1"))
    y = ops.relu(_bias(_conv(y, _w(rng, 8, 8, 3, 3), "conv2", stride=2), rng, 8, "conv2"))
    head = _bias(_conv(y, _w(rng, 5 + classes, 8, 1, 1) * 3, "head", pad=0), rng, 5 + classes, "head")
    parts = ops.variadic_split(head, ops.constant(np.array(1, np.int64)), ops.constant(np.array([1, 4, classes])))
    out = ops.concat([ops.sigmoid(parts.output(0)), parts.output(1), ops.softmax(parts.output(2), 1)], 1)
    return ov.Model([out], [x], "tiny_detector")
