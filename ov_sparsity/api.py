"""Python API in NNCF's idiom.

    import ov_sparsity
    sparse = ov_sparsity.sparsify(model, dataset, sparsity_level=0.5)   # -> ov.Model

`compress(config, output_dir)` is the full job behind `ov-sparsity compress`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import openvino as ov

from ov_sparsity import jsonio
from ov_sparsity.algorithms import Pipeline, create_algorithm
from ov_sparsity.config.schema import RATINGS, EngineSection, RunConfig
from ov_sparsity.data import ArrayDataset, ImageFolder, NoiseDataset, Preprocessing, Subset, random_subset
from ov_sparsity.data.datasets import Dataset, as_array
from ov_sparsity.data.fractals import FractalDataset
from ov_sparsity.data.preprocess import guess_preset
from ov_sparsity.data.samples import inference_items
from ov_sparsity.data.text import NOT_FOR_TEXT, is_text_model
from ov_sparsity.engine.infer import input_hw
from ov_sparsity.engine.threads import configure as configure_threads
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.recommend.data import is_recommender
from ov_sparsity.graph.model_io import as_model, check_single_input, read_model, save_model
from ov_sparsity.outputs import atomic_output_dir, check_output_dir
from ov_sparsity.graph.weighted import require_weighted_ops
from ov_sparsity.report import build_report
from ov_sparsity.validate import RANGES, checked


def resolve_preprocessing(value: Any, model: ov.Model) -> Preprocessing:
    """The given preset/fields, else the one recorded by the zoo exporter, else guessed from the input size."""
    hw = input_hw(model)
    key = ["ov_sparsity", "preprocessing"]
    if value is not None:
        pre = Preprocessing.parse(value, input_hw=hw)
    elif model.has_rt_info(key):
        pre = Preprocessing.parse(model.get_rt_info(key).astype(str), input_hw=hw)  # a preset or JSON fields
    else:
        preset = guess_preset(hw) if hw else None
        if preset is None:
            raise OvSparsityError(f"cannot tell the preprocessing for input size {hw}: pass --preprocess "
                                  "cifar10|imagenet, the model's own steps (--input-size, --resize-mode, --mean, "
                                  "--std, --scale, --channels) or engine.preprocessing in the config")
        pre = Preprocessing.preset(preset)
    check_preprocessing(pre, model)
    return pre


def check_preprocessing(pre: Preprocessing, model: ov.Model) -> None:
    """Images from `pre` must fit the model input: 3 channels of the model's height and width."""
    ps = model.input(0).get_partial_shape()
    if ps.rank.is_dynamic or len(ps) != 4:
        raise OvSparsityError(f"images cannot feed the model input {ps}: an image model takes [N, 3, H, W]")
    if ps[1].is_static and ps[1].get_length() != 3:
        raise OvSparsityError(f"the model input {ps} takes {ps[1].get_length()} channels; images give 3 (RGB)")
    hw = input_hw(model)
    try:
        out = tuple(pre.output_hw)
    except OvSparsityError:
        out = None
    if hw is not None and out is not None and out != tuple(hw):
        raise OvSparsityError(f"preprocessing '{pre.name}' gives {out[0]}x{out[1]} images but the model input is "
                              f"{hw[0]}x{hw[1]}")


SYNTHETIC = {
    "noise": lambda n, pre, seed, progress: NoiseDataset(n, pre, seed=seed),
    "fractal": lambda n, pre, seed, progress: FractalDataset(n, pre, seed=seed, progress=progress),
}


def build_dataset(engine: EngineSection, model: ov.Model, progress: bool = True) -> Dataset:
    if is_text_model(model):
        return build_text_dataset(engine, model)
    if is_recommender(model):
        return build_pair_dataset(engine, model)
    if engine.data_source == "zipf":
        raise OvSparsityError("'zipf' is synthetic text; this model takes images (noise, fractal or a folder)")
    if engine.data_source not in SYNTHETIC and Path(engine.data_source).is_file():
        raise OvSparsityError(f"{engine.data_source} is a file; this model takes images: give a folder of images")
    pre = resolve_preprocessing(engine.preprocessing, model)
    if engine.data_source in SYNTHETIC:
        return SYNTHETIC[engine.data_source](engine.calibration_size, pre, engine.seed, progress)
    folder = ImageFolder(engine.data_source, pre, synsets=engine.synsets, annotation=engine.annotation,
                         label_offset=engine.label_offset)
    return random_subset(folder, engine.calibration_size, engine.seed)


