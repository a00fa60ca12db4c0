"""ULMFiT: slanted triangular LR, discriminative LR groups, gradual unfreezing, vocabulary transfer, and
``dl4nlp transfer`` end to end on tiny fixtures."""

from __future__ import annotations

import json
import random

import pytest
import torch

from dl4nlp.data.vocab import Vocab
from dl4nlp.models.lm import LMOptions
from dl4nlp.models.ulmfit import HeadOptions, ULMFiTClassifier
from dl4nlp.pipelines.ulmfit import load_transfer_config, run_transfer, transfer_embeddings
from dl4nlp.tasks.ulmfit import (
    ULMFiTClassificationTask,
    discriminative_param_groups,
    set_trainable,
    slanted_triangular,
    trainable_groups,
)


def test_slanted_triangular_shape():
    T, cut_frac, ratio = 200, 0.1, 32.0
    f = [slanted_triangular(t, T, cut_frac, ratio) for t in range(T + 1)]
    cut = 20
    assert f[0] == pytest.approx(1 / ratio)  # starts at eta_max / ratio
    assert f[cut] == pytest.approx(1.0)  # peak at the cut
    assert max(f) == pytest.approx(1.0) and f.index(max(f)) == cut
    assert all(a < b for a, b in zip(f[:cut], f[1 : cut + 1], strict=True))  # linear rise
    assert all(a > b for a, b in zip(f[cut:T], f[cut + 1 : T + 1], strict=True))  # long linear decay
    assert f[T] == pytest.approx(1 / ratio)  # back to eta_max / ratio at the end
    rise = [f[i + 1] - f[i] for i in range(cut)]
    fall = [f[i] - f[i + 1] for i in range(cut, T)]
    assert max(rise) == pytest.approx(min(rise)) and max(fall) == pytest.approx(min(fall))
    assert rise[0] == pytest.approx(9 * fall[0])  # the rise is (1/cut_frac - 1) times steeper


def tiny_classifier(V: int = 20, layers: int = 2) -> ULMFiTClassifier:
    torch.manual_seed(0)
    return ULMFiTClassifier(
        V, LMOptions(emb_dim=6, hidden=6, layers=layers, dropout=0.0), 2, HeadOptions(5, 0.0)
    )


def test_discriminative_groups_divide_lr_by_factor_per_layer():
    m = tiny_classifier()
    groups = m.layer_groups()
    assert len(groups) == 4  # embedding, LSTM layer 1, LSTM layer 2, head
    ids = [id(p) for g in groups for p in g]
    assert sorted(ids) == sorted(id(p) for p in m.parameters())  # each parameter in exactly one group
    pg = discriminative_param_groups(groups, lr=0.01, factor=2.6)
    assert [g["lr"] for g in pg] == pytest.approx([0.01 / 2.6**3, 0.01 / 2.6**2, 0.01 / 2.6, 0.01])
    assert all(n.endswith("_l0") for n, p in m.rnn.named_parameters() if any(p is q for q in groups[1]))


def test_gradual_unfreezing_trains_one_more_group_per_epoch():
    assert [trainable_groups(e, 4, 1) for e in range(6)] == [1, 2, 3, 4, 4, 4]
    assert [trainable_groups(e, 4, 2) for e in range(5)] == [1, 1, 2, 2, 3]
    assert trainable_groups(0, 4, 0) == 4
    m = tiny_classifier()
    groups = m.layer_groups()
    set_trainable(groups, 2)
    assert [all(p.requires_grad for p in g) for g in groups] == [False, False, True, True]
    assert [any(p.requires_grad for p in g) for g in groups] == [False, False, True, True]


