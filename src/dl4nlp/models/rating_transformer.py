"""A pretrained transformer encoder fine-tuned as a rating model (:class:`dl4nlp.models.transformer.
TransformerClassifier`, Devlin et al. 2019): the ``[CLS]`` representation -> the checkpoint's pooler -> a linear
layer with the rating head's outputs (1 for regress / ordinal, K for classify).

    h = Pooler(BERT([CLS] x [SEP])_[CLS]),    out = W h + b    [num_outputs]

Word pieces come from the checkpoint's own tokenizer (:class:`PieceText`), not the run's word vocabulary.
"""

from __future__ import annotations

from typing import Any

import torch

from dl4nlp.core.config import build_options
from dl4nlp.core.errors import ConfigError
from dl4nlp.models.transformer import TransformerClassifier, TransformerOptions, encode, load_tokenizer


class PieceText:
    """Texts -> word-piece ids with the special tokens, truncated as ``model.truncation`` says."""

    def __init__(self, opts: TransformerOptions, max_length: int | None):
        self.opts, self.max_length = opts, max_length
        self.tokenizer = load_tokenizer(opts.checkpoint)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.unk_id = self.tokenizer.unk_token_id

    def encode(self, texts: list[str]) -> list[list[int]]:
        return encode(self.tokenizer, list(texts), None, self.max_length, self.opts.truncation,
                      self.opts.head_tokens)

    def known(self, text: str) -> bool:
        special = set(self.tokenizer.all_special_ids) - {self.unk_id}
        return any(i != self.unk_id and i not in special for i in self.encode([text])[0])


class TransformerRatingBackbone(TransformerClassifier):
    """``model(tokens, mask) -> [B, num_outputs]`` over word pieces."""

    Options = TransformerOptions

    @staticmethod
    def options(params: dict) -> TransformerOptions:
        try:
            return build_options(TransformerOptions, params, "model (rating_transformer)")
        except TypeError as exc:
            raise ConfigError(f"model (rating_transformer): {exc}") from None

    @classmethod
    def text_encoder(cls, params: dict, max_length: int | None) -> PieceText:
        return PieceText(cls.options(params), max_length)

    @classmethod
    def build(cls, params: dict, vocab: Any, num_classes: int) -> TransformerRatingBackbone:
        opts = cls.options(params)
        model = cls.from_pretrained(opts.checkpoint, [f"out{i}" for i in range(num_classes)], opts)
        return model

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return super().forward(tokens, mask)  # [B, num_outputs]
