"""The ``--device`` / ``device=`` option of the commands that place a model themselves (``serve``,
``embeddings train``); the Lightning commands take ``trainer.accelerator`` / ``trainer.devices`` instead."""

from __future__ import annotations

from typing import Any

from dl4nlp.core.errors import ConfigError


def torch_device(spec: str, option: str) -> Any:
    """``spec`` (``cpu``, ``cuda`` or ``cuda:N``) as a ``torch.device``.

    ``option`` names the setting in the messages: a :class:`ConfigError` ``"<option> must be cpu, cuda or
    cuda:N, got 'tpu'"`` for anything else, and ``"<option> cuda:3: no such CUDA device on this machine
    (use cpu)"`` for a CUDA device this machine lacks (torch would fail later, inside the first transfer).
    """
    import torch

    try:
        device = torch.device(spec)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(f"{option} must be cpu, cuda or cuda:N, got '{spec}'")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"{option} {spec}: no such CUDA device on this machine (use cpu)")
    return device
