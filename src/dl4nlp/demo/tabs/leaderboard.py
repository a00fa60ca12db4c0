"""Leaderboard tab: the leaderboard table of the loaded runs and their learning-curve plots.

Shown for every finished run (any run with ``results.json``), whatever its task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings

TITLE = "Leaderboard"
ORDER = 90
MAX_CURVES = 12  # learning-curve plots shown (in the order of the runs given)
HEADERS = ["run", "task", "model", "dataset", "dev acc %", "test acc %", "dev F1 %", "test F1 %", "params",
           "train time (s)", "hyper-parameters"]
KEYS = ["run", "task", "model", "dataset", "dev_acc", "test_acc", "dev_f1", "test_f1", "params",
        "train_time_s", "hyper_parameters"]
#: task-specific scores, shown as extra columns when a loaded run has them (before "params")
EXTRA = [("dev_ppl", "dev ppl"), ("test_ppl", "test ppl"), ("dev_bleu4", "dev BLEU-4"),
         ("test_bleu4", "test BLEU-4")]


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return bool(results)


@dataclass
class Board:
    headers: list[str]
    rows: list[list[Any]]
    curves: list[tuple[str, str]]  # (png path, caption)


def _cell(key: str, value: Any) -> Any:
    if key in ("dev_acc", "test_acc", "dev_f1", "test_f1") and isinstance(value, float):
        return round(100 * value, 2)
    if key.endswith(("_ppl", "_bleu4")) and isinstance(value, float):
        return round(value, 2)
    return "" if value is None else value


def load(runs: list[Path], settings: DemoSettings) -> Board | None:
    if not runs:
        return None
    from dl4nlp.core.runs import leaderboard_rows, read_results

    rows: list[dict[str, Any]] = []
    for run in runs:
        res = read_results(run) or {}
        for row in leaderboard_rows(run):
            row.update({k: res[k] for k, _ in EXTRA if isinstance(res.get(k), int | float)})
            rows.append(row)
    rows.sort(key=lambda r: (str(r["task"]), str(r["dataset"]), -(r["dev_acc"] or 0)))
    extra = [(k, h) for k, h in EXTRA if any(k in r for r in rows)]
    at = KEYS.index("params")
    keys = KEYS[:at] + [k for k, _ in extra] + KEYS[at:]
    headers = HEADERS[:at] + [h for _, h in extra] + HEADERS[at:]
    table = [[_cell(k, r.get(k, "")) for k in keys] for r in rows]
    curves = [(str(run / "learning_curves.png"), run.name) for run in runs
              if (run / "learning_curves.png").is_file()]
    return Board(headers, table, curves)


def build(board: Board, settings: DemoSettings) -> None:
    import gradio as gr

    gr.Markdown("Scores recorded in each run's `results.json` (best dev checkpoint), best dev accuracy "
                "first.")
    gr.Dataframe(value=board.rows, headers=board.headers, interactive=False, elem_id="leaderboard-table",
                 wrap=True)
    if board.curves:
        gr.Markdown("### Learning curves")
        for i in range(0, min(len(board.curves), MAX_CURVES), 2):
            with gr.Row():
                for path, name in board.curves[i : i + 2]:
                    gr.Image(value=path, label=name, interactive=False, elem_classes=["leaderboard-curve"],
                             buttons=["download", "fullscreen"])
