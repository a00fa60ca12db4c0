"""Sentence classification: cross-entropy (+ lambda * sum W^2), accuracy and macro-F1; with a teacher's
logits in the batch, the distillation loss of :func:`distillation_loss`."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.tasks.optim import l2_penalty, lightning_optimizers


def distillation_loss(logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor, alpha: float,
                      temperature: float) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015), the mean over the batch of

        l_i = (1 - alpha) * CE(y_i, z_i) + alpha * T^2 * KL(softmax(t_i / T) || softmax(z_i / T))

    for an example with a gold label y_i, and ``T^2 * KL(...)`` alone for one without (label < 0: a pair
    only the teacher labelled, as in the augmented data of Tang et al. 2019). ``logits`` z [B, C] are the
    student's, ``teacher`` t [B, C] the teacher's; T^2 keeps the soft term's gradient scale independent of T."""
    T = temperature
    gold = labels >= 0  # [B]
    kl = F.kl_div(F.log_softmax(logits / T, -1), F.log_softmax(teacher / T, -1), log_target=True,
                  reduction="none").sum(-1) * T * T  # [B]
    ce = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")  # [B]; masked below
    per_example = torch.where(gold, (1 - alpha) * ce + alpha * kl, kl)
    return per_example.mean()


class ClassificationTask(L.LightningModule):
    """Wraps any classifier ``model(tokens, mask) -> logits [B, C]``.

    Logs per epoch: ``train_loss``, ``train_acc``, ``dev_loss``, ``dev_acc``, ``dev_f1`` (macro);
    on test: ``test_loss``, ``test_acc``, ``test_f1`` and the confusion matrix (``self.confusion``).
    """

    def __init__(self, model: nn.Module, num_classes: int, train_cfg: TrainConfig, config: dict | None = None):
        super().__init__()
        self.model = model
        self.num_classes = num_classes
        self.cfg = train_cfg
        if config is not None:
            self.save_hyperparameters({"config": config})
        kw = {"task": "multiclass", "num_classes": num_classes}
        self.dev_acc = torchmetrics.Accuracy(**kw)
        self.dev_f1 = torchmetrics.F1Score(average="macro", **kw)
        self.test_acc = torchmetrics.Accuracy(**kw)
        self.test_f1 = torchmetrics.F1Score(average="macro", **kw)
        self.test_confusion = torchmetrics.ConfusionMatrix(**kw)
        self.confusion: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(tokens, mask)

    def batch_logits(self, batch: dict[str, Any]) -> torch.Tensor:
        """Logits [B, C] of a batch; a task over other inputs (sentence pairs) overrides only this."""
        return self(batch["tokens"], batch["mask"])

    def loss(self, logits: torch.Tensor, labels: torch.Tensor,
             teacher: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss, data loss): total = data loss + lambda * sum W^2; the data loss is CE, or
        :func:`distillation_loss` when the batch holds a teacher's logits."""
        if teacher is None:
            ce = F.cross_entropy(logits, labels)
        else:
            ce = distillation_loss(logits, labels, teacher, self.cfg.distill_alpha, self.cfg.distill_temperature)
        if self.cfg.l2 > 0:
            return ce + self.cfg.l2 * l2_penalty(self.model), ce
        return ce, ce

    def on_train_epoch_start(self) -> None:
        self._train_loss_sum = torch.zeros((), device=self.device)  # sum over examples of the data loss
        self._train_correct = torch.zeros((), device=self.device, dtype=torch.long)
        self._train_seen = torch.zeros((), device=self.device, dtype=torch.long)  # with a gold label (train_acc)
        self._train_loss_n = 0

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self.batch_logits(batch)  # [B, C]
        labels = batch["label"]
        loss, ce = self.loss(logits, labels, batch.get("teacher_logits"))
        # running sums, logged once per epoch: a self.log and a metric update per step cost about a
        # third of a small model's step (the MLP rung's ~8 ms on CPU)
        self._train_loss_sum += ce.detach() * labels.size(0)
        self._train_loss_n += labels.size(0)
        gold = labels >= 0  # train_acc: the examples with a gold label (all of them but a teacher's extra pairs)
        self._train_correct += ((logits.detach().argmax(-1) == labels) & gold).sum()
        self._train_seen += gold.sum()  # a tensor: no host sync per step
        return loss

    def on_train_epoch_end(self) -> None:
        if self._train_loss_n:  # means over this process's examples, averaged over processes under DDP
            self.log("train_loss", self._train_loss_sum / self._train_loss_n, sync_dist=True)
        seen = int(self._train_seen)
        if seen:
            self.log("train_acc", self._train_correct.float() / seen, sync_dist=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self.batch_logits(batch)
        bs = batch["label"].size(0)
        preds = logits.argmax(-1)
        self.dev_acc(preds, batch["label"])
        self.dev_f1(preds, batch["label"])
        self.log("dev_loss", F.cross_entropy(logits, batch["label"]), on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("dev_acc", self.dev_acc, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log("dev_f1", self.dev_f1, on_epoch=True, batch_size=bs)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self.batch_logits(batch)
        bs = batch["label"].size(0)
        preds = logits.argmax(-1)
        self.test_acc(preds, batch["label"])
        self.test_f1(preds, batch["label"])
        self.test_confusion.update(preds, batch["label"])
        self.log("test_loss", F.cross_entropy(logits, batch["label"]), on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("test_acc", self.test_acc, on_epoch=True, batch_size=bs)
        self.log("test_f1", self.test_f1, on_epoch=True, batch_size=bs)

    def on_test_epoch_end(self) -> None:
        self.confusion = self.test_confusion.compute().cpu()
        self.test_confusion.reset()

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(params, self.cfg, int(self.trainer.estimated_stepping_batches))
