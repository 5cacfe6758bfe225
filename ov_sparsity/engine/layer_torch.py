"""A weighted IR op re-expressed in torch: its output from its input, and the
receptive-field patches it multiplies with its weights.

Patches are laid out like WeightedOp.to_rows: for group g, a patch vector of
fan_in = (C/G)·prod(kernel) values in (channel, kernel offset) order, so that
out[:, o] = rows[o] · patch[group(o)] (+ bias). Convolutions of any stride,
dilation and asymmetric padding; MatMul with either transpose flag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ov_sparsity.graph.weighted import WeightedOp

SUPPORTED = ("Convolution", "GroupConvolution", "MatMul")


@dataclass(frozen=True)
class LayerGeometry:
    kind: str  # "conv" | "matmul"
    groups: int = 1
    kernel: tuple = ()
    strides: tuple = ()
    dilations: tuple = ()
    pads_begin: tuple = ()
    pads_end: tuple = ()
    auto_pad: str = "explicit"
    transpose_a: bool = False
    out_channels: int = 0
    fan_in: int = 0  # per group

    @classmethod
    def from_op(cls, op: WeightedOp) -> "LayerGeometry":
        if op.type not in SUPPORTED:
            raise ValueError(f"{op.name}: {op.type} is not supported for layer-wise tuning")
        rows = op.num_out_channels
        fan_in = int(np.prod(op.weight_shape())) // rows
        if op.type == "MatMul":
            return cls("matmul", transpose_a=bool(op.node.get_attributes().get("transpose_a", False)),
                       out_channels=rows, fan_in=fan_in)
        a = op.node.get_attributes()
        shape = op.weight_shape()
        groups = shape[0] if op.type == "GroupConvolution" else 1
        rank = len(a["strides"])
        return cls("conv", groups, tuple(shape[-rank:]), tuple(a["strides"]), tuple(a["dilations"]),
                   tuple(a["pads_begin"]), tuple(a["pads_end"]), str(a["auto_pad"]).lower(), False, rows, fan_in)

    # ---- convolution helpers -----------------------------------------
    def _pads(self, spatial: tuple) -> tuple[tuple, tuple]:
        if self.auto_pad in ("explicit", "notset"):
            return self.pads_begin, self.pads_end
        if self.auto_pad == "valid":
            return (0,) * len(spatial), (0,) * len(spatial)
        begin, end = [], []
        for size, k, s, d in zip(spatial, self.kernel, self.strides, self.dilations):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            begin.append(small if self.auto_pad == "same_upper" else big)
            end.append(big if self.auto_pad == "same_upper" else small)
        return tuple(begin), tuple(end)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        begin, end = self._pads(tuple(x.shape[2:]))
        pad = []
        for b, e in zip(reversed(begin), reversed(end)):
            pad += [b, e]
        return F.pad(x, pad) if any(pad) else x

    def output(self, x: torch.Tensor, rows: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """The op's output (plus bias) for input x and weights given as rows [C_out, fan_in]."""
        if self.kind == "matmul":
            y = (x.transpose(-1, -2) if self.transpose_a else x) @ rows.T
            return y + bias if bias is not None else y
        c_in = x.shape[1]
        w = rows.reshape(self.out_channels, c_in // self.groups, *self.kernel)
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(self.kernel)]
        return conv(self._padded(x), w, bias, stride=self.strides, dilation=self.dilations, groups=self.groups)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """[N, G, fan_in, L] receptive-field patches (L output positions; 1 for MatMul rows)."""
        if self.kind == "matmul":
            x = x.transpose(-1, -2) if self.transpose_a else x
            flat = x.reshape(-1, x.shape[-1])  # every leading position is a sample
            return flat[:, None, :, None]
        if len(self.kernel) != 2:
            raise ValueError("patches: only 2-D convolutions are supported")
        cols = F.unfold(self._padded(x), self.kernel, dilation=self.dilations, stride=self.strides)
        n = x.shape[0]
        return cols.reshape(n, self.groups, self.fan_in, -1)

    def group_rows(self, rows: np.ndarray) -> np.ndarray:
        """[C_out, fan_in] -> [G, C_out/G, fan_in]."""
        return rows.reshape(self.groups, self.out_channels // self.groups, self.fan_in)
