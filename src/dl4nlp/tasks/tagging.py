"""Sequence labelling: the tagger's own loss (CRF negative log-likelihood or per-token cross-entropy) and
entity-level precision / recall / F1 with ``seqeval`` in strict mode, overall (micro) and per entity type.

Strict mode counts an entity as found only when its type and both boundaries match a gold entity and the
predicted tags form a valid entity of the scheme (an ``I-PER`` after ``O`` in IOB2 is no entity there,
where ``conlleval`` would read one). On valid sequences (every gold file, and every CRF decoding with
constraints) strict mode and ``conlleval`` give the same numbers.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.tasks.optim import l2_penalty, lightning_optimizers


def seqeval_scheme(scheme: str) -> Any:
    from seqeval.scheme import IOB1, IOB2, IOBES

    return {"iob1": IOB1, "iob2": IOB2, "bioes": IOBES}[scheme]


def entity_scores(gold: list[list[str]], pred: list[list[str]], scheme: str) -> dict[str, Any]:
    """``{"precision", "recall", "f1", "per_type": {type: {precision, recall, f1, support}}}`` (strict mode)."""
    from seqeval.metrics import classification_report

    if not any(g != "O" for s in gold for g in s) and not any(p != "O" for s in pred for p in s):
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "per_type": {}}
    report = classification_report(gold, pred, mode="strict", scheme=seqeval_scheme(scheme), output_dict=True,
                                   zero_division=0)
    micro = report.pop("micro avg")
    per_type = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
                    "support": int(v["support"])} for k, v in report.items() if not k.endswith(" avg")}
    return {"precision": float(micro["precision"]), "recall": float(micro["recall"]), "f1": float(micro["f1-score"]),
            "per_type": per_type}


def type_confusion(gold: list[list[str]], pred: list[list[str]]) -> dict[str, dict[str, int]]:
    """Confusion of entity types over spans: ``counts[gold_type][pred_type]`` for each gold entity whose exact
    span was predicted (with any type), ``counts[gold_type]["O"]`` for gold entities whose span was not
    predicted, ``counts["O"][pred_type]`` for predicted spans that are no gold span. Entities are read as
    ``conlleval`` reads them (:func:`dl4nlp.data.conll.entity_spans`)."""
    from dl4nlp.data.conll import entity_spans

    counts: dict[str, dict[str, int]] = {}

    def add(g: str, p: str) -> None:
        counts.setdefault(g, {}).setdefault(p, 0)
        counts[g][p] += 1

    for g_tags, p_tags in zip(gold, pred, strict=True):
        g_spans = {(a, b): k for k, a, b in entity_spans(g_tags)}
        p_spans = {(a, b): k for k, a, b in entity_spans(p_tags)}
        for span, kind in g_spans.items():
            add(kind, p_spans.get(span, "O"))
        for span, kind in p_spans.items():
            if span not in g_spans:
                add("O", kind)
    return counts


class TaggingTask(L.LightningModule):
    """Wraps a tagger with ``loss(batch, emissions)``, ``decode(batch, emissions)`` and ``labels``.

    Logs per epoch ``train_loss``, ``dev_loss``, ``dev_precision``, ``dev_recall``, ``dev_f1`` (entity level,
    strict); on test the same with ``test_`` and the per-type scores in ``self.report``.
    """

    def __init__(self, model: nn.Module, scheme: str, train_cfg: TrainConfig, config: dict | None = None):
        super().__init__()
        self.model, self.scheme, self.cfg = model, scheme, train_cfg
        if config is not None:
            self.save_hyperparameters({"config": config})
        self.report: dict[str, Any] = {}
        self._gold: list[list[str]] = []
        self._pred: list[list[str]] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.model.loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=batch["mask"].size(0))
        if self.cfg.l2 > 0:
            return loss + self.cfg.l2 * l2_penalty(self.model)
        return loss

    def _evaluate_batch(self, batch: dict[str, Any], prefix: str) -> None:
        emissions = self.model(batch)  # [B, T, K]
        self.log(f"{prefix}_loss", self.model.loss(batch, emissions), on_epoch=True, batch_size=batch["mask"].size(0))
        pred = self.model.decode(batch, emissions)  # [B, T]
        labels = self.model.labels
        for p, g, n in zip(pred.tolist(), batch["tags"].tolist(), batch["mask"].sum(1).tolist(), strict=True):
            self._pred.append([labels[i] for i in p[:n]])
            self._gold.append([labels[i] for i in g[:n]])

    def _sentences(self) -> tuple[list[list[str]], list[list[str]]]:
        """(gold, predicted) tag sequences of the whole split: under DDP every rank scored its share of the
        batches, so the shares are gathered and every rank logs the same score."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return self._gold, self._pred
        parts: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, (self._gold, self._pred))
        return [s for g, _ in parts for s in g], [s for _, p in parts for s in p]

    def _log_scores(self, prefix: str) -> dict[str, Any]:
        gold, pred = self._sentences()
        scores = entity_scores(gold, pred, self.scheme)
        scores["type_confusion"] = type_confusion(gold, pred)
        self._gold, self._pred = [], []
        for key in ("precision", "recall", "f1"):
            self.log(f"{prefix}_{key}", scores[key], prog_bar=key == "f1")
        return scores

    def on_validation_epoch_start(self) -> None:
        self._gold, self._pred = [], []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate_batch(batch, "dev")

    def on_validation_epoch_end(self) -> None:
        self._log_scores("dev")

    def on_test_epoch_start(self) -> None:
        self._gold, self._pred = [], []

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate_batch(batch, "test")

    def on_test_epoch_end(self) -> None:
        self.report = self._log_scores("test")

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(params, self.cfg, int(self.trainer.estimated_stepping_batches))
