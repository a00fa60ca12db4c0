"""Language modelling end to end: corpus -> vocabulary -> BPTT windows -> RNN LM -> Lightning -> run folder,
and text generation from a trained run.

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.language_model import train_lm, load_language_model

    run = train_lm(load_config("configs/lm/wt2_small_tied.yaml"))
    lm = load_language_model(run)
    lm.generate("the meaning of", n=3, temperature=0.8, top_p=0.9, seed=1)   # three continuations
    lm.perplexity("the cat sat on the mat .")
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.config import ExperimentConfig
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.core.runs import load_config, load_weights
from dl4nlp.data.lm import EOS, LMCorpus, line_tokens, make_lm_loader, read_corpus
from dl4nlp.data.vocab import Vocab
from dl4nlp.models.lm import RNNLanguageModel, state_to_batch_first, state_to_layer_first
from dl4nlp.pipelines.base import Pipeline

#: model names this pipeline owns -> recurrent cell
#: ``model.name`` -> the model class (its ``build(params, vocab, cell)`` takes the cell from :data:`LM_CELLS`)
LM_MODELS: dict[str, str] = {
    "lstm_lm": "dl4nlp.models.lm:RNNLanguageModel",
    "gru_lm": "dl4nlp.models.lm:RNNLanguageModel",
    "transformer_lm": "dl4nlp.models.transformer_lm:TransformerLM",
}
LM_CELLS = {"lstm_lm": "lstm", "gru_lm": "gru"}


def read_lm_corpus(cfg: ExperimentConfig, vocab: Vocab | None = None) -> LMCorpus:
    d = cfg.data
    return read_corpus(d.dataset, d.path, d.level, d.lowercase, d.min_count, d.max_vocab, vocab,
                       d.train_file, d.dev_file, d.test_file)


def build_lm(cfg: ExperimentConfig, vocab: Vocab) -> RNNLanguageModel:
    """The run's language model: recurrent (its cell from :data:`LM_CELLS`) or a decoder-only transformer."""
    from dl4nlp.core.registry import resolve

    cls = resolve(LM_MODELS, cfg.model_name, "language model")
    try:
        return cls.build(cfg.model_params, vocab, LM_CELLS.get(cfg.model_name))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None


def lm_hyper_parameters(cfg: ExperimentConfig) -> dict[str, Any]:
    return {**cfg.train.key_hyper_parameters(), "bptt": cfg.data.bptt, "clip": cfg.train.clip_norm,
            "level": cfg.data.level, **cfg.model_params}


def train_lm(cfg: ExperimentConfig, resume: str | Path | None = None, run_dir: str | Path | None = None,
             callbacks: list | None = None, evaluate_test: bool = True) -> Path:
    """Train one language model and write its run folder (best checkpoint by dev perplexity); returns it."""
    import lightning as L

    from dl4nlp.analysis import plots
    from dl4nlp.core.runs import save_config, write_results
    from dl4nlp.engine.training import (
        best_checkpoint,
        count_parameters,
        fit,
        make_trainer,
        open_run_dir,
        provenance,
        resume_checkpoint,
        time_to_best,
    )
    from dl4nlp.tasks.language_model import LanguageModelTask

    resume_ckpt = resume_checkpoint(resume)
    vocab = Vocab.load(Path(resume) / "vocab.json") if resume is not None else None
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    corpus = read_lm_corpus(cfg, vocab)  # every input check happens before a folder is made
    model = build_lm(cfg, corpus.vocab)
    cfg.train.monitor, cfg.train.mode = "dev_ppl", "min"  # model selection by dev perplexity
    task = LanguageModelTask(model, cfg.train, cfg.to_dict())
    t = cfg.train
    train_file, dev_file, test_file = corpus.files
    train_loader = make_lm_loader(corpus.train, t.batch_size, cfg.data.bptt, f"{train_file} (train split)")
    dev_loader = make_lm_loader(corpus.valid, t.eval_batch_size, cfg.data.bptt, f"{dev_file} (dev split)")
    test_loader = make_lm_loader(corpus.test, t.eval_batch_size, cfg.data.bptt, f"{test_file} (test split)")

    path = open_run_dir(cfg, resume, run_dir)
    save_config(path, cfg)
    corpus.vocab.save(path / "vocab.json")

    trainer = make_trainer(cfg, path, monitor="dev_ppl", mode="min", callbacks=callbacks,
                           resuming=resume is not None)
    wall = fit(trainer, task, train_loader, dev_loader, resume_ckpt)
    if trainer.interrupted or not trainer.is_global_zero:
        return path
    best = best_checkpoint(trainer, path)
    # the best dev perplexity was measured when the checkpoint was chosen: no second pass over dev
    score = next((cb.best_model_score for cb in trainer.checkpoint_callbacks
                  if getattr(cb, "best_model_score", None) is not None), None)
    if score is not None:
        dev = {"dev_ppl": float(score), "dev_loss": math.log(float(score))}
    else:
        dev = trainer.validate(task, dev_loader, ckpt_path=str(best), verbose=False)[0]
    results: dict[str, Any] = {
        "task": "lm",
        "model": cfg.model_name,
        "dataset": cfg.data.dataset,
        "level": cfg.data.level,
        "dev_ppl": dev["dev_ppl"],
        "dev_loss": dev["dev_loss"],
        "params": count_parameters(model),
        "train_time_s": round(wall, 2),
        "tokens_per_second": round(task.tokens_seen / task.step_seconds, 1) if task.step_seconds else None,
        "tokens_per_second_wall": round(task.tokens_seen / wall, 1) if wall else None,
        "train_tokens_seen": task.tokens_seen,
        "epochs_run": trainer.current_epoch,
        **time_to_best(trainer),
        "best_checkpoint": best.name,
        "vocab_size": len(corpus.vocab),
        "corpus_tokens": corpus.sizes(),
        "hyper_parameters": lm_hyper_parameters(cfg),
        **provenance(),
    }
    if evaluate_test:
        test = trainer.test(task, test_loader, ckpt_path=str(best), verbose=False)[0]
        results.update({"test_ppl": test["test_ppl"], "test_loss": test["test_loss"]})
    if (path / "metrics.csv").is_file():
        plots.learning_curves(path / "metrics.csv", path / "learning_curves.png",
                              f"{cfg.model_name} on {cfg.data.dataset}",
                              pairs=(("loss (nats/token)", "train_loss", "dev_loss"),
                                     ("perplexity", "train_ppl", "dev_ppl")))
    write_results(path, results)
    return path


