"""Sentiment readers: SST trees (SST-5, SST-2, phrase level), IMDB, any CSV/TSV/JSONL table, the HF hub.

Every reader takes the ``data`` section of a config and the run seed and returns
:class:`~dl4nlp.data.splits.DatasetSplits` of ``datasets.Dataset`` rows ``{"text", "label"}``.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from dl4nlp.core.config import DataConfig
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.core.io import json_lines, read_text, require_file, text_lines
from dl4nlp.data.splits import DatasetSplits, complete_splits
from dl4nlp.data.trees import read_trees

SST5_LABELS = ["very negative", "negative", "neutral", "positive", "very positive"]
SST2_LABELS = ["negative", "positive"]


def _dataset(rows: list[dict[str, Any]]) -> Any:
    import datasets

    if not rows:
        return datasets.Dataset.from_dict({"text": [], "label": []})
    return datasets.Dataset.from_list(rows)


def _sst_rows(path: Path, binary: bool, phrases: bool, unique: bool = False) -> list[dict[str, Any]]:
    """One row per sentence, or per labelled subtree with ``phrases``; ``unique`` keeps each distinct
    phrase once (its first occurrence), like the GLUE SST-2 training set."""
    rows = []
    seen: set[str] = set()
    for tree in read_trees(path):
        nodes = tree.subtrees() if phrases else [tree]
        for node in nodes:
            label = node.label
            if binary:
                if label == 2:
                    continue
                label = 0 if label < 2 else 1
            text = " ".join(node.leaves())
            if unique:
                if text in seen:
                    continue
                seen.add(text)
            rows.append({"text": text, "label": label})
    return rows


def _find(folder: Path, names: list[str], what: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {what} file (looked for {', '.join(names)})")


def _read_sst(cfg: DataConfig, seed: int, binary: bool) -> DatasetSplits:
    folder = Path(cfg.path)
    if not folder.is_dir():
        raise DataError(f"{folder}: SST folder not found (set data.path to the folder with train.txt)")
    # the PTB-tree release: train.txt/dev.txt/test.txt (what trainDevTestTrees_PTB.zip unpacks to)
    files = {s: _find(folder, [f"{s}.txt", f"trees/{s}.txt"], f"SST {s} tree") for s in ("train", "dev", "test")}
    train = _sst_rows(files["train"], binary, cfg.phrases, cfg.unique_phrases)
    dev = _sst_rows(files["dev"], binary, False)
    test = _sst_rows(files["test"], binary, False)
    return DatasetSplits(_dataset(train), _dataset(dev), _dataset(test), SST2_LABELS if binary else SST5_LABELS)


def read_sst2(cfg: DataConfig, seed: int) -> DatasetSplits:
    """Binary SST-2: neutral dropped, 0-1 negative, 3-4 positive."""
    return _read_sst(cfg, seed, binary=True)


def read_sst5(cfg: DataConfig, seed: int) -> DatasetSplits:
    """Fine-grained SST-5: labels 0 (very negative) .. 4 (very positive)."""
    return _read_sst(cfg, seed, binary=False)


# --------------------------------------------------------------------------- generic tables


def _iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for .csv, .tsv, .jsonl (optionally .gz), UTF-8.

    CSV is read strictly: a row with more fields than the header, a quote that is never closed and text
    after a closing quote (``"a"b``) are errors naming the line, not silently repaired rows.
    """
    name = path.name.removesuffix(".gz")
    with closing(text_lines(path)) as fh:
        if name.endswith((".jsonl", ".json")):
            yield from json_lines(fh, path)
        elif name.endswith((".tsv", ".csv", ".txt")):
            delim = "," if name.endswith(".csv") else "\t"
            reader = csv.reader(fh, delimiter=delim, quoting=csv.QUOTE_MINIMAL if delim == "," else csv.QUOTE_NONE,
                                strict=True)
            header: list[str] | None = None
            start = 1  # the line the record being read starts on (csv.DictReader would hide blank lines)
            try:
                for row in reader:
                    if row and header is None:
                        header = row
                    elif row:
                        if len(row) > len(header):
                            hint = " (quote text that holds commas)" if delim == "," else ""
                            raise DataError(f"{path}:{reader.line_num}: {len(row)} fields but the header has "
                                            f"{len(header)}{hint}")
                        yield reader.line_num, dict(itertools.zip_longest(header, row))
                    start = reader.line_num + 1
                if header is None:
                    raise DataError(f"{path}: empty file (expected a header line)")
            except csv.Error as exc:
                if "end of data" in str(exc):
                    raise DataError(f"{path}:{start}: a quote opened on this line is not closed") from None
                raise DataError(f"{path}:{start}: malformed row ({exc})") from None
        else:
            raise DataError(f"{path}: unknown file type (use .csv, .tsv or .jsonl, optionally .gz)")


