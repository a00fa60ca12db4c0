"""Typed experiment configuration: YAML in and out, ``--set key=value`` overrides.

A config has five sections::

    data:    where the examples come from and how they become tokens
    model:   ``name`` (a model of a family in :mod:`dl4nlp.pipelines`) plus that model's own options
    train:   optimiser, learning rate, batch size, epochs, L2, schedule, early stopping, clipping
    trainer: Lightning ``Trainer`` pass-through (accelerator, devices, strategy, precision, num_nodes)
    run:     run folder, name, seed

Unknown keys are rejected with an error naming the key and the file, so a typo never trains silently
with a default. Model options are validated by the model's own ``Config`` dataclass when it is built.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from dl4nlp.core.errors import ConfigError
from dl4nlp.core.io import read_text, require_file


def _interval(spec: str) -> tuple[float, float, bool, bool]:
    """``"[1, inf)"`` -> (1, inf, closed low, open high): the notation the ``RANGES`` tables use."""
    low, high = (x.strip() for x in spec[1:-1].split(","))
    return float(low), float(high), spec[0] == "[", spec[-1] == "]"


def in_range(value: float, spec: str) -> bool:
    low, high, low_closed, high_closed = _interval(spec)
    above = value >= low if low_closed else value > low
    below = value <= high if high_closed else value < high
    return above and below


def describe_range(spec: str) -> str:
    """The interval in words: ``[1, inf)`` -> "must be at least 1", ``(0, 1)`` -> "must lie between 0 and 1
    (both excluded)"."""
    low, high, low_closed, high_closed = _interval(spec)
    lo, hi = (int(x) if x.is_integer() else x for x in (low, high))
    if math.isinf(high):
        if low_closed:
            return "must not be negative" if lo == 0 else f"must be at least {lo}"
        return f"must be greater than {lo}"
    ends = {(True, True): "", (False, False): " (both excluded)", (True, False): f" ({hi} excluded)",
            (False, True): f" ({lo} excluded)"}[low_closed, high_closed]
    return f"must lie between {lo} and {hi}{ends}"


def check_ranges(section: Any, where: str) -> None:
    """The one range check of every config section (and of any option dataclass with a ``RANGES`` table):
    a number that is NaN or infinite is refused for every key, and each key of the section's ``RANGES``
    (``key -> interval``, declared next to the fields) must lie in its interval; ``None`` (where the key
    allows it) means "off". Raises :class:`ConfigError` naming ``<where>.<key>``, the interval and the value."""
    for f in fields(section):
        value = getattr(section, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}.{f.name}: must be a finite number, got {value}")
    for key, spec in getattr(section, "RANGES", {}).items():
        value = getattr(section, key)
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue  # the type itself is checked by ``coerce``
        if not in_range(value, spec):
            raise ConfigError(f"{where}.{key}: {describe_range(spec)}, got {value}")


def check_run_name(name: str | None) -> None:
    """``run.name`` is one folder name inside ``run.dir``: no path separators, no ``.``/``..``, not empty."""
    if name is None:
        return
    if not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ConfigError(f"run.name: '{name}' must be a plain folder name (no '/', '\\' or '..'): runs are "
                          "written inside run.dir")


def check_rating_scale(scale: list[float] | None, levels: int | None) -> None:
    """``data.rating_scale`` is two finite numbers, lowest first; ``data.rating_levels`` at least 2."""
    if scale is not None and (len(scale) != 2 or not all(math.isfinite(v) for v in scale) or scale[0] >= scale[1]):
        raise ConfigError(f"data.rating_scale: must be [lowest, highest] with lowest < highest, got {scale}")
    if levels is not None and levels < 2:
        raise ConfigError(f"data.rating_levels: must be at least 2, got {levels}")


