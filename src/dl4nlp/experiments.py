"""Dispatch a config to the pipeline that trains it (:func:`dl4nlp.pipelines.pipeline_for_model`)."""

from __future__ import annotations

from pathlib import Path

from dl4nlp.core.config import ExperimentConfig
from dl4nlp.core.errors import ConfigError


def train_any(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True) -> Path:
    """Train ``cfg`` with the pipeline that owns ``model.name``; ``evaluate_test=False`` leaves test unread."""
    from dl4nlp.pipelines import pipeline_for_model

    pipe = pipeline_for_model(cfg.model_name)
    if cfg.data.changed(("augment",)) and pipe.name != "captioning":
        raise ConfigError(f"data.augment: only for image captioning models, not '{cfg.model_name}'")
    return pipe.train(cfg, resume=resume, evaluate_test=evaluate_test)


def ladder_run_state(cfg: ExperimentConfig) -> tuple[str, Path]:
    """Where the ladders stand with the run ``<run.dir>/<run.name>`` (:func:`dl4nlp.core.runs.run_state`):
    ``finished`` (kept), ``resumable`` (continue it with ``train_any(cfg, resume=path)``) or ``new`` (a folder
    left by a run killed before its first checkpoint is removed, so the run is trained again under its own
    name instead of beside it as ``<name>-2``)."""
    from dl4nlp.core.runs import load_config, run_state

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
