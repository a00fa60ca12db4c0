"""Translation tab: a source sentence; every loaded translation run's output (greedy or beam search, beam size
range-checked) side by side, and the source x target attention heatmap of the run picked under "Heatmap of".
For the from-scratch transformer (``seq2seq_transformer``) a layer and head selector shows that head's
cross-attention (layer 0 = the last layer, head 0 = the mean over heads: the alignment the pipeline reports).

Runs with ``task: translation`` in ``results.json`` (:mod:`dl4nlp.pipelines.translation`), on CPU.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, InputError, check_text, escape
from dl4nlp.demo.render import guarded, table

TITLE = "Translation"
ORDER = 47
API_NAME = "translate"
EXAMPLE = "Ein Mann fährt Fahrrad auf einer Straße."
MAX_BEAM = 10
MAX_HEATMAP_TOKENS = 80  # a longer source or translation is not drawn (the figure grows with the words)
DECODING = ("greedy", "beam")


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return results.get("task") == "translation"


@dataclass
class TranslationRun:
    """One loaded run: its :class:`~dl4nlp.pipelines.translation.Translator`, name, model, scores."""

    name: str
    model_name: str
    direction: str
    translator: Any
    scores: dict[str, Any]

    def shape(self) -> tuple[int, int] | None:
        """(decoder layers, heads) of a transformer whose every head can be shown, else None."""
        model = self.translator.model
        o = getattr(model, "opts", None)
        if not hasattr(model, "attention_maps") or getattr(o, "impl", "scratch") != "scratch":
            return None
        return int(o.dec_layers or o.layers), int(o.heads)


@dataclass
class TranslationModels:
    runs: list[TranslationRun]
    out_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dl4nlp-demo-")))
    plot_lock: threading.Lock = field(default_factory=threading.Lock)  # pyplot is not thread-safe

    def by_name(self, name: str | None) -> TranslationRun:
        for r in self.runs:
            if r.name == name:
                return r
        raise InputError(f"heatmap: unknown run '{name}' (loaded: {', '.join(r.name for r in self.runs)})")

    def max_shape(self) -> tuple[int, int] | None:
        shapes = [s for s in (r.shape() for r in self.runs) if s is not None]
        return (max(s[0] for s in shapes), max(s[1] for s in shapes)) if shapes else None


def load(runs: list[Path], settings: DemoSettings) -> TranslationModels | None:
    if not runs:
        return None
    from dl4nlp.core.runs import read_results
    from dl4nlp.demo.tabs import load_each
    from dl4nlp.pipelines.translation import load_translator

    loaded = load_each(runs, load_translator, TITLE)
    if not loaded:
        return None
    return TranslationModels([TranslationRun(run.name, cfg.model_name, cfg.data.direction, tr, read_results(run) or {})
                              for run, (tr, cfg) in loaded])


def check_beam(decoding: str | None, beam: Any) -> int:
    """The beam size to decode with: 1 for greedy; for beam search an integer from 1 to :data:`MAX_BEAM`."""
    if decoding not in DECODING:
        raise InputError(f"decoding: '{decoding}' is not one of {', '.join(DECODING)}")
    if decoding == "greedy":
        return 1
    ok = isinstance(beam, int | float) and not isinstance(beam, bool) and float(beam).is_integer()
    if not ok or not 1 <= int(beam) <= MAX_BEAM:
        raise InputError(f"beam size: {beam} is not a whole number from 1 to {MAX_BEAM}")
    return int(beam)


def translate(run: TranslationRun, text: str, beam: int) -> dict[str, Any]:
    """One run's translation: ``translation``, ``source`` / ``target`` tokens and the decoded ``ids``."""
    from dl4nlp.data.parallel import tokenize

    tr = run.translator
    source = tokenize(text, tr.src_lang, tr.lowercase)
    if not source:
        raise InputError("the sentence has no tokens to translate")
    try:
        ids = tr.translate_tokens([source], beam)[0]
    except ValueError as exc:  # e.g. a sentence longer than a learned position table
        raise InputError(f"{run.name} cannot translate this sentence ({len(source)} tokens): {exc}") from None
    target, translation = tr.words(ids)
    return {"run": run.name, "translation": translation, "source": source, "target": target, "ids": ids}


