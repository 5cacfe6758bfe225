"""`ov-sparsity eval` and `ov-sparsity benchmark` (the parser and main: cli.py). Errors are OvSparsityError
(cli.main prints them as one line, exit 2)."""

from __future__ import annotations

import sys

from ov_sparsity import jsonio
from ov_sparsity.engine.threads import configure
from ov_sparsity.errors import OvSparsityError

BOOTSTRAP = 200  # eval --task detection: resamples of the reference mAP's 95% interval


def cmd_eval(args) -> int:
    configure(args.threads)
    from ov_sparsity.api import labelled_images
    from ov_sparsity.data.text import is_text_model
    from ov_sparsity.engine.evaluate import evaluate
    from ov_sparsity.graph import read_model
    from ov_sparsity.recommend import is_recommender

    model = read_model(args.model)
    text = is_text_model(model)
    task = args.task or ("sts" if text else "recommendation" if is_recommender(model) else "classification")
    if (task == "recommendation") != is_recommender(model):
        raise OvSparsityError("--task recommendation needs a recommender (int64 `user` and `item` inputs); this "
                              "model is not one" if task == "recommendation" else
                              "this is a recommender (user and item inputs): evaluate it with --task recommendation")
    if task == "recommendation":
        _refuse_flags(args, ("preprocess", "synsets", "tokenizer", "decoder", "annotations", "threshold", "limit"),
                      "a recommender (--task recommendation: every user is ranked)")
        return _print(args, _eval_recommendation(args, model))
    if task == "sts" and not text:
        raise OvSparsityError("--task sts needs a text model (an input_ids input); this model takes "
                              + ", ".join(str(p.get_partial_shape()) for p in model.get_parameters()))
    if task != "sts" and text:
        raise OvSparsityError("this is a text model (input_ids input): evaluate it with --task sts")
    if task == "classification" and not args.data:
        raise OvSparsityError("eval needs --data DIR (a labelled image folder)")
    if task == "detection" and not args.data:
        raise OvSparsityError("eval --task detection needs --data DIR (images; labels not needed)")
    _refuse_flags(args, ("data", "preprocess", "synsets", "limit") if task == "sts" else ("tokenizer",),
                  "a text model (--task sts)" if task == "sts" else f"an image model ({task})")
    if task != "detection":
        _refuse_flags(args, ("decoder", "annotations", "threshold"), f"--task {task} (they are for detection)")
    reference = read_model(args.reference) if args.reference else None
    if reference is not None and is_text_model(reference) != text:
        kinds = ("a text model", "an image model")
        raise OvSparsityError(f"--reference {args.reference} is {kinds[not is_text_model(reference)]}, the model "
                              f"is {kinds[not text]}: compare a model with its own dense version")
    if task == "sts":
        from ov_sparsity.data.text import model_tokenizer
        from ov_sparsity.engine.sts import evaluate_sts

        result = evaluate_sts(model, model_tokenizer(model, args.tokenizer), reference,
                              batch_size=args.batch_size, progress=not args.quiet)
    elif task == "detection":
        result = _eval_detection(args, model, reference)
    else:
        data = labelled_images(args.data, args.preprocess, model, synsets=args.synsets, limit=args.limit)
        result = evaluate(model, data, reference, batch_size=args.batch_size, progress=not args.quiet)
    return _print(args, result)


def _print(args, result: dict) -> int:
    if args.json:
        print(jsonio.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:<36}[{v[0]:.4f}, {v[1]:.4f}]" if isinstance(v, list) and len(v) == 2 else
                  f"{k:<36}{v}" if v is None else f"{k:<36}{v:.4f}" if isinstance(v, float) and abs(v) <= 1 else
                  f"{k:<36}{v:.2f}" if isinstance(v, float) else f"{k:<36}{v}")
    return 0


def _eval_recommendation(args, model) -> dict:
    """HR@10 / NDCG@10, each user's held-out item among 99 sampled negatives (seed 0). --data: the
    interactions file (default: the one the IR records, split leave-one-out as at training)."""
    from ov_sparsity.graph import read_model
    from ov_sparsity.recommend.data import read_interactions, recorded
    from ov_sparsity.recommend.metrics import evaluate_ranking

    rec = recorded(model)
    data = read_interactions(args.data or rec["ratings"], rec["users"], rec["items"])
    reference = read_model(args.reference) if args.reference else None
    return evaluate_ranking(model, data, seed=0, reference=reference)


