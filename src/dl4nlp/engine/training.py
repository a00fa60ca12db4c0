"""The training engine every task shares: a Lightning ``Trainer`` with early stopping, best/last
checkpoints written atomically, exact resume (RNG state in the checkpoint), CSV + TensorBoard logs,
a progress bar, and Trainer options (devices, strategy, precision, nodes) passed through from config.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, WeightAveraging
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from dl4nlp.core.config import ExperimentConfig, TrainConfig
from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.core.io import remove_stale_temporaries, torch_load, torch_save, write_text
from dl4nlp.core.runs import unfinished_run


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written to a temporary file and renamed into place, and read back with
    ``torch.load(weights_only=True)`` (tensors and plain data only, never code)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        torch_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict:
        return torch_load(path, map_location="cpu")


class RNGStateCallback(Callback):
    """Stores the Python and torch RNG states in each checkpoint and restores them on resume,
    so a killed run continues exactly as if it had never stopped (dropout masks included)."""

    def state_dict(self) -> dict[str, Any]:
        state = {"python": _python_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "python" in state:
            random.setstate(_python_state_back(state["python"]))
        if "torch" in state:
            torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class TimeToBestCallback(Callback):
    """Wall-clock seconds from the start of training to the end of the validation that gave the best
    monitored dev score, and that epoch (counted from 1): the "time to best dev" the benchmarks report.
    Kept in checkpoints, so a resumed run also counts the time spent before it was killed."""

    def __init__(self, monitor: str, mode: str):
        self.monitor, self.mode = monitor, mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.time_to_best_s: float | None = None
        self.elapsed_before = 0.0
        self._start: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        value = float(value)
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best, self.best_epoch, self.time_to_best_s = value, trainer.current_epoch + 1, round(self.elapsed(), 2)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "time_to_best_s": self.time_to_best_s,
                "elapsed": self.elapsed()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
        self.time_to_best_s, self.elapsed_before = state.get("time_to_best_s"), state.get("elapsed", 0.0)


class NonFiniteCheck(Callback):
    """Stops a run whose training loss, dev loss or weights stop being finite (NaN or infinite) with a
    :class:`RunError` naming the epoch and batch and the settings to look at. The training loss is checked after
    every batch (in 16-bit mixed precision, where the grad scaler skips an overflowing step, only the weights and
    dev losses are), the dev losses and the weights when a validation ends: before that epoch's checkpoints are
    written (Lightning runs the checkpoint callbacks last), so ``last.ckpt`` keeps the last good weights, and the
    error stops the pipeline before it writes ``results.json``."""

    gpu_every = 50  # batches between two checks of the training loss on an accelerator

    def __init__(self, train: TrainConfig, precision: str = "32-true"):
        self.train, self.precision = train, str(precision)

    def hint(self) -> str:
        t = self.train
        keys = [f"train.lr ({t.lr:g})"] + [f"train.{k} ({getattr(t, k):g})" for k in ("l2", "weight_decay", "momentum")
                                           if getattr(t, k)]
        hint = "look at " + ", ".join(keys)
        if t.clip_norm is None:
            hint += "; or clip gradients (train.clip_norm)"
        if "16" in self.precision:
            hint += f"; or train in 32-bit (trainer.precision is {self.precision})"
        return hint

    def stop(self, trainer: L.Trainer, what: str, where: str) -> None:
        run = Path(trainer.default_root_dir)
        last = run / "last.ckpt"
        kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written yet"
        raise RunError(f"{run}: {what} at {where}: training stopped, no results written ({kept}); {self.hint()}")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if "16" in self.precision:  # mixed precision: the grad scaler skips an overflowing step by design
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor) or (loss.device.type != "cpu" and batch_idx % self.gpu_every):
            return  # on an accelerator, a check is a host sync: every gpu_every-th batch (a NaN stays a NaN)
        if not bool(torch.isfinite(loss.detach()).all()):
            self.stop(trainer, f"the training loss is {float(loss.detach().float().sum())}",
                      f"epoch {trainer.current_epoch + 1}, batch {batch_idx + 1}")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        bad = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("dev") and k.endswith("loss")
               and isinstance(v, torch.Tensor) and v.numel() == 1 and not torch.isfinite(v)}
        where = f"the end of epoch {trainer.current_epoch + 1}"
        if bad:
            self.stop(trainer, ", ".join(f"{k} is {v}" for k, v in bad.items()), where)
        self.check_weights(trainer, pl_module, where)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check_weights(trainer, pl_module, f"the end of epoch {trainer.current_epoch + 1}")

    def check_weights(self, trainer: L.Trainer, pl_module: L.LightningModule, where: str) -> None:
        with torch.no_grad():
            bad = next((n for n, p in pl_module.named_parameters() if not bool(torch.isfinite(p).all())), None)
        if bad is not None:
            self.stop(trainer, f"the weights ({bad}) are no longer finite", where)


class MonitorCheck(Callback):
    """``train.monitor`` must be a metric the task logs on dev: checked after Lightning's sanity validation
    (two dev batches, before any training), with an error listing the names the task does log."""

    def __init__(self, monitor: str):
        self.monitor = monitor

    def on_sanity_check_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logged = sorted(trainer.callback_metrics)
        if logged and self.monitor not in logged:
            raise ConfigError(f"train.monitor: '{self.monitor}' is not a metric this task logs on dev "
                              f"(it logs: {', '.join(logged)})")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: the message says at which epoch and how to continue the run."""

    def __init__(self, run_dir: Path, epoch: int):
        stage = not (run_dir / "config.yaml").is_file() or (run_dir.parent / "config.yaml").is_file()
        command = f"dl4nlp transfer --resume {run_dir.parent}" if stage else f"dl4nlp train --resume {run_dir}"
        if (run_dir / "last.ckpt").is_file():
            msg = f"interrupted at epoch {epoch}; resume with: {command}"
        else:
            msg = f"interrupted at epoch {epoch}, before the first checkpoint: nothing to resume"
        super().__init__(msg)


