"""Natural language inference pairs: SNLI / MultiNLI files (TSV, official JSONL or TXT) or the HF hub.

Rows are ``{"text": premise, "text_pair": hypothesis, "label": id}`` with the label ids of
:data:`NLI_LABELS` (entailment, neutral, contradiction); pairs whose gold label is ``-`` (no annotator
majority) are dropped. Formats, recognised by the file name:

* ``*.tsv``  — header ``premise<TAB>hypothesis<TAB>label[...]`` (../shared/data/snli, multinli), or the
  official ``snli_1.0_*.txt`` / ``multinli_1.0_*.txt`` header (``gold_label ... sentence1 sentence2 ...``);
  read with quoting off (fields hold bare ``"`` characters);
* ``*.jsonl`` (optionally ``.gz``) — the official SNLI / MultiNLI JSONL (``sentence1``, ``sentence2``,
  ``gold_label``), what online users download;
* the hub — ``data.hub_name: stanfordnlp/snli`` (or ``nyu-mll/multi_nli``), label ``-1`` dropped.

Splits (:func:`read_nli`): ``data.path`` is a folder. Without ``data.train_file`` the reduced protocol of
../shared/data/README.md is used when ``train_1pct.tsv`` is there: train = SNLI ``train_1pct.tsv`` +
MultiNLI dev matched + mismatched (the sibling ``multinli/`` folder; 25,145 pairs), dev = SNLI dev,
test = SNLI test. A folder holding the official ``snli_1.0_train.jsonl`` uses it instead, and
``data.train_file=/path/to/snli_1.0_train.jsonl`` (any format above) trains on that file alone.
``data.snli_repeat=K`` includes the reduced protocol's SNLI pairs K times (the MultiNLI pairs once).
``data.teacher_file`` trains on a teacher file instead (:func:`read_teacher_file`, written by
``dl4nlp nli-teacher``, :mod:`dl4nlp.pipelines.distill`): the pairs with a teacher's logits; dev and test as above.
"""

from __future__ import annotations

import csv
import math
from contextlib import closing
from pathlib import Path
from typing import Any

from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.core.io import json_lines, require_file, text_lines
from dl4nlp.data.splits import DatasetSplits

NLI_LABELS = ["entailment", "neutral", "contradiction"]
NLI_DATASETS = ("snli", "nli")  # data.dataset values read by this module
# data keys only sentence-pair training reads
PAIR_DATA_OPTIONS = ("swap_contradictions", "snli_repeat", "teacher_file")
NO_GOLD = -100  # label id of a teacher-file pair without a gold label (cross-entropy's ignore_index)

_SPLIT_FILES = {
    "train": ["train_1pct.tsv", "train.tsv", "snli_1.0_train.jsonl", "snli_1.0_train.jsonl.gz",
              "snli_1.0_train.txt"],
    "dev": ["dev.tsv", "snli_1.0_dev.jsonl", "snli_1.0_dev.jsonl.gz", "snli_1.0_dev.txt"],
    "test": ["test.tsv", "snli_1.0_test.jsonl", "snli_1.0_test.jsonl.gz", "snli_1.0_test.txt"],
}
MULTINLI_FILES = ["dev_matched.tsv", "dev_mismatched.tsv"]


def _label(value: Any, where: str) -> int | None:
    """Label id, or None for '-' (no gold label: the pair is dropped)."""
    if value == "-":
        return None
    if value not in NLI_LABELS:
        raise DataError(f"{where}: unknown label '{value}' (use {', '.join(NLI_LABELS)} or '-')")
    return NLI_LABELS.index(value)


def _row(premise: Any, hypothesis: Any, label: int, where: str) -> dict[str, Any]:
    if not isinstance(premise, str) or not isinstance(hypothesis, str):
        raise DataError(f"{where}: premise and hypothesis must be text")
    if not premise.strip() or not hypothesis.strip():
        raise DataError(f"{where}: empty premise or hypothesis")
    return {"text": premise, "text_pair": hypothesis, "label": label}


def _read_table(path: Path) -> list[dict[str, Any]]:
    with closing(text_lines(path)) as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            return _table_rows(path, reader)
        except csv.Error as exc:  # e.g. a lone carriage return inside a field
            raise DataError(f"{path}:{reader.line_num}: not a valid tab-separated line ({exc})") from None


