"""Question-answering tab: a passage and a question; every loaded QA run's answer with its score, the passage with
the answer span highlighted, and the recurrent reader's question-to-passage attention as a heatmap.

Runs with ``task: qa`` in ``results.json`` (:mod:`dl4nlp.pipelines.qa`: ``drqa`` and ``transformer_qa``), on CPU.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, check_text, escape
from dl4nlp.demo.render import bar, guarded, table

TITLE = "Question answering"
ORDER = 45
API_NAME = "qa"
EXAMPLE = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region "
           "in France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway.",
           "Where is Normandy?")


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return results.get("task") == "qa"


@dataclass
class QAModels:
    readers: list[Any]
    scores: list[dict[str, Any]]
    out_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dl4nlp-demo-")))
    plot_lock: threading.Lock = field(default_factory=threading.Lock)  # pyplot is not thread-safe


def load(runs: list[Path], settings: DemoSettings) -> QAModels | None:
    if not runs:
        return None
    from dl4nlp.core.runs import read_results
    from dl4nlp.demo.tabs import load_each
    from dl4nlp.pipelines.qa import QAPredictor

    loaded = load_each(runs, QAPredictor, TITLE)
    if not loaded:
        return None
    return QAModels([r for _, r in loaded], [read_results(run) or {} for run, _ in loaded])


def highlight(context: str, start: int, end: int) -> str:
    """The passage, escaped, with ``context[start:end]`` in a ``<mark>``."""
    if end <= start:
        return escape(context)
    return (f"{escape(context[:start])}<mark class=\"qa-answer\">{escape(context[start:end])}</mark>"
            f"{escape(context[end:])}")


def analyse(models: QAModels, context: str, question: str, max_chars: int) -> tuple[str, str | None]:
    """(HTML: one row per run with answer and score, each passage with its answer marked; heatmap PNG of the
    first recurrent run's attention, or None)."""
    from dl4nlp.data.squad import QAExample

    c = check_text(context, max_chars, "passage")
    q = check_text(question, max_chars, "question")
    rows, marked, first = [], [], None
    for reader, s in zip(models.readers, models.scores, strict=True):
        row = reader.answer([QAExample("0", q, c)], attention=reader.is_recurrent and first is None)[0]
        if "attention" in row:
            first = first or row
        f1 = f"{100 * s['dev_f1']:.1f}" if isinstance(s.get("dev_f1"), float) else "—"
        name = escape(reader.run_dir.name)
        rows.append([name, escape(reader.cfg.model_name), f1,
                     f'<b class="qa-label" data-run="{name}">{escape(row["answer"])}</b>', bar(row["score"])])
        marked.append(f"<p><b>{name}</b>: {highlight(c, row['start'], row['end'])}</p>")
    html = (f'<p class="dl4nlp-input">Question: <q>{escape(q)}</q></p>'
            + table(["run", "model", "dev F1 %", "answer", "score"], rows, "dl4nlp-qa") + "".join(marked))
    if first is None:
        return html, None
    from dl4nlp.pipelines.qa import attention_map

    fd, out = tempfile.mkstemp(suffix=".png", dir=models.out_dir)
    os.close(fd)
    with models.plot_lock:
        attention_map(first, out)
    return html, out


def build(models: QAModels, settings: DemoSettings) -> None:
    import gradio as gr

    gr.Markdown("Which span of the passage answers the question?")
    context = gr.Textbox(label="Passage", value=EXAMPLE[0], lines=5, elem_id="qa-context",
                         max_length=settings.max_chars)
    question = gr.Textbox(label="Question", value=EXAMPLE[1], elem_id="qa-question", max_length=settings.max_chars)
    go = gr.Button("Answer", variant="primary", elem_id="qa-submit")
    out = gr.HTML(elem_id="qa-output")
    heatmap = gr.Image(label="Question-to-passage attention (recurrent reader)", interactive=False,
                       elem_id="qa-heatmap")

    def handler(c: str, q: str) -> tuple[str, str | None]:
        return analyse(models, c, q, settings.max_chars)

    go.click(guarded(handler, 2, "qa"), [context, question], [out, heatmap], api_name=API_NAME)