class _KeepingWriter(ExperimentWriter):
    """Lightning's metrics.csv writer, except that an existing file is kept and its columns continued."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="", encoding="utf-8") as fh:
                self.metrics_keys = sorted(next(csv.reader(fh), []))


class RunCSVLogger(CSVLogger):
    """Lightning's CSV logger writing ``metrics.csv`` into the run folder. Lightning deletes an existing
    metrics.csv when it starts; a resumed run instead keeps the rows of the epochs its checkpoint
    holds (see :func:`keep_metrics_until`) and appends to them, so the learning curves cover the whole run."""

    def __init__(self, run_dir: Path, keep_existing: bool = False):
        super().__init__(save_dir=str(run_dir), name="", version="")
        self.keep_existing = keep_existing

    @property
    def experiment(self) -> Any:
        if self._experiment is None and self.keep_existing:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return super().experiment


def keep_metrics_until(run_dir: Path, epoch: int) -> None:
    """Cut ``run_dir/metrics.csv`` back to the rows of epochs ``<= epoch`` (the last one a checkpoint holds):
    rows a killed process logged after its last checkpoint are trained again on resume."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        rows = [r for r in reader if not r.get("epoch") or float(r["epoch"]) <= epoch]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())


class PlateauSchedule(Callback):
    """``train.schedule: plateau``: the learning rate times ``factor`` when the monitored dev metric has not
    improved for ``patience`` + 1 validations (torch's ``ReduceLROnPlateau``).

    Stepped here, when a validation ends and before the checkpoint callbacks run, so ``last.ckpt`` already
    holds this epoch's step and a killed run resumes exactly. (Handed to Lightning as an ``lr_scheduler``, it is
    stepped after the epoch's checkpoints are written, and a resumed run loses that step.)"""

    def __init__(self, monitor: str, mode: str, factor: float, patience: int = 1):
        self.monitor, self.mode, self.factor, self.patience = monitor, mode, factor, patience
        self.scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._restored: dict[str, Any] | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            trainer.optimizers[0], mode=self.mode, factor=self.factor, patience=self.patience)
        if self._restored:
            self.scheduler.load_state_dict(self._restored)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or self.scheduler is None or value is None:
            return
        self.scheduler.step(float(value))

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict() if self.scheduler is not None else dict(self._restored or {})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._restored = state