# --------------------------------------------------------------------------- a trained LM


class LanguageModel:
    """A trained LM run loaded for scoring and generation (no Lightning needed)."""

    def __init__(self, run_dir: str | Path, which: str = "best"):
        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        if self.cfg.model_name not in LM_MODELS:
            raise RunError(f"{self.run_dir}: not a language-model run (model '{self.cfg.model_name}')")
        self.vocab = Vocab.load(self.run_dir / "vocab.json")
        if EOS not in self.vocab:
            raise RunError(f"{self.run_dir}/vocab.json: no {EOS} token, not a language-model vocabulary")
        self.model = load_weights(build_lm(self.cfg, self.vocab), self.run_dir, which=which)
        self.level = self.cfg.data.level
        self.eos_id = self.vocab.stoi[EOS]

    def tokens(self, text: str) -> list[str]:
        """Prompt tokens the way the corpus was tokenised (without the final ``<eos>``)."""
        return line_tokens(text, self.level, self.cfg.data.lowercase)[:-1]

    def detokenize(self, ids: list[int]) -> str:
        words = self.vocab.decode(ids)
        return ("" if self.level == "char" else " ").join(words)

    def _step(self, last: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """``dl4nlp.engine.generation`` step: last tokens [N] and a batch-first state -> log-probs [N, V], state."""
        logits, new = self.model(last[:, None], None if state is None else state_to_layer_first(state))
        return torch.log_softmax(logits[:, -1], dim=-1), state_to_batch_first(new)  # [N, V]

    @torch.no_grad()
    def generate(self, prompt: str = "", n: int = 1, max_len: int = 50, temperature: float = 1.0,
                 top_k: int = 0, top_p: float = 1.0, seed: int | None = None) -> list[str]:
        """``n`` continuations of ``prompt`` (the prompt is read after an ``<eos>``, as a new line starts).
        ``temperature == 0`` is greedy decoding; otherwise sampling with top-k / top-p filtering."""
        from dl4nlp.engine.generation import generate

        if n < 1 or max_len < 1:
            raise ConfigError("generate: -n and --max-len must be >= 1")
        if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
            raise ConfigError("generate: need temperature >= 0, 0 < top-p <= 1, top-k >= 0")
        ids = [self.eos_id, *self.vocab.encode(self.tokens(prompt))]
        context = torch.tensor([ids[:-1]] * n, dtype=torch.long)  # [n, T-1] everything but the last token
        state = state_to_batch_first(self.model.init_state(n))  # zeros (recurrent) or an empty cache
        if context.size(1) > 0:
            _, st = self.model(context, state_to_layer_first(state))
            state = state_to_batch_first(st)
        start = torch.full((n,), ids[-1], dtype=torch.long)  # [n]
        strategy = "greedy" if temperature == 0 else "sample"
        out = generate(self._step, start, state, max_len, eos_id=self.eos_id, strategy=strategy,
                       temperature=max(temperature, 1e-6), top_k=top_k, top_p=top_p, seed=seed)
        return [self.detokenize(o) for o in out]

    @torch.no_grad()
    def perplexity(self, text: str) -> float:
        """Perplexity on ``text`` (every line ends with ``<eos>``; the first line is read after one)."""
        toks: list[str] = []
        for line in text.splitlines() or [text]:
            toks.extend(line_tokens(line, self.level, self.cfg.data.lowercase))
        if len(toks) < 1:
            raise DataError("perplexity: empty text")
        ids = torch.tensor([[self.eos_id, *self.vocab.encode(toks)]])  # [1, T+1]
        logits, _ = self.model(ids[:, :-1])
        nll = torch.nn.functional.cross_entropy(logits[0], ids[0, 1:])
        return float(torch.exp(nll))


def load_language_model(run_dir: str | Path) -> LanguageModel:
    return LanguageModel(run_dir)


@torch.no_grad()
def evaluate_lm_run(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Perplexity of a run's best LM on a split of its corpus (the same streams and batching as training)."""
    from dl4nlp.core.runs import check_split

    check_split(split)
    lm = LanguageModel(run_dir)
    corpus = read_lm_corpus(lm.cfg, lm.vocab)
    i = ("train", "dev", "test").index(split)
    stream = (corpus.train, corpus.valid, corpus.test)[i]
    scores = stream_scores(lm, stream, lm.cfg.train.eval_batch_size, f"{corpus.files[i]} ({split} split)")
    return {"run": lm.run_dir.name, "split": split, **scores}


@torch.no_grad()
def stream_scores(lm: LanguageModel, stream: torch.Tensor, batch_size: int, what: str) -> dict[str, Any]:
    """Tokens, perplexity, loss and seconds of ``lm`` on a token stream [n], read in ``batch_size`` rows of
    consecutive BPTT windows with the hidden state carried (the training batching)."""
    import time

    start = time.perf_counter()
    total, count, state = 0.0, 0, None
    for x, y in make_lm_loader(stream, batch_size, lm.cfg.data.bptt, what):
        logits, state = lm.model(x, state)  # [B, L, V]
        total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                                         reduction="sum"))
        count += y.numel()
    return {"tokens": count, "perplexity": math.exp(total / count), "loss": total / count,
            "seconds": round(time.perf_counter() - start, 3)}


