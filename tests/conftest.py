"""Shared fixtures: tiny data sets built in a temporary folder (never the real data)."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POS = ["good", "great", "wonderful", "fun", "moving", "brilliant", "charming"]
NEG = ["bad", "awful", "boring", "dull", "tedious", "mess", "clumsy"]
FILL = ["the", "film", "is", "a", "story", "of", "plot", "with", "it"]


def _tree(words: list[str], label: int) -> str:
    """A right-branching binarised tree; word labels 4/0 for sentiment words, 2 otherwise."""
    def leaf(w: str) -> str:
        lab = 4 if w in POS else 0 if w in NEG else 2
        return f"({lab} {w})"

    node = leaf(words[-1])
    for w in reversed(words[:-1]):
        node = f"({label} {leaf(w)} {node})"
    return node if len(words) > 1 else f"({label} {leaf(words[0])})"


def make_sentences(n: int, seed: int) -> list[tuple[list[str], int]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = [0, 1, 3, 4][i % 4]
        vocab = POS if label >= 3 else NEG
        words = rng.sample(FILL, rng.randint(2, 5)) + rng.sample(vocab, 1 + (label in (0, 4)))
        rng.shuffle(words)
        out.append((words, label))
    return out


def write_sst(folder: Path, n_train: int = 48, n_dev: int = 16, n_test: int = 16) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 1), ("dev", n_dev, 2), ("test", n_test, 3)):
        lines = [_tree(w, y) for w, y in make_sentences(n, seed)]
        if split == "train":  # a few neutral sentences too, for SST-5
            lines += [_tree(["the", "film", "is", "a", "film"], 2), _tree(["it", "is", "a", "story"], 2)]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def sst_dir(tmp_path: Path) -> Path:
    return write_sst(tmp_path / "sst")


def tiny_config(sst: Path, runs: Path, model: str = "logreg", **extra: object) -> list[str]:
    """``--set`` overrides for a fast run on the tiny SST fixture."""
    sets = [
        f"data.path={sst}", "data.dataset=sst2", f"run.dir={runs}", "trainer.progress_bar=false",
        "train.epochs=3", "train.batch_size=8", "train.patience=0", f"model.name={model}",
        "trainer.accelerator=cpu",
    ]
    sets += [f"{k}={v}" for k, v in extra.items()]
    return sets


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str]]:
    """``cli(*args)`` runs ``dl4nlp ARGS`` in this process through the console entry point (library errors
    become ``error: ...`` and exit status 2) and returns (exit status, stderr)."""
    from dl4nlp.cli import main

    def run(*args: object) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["dl4nlp", *map(str, args)])
        capsys.readouterr()  # drop what earlier steps printed
        with pytest.raises(SystemExit) as exit_:
            main()
        return exit_.value.code, capsys.readouterr().err

    return run


class Killed(RuntimeError):
    """Raised by :func:`kill_at`'s callback: training stops there, as if the process had been killed."""


def kill_at(epoch: int, batch: int) -> object:
    """A Lightning callback that stops training in the middle of an epoch (at ``batch`` of ``epoch``, counted
    from 0) by raising :class:`Killed`: the run folder is left as a killed run leaves it, ready for --resume."""
    from lightning.pytorch.callbacks import Callback

    class KillAt(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch_, batch_idx):
            if trainer.current_epoch == epoch and batch_idx == batch:
                raise Killed(f"simulated kill at epoch {epoch}, batch {batch}")

    return KillAt()


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine run far faster on one torch thread (no oversubscription); a test
    module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
