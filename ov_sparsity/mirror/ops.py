"""OpenVINO ops in torch, one function each: fn(node, args, attrs) -> a tensor or a list of tensors.

Shape and data-movement ops live in ops_shape.py (imported at the end, so HANDLERS holds them too).
The semantics are OpenVINO's (numpy broadcasting, explicit/asymmetric pads, the opset's own
argument layout), checked op by op against the CPU plugin in tests/test_mirror.py. Shape
subgraphs (ShapeOf, Gather on shapes, Concat of dims) run on int64 tensors like any other op.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DTYPES = {"f32": torch.float32, "f16": torch.float32, "bf16": torch.float32, "f64": torch.float64,
          "i64": torch.int64, "i32": torch.int32, "i16": torch.int16, "i8": torch.int8, "u8": torch.uint8,
          "boolean": torch.bool, "u1": torch.bool}
HANDLERS: dict = {}


def op(*names):
    def wrap(fn):
        for name in names:
            HANDLERS[name] = fn
        return fn
    return wrap


def ints(t) -> list:
    return [int(v) for v in torch.as_tensor(t).reshape(-1).tolist()]


def axes_of(t, rank: int) -> list:
    return [a % rank if rank else 0 for a in ints(t)]


# ---- elementwise -------------------------------------------------------------------------------
def _promote(a, b):
    if a.dtype == b.dtype:
        return a, b
    if a.is_floating_point() or b.is_floating_point():
        dtype = a.dtype if a.is_floating_point() else b.dtype
        return a.to(dtype), b.to(dtype)
    return a, b.to(a.dtype)


def _binary(fn):
    def run(node, args, attrs):
        return fn(*_promote(args[0], args[1]), attrs)
    return run


def _divide(a, b, attrs):
    if a.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="floor" if attrs.get("m_pythondiv", True) else "trunc")


BINARY = {
    "Add": lambda a, b, _: a + b, "Subtract": lambda a, b, _: a - b, "Multiply": lambda a, b, _: a * b,
    "Divide": _divide, "Maximum": lambda a, b, _: torch.maximum(a, b), "Minimum": lambda a, b, _: torch.minimum(a, b),
    "Power": lambda a, b, _: torch.pow(a, b), "SquaredDifference": lambda a, b, _: (a - b) ** 2,
    "FloorMod": lambda a, b, _: torch.remainder(a, b), "Mod": lambda a, b, _: torch.fmod(a, b),
    "Equal": lambda a, b, _: a == b, "NotEqual": lambda a, b, _: a != b, "Less": lambda a, b, _: a < b,
    "LessEqual": lambda a, b, _: a <= b, "Greater": lambda a, b, _: a > b, "GreaterEqual": lambda a, b, _: a >= b,
    "LogicalAnd": lambda a, b, _: a.bool() & b.bool(), "LogicalOr": lambda a, b, _: a.bool() | b.bool(),
    "LogicalXor": lambda a, b, _: a.bool() ^ b.bool(), "BitwiseAnd": lambda a, b, _: a & b,
    "BitwiseOr": lambda a, b, _: a | b, "BitwiseXor": lambda a, b, _: a ^ b,
}
for _name, _fn in BINARY.items():
    HANDLERS[_name] = _binary(_fn)

UNARY = {
    "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp, "Log": torch.log,
    "Sqrt": torch.sqrt, "Abs": torch.abs, "Negative": torch.neg, "Floor": torch.floor, "Ceiling": torch.ceil,
    "Sign": torch.sign, "Erf": torch.erf, "Sin": torch.sin, "Cos": torch.cos,
    "HSwish": F.hardswish, "HSigmoid": F.hardsigmoid, "Mish": F.mish, "SoftPlus": F.softplus,
    "LogicalNot": lambda x: ~x.bool(), "BitwiseNot": lambda x: ~x,
}
for _name, _fn in UNARY.items():
    HANDLERS[_name] = (lambda f: lambda node, args, attrs: f(args[0]))(_fn)


@op("Clamp")
def clamp(node, args, attrs):
    return torch.clamp(args[0], attrs["min"], attrs["max"])


@op("Gelu")
def gelu(node, args, attrs):
    mode = str(attrs.get("approximation_mode", "ERF")).lower()
    return F.gelu(args[0], approximate="tanh" if mode == "tanh" else "none")


@op("Swish")
def swish(node, args, attrs):
    beta = args[1] if len(args) > 1 else 1.0
    return args[0] * torch.sigmoid(beta * args[0])


@op("Elu")
def elu(node, args, attrs):
    return F.elu(args[0], alpha=attrs["alpha"])


@op("PRelu")
def prelu(node, args, attrs):
    x, slope = args
    if slope.dim() == 1 and x.dim() > 1 and slope.numel() == x.shape[1]:
        slope = slope.reshape([1, -1] + [1] * (x.dim() - 2))
    return torch.where(x >= 0, x, x * slope)


@op("Softmax", "LogSoftmax")
def softmax(node, args, attrs):
    fn = torch.softmax if node.get_type_name() == "Softmax" else torch.log_softmax
    return fn(args[0], dim=int(attrs.get("axis", 1)))


@op("Select")
def select(node, args, attrs):
    cond, a, b = args
    a, b = _promote(a, b)
    return torch.where(cond.bool(), a, b)


@op("Convert")
def convert(node, args, attrs):
    dst = str(attrs["destination_type"])
    if dst not in DTYPES:
        raise NotImplementedError(f"Convert to {dst}")
    x = args[0]
    if dst in ("f16", "bf16") and x.is_floating_point():  # the rounding, kept in float32
        return x.to(torch.float16 if dst == "f16" else torch.bfloat16).float()
    if not DTYPES[dst].is_floating_point and x.is_floating_point() and dst != "boolean":
        x = torch.round(x)  # OpenVINO rounds to nearest on float -> int
    return x.to(DTYPES[dst])


# ---- normalisation and reductions --------------------------------------------------------------
@op("MVN")
def mvn(node, args, attrs):
    x = args[0]
    axes = axes_of(args[1], x.dim()) if len(args) > 1 else list(range(2 if attrs.get("across_channels") is False
                                                                    else 1, x.dim()))
    x = x - x.mean(dim=axes, keepdim=True)
    if not attrs.get("normalize_variance", True):
        return x
    var = (x * x).mean(dim=axes, keepdim=True)
    eps = float(attrs["eps"])
    if str(attrs.get("eps_mode", "INSIDE_SQRT")).upper() == "OUTSIDE_SQRT":
        return x / (torch.sqrt(var) + eps)
    return x / torch.sqrt(var + eps)


def _reduce(fn):
    def run(node, args, attrs):
        x = args[0]
        axes = axes_of(args[1], x.dim())
        keep = bool(attrs.get("keep_dims", False))
        if not axes:
            return x
        return fn(x, axes, keep)
    return run


def _each_axis(f):
    def run(x, axes, keep):
        for a in sorted(axes, reverse=True):
            x = f(x, a, True)
        return x if keep else x.squeeze(tuple(axes)) if axes else x
    return run


REDUCE = {
    "ReduceMean": lambda x, a, k: x.mean(dim=a, keepdim=k) if x.is_floating_point() else
    torch.div(x.sum(dim=a, keepdim=k), math.prod(x.shape[i] for i in a), rounding_mode="trunc"),
    "ReduceSum": lambda x, a, k: x.sum(dim=a, keepdim=k),
    "ReduceMax": _each_axis(lambda x, a, k: x.amax(dim=a, keepdim=k)),
    "ReduceMin": _each_axis(lambda x, a, k: x.amin(dim=a, keepdim=k)),
    "ReduceProd": _each_axis(lambda x, a, k: x.prod(dim=a, keepdim=k)),
    "ReduceL2": lambda x, a, k: torch.sqrt((x * x).sum(dim=a, keepdim=k)),
    "ReduceL1": lambda x, a, k: x.abs().sum(dim=a, keepdim=k),
}
for _name, _fn in REDUCE.items():
    HANDLERS[_name] = _reduce(_fn)


# ---- convolution, matmul, pooling --------------------------------------------------------------
def _pads(node, attrs, x, kernel, strides, dilations):
    """(begin, end) pads per spatial axis, auto_pad resolved as OpenVINO does."""
    mode = str(attrs.get("auto_pad", "explicit")).lower()
    spatial = list(x.shape[2:])
    if mode == "valid":
        return [0] * len(spatial), [0] * len(spatial)
    if mode in ("same_upper", "same_lower"):
        begin, end = [], []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if mode == "same_upper" else big)
            end.append(big if mode == "same_upper" else small)
        return begin, end
    return list(attrs["pads_begin"]), list(attrs["pads_end"])


def _pad_spatial(x, begin, end, value=0.0):
    if not any(begin) and not any(end):
        return x
    pad = []
    for b, e in zip(reversed(begin), reversed(end)):
        pad += [b, e]
    return F.pad(x, pad, value=value)


CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def convolution(x, w, attrs, groups: int = 1, node=None):
    strides, dilations = list(attrs["strides"]), list(attrs["dilations"])
    begin, end = _pads(node, attrs, x, list(w.shape[2:]), strides, dilations)
    return CONV[x.dim() - 2](_pad_spatial(x, begin, end), w, None, strides, 0, dilations, groups)


@op("Convolution")
def conv(node, args, attrs):
    return convolution(args[0], args[1], attrs, 1, node)


@op("GroupConvolution")
def group_conv(node, args, attrs):
    w = args[1]
    groups = w.shape[0]
    return convolution(args[0], w.reshape((groups * w.shape[1],) + tuple(w.shape[2:])), attrs, groups, node)


@op("MatMul")
def matmul(node, args, attrs):
    a, b = args
    if attrs.get("transpose_a") and a.dim() > 1:
        a = a.transpose(-1, -2)
    if attrs.get("transpose_b") and b.dim() > 1:
        b = b.transpose(-1, -2)
    return torch.matmul(*_promote(a, b))


def _pool_geometry(x, attrs):
    kernel, strides = list(attrs["kernel"]), list(attrs["strides"])
    dilations = list(attrs.get("dilations", [1] * len(kernel)))
    begin, end = _pads(None, attrs, x, kernel, strides, dilations)
    if str(attrs.get("rounding_type", "floor")).lower() == "ceil":  # extra end pad up to the ceil size
        end = list(end)
        for i, (size, k, s, d) in enumerate(zip(x.shape[2:], kernel, strides, dilations)):
            span = size + begin[i] + end[i] - (k - 1) * d - 1
            out = math.ceil(span / s) + 1
            if (out - 1) * s >= size + begin[i]:  # the last window must start inside the input or begin pad
                out -= 1
            end[i] += max((out - 1) * s + (k - 1) * d + 1 - (size + begin[i] + end[i]), 0)
    return kernel, strides, dilations, begin, end


POOL = {1: (F.max_pool1d, F.avg_pool1d), 2: (F.max_pool2d, F.avg_pool2d), 3: (F.max_pool3d, F.avg_pool3d)}


@op("MaxPool")
def max_pool(node, args, attrs):
    x = args[0]
    kernel, strides, dilations, begin, end = _pool_geometry(x, attrs)
    padded = _pad_spatial(x, begin, end, value=-math.inf)
    out = POOL[x.dim() - 2][0](padded, kernel, strides, 0, dilations)
    if len(node.outputs()) > 1:
        if node.output(1).get_target_inputs():
            raise NotImplementedError("MaxPool indices output")
        return [out, torch.zeros(0, dtype=torch.int64)]  # indices: unread
    return out


@op("AvgPool")
def avg_pool(node, args, attrs):
    x = args[0]
    kernel, strides, _, begin, end = _pool_geometry(x, attrs)
    avg = POOL[x.dim() - 2][1]
    total = avg(_pad_spatial(x, begin, end), kernel, strides, 0, divisor_override=1)
    if attrs.get("exclude-pad", False):
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
        count = avg(_pad_spatial(ones, begin, end), kernel, strides, 0, divisor_override=1)
    else:  # the pads count, the extra of ceil rounding does not
        _, _, _, b0, e0 = _pool_geometry(x, {**attrs, "rounding_type": "floor"})
        ones = torch.ones((1, 1) + tuple(s + b + e for s, b, e in zip(x.shape[2:], b0, e0)), dtype=x.dtype)
        extra = [e - f for e, f in zip(end, e0)]
        count = avg(_pad_spatial(ones, [0] * len(extra), extra), kernel, strides, 0, divisor_override=1)
    return total / count


from ov_sparsity.mirror import ops_shape  # noqa: E402,F401  (registers its handlers)