@dataclass
class DataConfig:
    """Where the data comes from.

    ``dataset``: ``sst2`` | ``sst5`` (SST trees), ``imdb`` (JSONL folder), ``table`` (any CSV/TSV/JSONL
    files with ``text_column``/``label_column``) or ``hub`` (a Hugging Face dataset by ``hub_name``).
    """

    dataset: str = "sst2"
    path: str = "../shared/data/sst"
    phrases: bool = False  # SST: train on every labelled subtree (dev/test stay sentence-level)
    unique_phrases: bool = False  # SST phrases: each distinct phrase once (like GLUE's SST-2 train set)
    train_file: str | None = None  # table: file names (relative to path) of each split
    dev_file: str | None = None
    test_file: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    labels: list[str] | None = None  # fixed label order; default: sorted labels of train
    hub_name: str | None = None
    hub_config: str | None = None
    max_train_examples: int | None = None  # take a prefix of (shuffled) train, for learning curves
    swap_contradictions: bool = False  # NLI: also train on (hypothesis, premise) of every contradiction pair
    snli_repeat: int = 1  # NLI reduced protocol: SNLI train pairs k times, the MultiNLI pairs once
    teacher_file: str | None = None  # NLI: train on pairs with a teacher's logits (dl4nlp nli-teacher)
    lowercase: bool = True
    min_count: int = 1
    max_vocab: int | None = None
    max_length: int | None = None  # truncate token sequences (None: no limit)
    features: str = "counts"  # bag-of-words values: counts | binary | tfidf
    bucket: bool = True  # length-bucketing sampler for sequence models
    num_workers: int = 0
    level: str = "word"  # language models: word | char tokens
    bptt: int = 35  # language models: truncated-BPTT window length
    cache_dir: str = "cache"  # captioning: image features are cached in <cache_dir>/features/
    augment: str = "none"  # captioning: train images also flipped / rotated: none | flips | dihedral
    direction: str = "de-en"  # translation: <source>-<target> file suffixes (multi30k: de-en or en-de)
    rating_scale: list[float] | None = None  # rating runs: [lowest, highest] (default: imdb [1, 10], sst [0, 1])
    rating_levels: int | None = None  # rating runs: ordinal / class levels on the scale (default: one per unit)

    #: allowed values of the numeric keys (None, where a key allows it, means "no limit"), checked at load
    RANGES: ClassVar[dict[str, str]] = {
        "max_train_examples": "[1, inf)", "snli_repeat": "[1, inf)", "min_count": "[1, inf)",
        "max_vocab": "[1, inf)", "max_length": "[1, inf)", "num_workers": "[0, inf)", "bptt": "[1, inf)",
    }

    def __post_init__(self) -> None:
        check_ranges(self, "data")
        check_rating_scale(self.rating_scale, self.rating_levels)

    def changed(self, keys: tuple[str, ...]) -> dict[str, Any]:
        """Those of ``keys`` whose value differs from the field's default, in the order given (task-specific
        options: refused where they do not apply, named on the leaderboard where they are on)."""
        defaults = {f.name: f.default for f in fields(self)}
        return {k: getattr(self, k) for k in keys if getattr(self, k) != defaults[k]}


OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "exponential", "plateau", "linear", "cosine", "inverse_sqrt")


@dataclass
class TrainConfig:
    optimizer: str = "adam"  # sgd | adam | adamw
    fused: bool = True  # torch's fused optimizer kernels when every parameter is on CPU or CUDA (same update)
    lr: float = 1e-3
    momentum: float = 0.0  # SGD only
    weight_decay: float = 0.0  # decoupled/optimiser weight decay
    l2: float = 0.0  # lambda in loss + lambda * sum(W^2) (the course's form), weights only, not biases
    batch_size: int = 32
    eval_batch_size: int = 256
    epochs: int = 10
    schedule: str = "none"  # none | step | exponential | linear | cosine | plateau
    step_size: int = 5  # step schedule: epochs between decays
    gamma: float = 0.5  # step / exponential / plateau decay factor
    warmup_steps: int = 0  # linear warm-up (linear / cosine / inverse_sqrt schedules)
    clip_norm: float | None = None  # gradient clipping by global norm
    accumulate_grad_batches: int = 1
    monitor: str = "dev_acc"  # metric for early stopping and best checkpoint
    mode: str = "max"
    patience: int = 3  # early stopping patience in epochs (0 disables early stopping)
    min_delta: float = 0.0
    ema_decay: float | None = None  # evaluate and checkpoint an exponential moving average of the weights
    distill_alpha: float = 0.5  # with data.teacher_file: weight of the teacher's soft targets (1 - it: gold)
    distill_temperature: float = 1.0  # with data.teacher_file: softmax temperature T of the soft targets

    #: allowed values of the numeric keys (None, where a key allows it, means "off"), checked at load
    RANGES: ClassVar[dict[str, str]] = {
        "lr": "[0, inf)", "momentum": "[0, 1)", "weight_decay": "[0, inf)", "l2": "[0, inf)",
        "batch_size": "[1, inf)", "eval_batch_size": "[1, inf)", "epochs": "[1, inf)", "step_size": "[1, inf)",
        "gamma": "(0, inf)", "warmup_steps": "[0, inf)", "clip_norm": "(0, inf)", "accumulate_grad_batches": "[1, inf)",
        "patience": "[0, inf)", "min_delta": "[0, inf)", "ema_decay": "(0, 1)", "distill_alpha": "[0, 1]",
        "distill_temperature": "(0, inf)",
    }

    def __post_init__(self) -> None:
        """Range and name checks, so a bad value stops the run before its folder is made."""
        check_ranges(self, "train")
        names = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "mode": ("max", "min")}
        for key, allowed in names.items():
            if str(getattr(self, key)).lower() not in allowed:
                raise ConfigError(f"train.{key}: unknown value '{getattr(self, key)}' (use {', '.join(allowed)})")

    def key_hyper_parameters(self) -> dict[str, Any]:
        """The optimisation settings a leaderboard row shows: optimiser, lr, batch size, and the
        regularisers / schedule / weight averaging when they are on."""
        hp: dict[str, Any] = {"opt": self.optimizer, "lr": self.lr, "bs": self.batch_size}
        if self.l2:
            hp["l2"] = self.l2
        if self.weight_decay:
            hp["wd"] = self.weight_decay
        if self.schedule != "none":
            hp["sched"] = self.schedule
        if self.ema_decay is not None:
            hp["ema"] = self.ema_decay
        return hp


