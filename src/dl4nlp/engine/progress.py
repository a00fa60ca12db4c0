"""Progress for logs that are not a terminal: one line per epoch on stderr instead of carriage-return bars."""

from __future__ import annotations

import sys
import time
from typing import Any

from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar


class EpochLines(ProgressBar):
    """``epoch 3/10: 412 steps, 38 s; dev_acc 0.8123 dev_loss 0.41`` at the end of each epoch, on stderr."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._start = time.perf_counter()

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._enabled or trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "numel", lambda: 1)() == 1}
        shown = " ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items()) if k.startswith("dev_"))
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {trainer.global_step} steps, "
              f"{time.perf_counter() - self._start:.0f} s; {shown}", file=sys.stderr, flush=True)


def progress_callback(stream: Any = None) -> ProgressBar:
    """A live bar on a terminal, one line per epoch otherwise (a log file, CI, a pipe)."""
    stream = stream or sys.stderr
    return TQDMProgressBar(refresh_rate=10) if getattr(stream, "isatty", lambda: False)() else EpochLines()