def head_attention(run: TranslationRun, out: dict[str, Any], layer: int, head: int
                   ) -> tuple[list[list[float]] | None, str]:
    """([target tokens + <eos>] x [source tokens] weights, what they are). ``layer`` 0 = the last, 1..L;
    ``head`` 0 = the mean over heads, 1..H. Recurrent runs have one attention and ignore both."""
    import torch

    tr = run.translator
    shape = run.shape()
    if shape is None:
        att = tr.attention(out["source"], out["ids"])
        return att, "attention"
    layers, heads = shape
    if not 0 <= layer <= layers:
        raise InputError(f"layer: {run.name} has {layers} decoder layers (0 = the last, 1 to {layers})")
    if not 0 <= head <= heads:
        raise InputError(f"head: {run.name} has {heads} heads (0 = the mean over heads, 1 to {heads})")
    from dl4nlp.data.parallel import encode_source, source_batch

    b = source_batch([encode_source(out["source"], tr.src_vocab)])
    tgt_in = torch.tensor([[tr.special["sos"], *out["ids"]]])  # [1, T]
    with torch.inference_mode():
        cross = tr.model.attention_maps(b["src"], b["src_mask"], tgt_in)["cross"]  # layers x [1, H, T, S]
    maps = cross[(layer or layers) - 1][0]  # [H, T, S]
    weights = maps.mean(0) if head == 0 else maps[head - 1]  # [T, S]
    what = f"layer {layer or layers}, " + ("mean over heads" if head == 0 else f"head {head}")
    return weights.tolist(), f"cross-attention, {what}"


def analyse(models: TranslationModels, text: str, decoding: str, beam: Any, shown: str | None, layer: Any,
            head: Any, max_chars: int) -> tuple[str, str | None]:
    """(HTML table of every run's translation; heatmap PNG of run ``shown``, or None without attention)."""
    sentence = check_text(text, max_chars, "sentence")
    k = check_beam(decoding, beam)
    pick = models.by_name(shown)
    outs = [translate(r, sentence, k) for r in models.runs]
    rows = []
    for r, o in zip(models.runs, outs, strict=True):
        bleu = f"{r.scores['dev_bleu']:.1f}" if isinstance(r.scores.get("dev_bleu"), int | float) else "—"
        name = escape(r.name)
        rows.append([name, escape(r.model_name), escape(r.direction), bleu,
                     f'<b class="translation" data-run="{name}">{escape(o["translation"])}</b>'])
    how = "greedy" if k == 1 else f"beam search, beam {k}"
    html = (f'<p class="dl4nlp-input">Source: <q>{escape(sentence)}</q> ({how})</p>'
            + table(["run", "model", "direction", "dev BLEU", "translation"], rows, "dl4nlp-translation"))
    out = outs[models.runs.index(pick)]
    weights, what = head_attention(pick, out, int(layer or 0), int(head or 0))
    if weights is not None and max(len(out["source"]), len(out["target"]) + 1) > MAX_HEATMAP_TOKENS:
        return html + (f"<p>No heatmap: {len(out['source'])} source x {len(out['target']) + 1} target tokens is more "
                       f"than {MAX_HEATMAP_TOKENS} a side (shorter sentences are drawn).</p>"), None
    if weights is None:
        return html + f"<p>{escape(pick.name)} ({escape(pick.model_name)}) has no attention to show.</p>", None
    from dl4nlp.analysis.plots import attention_heatmap

    fd, png = tempfile.mkstemp(suffix=".png", dir=models.out_dir)
    os.close(fd)
    with models.plot_lock:
        attention_heatmap(weights, [*out["target"], "<eos>"], out["source"], png,
                          title=f"{pick.name}: {what}", xlabel="source", ylabel="translation")
    return html + f'<p class="translation-heatmap-caption">Heatmap: {escape(pick.name)}, {escape(what)}.</p>', png


def build(models: TranslationModels, settings: DemoSettings) -> None:
    import gradio as gr

    names = [r.name for r in models.runs]
    default_beam = max(1, min(MAX_BEAM, int(getattr(getattr(models.runs[0].translator.model, "opts", None),
                                                    "beam_size", 5) or 5)))
    gr.Markdown("Type a sentence in the source language; each loaded translation model translates it. The heatmap "
                "shows which source words the decoder attended to for each output word.")
    text = gr.Textbox(label="Source sentence", value=EXAMPLE, lines=2, elem_id="translation-input",
                      max_length=settings.max_chars)
    with gr.Row():
        decoding = gr.Radio(list(DECODING), value="greedy", label="Decoding", elem_id="translation-decoding")
        beam = gr.Slider(1, MAX_BEAM, value=default_beam, step=1, label="Beam size", elem_id="translation-beam")
        shown = gr.Dropdown(names, value=names[0], label="Heatmap of", elem_id="translation-run")
    shape = models.max_shape()
    with gr.Row(visible=shape is not None):
        layers, heads = shape or (1, 1)
        layer = gr.Slider(0, layers, value=0, step=1, label="Layer (transformer; 0 = last)",
                          elem_id="translation-layer")
        head = gr.Slider(0, heads, value=0, step=1, label="Head (transformer; 0 = mean over heads)",
                         elem_id="translation-head")
    go = gr.Button("Translate", variant="primary", elem_id="translation-submit")
    out = gr.HTML(elem_id="translation-output")
    heatmap = gr.Image(label="Source x target attention", interactive=False, elem_id="translation-heatmap")

    def handler(t: str, d: str, b: Any, s: str, la: Any, h: Any) -> tuple[str, str | None]:
        return analyse(models, t, d, b, s, la, h, settings.max_chars)

    go.click(guarded(handler, 2, "translation"), [text, decoding, beam, shown, layer, head], [out, heatmap],
             api_name=API_NAME)
