"""Run folders: the unit users keep and share.

::

    runs/<name>/
      config.yaml          everything needed to rebuild the experiment
      vocab.json labels.json
      best.ckpt last.ckpt  Lightning checkpoints (atomic writes; loaded with weights_only=True)
      metrics.csv tensorboard/
      results.json         dev/test scores, parameters, wall time, machine, date (written last)
      learning_curves.png confusion_matrix.png

A run without ``results.json`` is unfinished: ``dl4nlp train --resume RUN`` continues it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from dl4nlp.core.config import ExperimentConfig, dump_yaml, from_dict, read_yaml
from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.core.io import write_json, write_text

_MADE_HERE: list[Path] = []  # run folders this process created (see discard_unstarted_runs)
STARTED = ("last.ckpt", "best.ckpt", "results.json")  # a folder holding one of these has something to keep


def free_name(root: str | Path, name: str) -> Path:
    """``root/name``, or ``root/name-2``, ``-3``… when the name is taken: a path where nothing exists yet."""
    root = Path(root)
    path, n = root / name, 2
    while path.exists():
        path, n = root / f"{name}-{n}", n + 1
    return path


def fresh_folder(root: str | Path, name: str) -> Path:
    """A new folder at :func:`free_name` ``(root, name)`` (never an existing one)."""
    path = free_name(root, name)
    path.mkdir(parents=True)
    return path


def unfinished_run(run: str | Path) -> Path:
    """``run`` as a :class:`Path` when it is a run folder that has not finished; a :class:`RunError` when the
    folder does not exist or holds ``results.json`` (resuming would rewrite a finished run's results)."""
    path = Path(run)
    if not path.is_dir():
        raise RunError(f"{run}: run folder not found")
    if (path / "results.json").is_file():
        raise RunError(f"{run}: this run has finished (results.json); train a new run instead of resuming it")
    return path


def new_run_dir(cfg: ExperimentConfig) -> Path:
    """A fresh folder ``<run.dir>/<name>``; ``-2``, ``-3``… are appended if the name is taken."""
    path = fresh_folder(cfg.run.dir, cfg.run_name())
    _MADE_HERE.append(path)
    return path


def discard_unstarted_runs() -> list[Path]:
    """Remove the run folders this process created that hold no checkpoint and no results yet: after an
    input or config error found once the folder existed, nothing half-written stays behind. Returns them."""
    import shutil

    removed = []
    while _MADE_HERE:
        path = _MADE_HERE.pop()
        if path.is_dir() and not any((path / name).exists() for name in STARTED):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def run_state(path: Path) -> str:
    """Where a run (or a stage) folder stands: ``finished`` (results.json), ``resumable`` (last.ckpt: continue
    from it) or ``new``. A folder left by a run killed before its first checkpoint holds nothing to keep: it
    is removed, so the run can be trained again under its own name."""
    import shutil

    if (path / "results.json").is_file():
        return "finished"
    if (path / "last.ckpt").is_file():
        return "resumable"
    if path.is_dir():
        shutil.rmtree(path)
    return "new"


def save_config(run_dir: Path, cfg: ExperimentConfig) -> None:
    write_text(run_dir / "config.yaml", dump_yaml(cfg))


def load_config(run_dir: str | Path) -> ExperimentConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run folder not found")
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise RunError(f"{run_dir}: not a run folder (no config.yaml)")
    raw = read_yaml(cfg_path)
    if isinstance(raw, dict) and {"general", "classifier"} <= raw.keys():
        raise RunError(f"{run_dir}: a transfer (ULMFiT) run folder: its models are in 1-general-lm/, 2-target-lm/ "
                       f"and 3-classifier/; continue an unfinished one with: dl4nlp transfer --resume {run_dir}")
    return from_dict(raw, str(cfg_path))


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    write_json(run_dir / "results.json", results)


def read_results(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        return None
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: invalid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: cannot read ({exc})") from None
    if not isinstance(res, dict):
        raise RunError(f"{path}: expected a JSON object of results, got a {type(res).__name__}")
    return res


def load_state_dict(run_dir: str | Path, which: str = "best") -> dict[str, Any]:
    """The model weights of ``best.ckpt`` (or ``last.ckpt``), with the task's ``model.`` prefix removed."""
    from dl4nlp.core.io import torch_load

    path = Path(run_dir) / f"{which}.ckpt"
    if not path.is_file():
        raise RunError(f"{path}: checkpoint not found (is the run finished?)")
    ckpt = torch_load(path)
    state = ckpt.get("state_dict", ckpt)
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")} or state


def load_weights(model: Any, run_dir: str | Path, state: dict[str, Any] | None = None, which: str = "best") -> Any:
    """Put a run's weights (``state``, or :func:`load_state_dict` of ``which``) into ``model`` and switch it
    to eval mode; a clear error when the checkpoint does not fit the model its config describes."""
    if state is None:
        state = load_state_dict(run_dir, which)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise RunError(f"{run_dir}: checkpoint does not match the config's model ({exc})") from None
    return model.eval()


# --------------------------------------------------------------------------- leaderboard

COLUMNS = ["run", "task", "model", "dataset", "phrases", "dev_acc", "test_acc", "dev_f1", "test_f1", "params",
           "train_time_s", "hyper_parameters"]
RATING_SCORES = ("dev_mae", "test_mae", "test_rmse", "test_spearman")  # rating runs: shown as they are (3 decimals)
COLUMNS += RATING_SCORES
COLUMNS += ["dev_bleu", "test_bleu", "dev_ppl", "test_ppl"]  # translation (sacreBLEU) and language models


def find_runs(root: str | Path) -> list[Path]:
    root = Path(root)
    if (root / "results.json").is_file():
        return [root]
    return sorted(p.parent for p in root.glob("**/results.json"))


def leaderboard_row(run: Path) -> dict[str, Any]:
    """One run's leaderboard row; a :class:`RunError` naming its results.json when that cannot be read or a
    score in it is not a number."""
    res = read_results(run) or {}
    row = {c: res.get(c, "") for c in COLUMNS}
    row["run"] = run.name
    for key in (*SCORES, *RATING_SCORES, "params", "train_time_s"):
        if row[key] not in ("", None) and (isinstance(row[key], bool) or not isinstance(row[key], int | float)):
            raise RunError(f"{run / 'results.json'}: '{key}' must be a number, got {row[key]!r}")
    hp = res.get("hyper_parameters") or {}
    if not isinstance(hp, dict):
        raise RunError(f"{run / 'results.json'}: 'hyper_parameters' must be an object, got {hp!r}")
    row["hyper_parameters"] = " ".join(f"{k}={v}" for k, v in hp.items())
    return row


def leaderboard_rows(root: str | Path) -> list[dict[str, Any]]:
    """The rows of every run under ``root``; a run whose results.json is broken is left out with a warning on
    stderr naming it, so one bad run does not block the table."""
    import sys

    rows = []
    for run in find_runs(root):
        try:
            rows.append(leaderboard_row(run))
        except RunError as exc:
            print(f"warning: skipped {run}: {exc}", file=sys.stderr)
    rows.sort(key=lambda r: (str(r["task"]), str(r["dataset"]),
                             r["dev_mae"] if r["task"] == "rating" and r["dev_mae"] != "" else -(r["dev_acc"] or 0)))
    return rows


SCORES = ("dev_acc", "test_acc", "dev_f1", "test_f1")  # fractions in results.json, percentages on the board


def _fmt(key: str, v: Any) -> str:
    if isinstance(v, float):
        if key in RATING_SCORES:
            return f"{v:.3f}"
        return f"{100 * v:.2f}" if key in SCORES else f"{v:.1f}"
    return str(v)


def leaderboard_markdown(rows: list[dict[str, Any]]) -> str:
    head = ["run", "model", "dataset", "phrases", "dev acc", "test acc", "dev F1", "test F1", "params", "time (s)",
            "hyper-parameters"]
    keys = ["run", "model", "dataset", "phrases", "dev_acc", "test_acc", "dev_f1", "test_f1", "params",
            "train_time_s", "hyper_parameters"]
    if any(r.get("test_mae") not in ("", None) or r.get("dev_mae") not in ("", None) for r in rows):
        head[-3:-3], keys[-3:-3] = ["dev MAE", "test MAE", "test RMSE", "test Spearman"], list(RATING_SCORES)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(k, r[k]) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def leaderboard_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_leaderboard(root: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path, list[dict]]:
    rows = leaderboard_rows(root)
    out = Path(out_dir or root)
    try:
        md = write_text(out / "leaderboard.md", leaderboard_markdown(rows))
        cs = write_text(out / "leaderboard.csv", leaderboard_csv(rows))
    except OSError as exc:
        raise RunError(f"{out}: cannot write the leaderboard there ({exc.strerror or exc}); give another --out") \
            from None
    return md, cs, rows


SPLITS = ("train", "dev", "test")


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(f"--split: unknown split '{split}' (use {', '.join(SPLITS)})")
    return split


def run_model_name(run_dir: str | Path) -> str | None:
    """``model.name`` of a run folder's config, or None when the folder holds no config.yaml."""
    if not (Path(run_dir) / "config.yaml").is_file():
        return None
    return load_config(run_dir).model_name


def split_scores(run_dir: str | Path, run_name: str, split: str, preds: Any, gold: Any, num_classes: int,
                 seconds: float) -> dict[str, Any]:
    """What ``dl4nlp evaluate`` prints for a classifier: accuracy and macro-F1 of ``preds`` against ``gold``
    (tensors [N]) next to the scores recorded in the run's results.json for that split."""
    from torchmetrics.functional import accuracy, f1_score

    return {
        "run": run_name,
        "split": split,
        "examples": len(gold),
        "accuracy": float(accuracy(preds, gold, task="multiclass", num_classes=num_classes)),
        "macro_f1": float(f1_score(preds, gold, task="multiclass", num_classes=num_classes, average="macro")),
        "seconds": round(seconds, 3),
        "recorded": {k: v for k, v in (read_results(run_dir) or {}).items() if k.startswith(split)},
    }