class EMAWeights(WeightAveraging):
    """An exponential moving average of the weights, updated after every optimizer step,

        theta_ema <- d * theta_ema + (1 - d) * theta,

    that Lightning swaps in for every dev evaluation and writes to the checkpoints' ``state_dict`` (the running
    weights go to ``current_model_state``, so ``--resume`` continues both). With 1 / (1 - d) steps as its
    horizon (d = 0.99: the last ~100 steps), it smooths the step-to-step noise of small-batch training
    (Polyak & Juditsky 1992). torch's in-place foreach update: 1.4 ms per step for the 3.9M-parameter MLP on one
    CPU thread, where Lightning's ``EMAWeightAveraging`` (a per-tensor update) takes 32 ms.
    """

    def __init__(self, decay: float):
        from torch.optim.swa_utils import get_ema_multi_avg_fn

        super().__init__(multi_avg_fn=get_ema_multi_avg_fn(decay))

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return step_idx is not None  # every optimizer step, never at epoch ends


def time_to_best(trainer: L.Trainer) -> dict[str, Any]:
    """``{"best_epoch", "time_to_best_s"}`` for results.json (empty when nothing was validated)."""
    for cb in trainer.callbacks:
        if isinstance(cb, TimeToBestCallback) and cb.best_epoch is not None:
            return {"best_epoch": cb.best_epoch, "time_to_best_s": cb.time_to_best_s}
    return {}


def _python_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _python_state_back(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def machine_info() -> dict[str, Any]:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
    }
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
        info["gpus"] = torch.cuda.device_count()
    return info


def quiet_lightning() -> None:
    """Keep the console for the progress bar and results: no tips, no 'GPU available: False' lines."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (".*exists and is not empty.*", ".*does not have many workers.*", ".*LeafSpec.*",
                    ".*is deprecated.*", ".*Checkpoint directory.*", ".*hparams.*",
                    # evaluation reloads best.ckpt into a trainer without the training callbacks, on purpose
                    ".*callbacks used to create the checkpoint.*"):
        warnings.filterwarnings("ignore", message=pattern)


def make_trainer(cfg: ExperimentConfig, run_dir: Path, *, monitor: str | None = None, mode: str | None = None,
                 callbacks: list[Callback] | None = None, resuming: bool = False, **overrides: Any) -> L.Trainer:
    """A Trainer writing ``best.ckpt``, ``last.ckpt``, ``metrics.csv`` and TensorBoard events to ``run_dir``."""
    quiet_lightning()
    t, tr = cfg.train, cfg.trainer
    monitor = monitor or t.monitor
    mode = mode or t.mode
    cbs: list[Callback] = [
        ModelCheckpoint(dirpath=run_dir, filename="best", monitor=monitor, mode=mode, save_top_k=1,
                        enable_version_counter=False, auto_insert_metric_name=False),
        # a separate callback for last.ckpt: Lightning's save_last only refreshes it when best improves
        ModelCheckpoint(dirpath=run_dir, filename="last", monitor=None, save_top_k=1, every_n_epochs=1,
                        enable_version_counter=False, auto_insert_metric_name=False),
        RNGStateCallback(),
        TimeToBestCallback(monitor, mode),
    ]
    if t.patience and t.patience > 0:
        cbs.append(EarlyStopping(monitor=monitor, mode=mode, patience=t.patience, min_delta=t.min_delta))
    if t.ema_decay is not None:
        cbs.append(EMAWeights(t.ema_decay))
    if t.schedule.lower() == "plateau":
        cbs.append(PlateauSchedule(t.monitor, t.mode, t.gamma))
    if tr.progress_bar:
        from dl4nlp.engine.progress import progress_callback

        cbs.append(progress_callback())  # a bar on a terminal, one line per epoch in a log
    cbs += [NonFiniteCheck(t, tr.precision), MonitorCheck(monitor)]
    cbs.extend(callbacks or [])
    kwargs: dict[str, Any] = dict(
        accelerator=tr.accelerator,
        devices=tr.devices,
        strategy=tr.strategy,
        num_nodes=tr.num_nodes,
        precision=tr.precision,
        deterministic=tr.deterministic,
        max_epochs=t.epochs,
        gradient_clip_val=t.clip_norm,
        gradient_clip_algorithm="norm",
        accumulate_grad_batches=t.accumulate_grad_batches,
        callbacks=cbs,
        logger=[RunCSVLogger(run_dir, keep_existing=resuming),
                TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="")],
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=tr.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=tr.log_every_n_steps,
        use_distributed_sampler=False,  # our samplers shard by rank themselves
        num_sanity_val_steps=0 if resuming else 2,
        default_root_dir=str(run_dir),
    )
    if tr.limit_train_batches is not None:
        kwargs["limit_train_batches"] = tr.limit_train_batches
    kwargs.update(overrides)
    try:
        return L.Trainer(**kwargs)
    except (ValueError, TypeError, KeyError, MisconfigurationException) as exc:  # e.g. trainer.precision=foo
        raise ConfigError(f"trainer: {exc}") from None


def make_eval_trainer(cfg: ExperimentConfig) -> L.Trainer:
    """A single-device Trainer for scoring a checkpoint: no logger (metrics.csv keeps the training
    curves only), no checkpointing, no progress bar."""
    quiet_lightning()
    return L.Trainer(accelerator=cfg.trainer.accelerator, devices=1, precision=cfg.trainer.precision, logger=False,
                     enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                     plugins=[AtomicCheckpointIO()])


def finish_distributed(trainer: L.Trainer) -> bool:
    """After a DDP fit: synchronise, let the other ranks go, and return True on the process that
    should evaluate and write the results (rank 0; always True without DDP)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        if not trainer.is_global_zero:
            return False
        torch.distributed.destroy_process_group()
    return trainer.is_global_zero


