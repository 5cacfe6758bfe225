"""Recovery beyond the layer: with the masks fixed, fit the sparse model to the dense one on the
calibration set, through the torch mirror of the IR (no labels).

- mode 'model' (global AdaPrune / distillation): KL between the dense and sparse outputs
  (classifiers; normalised MSE for other outputs) plus `feature_weight` x the normalised MSE at
  every block output, backpropagated through the whole network.
- mode 'block' (BRECQ-style): every block between merge points is fitted to the dense block's
  output from the input the sparse model gives it (the mirror detaches each block's input), all
  blocks in the same steps.
- 'block+model': half the epochs each, in that order.

A tenth of the calibration set (`holdout`) is held out: the held-out loss is measured
`evals_per_epoch` times an epoch, the best weights are kept, training stops after `patience`
evaluations without a gain, and the model is left as it was if the loss never fell below its
start. `time_budget_s` caps the wall time (the cosine schedule is fitted to it after a few steps;
results then depend on the machine's speed). An op the mirror cannot run leaves the model as it
is, with the op named in the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
import openvino as ov
import torch
import torch.nn.functional as F

from ov_sparsity.algorithms.base import Algorithm, Context, log, register
from ov_sparsity.algorithms.params import check_range
from ov_sparsity.algorithms.recovery.loop import TrainingRun
from ov_sparsity.algorithms.recovery.losses import is_classifier, nmse, output_loss
from ov_sparsity.algorithms.recovery.taps import block_outputs
from ov_sparsity.data import inputs as model_inputs
from ov_sparsity.data.datasets import as_array
from ov_sparsity.graph.model_io import quantized_ops
from ov_sparsity.mirror import Mirror, UnsupportedOp


MIN_SAMPLES = 10  # below this no sample is held out, and a recovery whose gain is not checked is not kept
LR_BACKOFF = 10 ** 0.5  # half a decade


@dataclass
class RecoveryParams:
    mode: Literal["model", "block", "block+model"] = "model"
    epochs: float = 2.0  # passes over the training part of the calibration set, at most
    lr: float = 1e-3  # Adam on weights relative to their channel's RMS (a relative step), cosine-decayed;
    # where the first held-out check is worse than the start, the phase restarts at lr / LR_BACKOFF
    lr_retries: int = 3
    batch_size: int = 32
    feature_weight: float = 1.0  # of the block-output MSE beside the output loss ('model')
    temperature: float = 1.0  # of the output KL (classifiers)
    holdout: float = 0.1  # the held-out share of the calibration set (early stopping, best weights)
    evals_per_epoch: int = 4
    warmup: float = 0.1  # share of the steps over which the rate ramps up linearly
    patience: int = 3  # evaluations without a held-out gain before stopping
    min_gain: float = 0.05  # keep the recovered weights only if the held-out loss fell by at least this share:
    # the best of many checkpoints on one held-out set flatters it (MobileNetV2 40%: -2.5% held-out, test
    # agreement 92.17 -> 91.04; docs/results.md)
    time_budget_s: Optional[float] = None  # wall-time cap on training (None: epochs only; deterministic)
    augment: bool = False  # image models: random flips and shifts of the training images (the dense model's
    # targets computed on the fly for each), so a few hundred images go further
    max_taps: int = 32

    def __post_init__(self):
        check_range("epochs", self.epochs, 0.0, 1000.0)
        check_range("lr", self.lr, 0.0, 1.0)
        check_range("batch_size", self.batch_size, 1, 4096, high_open=False)
        check_range("feature_weight", self.feature_weight, 0.0, 1e6)
        check_range("temperature", self.temperature, 1e-3, 100.0)
        check_range("lr_retries", self.lr_retries, 0, 20, high_open=False)
        check_range("warmup", self.warmup, 0.0, 1.0, high_open=False)
        check_range("holdout", self.holdout, 0.0, 0.9)
        check_range("min_gain", self.min_gain, 0.0, 1.0)
        check_range("evals_per_epoch", self.evals_per_epoch, 1, 1000, high_open=False)
        check_range("patience", self.patience, 1, 1000, high_open=False)
        check_range("max_taps", self.max_taps, 1, 10000, high_open=False)
        if self.time_budget_s is not None:
            check_range("time_budget_s", self.time_budget_s, 0.0, 1e7)


def held_out_count(share: float, n: int) -> int:
    """How many of n calibration samples the recovery holds out (0: too few to check its gain)."""
    return int(round(share * n)) if n >= MIN_SAMPLES else 0


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image flipped left-right with probability 1/2; the batch shifted by up to 1/8 of its size
    (reflected borders)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    sy, sx = max(1, h // 8), max(1, w // 8)
    if sy >= h or sx >= w:
        return x
    dy = int(torch.randint(0, 2 * sy + 1, (1,), generator=gen))
    dx = int(torch.randint(0, 2 * sx + 1, (1,), generator=gen))
    padded = F.pad(x, (sx, sx, sy, sy), mode="reflect")
    return padded[:, :, dy:dy + h, dx:dx + w].contiguous(memory_format=torch.channels_last)


class _Targets:
    """The dense model's outputs and block outputs on every calibration sample, computed once."""

    def __init__(self, dense: Mirror, samples, taps: list, batch: int):
        self.outputs, self.taps = [], {k: [] for k in taps}
        with torch.no_grad():
            for start in range(0, model_inputs.length(samples), batch):
                x = Mirror.as_input(model_inputs.take(samples, slice(start, start + batch)))
                outs, tapped = dense(x, taps)
                self.outputs.append(outs[0].float())
                for k in taps:
                    self.taps[k].append(tapped[k].contiguous())
        self.outputs = torch.cat(self.outputs)
        self.taps = {k: torch.cat(v) for k, v in self.taps.items()}

    def take(self, index):
        return self.outputs[index], {k: v[index] for k, v in self.taps.items()}