@dataclass
class TrainerConfig:
    """Passed straight to ``lightning.Trainer``: the same config runs on CPU, GPUs or nodes (DDP)."""

    accelerator: str = "auto"
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    deterministic: bool = False
    log_every_n_steps: int = 50
    progress_bar: bool = True
    limit_train_batches: Any = None  # for smoke tests: a float share or an int count of batches

    RANGES: ClassVar[dict[str, str]] = {"num_nodes": "[1, inf)", "log_every_n_steps": "[1, inf)"}

    def __post_init__(self) -> None:
        check_ranges(self, "trainer")
        share = self.limit_train_batches  # a share in (0, 1] (float) or a count >= 1 (int)
        if isinstance(share, bool) or (share is not None and not (
                isinstance(share, float) and 0 < share <= 1 or isinstance(share, int) and share >= 1)):
            raise ConfigError(f"trainer.limit_train_batches: a share in (0, 1] or a batch count >= 1, got {share!r}")


@dataclass
class RunConfig:
    dir: str = "runs"
    name: str | None = None  # default: <model>-<dataset>-<seed>
    seed: int = 13

    RANGES: ClassVar[dict[str, str]] = {"seed": "[0, 4294967295]"}  # numpy's seed range

    def __post_init__(self) -> None:
        check_ranges(self, "run")
        check_run_name(self.name)


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(default_factory=lambda: {"name": "logreg"})
    train: TrainConfig = field(default_factory=TrainConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @property
    def model_name(self) -> str:
        return str(self.model.get("name", ""))

    @property
    def model_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model.items() if k != "name"}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def run_name(self) -> str:
        return self.run.name or f"{self.model_name}-{self.data.dataset}-s{self.run.seed}"

    def key_hyper_parameters(self, data_keys: tuple[str, ...] = ()) -> dict[str, Any]:
        """What a leaderboard row shows: the optimisation settings (``train``), every model option, and those
        of the task's ``data_keys`` that are not at their default."""
        return {**self.train.key_hyper_parameters(), **self.model_params, **self.data.changed(data_keys)}


_SECTIONS = {"data": DataConfig, "train": TrainConfig, "trainer": TrainerConfig, "run": RunConfig}


def _list_of(hint: Any) -> Any | None:
    """``X`` when ``hint`` is ``list[X]`` or ``list[X] | None`` (``Any`` for a bare list); None otherwise."""
    args = [hint] if typing.get_origin(hint) is list else [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) != 1 or typing.get_origin(args[0]) is not list:
        return None
    return (typing.get_args(args[0]) or (Any,))[0]


