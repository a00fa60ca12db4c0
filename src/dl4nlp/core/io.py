"""File helpers.

Writes are atomic: write to a temporary file in the same folder, then rename over the target, so a run
killed mid-write leaves the previous file intact, never a half-written one (only a ``.<name>.*.tmp`` file,
which :func:`remove_stale_temporaries` clears when the run is resumed).

Reads of user input (:func:`require_file`, :func:`text_lines`, :func:`read_text`) turn a missing file, a
folder, bytes that are not UTF-8 and a corrupt ``.gz`` into one :class:`~dl4nlp.core.errors.DataError` line
naming the file (and the line), never a traceback.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from dl4nlp.core.errors import DataError, Dl4nlpError, RunError


def require_file(path: str | Path, error: type[Dl4nlpError] = DataError, what: str = "file") -> Path:
    """``path`` as a :class:`Path` if it is a file; ``error`` saying "not found" or "is a directory" otherwise."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory, expected a {what}")
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    return path


def text_lines(path: str | Path, error: type[Dl4nlpError] = DataError) -> Iterator[str]:
    """The lines of a UTF-8 text file, line endings kept (what :mod:`csv` expects); decompressed when the
    name ends in ``.gz``; a byte-order mark at the start is dropped.

    Raises ``error`` naming ``file:line`` and the first byte that is not UTF-8 (``x.txt:4: not UTF-8 text
    (byte 0xe9)``), or the file for a corrupt ``.gz``. Lines are decoded one by one: no UTF-8 character
    contains the newline byte 0x0a, so each line decodes on its own.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                try:
                    yield raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise error(f"{path}:{line_no}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise error(f"{path}: not a valid gzip file ({exc})") from None


def json_lines(lines: Iterable[str], path: str | Path,
               required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of JSON-lines text read from ``path``; a line that is
    not a JSON object, or lacks one of the ``required`` fields, is a DataError naming the file and line."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: invalid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{n}: expected a JSON object")
        missing = [k for k in required if k not in rec]
        if missing:
            raise DataError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        yield n, rec


def read_text(path: str | Path, error: type[Dl4nlpError] = DataError) -> str:
    """The whole of a UTF-8 text file, with the errors of :func:`text_lines`."""
    return "".join(text_lines(path, error))


TEMPORARY = ".*.tmp"  # the names atomic_write gives its temporary files


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[IO[Any]], None], binary: bool = False) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600); give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically as PNG."""
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight"),
                        binary=True)


def torch_save(obj: Any, path: str | Path) -> Path:
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh), binary=True)


def torch_load(path: str | Path, map_location: str = "cpu", mmap: bool = False) -> Any:
    """``torch.load`` with ``weights_only=True``: a checkpoint can carry tensors and plain data, no code.
    ``mmap``: tensors are mapped from the file, read only when used. A truncated, empty or foreign file is
    a :class:`~dl4nlp.core.errors.RunError` naming it."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise RunError(f"{path}: empty file, not a checkpoint (a copy cut short?)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise RunError(f"{path}: checkpoint not found") from None
    except IsADirectoryError:
        raise RunError(f"{path}: is a directory, expected a checkpoint file") from None
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        text = str(exc)  # torch's advice to load a refused file unsafely (weights_only=False) is not repeated
        if "Unsupported global" in text:  # code, or objects other than tensors and plain data
            raise RunError(f"{path}: not a checkpoint this tool wrote (it holds code or objects other than tensors "
                           "and plain data); refusing to load it") from None
        detail = text.split("WeightsUnpickler error:", 1)[-1].strip() or type(exc).__name__
        detail = detail.splitlines()[0]
        if "weights_only" in detail:
            detail = "not a checkpoint this tool wrote"
        raise RunError(f"{path}: not a readable checkpoint (truncated or corrupted?): {detail}") from None


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left in ``folder`` when a process was killed mid-write
    (call it only when no other process writes there, e.g. before resuming a run); returns what it removed."""
    removed = []
    for tmp in Path(folder).glob(TEMPORARY):
        if tmp.is_file():
            tmp.unlink()
            removed.append(tmp)
    return removed
