"""BiLSTM sequence taggers for named-entity recognition: a softmax per token, or a CRF over the sentence, with
optional character-level word features (a char CNN or a char BiLSTM) and a casing feature.

Word representation of token t (w_t: its lowercased GloVe row; c_t: character features; k_t: casing embedding)

    x_t = [E_w(w_t) ; c_t ; E_k(casing(t))]

Character features, either (Ma & Hovy 2016, *End-to-end Sequence Labeling via Bi-directional
LSTM-CNNs-CRF*, ACL) a convolution over the word's character embeddings, max-pooled over positions,

    c_t = max_j (W_c [e_{j-1}; e_j; e_{j+1}] + b_c)                       (30 filters of width 3)

or (Lample et al. 2016, *Neural Architectures for Named Entity Recognition*, NAACL) the final states of a
bidirectional LSTM run over the characters,

    c_t = [ LSTM_fwd(e_1..e_m)_m ; LSTM_bwd(e_m..e_1)_1 ]                   (25 units each way)

The sentence encoder is a BiLSTM with dropout on its input and its output,

    h_t = [ LSTM_fwd(x_1..x_t) ; LSTM_bwd(x_n..x_t) ],   P_t = W_o dropout(h_t) + b_o     [K]

and the output layer either a softmax per token (Huang et al. 2015's BiLSTM baseline),

    p(y_t | x) = softmax(P_t),   loss = -(1/N) sum_t log p(y_t | x)

or a linear-chain CRF over P (:mod:`dl4nlp.models.crf`), loss = -log p(y | x) per sentence, decoded with
Viterbi (Huang et al. 2015, *Bidirectional LSTM-CRF Models for Sequence Tagging*; Lample et al. 2016).

:class:`TransformerTagger` is token classification with a pretrained encoder (Devlin et al. 2019, *BERT*,
section 4.3): the sentence's word pieces go through the encoder, and each word is scored from the vector of
its first piece (the other pieces get no label),

    H = Encoder([CLS] pieces [SEP]),   P_t = W_o dropout(H[first(t)]) + b_o

with the same softmax (or CRF) on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dl4nlp.core.errors import ConfigError
from dl4nlp.models.crf import CRF, scheme_constraints

CHAR_FEATURES = ("none", "cnn", "lstm")


@dataclass
class TaggerOptions:
    """``model:`` keys of the taggers (the paper recipe by default: BIOES tags, dropout 0.5)."""

    embeddings: str = "glove-6b-50d"  # glove-6b-50d | random | a GloVe/word2vec text file (looked up lowercased)
    word_dim: int = 50  # random embeddings only (pretrained ones bring their own size)
    extend_vocab: bool = True  # dev/test words with a pretrained vector join the vocabulary (no labels used)
    casing: bool = True  # add the casing feature (GloVe 6B is lowercased)
    casing_dim: int = 10
    chars: str = "none"  # none | cnn (Ma & Hovy 2016) | lstm (Lample et al. 2016)
    char_dim: int = 25
    char_filters: int = 30  # cnn
    char_kernel: int = 3  # cnn
    char_hidden: int = 25  # lstm, per direction
    max_word_chars: int = 30  # longer words keep their first characters
    hidden: int = 100  # BiLSTM units per direction
    dropout: float = 0.5
    crf: bool = True
    constrained: bool = True  # CRF: forbid transitions that make an invalid tag sequence
    scheme: str = "bioes"  # tags the model learns: iob1 | iob2 | bioes
    input_scheme: str = "auto"  # the files' scheme: auto | iob1 | iob2 | bioes
    tag_column: int = -1  # the files' tag column (0-based; negative: from the end); the word is column 0
    on_invalid: str = "repair"  # an invalid sequence in a file: repair (conlleval's reading) | refuse

    def __post_init__(self) -> None:
        check_scheme_options(self)
        if self.chars not in CHAR_FEATURES:
            raise ConfigError(f"model.chars: unknown value '{self.chars}' (use {', '.join(CHAR_FEATURES)})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: must lie in [0, 1), got {self.dropout}")
        for key in ("hidden", "word_dim", "casing_dim", "char_dim", "char_filters", "char_hidden", "max_word_chars"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}: must be at least 1, got {getattr(self, key)}")
        if self.char_kernel < 1 or self.char_kernel % 2 == 0:
            raise ConfigError(f"model.char_kernel: must be an odd number >= 1, got {self.char_kernel}")


@dataclass
class TransformerTaggerOptions:
    """``model:`` keys of the transformer token classifier (``minilm_tagger``)."""

    checkpoint: str = "minilm-l6"  # minilm-l6 (offline, uncased) | a transformers folder | a hub id
    dropout: float = 0.1  # on the first pieces' vectors
    crf: bool = False
    constrained: bool = True
    max_pieces: int = 256  # word pieces per sentence, [CLS] and [SEP] included (words past it: the [SEP] vector)
    scheme: str = "bioes"
    input_scheme: str = "auto"
    on_invalid: str = "repair"
    tag_column: int = -1

    def __post_init__(self) -> None:
        check_scheme_options(self)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: must lie in [0, 1), got {self.dropout}")
        if self.max_pieces < 3:
            raise ConfigError(f"model.max_pieces: must be at least 3, got {self.max_pieces}")


def check_scheme_options(opts: Any) -> None:
    """The tag-scheme keys every tagger has: ``scheme``, ``input_scheme``, ``on_invalid``."""
    if opts.scheme not in ("iob1", "iob2", "bioes") or opts.input_scheme not in ("auto", "iob1", "iob2", "bioes"):
        raise ConfigError("model.scheme / model.input_scheme: use iob1, iob2 or bioes (input_scheme also auto)")
    if opts.on_invalid not in ("repair", "refuse"):
        raise ConfigError(f"model.on_invalid: use repair or refuse, not '{opts.on_invalid}'")


class CharCNN(nn.Module):
    """Ma & Hovy (2016): char embeddings -> dropout -> one convolution -> max over positions; [N, C] -> [N, F]."""

    def __init__(self, num_chars: int, dim: int, filters: int, kernel: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(num_chars, dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv1d(dim, filters, kernel, padding=kernel // 2)
        self.out_dim = filters

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        e = self.dropout(self.embed(chars))  # [N, C, d]
        h = self.conv(e.transpose(1, 2))  # [N, F, C]
        h = h.masked_fill((chars == 0).unsqueeze(1), float("-inf"))  # padding never wins the max
        return h.max(dim=2).values  # [N, F]


class CharLSTM(nn.Module):
    """Lample et al. (2016): a BiLSTM over the characters, its two final states; [N, C] -> [N, 2h]."""

    def __init__(self, num_chars: int, dim: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(num_chars, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        lengths = (chars != 0).sum(1).clamp(min=1).cpu()  # [N]
        packed = pack_padded_sequence(self.embed(chars), lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n [2, N, h]
        return torch.cat([h_n[0], h_n[1]], dim=-1)  # [N, 2h]


class TaggerHead:
    """The output layer both taggers share (``self.crf`` is a :class:`CRF` or None; ``self(batch)`` gives the
    emissions [B, T, K])."""

    crf: CRF | None

    def loss(self, batch: dict[str, torch.Tensor], emissions: torch.Tensor | None = None) -> torch.Tensor:
        """CRF: mean over sentences of -log p(y | x); softmax: mean over real tokens of -log p(y_t | x)."""
        emissions = self(batch) if emissions is None else emissions  # [B, T, K]
        mask, tags = batch["mask"], batch["tags"]
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask).mean()
        return F.cross_entropy(emissions[mask], tags[mask])

    @torch.no_grad()
    def decode(self, batch: dict[str, torch.Tensor], emissions: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted tag ids [B, T]: Viterbi with a CRF, the argmax per token without; 0 at padding."""
        emissions = self(batch) if emissions is None else emissions  # [B, T, K]
        if self.crf is not None:
            return self.crf.decode(emissions, batch["mask"])
        return emissions.argmax(-1) * batch["mask"].long()


