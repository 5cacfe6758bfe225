"""The config sections; each validates itself and rejects unknown keys by name.

    model:       {model: X.xml, weights: X.bin, model_name: optional}
    engine:      {type: simplified, data_source: DIR, preprocessing: cifar10|imagenet|{...},
                  subset_size: 300, seed: 0, synsets: FILE, holdout: N}
                 (subset_size defaults to 1,000 images of a folder, 500 fractals, 300 otherwise; holdout:
                 images of the folder kept from every algorithm to check the output on, default a tenth of
                 300 or more, at most 200)
                 or {type: data_free, data_source: fractal | noise}
                 or {config: AC.yaml} (POT's accuracy_checker engine: config/accuracy_checker.py)
    compression: {target_device: CPU, algorithms: [{name, params}]}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ov_sparsity.errors import OvSparsityError
from ov_sparsity.validate import RANGES, checked

ENGINE_TYPES = ("simplified", "data_free", "accuracy_checker")
IMAGE_SYNTHETIC = ("noise", "fractal")
SYNTHETIC_SOURCES = IMAGE_SYNTHETIC + ("zipf",)  # zipf: synthetic text, for text models
RATINGS = "ratings"  # a recommender's training interactions, from the file its IR records (not a path)
DEFAULT_SUBSET = {"fractal": 500, "noise": 300, "zipf": 300, RATINGS: 1000}  # named sources
DEFAULT_IMAGES = 1000  # an image folder: up to 1,000 images (recovery holds out a tenth: docs/results.md)
DEFAULT_OTHER = 300  # text files (windows)
TARGET_DEVICES = ("ANY", "CPU", "GPU", "NPU", "CPU_SPR")  # nncf.TargetDevice (tests/test_config.py checks)


def check_keys(section: str, data: Any, known: set, kind: str = "config") -> dict:
    """`data` as a mapping ({} for None) whose keys are all known; else a one-line error naming the key."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OvSparsityError(f"{kind}: '{section}' must be a mapping")
    unknown = sorted(set(data) - known)
    if unknown:
        raise OvSparsityError(f"{kind}: unknown key '{unknown[0]}' in '{section}' (known: {', '.join(sorted(known))})")
    return data