def build_pair_dataset(engine: EngineSection, model: ov.Model) -> Dataset:
    """Calibration (user, item) pairs for a recommender: `ratings` (the training interactions of the file the
    IR records), a user's own interactions file, or `noise` (random ids, data-free)."""
    from ov_sparsity.recommend.data import calibration_pairs

    source = engine.data_source
    if source not in ("ratings", "noise") and (engine.synthetic or Path(source).is_dir()):
        raise OvSparsityError(f"a recommender calibrates on (user, item) pairs: --data ratings (the interactions "
                              f"the IR records), an interactions FILE, or noise (random ids); got {source}")
    return calibration_pairs(model, source, engine.calibration_size, engine.seed)


def build_text_dataset(engine: EngineSection, model: ov.Model) -> Dataset:
    """Calibration text for a text model: a UTF-8 file, one passage per line, tokenized with the model's
    tokenizer and packed into windows of its sequence length (128 where it is dynamic)."""
    from ov_sparsity.data.text import (SyntheticTextDataset, TextDataset, check_seq_len, check_text_model,
                                       default_seq_len, model_tokenizer, read_lines)

    names = check_text_model(model)
    how = ("a text model calibrates on text: --data FILE.txt (UTF-8, one passage per line), or data-free "
           "on 'zipf' (synthetic sentences) or 'noise' (random tokens)")
    seq_len = check_seq_len(model, engine.seq_len or default_seq_len(model))
    if engine.data_source in ("zipf", "noise"):
        return SyntheticTextDataset(engine.data_source, engine.calibration_size, model_tokenizer(model), seq_len,
                                    names, engine.seed)
    path = Path(engine.data_source)
    if engine.synthetic or path.is_dir():
        what = "fractal images do not fit a text model" if engine.synthetic else f"{path} is a folder"
        raise OvSparsityError(f"{what}; {how}")
    data = TextDataset(read_lines(path), model_tokenizer(model), seq_len, names, path.name)
    return random_subset(data, engine.calibration_size, engine.seed)


def model_preprocessing(engine: EngineSection, model: ov.Model) -> Optional[Preprocessing]:
    """The image preprocessing of an image model; None for a text model (its tokenizer does that)."""
    if is_text_model(model) or is_recommender(model):
        return None
    return resolve_preprocessing(engine.preprocessing, model)


def build_eval_dataset(engine: EngineSection, model: ov.Model) -> Optional[Dataset]:
    if not engine.eval_data_source:
        return None
    if is_text_model(model):
        raise OvSparsityError("labelled evaluation data (accuracy-aware modes) is for image models; a text model "
                              "is evaluated with `ov-sparsity eval --task sts`")
    annotated = engine.annotation is not None and engine.eval_data_source == engine.data_source
    folder = ImageFolder(engine.eval_data_source, resolve_preprocessing(engine.preprocessing, model),
                         synsets=engine.synsets, annotation=engine.annotation if annotated else None,
                         label_offset=engine.label_offset)
    check_classes(folder, model)
    return random_subset(folder, engine.eval_subset_size, engine.seed)


def labelled_images(folder, preprocessing: Any, model: ov.Model, synsets=None, limit: Optional[int] = None) -> Dataset:
    """An image folder to measure on, through the model's preprocessing; the first `limit` images.
    Its number of classes must match the model's outputs."""
    if is_text_model(model):
        raise OvSparsityError(NOT_FOR_TEXT)
    check_single_input(model)
    data = ImageFolder(folder, resolve_preprocessing(preprocessing, model), synsets=synsets)
    check_classes(data, model)
    if limit is not None:
        data = Subset(data, range(min(int(limit), len(data))))
    return data


