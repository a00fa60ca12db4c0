"""The supervised-training template the classifier-like families share (sentences, pairs, fine-tuned
transformers): seed -> the family's ``prepare`` hook (every input check, before any folder exists) -> run
folder -> fit with early stopping on dev -> the family's results -> test once -> results.json last.

A family supplies one hook, ``prepare(cfg, resume) -> Parts``, and nothing else of the loop::

    def prepare(cfg, resume):
        ...read data, build vocabulary / tokenizer, model, task and loaders...
        return Parts(task, model, train_loader, dev_loader, test_loader, labels, save=..., results=...)

    def train_classifier(cfg, resume=None, evaluate_test=True, callbacks=None, run_dir=None):
        return train_supervised(cfg, prepare, resume, evaluate_test, callbacks, run_dir)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.core.config import ExperimentConfig


def _nothing(path: Path) -> None:
    return None


@dataclass
class Parts:
    """What a family's ``prepare`` hook hands the template. ``save(run_dir)`` writes its vocabulary or
    tokenizer files; ``results(fitted, run_dir)`` gives its own results.json fields (after the fit: the task
    holds the best weights, so a family may also save them in its own format there)."""

    task: Any  # a LightningModule
    model: Any  # the nn.Module inside it
    train: Any
    dev: Any
    test: Any
    labels: list[str]
    save: Callable[[Path], None] = _nothing
    results: Callable[[Any, Path], dict[str, Any]] = field(default=lambda fitted, path: {})


def train_supervised(cfg: ExperimentConfig, prepare: Callable[[ExperimentConfig, Any], Parts],
                     resume: str | Path | None = None, evaluate_test: bool = True, callbacks: list | None = None,
                     run_dir: str | Path | None = None) -> Path:
    """Train one model with the shared engine and write its run folder; returns the folder.

    ``resume``: an unfinished run folder to continue from its ``last.ckpt`` (``prepare`` reuses its vocabulary).
    ``evaluate_test=False`` leaves the test split unread (model selection in sweeps)."""
    import lightning as L

    from dl4nlp.core.io import write_json
    from dl4nlp.core.runs import save_config
    from dl4nlp.engine.training import (
        finish_classification_run,
        fit_and_validate,
        open_run_dir,
        provenance,
        resume_checkpoint,
    )

    resume_ckpt = resume_checkpoint(resume)
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    parts = prepare(cfg, resume)  # all input validation happens here, before any folder is made
    path = open_run_dir(cfg, resume, run_dir)  # DDP: every rank writes to the same folder
    save_config(path, cfg)
    parts.save(path)
    write_json(path / "labels.json", parts.labels)
    fitted = fit_and_validate(cfg, path, parts.task, parts.train, parts.dev, resume_ckpt, callbacks)
    if fitted is None:  # interrupted, or a DDP rank other than 0
        return path
    results = {**parts.results(fitted, path), **provenance()}
    return finish_classification_run(cfg, path, parts.task, fitted, parts.test, parts.labels, results, evaluate_test)