def test_gradual_unfreezing_in_training_changes_only_unfrozen_groups(tmp_path):
    """Two epochs of real training: after epoch 1 only the head moved, after epoch 2 also the top LSTM layer."""
    import lightning as L

    from dl4nlp.core.config import TrainConfig
    from dl4nlp.data.batching import pad_batch
    from dl4nlp.tasks.ulmfit import GradualUnfreezing

    m = tiny_classifier()
    x = torch.randint(2, 20, (16, 7))
    batch = {**pad_batch(x.tolist()), "label": (x[:, 0] > 10).long()}
    loader = torch.utils.data.DataLoader([batch] * 3, batch_size=None)
    snapshots = []

    class Snap(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            snapshots.append([[p.detach().clone() for p in g] for g in m.layer_groups()])

    before = [[p.detach().clone() for p in g] for g in m.layer_groups()]
    task = ULMFiTClassificationTask(m, 2, TrainConfig(lr=0.01, epochs=2))
    unfreeze = GradualUnfreezing(1)
    trainer = L.Trainer(
        max_epochs=2,
        callbacks=[unfreeze, Snap()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(task, loader)
    assert unfreeze.history == [1, 2]

    def moved(a, b):
        return [
            any(not torch.equal(p, q) for p, q in zip(ga, gb, strict=True))
            for ga, gb in zip(a, b, strict=True)
        ]

    assert moved(before, snapshots[0]) == [False, False, False, True]
    assert moved(snapshots[0], snapshots[1]) == [False, False, True, True]


def test_transfer_embeddings_copies_known_words_and_means_new_ones():
    old = Vocab(["<pad>", "<unk>", "<eos>", "The", "cat"])
    w = torch.arange(15, dtype=torch.float).view(5, 3)
    new = Vocab(["<pad>", "<unk>", "<eos>", "the", "cat", "zebra"])
    out, found = transfer_embeddings(old, w, new)
    assert found == 5  # pad, unk, eos, the (via "The"), cat
    assert torch.equal(out[3], w[3]) and torch.equal(out[4], w[4]) and torch.equal(out[2], w[2])
    assert torch.allclose(out[5], w.mean(0))


# --------------------------------------------------------------------------- end to end


POS, NEG = ["good", "great", "fun"], ["bad", "dull", "awful"]
FILL = ["the", "film", "is", "a", "plot", "with", "it"]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("ulmfit")
    rng = random.Random(0)
    (root / "lm").mkdir()
    for split, n in (("train", 150), ("valid", 20), ("test", 20)):
        lines = [" ".join(rng.choice(FILL + POS + NEG) for _ in range(rng.randint(3, 8))) for _ in range(n)]
        (root / "lm" / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "cls").mkdir()
    for split, n in (("train", 80), ("dev", 20), ("test", 20)):
        rows = []
        for i in range(n):
            lab = i % 2
            words = rng.sample(FILL, 3) + [rng.choice(POS if lab else NEG)]
            rng.shuffle(words)
            rows.append(json.dumps({"text": " ".join(words), "label": str(lab)}))
        (root / "cls" / f"{split}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = root / "transfer.yaml"
    cfg.write_text(
        f"""
general:
  config: configs/lm/wt2_small_tied.yaml
  set: [data.dataset=text, data.path={root}/lm, data.train_file=train.txt, data.dev_file=valid.txt,
        data.test_file=test.txt, model.emb_dim=8, model.hidden=8, train.epochs=1, train.optimizer=adam,
        train.lr=0.01, train.schedule=none, train.batch_size=4, train.eval_batch_size=2, data.bptt=8,
        trainer.progress_bar=false]
target:
  max_tokens: 2000
  min_count: 1
  batch_size: 4
  bptt: 8
  epochs: 1
classifier:
  dataset: table
  path: {root}/cls
  train_file: train.jsonl
  dev_file: dev.jsonl
  test_file: test.jsonl
  max_length: 20
  max_dev_examples: null
  epochs: 3
  batch_size: 8
  lr: 0.01
run:
  dir: {root}/runs
  seed: 3
""",
        encoding="utf-8",
    )
    return root, cfg


def test_transfer_runs_three_stages_and_records_each(fixtures):
    root, cfg_path = fixtures
    cfg = load_transfer_config(cfg_path, ["run.name=tl"])
    path = run_transfer(cfg)
    res = json.loads((path / "results.json").read_text())
    st = res["stages"]
    assert res["task"] == "transfer" and set(st) == {"general_lm", "target_lm", "classifier"}
    assert st["target_lm"]["dev_ppl"] > 1 and st["target_lm"]["words_from_general_lm"] > 3
    assert st["classifier"]["unfrozen_groups_per_epoch"] == [1, 2, 3]
    assert 0 <= res["test_acc"] <= 1 and st["classifier"]["test_examples"] == 20
    for sub in (
        "1-general-lm/best.ckpt",
        "2-target-lm/best.ckpt",
        "2-target-lm/vocab.json",
        "3-classifier/best.ckpt",
        "3-classifier/results.json",
        "config.yaml",
    ):
        assert (path / sub).is_file(), sub
    reuse = run_transfer(load_transfer_config(cfg_path, ["run.name=re", f"target.run={path}/2-target-lm"]))
    rres = json.loads((reuse / "results.json").read_text())
    assert rres["stages"]["target_lm"]["reused"].endswith("2-target-lm")
    assert not (reuse / "2-target-lm").exists()
    scratch = run_transfer(load_transfer_config(cfg_path, ["run.name=sc", "classifier.init=scratch"]))
    sres = json.loads((scratch / "results.json").read_text())
    assert set(sres["stages"]) == {"classifier"}
    assert sres["stages"]["classifier"]["unfrozen_groups_per_epoch"] == [4, 4, 4]


def test_transfer_config_errors(tmp_path):
    from dl4nlp.core.errors import ConfigError

    bad = tmp_path / "t.yaml"
    bad.write_text("classifier:\n  int: transfer\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'int'"):
        load_transfer_config(bad)
    bad.write_text("classifier:\n  init: transfer\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="general: give run"):
        load_transfer_config(bad)
    bad.write_text("classifier:\n  init: pretrained\ngeneral:\n  run: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="init: use transfer or scratch"):
        load_transfer_config(bad)


def test_killed_transfer_run_resumes_at_the_interrupted_stage(fixtures, monkeypatch):
    """Finished stages are reused, the classifier continues from its last.ckpt: the same result as a run
    that was never killed."""
    from dl4nlp.core.errors import RunError
    from dl4nlp.core.runs import load_config, load_state_dict
    from dl4nlp.tasks.ulmfit import GradualUnfreezing

    root, cfg_path = fixtures
    full = run_transfer(load_transfer_config(cfg_path, ["run.name=never-killed"]))
    cfg = load_transfer_config(cfg_path, ["run.name=killed"])
    start = GradualUnfreezing.on_train_epoch_start

    class Crash(RuntimeError):
        pass

    def crash_at_epoch_2(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise Crash  # like a kill, as far as the stages go: nothing after this point runs
        start(self, trainer, pl_module)

    monkeypatch.setattr(GradualUnfreezing, "on_train_epoch_start", crash_at_epoch_2)
    with pytest.raises(Crash):
        run_transfer(cfg)
    monkeypatch.undo()
    killed = root / "runs" / "killed"
    assert not (killed / "results.json").exists() and (killed / "3-classifier" / "last.ckpt").is_file()
    lm_ckpt = killed / "2-target-lm" / "best.ckpt"
    lm_written = lm_ckpt.stat().st_mtime_ns
    with pytest.raises(RunError, match="dl4nlp transfer --resume"):  # not a single model's run
        load_config(killed)
    resumed = run_transfer(load_transfer_config(killed / "config.yaml"), resume=killed)
    assert resumed == killed and lm_ckpt.stat().st_mtime_ns == lm_written  # stage 2 reused, not retrained
    a, b = load_state_dict(full / "3-classifier", "last"), load_state_dict(killed / "3-classifier", "last")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ra, rb = (json.loads((p / "results.json").read_text()) for p in (full, killed))
    assert ra["test_acc"] == rb["test_acc"]
    assert rb["stages"]["classifier"]["unfrozen_groups_per_epoch"] == [1, 2, 3]
    with pytest.raises(RunError, match="this run has finished"):
        run_transfer(load_transfer_config(killed / "config.yaml"), resume=killed)


def test_a_target_text_too_short_for_its_batches_is_named(fixtures):
    from dl4nlp.core.errors import DataError

    root, cfg_path = fixtures
    with pytest.raises(DataError, match=r"the target LM's training text \(table train\): 0 tokens"):
        run_transfer(load_transfer_config(cfg_path, ["run.name=short", "target.max_tokens=30"]))


def test_transfer_from_a_general_lm_with_an_adaptive_softmax(fixtures):
    """The target-LM stage starts from an adaptive-softmax general LM (its tied head rows come with the embedding)
    and the three stages finish."""
    root, cfg_path = fixtures
    adaptive = root / "adaptive.yaml"
    text = cfg_path.read_text(encoding="utf-8")
    adaptive.write_text(text.replace("model.hidden=8,", 'model.hidden=8, model.output=adaptive, "model.cutoffs=[6]",'),
                        encoding="utf-8")
    path = run_transfer(load_transfer_config(adaptive, ["run.name=adaptive"]))
    res = json.loads((path / "results.json").read_text())
    assert set(res["stages"]) == {"general_lm", "target_lm", "classifier"}
    assert "adaptive" in (path / "1-general-lm" / "config.yaml").read_text()
    assert res["stages"]["target_lm"]["dev_ppl"] > 1