@register
class Recovery(Algorithm):
    name = "Recovery"
    Params = RecoveryParams

    def reads_dataset(self) -> bool:
        return True

    def apply(self, model: ov.Model, ctx: Context) -> ov.Model:
        dataset = ctx.require_dataset(self.name)
        quantized = quantized_ops(model)
        if quantized:
            why = (f"the model's weights are quantized already ({quantized} ops): recovery trains FP32 weights, "
                   "so it runs before quantization")
            log.warning("%s: %s", self.name, why)
            ctx.reports[self.name] = {"skipped": why}
            return model
        samples = as_array(dataset)
        n = model_inputs.length(samples)
        if not held_out_count(self.params.holdout, n):
            why = (f"{n} calibration samples leave none to hold out (at least {MIN_SAMPLES} with holdout > 0): "
                   f"its gain could not be checked")
            log.warning("%s: %s", self.name, why)
            ctx.reports[self.name] = {"mode": self.params.mode, "samples": int(n), "held_out": 0,
                                      "applied": False, "skipped": why}
            return model
        try:
            student = Mirror(model, relative=True)
            # the model the run started from: after channels were removed `dense_model` is the pruned one
            teacher = Mirror(ctx.original, masks=False)
        except UnsupportedOp as exc:
            log.warning("%s: %s; the model keeps the per-layer result", self.name, exc)
            ctx.reports[self.name] = {"skipped": str(exc), "unsupported_op": exc.op_type}
            return model
        # torch's own thread count: torch.set_num_threads after the pool has started leaves MKL's batched LU
        # (the second-order pass's solves) failing for the rest of the process (measured, torch 2.13)
        ctx.reports[self.name] = self._train(model, student, teacher, samples, ctx)
        return model

    def _train(self, model, student: Mirror, teacher: Mirror, samples, ctx: Context) -> dict:
        """samples: the calibration inputs as arrays (data.datasets.as_array)."""
        p = self.params
        t_start = time.perf_counter()
        n = model_inputs.length(samples)
        order = np.random.default_rng(ctx.seed).permutation(n)
        n_hold = held_out_count(p.holdout, n)
        hold, train = np.sort(order[:n_hold]), order[n_hold:]
        taps = block_outputs(ctx.original, p.max_taps)
        taps = [k for k in taps if k in set(student.output_keys) or _computed(student, k)]
        classifier = is_classifier(ctx.original)
        taps = _same_shapes(student, teacher, model_inputs.take(samples, slice(0, 1)), taps)
        held_targets = _Targets(teacher, model_inputs.take(samples, hold), taps, p.batch_size)
        augment = p.augment and not isinstance(samples, dict) and samples.ndim == 4
        gen = torch.Generator().manual_seed(int(ctx.seed) * 7919 + 17)
        t_targets = time.perf_counter() - t_start
        phases = [("block", p.epochs / 2), ("model", p.epochs / 2)] if p.mode == "block+model" else [(p.mode, p.epochs)]

        def loss_of(index, mode: str, held: bool = False) -> torch.Tensor:
            if held:
                x = Mirror.as_input(model_inputs.take(samples, hold[index]))
                out_t, taps_t = held_targets.take(torch.from_numpy(np.asarray(index)))
            else:
                x = Mirror.as_input(model_inputs.take(samples, index))
                if augment:
                    x = _augment(x, gen)
                with torch.no_grad():  # on the fly, each epoch: a no-grad pass is ~1/10 of a training step,
                    outs_t, taps_t = teacher(x, taps)  # and caching every tap cost 1 GB more (MobileNetV2)
                out_t = outs_t[0]
            outs, tapped = student(x, taps, detach=mode == "block")
            loss = output_loss(outs[0], out_t, classifier, p.temperature)
            if taps and (mode == "block" or p.feature_weight > 0):
                feats = torch.stack([nmse(tapped[k], taps_t[k]) for k in taps]).mean()
                loss = loss + (feats * len(taps) if mode == "block" else p.feature_weight * feats)
            return loss

        def held_out(mode: str) -> float:
            with torch.no_grad():
                total = sum(float(loss_of(np.arange(s, min(s + p.batch_size, n_hold)), mode, held=True))
                            * (min(s + p.batch_size, n_hold) - s) for s in range(0, n_hold, p.batch_size))
            return total / n_hold

        params = list(student.weights) + list(student.biases)
        run = TrainingRun(p, params, train, per_epoch=max(1, math.ceil(len(train) / p.batch_size)), loss_of=loss_of,
                   held_out=held_out, progress=ctx.progress, t_start=t_start,
                   rng=np.random.default_rng([ctx.seed, 1]))
        start_loss = held_out("model")
        run.best_loss = start_loss
        lrs = []
        for mode, epochs in phases:
            lr, origin, origin_loss = p.lr, run.snapshot(), held_out("model") if lrs else start_loss
            for attempt in range(p.lr_retries + 1):
                outcome = run.phase(mode, epochs, lr, origin_loss)
                if outcome != "diverged" or attempt == p.lr_retries:
                    break
                log.info("%s: held-out loss rose at lr %.3g; restarting from the phase's start at lr %.3g",
                         self.name, lr, lr / LR_BACKOFF)
                run.restore(origin)
                lr /= LR_BACKOFF
            lrs.append({"phase": mode, "lr": lr, "attempts": attempt + 1, "outcome": outcome})
        improved = run.best_state is not None and run.best_loss < (1 - p.min_gain) * start_loss
        if improved:
            run.restore(run.best_state)
            student.write_back(model)
        else:
            log.info("%s: the held-out loss fell from %.4g only to %.4g (less than %.0f%%); the model is unchanged",
                     self.name, start_loss, run.best_loss, 100 * p.min_gain)
        seconds = time.perf_counter() - t_start
        end_loss = run.best_loss if improved else start_loss
        log.info("%s (%s): held-out loss %.4g -> %.4g in %d steps, %.1f s", self.name, p.mode, start_loss,
                 end_loss, run.steps_done, seconds)
        return {"mode": p.mode, "samples": int(n), "held_out": int(n_hold), "taps": len(taps),
                "output_loss": "kl" if classifier else "nmse", "lr": lrs, "epochs": p.epochs,
                "steps": run.steps_done, "stopped_by": run.stopped, "applied": bool(improved),
                "held_out_loss_start": round(start_loss, 6), "held_out_loss_end": round(end_loss, 6),
                "held_out_loss_best": round(run.best_loss, 6), "min_gain": p.min_gain,
                "augment": augment, "history": run.history, "seconds": round(seconds, 2),
                "targets_s": round(t_targets, 2)}


def _same_shapes(student: Mirror, teacher: Mirror, sample, taps: list) -> list:
    """The taps whose tensors have the same shape in both models (channel pruning changes some)."""
    with torch.no_grad():
        _, a = student(Mirror.as_input(sample), taps)
        _, b = teacher(Mirror.as_input(sample), taps)
    return [k for k in taps if k in a and k in b and a[k].shape == b[k].shape]


def _computed(mirror: Mirror, key: str) -> bool:
    node = key.rsplit(":", 1)[0]
    return any(step.key == node for step in mirror.steps)