def detection_images(folder, preprocessing: Any, model: ov.Model, synsets=None, limit: Optional[int] = None) -> Dataset:
    """Any image folder (labels not needed) through the model's preprocessing; the first `limit` images. It keeps
    `files` (annotations are matched by file name) and `preprocessing` (boxes mapped back to the source)."""
    check_single_input(model)
    pre = resolve_preprocessing(preprocessing, model)
    data = ImageFolder(folder, pre, synsets=synsets)
    if limit is not None:
        files = data.files[:int(limit)]
        data = Subset(data, range(len(files)))
        data.files, data.preprocessing = files, pre
    return data


def check_classes(data: ImageFolder, model: ov.Model) -> None:
    ps = model.output(0).get_partial_shape()
    outputs = ps[-1].get_length() if ps.rank.is_static and len(ps) and ps[-1].is_static else None
    if outputs is None:
        return
    if data.num_classes is not None and data.num_classes != outputs:
        raise OvSparsityError(f"{data.class_source} has {data.num_classes} classes but the model has {outputs} outputs")
    beyond = next(((path, label) for path, label in getattr(data, "files", []) if label >= outputs), None)
    if beyond is not None:
        raise OvSparsityError(f"{data.class_source} has label {beyond[1]} (image {beyond[0]}) but the model has "
                              f"{outputs} outputs (labels 0..{outputs - 1})")


def _check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise OvSparsityError(f"{name} must be True or False, got {value!r}")


def sparsify(model, dataset=None, sparsity_level: float = 0.5, *, criterion: Optional[str] = None,
             distribution: str = "global", weight_correction: bool = True, bias_correction: bool = True,
             quantize: bool = False, subset_size: int = 300, ignored_scope=None, preprocessing=None,
             seed: int = 0, progress: bool = True, threads: Optional[int] = None,
             **weight_sparsity_params) -> ov.Model:
    """Return a sparse (optionally INT8) copy of `model`; the input model is not modified.

    model: an openvino.Model, or the path of an IR .xml (read with its .bin).
    dataset: an nncf.Dataset of model inputs or a plain list of them (arrays with the batch axis
    first, [1, C, H, W] as NNCF's examples pass them, or single samples [C, H, W]; dicts by input
    name for several inputs), an ov_sparsity Dataset, "fractal" (synthetic FractalDB-style images)
    or "noise"/None (white noise), the synthetic ones through `preprocessing` (a preset name,
    fields, or guessed from the model's input size); for a text model (an input_ids input)
    "zipf"/None (synthetic sentences through the tokenizer the IR records) or "noise" (random tokens).
    The default recipe is second-order pruning fitted to the dense model in one pass
    (WeightSparsity method="second_order"), then recovery beyond the layer on real data
    (recovery="auto": the sparse model distilled from the dense one through the IR's torch
    mirror, kept only if a held-out tenth of the data gains 5%; recovery="none" skips it);
    method="magnitude" is the corrections-only recipe (the CLI's --fast). Further keyword arguments go to
    WeightSparsity (e.g. schedule={"initial_sparsity": 0.3, "steps": 3}, num_samples=300). threads: torch's and
    OpenVINO's thread count, set once per process (default: the CPUs this process may use: affinity, cgroup quota,
    less those busy at start).

    Bad arguments raise ov_sparsity.OvSparsityError, its message naming the argument.
    """
    configure_threads(None if threads is None else checked("threads", threads, RANGES["threads"]))
    model = as_model(model)
    subset_size = checked("subset_size", subset_size, RANGES["subset_size"])
    seed = checked("seed", seed, RANGES["seed"])
    for name, flag in (("quantize", quantize), ("progress", progress)):
        _check_flag(name, flag)
    require_weighted_ops(model)
    algos = [create_algorithm("WeightSparsity", {
        "sparsity_level": sparsity_level, "criterion": criterion, "distribution": distribution,
        "weight_correction": weight_correction, "bias_correction": bias_correction,
        "ignored_scope": ignored_scope, **weight_sparsity_params})]
    if quantize:
        algos.append(create_algorithm("DefaultQuantization", {"subset_size": subset_size,
                                                              "ignored_scope": ignored_scope}))
    pipeline = Pipeline(algos)
    pipeline.check(model)
    text, synthetic = is_text_model(model), dataset is None or isinstance(dataset, str)
    if text and preprocessing is not None:
        raise OvSparsityError("preprocessing does not apply to a text model: its tokenizer prepares the text")
    pre = resolve_preprocessing(preprocessing, model) if not text and (preprocessing is not None or synthetic) \
        else None
    if text and synthetic:
        source = dataset or "zipf"  # the better data-free text (docs/text.md), as the CLI's default
        if source not in ("zipf", "noise"):
            raise OvSparsityError(f"dataset: unknown synthetic text source {source!r} (known: zipf, noise; or "
                                  "give an nncf.Dataset of token inputs)")
        ds = build_text_dataset(EngineSection(type="data_free", data_source=source, subset_size=subset_size,
                                              seed=seed), model)
    elif synthetic:
        source = dataset or "noise"
        if source not in SYNTHETIC:
            raise OvSparsityError(f"dataset: unknown synthetic data source {source!r} (known: "
                                  f"{', '.join(SYNTHETIC)}; or give an nncf.Dataset)")
        ds = SYNTHETIC[source](subset_size, pre, seed, progress)
    elif isinstance(dataset, Dataset):
        if len(dataset) == 0:
            raise OvSparsityError("dataset is empty: give at least one calibration sample")
        ds = random_subset(dataset, subset_size, seed)
    else:
        ds = ArrayDataset.from_inputs(inference_items(dataset), subset_size, model)
    return pipeline.run(model, ds, seed=seed, progress=progress, preprocessing=pre).model


