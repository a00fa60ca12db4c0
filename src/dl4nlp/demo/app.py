"""Build and launch the Gradio app over saved run folders.

::

    from dl4nlp.demo import build_app, serve
    app, tabs = build_app(["runs/ladder-sst2"])      # models loaded here, once
    serve(["runs/ladder-sst2"], host="127.0.0.1", port=7860)

Runs are handed to every tab module whose ``matches`` accepts them (see :mod:`dl4nlp.demo.tabs`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.demo.limits import DemoSettings


def expand_runs(paths: list[str | Path]) -> list[Path]:
    """Run folders from the arguments: a run folder stands for itself, any other folder for every
    finished run below it (e.g. ``runs/ladder-sst2``), except runs nested in another run (the stage
    folders of a ULMFiT run, whose own ``results.json`` sums them up)."""
    from dl4nlp.core.runs import find_runs

    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise RunError(f"{p}: run folder not found")
        if (p / "config.yaml").is_file() or (p / "results.json").is_file():
            found = [p]
        else:
            found = find_runs(p)
            tops = set(found)
            found = [f for f in found if not any(a in tops for a in f.parents)]
            if not found:
                raise RunError(f"{p}: no finished runs (results.json) in this folder")
        out.extend(f for f in found if f not in out)
    return out


def assign_runs(runs: list[Path], modules: list[Any]) -> dict[str, list[Path]]:
    """Tab module name -> its runs. A run no tab can show is reported with a warning."""
    from dl4nlp.core.runs import read_results

    assigned: dict[str, list[Path]] = {m.__name__: [] for m in modules}
    for run in runs:
        res = read_results(run)
        if res is None:
            raise RunError(f"{run}: unfinished run (no results.json); finish it with dl4nlp train --resume")
        hits = [m for m in modules if m.matches(run, res)]
        if not any(m.TITLE != "Leaderboard" for m in hits):
            warnings.warn(f"{run}: no demo tab for task '{res.get('task')}' (shown in the leaderboard only)",
                          stacklevel=2)
        for m in hits:
            assigned[m.__name__].append(run)
    return assigned


def load_tabs(runs: list[str | Path], settings: DemoSettings | None = None) -> list[tuple[Any, Any]]:
    """(tab module, loaded state) for every tab that has something to show; models are loaded here."""
    from dl4nlp.demo.tabs import tab_modules

    settings = settings or DemoSettings()
    modules = tab_modules()
    assigned = assign_runs(expand_runs(runs), modules)
    loaded = []
    for mod in modules:
        state = mod.load(assigned[mod.__name__], settings)
        if state is not None:
            loaded.append((mod, state))
    if not any(mod.TITLE != "Leaderboard" for mod, _ in loaded):
        raise RunError("nothing to demo: none of the given runs has a demo tab "
                       f"(tabs: {', '.join(m.TITLE for m in modules)})")
    return loaded


def build_app(runs: list[str | Path], settings: DemoSettings | None = None) -> tuple[Any, list[str]]:
    """The ``gr.Blocks`` app (queue configured) and the titles of its tabs."""
    import gradio as gr
    import torch

    from dl4nlp.demo.render import CSS

    settings = settings or DemoSettings()
    torch.set_num_threads(settings.threads)  # handlers run under inference_mode / no_grad themselves
    loaded = load_tabs(runs, settings)
    with gr.Blocks(title="dl4nlp demo", analytics_enabled=False) as app:
        gr.Markdown("# dl4nlp demo\nModels from saved run folders; inputs are capped at "
                    f"{settings.max_chars:,} characters.")
        for mod, state in loaded:
            with gr.Tab(mod.TITLE, id=mod.__name__.rsplit(".", 1)[-1]):
                mod.build(state, settings)
    app.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency,
              api_open=True)
    app.dl4nlp_css = CSS  # applied at launch (Gradio 6 takes css in launch())
    return app, [mod.TITLE for mod, _ in loaded]


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, settings: DemoSettings | None = None,
           block: bool = True, quiet: bool = False) -> Any:
    """Start the server (``block=False`` returns at once, for tests and scripts)."""
    from starlette.middleware import Middleware

    from dl4nlp.demo.guard import RequestGuard

    settings = settings or DemoSettings()
    guard = Middleware(RequestGuard, blocks=app, max_bytes=settings.max_request_bytes)  # types, ranges, body size
    try:
        return app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, share=False,
                          show_error=False, quiet=quiet, max_file_size=settings.max_upload_bytes,
                          css=getattr(app, "dl4nlp_css", None), footer_links=["api"], ssr_mode=False,
                          mcp_server=False, inbrowser=False, app_kwargs={"middleware": [guard]})
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise ConfigError(f"serve: cannot listen on {host}:{port} ({exc}); try another --port") from None


def serve(runs: list[str | Path], host: str = "127.0.0.1", port: int = 7860,
          settings: DemoSettings | None = None) -> None:
    settings = settings or DemoSettings()
    app, titles = build_app(runs, settings)
    print(f"dl4nlp demo: tabs {', '.join(titles)}; http://{host}:{port}  (Ctrl-C to stop)", flush=True)
    launch(app, host, port, settings, block=True)
