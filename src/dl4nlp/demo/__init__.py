"""The Gradio web demo over saved run folders (``dl4nlp serve RUN [RUN ...]``).

One tab per run type, each a small module in :mod:`dl4nlp.demo.tabs`; see ``docs/demo.md``.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no telemetry, before gradio is imported
# Gradio's queue rebuilds its monitoring summary (a pandas DataFrame over the last events) after every
# event by default; every 100 events is enough (it was ~18 % of the server's
# CPU per request with a GRU model; benchmarks/results/demo.md)
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")

from dl4nlp.demo.app import build_app, expand_runs, launch, load_tabs, serve  # noqa: E402
from dl4nlp.demo.limits import DemoSettings, InputError, check_image, check_text  # noqa: E402

__all__ = ["DemoSettings", "InputError", "build_app", "check_image", "check_text", "expand_runs", "launch",
           "load_tabs", "serve"]