def check_engine_fits(engine: EngineSection, model: ov.Model) -> None:
    """Settings that do not apply to the model are one line, never silently ignored."""
    text, pairs = is_text_model(model), is_recommender(model)
    if text or pairs:
        what = "a text model: its tokenizer prepares the text" if text else "a recommender: it takes id pairs"
        for value, flag in ((engine.preprocessing, "--preprocess (engine.preprocessing)"),
                            (engine.synsets, "--synsets (engine.synsets)")):
            if value is not None:
                raise OvSparsityError(f"{flag} does not apply to {what}")
        if pairs and engine.seq_len is not None:
            raise OvSparsityError("--seq-len (engine.seq_len) is for text models; this is a recommender")
        return
    if engine.data_source == RATINGS:
        raise OvSparsityError("--data ratings is a recommender's training interactions; this model takes images")
    check_single_input(model)
    if engine.seq_len is not None:
        raise OvSparsityError("--seq-len (engine.seq_len) is for text models; this model takes images")


def as_run_config(config) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, dict):
        from ov_sparsity.config.loader import parse_config

        return parse_config(config, Path.cwd())
    if isinstance(config, (str, Path)):
        from ov_sparsity.config import load_config

        return load_config(config)
    raise OvSparsityError(f"config must be a RunConfig, a POT-shaped dict or the path of a config file, got "
                          f"{type(config).__name__}")


def held_out_images(engine, model: ov.Model, dataset):
    """(the images the algorithms get, those held out to check the output) for an image folder of at
    least stages.HOLDOUT_MIN images (or engine.holdout of any folder), else None."""
    from ov_sparsity.algorithms.stages import holdout_count, split_holdout

    if engine.synthetic or is_text_model(model) or is_recommender(model) or engine.data_source == RATINGS:
        if engine.holdout:
            raise OvSparsityError("engine.holdout takes calibration images from a folder; this run's data is "
                                  f"{engine.data_source}")
        return None
    n_hold = holdout_count(len(dataset), engine.holdout)
    return split_holdout(dataset, n_hold, engine.seed) if n_hold else None


def stage_probe(algorithms: list):
    """A per-stage report for combined recipes (channels, sparsity, INT8: two kinds or more), timed at
    the channel pruning's latency batch."""
    from ov_sparsity.algorithms.stages import StageProbe, staged

    if not staged([a.name for a in algorithms]):
        return None
    batch = next((a.params.latency_batch for a in algorithms if a.name == "ChannelPruning"), 1)
    return StageProbe(latency_batch=batch)


