"""Readers of numeric targets (ratings): IMDB's 1-10 stars, SST's phrase sentiment values in [0, 1], SST-5's
five classes as the ratings 0..4, and a numeric column of any CSV / TSV / JSONL table.

Every reader returns :class:`~dl4nlp.data.splits.DatasetSplits` of rows ``{"text": str, "label": float}`` (the
rating on the scale users read) and checks each value: a label that is not a number, or lies outside
``data.rating_scale``, is a :class:`DataError` naming the file and line. The ``labels`` of the splits are empty
(a rating run has no class names); :func:`rating_scale` gives the scale of a config.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dl4nlp.core.config import DataConfig
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.core.io import read_text, require_file
from dl4nlp.data.splits import DatasetSplits, complete_splits

#: the scale of each dataset when ``data.rating_scale`` is not set
DEFAULT_SCALES: dict[str, tuple[float, float]] = {"imdb": (1.0, 10.0), "sst": (0.0, 1.0), "sst5": (0.0, 4.0)}
#: the number of levels (ordinal thresholds + 1, classes) when ``data.rating_levels`` is not set and the
#: scale is not a whole-number one
DEFAULT_LEVELS: dict[str, int] = {"sst": 5}


def rating_scale(cfg: DataConfig) -> tuple[float, float]:
    """(lowest, highest) rating of a config: ``data.rating_scale`` or the dataset's default."""
    if cfg.rating_scale is not None:
        return float(cfg.rating_scale[0]), float(cfg.rating_scale[1])
    if cfg.dataset in DEFAULT_SCALES:
        return DEFAULT_SCALES[cfg.dataset]
    raise ConfigError(f"data.rating_scale: required for dataset '{cfg.dataset}' (e.g. rating_scale: [1, 5])")


def rating_levels(cfg: DataConfig) -> int:
    """How many rating values the ordinal and class heads tell apart: ``data.rating_levels``, else one per unit
    of a whole-number scale (1-10 stars: 10), else the dataset's default."""
    if cfg.rating_levels is not None:
        return int(cfg.rating_levels)
    lo, hi = rating_scale(cfg)
    if lo.is_integer() and hi.is_integer():
        return int(hi - lo) + 1
    if cfg.dataset in DEFAULT_LEVELS:
        return DEFAULT_LEVELS[cfg.dataset]
    raise ConfigError(f"data.rating_levels: required for the scale [{lo:g}, {hi:g}] (it is not in whole units)")


