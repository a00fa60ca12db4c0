"""Fine-tuning a pretrained encoder: the classification task with BERT's optimiser conventions.

Loss, metrics and logging are :class:`~dl4nlp.tasks.classification.ClassificationTask`'s; only the
optimiser differs: AdamW (Loshchilov & Hutter 2019) with weight decay on weight matrices but not on
biases and LayerNorm gains (Devlin et al. 2019), and the linear warm-up then decay schedule of
``train.schedule: linear`` + ``train.warmup_steps`` (stepped every optimiser step).
"""

from __future__ import annotations

from typing import Any

from dl4nlp.tasks.classification import ClassificationTask
from dl4nlp.tasks.optim import lightning_optimizers


def decay_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups: matrices decayed, vectors (biases, LayerNorm) not; frozen weights left out."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


class FineTuneTask(ClassificationTask):
    """``ClassificationTask`` over a :class:`~dl4nlp.models.transformer.TransformerClassifier`."""

    def configure_optimizers(self) -> Any:
        groups = decay_groups(self.model, self.cfg.weight_decay)
        return lightning_optimizers(groups, self.cfg, int(self.trainer.estimated_stepping_batches))