def compress(config, output_dir: str | Path, progress: bool = True,
             log=print) -> dict:
    """Run the config's algorithms; write model.xml, model.bin, report.json and report.html into output_dir
    (atomically). Returns the report. `config`: a RunConfig, a POT-shaped dict, or the path of a config file."""
    t_start = time.perf_counter()
    config = as_run_config(config)
    configure_threads(config.engine.threads)
    if config.model.model is None:
        raise OvSparsityError("no model given (config model.model or MODEL.xml on the command line)")
    if not config.compression.algorithms:
        raise OvSparsityError("no algorithms to run (config compression.algorithms, or --sparsity / --int8)")
    inputs = [config.model.model, config.model.weights or Path(config.model.model).with_suffix(".bin"),
              config.path, config.engine.synsets]
    data_dirs = [None if config.engine.synthetic else config.engine.data_source, config.engine.eval_data_source]
    output_dir = check_output_dir(output_dir, "compress", inputs, data_dirs)
    algorithms = [create_algorithm(s["name"], s["params"]) for s in config.compression.algorithms]
    timings = {}
    t0 = time.perf_counter()
    model = read_model(config.model.model, config.model.weights)
    timings["load"] = time.perf_counter() - t0
    check_engine_fits(config.engine, model)
    require_weighted_ops(model)
    pipeline = Pipeline(algorithms)
    pipeline.check(model)  # before minutes of data generation
    dataset = build_dataset(config.engine, model, progress)
    held = held_out_images(config.engine, model, dataset)
    if held is not None:
        dataset, held = held
    log(f"compressing {config.model.model} with {', '.join(a.name for a in algorithms)} "
        f"on {dataset.description}" + (f" ({len(held)} more held out to check the output)" if held is not None else ""))
    eval_dataset = build_eval_dataset(config.engine, model)
    pre = model_preprocessing(config.engine, model)
    probe = stage_probe(algorithms)
    result = pipeline.run(model, dataset, seed=config.engine.seed, target_device=config.compression.target_device,
                          progress=progress, eval_dataset=eval_dataset, preprocessing=pre, stages=probe)
    timings.update(result.timings_s)
    stage_rows, check, held_values, reference = None, None, None, None
    if held is not None:
        from ov_sparsity.algorithms.stages import held_out_check
        from ov_sparsity.engine.infer import first_output

        t0 = time.perf_counter()
        held_values = as_array(held)
        reference = first_output(model, held_values)  # the dense outputs, for the check and the stage table
        check = held_out_check(model, result.model, held_values, reference)
        timings["held-out check"] = time.perf_counter() - t0
    if probe is not None:
        t0 = time.perf_counter()
        stage_rows = probe.report(result.context, held_values, reference)
        timings["stage report"] = time.perf_counter() - t0
    with atomic_output_dir(output_dir, "compress", inputs, data_dirs) as tmp:
        t0 = time.perf_counter()
        save_model(result.model, tmp / "model.xml")
        timings["save"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        report = build_report(
            dense_xml=Path(config.model.model), out_xml=tmp / "model.xml", model=result.model,
            algorithms=algorithms, reports=result.context.reports, timings=timings, seed=config.engine.seed,
            data={"source": config.engine.data_source, "images": len(dataset), "description": dataset.description,
                  "held_out": len(held) if held is not None else 0,
                  "preprocessing": pre.to_dict() if pre is not None else {"tokenizer": "the model's"}})
        report["model"]["output"] = str(output_dir / "model.xml")
        if stage_rows is not None:
            report["stages"] = stage_rows
        if check is not None:
            report["held_out"] = check
        (tmp / "report.json").write_text(jsonio.dumps(report, indent=2) + "\n")
        from ov_sparsity.benchmark.html import run_page

        (tmp / "report.html").write_text(run_page(report))  # the same page `ov-sparsity report OUTDIR` renders
    return report