# --------------------------------------------------------------------------- the pipeline


class LMPredictor:
    """:class:`~dl4nlp.pipelines.base.Predictor` of a language model: each input's perplexity (its score) and
    a greedy continuation of it (its label)."""

    def __init__(self, run_dir: str | Path, continuation: int = 20):
        self.lm = LanguageModel(run_dir)
        self.run_dir = self.lm.run_dir
        self.continuation = continuation

    def predict(self, inputs: list[str]) -> list[Any]:
        from dl4nlp.pipelines.base import Prediction
        from dl4nlp.pipelines.scoring import check_inputs

        check_inputs(inputs)
        out = []
        for text in inputs:
            more = self.lm.generate(text, n=1, max_len=self.continuation, temperature=0.0)[0]
            out.append(Prediction(text, more, {"perplexity": self.lm.perplexity(text)}))
        return out


@torch.no_grad()
def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """Perplexity on a split of the run's corpus, or on any UTF-8 text file tokenised like it (``data``)."""
    if data is None:
        return evaluate_lm_run(run_dir, split)
    from dl4nlp.core.io import read_text, require_file

    lm = LanguageModel(run_dir)
    text = read_text(require_file(data))
    toks: list[str] = []
    for line in text.splitlines():
        if line.strip():
            toks.extend(line_tokens(line, lm.level, lm.cfg.data.lowercase))
    if not toks:
        raise DataError(f"{data}: no text")
    ids = torch.tensor([lm.eos_id, *lm.vocab.encode(toks)])  # one row: every token of the file is scored
    return {"run": lm.run_dir.name, "data": str(data), **stream_scores(lm, ids, 1, str(data))}


PIPELINE = Pipeline(
    name="language_model", task="lm", models=LM_MODELS, train=train_lm, load=LMPredictor, evaluate=evaluate,
    monitor="dev_ppl", mode="min", input_help="a prompt (scored by perplexity, continued greedily)",
)
