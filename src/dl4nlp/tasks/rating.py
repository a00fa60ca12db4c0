"""Rating prediction: a sentence model under a rating head (:mod:`dl4nlp.models.rating_heads`), trained with the
head's loss (+ lambda * sum W^2), scored with MAE, RMSE, Spearman / Pearson correlation, the accuracy of the
rounded rating and the share within one level (:mod:`dl4nlp.tasks.rating_metrics`).

Logs per epoch ``train_loss``, ``train_mae``; on dev ``dev_loss``, ``dev_mae``, ``dev_rmse``, ``dev_spearman``,
``dev_pearson``, ``dev_acc``, ``dev_within_one``; on test the same with ``test_``. The dev and test scores are
computed once per epoch over every prediction (correlations do not average over batches); the predictions of
the last test are kept in ``test_predictions`` for the plot.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from dl4nlp.core.config import TrainConfig
from dl4nlp.models.rating_heads import RatingModel, RatingScale
from dl4nlp.tasks.optim import l2_penalty, lightning_optimizers
from dl4nlp.tasks.rating_metrics import rating_scores


class RatingTask(L.LightningModule):
    def __init__(self, model: RatingModel, scale: RatingScale, train_cfg: TrainConfig, config: dict | None = None):
        super().__init__()
        self.model, self.scale, self.cfg = model, scale, train_cfg
        if config is not None:
            self.save_hyperparameters({"config": config})
        self._outputs: dict[str, list[torch.Tensor]] = {}
        self.test_predictions: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(tokens, mask)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self(batch["tokens"], batch["mask"])  # [B, O]
        data_loss = self.model.loss(out, batch["label"])
        n = batch["label"].size(0)
        self._train_sums += torch.stack([data_loss.detach() * n,
                                         (self.model.head.rating(out.detach()) - batch["label"]).abs().sum()])
        self._train_n += n
        if self.cfg.l2 > 0:
            return data_loss + self.cfg.l2 * l2_penalty(self.model)
        return data_loss

    def on_train_epoch_start(self) -> None:
        self._train_sums = torch.zeros(2, device=self.device)  # loss * n, |error|
        self._train_n = 0

    def on_train_epoch_end(self) -> None:
        if self._train_n:
            self.log("train_loss", self._train_sums[0] / self._train_n)
            self.log("train_mae", self._train_sums[1] / self._train_n)

    def _collect(self, stage: str, batch: dict[str, Any]) -> None:
        out = self(batch["tokens"], batch["mask"])
        n = batch["label"].size(0)
        parts = self._outputs.setdefault(stage, [])
        parts.append(torch.stack([self.model.head.rating(out), batch["label"].float(),
                                  self.model.loss(out, batch["label"]).expand(n)], 1).cpu())  # [B, 3]

    def _scores(self, stage: str) -> tuple[dict[str, float], torch.Tensor]:
        rows = torch.cat(self._outputs.pop(stage, []) or [torch.empty(0, 3)])  # [N, 3]
        if len(rows) == 0:
            return {}, rows
        s = self.scale
        scores = rating_scores(rows[:, 0].numpy(), rows[:, 1].numpy(), s.lo, s.hi, s.levels)
        scores = {("acc" if k == "accuracy" else k): (0.0 if math.isnan(v) else v) for k, v in scores.items()}
        return {"loss": float(rows[:, 2].mean()), **scores}, rows

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._collect("dev", batch)

    def on_validation_epoch_end(self) -> None:
        scores, _ = self._scores("dev")
        for k, v in scores.items():
            self.log(f"dev_{k}", v, prog_bar=k == "mae")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._collect("test", batch)

    def on_test_epoch_end(self) -> None:
        scores, rows = self._scores("test")
        self.test_predictions = (rows[:, 0], rows[:, 1]) if len(rows) else None
        for k, v in scores.items():
            self.log(f"test_{k}", v)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(params, self.cfg, int(self.trainer.estimated_stepping_batches))


class ULMFiTRatingTask(RatingTask):
    """A rating task trained with ULMFiT's schedule (Howard & Ruder 2018; :mod:`dl4nlp.tasks.ulmfit`):
    discriminative learning rates over the backbone's layer groups and slanted triangular rates; pair with
    :class:`dl4nlp.tasks.ulmfit.GradualUnfreezing`."""

    def __init__(self, model: RatingModel, scale: RatingScale, train_cfg: TrainConfig, factor: float = 2.6,
                 cut_frac: float = 0.1, ratio: float = 32.0, config: dict | None = None):
        super().__init__(model, scale, train_cfg, config)
        self.factor, self.cut_frac, self.ratio = factor, cut_frac, ratio

    def configure_optimizers(self) -> Any:
        from dl4nlp.tasks.ulmfit import _ulmfit_optimizers

        return _ulmfit_optimizers(self, self.cfg, self.factor, self.cut_frac, self.ratio)
