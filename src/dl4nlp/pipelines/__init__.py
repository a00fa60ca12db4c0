"""The one registry of task families: every model name maps to the pipeline that trains, loads and scores it.

Adding a family is one line in :data:`PIPELINES` (its module defines ``PIPELINE``); its model names live in
that pipeline's ``models`` table. Callers use :func:`pipeline_for_model`, :func:`pipeline_for` (a run folder:
its ``config.yaml`` is read once) and :func:`all_pipelines`.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.pipelines.base import Pipeline, Prediction, Predictor

#: family -> module defining ``PIPELINE``; one line per family
PIPELINES: dict[str, str] = {
    "classification": "dl4nlp.pipelines.classification",
    "finetune": "dl4nlp.pipelines.finetune",
    "nli": "dl4nlp.pipelines.nli",
    "language_model": "dl4nlp.pipelines.language_model",
    "captioning": "dl4nlp.pipelines.captioning",
    "translation": "dl4nlp.pipelines.translation",
    "tagging": "dl4nlp.pipelines.tagging",
    "qa": "dl4nlp.pipelines.qa",
    "trees": "dl4nlp.pipelines.trees",
    "rating": "dl4nlp.pipelines.rating",
}

__all__ = ["PIPELINES", "Pipeline", "Prediction", "Predictor", "all_pipelines", "pipeline", "pipeline_for",
           "pipeline_for_model", "model_names"]


@cache
def pipeline(name: str) -> Pipeline:
    """The pipeline registered as ``name``."""
    if name not in PIPELINES:
        raise ConfigError(f"unknown pipeline '{name}' (known: {', '.join(sorted(PIPELINES))})")
    return importlib.import_module(PIPELINES[name]).PIPELINE


def all_pipelines() -> list[Pipeline]:
    return [pipeline(name) for name in PIPELINES]


def model_names() -> list[str]:
    """Every model name a config may use, across all families."""
    return sorted(m for p in all_pipelines() for m in p.models)


def pipeline_for_model(model_name: str) -> Pipeline:
    """The pipeline that owns ``model.name``; a :class:`ConfigError` listing every known name otherwise."""
    for p in all_pipelines():
        if p.owns(model_name):
            return p
    raise ConfigError(f"model: unknown model '{model_name}' (known: {', '.join(model_names())})")


def pipeline_for(run: str | Path) -> Pipeline:
    """The pipeline of a run folder, from its ``config.yaml`` (read once)."""
    from dl4nlp.core.runs import load_config

    path = Path(run)
    if not path.is_dir():
        raise RunError(f"{run}: run folder not found")
    if not (path / "config.yaml").is_file():
        raise RunError(f"{run}: not a run folder (no config.yaml)")
    name = load_config(path).model_name
    try:
        return pipeline_for_model(name)
    except ConfigError:
        raise RunError(f"{run}: model '{name}' belongs to no known pipeline") from None
