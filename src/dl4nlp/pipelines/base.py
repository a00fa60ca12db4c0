"""The one shape every task family has: a :class:`Pipeline` (train / load / evaluate, the model names it owns)
and a :class:`Predictor` (a run loaded once, predicting on raw inputs).

A family is a module in ``dl4nlp/pipelines/`` that defines ``PIPELINE = Pipeline(...)`` (or a subclass) and
one line in :data:`dl4nlp.pipelines.PIPELINES`. Everything else (CLI, demo, ladder, sweep, leaderboard,
benchmarks) asks the registry, never tests model names itself. Heavy imports stay inside the functions, so
importing every pipeline module to build the registry is cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dl4nlp.core.errors import RunError


@dataclass
class Prediction:
    """One input's answer: ``label`` (a class, a tag sequence, a translation, an answer span, a rating...),
    ``scores`` (per-class probabilities or other named numbers), and ``extra`` (tokens, tags, attention,
    notes) for callers that show more. ``line()`` is what ``dl4nlp predict`` prints: one line per input."""

    input: str
    label: str
    scores: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # e.g. "no known words; this is the prior" (printed on stderr, kept in jsonl)

    def line(self) -> str:
        scores = "  ".join(f"{k}={v:.3f}" for k, v in self.scores.items())
        return "\t".join(part for part in (self.label, scores, self.input) if part != "")

    def json(self) -> str:
        obj = {"input": self.input, "label": self.label, "scores": self.scores}
        obj.update({k: v for k, v in self.extra.items() if _jsonable(v)})
        if self.note:
            obj["note"] = self.note
        return json.dumps(obj, ensure_ascii=False)


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


class Predictor(Protocol):
    """A run loaded once for inference. ``predict`` batches internally and writes nothing into the run."""

    run_dir: Path

    def predict(self, inputs: list[str]) -> list[Prediction]: ...


@dataclass
class Pipeline:
    """A task family end to end.

    ``name``: the registry key (``classification``, ``nli``, ``language_model``...); ``task``: what its runs
    write as ``results["task"]``; ``models``: model name -> ``"module:Class"`` (the one table of the names
    configs may use); ``train(cfg, resume=None, evaluate_test=True) -> run folder``; ``load(run) ->``
    :class:`Predictor`; ``evaluate(run, split, data) -> dict`` scores the run's best model on a split of its
    own dataset or on any labelled file its readers accept (``data``); ``monitor``: the dev metric a sweep
    or ladder selects on (``max`` unless ``mode`` says ``min``); ``input_help``: what one ``predict`` input
    looks like for this family.
    """

    name: str
    task: str
    models: dict[str, str]
    train: Callable[..., Path]
    load: Callable[[Path], Predictor]
    evaluate: Callable[..., dict[str, Any]]
    monitor: str = "dev_acc"
    mode: str = "max"
    input_help: str = "a sentence"
    config_kind: str = "experiment"  # "experiment" (ExperimentConfig YAML) or the family's own config type

    def owns(self, model_name: str) -> bool:
        return model_name in self.models

    def model_class(self, model_name: str) -> Any:
        from dl4nlp.core.registry import resolve

        return resolve(self.models, model_name, f"{self.name} model")

    def selection_score(self, results: dict[str, Any]) -> float:
        """The dev score a sweep or ladder compares (higher is better: ``min`` metrics are negated)."""
        value = results.get(self.monitor)
        if value is None:
            raise RunError(f"no '{self.monitor}' in the run's results.json (the {self.name} pipeline selects on it)")
        return float(value) if self.mode == "max" else -float(value)
