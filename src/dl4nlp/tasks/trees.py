"""Tree-structured sentiment: cross-entropy over every labelled node (phrase-level supervision), scored on the
root (the sentence, like the sentence classifiers) and on all phrases.

Logged per epoch: ``train_loss`` (mean node loss), ``train_acc`` (root); ``dev_acc`` (ROOT accuracy: the
sentence-level score the sentiment leaderboard compares), ``dev_f1`` (root macro-F1), ``dev_loss`` (root
cross-entropy), ``dev_phrase_acc`` (all labelled nodes) and ``dev_phrase_loss``; the same with ``test_`` on
test, plus the root confusion matrix (``self.confusion``).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.data.tree_batching import TreeBatch
from dl4nlp.models.tree import node_loss
from dl4nlp.tasks.optim import l2_penalty, lightning_optimizers


class TreeSentimentTask(L.LightningModule):
    """Wraps a tree model ``model(batch: TreeBatch) -> logits [N, C]`` (one row per node)."""

    def __init__(self, model: nn.Module, num_classes: int, train_cfg: TrainConfig, config: dict | None = None):
        super().__init__()
        self.model = model
        self.num_classes = num_classes
        self.cfg = train_cfg
        if config is not None:
            self.save_hyperparameters({"config": config})
        kw = {"task": "multiclass", "num_classes": num_classes}
        for split in ("dev", "test"):
            setattr(self, f"{split}_acc", torchmetrics.Accuracy(**kw))
            setattr(self, f"{split}_f1", torchmetrics.F1Score(average="macro", **kw))
            setattr(self, f"{split}_phrase_acc", torchmetrics.Accuracy(**kw))
        self.test_confusion = torchmetrics.ConfusionMatrix(**kw)
        self.confusion: torch.Tensor | None = None

    def forward(self, batch: TreeBatch) -> torch.Tensor:
        return self.model(batch)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch.to(device) if isinstance(batch, TreeBatch) else super().transfer_batch_to_device(
            batch, device, dataloader_idx)

    def on_train_epoch_start(self) -> None:
        self._loss_sum = torch.zeros((), device=self.device)  # sum over steps of (mean node loss * nodes)
        self._nodes = 0
        self._correct = torch.zeros((), device=self.device, dtype=torch.long)
        self._roots = torch.zeros((), device=self.device, dtype=torch.long)

    def training_step(self, batch: TreeBatch, batch_idx: int) -> torch.Tensor:
        logits = self(batch)  # [N, C]
        ce = node_loss(logits, batch)
        n = int(batch.label_mask.sum())
        self._loss_sum += ce.detach() * n
        self._nodes += n
        roots = logits.detach()[batch.roots]  # [B, C]
        mask = batch.root_mask  # [B]
        self._correct += ((roots.argmax(-1) == batch.root_labels) & mask).sum()
        self._roots += mask.sum()
        return ce + self.cfg.l2 * l2_penalty(self.model) if self.cfg.l2 > 0 else ce

    def on_train_epoch_end(self) -> None:
        if self._nodes:
            self.log("train_loss", self._loss_sum / self._nodes, sync_dist=True)
        if int(self._roots):
            self.log("train_acc", self._correct.float() / self._roots, sync_dist=True)

    def _score(self, batch: TreeBatch, split: str) -> None:
        logits = self(batch)  # [N, C]
        roots, mask = logits[batch.roots], batch.root_mask  # [B, C], [B]
        gold = batch.root_labels[mask]
        preds = roots[mask].argmax(-1)
        nodes = batch.label_mask
        getattr(self, f"{split}_acc")(preds, gold)
        getattr(self, f"{split}_f1")(preds, gold)
        getattr(self, f"{split}_phrase_acc")(logits[nodes].argmax(-1), batch.labels[nodes])
        if split == "test":
            self.test_confusion.update(preds, gold)
        bs, n = int(mask.sum()), int(nodes.sum())
        if bs:
            self.log(f"{split}_loss", F.cross_entropy(roots[mask], gold), on_epoch=True, batch_size=bs,
                     sync_dist=True)
        if n:
            self.log(f"{split}_phrase_loss", node_loss(logits, batch), on_epoch=True, batch_size=n, sync_dist=True)
        self.log(f"{split}_acc", getattr(self, f"{split}_acc"), on_epoch=True, prog_bar=split == "dev", batch_size=bs)
        self.log(f"{split}_f1", getattr(self, f"{split}_f1"), on_epoch=True, batch_size=bs)
        self.log(f"{split}_phrase_acc", getattr(self, f"{split}_phrase_acc"), on_epoch=True, batch_size=n)

    def validation_step(self, batch: TreeBatch, batch_idx: int) -> None:
        self._score(batch, "dev")

    def test_step(self, batch: TreeBatch, batch_idx: int) -> None:
        self._score(batch, "test")

    def on_test_epoch_end(self) -> None:
        self.confusion = self.test_confusion.compute().cpu()
        self.test_confusion.reset()

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(params, self.cfg, int(self.trainer.estimated_stepping_batches))
