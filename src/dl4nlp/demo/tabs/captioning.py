"""Captioning tab: upload an image; the caption (beam search) and the attention grid (Xu et al. 2015).

Uses :class:`dl4nlp.pipelines.captioning.CaptionModel`; runs with ``task: captioning`` in ``results.json``. The
upload is checked by :func:`dl4nlp.demo.limits.check_image` (a real image, at most
``--max-image-pixels`` pixels) before any model sees it.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, InputError, check_image, escape
from dl4nlp.demo.render import guarded

TITLE = "Captioning"
ORDER = 50
API_NAME = "caption"


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return results.get("task") == "captioning"


@dataclass
class Captioners:
    models: dict[str, Any]  # run name -> dl4nlp.pipelines.captioning.CaptionModel
    bleu: dict[str, Any]
    out_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dl4nlp-demo-")))
    plot_lock: threading.Lock = field(default_factory=threading.Lock)  # pyplot is not thread-safe


def load(runs: list[Path], settings: DemoSettings) -> Captioners | None:
    if not runs:
        return None
    from dl4nlp.core.runs import read_results
    from dl4nlp.demo.tabs import load_each
    from dl4nlp.pipelines.captioning import CaptionModel

    models, bleu = {}, {}
    for run, model in load_each(runs, CaptionModel, TITLE):
        name = run.name if run.name not in models else f"{run.parent.name}/{run.name}"
        models[name] = model
        res = read_results(run) or {}
        bleu[name] = res.get("test_bleu4", res.get("test_bleu"))
    return Captioners(models, bleu) if models else None


def caption(caps: Captioners, run: str, upload: Any, beam: float, max_pixels: int) -> tuple[str, str | None]:
    """(caption HTML, attention-grid PNG path or None). ``upload``: a file path (or Gradio file object)."""
    path = getattr(upload, "name", upload)
    check_image(path, max_pixels)  # raises InputError with a clear message
    if run not in caps.models:
        raise InputError(f"unknown model '{run}' (loaded: {', '.join(caps.models)})")
    beam = int(beam)
    if not 1 <= beam <= 10:
        raise InputError("beam size must be 1..10")
    res = caps.models[run].caption(path, beam_size=beam)
    text = " ".join(res.words)
    html = (f'<p class="caption-text" style="font-size:1.3em"><b>{escape(text)}</b></p>'
            f"<p>{escape(run)}, beam {beam}, log-probability {res.score:.2f}</p>")
    if res.alphas is None:
        return html + "<p>This model has no attention (show-and-tell baseline).</p>", None
    from dl4nlp.analysis.caption_plots import attention_grid

    fd, out = tempfile.mkstemp(suffix=".png", dir=caps.out_dir)
    import os

    os.close(fd)
    with caps.plot_lock:
        attention_grid(res.image, res.words, res.alphas, res.grid, out, run)
    return html, out


def build(caps: Captioners, settings: DemoSettings) -> None:
    import gradio as gr

    names = list(caps.models)
    gr.Markdown(f"Upload a PNG or JPEG (at most {settings.max_image_pixels:,} pixels); the model writes a "
                "caption and shows where it looked for each word.")
    with gr.Row():
        run = gr.Dropdown(names, value=names[0], label="Model", elem_id="caption-model")
        beam = gr.Slider(1, 10, value=3, step=1, label="Beam size")
    upload = gr.File(label="Image", file_types=["image"], type="filepath", elem_id="caption-upload")
    go = gr.Button("Caption", variant="primary", elem_id="caption-submit")
    out = gr.HTML(elem_id="caption-output")
    grid = gr.Image(label="Attention per word", interactive=False, elem_id="caption-attention")

    def handler(r: str, f: Any, b: float) -> tuple[str, str | None]:
        return caption(caps, r, f, b, settings.max_image_pixels)

    go.click(guarded(handler, 2, "captioning"), [run, upload, beam], [out, grid], api_name=API_NAME)