def _table_rows(path: Path, reader: Any) -> list[dict[str, Any]]:
    """The labelled pairs of a tab-separated file under a header (see :func:`_read_table`)."""
    rows = []
    header = next(reader, None)
    if header and header[:3] == ["premise", "hypothesis", "label"]:
        cols = (0, 1, 2)
    elif header and {"gold_label", "sentence1", "sentence2"} <= set(header):
        cols = (header.index("sentence1"), header.index("sentence2"), header.index("gold_label"))
    else:
        raise DataError(f"{path}:1: expected the header premise<TAB>hypothesis<TAB>label "
                        "(or the official gold_label ... sentence1 sentence2 header)")
    need = max(cols) + 1
    for n, rec in enumerate(reader, 2):
        if not rec:
            continue
        if len(rec) < need:
            raise DataError(f"{path}:{n}: expected at least {need} tab-separated fields, got {len(rec)}")
        label = _label(rec[cols[2]], f"{path}:{n}")
        if label is not None:
            rows.append(_row(rec[cols[0]], rec[cols[1]], label, f"{path}:{n}"))
    return rows


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with closing(text_lines(path)) as fh:
        for n, rec in json_lines(fh, path, ("sentence1", "sentence2", "gold_label")):
            label = _label(rec["gold_label"], f"{path}:{n}")
            if label is not None:
                rows.append(_row(rec["sentence1"], rec["sentence2"], label, f"{path}:{n}"))
    return rows


def read_nli_file(path: str | Path) -> list[dict[str, Any]]:
    """Pairs of one UTF-8 file (format from its name: ``.jsonl[.gz]``, otherwise tab-separated with a header;
    a name ending in ``.gz`` is decompressed)."""
    path = require_file(path)
    name = path.name.removesuffix(".gz")
    rows = _read_jsonl(path) if name.endswith(".jsonl") else _read_table(path)
    if not rows:
        raise DataError(f"{path}: no labelled pairs")
    return rows


def read_teacher_file(path: str | Path) -> list[dict[str, Any]]:
    """Pairs with a teacher's logits, one JSON object a line (what ``dl4nlp nli-teacher`` writes)::

        {"premise": "...", "hypothesis": "...", "label": "entailment", "teacher_logits": [2.1, -0.3, -1.9]}

    ``label`` is a gold label, or null for a pair the teacher alone labels (an augmented pair: its id is
    :data:`NO_GOLD`); ``teacher_logits`` has one number per label of :data:`NLI_LABELS`, in that order."""
    path = require_file(path)
    rows = []
    with closing(text_lines(path)) as fh:
        for n, rec in json_lines(fh, path, ("premise", "hypothesis", "label", "teacher_logits")):
            where = f"{path}:{n}"
            logits = rec["teacher_logits"]
            if (not isinstance(logits, list) or len(logits) != len(NLI_LABELS)
                    or not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                               for x in logits)):
                raise DataError(f"{where}: teacher_logits must be a list of {len(NLI_LABELS)} numbers "
                                f"({', '.join(NLI_LABELS)}), each finite")
            label = NO_GOLD if rec["label"] in (None, "-") else _label(rec["label"], where)
            row = _row(rec["premise"], rec["hypothesis"], label, where)
            row["teacher_logits"] = [float(x) for x in logits]
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: no pairs")
    return rows


def _find(folder: Path, split: str) -> Path:
    for name in _SPLIT_FILES[split]:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no {split} file (looked for {', '.join(_SPLIT_FILES[split])}; "
                    f"or set data.{split}_file)")


def _read_hub(name: str, config: str | None) -> DatasetSplits:  # pragma: no cover - needs the network
    import datasets

    ds = datasets.load_dataset(name, config)

    def norm(d: Any) -> Any:
        for col in ("premise", "hypothesis", "label"):
            if col not in d.column_names:
                raise DataError(f"hub dataset {name}: missing column '{col}'")
        d = d.filter(lambda r: r["label"] is not None and 0 <= r["label"] < 3)
        return d.select_columns(["premise", "hypothesis", "label"]).rename_columns(
            {"premise": "text", "hypothesis": "text_pair"})

    def split(*names: str) -> Any:
        for n in names:
            if n in ds:
                return norm(ds[n])
        raise DataError(f"hub dataset {name}: no split among {', '.join(names)}")

    return DatasetSplits(split("train"), split("validation", "validation_matched"),
                         split("test", "validation_mismatched"), list(NLI_LABELS))


