"""Benchmark suites: one model × settings (POT-style algorithm lists) × levels ×
calibration sources, compressed, then measured side by side with the dense model.

    name: resnet56_cifar10
    shared: ../../../shared            # `{shared}` in paths; OV_SPARSITY_SHARED overrides
    model: {zoo: resnet56_cifar10, weights: "{shared}/models/cifar10/resnet56-4bfd9763.th"}
    preprocess: cifar10
    eval: {data: "{shared}/data/cifar10/test", limit: 2000}
    data: {real: "{shared}/data/cifar10/calib", fractal: fractal, noise: noise}
    # one folder for both: {data: DIR, split: even} calibrates on the even-numbered
    # files and {data: DIR, split: odd} evaluates on the others (symlinks, no copies)
    seconds: 6                         # latency + throughput per model
    settings:
      - label: WeightSparsity+lstsq INT8
        levels: [0.3, 0.5]             # sparsity_level (WeightSparsity/MagnitudeSparsity) or UDFC prune_ratio
        data: [real, fractal]
        algorithms: [{name: WeightSparsity, params: {use_layerwise_tuning: true}}, {name: DefaultQuantization}]

Relative paths are relative to the suite file. Every compressed model keeps its
own directory (model.xml, report.json, config.json to re-run it with
`ov-sparsity compress --config`); a suite run again skips what is already there.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ov_sparsity.algorithms import create_algorithm
from ov_sparsity.config.loader import read_config_file
from ov_sparsity.config.schema import RATINGS, SYNTHETIC_SOURCES, RunConfig, check_keys
from ov_sparsity.errors import OvSparsityError
from ov_sparsity.validate import RANGES, checked

SUITE_KEYS = {"name", "title", "shared", "model", "preprocess", "synsets", "eval", "data", "seconds", "seed",
              "settings", "task"}
TASKS = ("classification", "detection", "recommendation")  # what eval measures: top-1 | boxes | HR@10
SETTING_KEYS = {"label", "levels", "data", "algorithms", "level_param"}
LEVEL_PARAMS = {"WeightSparsity": "sparsity_level", "MagnitudeSparsity": "sparsity_level", "UDFC": "prune_ratio",
                "ChannelPruning": "prune_ratio"}


@dataclass
class Run:
    setting: str
    level: Optional[float]
    data: str
    config: dict
    slug: str


@dataclass
class Suite:
    name: str
    title: str
    path: Path
    model: dict
    preprocess: Optional[str]
    synsets: Optional[Path]
    eval_data: Optional[Path]
    eval_split: Optional[str]
    eval_limit: Optional[int]
    seconds: float
    seed: int
    task: str = "classification"
    sources: dict = field(default_factory=dict)  # label -> "fractal" | "noise" | (folder, split or None)
    runs: list = field(default_factory=list)

    def inputs(self) -> list:
        return [p for p in (self.model.get("ir"), self.model.get("weights"), self.synsets) if p is not None]

    def data_dirs(self) -> list:
        return [self.eval_data] + [src[0] for src in self.sources.values() if not isinstance(src, str)]


def _keys(where: str, data: Any, known: set) -> dict:
    if data is None:
        raise OvSparsityError(f"suite: '{where}' is empty")
    return check_keys(where, data, known, kind="suite")


def _shared_dir(raw: dict, base: Path) -> Path:
    env = os.environ.get("OV_SPARSITY_SHARED")
    return Path(env) if env else (base / raw.get("shared", "../shared")).resolve()


def _path(value: str, base: Path, shared: Path, what: str) -> Path:
    path = Path(str(value).replace("{shared}", str(shared)))
    path = path if path.is_absolute() else (base / path)
    if not path.exists():
        hint = f" (is {shared} there? set OV_SPARSITY_SHARED)" if "{shared}" in str(value) else ""
        raise OvSparsityError(f"suite: {what} not found: {path}{hint}")
    return path.resolve()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    if not path.is_file():
        raise OvSparsityError(f"suite file not found: {path}")
    raw = _keys("the suite", read_config_file(path), SUITE_KEYS)
    base = path.resolve().parent
    shared = _shared_dir(raw, base)
    for key in ("name", "model", "settings"):
        if key not in raw:
            raise OvSparsityError(f"suite: '{key}' is missing")
    model = dict(_keys("model", raw["model"], {"zoo", "weights", "ir"}))
    if ("ir" in model) == ("zoo" in model):
        raise OvSparsityError("suite: model needs either 'ir: MODEL.xml' or 'zoo: NAME' (with 'weights')")
    if "ir" in model:
        model["ir"] = _path(model["ir"], base, shared, "model")
    elif model.get("weights"):
        model["weights"] = _path(model["weights"], base, shared, "weights")
    ev = _keys("eval", raw.get("eval") or {}, {"data", "limit", "split"})
    data = raw.get("data") or {"noise": "noise"}
    if not isinstance(data, dict):
        raise OvSparsityError("suite: 'data' must map labels to image folders or fractal | noise")
    sources = {}
    for label, src in data.items():
        if src in SYNTHETIC_SOURCES + (RATINGS,):
            sources[label] = src
        else:
            spec = _keys(f"data '{label}'", src, {"data", "split"}) if isinstance(src, dict) else {"data": src}
            sources[label] = (_path(spec.get("data", ""), base, shared, f"data '{label}'"), _split(spec, label))
    suite = Suite(name=str(raw["name"]), title=str(raw.get("title", raw["name"])), path=path.resolve(), model=model,
                  preprocess=raw.get("preprocess"),
                  synsets=_path(raw["synsets"], base, shared, "synsets") if raw.get("synsets") else None,
                  eval_data=_path(ev["data"], base, shared, "eval data") if ev.get("data") else None,
                  eval_split=_split(ev, "eval"),
                  eval_limit=checked("eval.limit", ev["limit"], RANGES["limit"], "suite: ") if "limit" in ev else None,
                  seconds=checked("seconds", raw.get("seconds", 6), RANGES["seconds"], "suite: "),
                  seed=checked("seed", raw.get("seed", 0), RANGES["seed"], "suite: "), sources=sources,
                  task=str(raw.get("task", "classification")))
    if suite.task not in TASKS:
        raise OvSparsityError(f"suite: task must be one of {', '.join(TASKS)}, got {suite.task!r}")
    settings = raw["settings"]
    if not isinstance(settings, list) or not settings:
        raise OvSparsityError("suite: 'settings' must be a non-empty list")
    for i, s in enumerate(settings):
        suite.runs += _expand(_keys(f"settings[{i}]", s, SETTING_KEYS), i, sources, suite)
    return suite


def _split(spec: dict, where: str) -> Optional[str]:
    split = spec.get("split")
    if split not in (None, "even", "odd"):
        raise OvSparsityError(f"suite: {where}: split must be even or odd, got {split!r}")
    return split


def split_folder(src: Path, part: str, dest: Path) -> Path:
    """Every other image file of a flat folder (or of a folder holding images/ and
    synsets.txt) as a folder of symlinks: even = positions 0, 2, ...; odd = 1, 3, ..."""
    images = src / "images" if (src / "images").is_dir() else src
    files = sorted(p for p in images.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise OvSparsityError(f"suite: split of {src}: no image files directly in it (class subfolders cannot be "
                              f"split; give two folders)")
    root = dest / f"{_slug(src.name)}-{part}"
    if not root.exists():
        tmp = dest / f".{root.name}.tmp"
        (tmp / "images").mkdir(parents=True, exist_ok=True)
        for f in files[0 if part == "even" else 1::2]:
            link = tmp / "images" / f.name
            if not link.exists():
                link.symlink_to(f)
        if (src / "synsets.txt").is_file() and not (tmp / "synsets.txt").exists():
            (tmp / "synsets.txt").symlink_to(src / "synsets.txt")
        tmp.replace(root)
    return root if images != src else root / "images"


def _folder(source: tuple, out: Path) -> Path:
    folder, split = source
    return split_folder(folder, split, out / "data") if split else folder


def _expand(setting: dict, index: int, sources: dict, suite: Suite) -> list[Run]:
    label = str(setting.get("label", f"setting {index + 1}"))
    algos = setting.get("algorithms")
    if not isinstance(algos, list) or not algos:
        raise OvSparsityError(f"suite: settings[{index}] ({label}) needs a non-empty 'algorithms' list")
    names = [a.get("name") for a in algos if isinstance(a, dict)]
    target = setting.get("level_param") or next((f"{n}.{LEVEL_PARAMS[n]}" for n in names if n in LEVEL_PARAMS), None)
    levels = setting.get("levels", [None])
    if levels != [None] and (not isinstance(levels, list) or not levels or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in levels)):
        raise OvSparsityError(f"suite: settings[{index}] ({label}) levels must be a non-empty list of numbers, "
                              f"got {levels!r}")
    if levels != [None] and target is None:
        raise OvSparsityError(f"suite: settings[{index}] ({label}) has levels but no algorithm that takes one "
                              f"(set level_param: NAME.PARAM)")
    runs = []
    for data in setting.get("data", list(sources)):
        if data not in sources:
            raise OvSparsityError(f"suite: settings[{index}] ({label}) uses data '{data}', not among "
                                  f"{', '.join(sources)}")
        for level in levels:
            config = {"engine": _engine(sources[data] if isinstance(sources[data], str) else sources[data][0], suite),
                      "compression": {"algorithms": copy.deepcopy(algos)}}
            if level is not None:
                algo, param = target.split(".", 1)
                entries = [a for a in config["compression"]["algorithms"] if a.get("name") == algo]
                if not entries:
                    raise OvSparsityError(f"suite: settings[{index}] level_param {target}: no algorithm {algo}")
                for a in entries:
                    a.setdefault("params", {})[param] = float(level)
            parsed = RunConfig.from_dict({**config, "model": {}}, suite.path.parent)  # fail now, not an hour later
            for spec in parsed.compression.algorithms:  # unknown algorithms and parameters too
                try:
                    create_algorithm(spec["name"], spec["params"])
                except OvSparsityError as exc:
                    raise OvSparsityError(f"suite: settings[{index}] ({label}): {exc}") from None
            slug = _slug(f"{label}_{data}" + (f"_{round(100 * float(level))}" if level is not None else ""))
            runs.append(Run(setting=label, level=None if level is None else float(level), data=data,
                            config=config, slug=slug))
    return runs


def _engine(source, suite: Suite) -> dict:
    engine: dict = {"seed": suite.seed}
    if isinstance(source, Path) or source == RATINGS:
        engine.update(type="simplified", data_source=str(source))
    else:
        engine.update(type="data_free", data_source=source)
    if suite.preprocess:
        engine["preprocessing"] = suite.preprocess
    return engine


def dense_model(suite: Suite, out: Path, progress: bool) -> Path:
    if "ir" in suite.model:
        return suite.model["ir"]
    from ov_sparsity.zoo import export

    xml = out / "models" / f"{suite.model['zoo']}.xml"
    if not xml.exists():
        export(suite.model["zoo"], suite.model.get("weights"), xml)
    return xml


def run_suite(suite: Suite, out: Path, progress: bool = True, log=print, seconds: Optional[float] = None) -> dict:
    """Compress every run (skipping finished ones, redoing incomplete ones), then measure all models
    together. A suite that fails or is interrupted before its first run finishes leaves no -o folder."""
    created = not out.exists()
    try:
        return _run_suite(suite, out, progress, log, seconds)
    except BaseException:  # failed or interrupted before any run finished: leave nothing behind
        if created and not any(finished_run(p) for p in (out / "runs").glob("*")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def finished_run(target: Path) -> Optional[dict]:
    """A run folder's report, if the run is complete (model, report, config and time all there and
    readable); None for one that a failure or a signal left half written."""
    try:
        report = json.loads((target / "report.json").read_text())
        json.loads((target / "config.json").read_text())
        float((target / "wall_s.txt").read_text())
        complete = isinstance(report, dict) and "global_sparsity" in report and all(
            (target / n).is_file() for n in ("model.xml", "model.bin"))
    except (OSError, ValueError):
        return None
    return report if complete else None


def _run_suite(suite: Suite, out: Path, progress: bool, log, seconds: Optional[float]) -> dict:
    from ov_sparsity.api import compress, detection_images, labelled_images
    from ov_sparsity.benchmark.measure import benchmark_models
    from ov_sparsity.benchmark.results import make_results
    from ov_sparsity.graph import read_model

    out.mkdir(parents=True, exist_ok=True)
    dense = dense_model(suite, out, progress)
    runs_meta = []
    for i, run in enumerate(suite.runs):
        target = out / "runs" / run.slug
        config = copy.deepcopy(run.config)
        config["model"] = {"model": str(Path(dense).resolve())}
        if not isinstance(suite.sources[run.data], str):
            config["engine"]["data_source"] = str(_folder(suite.sources[run.data], out))
        report = finished_run(target)
        if report is None:  # not run yet, or left incomplete: (re)do it
            if target.exists():
                log(f"redoing the incomplete run {target}")
                shutil.rmtree(target)
            log(f"[{i + 1}/{len(suite.runs)}] {run.setting} · {run.data}"
                + (f" · {run.level:.0%}" if run.level is not None else ""))
            t0 = time.perf_counter()
            report = compress(RunConfig.from_dict(config, suite.path.parent), target, progress=progress,
                              log=lambda *a: None)
            (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
            (target / "wall_s.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")  # written last
        runs_meta.append({"setting": run.setting, "data_source": run.data, "level": run.level,
                          "config": str(target / "config.json"),
                          "command": f"ov-sparsity compress --config {target / 'config.json'} -o {target}",
                          "wall_s": float((target / "wall_s.txt").read_text()),
                          "report": str(target / "report.json"),
                          "global_sparsity": report["global_sparsity"]})
    dataset = None
    if suite.eval_data:
        images = detection_images if suite.task == "detection" else labelled_images
        dataset = images(_folder((suite.eval_data, suite.eval_split), out), suite.preprocess, read_model(dense),
                         synsets=suite.synsets, limit=suite.eval_limit)
    paths = [dense] + [out / "runs" / r.slug / "model.xml" for r in suite.runs]
    labels = ["dense FP32"] + [f"{r.setting} · {r.data}" + (f" · {r.level:.0%}" if r.level is not None else "")
                               for r in suite.runs]
    log(f"measuring {len(paths)} models" + (f" on {len(dataset)} images" if dataset is not None else ""))
    measured = benchmark_models(paths, dataset, seconds=suite.seconds if seconds is None else seconds,
                                progress=progress, labels=labels, task=suite.task)
    for entry, meta in zip(measured["models"][1:], runs_meta):
        entry["run"] = meta
    return make_results(measured, title=suite.title, suite=suite.name,
                        settings={"seconds": suite.seconds if seconds is None else seconds,
                                  "eval_data": (f"{suite.eval_data} ({suite.eval_split} files)" if suite.eval_split
                                                else str(suite.eval_data)) if suite.eval_data else None,
                                  "eval_images": len(dataset) if dataset is not None else None,
                                  "preprocess": suite.preprocess, "suite_file": str(suite.path),
                                  "task": suite.task})