def _label_text(value: Any, where: str, column: str) -> str:
    """A label as text: a string, or an integer (an integral float such as ``1.0`` counts as ``1``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"{where}: label {json.dumps(value)} in column '{column}' must be a string or an integer")
    return str(value).strip()


def read_records(path: str | Path, text_column: str, label_column: str,
                 label_ids: dict[str, int] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Read ``{"text", "label"}`` rows from a table, checking every line.

    Text must be a string. Labels are kept as strings here: a label must be a string or an integer (JSONL
    ``1`` and ``1.0`` are both the label ``"1"``; ``0.5``, ``true``, lists and objects are errors).
    ``label_ids`` (if given) rejects labels outside that set.
    """
    path = require_file(path)
    rows, seen = [], []
    for line, rec in _iter_records(path):
        for col in (text_column, label_column):
            if col not in rec:
                raise DataError(f"{path}:{line}: missing column '{col}' (columns: {', '.join(map(str, rec))})")
        text = rec[text_column]
        if text is not None and not isinstance(text, str):
            raise DataError(f"{path}:{line}: text in column '{text_column}' must be a string, "
                            f"got {json.dumps(text)}")
        if text is None or not text.strip():
            raise DataError(f"{path}:{line}: empty text in column '{text_column}'")
        if rec[label_column] is None:
            raise DataError(f"{path}:{line}: empty label in column '{label_column}'")
        label = _label_text(rec[label_column], f"{path}:{line}", label_column)
        if label == "":
            raise DataError(f"{path}:{line}: empty label in column '{label_column}'")
        if label_ids is not None and label not in label_ids:
            raise DataError(f"{path}:{line}: unknown label '{label}' (known: {', '.join(label_ids)})")
        rows.append({"text": text, "label": label})
        seen.append(label)
    if not rows:
        raise DataError(f"{path}: no examples found")
    return rows, seen


def _label_order(seen: list[str], configured: list[str] | None) -> list[str]:
    if configured:
        return [str(x) for x in configured]
    uniq = set(seen)
    try:  # numeric labels in numeric order
        return sorted(uniq, key=lambda s: float(s))
    except ValueError:
        return sorted(uniq)


def _encode_labels(rows: list[dict[str, Any]], labels: list[str], where: str) -> list[dict[str, Any]]:
    ids = {lab: i for i, lab in enumerate(labels)}
    out = []
    for r in rows:
        if r["label"] not in ids:
            raise DataError(f"{where}: label '{r['label']}' does not occur in train (known: {', '.join(labels)})")
        out.append({"text": r["text"], "label": ids[r["label"]]})
    return out


