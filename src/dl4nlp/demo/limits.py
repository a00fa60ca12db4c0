"""Input checks shared by every demo tab: length caps, image validation, HTML escaping.

Every check raises :class:`InputError` with a message meant for the person at the browser; the tab
shows it in its own output area (see :func:`dl4nlp.demo.render.error_box`) and the server keeps going.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.core.devices import torch_device
from dl4nlp.core.errors import DataError


class InputError(DataError):
    """Bad input typed or uploaded in the demo (empty text, too long, not an image...)."""


@dataclass
class DemoSettings:
    """Safety limits and serving options of the demo (``dl4nlp serve --help`` sets them).

    ``max_chars``: longest text accepted per box; ``max_image_pixels``: largest image (width x height);
    ``max_upload_bytes``: largest upload Gradio accepts; ``max_request_bytes``: largest JSON body of an API request
    (:mod:`dl4nlp.demo.guard`); ``concurrency``: requests computed at the same
    time per endpoint (the rest wait in the queue); ``queue_size``: waiting requests beyond which new
    ones are refused; ``device``: ``cpu``/``cuda``/``cuda:N`` (default: cuda if available); ``vectors``:
    word-vector sources for the embeddings tab (names, files or run folders; empty: no tab),
    ``vectors_limit``: keep the most frequent words only; ``threads``: torch CPU threads
    (``torch.set_num_threads``).
    """

    DEFAULT_VECTORS = "glove-6b-50d"

    max_chars: int = 2000
    max_image_pixels: int = 4096 * 4096
    max_upload_bytes: int = 10 * 1024 * 1024
    max_request_bytes: int = 2 * 1024 * 1024  # an API request's JSON body (uploads: max_upload_bytes)
    concurrency: int = 8
    queue_size: int = 64
    device: str | None = None
    vectors: list[str] = field(default_factory=lambda: [DemoSettings.DEFAULT_VECTORS])
    vectors_limit: int = 100_000
    threads: int = 1  # torch intra-op threads per request (small models answer fastest on one each)

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_image_pixels", "max_upload_bytes", "max_request_bytes", "concurrency",
                     "queue_size", "vectors_limit", "threads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def torch_device(self) -> Any:
        """``device`` as a ``torch.device``; a :class:`ConfigError` naming ``--device`` for anything but
        ``cpu``, ``cuda`` or ``cuda:N``, or for CUDA on a machine without it."""
        import torch

        if not self.device:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch_device(self.device, "serve: --device")


def check_text(text: str | None, max_chars: int, what: str = "text") -> str:
    """The text, stripped; :class:`InputError` if it is empty or longer than ``max_chars`` characters."""
    if text is None or not str(text).strip():
        raise InputError(f"{what} is empty: type a sentence first")
    text = str(text)
    if len(text) > max_chars:
        raise InputError(f"{what} is {len(text):,} characters long; the limit is {max_chars:,} "
                         f"(dl4nlp serve --max-chars)")
    return text.strip()


def check_image(path: str | Path | None, max_pixels: int) -> Any:
    """Open an uploaded file as an RGB ``PIL.Image``; :class:`InputError` if it is not a readable image
    or has more than ``max_pixels`` pixels (checked from the header, before decoding)."""
    from PIL import Image, UnidentifiedImageError

    if path is None:
        raise InputError("no image: upload a picture first")
    path = Path(path)
    name = path.name  # escaped where it is shown (render.error_box)
    try:
        with Image.open(path) as probe:  # reads the header only
            w, h = probe.size
            if w * h > max_pixels:
                raise InputError(f"{name}: image is {w}x{h} = {w * h:,} pixels; the limit is {max_pixels:,} "
                                 f"(dl4nlp serve --max-image-pixels)")
            probe.verify()
        with Image.open(path) as img:
            return img.convert("RGB")
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{name}: not a readable image ({type(exc).__name__}); upload a PNG or JPEG") \
            from None


def escape(text: Any) -> str:
    """HTML-escape anything shown back to the user (their text, tokens, file names, error messages)."""
    return html.escape(str(text), quote=True)
