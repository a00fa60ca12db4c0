import pytest
import torch

from dl4nlp.core.config import ExperimentConfig, TrainConfig
from dl4nlp.core.errors import ConfigError
from dl4nlp.data.batching import pad_batch
from dl4nlp.data.vocab import Vocab
from dl4nlp.models.linear import LogisticRegression
from dl4nlp.models.mlp import MLPClassifier
from dl4nlp.tasks.classification import ClassificationTask
from dl4nlp.tasks.optim import l2_penalty, make_optimizer


def _vocab():
    docs = [[f"w{i}"] for i in range(30)]
    return Vocab.build(docs)


def _batch():
    torch.manual_seed(0)
    seqs = [torch.randint(2, 32, (torch.randint(1, 8, (1,)).item(),)).tolist() for _ in range(16)]
    b = pad_batch(seqs)
    b["label"] = torch.arange(16) % 3
    return b


@pytest.mark.parametrize("name, params", [
    ("logreg", {"features": "counts"}),
    ("logreg", {"features": "tfidf", "normalize": True}),
    ("mlp", {"hidden": [32, 32], "dropout": 0.1, "input_dropout": 0.1, "init": "xavier", "features": "binary"}),
    ("mlp", {"hidden": [16], "activation": "tanh", "init": "kaiming"}),
])
def test_tiny_batch_is_overfitted(name, params):
    torch.manual_seed(0)
    cls = {"logreg": LogisticRegression, "mlp": MLPClassifier}[name]
    model = cls.build(params, _vocab(), 3)
    b = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(b["tokens"], b["mask"]), b["label"])
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    model.eval()
    acc = (model(b["tokens"], b["mask"]).argmax(-1) == b["label"]).float().mean().item()
    assert loss.item() < first / 5
    assert acc == 1.0


def test_padding_does_not_change_bow_prediction():
    torch.manual_seed(1)
    model = MLPClassifier.build({"hidden": [8, 8]}, _vocab(), 2).eval()
    alone = pad_batch([[3, 4, 5]])
    padded = pad_batch([[3, 4, 5], [6, 7, 8, 9, 10, 11]])
    assert torch.allclose(model(alone["tokens"], alone["mask"])[0], model(padded["tokens"], padded["mask"])[0],
                          atol=1e-6)


def test_unknown_model_option_is_named():
    with pytest.raises(ConfigError, match="unknown key 'hiden'"):
        MLPClassifier.build({"hiden": [3]}, _vocab(), 2)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier.build({"activation": "swishy"}, _vocab(), 2)


def test_l2_term_is_lambda_sum_of_squared_weights():
    torch.manual_seed(0)
    model = MLPClassifier.build({"hidden": [4], "dropout": 0.0}, _vocab(), 3)
    lam = 0.01
    task = ClassificationTask(model, 3, TrainConfig(l2=lam))
    b = _batch()
    logits = model(b["tokens"], b["mask"])
    total, ce = task.loss(logits, b["label"])
    by_hand = sum((p ** 2).sum() for n, p in model.named_parameters() if p.dim() >= 2)
    assert torch.allclose(total, ce + lam * by_hand)
    assert torch.allclose(l2_penalty(model), by_hand)
    # biases are not penalised
    assert all(p.dim() >= 2 for n, p in model.named_parameters() if "weight" in n or n.endswith("input.weight"))
    assert ClassificationTask(model, 3, TrainConfig(l2=0.0)).loss(logits, b["label"])[0].item() == ce.item()


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_fused_optimizer_makes_the_same_updates(name):
    """train.fused only changes the kernels: the weights after a few steps match torch's per-tensor loop."""
    models = []
    for fused in (True, False):
        torch.manual_seed(0)
        model = MLPClassifier.build({"hidden": [8, 8], "dropout": 0.0}, _vocab(), 3)
        cfg = TrainConfig(optimizer=name, lr=0.05, momentum=0.9, weight_decay=0.01, fused=fused)
        opt = make_optimizer(model.parameters(), cfg)
        assert bool(opt.param_groups[0].get("fused")) is fused
        b = _batch()
        for _ in range(5):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(b["tokens"], b["mask"]), b["label"]).backward()
            opt.step()
        models.append(model)
    for (n, p), q in zip(models[0].named_parameters(), models[1].parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), n


def test_make_optimizer_takes_generators_and_parameter_groups():
    model = MLPClassifier.build({"hidden": [4]}, _vocab(), 2)
    weights = [p for p in model.parameters() if p.dim() >= 2]
    biases = (p for p in model.parameters() if p.dim() < 2)  # a generator inside a group
    opt = make_optimizer([{"params": weights}, {"params": biases, "weight_decay": 0.0}], TrainConfig())
    assert [len(g["params"]) for g in opt.param_groups] == [len(weights), sum(p.dim() < 2 for p in model.parameters())]
    assert opt.param_groups[0]["fused"] is True
    plain = make_optimizer(model.parameters(), TrainConfig())  # a generator of tensors
    assert len(plain.param_groups[0]["params"]) == len(list(model.parameters()))


def test_default_config_builds():
    cfg = ExperimentConfig()
    assert cfg.model_name == "logreg" and cfg.run_name() == "logreg-sst2-s13"


def test_mlp_first_layer_starts_from_word_vectors(tmp_path):
    """embeddings: a vectors file -> the input layer is E (the file's rows for found words), then W_1."""
    vocab = _vocab()
    rows = {f"w{i}": [float(i), -float(i), 0.5] for i in range(10)}  # 3-d vectors for w0..w9 only
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()), encoding="utf-8")
    torch.manual_seed(0)
    model = MLPClassifier.build({"hidden": [8, 8], "embeddings": str(path), "init": "kaiming"}, vocab, 3)
    assert model.input.weight.shape == (len(vocab), 3)
    for w, v in rows.items():
        assert torch.equal(model.input.weight[vocab.stoi[w]], torch.tensor(v)), w
    assert model.hidden[0].weight.shape == (8, 3)  # W_1: D -> hidden[0]
    b = _batch()
    assert model(b["tokens"], b["mask"]).shape == (16, 3)
    # one sentence = one word: e is that word's vector scaled to unit length (tf-idf, normalised)
    single = MLPClassifier.build({"hidden": [4], "embeddings": str(path), "features": "tfidf", "normalize": True,
                                  "dropout": 0.0}, vocab, 2)
    tokens = torch.tensor([[vocab.stoi["w3"]]])
    assert torch.allclose(single.input(tokens, torch.ones_like(tokens, dtype=torch.bool)),
                          torch.tensor([[3.0, -3.0, 0.5]]))