def read_table(cfg: DataConfig, seed: int) -> DatasetSplits:
    """Any CSV/TSV/JSONL files: ``data.train_file`` (required), ``dev_file``, ``test_file`` under ``data.path``."""
    if not cfg.train_file:
        raise ConfigError("data.train_file: required for dataset 'table' (e.g. train.csv)")
    folder = Path(cfg.path)
    fixed = {str(x): i for i, x in enumerate(cfg.labels)} if cfg.labels else None
    train_rows, seen = read_records(folder / cfg.train_file, cfg.text_column, cfg.label_column, fixed)
    labels = _label_order(seen, cfg.labels)
    parts: dict[str, Any] = {}
    known = {lab: i for i, lab in enumerate(labels)}
    for split, name in (("dev", cfg.dev_file), ("test", cfg.test_file)):
        if name:
            rows, _ = read_records(folder / name, cfg.text_column, cfg.label_column, known)
            parts[split] = _dataset(_encode_labels(rows, labels, str(folder / name)))
    train = _dataset(_encode_labels(train_rows, labels, str(folder / cfg.train_file)))
    train, dev, test = complete_splits(train, parts.get("dev"), parts.get("test"), seed)
    return DatasetSplits(train, dev, test, labels)


# --------------------------------------------------------------------------- IMDB


def _read_aclimdb_folder(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for label, name in ((0, "neg"), (1, "pos")):
        sub = folder / name
        if not sub.is_dir():
            raise DataError(f"{sub}: folder not found (expected the aclImdb layout train/pos, train/neg)")
        for f in sorted(sub.glob("*.txt")):
            text = read_text(f)
            if not text.strip():
                raise DataError(f"{f}: empty text (a review file holds the review)")
            rows.append({"text": text, "label": label})
    return rows


def read_imdb(cfg: DataConfig, seed: int) -> DatasetSplits:
    """IMDB (Maas et al. 2011): ``train.jsonl``/``test.jsonl`` (fields text, label) or the official
    ``aclImdb/{train,test}/{pos,neg}/*.txt`` folders. Dev is 10% of train (seeded)."""
    folder = Path(cfg.path)
    if not folder.is_dir():
        raise DataError(f"{folder}: IMDB folder not found (set data.path)")
    split_rows = {}
    for split in ("train", "test"):
        jsonl = folder / f"{split}.jsonl"
        if jsonl.is_file():
            rows, _ = read_records(jsonl, "text", "label", {"0": 0, "1": 1})
            split_rows[split] = [{"text": r["text"], "label": int(r["label"])} for r in rows]
        else:
            split_rows[split] = _read_aclimdb_folder(folder / split)
    train, dev, test = complete_splits(_dataset(split_rows["train"]), None, _dataset(split_rows["test"]), seed)
    return DatasetSplits(train, dev, test, ["negative", "positive"])


# --------------------------------------------------------------------------- Hugging Face hub


def read_hub(cfg: DataConfig, seed: int) -> DatasetSplits:  # pragma: no cover - needs the network
    """A dataset from the Hugging Face hub by name, e.g. ``hub_name: stanfordnlp/imdb`` (online users)."""
    import datasets

    if not cfg.hub_name:
        raise ConfigError("data.hub_name: required for dataset 'hub'")
    ds = datasets.load_dataset(cfg.hub_name, cfg.hub_config)
    get = {k: v for k, v in ds.items()}
    train = get.get("train")
    if train is None:
        raise DataError(f"hub dataset {cfg.hub_name}: has no train split")
    dev = get.get("validation") or get.get("dev")
    test = get.get("test")

    def norm(d: Any) -> Any:
        if d is None:
            return None
        for col in (cfg.text_column, cfg.label_column):
            if col not in d.column_names:
                raise DataError(f"hub dataset {cfg.hub_name}: missing column '{col}'")
        d = d.select_columns([cfg.text_column, cfg.label_column])
        d = d.rename_columns({cfg.text_column: "text", cfg.label_column: "label"})
        return d.filter(lambda r: r["label"] is not None and r["label"] >= 0)

    train, dev, test = complete_splits(norm(train), norm(dev), norm(test), seed)
    feat = train.features["label"]
    labels = list(getattr(feat, "names", None) or sorted({str(x) for x in train["label"]}))
    return DatasetSplits(train, dev, test, labels)
