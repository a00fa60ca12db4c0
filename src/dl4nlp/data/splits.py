"""Train / dev / test splits as ``datasets.Dataset``s, and making the missing ones from train."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class DatasetSplits:
    """Three splits with rows ``{"text": str, "label": int, ...}`` and the label names in id order."""

    train: Any  # datasets.Dataset
    dev: Any
    test: Any
    labels: list[str]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def complete_splits(train: Any, dev: Any | None, test: Any | None, seed: int) -> tuple[Any, Any, Any]:
    """Fill in missing splits from train with a seeded shuffle.

    Only train: 80/10/10 train/dev/test. Train and test but no dev: 10% of train becomes dev.
    """
    if dev is not None and test is not None:
        return train, dev, test
    if len(train) < 10:
        from dl4nlp.core.errors import DataError

        raise DataError(f"only {len(train)} training examples: need at least 10 to carve out dev/test splits "
                        "(or give dev and test files)")
    if dev is None and test is None:
        parts = train.train_test_split(test_size=0.2, seed=seed, shuffle=True)
        rest = parts["test"].train_test_split(test_size=0.5, seed=seed, shuffle=True)
        return parts["train"], rest["train"], rest["test"]
    if dev is None:
        parts = train.train_test_split(test_size=0.1, seed=seed, shuffle=True)
        return parts["train"], parts["test"], test
    parts = train.train_test_split(test_size=0.1, seed=seed, shuffle=True)
    return parts["train"], dev, parts["test"]


def sample_train_and_check(splits: DatasetSplits, max_train_examples: int | None, seed: int,
                           where: str) -> DatasetSplits:
    """A seeded sample of ``max_train_examples`` training rows (learning curves, the few-labels settings), and a
    :class:`DataError` naming ``where`` when a split is empty."""
    from dl4nlp.core.errors import DataError

    if max_train_examples:
        n = min(max_train_examples, len(splits.train))
        splits.train = splits.train.shuffle(seed=seed).select(range(n))
    for name, ds in (("train", splits.train), ("dev", splits.dev), ("test", splits.test)):
        if len(ds) == 0:
            raise DataError(f"{where}: the {name} split is empty")
    return splits