def parse_rating(value: Any, where: str, column: str, scale: tuple[float, float]) -> float:
    """A rating as a float: a JSON number or a numeric string, finite and on the scale."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise DataError(f"{where}: rating {json.dumps(value)} in column '{column}' is not a number") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        shown = "empty" if value is None else json.dumps(value)
        raise DataError(f"{where}: rating {shown} in column '{column}' is not a number")
    lo, hi = scale
    if not math.isfinite(number) or not lo <= number <= hi:
        raise DataError(f"{where}: rating {number:g} in column '{column}' is outside the scale [{lo:g}, {hi:g}] "
                        "(data.rating_scale)")
    return number


def read_rated_records(path: str | Path, text_column: str, rating_column: str,
                       scale: tuple[float, float]) -> list[dict[str, Any]]:
    """``{"text", "label": float}`` rows of a CSV / TSV / JSONL file, every line checked."""
    from dl4nlp.data.sentiment import _iter_records

    path = require_file(path)
    rows = []
    for line, rec in _iter_records(path):
        where = f"{path}:{line}"
        for col in (text_column, rating_column):
            if col not in rec:
                raise DataError(f"{where}: missing column '{col}' (columns: {', '.join(map(str, rec))})")
        text = rec[text_column]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: empty or non-text value in column '{text_column}'")
        rows.append({"text": text, "label": parse_rating(rec[rating_column], where, rating_column, scale)})
    if not rows:
        raise DataError(f"{path}: no examples found")
    return rows


def _dataset(rows: list[dict[str, Any]]) -> Any:
    import datasets

    return datasets.Dataset.from_list(rows)


def read_imdb_ratings(cfg: DataConfig, seed: int) -> DatasetSplits:
    """IMDB ``train.jsonl`` / ``test.jsonl`` with their ``rating`` field (1-4 negative, 7-10 positive); dev is a
    seeded 10 % of train, as for the binary task."""
    folder = Path(cfg.path)
    if not folder.is_dir():
        raise DataError(f"{folder}: IMDB folder not found (set data.path)")
    scale = rating_scale(cfg)
    split_rows = {s: read_rated_records(folder / f"{s}.jsonl", "text", "rating", scale) for s in ("train", "test")}
    train, dev, test = complete_splits(_dataset(split_rows["train"]), None, _dataset(split_rows["test"]), seed)
    return DatasetSplits(train, dev, test, [])


def read_table_ratings(cfg: DataConfig, seed: int) -> DatasetSplits:
    """``data.train_file`` (required), ``dev_file``, ``test_file`` under ``data.path``, the rating in
    ``data.label_column``; missing dev / test splits are carved from train (seeded)."""
    if not cfg.train_file:
        raise ConfigError("data.train_file: required for dataset 'table' (e.g. train.csv)")
    folder, scale = Path(cfg.path), rating_scale(cfg)

    def read(name: str | None) -> Any:
        return _dataset(read_rated_records(folder / name, cfg.text_column, cfg.label_column, scale)) if name else None

    train, dev, test = complete_splits(read(cfg.train_file), read(cfg.dev_file), read(cfg.test_file), seed)
    return DatasetSplits(train, dev, test, [])


def read_sst5_ratings(cfg: DataConfig, seed: int) -> DatasetSplits:
    """SST-5's classes as the ordered ratings 0 (very negative) .. 4 (very positive): ordinal regression on the
    fine-grained task."""
    from dl4nlp.data.sentiment import _read_sst

    splits = _read_sst(cfg, seed, binary=False)
    lo, hi = rating_scale(cfg)
    if (lo, hi) != (0.0, 4.0):
        raise ConfigError(f"data.rating_scale: SST-5 ratings are 0..4, got [{lo:g}, {hi:g}]")

    def as_float(ds: Any) -> Any:
        return _dataset([{"text": t, "label": float(y)} for t, y in zip(ds["text"], ds["label"], strict=True)])

    return DatasetSplits(as_float(splits.train), as_float(splits.dev), as_float(splits.test), [])


SST_DICTIONARY = ("dictionary.txt", "sentiment_labels.txt")
_PTB_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


def read_sst_values(path: Path) -> dict[str, float]:
    """phrase -> sentiment value in [0, 1] from the treebank's ``dictionary.txt`` (``phrase|id``) and
    ``sentiment_labels.txt`` (a header, then ``id|value``)."""
    values: dict[str, float] = {}
    labels = path / SST_DICTIONARY[1]
    for n, line in enumerate(read_text(require_file(labels)).splitlines(), 1):
        if n == 1 or not line.strip():
            continue
        key, _, value = line.rpartition("|")
        values[key] = parse_rating(value, f"{labels}:{n}", "sentiment value", (0.0, 1.0))
    phrases: dict[str, float] = {}
    dictionary = path / SST_DICTIONARY[0]
    for n, line in enumerate(read_text(require_file(dictionary)).splitlines(), 1):
        if not line.strip():
            continue
        phrase, _, key = line.rpartition("|")
        if key not in values:
            raise DataError(f"{dictionary}:{n}: phrase id '{key}' has no value in {labels.name}")
        phrases[phrase] = values[key]
    return phrases


def read_sst_phrase_ratings(cfg: DataConfig, seed: int) -> DatasetSplits:
    """SST sentences (and with ``data.phrases`` every subtree of train) with their real-valued sentiment from the
    treebank's dictionary files (``dictionary.txt`` and ``sentiment_labels.txt`` beside the PTB trees)."""
    from dl4nlp.data.sentiment import _find
    from dl4nlp.data.trees import read_trees

    folder = Path(cfg.path)
    missing = [n for n in SST_DICTIONARY if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder}: no {' / '.join(missing)} (the treebank's phrase values; use data.dataset: "
                        "sst5 for the five classes as ratings 0..4)")
    values, scale = read_sst_values(folder), rating_scale(cfg)
    parts = []
    for split in ("train", "dev", "test"):
        file = _find(folder, [f"{split}.txt", f"trees/{split}.txt"], f"SST {split} tree")
        rows = []
        for tree in read_trees(file):
            for node in tree.subtrees() if cfg.phrases and split == "train" else [tree]:
                text = " ".join(node.leaves())
                if text not in values:  # the dictionary may spell brackets plainly
                    text = " ".join(_PTB_BRACKETS.get(w, w) for w in node.leaves())
                if text not in values:
                    raise DataError(f"{file}: phrase '{text[:60]}' is not in {SST_DICTIONARY[0]}")
                rows.append({"text": text, "label": parse_rating(values[text], str(file), "sentiment value", scale)})
        parts.append(_dataset(rows))
    return DatasetSplits(parts[0], parts[1], parts[2], [])


#: ``data.dataset`` of a rating run -> reader
RATING_DATASETS = {
    "imdb": read_imdb_ratings,
    "table": read_table_ratings,
    "sst5": read_sst5_ratings,
    "sst": read_sst_phrase_ratings,
}


def read_rating_splits(cfg: DataConfig, seed: int) -> DatasetSplits:
    if cfg.dataset not in RATING_DATASETS:
        raise ConfigError(f"data.dataset: '{cfg.dataset}' has no ratings (rating runs read "
                          f"{', '.join(RATING_DATASETS)})")
    return RATING_DATASETS[cfg.dataset](cfg, seed)
