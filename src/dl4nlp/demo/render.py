"""HTML fragments for the demo's outputs. Everything that came from the user is escaped here."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

from dl4nlp.core.errors import Dl4nlpError
from dl4nlp.demo.limits import escape

CSS = """
.dl4nlp-error {border: 1px solid #d9534f; background: #fdf0ef; color: #8a1f1b; padding: 8px 12px;
  border-radius: 6px; font-weight: 600;}
.dl4nlp-table {border-collapse: collapse; width: 100%;}
.dl4nlp-table th, .dl4nlp-table td {border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left;
  vertical-align: middle;}
.dl4nlp-bar {display: inline-block; height: 10px; background: #4f81bd; margin-right: 6px;}
.dl4nlp-token {display: inline-block; padding: 2px 4px; margin: 2px; border-radius: 4px;
  border: 1px solid #ccc; color: #111;}
"""


def error_box(message: str) -> str:
    return f'<div class="dl4nlp-error" role="alert">{escape(message)}</div>'


def guarded(fn: Callable[..., Any], n_outputs: int, where: str) -> Callable[..., Any]:
    """Wrap a tab's handler: bad input and failures become an error box in the tab's first output
    (the other outputs are cleared); nothing propagates to Gradio, so one tab's error never affects
    the server or the other tabs. Unexpected errors are printed with their traceback on the console."""

    def run(*args: Any) -> Any:
        try:
            return fn(*args)
        except Dl4nlpError as exc:
            msg = str(exc)
        except Exception as exc:  # noqa: BLE001 - the demo must keep serving
            traceback.print_exc()
            msg = f"{where}: internal error ({type(exc).__name__}: {exc})"
        out = [error_box(msg)] + [None] * (n_outputs - 1)
        return out[0] if n_outputs == 1 else tuple(out)

    run.__name__ = getattr(fn, "__name__", "handler")
    run.__doc__ = fn.__doc__
    return run


def bar(p: float, width: int = 120) -> str:
    return f'<span class="dl4nlp-bar" style="width:{max(1, round(p * width))}px"></span>{100 * p:.1f}%'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], elem_class: str = "") -> str:
    """``rows`` hold ready-made HTML cells (escape user content before); headers are escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (f'<table class="dl4nlp-table {escape(elem_class)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def weighted_tokens(tokens: Sequence[str], weights: Sequence[float]) -> str:
    """Tokens shaded by weight (e.g. attention), the heaviest darkest; hover shows the value."""
    top = max(weights) if len(weights) else 1.0
    spans = []
    for tok, w in zip(tokens, weights, strict=True):
        alpha = 0.08 + 0.82 * (w / top if top > 0 else 0.0)
        spans.append(f'<span class="dl4nlp-token" style="background: rgba(230, 85, 13, {alpha:.2f})" '
                     f'title="{w:.3f}">{escape(tok)}</span>')
    return "".join(spans)
