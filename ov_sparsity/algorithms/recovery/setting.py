"""The `recovery` parameter shared by the algorithms that run Recovery as their last step (WeightSparsity,
UDFC, ChannelPruning): a mode name, 'auto' (the algorithm decides), 'none', or a mapping of Recovery
parameters; and the distillation that channel removal runs (`distil`): on the calibration images where they
are real, on fractals where they are not."""

from __future__ import annotations

from typing import Any, Optional

from ov_sparsity.errors import OvSparsityError

RECOVERY_MODES = ("auto", "none", "model", "block", "block+model")
# Channel removal, 'auto': the pruned model distilled from the original. Data-free, on FRACTAL_SAMPLES generated
# fractals (UDFC 30% + 6-bit, at lr 1e-3: ResNet-56 75.28 -> 76.52, ResNet-20 47.13 -> 54.00; on 500 fractals
# ResNet-56 fell to 73.75; ResNet-56 --speedup 1.4 at fixed widths 75.67 -> 77.37); ChannelPruning with real images, on
# them (the same settings; ResNet-56 --speedup 1.4 at fixed widths, judged on 300 calibration images no step
# saw: KL 0.305 -> 0.248, agreement 88.67 -> 90.67; docs/results.md). For models of at most CHANNEL_MAX_MACS
# per image: 10 epochs on 2,000 fractals took ResNet-56 (125.5M MACs) 3 minutes on 2 cores, MobileNetV2
# (300.8M, depthwise layers slow to train) would take ~40 (a cost rule, not an accuracy one)
CHANNEL_AUTO = {"mode": "model", "epochs": 10.0, "augment": True, "patience": 1000}
# On fractals a larger step (UDFC 30%, FP32, 2,000 fractals; judged on the 1,000 real cifar10/calib images no
# step saw, agreement with dense, then 10k top-1): ResNet-56 lr 1e-3 83.8 / 76.88, 3e-3 85.6 / 77.64, 1e-2
# 82.7 / 76.81; ResNet-20 1e-3 56.2 / 54.52, 3e-3 61.4 / 57.77; the CLI's 30% + 6-bit 77.46 and 57.55
# (docs/results.md, data-free distillation). With real images 1e-3 stays (ResNet-56 --speedup widths: 3e-3
# lowered the KL but not the agreement, 89.3 vs 90.7)
CHANNEL_AUTO_SYNTHETIC = {**CHANNEL_AUTO, "lr": 3e-3}
FRACTAL_SAMPLES = 2000
CHANNEL_MAX_MACS = 200e6


def check_recovery(value: Any) -> None:
    """Refuse a bad setting now, naming it (unknown keys and bad values too), not after the pruning."""
    from ov_sparsity.algorithms.recovery.algorithm import Recovery

    if isinstance(value, str):
        if value not in RECOVERY_MODES:
            raise OvSparsityError(f"parameter 'recovery' must be one of {', '.join(RECOVERY_MODES)} or a "
                                  f"mapping of Recovery parameters, got {value!r}")
    elif isinstance(value, dict):
        Recovery(**value)
    else:
        raise OvSparsityError(f"parameter 'recovery' must be a mode name or a mapping, got {value!r}")


def recovery_step(value: Any, auto: Optional[dict], **defaults):
    """The Recovery the setting asks for, or None. `auto`: the Recovery parameters 'auto' stands for
    (None: no recovery); `defaults` fill what a mode name or a mapping leaves out."""
    from ov_sparsity.algorithms.recovery.algorithm import Recovery

    if value == "none" or (value == "auto" and auto is None):
        return None
    if value == "auto":
        return Recovery(**{**defaults, **auto})
    if isinstance(value, dict):
        return Recovery(**{**defaults, **value})
    return Recovery(**{**defaults, "mode": value})


def channel_recovery(value: Any, model, synthetic: bool = False):
    """The distillation a channel removal runs for setting `value` on `model`, or None; a mode or
    a mapping takes CHANNEL_AUTO's settings (CHANNEL_AUTO_SYNTHETIC's where it distils on fractals,
    `synthetic`) for what it leaves out."""
    from ov_sparsity.graph.complexity import complexity

    settings = CHANNEL_AUTO_SYNTHETIC if synthetic else CHANNEL_AUTO
    auto = settings if complexity(model)["macs"] <= CHANNEL_MAX_MACS else None
    return recovery_step(value, auto, **settings)


def real_images(ctx) -> bool:
    """Whether the run's calibration set is the user's data (not generated fractals or noise)."""
    return ctx.dataset is not None and len(ctx.dataset) > 0 and not getattr(ctx.dataset, "synthetic", False)


def distil(model, original, recovery, ctx, fractals: int):
    """`model` (channels removed) distilled from `original`: on the run's calibration images where they are
    real (`real_images`), else on `fractals` generated fractals through the model's preprocessing (seeded: the
    first ones are the engine's own). The report lands in ctx.reports['Recovery']."""
    from ov_sparsity.algorithms.base import Context
    from ov_sparsity.data.fractals import FractalDataset

    images = ctx.dataset if real_images(ctx) else \
        FractalDataset(fractals, ctx.preprocessing, seed=ctx.seed, progress=ctx.progress)
    rctx = Context(dense_model=original, dataset=images, seed=ctx.seed, progress=ctx.progress,
                   preprocessing=ctx.preprocessing)
    model = recovery.apply(model, rctx)
    ctx.reports["Recovery"] = rctx.reports[recovery.name]
    return model
