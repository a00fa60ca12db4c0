"""The ULMFiT classifier (Howard & Ruder 2018; :class:`dl4nlp.models.ulmfit.ULMFiTClassifier`) as a rating model:
the encoder of a target-task language model fine-tuned by ``dl4nlp transfer`` (its ``2-target-lm`` stage, e.g.
on the unrated IMDB reviews) and the concat-pooling head, whose last layer gives the rating head's outputs
(1 for regress / ordinal, K for classify).

    model:
      name: rating_ulmfit
      head: ordinal
      encoder: runs/ulmfit-imdb-transfer-n250-s13   # a transfer run folder with 1-general-lm and 2-target-lm
      init: transfer                                # or scratch: the same network and vocabulary, random weights

The run's vocabulary is the target LM's (``vocab_for``), training uses the ULMFiT schedule (discriminative
learning rates, slanted triangular rates, gradual unfreezing: :class:`dl4nlp.tasks.rating.ULMFiTRatingTask`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dl4nlp.core.config import build_options
from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.data.vocab import Vocab
from dl4nlp.models.lm import LMOptions, RNNLanguageModel
from dl4nlp.models.ulmfit import HeadOptions, ULMFiTClassifier


@dataclass
class RatingULMFiTOptions:
    encoder: str = ""  # a `dl4nlp transfer` run folder (its 2-target-lm stage gives vocabulary and weights)
    init: str = "transfer"  # transfer | scratch
    head_hidden: int = 50
    head_dropout: float = 0.1
    unfreeze_every: int = 1  # epochs per unfrozen layer group (0: all layers train from the start)
    factor: float = 2.6  # discriminative learning rates: eta_{l-1} = eta_l / factor
    cut_frac: float = 0.1  # slanted triangular learning rates
    ratio: float = 32.0

    def __post_init__(self) -> None:
        if not self.encoder:
            raise ConfigError("model.encoder: required (a `dl4nlp transfer` run folder with 2-target-lm/)")
        if self.init not in ("transfer", "scratch"):
            raise ConfigError(f"model.init: use transfer or scratch, not '{self.init}'")


def _stage(encoder: str, name: str) -> Path:
    stage = Path(encoder) / name
    if name == "1-general-lm" and not stage.is_dir() and (Path(encoder) / "1-general-lm.txt").is_file():
        text = (Path(encoder) / "1-general-lm.txt").read_text(encoding="utf-8")
        found = re.search(r"reused run: (.+)", text)
        stage = Path(found.group(1).strip()) if found else stage
    if not (stage / "best.ckpt").is_file():
        raise RunError(f"{stage}: no finished language model here (model.encoder must be a `dl4nlp transfer` run "
                       "folder whose 1-general-lm and 2-target-lm stages finished)")
    return stage


def lm_options(encoder: str) -> LMOptions:
    """The architecture of the transfer run's language model (from its general LM's config)."""
    from dl4nlp.core.runs import load_config

    cfg = load_config(_stage(encoder, "1-general-lm"))
    params = dict(cfg.model_params)
    params.setdefault("cell", "gru" if cfg.model_name == "gru_lm" else "lstm")
    return LMOptions(**params)


class ULMFiTRatingBackbone(ULMFiTClassifier):
    """``model(tokens, mask) -> [B, num_outputs]``: the ULMFiT network with the rating head's output size."""

    Options = RatingULMFiTOptions

    @staticmethod
    def options(params: dict) -> RatingULMFiTOptions:
        return build_options(RatingULMFiTOptions, params, "model (rating_ulmfit)")

    @classmethod
    def vocab_for(cls, params: dict) -> Vocab:
        """The run's vocabulary: the target LM's (the encoder's embedding rows follow it)."""
        return Vocab.load(_stage(cls.options(params).encoder, "2-target-lm") / "vocab.json")

    @classmethod
    def build(cls, params: dict, vocab: Any, num_classes: int) -> ULMFiTRatingBackbone:
        from dl4nlp.core.runs import load_state_dict

        opts = cls.options(params)
        lm_opts = lm_options(opts.encoder)
        model = cls(len(vocab), lm_opts, num_classes, HeadOptions(opts.head_hidden, opts.head_dropout))
        model.opts = opts
        if opts.init == "transfer":
            stage = _stage(opts.encoder, "2-target-lm")
            lm = RNNLanguageModel(len(vocab), lm_opts)
            try:
                lm.load_state_dict(load_state_dict(stage, "best"))
            except RuntimeError as exc:
                raise RunError(f"{stage}: the target LM does not fit the run's vocabulary ({exc})") from None
            model.load_encoder(lm)
        return model
