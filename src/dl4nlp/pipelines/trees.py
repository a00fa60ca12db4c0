"""Tree-structured sentiment (recursive NN, RNTN, Tree-LSTM) on the Sentiment Treebank's binarised parse trees,
every node supervised, scored on the root (``dev_acc``, beside the sentence classifiers of the sentiment
leaderboard) and on all phrases (``dev_phrase_acc``).

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.trees import PIPELINE

    run = PIPELINE.train(load_config("configs/trees/tree_lstm.yaml"))
    PIPELINE.load(run).predict(["a gorgeous, witty film"])[0].extra["tree"]   # "(4 (3 (2 a) ...) ...)"
    PIPELINE.evaluate(run, split="test")                      # root and all-phrase accuracy

A predict input is an SST/PTB tree line (its structure is used, its labels ignored) or plain text. No
constituency parser runs offline here (those on PyPI fetch their models at run time), so plain text gets a
balanced binary tree over its tokens, and the Prediction's note says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.config import ExperimentConfig
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.data.tree_batching import (
    NO_LABEL,
    EncodedTree,
    balanced_tree,
    check_binary,
    collate_trees,
    encode_tree,
    format_tree,
    post_order,
    read_binary_trees,
    sst2_label,
    tree_loader,
)
from dl4nlp.data.trees import Tree, parse_tree
from dl4nlp.data.vocab import Vocab
from dl4nlp.pipelines.base import Pipeline, Prediction

MODELS = {
    "tree_rnn": "dl4nlp.models.tree:RecursiveNN",
    "rntn": "dl4nlp.models.tree:RNTN",
    "tree_lstm": "dl4nlp.models.tree:TreeLSTM",
}
DATASETS = ("sst5", "sst2")
#: data options of the sentence classifiers that mean nothing here (trees always train on every node)
NOT_FOR_TREES = ("phrases", "unique_phrases", "max_length", "features", "train_file", "dev_file", "test_file",
                 "hub_name", "teacher_file", "augment")
BALANCED_NOTE = ("no constituency parser is available offline: the phrase tree is a balanced binary tree over "
                 "the tokens, not a parse (give an SST-format tree line for a real structure)")


# --------------------------------------------------------------------------- data


@dataclass
class TreeData:
    labels: list[str]
    label_map: Any  # 0-4 sentiment -> class id or NO_LABEL
    train: list[Tree]
    dev: list[Tree]
    test: list[Tree]


def dataset_labels(dataset: str) -> tuple[list[str], Any]:
    from dl4nlp.data.sentiment import SST2_LABELS, SST5_LABELS

    if dataset not in DATASETS:
        raise ConfigError(f"data.dataset: tree models read SST trees: use sst5 or sst2, not '{dataset}'")
    return (SST2_LABELS, sst2_label) if dataset == "sst2" else (SST5_LABELS, None)


def keep_labelled(trees: list[Tree], label_map: Any) -> list[Tree]:
    """SST-2 drops the sentences whose root is neutral (as the sentence-level SST-2 does); SST-5 keeps all."""
    return trees if label_map is None else [t for t in trees if label_map(t.label) != NO_LABEL]


def _split_file(folder: Path, split: str) -> Path:
    for name in (f"{split}.txt", f"trees/{split}.txt"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no SST {split} tree file (looked for {split}.txt, trees/{split}.txt)")


def read_tree_data(cfg: ExperimentConfig, splits: tuple[str, ...] = ("train", "dev", "test")) -> TreeData:
    """The binarised trees of the config's SST folder (a shuffled prefix of train with ``max_train_examples``)."""
    misplaced = list(cfg.data.changed(NOT_FOR_TREES))
    if misplaced:
        raise ConfigError(f"data.{misplaced[0]}: not an option of the tree models (they train on every node)")
    labels, label_map = dataset_labels(cfg.data.dataset)
    folder = Path(cfg.data.path)
    if not folder.is_dir():
        raise DataError(f"{folder}: SST folder not found (set data.path to the folder with train.txt)")
    parts = {s: keep_labelled(read_binary_trees(_split_file(folder, s)), label_map) for s in splits}
    train = parts.get("train", [])
    if cfg.data.max_train_examples and train:
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.run.seed)).tolist()
        train = [train[i] for i in order[: cfg.data.max_train_examples]]
    for split in splits:
        if not (train if split == "train" else parts[split]):
            raise DataError(f"{folder}: the {split} split has no labelled trees")
    return TreeData(labels, label_map, train, parts.get("dev", []), parts.get("test", []))


def word_lookup(vocab: Vocab, lowercase: bool) -> Any:
    def word_id(word: str) -> int:
        return vocab.stoi.get(word.lower() if lowercase else word, vocab.unk_id)

    return word_id


def encode_all(trees: list[Tree], word_id: Any, label_map: Any) -> list[EncodedTree]:
    return [encode_tree(t, word_id, label_map) for t in trees]