class BiLSTMTagger(TaggerHead, nn.Module):
    """Word (+ chars + casing) -> BiLSTM -> emissions [B, T, K] -> softmax or CRF; see the module docstring.

    ``loss(batch)`` is the training loss, ``decode(batch) -> [B, T]`` the predicted tag ids (0 at padding).
    A batch holds ``words`` [B, T], ``chars`` [B, T, C], ``casing`` [B, T] and ``mask`` [B, T] (and ``tags``
    [B, T] for the loss).
    """

    #: options fixed by the model name (the subclasses below), e.g. ``{"crf": False}``
    preset: dict[str, Any] = {}

    def __init__(self, num_words: int, num_chars: int, labels: list[str], opts: TaggerOptions,
                 pretrained: torch.Tensor | None = None):
        super().__init__()
        self.opts, self.labels = opts, list(labels)
        word_dim = pretrained.size(1) if pretrained is not None else opts.word_dim
        self.words = nn.Embedding(num_words, word_dim, padding_idx=0)  # [V, D]
        if pretrained is not None:
            with torch.no_grad():
                self.words.weight.copy_(pretrained)
        self.chars: nn.Module | None = None
        if opts.chars == "cnn":
            self.chars = CharCNN(num_chars, opts.char_dim, opts.char_filters, opts.char_kernel, opts.dropout)
        elif opts.chars == "lstm":
            self.chars = CharLSTM(num_chars, opts.char_dim, opts.char_hidden)
        from dl4nlp.data.conll import CASINGS

        self.casing = nn.Embedding(len(CASINGS), opts.casing_dim, padding_idx=0) if opts.casing else None
        in_dim = word_dim + (self.chars.out_dim if self.chars is not None else 0) + (opts.casing_dim if opts.casing
                                                                                      else 0)
        self.dropout = nn.Dropout(opts.dropout)
        self.lstm = nn.LSTM(in_dim, opts.hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * opts.hidden, len(labels))
        constraints = scheme_constraints(labels, opts.scheme) if opts.crf and opts.constrained else None
        self.crf = CRF(len(labels), constraints) if opts.crf else None

    @classmethod
    def options(cls, params: dict[str, Any], where: str = "model") -> TaggerOptions:
        """The options of ``params`` with this model's preset; a preset key given another value is an error."""
        from dl4nlp.core.config import build_options

        for key, value in cls.preset.items():
            if key in params and params[key] != value:
                raise ConfigError(f"{where}.{key}: fixed to {value!r} by this model name (pick another model name)")
        return build_options(TaggerOptions, {**params, **cls.preset}, where)

    def features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """x_t = [E_w(w_t); c_t; E_k(casing_t)]  [B, T, D_in]."""
        mask = batch["mask"]  # [B, T]
        parts = [self.words(batch["words"])]  # [B, T, D]
        if self.chars is not None:
            feats = self.chars(batch["chars"][mask])  # [N, Fc] for the N real words only
            full = feats.new_zeros(*mask.shape, feats.size(-1))  # [B, T, Fc]
            full[mask] = feats
            parts.append(full)
        if self.casing is not None:
            parts.append(self.casing(batch["casing"]))  # [B, T, Dk]
        return torch.cat(parts, dim=-1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Emission scores P [B, T, K]."""
        x = self.dropout(self.features(batch))  # [B, T, D_in]
        lengths = batch["mask"].sum(1).cpu()  # [B]
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=x.size(1))  # [B, T, 2H]
        return self.out(self.dropout(h))  # [B, T, K]

class BiLSTMSoftmax(BiLSTMTagger):
    """The baseline: a softmax per token, no characters."""

    preset = {"crf": False, "chars": "none"}


class BiLSTMCRF(BiLSTMTagger):
    """BiLSTM-CRF without character features (Huang et al. 2015)."""

    preset = {"crf": True, "chars": "none"}


class BiLSTMCRFCharCNN(BiLSTMTagger):
    """BiLSTM-CNN-CRF (Ma & Hovy 2016)."""

    preset = {"crf": True, "chars": "cnn"}


class BiLSTMCRFCharLSTM(BiLSTMTagger):
    """BiLSTM-CRF with a character BiLSTM (Lample et al. 2016)."""

    preset = {"crf": True, "chars": "lstm"}


class TransformerTagger(TaggerHead, nn.Module):
    """Token classification with a pretrained encoder, each word scored from its first word piece; see the
    module docstring. A batch holds ``pieces`` / ``piece_mask`` [B, P], ``first`` [B, T] (the position of each
    word's first piece) and ``mask`` [B, T] (and ``tags``)."""

    preset: dict[str, Any] = {}

    def __init__(self, labels: list[str], opts: TransformerTaggerOptions):
        super().__init__()
        from transformers import AutoModel

        from dl4nlp.models.transformer import resolve_checkpoint

        self.opts, self.labels = opts, list(labels)
        where, local = resolve_checkpoint(opts.checkpoint)
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the unused pooler's weights are expected to be left out: no report
        hf_logging.disable_progress_bar()
        try:
            self.encoder = AutoModel.from_pretrained(where, local_files_only=local, add_pooling_layer=False)
        except OSError as exc:
            raise ConfigError(f"model.checkpoint '{opts.checkpoint}': cannot load the model ({exc})") from None
        finally:
            hf_logging.set_verbosity(verbosity)
            hf_logging.enable_progress_bar()
        self.encoder.train()  # from_pretrained returns eval mode
        self.dropout = nn.Dropout(opts.dropout)
        self.out = nn.Linear(self.encoder.config.hidden_size, len(labels))
        constraints = scheme_constraints(labels, opts.scheme) if opts.crf and opts.constrained else None
        self.crf = CRF(len(labels), constraints) if opts.crf else None

    @classmethod
    def options(cls, params: dict[str, Any], where: str = "model") -> TransformerTaggerOptions:
        from dl4nlp.core.config import build_options

        return build_options(TransformerTaggerOptions, params, where)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Emission scores P [B, T, K] from the first piece of each word."""
        h = self.encoder(input_ids=batch["pieces"], attention_mask=batch["piece_mask"].long()).last_hidden_state
        first = batch["first"].unsqueeze(-1).expand(-1, -1, h.size(-1))  # [B, T, d]
        return self.out(self.dropout(h.gather(1, first)))  # [B, T, K]


class MiniLMTagger(TransformerTagger):
    """The offline MiniLM-L6 (uncased WordPiece) fine-tuned for token classification."""
