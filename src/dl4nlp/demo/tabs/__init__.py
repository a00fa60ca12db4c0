"""Demo tabs: one small module per run type, found automatically.

A tab module in this package defines::

    TITLE: str                         # the tab's label
    ORDER: int                         # position (smaller first)
    def matches(run_dir: Path, results: dict) -> bool
        # True if this tab can show the run (usually: results["task"] == "...")
    def load(runs: list[Path], settings: DemoSettings) -> Any | None
        # load the matching runs' models ONCE, at server start; None -> the tab is not shown
    def build(loaded: Any, settings: DemoSettings) -> None
        # create the Gradio components; called inside ``with gr.Tab(TITLE):``

Handlers should be wrapped with :func:`dl4nlp.demo.render.guarded` so bad input shows a message in the
tab instead of an exception, and should call :func:`dl4nlp.demo.limits.check_text` /
:func:`~dl4nlp.demo.limits.check_image` on what the user typed or uploaded. Give the main endpoint an
``api_name`` (e.g. ``"sentiment"``) so scripts and the load test can call it.

A tab that needs no run (e.g. the GloVe embeddings) returns its loaded state from ``load`` whatever
``runs`` is, or ``None`` when its assets are missing. Adding a run type = adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REQUIRED = ("TITLE", "ORDER", "matches", "load", "build")


def load_each(runs: list[Path], loader: Callable[[Path], Any], tab: str) -> list[tuple[Path, Any]]:
    """``(run, loader(run))`` for every run that loads; a run that cannot be loaded (a clear
    :class:`~dl4nlp.core.errors.Dl4nlpError`, e.g. a stage folder of a ULMFiT run with no ``config.yaml``) is
    left out with a warning naming it, so one bad folder does not stop the demo."""
    from dl4nlp.core.errors import Dl4nlpError

    out = []
    for run in runs:
        try:
            out.append((run, loader(run)))
        except Dl4nlpError as exc:
            warnings.warn(f"{tab} tab: skipped a run that cannot be loaded: {exc}", stacklevel=2)
    return out


def tab_modules() -> list[ModuleType]:
    """Every tab module in this package, in ``ORDER``. A module that fails to import (its feature's
    dependencies missing) is skipped with a warning rather than breaking the demo."""
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"{__name__}.{info.name}")
        except ImportError as exc:
            warnings.warn(f"demo tab '{info.name}' unavailable: {exc}", stacklevel=2)
            continue
        missing = [a for a in REQUIRED if not hasattr(mod, a)]
        if missing:
            raise TypeError(f"{mod.__name__}: a demo tab module needs {', '.join(missing)}")
        mods.append(mod)
    return sorted(mods, key=lambda m: (m.ORDER, m.__name__))
