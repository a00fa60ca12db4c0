"""Sentence-pair classification (NLI): the classification task's loss and metrics over
``model(premise, premise_mask, hypothesis, hypothesis_mask) -> logits [B, C]``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from dl4nlp.tasks.classification import ClassificationTask


class PairClassificationTask(ClassificationTask):
    """Same logs as :class:`ClassificationTask` (``train_loss``, ``dev_acc``, ``test_acc``, confusion)."""

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:  # type: ignore[override]
        return self.model(batch["premise"], batch["premise_mask"], batch["hypothesis"], batch["hypothesis_mask"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch)  # [B, C]
        loss, ce = self.loss(logits, batch["label"])
        self.train_acc(logits.argmax(-1), batch["label"])
        bs = batch["label"].size(0)
        self.log("train_loss", ce, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch)
        bs = batch["label"].size(0)
        preds = logits.argmax(-1)
        self.dev_acc(preds, batch["label"])
        self.dev_f1(preds, batch["label"])
        self.log("dev_loss", F.cross_entropy(logits, batch["label"]), on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("dev_acc", self.dev_acc, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log("dev_f1", self.dev_f1, on_epoch=True, batch_size=bs)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch)
        bs = batch["label"].size(0)
        preds = logits.argmax(-1)
        self.test_acc(preds, batch["label"])
        self.test_f1(preds, batch["label"])
        self.test_confusion.update(preds, batch["label"])
        self.log("test_loss", F.cross_entropy(logits, batch["label"]), on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("test_acc", self.test_acc, on_epoch=True, batch_size=bs)
        self.log("test_f1", self.test_f1, on_epoch=True, batch_size=bs)
