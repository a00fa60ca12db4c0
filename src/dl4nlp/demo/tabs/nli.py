"""NLI tab: a premise and a hypothesis; every loaded NLI run's label with probabilities, and the attention
heatmap (a fine-tuned transformer's last-layer [CLS] attention over the word pieces of the pair, one row
per head; or a recurrent word-by-word attention run's premise x hypothesis map).

Runs with ``task: nli`` in ``results.json``, loaded through :func:`dl4nlp.demo.scorers.load_scorer`
(transformer runs of :mod:`dl4nlp.pipelines.finetune`, recurrent runs of :mod:`dl4nlp.pipelines.nli`); a new
NLI model family plugs in by giving that function a scorer for its runs (``score("premise\\thypothesis") -> Scored``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, check_text, escape
from dl4nlp.demo.render import bar, guarded, table, weighted_tokens

TITLE = "NLI"
ORDER = 40
API_NAME = "nli"
EXAMPLE = ("A man is playing a guitar on stage.", "A person is performing music.")


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return results.get("task") == "nli"


@dataclass
class NLIModels:
    scorers: list[Any]
    scores: list[dict[str, Any]]
    out_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dl4nlp-demo-")))
    plot_lock: threading.Lock = field(default_factory=threading.Lock)  # pyplot is not thread-safe


def load(runs: list[Path], settings: DemoSettings) -> NLIModels | None:
    if not runs:
        return None
    from dl4nlp.core.runs import read_results
    from dl4nlp.demo.scorers import load_scorer
    from dl4nlp.demo.tabs import load_each

    device = settings.torch_device()
    loaded = load_each(runs, lambda r: load_scorer(r, device), TITLE)
    if not loaded:
        return None
    return NLIModels([s for _, s in loaded], [read_results(r) or {} for r, _ in loaded])


def predict_all(models: NLIModels, premise: str, hypothesis: str, max_chars: int) -> list[dict[str, Any]]:
    p = check_text(premise, max_chars, "premise").replace("\t", " ")
    h = check_text(hypothesis, max_chars, "hypothesis").replace("\t", " ")
    return [asdict(s.score(f"{p}\t{h}")) for s in models.scorers]


def analyse(models: NLIModels, premise: str, hypothesis: str, max_chars: int) -> tuple[str, str | None]:
    """(HTML with labels, probabilities and [CLS] attention; heatmap PNG of the first run with heads)."""
    preds = predict_all(models, premise, hypothesis, max_chars)
    rows = []
    for p, s in zip(preds, models.scores, strict=True):
        probs = "<br>".join(f"{escape(k)} {bar(v)}" for k, v in p["probabilities"].items())
        dev = f"{100 * s['dev_acc']:.1f}" if isinstance(s.get("dev_acc"), float) else "—"
        rows.append([escape(p["run"]), escape(p["model"]), dev,
                     f'<b class="nli-label" data-run="{escape(p["run"])}">{escape(p["label"])}</b>', probs])
    html = (f'<p class="dl4nlp-input">Premise: <q>{escape(premise.strip())}</q><br>'
            f"Hypothesis: <q>{escape(hypothesis.strip())}</q></p>"
            + table(["run", "model", "dev acc %", "label", "probabilities"], rows, "dl4nlp-nli"))
    for p in preds:
        if p["attention"] is not None:
            what = "[CLS] attention, mean over heads"
            if p["model"].startswith("nli_"):  # recurrent NLI runs (dl4nlp.pipelines.nli)
                what = "attention over the premise" + (", mean over hypothesis words" if p.get("rows") else "")
            html += (f'<p><b>{escape(p["run"])}</b> {what}: '
                     f'{weighted_tokens(p["words"], p["attention"])}</p>')
    first = next((p for p in preds if p.get("heads")), None)
    if first is None:
        return html, None
    from dl4nlp.analysis import plots

    fd, out = tempfile.mkstemp(suffix=".png", dir=models.out_dir)
    os.close(fd)
    with models.plot_lock:
        if first.get("rows"):  # word-by-word attention of a recurrent NLI run: hypothesis x premise
            plots.attention_heatmap(first["heads"], first["rows"], first["words"], out,
                                    f"{first['run']}: word-by-word attention -> {first['label']}",
                                    xlabel="premise", ylabel="hypothesis")
        else:
            heads = [f"head {i + 1}" for i in range(len(first["heads"]))]
            plots.attention_heatmap(first["heads"], heads, first["words"], out,
                                    f"{first['run']}: [CLS] attention, last layer -> {first['label']}",
                                    xlabel="word pieces")
    return html, out


def build(models: NLIModels, settings: DemoSettings) -> None:
    import gradio as gr

    gr.Markdown("Does the premise entail the hypothesis, contradict it, or neither?")
    premise = gr.Textbox(label="Premise", value=EXAMPLE[0], elem_id="nli-premise", max_length=settings.max_chars)
    hypothesis = gr.Textbox(label="Hypothesis", value=EXAMPLE[1], elem_id="nli-hypothesis",
                            max_length=settings.max_chars)
    go = gr.Button("Classify", variant="primary", elem_id="nli-submit")
    out = gr.HTML(elem_id="nli-output")
    heatmap = gr.Image(label="Attention heatmap", interactive=False, elem_id="nli-heatmap")

    def handler(p: str, h: str) -> tuple[str, str | None]:
        return analyse(models, p, h, settings.max_chars)

    go.click(guarded(handler, 2, "nli"), [premise, hypothesis], [out, heatmap], api_name=API_NAME)
