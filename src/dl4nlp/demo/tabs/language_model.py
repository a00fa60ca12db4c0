"""Language-model tab: a prompt, temperature, top-p and length; generated continuations.

Uses :class:`dl4nlp.pipelines.language_model.LanguageModel` (``generate`` samples through
:mod:`dl4nlp.engine.generation`; temperature 0 is greedy decoding). Runs with ``task: lm`` in ``results.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, InputError, escape
from dl4nlp.demo.render import guarded

TITLE = "Language model"
ORDER = 30
API_NAME = "generate"
MAX_NEW_TOKENS = 200
MAX_SAMPLES = 5


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return results.get("task") == "lm"


@dataclass
class LanguageModels:
    models: dict[str, Any]  # run name -> dl4nlp.pipelines.language_model.LanguageModel
    perplexity: dict[str, Any]  # run name -> recorded test perplexity (or None)


def load(runs: list[Path], settings: DemoSettings) -> LanguageModels | None:
    if not runs:
        return None
    from dl4nlp.core.runs import read_results
    from dl4nlp.demo.tabs import load_each
    from dl4nlp.pipelines.language_model import LanguageModel

    models, ppl = {}, {}
    for run, lm in load_each(runs, LanguageModel, TITLE):
        name = run.name if run.name not in models else f"{run.parent.name}/{run.name}"
        models[name] = lm
        res = read_results(run) or {}
        ppl[name] = res.get("test_ppl", res.get("test_perplexity"))
    return LanguageModels(models, ppl) if models else None


def generate(lms: LanguageModels, run: str, prompt: str | None, temperature: float, top_p: float,
             length: float, samples: float, seed: float | None, max_chars: int) -> str:
    """Continuations as HTML (prompt in bold, generated text after it); every string escaped."""
    prompt = prompt or ""
    if len(prompt) > max_chars:
        raise InputError(f"prompt is {len(prompt):,} characters long; the limit is {max_chars:,} "
                         f"(dl4nlp serve --max-chars)")
    if run not in lms.models:
        raise InputError(f"unknown model '{run}' (loaded: {', '.join(lms.models)})")
    length, samples = int(length), int(samples)
    if not 1 <= length <= MAX_NEW_TOKENS or not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"length must be 1..{MAX_NEW_TOKENS} and samples 1..{MAX_SAMPLES}")
    if not 0 <= float(temperature) <= 5 or not 0 < float(top_p) <= 1:
        raise InputError("need 0 <= temperature <= 5 and 0 < top-p <= 1")
    lm = lms.models[run]
    texts = lm.generate(prompt.strip(), n=samples, max_len=length, temperature=float(temperature),
                        top_p=float(top_p), seed=None if seed is None else int(seed))
    shown = prompt.strip()
    items = "".join(f'<li class="lm-sample"><b>{escape(shown)}</b> {escape(t)}</li>' for t in texts)
    strategy = "greedy" if float(temperature) == 0 else f"sampling, T={float(temperature):g}, top-p={float(top_p):g}"
    return f"<p>{escape(run)} ({escape(strategy)}):</p><ol>{items}</ol>"


def build(lms: LanguageModels, settings: DemoSettings) -> None:
    import gradio as gr

    names = list(lms.models)
    info = ", ".join(f"{n} (test perplexity {p:.1f})" if isinstance(p, float) else n
                     for n, p in lms.perplexity.items())
    gr.Markdown(f"Continue a prompt with a trained language model: {escape(info)}.")
    with gr.Row():
        run = gr.Dropdown(names, value=names[0], label="Model", elem_id="lm-model")
        seed = gr.Number(value=13, precision=0, label="Seed (empty: random)", elem_id="lm-seed")
    prompt = gr.Textbox(label="Prompt", lines=2, placeholder="the company said", elem_id="lm-prompt",
                        max_length=settings.max_chars)
    with gr.Row():
        temperature = gr.Slider(0.0, 2.0, value=0.8, step=0.05, label="Temperature (0 = greedy)")
        top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="Top-p")
        length = gr.Slider(1, MAX_NEW_TOKENS, value=30, step=1, label="Length (tokens)")
        samples = gr.Slider(1, MAX_SAMPLES, value=3, step=1, label="Samples")
    go = gr.Button("Generate", variant="primary", elem_id="lm-submit")
    out = gr.HTML(elem_id="lm-output")

    def handler(r: str, p: str, t: float, tp: float, n: float, s: float, sd: float | None) -> str:
        return generate(lms, r, p, t, tp, n, s, sd, settings.max_chars)

    go.click(guarded(handler, 1, "language model"), [run, prompt, temperature, top_p, length, samples, seed],
             out, api_name=API_NAME)
