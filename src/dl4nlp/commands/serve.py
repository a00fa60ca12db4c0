"""``dl4nlp serve``: the web demo over saved run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    runs: Annotated[list[Path] | None, typer.Argument(help="run folders or folders of runs (runs/ladder-sst2)")]
    = None,
    host: Annotated[str, typer.Option(help="address to bind; 0.0.0.0 exposes the demo to your network")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (1-65535)")] = 7860,
    max_chars: Annotated[int, typer.Option(help="longest text accepted per box")] = 2000,
    max_image_pixels: Annotated[int, typer.Option(help="largest image accepted (width x height)")]
    = 4096 * 4096,
    max_request_bytes: Annotated[int, typer.Option(help="largest JSON body of an API request (uploads have "
                                                   "their own 10 MB cap)")] = 2 * 1024 * 1024,
    concurrency: Annotated[int, typer.Option(help="requests computed at once per endpoint")] = 8,
    queue_size: Annotated[int, typer.Option(help="waiting requests beyond which new ones are refused")] = 64,
    threads: Annotated[int, typer.Option(help="torch CPU threads (1 suits small models and many clients)")] = 1,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available)")] = None,
    vectors: Annotated[list[str] | None, typer.Option(
        help="word vectors for the embeddings tab: glove-6b-50d, a GloVe/word2vec file or an embeddings run "
             "folder (repeat for more; 'none' for no tab)")] = None,
    vectors_limit: Annotated[int, typer.Option(help="keep the most frequent N words of each vectors source")]
    = 100_000,
) -> None:
    """Serve a Gradio web demo of the given runs (sentiment, leaderboard, ... one tab per run type)."""
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.demo import DemoSettings
    from dl4nlp.demo import serve as serve_demo

    if not 1 <= port <= 65535:
        raise ConfigError(f"serve: --port must be between 1 and 65535, got {port}")
    try:
        settings = DemoSettings(max_chars=max_chars, max_image_pixels=max_image_pixels,
                                max_request_bytes=max_request_bytes, concurrency=concurrency, queue_size=queue_size,
                                device=device, vectors_limit=vectors_limit, threads=threads)
        if vectors:
            settings.vectors = [] if [v.lower() for v in vectors] == ["none"] else list(vectors)
    except ValueError as exc:
        raise ConfigError(f"serve: {exc}") from None
    settings.torch_device()  # an unknown --device is refused before any run is loaded
    serve_demo(list(runs or []), host=host, port=port, settings=settings)