def resume_checkpoint(resume: str | Path | None) -> Path | None:
    """``RUN/last.ckpt`` to continue from (None for a new run); a clear error when there is none or when the
    run has finished (its results.json would be rewritten). Clears the temporary files of a write the kill
    interrupted."""
    if resume is None:
        return None
    run = unfinished_run(resume)
    ckpt = run / "last.ckpt"
    if not ckpt.is_file():
        raise RunError(f"{resume}: nothing to resume (no last.ckpt)")
    remove_stale_temporaries(run)
    return ckpt


def open_run_dir(cfg: ExperimentConfig, resume: str | Path | None = None, run_dir: str | Path | None = None) -> Path:
    """The folder a pipeline writes to: the resumed run, an explicit ``run_dir``, or a fresh
    ``<run.dir>/<name>`` (shared by every DDP rank, see :func:`run_dir_for`)."""
    from dl4nlp.core.runs import new_run_dir

    if resume is not None:
        return Path(resume)
    if run_dir is not None:
        path = Path(run_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return run_dir_for(cfg, new_run_dir)


def provenance() -> dict[str, Any]:
    """Where and when a result was produced: machine, UTC date, and the ``dl4nlp`` command line."""
    import sys
    from datetime import UTC, datetime

    return {
        "machine": machine_info(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["dl4nlp", *sys.argv[1:]]) if sys.argv and "dl4nlp" in sys.argv[0] else None,
    }


def run_dir_for(cfg: ExperimentConfig, new_run_dir: Any) -> Path:
    """The run folder for this process. Under DDP every rank must write to the same folder: rank 0
    makes it and passes it to the ranks it launches through ``DL4NLP_RUN_DIR``; with an external
    launcher (torchrun, SLURM: WORLD_SIZE > 1 from the start) every rank uses ``<run.dir>/<run.name>``."""
    env = os.environ.get("DL4NLP_RUN_DIR")
    if env:
        path = Path(env)
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
        path = Path(cfg.run.dir) / cfg.run_name()
    else:
        return new_run_dir(cfg)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fit(trainer: L.Trainer, task: L.LightningModule, train_loader: Any, dev_loader: Any,
        resume_from: str | Path | None = None) -> float:
    """Train (or continue from ``resume_from``); returns the wall-clock seconds of training, a resumed run's
    time before it was killed (up to its last checkpoint) included."""
    start = time.perf_counter()
    run_dir = Path(trainer.default_root_dir)
    if resume_from is not None and trainer.is_global_zero:
        # mmap: only the epoch number is read here; Lightning loads the tensors when it restores the run
        keep_metrics_until(run_dir, int(torch_load(resume_from, mmap=True).get("epoch", -1)))
    inherited = "DL4NLP_RUN_DIR" in os.environ
    os.environ["DL4NLP_RUN_DIR"] = str(run_dir)  # ranks launched by DDP inherit the folder
    try:
        trainer.fit(task, train_loader, dev_loader, ckpt_path=str(resume_from) if resume_from else None)
    except MisconfigurationException as exc:  # e.g. train.monitor names a metric this task does not log
        raise ConfigError(f"train: {exc}") from None
    except SystemExit:  # Lightning's answer to Ctrl-C: it stops the fit cleanly, then exits with status 1
        if not trainer.interrupted:
            raise
        import signal

        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores Ctrl-C from there on
        raise TrainingInterrupted(run_dir, trainer.current_epoch + 1) from None
    finally:
        if not inherited:
            os.environ.pop("DL4NLP_RUN_DIR", None)
    before = next((cb.elapsed_before for cb in trainer.callbacks if isinstance(cb, TimeToBestCallback)), 0.0)
    return before + time.perf_counter() - start


def best_checkpoint(trainer: L.Trainer, run_dir: Path) -> Path:
    """The best checkpoint by the monitored dev metric (falls back to last.ckpt)."""
    for cb in trainer.checkpoint_callbacks:
        if getattr(cb, "monitor", None) and getattr(cb, "best_model_path", None):
            return Path(cb.best_model_path)
    return run_dir / "last.ckpt"


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- classification runs


@dataclass
class Fitted:
    """A finished fit, on the process that writes the results: wall-clock seconds of the fit, the best
    checkpoint, a single-device Trainer for scoring it and the best checkpoint's dev scores."""

    trainer: L.Trainer
    wall: float
    best: Path
    evaluator: L.Trainer
    dev: dict[str, float]

    def summary(self) -> dict[str, Any]:
        """The results.json entries every classification run has: dev scores, time, epochs, best epoch."""
        return {"dev_acc": self.dev["dev_acc"], "dev_f1": self.dev["dev_f1"], "dev_loss": self.dev["dev_loss"],
                "train_time_s": round(self.wall, 2), "epochs_run": self.trainer.current_epoch,
                **time_to_best(self.trainer), "best_checkpoint": self.best.name}

    def examples_per_s(self, n_train: int) -> float | None:
        """Training examples per second of the fit, counting every epoch run (at least one)."""
        epochs = max(1, self.trainer.current_epoch)
        return round(n_train * epochs / self.wall, 1) if self.wall > 0 else None


def fit_and_validate(cfg: ExperimentConfig, run_dir: Path, task: L.LightningModule, train_loader: Any,
                     dev_loader: Any, resume_from: Path | None = None, callbacks: list | None = None) -> Fitted | None:
    """Train (or resume) with early stopping, then score the best checkpoint on dev (its weights are loaded
    into ``task``). None when the fit was interrupted or on a DDP rank other than 0: nothing more to write."""
    trainer = make_trainer(cfg, run_dir, callbacks=callbacks, resuming=resume_from is not None)
    wall = fit(trainer, task, train_loader, dev_loader, resume_from)
    if trainer.interrupted:
        return None
    best = best_checkpoint(trainer, run_dir)
    if not finish_distributed(trainer):
        return None
    evaluator = make_eval_trainer(cfg)  # single device, rank 0 only
    dev = evaluator.validate(task, dev_loader, ckpt_path=str(best), verbose=False)[0]
    return Fitted(trainer, wall, best, evaluator, dev)


def finish_classification_run(cfg: ExperimentConfig, run_dir: Path, task: Any, fitted: Fitted, test_loader: Any,
                              labels: list[str], results: dict[str, Any], evaluate_test: bool = True) -> Path:
    """The end of a classifier's run: test accuracy, macro-F1 and the confusion matrix (PNG) of the best
    checkpoint when ``evaluate_test``, the learning curves (PNG), then results.json (written last)."""
    from dl4nlp.analysis import plots
    from dl4nlp.core.runs import write_results

    title = f"{cfg.model_name} on {cfg.data.dataset}"
    if evaluate_test:
        test = fitted.evaluator.test(task, test_loader, ckpt_path=str(fitted.best), verbose=False)[0]
        results.update({k: float(v) for k, v in test.items() if k.startswith("test_")})  # acc, f1, loss, ...
        if task.confusion is not None:
            results["confusion"] = task.confusion.tolist()
            plots.confusion_matrix(task.confusion, labels, run_dir / "confusion_matrix.png", f"{title} (test)")
    if (run_dir / "metrics.csv").is_file():
        plots.learning_curves(run_dir / "metrics.csv", run_dir / "learning_curves.png", title)
    write_results(run_dir, results)
    return run_dir
