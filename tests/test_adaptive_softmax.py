"""Adaptive softmax (Grave et al. 2017): parity with torch's AdaptiveLogSoftmaxWithLoss, normalisation, the
one-cluster case equal to a full softmax, perplexity of a known distribution, and a frequency-indexed
vocabulary through train -> save -> load -> evaluate / generate."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from dl4nlp.cli import app
from dl4nlp.core.errors import ConfigError
from dl4nlp.data.lm import EOS, frequency_ranked, read_corpus
from dl4nlp.models.adaptive_softmax import AdaptiveSoftmax
from dl4nlp.models.lm import LMOptions, RNNLanguageModel

# word i is drawn with probability ~ 1 / (i + 1) (Zipf), so the frequency order differs from this order
WORDS = "zebra yak xenon wolf vole urchin tiger seal rat quail puma owl newt mole lark koi jay ibis hare gnu".split()


def lm(vocab: int, **kw) -> RNNLanguageModel:
    opts = {"emb_dim": 8, "hidden": 8, "layers": 1, "dropout": 0.0, **kw}
    return RNNLanguageModel(vocab, LMOptions(**opts)).eval()


def test_parity_with_torch_adaptive_log_softmax():
    torch.manual_seed(0)
    d, V, cutoffs = 12, 40, [5, 17]
    ours = AdaptiveSoftmax(d, V, cutoffs, div_value=2.0)
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(d, V, cutoffs, div_value=2.0, head_bias=True)
    with torch.no_grad():  # the same weights: torch's head is [words; clusters] in one Linear
        ours.bias.normal_()
        ref.head.weight.copy_(torch.cat([ours.word_weight, ours.cluster_weight]))
        ref.head.bias.copy_(ours.bias)
        for mine, theirs in zip(ours.tails, ref.tail, strict=True):
            theirs.load_state_dict(mine.state_dict())
    h = torch.randn(30, d)
    target = torch.randint(0, V, (30,))
    target[:3] = torch.tensor([0, 5, V - 1])  # the first word of the head, of a tail, the last word
    assert torch.allclose(ours.log_prob(h), ref.log_prob(h), atol=1e-5)
    out = ref(h, target)
    assert torch.allclose(-ours(h, target), out.output, atol=1e-5)
    assert torch.allclose(ours(h, target).mean(), out.loss, atol=1e-5)


@pytest.mark.parametrize("tie", [False, True])
def test_log_probs_sum_to_one_and_the_loss_is_their_target_entry(tie):
    torch.manual_seed(1)
    model = lm(30, output="adaptive", cutoffs=[4, 11], div_value=2.0, tie_weights=tie)
    x, y = torch.randint(0, 30, (3, 7)), torch.randint(0, 30, (3, 7))
    logp, _ = model(x)  # [3, 7, 30]
    assert logp.shape == (3, 7, 30)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3, 7), atol=1e-5)
    assert torch.allclose(logp.log_softmax(-1), logp, atol=1e-5)  # already normalised: generation's step is exact
    nll, _ = model.forward_loss(x, y)
    assert nll.item() == pytest.approx(F.cross_entropy(logp.reshape(-1, 30), y.reshape(-1)).item(), abs=1e-5)


def test_tied_head_shares_the_first_embedding_rows_and_groups_cover_all_parameters():
    model = lm(30, output="adaptive", cutoffs=[4, 11], div_value=2.0, tie_weights=True, hidden=6)  # a projection 6 -> 8
    assert model.adaptive.word_weight is model.embedding.weight
    head = model.adaptive.head_log_prob(torch.zeros(1, 8))
    assert head.shape == (1, 4 + 2)
    groups = model.layer_groups()
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat)) == len(list(model.parameters()))
    with torch.no_grad():
        model.embedding.weight[0].add_(1.0)  # moves the head's row of word 0 too
    h = torch.randn(2, 8)
    with torch.no_grad():
        base = h @ model.embedding.weight[:4].T + model.adaptive.bias[:4]  # [2, 4] head word logits
        clusters = h @ model.adaptive.cluster_weight.T + model.adaptive.bias[4:]
        expected = torch.cat([base, clusters], -1).log_softmax(-1)
    assert torch.allclose(model.adaptive.head_log_prob(h), expected, atol=1e-6)


@pytest.mark.parametrize("tie", [False, True])
def test_one_cluster_adaptive_is_the_full_softmax_with_the_same_weights(tie):
    torch.manual_seed(2)
    V = 25
    full = lm(V, tie_weights=tie)
    adaptive = lm(V, output="adaptive", cutoffs=[V, V + 10], tie_weights=tie)  # every cutoff >= V: head only
    assert adaptive.adaptive.n_clusters == 0 and adaptive.adaptive.shortlist == V
    state = dict(full.state_dict())
    state["adaptive.word_weight"] = state.pop("decoder.weight")
    state["adaptive.bias"] = state.pop("decoder.bias")
    state["adaptive.cluster_weight"] = adaptive.adaptive.cluster_weight.detach()  # [0, d]
    adaptive.load_state_dict(state)
    x, y = torch.randint(0, V, (4, 9)), torch.randint(0, V, (4, 9))
    a, b = full.forward_loss(x, y)[0], adaptive.forward_loss(x, y)[0]
    assert a.item() == pytest.approx(b.item(), abs=1e-6)
    logits, _ = full(x)
    assert torch.allclose(logits.log_softmax(-1), adaptive(x)[0], atol=1e-5)


def test_perplexity_of_a_known_distribution():
    """With zero weights the head is softmax(bias) and each tail uniform: p(w) is known in closed form,
    and the model's perplexity on any stream is exp(-mean log p(w_t)) whatever the context."""
    torch.manual_seed(3)
    V, cutoffs = 20, [6, 12]
    model = lm(V, output="adaptive", cutoffs=cutoffs, div_value=2.0)
    out = model.adaptive
    q_head = torch.tensor([0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.12, 0.08])  # 6 words, then clusters [6, 12), [12, 20)
    with torch.no_grad():
        for p in out.parameters():
            p.zero_()
        out.bias.copy_(q_head.log())
    q = torch.cat([q_head[:6], q_head[6].expand(6) / 6, q_head[7].expand(8) / 8])  # [V]
    assert q.sum().item() == pytest.approx(1.0)
    stream = torch.multinomial(q, 400, replacement=True, generator=torch.Generator().manual_seed(0))
    x, y = stream[:-1].view(1, -1), stream[1:].view(1, -1)
    expected = math.exp(-float(q.log()[y].mean()))
    nll, _ = model.forward_loss(x, y)
    assert math.exp(nll.item()) == pytest.approx(expected, rel=1e-5)
    logp, _ = model(x)
    assert math.exp(F.nll_loss(logp[0], y[0]).item()) == pytest.approx(expected, rel=1e-5)


