"""Optimisers, learning-rate schedules and the course's L2 penalty, shared by every task."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.core.errors import ConfigError


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """sum over weight matrices of sum(W^2) (biases and other vectors excluded; frozen weights too).

    The course writes the regularised loss as  L(theta) + lambda * sum_W ||W||_F^2 ; with plain SGD
    this equals weight decay of 2 * lr * lambda per step, which is why ``train.weight_decay`` (the
    optimiser's decoupled form) is offered separately.
    """
    total = None
    for p in model.parameters():
        if p.requires_grad and p.dim() >= 2:
            s = p.pow(2).sum()
            total = s if total is None else total + s
    if total is None:
        return torch.zeros(())
    return total


def fused_supported(params: list) -> bool:
    """True when torch's fused optimizer kernels can take these parameters (or parameter groups):
    dense floating-point tensors, all on CPU or all on CUDA."""
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    if not tensors:
        return False
    devices = {t.device.type for t in tensors}
    return len(devices) == 1 and devices <= {"cpu", "cuda"} and all(t.is_floating_point() for t in tensors)


def _materialise(p: Any) -> Any:
    """A tensor as it is; a parameter group with its ``params`` (a tensor, list or generator) as a list."""
    if not isinstance(p, dict):
        return p
    group = p["params"]
    return {**p, "params": [group] if isinstance(group, torch.Tensor) else list(group)}


def make_optimizer(params: Any, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (with momentum), Adam or AdamW over ``params`` (tensors or parameter groups).

    ``train.fused`` (default on) uses torch's fused kernels where the parameters allow: the same update
    in one pass over memory. On CPU that made Adam's step over the MLP rung's 3.9M parameters ~7x faster
    than torch's default per-tensor loop (benchmarks/results/sentiment_bow.md).
    """
    name = cfg.optimizer.lower()
    params = [_materialise(p) for p in params]  # the fused check reads them before the optimizer does
    kw: dict[str, Any] = {"fused": True} if cfg.fused and fused_supported(params) else {}
    if name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kw)
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)
    raise ConfigError(f"train.optimizer: unknown optimizer '{cfg.optimizer}' (use sgd, adam, adamw)")


def make_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int) -> dict | None:
    """A Lightning ``lr_scheduler`` config dict, or None for a constant learning rate (and for ``plateau``, which
    the Trainer's :class:`~dl4nlp.engine.training.PlateauSchedule` callback owns)."""
    name = cfg.schedule.lower()
    if name == "none":
        return None
    if name == "step":
        sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
        return {"scheduler": sched, "interval": "epoch"}
    if name == "exponential":
        return {"scheduler": torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.gamma), "interval": "epoch"}
    if name == "plateau":  # stepped by training.PlateauSchedule, before the checkpoints (exact resume)
        return None
    if name in ("linear", "cosine"):
        warm = max(0, cfg.warmup_steps)
        total = max(total_steps, warm + 1)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total - warm))
            return 1.0 - progress if name == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
    if name == "inverse_sqrt":
        warm = max(1, cfg.warmup_steps)
        return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: inverse_sqrt_factor(s, warm)),
                "interval": "step"}
    raise ConfigError(
        f"train.schedule: unknown schedule '{cfg.schedule}' "
        "(use none, step, exponential, plateau, linear, cosine, inverse_sqrt)"
    )


def inverse_sqrt_factor(step: int, warmup: int) -> float:
    """Vaswani et al. 2017 (5.3): lrate = d^-0.5 * min(n^-0.5, n * warmup^-1.5) at step n = step + 1, divided by
    its peak d^-0.5 * warmup^-0.5 (reached at n = warmup), so ``train.lr`` is the peak learning rate: a linear
    rise over ``warmup`` steps, then decay with the inverse square root of the step number. The paper's base
    model (d 512, 4000 warm-up steps) peaks at 512^-0.5 * 4000^-0.5 = 7.0e-4."""
    n = step + 1
    return min(n / warmup, math.sqrt(warmup / n))


def lightning_optimizers(params: Any, cfg: TrainConfig, total_steps: int) -> Any:
    """What a task's ``configure_optimizers`` returns: the optimiser over ``params`` (tensors or groups), with
    its learning-rate schedule when ``cfg.schedule`` is not ``none``."""
    opt = make_optimizer(params, cfg)
    sched = make_schedule(opt, cfg, total_steps)
    return opt if sched is None else {"optimizer": opt, "lr_scheduler": sched}
