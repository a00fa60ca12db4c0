"""Names that configs use -> the functions behind them: sentence-dataset readers and the ladder's rungs.

Entries are ``"module:attribute"`` strings, imported only when used, so the registry is cheap to import.
Model names live in their family's pipeline (:mod:`dl4nlp.pipelines`, one table per family, one registry
of families): to add a sentence classifier, write it in ``dl4nlp/models/`` and add one line to
:data:`dl4nlp.pipelines.classification.CLASSIFIERS`; to put it on the sentiment ladder, add its config as
``configs/ladder/<rung>.yaml`` and its name to :data:`LADDER`.
"""

from __future__ import annotations

import importlib
from typing import Any

from dl4nlp.core.errors import ConfigError

#: readers: ``data.dataset`` -> function(DataConfig) -> DatasetSplits
DATASETS: dict[str, str] = {
    "sst2": "dl4nlp.data.sentiment:read_sst2",
    "sst5": "dl4nlp.data.sentiment:read_sst5",
    "imdb": "dl4nlp.data.sentiment:read_imdb",
    "table": "dl4nlp.data.sentiment:read_table",
    "hub": "dl4nlp.data.sentiment:read_hub",
}

#: the sentiment ladder, bottom rung first; each has ``configs/ladder/<rung>.yaml``
LADDER: list[str] = ["logreg", "mlp", "rnn", "gru", "lstm", "bilstm", "stacked",
                     "transformer-features", "transformer"]  # top rungs: slow on CPU, --skip them


def resolve(table: dict[str, str], name: str, kind: str) -> Any:
    if name not in table:
        raise ConfigError(f"unknown {kind} '{name}' (known: {', '.join(sorted(table))})")
    module, attr = table[name].split(":")
    return getattr(importlib.import_module(module), attr)


def dataset_reader(name: str) -> Any:
    return resolve(DATASETS, name, "dataset")