def test_the_ulmfit_classifier_takes_the_encoder_of_an_adaptive_lm():
    from dl4nlp.models.ulmfit import HeadOptions, ULMFiTClassifier

    torch.manual_seed(4)
    model = lm(30, output="adaptive", cutoffs=[4, 11], div_value=2.0, tie_weights=True)
    clf = ULMFiTClassifier(30, model.opts, 2, HeadOptions()).eval()
    clf.load_encoder(model)
    x = torch.randint(0, 30, (2, 5))
    out, _ = clf.rnn(clf.embedding(x))
    assert torch.equal(out, model.encode(x)[0]) and clf(x, torch.ones(2, 5, dtype=torch.bool)).shape == (2, 2)


def test_bad_adaptive_options_are_rejected():
    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.language_model import build_lm

    for sets, msg in ((["model.output=hierarchical"], "output"), (["model.cutoffs=[10, 5]"], "increasing"),
                      (["model.cutoffs=[0]"], "positive"), (["model.cutoffs=7"], "list"),
                      (["model.div_value=0"], "div_value")):
        cfg = load_config("configs/lm/wt2_small_tied.yaml", ["model.output=adaptive", *sets])
        with pytest.raises(ConfigError, match=msg):
            build_lm(cfg, read_corpus_vocab())


