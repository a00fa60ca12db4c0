"""A ladder's manifest: ``<configs>/ladder.yaml`` names the rungs in ladder order, each with its config file,
its family (bars are grouped and coloured by family) and the published reference drawn beside it::

    title: sentiment ladder
    metric: test_acc                 # the score the bars show
    scale: 100                       # metric x scale is what the bars show (100: a fraction; 1: BLEU, already %)
    datasets: [sst2, sst5]           # --dataset sets data.dataset to one of these (omit: the configs' own)
    quick: [logreg, gru]             # the rungs of --quick
    quick_set: {gru: [data.max_train_examples=3000]}   # and their extra --set overrides
    rungs:
      - name: logreg
        config: logreg.yaml          # relative to this file; or {sst2: a.yaml, sst5: b.yaml} per dataset
        set: [data.phrases=false]    # optional --set overrides of this rung
        family: bag-of-words
        reference: {sst2: [81.8, "NB (Socher et al. 2013)"], sst5: [41.0, "NB (Socher et al. 2013)"]}

A folder without a manifest is a ladder of its ``*.yaml`` files in :data:`dl4nlp.core.registry.LADDER` order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.core.config import read_yaml
from dl4nlp.core.errors import ConfigError

MANIFEST = "ladder.yaml"


@dataclass
class Rung:
    name: str
    configs: dict[str, Path]  # dataset -> config file ("" for every dataset)
    family: str = ""
    reference: dict[str, tuple[float, str]] = field(default_factory=dict)  # dataset -> (value %, source)
    sets: list[str] = field(default_factory=list)

    def config(self, dataset: str | None) -> Path:
        path = self.configs.get(dataset or "") or self.configs.get("")
        if path is None:
            raise ConfigError(f"rung '{self.name}' has no config for dataset '{dataset}'")
        return path


@dataclass
class Manifest:
    title: str
    metric: str
    datasets: list[str]
    rungs: list[Rung]
    quick: list[str]
    quick_set: dict[str, list[str]]
    scale: float = 100.0

    def names(self) -> list[str]:
        return [r.name for r in self.rungs]

    def rung(self, name: str) -> Rung:
        return next(r for r in self.rungs if r.name == name)


def _reference(raw: Any, where: str) -> dict[str, tuple[float, str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: reference must map a dataset to [value, source]")
    out = {}
    for dataset, pair in raw.items():
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int | float)):
            raise ConfigError(f"{where}: reference.{dataset} must be [value in %, source], got {pair!r}")
        out[str(dataset)] = (float(pair[0]), str(pair[1]))
    return out


def _rung(raw: Any, folder: Path, where: str) -> Rung:
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"{where}: each rung needs at least a name (and config, family, reference)")
    unknown = set(raw) - {"name", "config", "family", "reference", "set"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    given = raw.get("config") or f"{raw['name']}.yaml"
    configs = {str(k): folder / str(v) for k, v in given.items()} if isinstance(given, dict) else {"": folder / given}
    for path in configs.values():
        if not path.is_file():
            raise ConfigError(f"{where}: config {path} not found")
    sets = raw.get("set") or []
    if not isinstance(sets, list) or not all(isinstance(x, str) and "=" in x for x in sets):
        raise ConfigError(f"{where}: set must be a list of 'section.key=value' strings")
    return Rung(str(raw["name"]), configs, str(raw.get("family") or ""), _reference(raw.get("reference"), where),
                list(sets))


def read_manifest(folder: Path) -> Manifest:
    """The manifest of a ladder folder (or the folder's configs in the registry's ladder order)."""
    from dl4nlp.core.registry import LADDER

    if not folder.is_dir():
        raise ConfigError(f"{folder}: ladder folder not found")
    path = folder / MANIFEST
    if not path.is_file():
        names = sorted((p.stem for p in folder.glob("*.yaml")), key=lambda n: (LADDER.index(n)
                                                                              if n in LADDER else 99, n))
        if not names:
            raise ConfigError(f"{folder}: no configs (*.yaml) and no {MANIFEST}")
        rungs = [Rung(n, {"": folder / f"{n}.yaml"}) for n in names]
        return Manifest(f"ladder of {folder}", "test_acc", [], rungs, [], {})
    raw = read_yaml(path)
    unknown = set(raw) - {"title", "metric", "datasets", "rungs", "quick", "quick_set", "scale"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(raw.get("rungs"), list) or not raw["rungs"]:
        raise ConfigError(f"{path}: 'rungs' must be a non-empty list")
    rungs = [_rung(r, folder, f"{path}: rungs[{i}]") for i, r in enumerate(raw["rungs"])]
    quick = [str(q) for q in raw.get("quick") or []]
    quick_set = {str(k): [str(x) for x in v] for k, v in (raw.get("quick_set") or {}).items()}
    names = [r.name for r in rungs]
    for q in [*quick, *quick_set]:
        if q not in names:
            raise ConfigError(f"{path}: quick rung '{q}' is not a rung (rungs: {', '.join(names)})")
    scale = raw.get("scale", 100)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or scale <= 0:
        raise ConfigError(f"{path}: scale must be a positive number (100 for fractions, 1 for scores in %)")
    return Manifest(str(raw.get("title") or folder.name), str(raw.get("metric") or "test_acc"),
                    [str(d) for d in raw.get("datasets") or []], rungs, quick, quick_set, float(scale))