def check_placeholders(data: Any, where: str = "") -> None:
    """POT's sample configs ship '<MODEL_PATH>'-style placeholders: one line naming the key to fill."""
    if isinstance(data, dict):
        for k, v in data.items():
            check_placeholders(v, f"{where}.{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            check_placeholders(v, f"{where}[{i}]")
    elif isinstance(data, str) and re.fullmatch(r"<[^<>]+>", data.strip()):
        raise OvSparsityError(f"config: fill in '{where}': it still holds the placeholder {data.strip()}")


def resolve_path(value: str, base_dir: Path) -> Path:
    """Relative paths: as given if they exist from the current directory, else from the config's folder."""
    p = Path(str(value)).expanduser()
    if p.is_absolute() or p.exists():
        return p
    return base_dir / p


@dataclass
class ModelSection:
    model: Optional[Path] = None
    weights: Optional[Path] = None
    model_name: Optional[str] = None

    @classmethod
    def from_dict(cls, data: Any, base: Path) -> "ModelSection":
        data = check_keys("model", data, {"model", "weights", "model_name"})
        return cls(model=resolve_path(data["model"], base) if data.get("model") else None,
                   weights=resolve_path(data["weights"], base) if data.get("weights") else None,
                   model_name=data.get("model_name"))


@dataclass
class EngineSection:
    type: str = "data_free"
    data_source: str = "noise"
    preprocessing: Any = None
    subset_size: Optional[int] = None  # None: DEFAULT_SUBSET[source]
    seed: int = 0
    synsets: Optional[Path] = None
    batch_size: int = 16
    eval_data_source: Optional[str] = None  # labelled images for accuracy-aware modes
    eval_subset_size: Optional[int] = None
    config: Optional[Path] = None  # POT: an Accuracy Checker YAML (images, preprocessing, labels)
    annotation: Optional[Path] = None  # from it: 'relative/path label' lines (AC's imagenet converter)
    label_offset: int = 0
    seq_len: Optional[int] = None  # text models: calibration window (default: the model's, else 128)
    holdout: Optional[int] = None  # calibration images kept from every algorithm to check the output on
    # (None: a tenth of a folder of 300 or more, at most 200; 0: none)
    threads: Optional[int] = None  # torch and OpenVINO threads (None: the CPUs this process may use)

    @classmethod
    def from_dict(cls, data: Any, base: Path) -> "EngineSection":
        data = check_keys("engine", data, {"type", "data_source", "preprocessing", "subset_size", "seed",
                                            "synsets", "batch_size", "eval_data_source", "eval_subset_size",
                                            "config", "stat_requests_number", "eval_requests_number", "device",
                                            "seq_len", "holdout", "threads"})
        sec = cls()
        if "type" in data:
            sec.type = data["type"]
        elif "config" in data:
            sec.type = "accuracy_checker"  # POT's default engine
        elif "data_source" in data and str(data["data_source"]) not in SYNTHETIC_SOURCES:
            sec.type = "simplified"  # a folder
        if sec.type == "accuracy_checker":
            if not data.get("config"):
                raise OvSparsityError("config: engine type 'accuracy_checker' needs 'config': the path of an "
                                      "Accuracy Checker YAML")
            from ov_sparsity.config.accuracy_checker import read_accuracy_checker

            sec.config = resolve_path(data["config"], base)
            data = {**read_accuracy_checker(sec.config), **{k: v for k, v in data.items() if k != "config"}}
            sec.annotation, sec.label_offset = data.pop("annotation", None), data.pop("label_offset", 0)
            data["type"] = "simplified"
            sec.type = "simplified"
            if sec.annotation is not None and "eval_data_source" not in data:
                sec.eval_data_source = data["data_source"]  # POT evaluated on the AC dataset
        if sec.type not in ENGINE_TYPES:
            raise OvSparsityError(f"config: unknown engine type '{sec.type}' (known: {', '.join(ENGINE_TYPES)})")
        if "data_source" in data:
            sec.data_source = str(data["data_source"])
        elif sec.type == "simplified":
            raise OvSparsityError("config: engine type 'simplified' needs a 'data_source' folder")
        if sec.type == "simplified" and sec.data_source not in SYNTHETIC_SOURCES + (RATINGS,):
            sec.data_source = str(resolve_path(sec.data_source, base))
        elif sec.type == "data_free" and sec.data_source not in SYNTHETIC_SOURCES:
            raise OvSparsityError(f"config: engine type 'data_free' takes data_source "
                                  f"{' or '.join(repr(s) for s in IMAGE_SYNTHETIC)}, got '{sec.data_source}' "
                                  "(an image folder goes with type 'simplified'; text models also take 'zipf')")
        sec.preprocessing = data.get("preprocessing")
        if data.get("eval_data_source"):
            sec.eval_data_source = str(resolve_path(data["eval_data_source"], base))
        for key in ("subset_size", "seed", "batch_size", "eval_subset_size", "seq_len", "holdout", "threads"):
            if key in data:
                setattr(sec, key, checked(f"engine.{key}", data[key], RANGES[key], "config: "))
        if data.get("synsets"):
            sec.synsets = resolve_path(data["synsets"], base)
        return sec

    @property
    def calibration_size(self) -> int:
        if self.subset_size:
            return self.subset_size
        if self.data_source in DEFAULT_SUBSET:
            return DEFAULT_SUBSET[self.data_source]
        return DEFAULT_IMAGES if Path(self.data_source).is_dir() else DEFAULT_OTHER

    @property
    def synthetic(self) -> bool:
        return self.data_source in SYNTHETIC_SOURCES


@dataclass
class CompressionSection:
    target_device: str = "CPU"
    algorithms: list = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any) -> "CompressionSection":
        data = check_keys("compression", data, {"target_device", "algorithms"})
        algos = data.get("algorithms", [])
        if not isinstance(algos, list):
            raise OvSparsityError("config: compression.algorithms must be a list of {name, params}")
        specs = []
        for i, a in enumerate(algos):
            a = check_keys(f"compression.algorithms[{i}]", a, {"name", "params"})
            if "name" not in a:
                raise OvSparsityError(f"config: compression.algorithms[{i}] has no 'name'")
            if not isinstance(a["name"], str):
                raise OvSparsityError(f"config: compression.algorithms[{i}].name must be an algorithm name, "
                                      f"got {a['name']!r}")
            if any(s["name"] == a["name"] for s in specs):  # twice would run twice (INT8 on INT8)
                raise OvSparsityError(f"config: algorithm '{a['name']}' is listed twice in compression.algorithms "
                                      "(give it once, with all its params)")
            params = a.get("params") or {}
            if not isinstance(params, dict):
                raise OvSparsityError(f"config: compression.algorithms[{i}] ({a['name']}) params must be a "
                                      f"mapping, got {params!r}")
            specs.append({"name": a["name"], "params": dict(params)})
        device = data.get("target_device", "CPU")
        if not isinstance(device, str) or device.upper() not in TARGET_DEVICES:
            raise OvSparsityError(f"config: unknown compression.target_device {device!r} (known: "
                                  f"{', '.join(TARGET_DEVICES)})")
        return cls(target_device=device.upper(), algorithms=specs)


@dataclass
class RunConfig:
    model: ModelSection = field(default_factory=ModelSection)
    engine: EngineSection = field(default_factory=EngineSection)
    compression: CompressionSection = field(default_factory=CompressionSection)
    path: Optional[Path] = None  # the config file, when read from one

    @classmethod
    def from_dict(cls, data: dict, base: Path) -> "RunConfig":
        data = check_keys("config", data, {"model", "engine", "compression"})
        check_placeholders(data)
        return cls(ModelSection.from_dict(data.get("model"), base), EngineSection.from_dict(data.get("engine"), base),
                   CompressionSection.from_dict(data.get("compression")))

    def set_sparsity(self, level: float) -> None:
        """--sparsity: override every sparsity algorithm's level, adding WeightSparsity if none."""
        hits = [a for a in self.compression.algorithms if a["name"] in ("WeightSparsity", "MagnitudeSparsity")]
        if not hits:
            self.compression.algorithms.insert(0, {"name": "WeightSparsity", "params": {}})
            hits = self.compression.algorithms[:1]
        for a in hits:
            a["params"]["sparsity_level"] = level

    def set_algorithm_params(self, name: str, params: dict, first: bool = False) -> None:
        """Set parameters of every `name` entry, adding one (first or before INT8) if there is none."""
        hits = [a for a in self.compression.algorithms if a["name"] == name]
        if not hits:
            entry = {"name": name, "params": {}}
            algos = self.compression.algorithms
            at = 0 if first else next((i for i, a in enumerate(algos) if a["name"] == "DefaultQuantization"),
                                      len(algos))
            algos.insert(at, entry)
            hits = [entry]
        for a in hits:
            a["params"].update(params)

    def set_weight_sparsity(self, **params) -> None:
        self.set_algorithm_params("WeightSparsity", params, first=True)

    def ensure_int8(self) -> None:
        if not any(a["name"] == "DefaultQuantization" for a in self.compression.algorithms):
            self.compression.algorithms.append({"name": "DefaultQuantization", "params": {"preset": "performance"}})
