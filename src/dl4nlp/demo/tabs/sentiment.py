"""Sentiment tab: one text box, every loaded sentiment run side by side (the ladder at a glance).

For each run: the predicted label and the class probabilities; for models that expose attention over
the words (attention pooling, transformer [CLS] attention), the words shaded by their weight.

Attention protocol: a classifier may define ``attention_weights(tokens [B,T], mask [B,T]) -> [B,T]``
(rows summing to 1 over the unmasked words), or set ``self.last_attention`` ([B,T]) in ``forward``.
Runs whose model has neither simply show no attention row. Tree models (:mod:`dl4nlp.pipelines.trees`) show their
phrase tree instead, every node coloured by its predicted sentiment, with a note when the tree is a balanced binary
tree over the tokens (no parser offline) rather than a parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, check_text, escape
from dl4nlp.demo.render import bar, guarded, table, weighted_tokens

TITLE = "Sentiment"
ORDER = 10
API_NAME = "sentiment"
EXAMPLES = ["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés.",
            "not bad at all, if a little long."]


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return results.get("task") in ("sentiment", "rating")  # rating runs: the label is the rating ("7.6 stars")


@dataclass
class SentimentModels:
    """The loaded runs (:mod:`dl4nlp.demo.scorers`), in ladder order, and their recorded scores."""

    scorers: list[Any]
    scores: list[dict[str, Any]] = field(default_factory=list)


def load(runs: list[Path], settings: DemoSettings) -> SentimentModels | None:
    if not runs:
        return None
    from dl4nlp.core.runs import read_results
    from dl4nlp.demo.scorers import ladder_position, load_scorer
    from dl4nlp.demo.tabs import load_each

    device = settings.torch_device()
    loaded = load_each(runs, lambda r: load_scorer(r, device), TITLE)
    loaded.sort(key=lambda pair: ladder_position(pair[0]))
    if not loaded:
        return None
    return SentimentModels([s for _, s in loaded], [read_results(r) or {} for r, _ in loaded])


def predict_all(models: SentimentModels, text: str) -> list[dict[str, Any]]:
    """Every model's prediction for one (already checked) text: run, model, label, probabilities,
    the words the model saw and their attention weights (``None`` if the model has no attention)."""
    from dataclasses import asdict

    return [asdict(s.score(text)) for s in models.scorers]


def render(text: str, preds: list[dict[str, Any]], scores: list[dict[str, Any]]) -> tuple[str, str]:
    """(predictions table HTML, attention HTML); every user-derived string is escaped."""
    shown = text if len(text) <= 300 else text[:300] + " …"
    rows = []
    for p, s in zip(preds, scores, strict=True):
        probs = "<br>".join(f"{escape(k)} {bar(v)}" for k, v in p["probabilities"].items())
        dev = f"{100 * s['dev_acc']:.1f}" if isinstance(s.get("dev_acc"), float) else "—"
        rows.append([escape(p["run"]), escape(p["model"]), dev,
                     f'<b class="prediction" data-run="{escape(p["run"])}">{escape(p["label"])}</b>', probs])
    pred_html = f'<p class="dl4nlp-input">Input: <q>{escape(shown)}</q></p>' + table(
        ["run", "model", "dev acc %", "label", "probabilities"], rows, "dl4nlp-sentiment")
    att_rows = [f'<p><b>{escape(p["run"])}</b> ({escape(p["model"])}): '
                f'{weighted_tokens(p["words"], p["attention"])}</p>'
                for p in preds if p["attention"] is not None]
    if att_rows:
        att_html = "<div class='dl4nlp-attention'><p>Attention over the words (darker = more weight):</p>" \
                   + "".join(att_rows) + "</div>"
    else:
        att_html = "<p>No loaded model exposes attention over words (train an attention-pooling or " \
                   "transformer run to see it here).</p>"
    return pred_html, att_html + tree_figures(preds)


def tree_figures(preds: list[dict[str, Any]]) -> str:
    """Tree models' phrase trees (every node's predicted sentiment), each with its caveat when the tree is a
    balanced binary tree over the tokens rather than a parse."""
    figs = []
    for p in preds:
        if not p.get("image"):
            continue
        note = f'<br><span class="tree-note">{escape(p["note"])}</span>' if p.get("note") else ""
        figs.append(f'<figure class="sentiment-tree" data-run="{escape(p["run"])}"><img src="{escape(p["image"])}" '
                    f'alt="phrase tree of {escape(p["run"])}" style="max-width:100%">'
                    f'<figcaption><b>{escape(p["run"])}</b> ({escape(p["model"])}): every phrase\'s predicted '
                    f"sentiment{note}</figcaption></figure>")
    return "".join(figs)


def analyse(models: SentimentModels, text: str, max_chars: int) -> tuple[str, str]:
    text = check_text(text, max_chars)
    return render(text, predict_all(models, text), models.scores)


def build(models: SentimentModels, settings: DemoSettings) -> None:
    import gradio as gr

    n = len(models.scorers)
    gr.Markdown(f"Type a sentence; each of the {n} loaded sentiment model(s) labels it.")
    with gr.Row():
        box = gr.Textbox(label="Sentence", lines=2, placeholder=EXAMPLES[0], elem_id="sentiment-input",
                         scale=4)
        go = gr.Button("Classify", variant="primary", elem_id="sentiment-submit", scale=1)
    result = gr.HTML(elem_id="sentiment-output")
    attention = gr.HTML(elem_id="sentiment-attention")
    gr.Examples(EXAMPLES, inputs=box)

    def classify(text: str) -> tuple[str, str]:
        return analyse(models, text, settings.max_chars)

    handler = guarded(classify, 2, "sentiment")
    go.click(handler, box, [result, attention], api_name=API_NAME)
    box.submit(handler, box, [result, attention], api_visibility="private")
