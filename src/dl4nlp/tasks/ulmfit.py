"""ULMFiT fine-tuning tricks (Howard & Ruder 2018), for any model with ``layer_groups()`` (input -> output):

* **discriminative learning rates**: group l of L gets  eta_l = eta_L / factor^(L - l)  (factor 2.6 in the paper),
  so lower layers, which hold more general features, move less;
* **slanted triangular learning rates** (STLR): with T steps, cut = floor(T * cut_frac),
      p = t / cut                                         if t < cut
      p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))      otherwise
      eta_t = eta_max * (1 + p * (ratio - 1)) / ratio
  a short linear warm-up then a long linear decay (cut_frac 0.1, ratio 32 in the paper);
* **gradual unfreezing**: epoch e (0-based) trains only the top ``1 + e // every`` groups; the rest are frozen.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.tasks.classification import ClassificationTask
from dl4nlp.tasks.language_model import LanguageModelTask


def slanted_triangular(step: int, total_steps: int, cut_frac: float = 0.1, ratio: float = 32.0) -> float:
    """The STLR multiplier eta_t / eta_max at ``step`` (0-based) of ``total_steps``."""
    cut = max(1, math.floor(total_steps * cut_frac))
    if step < cut:
        p = step / cut
    else:
        p = 1.0 - (step - cut) / max(1.0, cut * (1.0 / cut_frac - 1.0))
    p = min(1.0, max(0.0, p))
    return (1.0 + p * (ratio - 1.0)) / ratio


def discriminative_param_groups(
    groups: list[list[nn.Parameter]], lr: float, factor: float = 2.6
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the last (top) group gets ``lr``, each lower one ``factor`` times less."""
    n = len(groups)
    return [
        {"params": params, "lr": lr / factor ** (n - 1 - i), "name": f"group{i}"}
        for i, params in enumerate(groups)
        if params
    ]


def trainable_groups(epoch: int, num_groups: int, every: int = 1) -> int:
    """How many of the top groups train in ``epoch`` under gradual unfreezing (``every <= 0``: all)."""
    if every <= 0:
        return num_groups
    return min(num_groups, 1 + epoch // every)


def set_trainable(groups: list[list[nn.Parameter]], top: int) -> None:
    """Freeze all but the top ``top`` groups (their gradients are dropped, the optimiser skips them)."""
    n = len(groups)
    for i, params in enumerate(groups):
        for p in params:
            p.requires_grad_(i >= n - top)
            if i < n - top:
                p.grad = None


class GradualUnfreezing(Callback):
    """At the start of each training epoch, unfreeze one more layer group from the top."""

    def __init__(self, every: int = 1):
        self.every = every
        self.history: list[int] = []  # trainable group count per epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        groups = pl_module.model.layer_groups()
        top = trainable_groups(trainer.current_epoch, len(groups), self.every)
        set_trainable(groups, top)
        while len(self.history) < trainer.current_epoch:  # a resumed run: the epochs before the kill
            self.history.append(trainable_groups(len(self.history), len(groups), self.every))
        self.history.append(top)


def _ulmfit_optimizers(
    module: L.LightningModule, cfg: TrainConfig, factor: float, cut_frac: float, ratio: float
) -> dict[str, Any]:
    groups = discriminative_param_groups(module.model.layer_groups(), cfg.lr, factor)
    # Adam with beta1 = 0.7 (the paper's choice); every group is given so unfrozen layers join later
    opt = torch.optim.Adam(groups, betas=(0.7, 0.99), weight_decay=cfg.weight_decay)
    total = int(module.trainer.estimated_stepping_batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: slanted_triangular(s, total, cut_frac, ratio))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class ULMFiTLanguageModelTask(LanguageModelTask):
    """Stage 2: LM fine-tuning on target-task text with discriminative learning rates and STLR."""

    def __init__(
        self,
        model: nn.Module,
        train_cfg: TrainConfig,
        factor: float = 2.6,
        cut_frac: float = 0.1,
        ratio: float = 32.0,
        config: dict | None = None,
    ):
        super().__init__(model, train_cfg, config)
        self.factor, self.cut_frac, self.ratio = factor, cut_frac, ratio

    def configure_optimizers(self) -> Any:
        return _ulmfit_optimizers(self, self.cfg, self.factor, self.cut_frac, self.ratio)


class ULMFiTClassificationTask(ClassificationTask):
    """Stage 3: classifier fine-tuning; pair with :class:`GradualUnfreezing`."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        train_cfg: TrainConfig,
        factor: float = 2.6,
        cut_frac: float = 0.1,
        ratio: float = 32.0,
        config: dict | None = None,
    ):
        super().__init__(model, num_classes, train_cfg, config)
        self.factor, self.cut_frac, self.ratio = factor, cut_frac, ratio

    def configure_optimizers(self) -> Any:
        return _ulmfit_optimizers(self, self.cfg, self.factor, self.cut_frac, self.ratio)