def coerce(value: Any, hint: Any, where: str, key: str) -> Any:
    """Check a value against a simple annotation (int, float, bool, str, Optional of those, a list of those);
    numbers written as text (YAML reads ``1e-5`` as a string) become numbers."""
    item = _list_of(hint)
    if item is not None and value is not None:
        kinds = {str: str, int: int, float: int | float}.get(item)
        if not isinstance(value, list) or (kinds is not None and not all(
                isinstance(v, kinds) and not isinstance(v, bool) for v in value)):
            what = f"a list of {item.__name__}" if kinds is not None else "a list"
            raise ConfigError(f"{where}: '{key}' must be {what}, got {value!r}")
        return value
    if typing.get_origin(hint) in (list, dict, tuple):
        return value
    args = typing.get_args(hint)
    if value is None:
        if hint is Any or type(None) in args:
            return None
        raise ConfigError(f"{where}: '{key}' must not be empty")
    simple = [a for a in (args or (hint,)) if a in (int, float, bool, str)]
    if not simple or hint is Any or any(a in (list, dict) or typing.get_origin(a) in (list, dict) for a in args):
        return value
    if isinstance(value, bool):
        if bool in simple:
            return value
    elif float in simple and isinstance(value, int | float):
        return float(value) if int not in simple or isinstance(value, float) else value
    elif int in simple and isinstance(value, int):
        return value
    elif str in simple and isinstance(value, str):
        return value
    if isinstance(value, str) and (float in simple or int in simple):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if int in simple and float not in simple:
                if not number.is_integer():  # "2.5", "nan", "inf" for a whole-number key
                    raise ConfigError(f"{where}: '{key}' must be a whole number, got {value!r}")
                return int(number)
            return number
    names = " or ".join(t.__name__ for t in simple)
    raise ConfigError(f"{where}: '{key}' must be {names}, got {value!r}")


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: section must be a mapping, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            hint = ", ".join(sorted(known))
            raise ConfigError(f"{where}: unknown key '{key}' (known keys: {hint})")
    hints = typing.get_type_hints(cls)
    kwargs = {k: coerce(v, hints.get(k, Any), where, k) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a range check of the section (``__post_init__``): name the file too
        raise ConfigError(f"{where.rsplit(': ', 1)[0]}: {exc}") from None


def from_dict(raw: dict[str, Any], source: str = "<config>") -> ExperimentConfig:
    """Build a config from a plain mapping, rejecting unknown sections and keys."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections")
    allowed = set(_SECTIONS) | {"model"}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{source}: unknown section '{key}' (known: {', '.join(sorted(allowed))})")
    kwargs: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        kwargs[name] = _build_section(cls, raw.get(name) or {}, f"{source}: {name}")
    model = raw.get("model") or {"name": "logreg"}
    if isinstance(model, str):
        model = {"name": model}
    if not isinstance(model, dict) or "name" not in model:
        raise ConfigError(f"{source}: model: needs a 'name' (e.g. model: {{name: mlp}})")
    kwargs["model"] = dict(model)
    if not kwargs["data"].teacher_file:  # the distillation keys act only on a teacher file's soft targets
        for key in ("distill_alpha", "distill_temperature"):
            if getattr(kwargs["train"], key) != getattr(TrainConfig, key):
                raise ConfigError(f"{source}: train.{key}: applies only with data.teacher_file (the pairs "
                                  "labelled by `dl4nlp nli-teacher`); without one it would change nothing")
    return ExperimentConfig(**kwargs)


def parse_value(text: str) -> Any:
    """Turn an override's right-hand side into a Python value (YAML rules: 1e-3, true, [64, 64], null)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a raw config mapping (a new dict is returned)."""
    import copy

    out = copy.deepcopy(raw) if raw else {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set '{item}': expected key=value, e.g. train.lr=0.01")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) < 2:
            raise ConfigError(f"--set '{item}': the key needs a section, e.g. train.lr or model.hidden")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set '{item}': '{part}' is not a section")
        node[parts[-1]] = parse_value(value.strip())
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of a UTF-8 YAML file ({} when empty); :class:`ConfigError` naming the file (and line) when
    it is missing, a folder, not UTF-8 text, not valid YAML or not a mapping at the top level."""
    import yaml

    p = require_file(path, ConfigError, "config file")
    try:
        raw = yaml.safe_load(read_text(p, ConfigError))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{line} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of sections (e.g. train:), "
                          f"not a {type(raw).__name__}")
    return raw or {}


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML config (or start from defaults when ``path`` is None) and apply overrides."""
    raw = read_yaml(path) if path is not None else {}
    raw = apply_overrides(raw, overrides)
    return from_dict(raw, str(path) if path is not None else "<defaults>")


def dump_yaml(cfg: ExperimentConfig | dict[str, Any]) -> str:
    import yaml

    data = cfg.to_dict() if isinstance(cfg, ExperimentConfig) else cfg
    return yaml.safe_dump(data, sort_keys=False)


def build_options(cls: type, params: dict[str, Any], where: str) -> Any:
    """Build a model's own option dataclass from ``params``, naming any unknown key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    return _build_section(cls, params, where)
