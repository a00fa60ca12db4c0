"""One interface over the classifier run types the demo shows: ``scorer.score(text) -> Scored``.

- sentence classifiers of :mod:`dl4nlp.pipelines.classification` (BoW, MLP, recurrent rungs); attention over the words
  when the model has ``attention_weights(tokens, mask) -> [B, T]`` (attention pooling) or sets
  ``self.last_attention`` in ``forward``;
- transformer runs of :mod:`dl4nlp.pipelines.finetune` (fine-tuned or frozen features, sentences or NLI pairs);
  attention = the last layer's [CLS] attention over the word pieces, mean over heads;
- recurrent NLI runs of :mod:`dl4nlp.pipelines.nli`; attention = the weights over the premise words (word by word:
  the premise x hypothesis map in ``heads``, its rows named in ``rows``);
- tree models of :mod:`dl4nlp.pipelines.trees` (recursive NN, RNTN, Tree-LSTM); no attention, the phrase tree
  with every node's predicted sentiment as a PNG in ``image`` and the prediction's caveat in ``note``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Scored:
    run: str
    model: str
    label: str
    probabilities: dict[str, float]
    words: list[str]  # what the model saw (tokens or word pieces)
    attention: list[float] | None  # one weight per word, or None
    heads: list[list[float]] | None = None  # transformer: [heads][pieces]; word-by-word NLI: [hypothesis][premise]
    rows: list[str] | None = None  # labels of the rows of ``heads`` when they are not heads (NLI: hypothesis words)
    image: str | None = None  # a picture of the prediction as a PNG data URI (tree models: the phrase tree)
    note: str | None = None  # the prediction's caveat (tree models on plain text: the tree is not a parse)


class ClassifierScorer:
    """A :class:`dl4nlp.pipelines.classification.Classifier` run, on ``device``."""

    def __init__(self, run: Path, device: Any):
        from dl4nlp.pipelines.classification import Classifier

        self.clf = Classifier(run)
        self.clf.model.to(device)
        self.device = device
        self.name, self.model_name = self.clf.name, self.clf.cfg.model_name
        # a model reporting attention through ``self.last_attention`` is stateful: one request at a time
        self.lock = threading.Lock()

    def _attention(self, tokens: Any, mask: Any) -> Any | None:
        fn = getattr(self.clf.model, "attention_weights", None)
        if callable(fn):
            try:
                return fn(tokens, mask)
            except ValueError:  # e.g. a recurrent classifier that pools with 'last', not attention
                return None
        return None

    def score(self, text: str) -> Scored:
        import torch

        from dl4nlp.data.batching import pad_batch

        clf, model = self.clf, self.clf.model
        words = clf.tokens(text)
        ml = clf.cfg.data.max_length
        words = words[:ml] if ml else words
        ids = clf.vocab.encode(words) or [clf.vocab.unk_id]
        batch = pad_batch([ids])
        tokens, mask = batch["tokens"].to(self.device), batch["mask"].to(self.device)
        with torch.inference_mode():
            if hasattr(model, "last_attention") and not hasattr(model, "attention_weights"):
                with self.lock:
                    model.last_attention = None
                    logits = model(tokens, mask)
                    att = model.last_attention
            else:
                logits = model(tokens, mask)
                att = self._attention(tokens, mask)
            probs = torch.softmax(logits.float(), dim=-1)[0].cpu()
        weights = None
        if att is not None and words:
            weights = [float(w) for w in att[0, : len(words)].float().cpu()]
        return Scored(self.name, self.model_name, clf.labels[int(probs.argmax())],
                      {lab: float(probs[j]) for j, lab in enumerate(clf.labels)},
                      words if words else ["<unk>"], weights)


class TransformerScorer:
    """A :class:`dl4nlp.pipelines.finetune.TransformerRun` (CPU)."""

    def __init__(self, run: Path, device: Any = None):
        from dl4nlp.pipelines.finetune import TransformerRun

        self.tr = TransformerRun(run)
        self.name, self.model_name = self.tr.name, self.tr.cfg.model_name
        self.pair = self.tr.pair

    def score(self, text: str) -> Scored:
        """``text``: a sentence, or ``premise ||| hypothesis`` for an NLI run."""
        import torch

        if self.tr.features:  # frozen features + logistic regression: no attention to show
            with torch.inference_mode():
                label, probs = self.tr.predict([text])[0]
            words = self.tr.tokenizer.convert_ids_to_tokens(self.tr.encode([text])[0])
            return Scored(self.name, self.model_name, label, probs, words, None)
        with torch.inference_mode():
            exp = self.tr.explain(text)
        heads = exp.cls_attention
        mean = [sum(col) / len(heads) for col in zip(*heads, strict=True)] if heads else None
        return Scored(self.name, self.model_name, exp.label, exp.probabilities, exp.pieces, mean, heads)


class NLIScorer:
    """A recurrent NLI run of :mod:`dl4nlp.pipelines.nli` (CPU): ``score("premise\thypothesis")``; words = the premise,
    attention = its weights (word by word: the mean over hypothesis words, and the full map in ``heads``)."""

    def __init__(self, run: Path, device: Any = None):
        from dl4nlp.pipelines.nli import load_nli_run

        self.nli = load_nli_run(run)
        self.name, self.model_name = self.nli.name, self.nli.cfg.model_name

    def score(self, text: str) -> Scored:
        from dl4nlp.core.errors import DataError

        sep = "\t" if "\t" in text else "|||"
        if sep not in text:
            raise DataError("an NLI run needs 'premise ||| hypothesis' (or a tab between them)")
        premise, hypothesis = (x.strip() for x in text.split(sep, 1))
        pred = self.nli.predict(premise, hypothesis)
        att, heads, rows = pred.attention, None, None
        if self.nli.kind == "word_by_word" and att is not None:
            heads, rows = att, pred.hypothesis
            att = [sum(col) / len(heads) for col in zip(*heads, strict=True)]
        return Scored(self.name, self.model_name, pred.label, pred.probabilities, pred.premise, att, heads, rows)


class TreeScorer:
    """A tree-model run of :mod:`dl4nlp.pipelines.trees` (CPU): the root's label and probabilities, and the phrase
    tree with every node's predicted sentiment drawn as a PNG (``image``). Plain text gets a balanced binary tree
    over its tokens (no parser offline; ``note`` says so); an SST-format tree line keeps its structure."""

    plot_lock = threading.Lock()  # pyplot is not thread-safe

    def __init__(self, run: Path, device: Any = None):
        from dl4nlp.pipelines.trees import TreePredictor

        self.tree = TreePredictor(run)
        self.name, self.model_name = self.tree.name, self.tree.cfg.model_name

    def score(self, text: str) -> Scored:
        import base64
        import tempfile

        import torch

        from dl4nlp.analysis.tree_plot import draw_prediction

        with torch.inference_mode():
            pred = self.tree.predict([text])[0]
        with tempfile.TemporaryDirectory(prefix="dl4nlp-tree-") as tmp, self.plot_lock:
            png = draw_prediction(pred, Path(tmp) / "tree.png").read_bytes()
        words = [p["phrase"] for p in pred.extra["phrases"] if " " not in p["phrase"]] or [text]
        return Scored(self.name, self.model_name, pred.label, pred.scores, words, None,
                      image="data:image/png;base64," + base64.b64encode(png).decode("ascii"), note=pred.note)


class RatingScorer:
    """A rating run of :mod:`dl4nlp.pipelines.rating` (CPU): the predicted rating as the label ("7.6 stars"), no
    class probabilities, no attention."""

    def __init__(self, run: Path, device: Any = None):
        from dl4nlp.pipelines.rating import RatingPredictor

        self.pred = RatingPredictor(run)
        self.name, self.model_name = self.pred.run_dir.name, self.pred.cfg.model_name

    def score(self, text: str) -> Scored:
        import torch

        with torch.inference_mode():
            pred = self.pred.predict([text])[0]
        return Scored(self.name, self.model_name, pred.label, {}, [text], None, note=pred.note)


#: pipeline name -> the scorer that serves its runs in the sentiment and NLI tabs
SCORERS: dict[str, Any] = {"classification": ClassifierScorer, "finetune": TransformerScorer, "nli": NLIScorer,
                           "trees": TreeScorer, "rating": RatingScorer}


def load_scorer(run: Path, device: Any) -> ClassifierScorer | TransformerScorer | NLIScorer | TreeScorer:
    from dl4nlp.core.errors import RunError
    from dl4nlp.pipelines import pipeline_for

    family = pipeline_for(run).name
    if family not in SCORERS:
        raise RunError(f"{run}: {family} runs have no scorer in the sentiment / NLI tabs")
    return SCORERS[family](run, device)


def ladder_position(run: Path) -> tuple[int, str]:
    """Sort key: ladder order (bottom rung first), then run name: the ladder at a glance."""
    from dl4nlp.core.registry import LADDER
    from dl4nlp.core.runs import load_config

    name = load_config(run).model_name
    return (LADDER.index(name) if name in LADDER else len(LADDER), run.name)
