"""The module paths of the documented Python API before the layout (``dl4nlp.config``, ``dl4nlp.training``,
``dl4nlp.classify``, ``dl4nlp.nli``, ...) as aliases of their new homes: ``import dl4nlp.config`` gives the very
module object ``dl4nlp.core.config`` (so monkeypatching either name patches both)."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

#: old module path -> where it lives now
MOVED: dict[str, str] = {
    **{f"dl4nlp.{m}": f"dl4nlp.core.{m}" for m in ("config", "registry", "runs", "io", "errors", "devices")},
    **{f"dl4nlp.{m}": f"dl4nlp.engine.{m}" for m in ("training", "generation", "progress")},
    **{f"dl4nlp.{m}": f"dl4nlp.analysis.{m}"
       for m in ("plots", "caption_plots", "embedding_maps", "rnn_diagnostics", "tree_plot")},
    "dl4nlp.classify": "dl4nlp.pipelines.classification",
    "dl4nlp.nli": "dl4nlp.pipelines.nli",
    "dl4nlp.lm": "dl4nlp.pipelines.language_model",
    "dl4nlp.finetune": "dl4nlp.pipelines.finetune",
    "dl4nlp.captioning": "dl4nlp.pipelines.captioning",
    "dl4nlp.transfer": "dl4nlp.pipelines.ulmfit",
    "dl4nlp.embeddings_train": "dl4nlp.pipelines.word2vec",
    "dl4nlp.distill": "dl4nlp.pipelines.distill",
}


class AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path in :data:`MOVED` and hands back the module at its new path."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        return None  # the module at its new path is already executed


def install() -> None:
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(AliasFinder())
