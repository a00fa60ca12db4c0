"""Dispatch a config to the pipeline that trains it (sentiment classifier, NLI, language model, ...).

A new task family adds one entry to :data:`PIPELINES`: model names it owns -> ``"module:function"``
with the signature ``train(cfg, resume=None) -> run folder``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from dl4nlp import registry
from dl4nlp.config import ExperimentConfig
from dl4nlp.errors import ConfigError

#: model name -> training function; models not listed here are sentence classifiers
PIPELINES: dict[str, str] = {
    "lstm_lm": "dl4nlp.pipelines.language_model:train_lm",
    "gru_lm": "dl4nlp.pipelines.language_model:train_lm",
    "transformer": "dl4nlp.pipelines.finetune:train_transformer",
    "transformer-features": "dl4nlp.pipelines.finetune:train_features",
    "show_attend_tell": "dl4nlp.pipelines.captioning:train_captioner",
    "show_and_tell": "dl4nlp.pipelines.captioning:train_captioner",
    "nli_conditional": "dl4nlp.pipelines.nli:train_nli",
    "nli_attention": "dl4nlp.pipelines.nli:train_nli",
    "nli_word_by_word": "dl4nlp.pipelines.nli:train_nli",
}


def train_any(cfg: ExperimentConfig, resume: str | Path | None = None) -> Path:
    name = cfg.model_name
    if cfg.data.changed(("augment",)) and not PIPELINES.get(name, "").startswith("dl4nlp.pipelines.captioning:"):
        raise ConfigError(f"data.augment: only for image captioning models, not '{name}'")
    if name in PIPELINES:
        module, attr = PIPELINES[name].split(":")
        return getattr(importlib.import_module(module), attr)(cfg, resume=resume)
    if name not in registry.MODELS:
        known = sorted(set(registry.MODELS) | set(PIPELINES))
        raise ConfigError(f"model: unknown model '{name}' (known: {', '.join(known)})")
    from dl4nlp.pipelines.classification import train_classifier

    return train_classifier(cfg, resume=resume)


def ladder_run_state(cfg: ExperimentConfig) -> tuple[str, Path]:
    """Where the ladders stand with the run ``<run.dir>/<run.name>`` (:func:`dl4nlp.runs.run_state`):
    ``finished`` (kept), ``resumable`` (continue it with ``train_any(cfg, resume=path)``) or ``new`` (a folder
    left by a run killed before its first checkpoint is removed, so the run is trained again under its own
    name instead of beside it as ``<name>-2``)."""
    from dl4nlp.runs import load_config, run_state

    path = Path(cfg.run.dir) / cfg.run_name()
    state = run_state(path)
    if state != "new":  # keep or continue it only if it is this very experiment
        changed = settings_changed(load_config(path), cfg)
        if changed:
            shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
            raise ConfigError(f"{path}: this run folder holds a run with other settings ({shown}); give the "
                              "ladder another output folder (--out) or remove this one")
    return state, path


def settings_changed(saved: ExperimentConfig, cfg: ExperimentConfig) -> list[str]:
    """``key: saved -> new`` for every data / model / train setting and the seed that differ (the run folder,
    progress bar and devices may change between calls)."""
    def flat(c: ExperimentConfig) -> dict[str, object]:
        d = c.to_dict()
        return {**{f"{sec}.{k}": v for sec in ("data", "model", "train") for k, v in d[sec].items()},
                "run.seed": d["run"]["seed"]}

    old, new = flat(saved), flat(cfg)
    return [f"{k}: {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