def test_the_cpu_recipe_builds_a_tied_adaptive_lstm():
    from dl4nlp.core.config import load_config
    from dl4nlp.data.vocab import Vocab
    from dl4nlp.pipelines.language_model import build_lm

    cfg = load_config("configs/lm/wt2_cpu.yaml")
    model = build_lm(cfg, Vocab(["<pad>", "<unk>", EOS, *(f"w{i}" for i in range(12_000))]))
    out = model.adaptive
    assert out is not None and out.bounds == [2000, 10000, 12_003] and out.word_weight is model.embedding.weight
    assert [t[0].out_features for t in out.tails] == [50, 12]  # 200 / 4, 200 / 16
    assert cfg.train.schedule == "cosine" and cfg.train.batch_size == 20 and cfg.data.bptt == 35


def read_corpus_vocab():
    from dl4nlp.data.lm import build_lm_vocab

    return build_lm_vocab(["a", "b", EOS] * 10)


# --------------------------------------------------------------------------- end to end


def write_zipf_corpus(folder: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(len(WORDS))]
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 150), ("valid", 25), ("test", 25)):
        lines = [" ".join(rng.choices(WORDS, weights, k=rng.randint(3, 8))) for _ in range(n)]
        (folder / f"{split}.txt").write_text("".join(f" {line} \n" for line in lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def adaptive_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("alm")
    write_zipf_corpus(root / "data")
    sets = [f"data.path={root}/data", "data.dataset=text", "data.train_file=train.txt", "data.dev_file=valid.txt",
            "data.test_file=test.txt", "model.emb_dim=16", "model.hidden=16", "model.output=adaptive",
            "model.cutoffs=[6, 14]", "model.div_value=2", "train.epochs=2", "train.optimizer=adam", "train.lr=0.01",
            "train.schedule=none", "train.batch_size=4", "train.eval_batch_size=2", "data.bptt=8",
            "trainer.progress_bar=false", f"run.dir={root}/runs", "run.name=tiny-adaptive"]
    res = CliRunner().invoke(app, ["train", "configs/lm/wt2_small_tied.yaml", *[a for s in sets for a in ("--set", s)]],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return root / "runs" / "tiny-adaptive"


def test_frequency_indexed_vocab_round_trips_through_save_load_evaluate_and_generate(adaptive_run):
    from dl4nlp.data.vocab import Vocab
    from dl4nlp.pipelines.language_model import LanguageModel

    vocab = Vocab.load(adaptive_run / "vocab.json")
    data = adaptive_run.parent.parent / "data"
    corpus = read_corpus("text", data, train_file="train.txt", dev_file="valid.txt", test_file="test.txt")
    assert vocab.itos == corpus.vocab.itos and vocab.itos[:3] == ["<pad>", "<unk>", EOS]
    assert frequency_ranked(vocab, corpus.train) and vocab.itos[3] == "zebra"  # the Zipf head word comes first
    rare_first = torch.tensor([len(vocab) - 1] * 3 + list(range(len(vocab))))  # the last id is the most frequent
    assert not frequency_ranked(vocab, rare_first)

    loaded = LanguageModel(adaptive_run)
    assert loaded.model.adaptive is not None and loaded.model.adaptive.word_weight is loaded.model.embedding.weight
    logp, _ = loaded._step(torch.tensor([loaded.eos_id, vocab.stoi["zebra"]]), None)  # the generation step
    assert logp.shape == (2, len(vocab))
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2), atol=1e-5)

    ev = json.loads(CliRunner().invoke(app, ["evaluate", str(adaptive_run), "--split", "test"],
                                       catch_exceptions=False).output)
    res = json.loads((adaptive_run / "results.json").read_text())
    assert ev["perplexity"] == pytest.approx(res["test_ppl"], rel=1e-4)  # full log-probs == the training loss path
    assert 1 < res["test_ppl"] < len(vocab)

    args = ["generate", str(adaptive_run), "--prompt", "zebra yak", "--top-k", "5", "-n", "3", "--seed", "1",
            "--max-len", "10"]
    a, b = (CliRunner().invoke(app, args, catch_exceptions=False) for _ in range(2))
    assert a.exit_code == 0 and a.output == b.output
    for line in a.output.strip().splitlines():
        assert line.split()[:2] == ["zebra", "yak"] and set(line.split()) <= set(WORDS) | {"<unk>"}
    greedy = CliRunner().invoke(app, ["generate", str(adaptive_run), "--temperature", "0", "-n", "2"])
    assert greedy.exit_code == 0 and len(set(greedy.output.strip().splitlines())) == 1
