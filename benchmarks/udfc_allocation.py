"""Data-free channel allocation by measured losses (issue 22; docs/results.md, "Data-free UDFC"): the
structured OBS cost and least-squares rebuild on 256 fractals, per-group widths by the speed-up search's DP
over each group's output KL on 128 other fractals under a budget of `ratio` of the groups' MACs, channels
or weights, the sequential refit, optionally the distillation on 2,000 fractals, then 6-bit weights with
`ov-sparsity compress OUT_fp32.xml --udfc --prune-ratio 0 --weight-bits 6`:

    python benchmarks/udfc_allocation.py uniform|measured OUT.xml [--ratio 0.3] [--unit macs|channels|params]
        [--distil] [--dense runs/models/resnet56_cifar10.xml]

Without --distil the 6-bit model is OUT.xml; with it the distilled FP32 model is OUT_fp32.xml.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ov_sparsity.algorithms.base import Context  # noqa: E402
from ov_sparsity.algorithms.channel_pruning import eligible_groups  # noqa: E402
from ov_sparsity.algorithms.recovery import Recovery  # noqa: E402
from ov_sparsity.algorithms.structured.algorithm import (GroupPlan, apply_widths, consumer_moments,  # noqa: E402
                                                         ratio_widths, split_values)
from ov_sparsity.algorithms.structured.latency import candidate_widths  # noqa: E402
from ov_sparsity.algorithms.structured.search import choose_widths  # noqa: E402
from ov_sparsity.algorithms.structured.sensitivity import measured_costs  # noqa: E402
from ov_sparsity.algorithms.recovery.setting import CHANNEL_AUTO  # noqa: E402
from ov_sparsity.algorithms.udfc.refit import sequential_refit  # noqa: E402
from ov_sparsity.api import model_preprocessing  # noqa: E402
from ov_sparsity.config.schema import EngineSection  # noqa: E402
from ov_sparsity.data.fractals import FractalDataset  # noqa: E402
from ov_sparsity.graph.channels import residual_branch  # noqa: E402
from ov_sparsity.graph.scope import IgnoredScope  # noqa: E402


def _weights(node) -> float:
    return float(np.prod(list(node.input(1).get_partial_shape().to_shape())))


def _macs(node) -> float:
    out = node.output(0).get_partial_shape()
    return _weights(node) * out[2].get_length() * out[3].get_length()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("variant", choices=("uniform", "measured"))
    ap.add_argument("output")
    ap.add_argument("--ratio", type=float, default=0.3)
    ap.add_argument("--unit", choices=("macs", "channels", "params"), default="macs")
    ap.add_argument("--distil", action="store_true")
    ap.add_argument("--dense", default="runs/models/resnet56_cifar10.xml")
    args = ap.parse_args()
    model = ov.Core().read_model(args.dense)
    pp = model_preprocessing(EngineSection(), model)
    values, held, refit_values = split_values(FractalDataset(1000, pp, seed=0, progress=False), 256, 128, 0, 512)
    groups = eligible_groups(model, "all", IgnoredScope.parse(None))
    reference = model.clone()
    moments = consumer_moments(reference, groups, values, False)
    plans = {g.name: GroupPlan(g, moments, g.channels - int(np.ceil(0.25 * g.channels))) for g in groups}
    size = {"macs": lambda g: _macs(g.producer) + sum(_macs(n) for n, _, _ in g.consumers),
            "params": lambda g: _weights(g.producer) + sum(_weights(n) for n, _, _ in g.consumers),
            "channels": lambda g: float(g.channels)}[args.unit]
    budget = {g.name: size(g) for g in groups}
    t0 = time.time()
    if args.variant == "uniform":
        widths = ratio_widths(plans, args.ratio, 1)
    else:
        offered = {n: candidate_widths(p.channels, 1, 0.25) for n, p in plans.items()}
        for g in groups:
            if residual_branch(g) is not None:
                offered[g.name].append(0)
        costs = measured_costs(reference, plans, offered, moments, held, False, stride=2)
        savings = {n: np.asarray([(plans[n].channels - w) / plans[n].channels * budget[n] for w in offered[n]])
                   for n in plans}
        pick = choose_widths(savings, costs, args.ratio * sum(budget.values()))
        widths = {n: offered[n][pick[n]] for n in plans}
    removed = sum((plans[n].channels - widths[n]) / plans[n].channels * budget[n] for n in plans)
    print(f"widths {sorted(widths.values())}; kept {sum(widths.values())} of {sum(p.channels for p in plans.values())} "
          f"channels; {100 * removed / sum(budget.values()):.1f}% of the groups' {args.unit} removed; "
          f"{sum(w == 0 for w in widths.values())} branches dropped; search {time.time() - t0:.0f} s")
    kept = apply_widths(model, plans, widths, moments)
    sequential_refit(model, reference, refit_values, kept, None if args.distil else 6, damping=1.0, progress=False)
    if args.distil:
        ctx = Context(dense_model=reference, dataset=FractalDataset(2000, pp, seed=0, progress=False), seed=0,
                      progress=False)
        Recovery(**CHANNEL_AUTO).apply(model, ctx)
        r = ctx.reports["Recovery"]
        print(f"distillation: held-out KL {r['held_out_loss_start']} -> {r['held_out_loss_end']}, {r['seconds']} s")
        ov.save_model(model, args.output.replace(".xml", "_fp32.xml"), compress_to_fp16=False)
    else:
        ov.save_model(model, args.output, compress_to_fp16=False)


if __name__ == "__main__":
    main()
