"""A disk cache of encoder features: each image set is run through the frozen CNN once.

A cache file ``<cache_dir>/features/<label>-<key>.pt`` holds ``{"fingerprint", "images", "features"}``
with ``features`` a float16 tensor [N, L, D]. ``key`` is the sha256 of the encoder's fingerprint (name,
weights hash, preprocessing), the image list and the size and content (sha256) of every image source, so
changing any of them computes new features, while a copy of the same files with new modification times
(a re-downloaded or re-copied data set) keeps them; older files for the same label are deleted then
(invalidated). Files are written atomically and read with ``weights_only=True``.

Training-set augmentation (``data.augment``): the images can also be encoded flipped or rotated
(:data:`TRANSFORMS`, the eight symmetries of the square crop); each transform is one more cached feature set,
labelled ``<label>-<transform>``, and training draws one of them per example (aerial images have no
up or left, so every symmetry of one is another plausible picture of the same scene).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.io import torch_load, torch_save
from dl4nlp.data.captions import open_image

#: the dihedral group D4 on a square image tensor [..., S, S] (rows = vertical axis, columns = horizontal)
TRANSFORMS = {
    "identity": lambda x: x,
    "hflip": lambda x: x.flip(-1),
    "vflip": lambda x: x.flip(-2),
    "rot180": lambda x: x.flip(-2, -1),
    "transpose": lambda x: x.transpose(-2, -1),
    "rot90": lambda x: x.transpose(-2, -1).flip(-1),  # clockwise
    "rot270": lambda x: x.transpose(-2, -1).flip(-2),
    "antitranspose": lambda x: x.flip(-2, -1).transpose(-2, -1),
}
#: ``data.augment`` -> the transforms whose features training draws from
AUGMENTATIONS = {
    "none": ["identity"],
    "flips": ["identity", "hflip", "vflip", "rot180"],
    "dihedral": list(TRANSFORMS),
}


@dataclass
class FeatureSet:
    features: torch.Tensor  # [N, L, D] float16
    images: list[str]
    path: Path
    reused: bool
    seconds: float  # extraction time (0 when reused)

    def index(self) -> dict[str, int]:
        return {ref: i for i, ref in enumerate(self.images)}


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256, within this process


def _digest(path: str, st: os.stat_result) -> str:
    """sha256 of a file's bytes (read once per process while its size and mtime stay the same)."""
    memo = (path, st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[memo] = h.hexdigest()
    return _DIGESTS[memo]


def _source_stamp(refs: list[str]) -> list[Any]:
    """Size and content hash of every distinct source file (a zip counts once)."""
    sources = sorted({ref.split("::", 1)[0] for ref in refs})
    out = []
    for s in sources:
        try:
            st = os.stat(s)
            out.append([s, st.st_size, _digest(s, st)])
        except OSError:
            out.append([s, None, None])
    return out


def cache_key(fingerprint: dict[str, Any], refs: list[str]) -> str:
    blob = json.dumps({"fp": fingerprint, "images": refs, "sources": _source_stamp(refs)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@torch.no_grad()
def extract(
    refs: list[str],
    encoder: Any,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "features",
    transform: str = "identity",
) -> torch.Tensor:
    """Run ``encoder`` over the (transformed) images; returns float16 [N, L, D]. Bad images raise DataError."""
    from tqdm import tqdm

    encoder.eval()
    apply = TRANSFORMS[transform]
    chunks = []
    bar = tqdm(total=len(refs), desc=desc, unit="img", disable=not progress, file=sys.stderr)
    for i in range(0, len(refs), batch_size):
        batch = torch.stack([apply(encoder.preprocess(open_image(r))) for r in refs[i : i + batch_size]])
        chunks.append(encoder(batch).to(torch.float16))  # [b, L, D]
        bar.update(len(batch))
    bar.close()
    return torch.cat(chunks)


def cached_features(
    refs: list[str],
    encoder: Any,
    cache_dir: str | Path,
    label: str,
    batch_size: int = 32,
    progress: bool = True,
    transform: str = "identity",
) -> FeatureSet:
    """Features of ``refs`` (each image transformed by ``transform``) from the cache, or extracted now and
    stored."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown image transform '{transform}' (use {', '.join(TRANSFORMS)})")
    folder = Path(cache_dir) / "features"
    fp = encoder.fingerprint()
    if transform != "identity":
        fp, label = {**fp, "transform": transform}, f"{label}-{transform}"
    key = cache_key(fp, refs)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    path = folder / f"{safe}-{key}.pt"
    if path.is_file():
        try:
            blob = torch_load(path)
            if blob.get("fingerprint") == json.loads(json.dumps(fp)) and blob.get("images") == refs:
                return FeatureSet(blob["features"], refs, path, True, 0.0)
        except Exception:  # a damaged cache file is simply rebuilt
            pass
    start = time.perf_counter()
    feats = extract(refs, encoder, batch_size, progress, desc=f"encoding {label}", transform=transform)
    seconds = time.perf_counter() - start
    torch_save({"fingerprint": fp, "images": refs, "features": feats}, path)
    for old in folder.glob(f"{safe}-*.pt"):  # invalidate features of an older encoder/preprocessing
        if old != path and len(old.stem) == len(safe) + 21:  # same label, other key
            old.unlink(missing_ok=True)
    return FeatureSet(feats, refs, path, False, seconds)
