"""Language modelling: next-token cross-entropy, perplexity, truncated BPTT with the hidden state carried.

    loss = - (1 / N) sum_t log p(w_{t+1} | w_<=t)        mean token negative log-likelihood (nats)
    perplexity = exp(loss)                               over a whole split: exp(total NLL / total tokens)

Batches are consecutive BPTT windows ``(x [B, L], y [B, L])`` (see ``dl4nlp.data.lm``). The state at the
end of window i is detached and fed to window i+1, so gradients flow through L steps only (truncated BPTT;
Williams & Peng 1990) while the model still sees the whole stream. Gradient clipping comes from the shared
engine (``train.clip_norm`` -> ``Trainer(gradient_clip_val=...)``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.models.lm import detach_state
from dl4nlp.tasks.optim import lightning_optimizers


def perplexity(total_nll: float, num_tokens: int) -> float:
    """exp(mean negative log-likelihood per token); a uniform model over V words has perplexity V."""
    if num_tokens <= 0:
        raise ValueError("perplexity of zero tokens")
    return math.exp(total_nll / num_tokens)


class LanguageModelTask(L.LightningModule):
    """Wraps ``model(tokens [B, T], state) -> (logits [B, T, V], state)``; a model that also has
    ``forward_loss(tokens, targets, state) -> (mean NLL, state)`` is trained and evaluated through it
    (the adaptive softmax's exact target NLL without building the [B, T, V] scores).

    Logs per epoch: ``train_loss``, ``train_ppl``, ``train_tok_s`` (training tokens per second of step time),
    ``lr`` (the learning rate the epoch started with), ``dev_loss``, ``dev_ppl``; on test ``test_loss``, ``test_ppl``.
    """

    def __init__(self, model: nn.Module, train_cfg: TrainConfig, config: dict | None = None):
        super().__init__()
        self.model = model
        self.cfg = train_cfg
        if config is not None:
            self.save_hyperparameters({"config": config})
        self.train_nll = torchmetrics.MeanMetric()
        self.dev_nll = torchmetrics.MeanMetric()
        self.test_nll = torchmetrics.MeanMetric()
        self._state: dict[str, Any] = {}
        self._t0 = 0.0
        self.step_seconds = 0.0  # pure training step time (forward, backward, optimiser), summed
        self.tokens_seen = 0
        self._epoch_seconds = 0.0
        self._epoch_tokens = 0
        self._epoch_nll = torch.zeros(())  # summed token NLL of the epoch, on the model's device
        self._epoch_lr = 0.0

    # --------------------------------------------------------------- shared step

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> tuple[torch.Tensor, int]:
        x, y = batch  # [B, L], [B, L]
        state = detach_state(self._state.get(stage))  # truncated BPTT: no gradient into the previous window
        if state is not None and _state_batch(state) != x.size(0):
            state = None  # a different batch size (e.g. a new split): start from zeros
        if hasattr(self.model, "forward_loss"):
            loss, state = self.model.forward_loss(x, y, state)  # mean NLL over B*L tokens
        else:
            logits, state = self.model(x, state)  # [B, L, V]
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))  # mean NLL over B*L tokens
        self._state[stage] = detach_state(state)
        return loss, y.numel()

    def _reset(self, stage: str) -> None:
        self._state.pop(stage, None)

    # --------------------------------------------------------------- training

    def on_train_epoch_start(self) -> None:
        self._reset("train")
        self._epoch_seconds = 0.0
        self._epoch_tokens = 0
        self._epoch_nll = torch.zeros((), device=self.device)
        self._epoch_lr = self.trainer.optimizers[0].param_groups[-1]["lr"]  # a plateau step may follow at dev time

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, n = self._step(batch, "train")
        # summed on the device: a metric update per step would cost a GPU-to-host sync (torchmetrics' NaN check)
        self._epoch_nll += loss.detach() * n
        self._epoch_tokens += n
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        dt = time.perf_counter() - self._t0
        self._epoch_seconds += dt
        self.step_seconds += dt
        self.tokens_seen += batch[1].numel()

    def on_train_epoch_end(self) -> None:
        if self._epoch_tokens:  # one update per epoch; compute() averages over DDP ranks, token-weighted
            self.train_nll.update(self._epoch_nll / self._epoch_tokens, self._epoch_tokens)
        nll = float(self.train_nll.compute())
        self.train_nll.reset()
        self.log("train_loss", nll)
        self.log("train_ppl", math.exp(min(nll, 50.0)))
        if self._epoch_seconds > 0:
            self.log("train_tok_s", self._epoch_tokens / self._epoch_seconds)
        self.log("lr", self._epoch_lr)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:  # a resumed run counts on from here
        checkpoint["lm_throughput"] = {"step_seconds": self.step_seconds, "tokens_seen": self.tokens_seen}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        seen = checkpoint.get("lm_throughput", {})
        self.step_seconds, self.tokens_seen = seen.get("step_seconds", 0.0), seen.get("tokens_seen", 0)

    # --------------------------------------------------------------- evaluation

    def on_validation_epoch_start(self) -> None:
        self._reset("dev")
        self.dev_nll.reset()

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, n = self._step(batch, "dev")
        self.dev_nll.update(loss, n)

    def on_validation_epoch_end(self) -> None:
        nll = float(self.dev_nll.compute())
        self.log("dev_loss", nll)
        self.log("dev_ppl", math.exp(min(nll, 50.0)), prog_bar=True)

    def on_test_epoch_start(self) -> None:
        self._reset("test")
        self.test_nll.reset()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, n = self._step(batch, "test")
        self.test_nll.update(loss, n)

    def on_test_epoch_end(self) -> None:
        nll = float(self.test_nll.compute())
        self.log("test_loss", nll)
        self.log("test_ppl", math.exp(min(nll, 50.0)))

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(params, self.cfg, int(self.trainer.estimated_stepping_batches))


def _state_batch(state: Any) -> int:
    return (state[0] if isinstance(state, tuple) else state).size(1)