def _eval_detection(args, model, reference) -> dict:
    from ov_sparsity.api import detection_images
    from ov_sparsity.detection.evaluate import DEFAULT_THRESHOLD, evaluate_detection, read_annotations

    data = detection_images(args.data, args.preprocess, model, synsets=args.synsets, limit=args.limit)
    annotations = read_annotations(args.annotations) if args.annotations else None
    return evaluate_detection(model, data, data.preprocessing, decoder=args.decoder, reference=reference,
                              annotations=annotations,
                              threshold=DEFAULT_THRESHOLD if args.threshold is None else args.threshold,
                              batch_size=args.batch_size, progress=not args.quiet, resamples=BOOTSTRAP)


def _refuse_flags(args, names, what: str) -> None:
    """A flag that does not apply to the model is one line, never silently ignored."""
    for name in names:
        if getattr(args, name, None) is not None:
            raise OvSparsityError(f"--{name.replace('_', '-')} does not apply to {what}")


def cmd_benchmark(args) -> int:
    configure(args.threads)
    from ov_sparsity.benchmark.output import write_results
    from ov_sparsity.benchmark.results import terminal_table
    from ov_sparsity.outputs import check_output_dir

    say = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    if args.suite:
        from ov_sparsity.benchmark.suite import load_suite, run_suite

        if args.models or args.data:
            raise OvSparsityError("--suite names its models and data itself: give no MODEL.xml or --data with it")
        if not args.output:
            raise OvSparsityError("--suite needs -o DIR for its results")
        _refuse_flags(args, ("preprocess", "synsets", "limit", "seq_len"), "a suite (the suite file sets it)")
        suite = load_suite(args.suite)
        out = check_output_dir(args.output, "benchmark", [suite.path, *suite.inputs()], suite.data_dirs())
        results = run_suite(suite, out, progress=not args.quiet, log=say, seconds=args.seconds)
    else:
        from ov_sparsity.benchmark.measure import benchmark_models
        from ov_sparsity.benchmark.results import make_results

        if not args.models:
            raise OvSparsityError("give one or more MODEL.xml (the first is the reference), or --suite FILE")
        if not args.data:
            _refuse_flags(args, ("preprocess", "synsets", "limit"), "a benchmark without --data (they shape "
                                                                     "the accuracy images)")
        out = None
        if args.output:
            out = check_output_dir(args.output, "benchmark", args.models, [args.data])
        dataset = None
        if args.task is None:
            from ov_sparsity.graph import read_model
            from ov_sparsity.recommend import is_recommender

            args.task = "recommendation" if is_recommender(read_model(args.models[0])) else "classification"
        if args.task == "recommendation":
            _refuse_flags(args, ("data", "preprocess", "synsets", "limit"), "a recommender benchmark (it ranks the "
                                                                            "held-out interactions its IR records)")
        if args.task != "detection":
            _refuse_flags(args, ("decoder",), "a classification benchmark (--task detection)")
        if args.data:
            from ov_sparsity.api import detection_images, labelled_images
            from ov_sparsity.graph import read_model

            images = detection_images if args.task == "detection" else labelled_images
            dataset = images(args.data, args.preprocess, read_model(args.models[0]), synsets=args.synsets,
                             limit=args.limit)
        elif args.task == "detection":
            raise OvSparsityError("benchmark --task detection needs --data DIR (images to find boxes in)")
        seconds = 10.0 if args.seconds is None else args.seconds
        measured = benchmark_models(args.models, dataset, seconds=seconds, progress=not args.quiet,
                                    seq_len=args.seq_len, task=args.task, decoder=args.decoder)
        results = make_results(measured, title="ov-sparsity benchmark",
                               settings={"seconds": seconds, "eval_data": args.data, "seq_len": args.seq_len,
                                         "eval_images": len(dataset) if dataset is not None else None,
                                         "preprocess": args.preprocess})
    if args.output:
        for path in write_results(results, out):
            say(f"wrote {path}")
    if args.json:
        print(jsonio.dumps(results, indent=1))
    else:
        print(terminal_table(results))
    return 0
