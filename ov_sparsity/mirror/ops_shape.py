"""OpenVINO's shape and data-movement ops in torch (ShapeOf, Reshape, Gather, Slice, Pad, Interpolate,
...) and ScaledDotProductAttention, registered in ops.HANDLERS like the others."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ov_sparsity.mirror.ops import DTYPES, axes_of, ints, op

@op("ShapeOf")
def shape_of(node, args, attrs):
    return torch.tensor(list(args[0].shape), dtype=DTYPES[str(attrs.get("output_type", "i64"))])


@op("Reshape")
def reshape(node, args, attrs):
    x, shape = args[0], ints(args[1])
    if attrs.get("special_zero", False):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    if attrs.get("free_batch"):  # a pattern traced at batch 1 (graph.batch): its first entry takes the batch
        shape = [-1, *shape[1:]]
    return x.reshape(shape)


@op("Squeeze")
def squeeze(node, args, attrs):
    x = args[0]
    if len(args) < 2:
        return x.squeeze()
    axes = [a for a in axes_of(args[1], x.dim()) if x.shape[a] == 1]
    return x.squeeze(tuple(axes)) if axes else x


@op("Unsqueeze")
def unsqueeze(node, args, attrs):
    x = args[0]
    rank = x.dim() + len(ints(args[1]))
    for a in sorted(a % rank for a in ints(args[1])):
        x = x.unsqueeze(a)
    return x


@op("Transpose")
def transpose(node, args, attrs):
    perm = ints(args[1])
    return args[0].permute(perm or list(reversed(range(args[0].dim()))))


@op("Concat")
def concat(node, args, attrs):
    dtype = next((a.dtype for a in args if a.is_floating_point()), args[0].dtype)
    return torch.cat([a.to(dtype) for a in args], dim=int(attrs["axis"]))


@op("Gather")
def gather(node, args, attrs):
    data, idx = args[0], args[1].long()
    axis = ints(args[2])[0] % max(data.dim(), 1)
    if int(attrs.get("batch_dims", 0)) != 0:
        raise NotImplementedError("Gather with batch_dims")
    idx = torch.where(idx < 0, idx + data.shape[axis], idx)
    out = data.index_select(axis, idx.reshape(-1))
    return out.reshape(tuple(data.shape[:axis]) + tuple(idx.shape) + tuple(data.shape[axis + 1:]))


def _slice_axis(x, axis, start, stop, step):
    size = x.shape[axis]
    if step > 0:
        sl = [slice(None)] * x.dim()
        sl[axis] = slice(max(min(start, size), -size - 1) if start is not None else None,
                         max(min(stop, size), -size - 1) if stop is not None else None, step)
        return x[tuple(sl)]
    index = list(range(size))[slice(start, stop, step)]
    return x.index_select(axis, torch.tensor(index, dtype=torch.long))


@op("Slice")
def slice_op(node, args, attrs):
    x = args[0]
    start, stop, step = ints(args[1]), ints(args[2]), ints(args[3])
    axes = axes_of(args[4], x.dim()) if len(args) > 4 else list(range(len(start)))
    for a, b, e, s in zip(axes, start, stop, step):
        x = _slice_axis(x, a, b, e, s)
    return x


@op("StridedSlice")
def strided_slice(node, args, attrs):
    x = args[0]
    begin, end = ints(args[1]), ints(args[2])
    strides = ints(args[3]) if len(args) > 3 else [1] * len(begin)
    masks = {k: list(attrs.get(k, [])) for k in ("begin_mask", "end_mask", "new_axis_mask", "shrink_axis_mask",
                                                   "ellipsis_mask")}

    def get(k, i):
        return i < len(masks[k]) and masks[k][i] == 1

    if any(masks["ellipsis_mask"]):
        raise NotImplementedError("StridedSlice with ellipsis_mask")
    axis, squeeze_axes = 0, []
    for i in range(len(begin)):
        if get("new_axis_mask", i):
            x = x.unsqueeze(axis)
            axis += 1
            continue
        if get("shrink_axis_mask", i):
            b = begin[i] % x.shape[axis]
            x = x.narrow(axis, b, 1)
            squeeze_axes.append(axis)
        else:
            x = _slice_axis(x, axis, None if get("begin_mask", i) else begin[i],
                            None if get("end_mask", i) else end[i], strides[i])
        axis += 1
    return x.squeeze(tuple(squeeze_axes)) if squeeze_axes else x


@op("Split")
def split(node, args, attrs):
    axis = ints(args[1])[0] % args[0].dim()
    return list(torch.chunk(args[0], int(attrs["num_splits"]), dim=axis))


@op("VariadicSplit")
def variadic_split(node, args, attrs):
    x = args[0]
    axis = ints(args[1])[0] % x.dim()
    lengths = ints(args[2])
    if -1 in lengths:
        lengths[lengths.index(-1)] = x.shape[axis] - sum(v for v in lengths if v != -1)
    return list(torch.split(x, lengths, dim=axis))


@op("Pad")
def pad(node, args, attrs):
    x = args[0]
    begin, end = ints(args[1]), ints(args[2])
    mode = str(attrs.get("pad_mode", "constant")).lower()
    flat = []
    for b, e in zip(reversed(begin), reversed(end)):
        flat += [b, e]
    if mode == "constant":
        value = float(args[3]) if len(args) > 3 else 0.0
        return F.pad(x, flat, value=value)
    if mode in ("edge", "reflect") and not any(begin[:2]) and not any(end[:2]):
        spatial = flat[:2 * (x.dim() - 2)]
        return F.pad(x, spatial, mode="replicate" if mode == "edge" else "reflect")
    raise NotImplementedError(f"Pad mode {mode}")


@op("Broadcast")
def broadcast(node, args, attrs):
    x, shape = args[0], ints(args[1])
    mode = str(attrs.get("mode", "numpy")).lower()
    if mode == "bidirectional":
        shape = list(torch.broadcast_shapes(tuple(x.shape), tuple(shape)))
    elif mode != "numpy":
        raise NotImplementedError(f"Broadcast mode {mode}")
    return torch.broadcast_to(x, shape)


@op("Tile")
def tile(node, args, attrs):
    x, reps = args[0], ints(args[1])
    while x.dim() < len(reps):
        x = x.unsqueeze(0)
    reps = [1] * (x.dim() - len(reps)) + reps
    return x.repeat(reps)


@op("Range")
def range_op(node, args, attrs):
    start, stop, step = (a.reshape(()).item() for a in args[:3])
    dtype = DTYPES[str(attrs.get("output_type", "i64"))] if "output_type" in attrs else args[0].dtype
    return torch.arange(start, stop, step).to(dtype)


@op("Interpolate")
def interpolate(node, args, attrs):
    x = args[0]
    if attrs.get("antialias") or any(attrs.get("pads_begin", [])) or any(attrs.get("pads_end", [])):
        raise NotImplementedError("Interpolate with antialias or pads")
    v11 = str(node.get_type_info().version_id) == "opset11"
    axes_arg = args[2] if v11 and len(args) > 2 else args[3] if not v11 and len(args) > 3 else None
    axes = axes_of(axes_arg, x.dim()) if axes_arg is not None else list(range(x.dim()))
    by_scales = str(attrs["shape_calculation_mode"]).lower() == "scales"
    values = args[1] if v11 else (args[2] if by_scales else args[1])
    values = values.reshape(-1).tolist()
    size = list(x.shape)
    scales = [1.0] * x.dim()
    for a, v in zip(axes, values):
        if by_scales:
            scales[a], size[a] = float(v), int(math.floor(x.shape[a] * float(v) + 1e-5))
        else:
            size[a], scales[a] = int(v), int(v) / x.shape[a]
    mode = str(attrs["mode"]).lower()
    ctm = str(attrs.get("coordinate_transformation_mode", "half_pixel")).lower()
    if mode == "nearest":
        return _nearest(x, size, scales, ctm, str(attrs.get("nearest_mode", "round_prefer_floor")).lower())
    if mode in ("linear", "linear_onnx", "bilinear_pytorch") and x.dim() == 4 and size[:2] == list(x.shape[:2]) \
            and ctm in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return F.interpolate(x, size=size[2:], mode="bilinear", align_corners=ctm == "align_corners")
    raise NotImplementedError(f"Interpolate mode {mode} / {ctm}")


def _nearest(x, size, scales, ctm, nearest_mode):
    for axis in range(x.dim()):
        n_in, n_out = x.shape[axis], size[axis]
        if n_in == n_out:
            continue
        out = torch.arange(n_out, dtype=torch.float64)
        s = scales[axis]
        if ctm == "asymmetric":
            src = out / s
        elif ctm == "align_corners":
            src = out * (n_in - 1) / max(n_out - 1, 1)
        elif ctm == "tf_half_pixel_for_nn":
            src = (out + 0.5) / s
        elif ctm == "pytorch_half_pixel":
            src = (out + 0.5) / s - 0.5 if n_out > 1 else torch.zeros_like(out)
        else:  # half_pixel
            src = (out + 0.5) / s - 0.5
        rounding = {"floor": torch.floor, "ceil": torch.ceil, "simple": torch.ceil,
                    "round_prefer_ceil": lambda t: torch.floor(t + 0.5),
                    "round_prefer_floor": lambda t: torch.ceil(t - 0.5)}[nearest_mode]
        if nearest_mode == "simple" and s >= 1:
            rounding = torch.floor
        index = rounding(src).long().clamp(0, n_in - 1)
        x = x.index_select(axis, index)
    return x


@op("ScaledDotProductAttention")
def sdpa(node, args, attrs):
    q, k, v = args[:3]
    mask = args[3] if len(args) > 3 else None
    scale = float(args[4].reshape(()).item()) if len(args) > 4 else None
    if mask is not None and mask.dtype != torch.bool:
        mask = mask.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=bool(attrs.get("causal", False))
                                          and mask is None, scale=scale)
