"""Named-entity tab: a sentence; every loaded NER run's entities highlighted in it (a colour per type) and listed
with their token spans.

Runs with ``task: ner`` in ``results.json`` (:mod:`dl4nlp.pipelines.tagging`), on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, check_text, escape
from dl4nlp.demo.render import guarded, table

TITLE = "Named entities"
ORDER = 42
API_NAME = "ner"
EXAMPLE = "Angela Merkel met Emmanuel Macron in Paris to talk about the European Union and Airbus."
COLOURS = {"PER": "#fde68a", "ORG": "#bfdbfe", "LOC": "#bbf7d0", "MISC": "#fbcfe8"}


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return results.get("task") == "ner"


@dataclass
class NERModels:
    taggers: list[Any]
    scores: list[dict[str, Any]]


def load(runs: list[Path], settings: DemoSettings) -> NERModels | None:
    if not runs:
        return None
    from dl4nlp.core.runs import read_results
    from dl4nlp.demo.tabs import load_each
    from dl4nlp.pipelines.tagging import TaggerPredictor

    loaded = load_each(runs, TaggerPredictor, TITLE)
    if not loaded:
        return None
    return NERModels([t for _, t in loaded], [read_results(run) or {} for run, _ in loaded])


def highlight(tokens: list[str], entities: list[dict[str, Any]]) -> str:
    """The tokens, escaped and joined by spaces, each entity in a ``<mark>`` coloured by its type."""
    starts = {e["start"]: e for e in entities}
    out, i = [], 0
    while i < len(tokens):
        e = starts.get(i)
        if e is None:
            out.append(escape(tokens[i]))
            i += 1
            continue
        colour = COLOURS.get(e["type"], "#e5e7eb")
        words = escape(" ".join(tokens[e["start"]: e["end"] + 1]))
        out.append(f'<mark class="ner-entity" data-type="{escape(e["type"])}" style="background:{colour}">'
                   f'{words} <sub>{escape(e["type"])}</sub></mark>')
        i = e["end"] + 1
    return " ".join(out)


def analyse(models: NERModels, text: str, max_chars: int) -> str:
    """HTML: per run, the sentence with its entities marked, then a table of every run's entities."""
    sentence = check_text(text, max_chars, "sentence")
    marked, rows = [], []
    for tagger, s in zip(models.taggers, models.scores, strict=True):
        [pred] = tagger.predict([sentence])
        name = escape(tagger.run_dir.name)
        f1 = f"{100 * s['dev_f1']:.1f}" if isinstance(s.get("dev_f1"), float) else "—"
        marked.append(f'<p class="ner-run" data-run="{name}"><b>{name}</b> ({escape(tagger.cfg.model_name)}, '
                      f'dev F1 {f1}): {highlight(pred.extra["tokens"], pred.extra["entities"])}</p>')
        rows += [[name, escape(e["type"]), f'{e["start"]}-{e["end"]}', escape(e["text"])]
                 for e in pred.extra["entities"]]
    return "".join(marked) + table(["run", "type", "tokens", "entity"], rows, "dl4nlp-ner")


def build(models: NERModels, settings: DemoSettings) -> None:
    import gradio as gr

    gr.Markdown("Which words name a person (PER), an organisation (ORG), a location (LOC) or something else "
                "(MISC)?")
    text = gr.Textbox(label="Sentence", value=EXAMPLE, elem_id="ner-input", max_length=settings.max_chars)
    go = gr.Button("Tag", variant="primary", elem_id="ner-submit")
    out = gr.HTML(elem_id="ner-output")

    def handler(t: str) -> str:
        return analyse(models, t, settings.max_chars)

    go.click(guarded(handler, 1, "ner"), [text], [out], api_name=API_NAME)
