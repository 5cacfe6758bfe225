"""A differentiable torch mirror of an ov.Model: the IR run op by op in eager torch.

    mirror = Mirror(model)                      # UnsupportedOp if an op has no torch form
    outputs, taps = mirror(x, taps=[...])       # the model's outputs (and chosen inner tensors)
    mirror.write_back(model)                    # weights and biases into the IR's constants

The weights of every weighted op (Convolution, GroupConvolution, MatMul with a constant weight)
and their bias Adds are parameters; everything else is a constant, folded once where it does not
depend on a model input. With masks on, a weight is used as `parameter * keep` with keep fixed
at build time (True where the weight is non-zero), so zeros stay exactly zero whatever the
optimiser does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openvino as ov
import torch

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.graph.batch import ANY, PINNED, batch_mode, pinning_reshapes, static_batch
from ov_sparsity.graph.weighted import find_weighted_ops
from ov_sparsity.mirror.ops import HANDLERS

SKIPPED = {"Parameter", "Result", "Constant"}


class UnsupportedOp(OvSparsityError):
    """An op of the model that the mirror cannot run (named in the message)."""

    def __init__(self, op_type: str, name: str, why: str = ""):
        self.op_type, self.op_name = op_type, name
        super().__init__(f"cannot mirror op {op_type} '{name}' in torch{': ' + why if why else ''}")


@dataclass
class Step:
    node: ov.Node
    handler: object
    args: list  # ('v', key) a runtime value | ('c', i) a constant | ('p', i) a parameter | ('w', i) a weight
    attrs: dict
    key: str


def _tensor(node: ov.Node) -> torch.Tensor:
    data = np.array(node.get_data(), copy=True).reshape(tuple(int(d) for d in node.get_output_shape(0)))
    if data.dtype in (np.float16, np.float64) or str(node.get_element_type()) in ("<Type: 'bfloat16'>",):
        data = data.astype(np.float32)
    if data.dtype == np.uint64:
        data = data.astype(np.int64)
    return torch.from_numpy(np.array(data, order="C"))  # (ascontiguousarray would make scalars 1-D)


def _channel_rms(w: torch.Tensor, out_axes: tuple) -> torch.Tensor:
    """RMS of each output channel (over the other axes), broadcastable to w; never 0."""
    rest = tuple(a for a in range(w.dim()) if a not in out_axes)
    rms = w.pow(2).mean(dim=rest, keepdim=True).sqrt() if rest else w.abs()
    floor = w.pow(2).mean().sqrt().clamp_min(1e-12) * 1e-3
    return torch.maximum(rms, floor)


def stable_names(model: ov.Model) -> dict:
    """{node name: a name that is the same in every copy of the model}: the friendly name, with '#k'
    on its k-th repeat (node names are numbered afresh each time a model is read)."""
    seen: dict = {}
    out = {}
    for node in model.get_ordered_ops():
        name = node.get_friendly_name()
        k = seen.get(name, 0)
        seen[name] = k + 1
        out[node.get_name()] = name if k == 0 else f"{name}#{k}"
    return out


def output_key(names: dict, output: ov.Output) -> str:
    """The mirror's key of a tensor: 'stable node name:port'."""
    return f"{names[output.get_node().get_name()]}:{output.get_index()}"


