"""Sentence-pair classification (NLI): the classification task's loss, metrics and logs over
``model(premise, premise_mask, hypothesis, hypothesis_mask) -> logits [B, C]``."""

from __future__ import annotations

from typing import Any

import torch

from dl4nlp.tasks.classification import ClassificationTask


class PairClassificationTask(ClassificationTask):
    """Same logs as :class:`ClassificationTask` (``train_loss``, ``dev_acc``, ``test_acc``, confusion)."""

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:  # type: ignore[override]
        return self.model(batch["premise"], batch["premise_mask"], batch["hypothesis"], batch["hypothesis_mask"])

    def batch_logits(self, batch: dict[str, Any]) -> torch.Tensor:
        return self(batch)  # [B, C]
