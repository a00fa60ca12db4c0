"""Extractive QA: the pointer loss and the official SQuAD scores on dev, for any reader that returns start and end
logits.

    loss = ( CE(start logits, gold start) + CE(end logits, gold end) ) / 2

(the mean of the two pointers' negative log-likelihoods; Chen et al. 2017, Devlin et al. 2019). On dev the
task decodes every window into candidate spans (``decoder.candidates``), keeps each question's best, and logs the
official EM / F1 (:mod:`dl4nlp.tasks.squad_metric`) as ``dev_em`` / ``dev_f1`` with ``dev_loss``: as fractions (the
official percentages / 100), like every score in the project's results.json (the leaderboard shows percentages).
"""

from __future__ import annotations

from typing import Any, Protocol

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.tasks.optim import lightning_optimizers


class SpanDecoder(Protocol):
    """What the task needs from a reader's data side."""

    input_keys: tuple[str, ...]

    def candidates(self, batch: dict[str, Any], start: torch.Tensor, end: torch.Tensor
                   ) -> list[tuple[int, list[tuple[float, int, int]]]]: ...

    def scores(self, candidates: dict[int, list[tuple[float, int, int]]]) -> dict[str, float]: ...


def pointer_loss(start: torch.Tensor, end: torch.Tensor, gold_start: torch.Tensor,
                 gold_end: torch.Tensor) -> torch.Tensor:
    """start, end [B, T] logits (padding at -inf), gold [B] -> the mean of the two cross-entropies."""
    return (F.cross_entropy(start, gold_start) + F.cross_entropy(end, gold_end)) / 2


class SpanExtractionTask(L.LightningModule):
    """Wraps ``model(*[batch[k] for k in decoder.input_keys]) -> (start [B, T], end [B, T])``.

    Logs ``train_loss`` per epoch and ``dev_loss``, ``dev_em``, ``dev_f1`` per validation; ``decoders``
    maps the split name (``dev``, ``test``) to its decoder (examples, window offsets)."""

    def __init__(self, model: nn.Module, train_cfg: TrainConfig, decoders: dict[str, SpanDecoder],
                 config: dict | None = None):
        super().__init__()
        self.model = model
        self.cfg = train_cfg
        self.decoders = decoders
        if config is not None:
            self.save_hyperparameters({"config": config})
        self._cands: dict[int, list[tuple[float, int, int]]] = {}
        self.last_scores: dict[str, float] = {}

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        keys = next(iter(self.decoders.values())).input_keys
        return self.model(*[batch[k] for k in keys])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        start, end = self(batch)
        loss = pointer_loss(start, end, batch["start"], batch["end"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=start.size(0), prog_bar=True)
        return loss

    def _eval_step(self, batch: dict[str, Any], split: str) -> None:
        start, end = self(batch)
        self.log(f"{split}_loss", pointer_loss(start, end, batch["start"], batch["end"]), on_epoch=True,
                 batch_size=start.size(0))
        for example, cands in self.decoders[split].candidates(batch, start.float(), end.float()):
            self._cands.setdefault(example, []).extend(cands)

    def _eval_end(self, split: str) -> None:
        scores = self.decoders[split].scores(self._cands)
        self._cands = {}
        self.last_scores = scores
        self.log(f"{split}_em", scores["exact_match"] / 100)
        self.log(f"{split}_f1", scores["f1"] / 100, prog_bar=True)

    def on_validation_epoch_start(self) -> None:
        self._cands = {}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "dev")

    def on_validation_epoch_end(self) -> None:
        self._eval_end("dev")

    def on_test_epoch_start(self) -> None:
        self._cands = {}

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def configure_optimizers(self) -> Any:
        from dl4nlp.tasks.finetune import decay_groups

        groups = decay_groups(self.model, self.cfg.weight_decay)
        return lightning_optimizers(groups, self.cfg, int(self.trainer.estimated_stepping_batches))