def read_nli(data: Any, seed: int = 13) -> DatasetSplits:
    """Train / dev / test pairs for the ``data`` section of a config (see the module docstring);
    ``data.max_train_examples`` keeps a seeded random subset of train (nested: 5k within 12k within 25k);
    ``data.swap_contradictions`` then adds the reversed contradiction pairs (:func:`with_swapped_contradictions`)."""
    import datasets

    if data.hub_name:
        if data.teacher_file:
            raise ConfigError("data.teacher_file: the training pairs come from the teacher file, not a hub dataset")
        if data.snli_repeat != 1:
            raise ConfigError("data.snli_repeat: only for the reduced protocol's files, not a hub dataset")
        splits = _read_hub(data.hub_name, data.hub_config)
    else:
        folder = Path(data.path)
        if not folder.is_dir():
            raise DataError(f"{folder}: NLI folder not found (set data.path to the folder with dev.tsv)")

        def file(split: str) -> Path:
            given = getattr(data, f"{split}_file")
            return folder / given if given else _find(folder, split)

        if data.teacher_file:
            _check_teacher_options(data)
            train = read_teacher_file(data.teacher_file)
        else:
            train_files = [file("train")]
            mnli = folder.parent / "multinli"
            if data.train_file is None and train_files[0].name == "train_1pct.tsv" and mnli.is_dir():
                train_files += [mnli / f for f in MULTINLI_FILES if (mnli / f).is_file()]
            train = _train_pairs([read_nli_file(f) for f in train_files], data)
        as_ds = datasets.Dataset.from_list
        splits = DatasetSplits(as_ds(train),
                               as_ds(read_nli_file(file("dev"))), as_ds(read_nli_file(file("test"))),
                               list(NLI_LABELS))
    if data.max_train_examples:
        if data.max_train_examples < 1:
            raise ConfigError(f"data.max_train_examples must be >= 1, got {data.max_train_examples}")
        n = min(data.max_train_examples, len(splits.train))
        splits.train = splits.train.shuffle(seed=seed).select(range(n))
    if data.swap_contradictions:
        splits.train = with_swapped_contradictions(splits.train)
    return splits


def _check_teacher_options(data: Any) -> None:
    """A teacher file holds the training pairs as the teacher saw them: options that would choose or
    change other training pairs are refused beside it."""
    clash = [k for k, on in (("train_file", data.train_file), ("snli_repeat", data.snli_repeat != 1),
                             ("swap_contradictions", data.swap_contradictions)) if on]
    if clash:
        raise ConfigError(f"data.{clash[0]}: cannot be combined with data.teacher_file (the teacher file holds "
                          "the training pairs; set the option when writing it with dl4nlp nli-teacher)")


def _train_pairs(per_file: list[list[dict[str, Any]]], data: Any) -> list[dict[str, Any]]:
    """The training files' pairs in order; with ``data.snli_repeat = k`` the reduced protocol's SNLI sample
    (the first file) comes k times and the MultiNLI pairs once, raising the in-domain share of the 25,145
    pairs from 22 % (k = 1) to 53 % (k = 4)."""
    k = data.snli_repeat
    if k != 1:
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"data.snli_repeat must be an integer >= 1, got {k!r}")
        if len(per_file) < 2:
            raise ConfigError("data.snli_repeat: only for the reduced protocol (SNLI train_1pct.tsv with the "
                              "multinli/ folder beside it); with one training file there is nothing to weight")
        if data.max_train_examples:
            raise ConfigError("data.snli_repeat and data.max_train_examples cannot be combined (a subset "
                              "would hold copies of the same pairs)")
        per_file = [per_file[0]] * k + per_file[1:]
    return [r for rows in per_file for r in rows]


def with_swapped_contradictions(train: Any) -> Any:
    """Train pairs plus (hypothesis, premise) for every contradiction: contradiction is symmetric
    (if P contradicts H, H contradicts P), entailment and neutral are not — the symmetry rule of Minervini &
    Riedel (2018), used here as data augmentation. The swapped pairs follow the originals."""
    import datasets

    contradiction = NLI_LABELS.index("contradiction")
    swapped = [{"text": r["text_pair"], "text_pair": r["text"], "label": r["label"]}
               for r in train if r["label"] == contradiction]
    if not swapped:
        return train
    extra = datasets.Dataset.from_list(swapped)
    if extra.features != train.features:  # e.g. hub labels as ClassLabel
        extra = extra.cast(train.features)
    return datasets.concatenate_datasets([train, extra])