def build_tree_model(cfg: ExperimentConfig, vocab: Vocab, num_classes: int, **kwargs: Any) -> torch.nn.Module:
    from dl4nlp.core.registry import resolve

    cls = resolve(MODELS, cfg.model_name, "tree model")
    try:
        return cls.build(cfg.model_params, vocab, num_classes, **kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None


# --------------------------------------------------------------------------- training


def supervised_parts(cfg: ExperimentConfig, resume: str | Path | None) -> Any:
    """The template's hook (:mod:`dl4nlp.pipelines.supervised`): trees, vocabulary, model, task, level-by-level
    loaders; the results add every phrase's accuracy and the training nodes/s."""
    from dl4nlp.engine.training import count_parameters
    from dl4nlp.pipelines.supervised import Parts
    from dl4nlp.tasks.trees import TreeSentimentTask

    data = read_tree_data(cfg)  # all input validation happens here, before any folder is made
    lower = cfg.data.lowercase
    if resume is not None:
        vocab = Vocab.load(Path(resume) / "vocab.json")
    else:
        leaves = ([w.lower() if lower else w for w in t.leaves()] for t in data.train)
        vocab = Vocab.build(leaves, cfg.data.min_count, cfg.data.max_vocab)
    word_id = word_lookup(vocab, lower)
    train_trees = encode_all(data.train, word_id, data.label_map)
    model = build_tree_model(cfg, vocab, len(data.labels))
    task = TreeSentimentTask(model, len(data.labels), cfg.train, cfg.to_dict())
    t, seed = cfg.train, cfg.run.seed

    def results(fitted: Any, path: Path) -> dict[str, Any]:
        nodes = sum(int((e.label != NO_LABEL).sum()) for e in train_trees)
        epochs = max(1, fitted.trainer.current_epoch)
        return {"task": "sentiment", "model": cfg.model_name, "dataset": cfg.data.dataset, "phrases": True,
                **fitted.summary(), "dev_phrase_acc": fitted.dev["dev_phrase_acc"],
                "params": count_parameters(model), "train_examples": len(train_trees), "train_nodes": nodes,
                "nodes_per_s": round(nodes * epochs / fitted.wall, 1) if fitted.wall > 0 else None,
                "vocab_size": len(vocab), "hyper_parameters": cfg.key_hyper_parameters()}

    def eval_loader(trees: list[Any]) -> Any:
        return tree_loader(encode_all(trees, word_id, data.label_map), t.eval_batch_size, False, seed, True)

    return Parts(task, model, tree_loader(train_trees, t.batch_size, True, seed, cfg.data.bucket),
                 eval_loader(data.dev), eval_loader(data.test), data.labels,
                 save=lambda path: vocab.save(path / "vocab.json"), results=results)


def train(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True,
          callbacks: list | None = None, run_dir: str | Path | None = None) -> Path:
    """Train one tree model with the shared template and write its run folder (config, vocabulary, labels,
    checkpoints, results with root and all-phrase accuracy)."""
    from dl4nlp.pipelines.supervised import train_supervised

    return train_supervised(cfg, supervised_parts, resume, evaluate_test, callbacks, run_dir)


# --------------------------------------------------------------------------- loading and predicting


class TreePredictor:
    """A trained tree model loaded for inference: every node's class probabilities."""

    def __init__(self, run_dir: str | Path, which: str = "best"):
        from dl4nlp.core.runs import load_config, load_state_dict, load_weights
        from dl4nlp.data.tokenize import Tokenizer

        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        if self.cfg.model_name not in MODELS:
            raise RunError(f"{run_dir}: not a tree-model run (model '{self.cfg.model_name}')")
        self.vocab = Vocab.load(self.run_dir / "vocab.json")
        labels = self.run_dir / "labels.json"
        if not labels.is_file():
            raise RunError(f"{labels}: labels file not found")
        self.labels: list[str] = json.loads(labels.read_text(encoding="utf-8"))
        self.label_map = dataset_labels(self.cfg.data.dataset)[1]
        self.word_id = word_lookup(self.vocab, self.cfg.data.lowercase)
        self.tokenizer = Tokenizer(lowercase=self.cfg.data.lowercase)
        state = load_state_dict(self.run_dir, which)
        table = state.get("embed.table.weight")
        dim = int(table.shape[1]) if table is not None else None
        model = build_tree_model(self.cfg, self.vocab, len(self.labels), load_vectors=False, embedding_dim=dim)
        self.model = load_weights(model, self.run_dir, state)

    @property
    def name(self) -> str:
        return self.run_dir.name

    def input_tree(self, text: str, where: str) -> tuple[Tree, bool]:
        """(tree, True) for an SST/PTB tree line; (balanced tree over the tokens, False) for plain text."""
        if not text or not text.strip():
            raise DataError(f"{where}: empty text")
        if text.lstrip().startswith("("):
            return check_binary(parse_tree(text, where), where), True
        tokens = self.tokenizer(text)
        if not tokens:
            raise DataError(f"{where}: no tokens in '{text}'")
        return balanced_tree(tokens), False

    @torch.no_grad()
    def node_probabilities(self, trees: list[Tree], batch_size: int = 256) -> list[torch.Tensor]:
        """Per tree, the class probabilities of its nodes in post-order [n, C] (the root last)."""
        out: list[torch.Tensor] = []
        for i in range(0, len(trees), batch_size):
            chunk = [encode_tree(t, self.word_id) for t in trees[i : i + batch_size]]
            batch = collate_trees(chunk)
            probs = torch.softmax(self.model(batch), dim=-1)  # [N, C]
            out.extend(probs.split([len(e) for e in chunk]))
        return out

    def predict(self, inputs: list[str]) -> list[Prediction]:
        parsed = [self.input_tree(text, f"input {i + 1}") for i, text in enumerate(inputs)]
        probs = self.node_probabilities([t for t, _ in parsed])
        return [self._prediction(text, tree, given, p)
                for text, (tree, given), p in zip(inputs, parsed, probs, strict=True)]

    def tree_png(self, text: str, out_png: str | Path) -> Path:
        """Draw the phrase tree of ``text`` with every node's predicted sentiment (what ``--tree`` shows)."""
        from dl4nlp.analysis.tree_plot import draw_prediction

        return draw_prediction(self.predict([text])[0], out_png)

    def _prediction(self, text: str, tree: Tree, given: bool, probs: torch.Tensor) -> Prediction:
        nodes = post_order(tree)
        labelled = {id(n): int(p.argmax()) for n, p in zip(nodes, probs, strict=True)}

        def relabel(node: Tree) -> Tree:
            return Tree(labelled[id(node)], [relabel(c) for c in node.children], node.word)

        root = probs[-1]
        top = {id(n): round(float(p.max()), 4) for n, p in zip(nodes, probs, strict=True)}
        phrases = [{"phrase": " ".join(n.leaves()), "label": self.labels[labelled[id(n)]], "p": top[id(n)]}
                   for n in tree.subtrees()]  # the root first, then each left subtree before the right one
        extra = {"tree": format_tree(relabel(tree)), "labels": self.labels, "phrases": phrases,
                 "structure": "given tree" if given else "balanced binary tree"}
        return Prediction(input=text, label=self.labels[int(root.argmax())],
                          scores={lab: float(root[j]) for j, lab in enumerate(self.labels)}, extra=extra,
                          note=None if given else BALANCED_NOTE)


def load(run: str | Path) -> TreePredictor:
    return TreePredictor(run)


# --------------------------------------------------------------------------- evaluation


def evaluate(run: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """Root accuracy and macro-F1, and all-phrase accuracy, of a run's best model on a split of its dataset
    or on ``data``, a file of PTB-format trees (labels 0-4; mapped to SST-2 for an SST-2 run)."""
    from torchmetrics.functional import accuracy, f1_score

    from dl4nlp.core.runs import check_split, read_results

    pred = TreePredictor(run)
    if data is not None:
        trees = keep_labelled(read_binary_trees(data), pred.label_map)
    else:
        trees = getattr(read_tree_data(pred.cfg, (check_split(split),)), split)
    if not trees:
        raise DataError(f"{data or split}: no labelled trees to score")
    start = time.perf_counter()
    probs = pred.node_probabilities(trees)
    seconds = time.perf_counter() - start
    gold = [torch.from_numpy(encode_tree(t, pred.word_id, pred.label_map).label) for t in trees]
    root_pred = torch.stack([p[-1].argmax() for p in probs])
    root_gold = torch.stack([g[-1] for g in gold])
    node_pred, node_gold = torch.cat([p.argmax(-1) for p in probs]), torch.cat(gold)
    keep = node_gold != NO_LABEL
    c = len(pred.labels)
    where = {"split": split} if data is None else {"split": "data", "data": str(data)}
    return {
        "run": pred.name, **where, "examples": len(trees),
        "nodes": int(keep.sum()),
        "accuracy": float(accuracy(root_pred, root_gold, task="multiclass", num_classes=c)),
        "macro_f1": float(f1_score(root_pred, root_gold, task="multiclass", num_classes=c, average="macro")),
        "phrase_accuracy": float(accuracy(node_pred[keep], node_gold[keep], task="multiclass", num_classes=c)),
        "seconds": round(seconds, 3),
        "recorded": {k: v for k, v in (read_results(run) or {}).items() if data is None and k.startswith(split)},
    }


PIPELINE = Pipeline(
    name="trees",
    task="sentiment",
    models=MODELS,
    train=train,
    load=load,
    evaluate=evaluate,
    monitor="dev_acc",
    mode="max",
    input_help="a sentence, or an SST-format tree line such as (3 (2 a) (4 (3 witty) (2 film)))",
)