class Mirror(torch.nn.Module):
    def __init__(self, model: ov.Model, masks: bool = True, trainable_bias: bool = True, relative: bool = False):
        """relative: each weight is stored divided by its output channel's RMS (each bias by its
        layer's), so an optimiser's step is a relative change of the same size in every channel
        (BatchNorm folding leaves channels of very different scales)."""
        super().__init__()
        self._names = stable_names(model)
        unsupported = [n for n in model.get_ordered_ops()
                       if n.get_type_name() not in SKIPPED and n.get_type_name() not in HANDLERS]
        if unsupported:
            n = unsupported[0]
            raise UnsupportedOp(n.get_type_name(), n.get_friendly_name())
        self.layer_names: list = []
        weights, keep, biases, scales, bias_scales = [], [], [], [], []
        weight_of, bias_of = {}, {}  # (node name, port) -> parameter index
        self._bias_layers: list = []
        for wop in find_weighted_ops(model):
            w = torch.from_numpy(wop.weight())
            weight_of[(wop.node.get_name(), wop.weight_port)] = len(weights)
            self.layer_names.append(wop.name)
            scale = _channel_rms(w, wop.out_axes) if relative else torch.ones(())
            scales.append(scale)
            weights.append(torch.nn.Parameter(w / scale))
            keep.append(w != 0 if masks else torch.ones_like(w, dtype=torch.bool))
            found = wop._bias_add() if trainable_bias else None
            if found is not None:
                add, port = found
                value = torch.from_numpy(np.array(
                    wop.bias(), dtype=np.float32).reshape(tuple(add.input(port).get_shape())))
                bias_of[(add.get_name(), port)] = len(biases)
                self._bias_layers.append(wop.name)
                bscale = value.pow(2).mean().sqrt().clamp_min(1e-6) if relative else torch.ones(())
                bias_scales.append(bscale)
                biases.append(torch.nn.Parameter(value / bscale))
        self.weights = torch.nn.ParameterList(weights)
        self.biases = torch.nn.ParameterList(biases)
        for i, (k, sc) in enumerate(zip(keep, scales)):
            self.register_buffer(f"keep{i}", k, persistent=False)
            self.register_buffer(f"scale{i}", sc, persistent=False)
        for i, sc in enumerate(bias_scales):
            self.register_buffer(f"bscale{i}", sc, persistent=False)
        self._keep_count = len(keep)

        self.inputs = [p for p in model.get_parameters()]
        self.input_keys = [self._key(p.output(0)) for p in self.inputs]
        self.input_names = [set(p.output(0).get_names()) | {p.get_friendly_name()} for p in self.inputs]
        consts: list = []
        const_of: dict = {}
        self.steps: list[Step] = []
        runtime: set = set(self.input_keys)
        # a graph that pins its batch (Reshape constants traced at batch 1) runs freed, as the engine does
        mode = batch_mode(model)
        pinning = pinning_reshapes(model) if mode != ANY else []
        if mode == PINNED:
            op = pinning[0] if pinning else model.get_parameters()[0]
            raise UnsupportedOp(op.get_type_name(), op.get_friendly_name(), "the graph pins batch "
                                f"{static_batch(model)} and cannot be freed, and the mirror trains in batches")
        freed = {op.get_name() for op in pinning}
        for node in model.get_ordered_ops():
            kind = node.get_type_name()
            if kind in ("Parameter", "Result"):
                continue
            if kind == "Constant":
                const_of[self._key(node.output(0))] = len(consts)
                consts.append(_tensor(node))
                continue
            args = []
            for inp in node.inputs():
                src = inp.get_source_output()
                key = self._key(src)
                slot = (node.get_name(), inp.get_index())
                if slot in weight_of:
                    args.append(("w", weight_of[slot]))
                elif slot in bias_of:
                    args.append(("p", bias_of[slot]))
                elif key in const_of:
                    args.append(("c", const_of[key]))
                elif key in runtime:
                    args.append(("v", key))
                else:
                    raise UnsupportedOp(kind, node.get_friendly_name(), f"input {src} was never computed")
            attrs = dict(node.get_attributes(), free_batch=True) if node.get_name() in freed else node.get_attributes()
            step = Step(node, HANDLERS[kind], args, attrs, self._names[node.get_name()])
            if all(a[0] == "c" for a in args):  # constant folding (decompression chains, shape constants)
                outs = self._run(step, [consts[a[1]] for a in args])
                for port, value in enumerate(outs):
                    const_of[self._key(node.output(port))] = len(consts)
                    consts.append(value.detach())
                continue
            self.steps.append(step)
            runtime.update(self._key(o) for o in node.outputs())
        for i, c in enumerate(consts):
            self.register_buffer(f"const{i}", c, persistent=False)
        self._consts = len(consts)
        self.output_keys = [self._key(r.input(0).get_source_output()) for r in model.get_results()]
        for key in self.output_keys:
            if key not in runtime and key not in const_of:
                raise UnsupportedOp("Result", key, "its value was never computed")
        self._const_of = const_of
        # last step that reads each runtime value: freed after it (outputs and taps are kept)
        self._last_use: dict = {}
        for i, step in enumerate(self.steps):
            for kind, ref in step.args:
                if kind == "v":
                    self._last_use[ref] = i

    def _key(self, output: ov.Output) -> str:
        return output_key(self._names, output)

    @staticmethod
    def _run(step: Step, args: list) -> list:
        try:
            out = step.handler(step.node, args, step.attrs)
        except NotImplementedError as exc:
            raise UnsupportedOp(step.node.get_type_name(), step.node.get_friendly_name(), str(exc)) from None
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def weight(self, i: int) -> torch.Tensor:
        return self.weights[i] * getattr(self, f"scale{i}") * getattr(self, f"keep{i}")

    def bias(self, i: int) -> torch.Tensor:
        return self.biases[i] * getattr(self, f"bscale{i}")

    @staticmethod
    def as_input(batch):
        """Model inputs (an array, or a dict of named arrays) as torch tensors; 4-D images channels-last
        (faster convolutions on the CPU)."""
        if isinstance(batch, dict):
            return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}
        x = torch.from_numpy(np.ascontiguousarray(batch))
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x

    def bind_inputs(self, x) -> dict:
        if isinstance(x, dict):
            env = {}
            for key, names in zip(self.input_keys, self.input_names):
                match = [v for k, v in x.items() if k in names]
                if not match:
                    raise OvSparsityError(f"the mirror needs input {sorted(names)[0]!r}; got {sorted(x)}")
                env[key] = torch.as_tensor(match[0])
            return env
        if len(self.input_keys) != 1:
            raise OvSparsityError(f"the model has {len(self.input_keys)} inputs: pass a dict of named arrays")
        return {self.input_keys[0]: torch.as_tensor(x)}

    def forward(self, x, taps: list | None = None, detach: bool = False):
        """(list of the model's outputs, {tap key: tensor}) for inputs x (one array/tensor or a dict).
        detach: the ops after a tap read it detached, so a loss at a tap trains only the ops between
        the previous taps and it (block-wise reconstruction); the taps returned keep their graphs."""
        tapped: dict = {}
        self.run_steps(self.bind_inputs(x), taps=taps or [], detach=detach, tapped=tapped)
        const = lambda k: getattr(self, f"const{self._const_of[k]}")  # noqa: E731
        outs = [tapped[k] if k in tapped else const(k) for k in self.output_keys]
        return outs, {k: tapped[k] for k in (taps or []) if k in tapped}

    def layer_step(self, i: int) -> int:
        """Index of the first step that reads weight i."""
        return next(k for k, step in enumerate(self.steps) if ("w", i) in step.args)

    def run_steps(self, env: dict, start: int = 0, keep_all: bool = False, taps: list = (),
                  detach: bool = False, tapped: dict | None = None) -> dict:
        """Run steps[start:] over env (the model inputs bound, and every value the earlier steps made):
        a new env. A value is freed after its last reader unless keep_all (for a later resume from any
        step); the outputs and `taps` are kept, and recorded in `tapped` (read detached downstream with
        `detach`)."""
        env = dict(env)
        keep = set(self.output_keys) | set(taps)
        tapped = {} if tapped is None else tapped
        weights: dict = {}  # each masked (scaled) weight built once per run
        for i in range(start, len(self.steps)):
            step = self.steps[i]
            args = []
            for kind, ref in step.args:
                if kind == "v":
                    args.append(env[ref])
                elif kind == "c":
                    args.append(getattr(self, f"const{ref}"))
                elif kind == "p":
                    args.append(self.bias(ref))
                else:
                    if ref not in weights:
                        weights[ref] = self.weight(ref)
                    args.append(weights[ref])
            for port, value in enumerate(self._run(step, args)):
                key = f"{step.key}:{port}"
                env[key] = value
                if key in keep:
                    tapped[key] = value
                    if detach:
                        env[key] = value.detach()
            if not keep_all:
                for kind, ref in step.args:
                    if kind == "v" and self._last_use.get(ref) == i and ref not in keep:
                        del env[ref]
        return env

    def outputs_of(self, env: dict) -> list:
        """The model's outputs from an env that run_steps made."""
        return [env[k] if k in env else getattr(self, f"const{self._const_of[k]}") for k in self.output_keys]

    @torch.no_grad()
    def write_back(self, model: ov.Model) -> None:
        """The (masked) weights and biases into `model`'s weighted ops, by layer name."""
        ops_ = {op.name: op for op in find_weighted_ops(model)}
        for i, name in enumerate(self.layer_names):
            ops_[name].set_weight(self.weight(i).detach().numpy())
        for i, name in enumerate(self._bias_layers):
            ops_[name].set_bias(self.bias(i).detach().numpy().reshape(-1))
        model.validate_nodes_and_infer_types()
