"""Names that configs use -> the classes and functions behind them.

Entries are ``"module:attribute"`` strings, imported only when used, so the registry is cheap to
import. To add a model, write it in ``dl4nlp/models/`` and add one line to :data:`MODELS`; to put it
on the sentiment ladder, add its config as ``configs/ladder/<rung>.yaml`` and its name to
:data:`LADDER`.
"""

from __future__ import annotations

import importlib
from typing import Any

from dl4nlp.errors import ConfigError

#: sentence classifiers: ``model.name`` in a config -> class with ``build(params, vocab, num_classes)``
MODELS: dict[str, str] = {
    "logreg": "dl4nlp.models.linear:LogisticRegression",
    "mlp": "dl4nlp.models.mlp:MLPClassifier",
    "rnn": "dl4nlp.models.recurrent:RNNClassifier",
    "gru": "dl4nlp.models.recurrent:GRUClassifier",
    "lstm": "dl4nlp.models.recurrent:LSTMClassifier",
    "bigru": "dl4nlp.models.recurrent:BiGRUClassifier",
    "bilstm": "dl4nlp.models.recurrent:BiLSTMClassifier",
    "stacked": "dl4nlp.models.recurrent:StackedClassifier",
}

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


def model_class(name: str) -> Any:
    return resolve(MODELS, name, "model")


def dataset_reader(name: str) -> Any:
    return resolve(DATASETS, name, "dataset")
