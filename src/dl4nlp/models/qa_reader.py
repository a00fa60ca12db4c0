"""A recurrent reader with attention for extractive QA: DrQA's Document Reader (Chen et al. 2017, *Reading
Wikipedia to Answer Open-Domain Questions*), and best-span decoding.

Why DrQA's reader rather than BiDAF (Seo et al. 2017): it reaches BiDAF's accuracy on SQuAD (F1 78.8 vs 77.3) with
one attention (question words aligned to each passage word, a [P, Q] softmax) instead of BiDAF's two-way flow
(similarity matrix, context-to-query and query-to-context attention, then a 2-layer modelling BiLSTM over an
8d-wide input and another BiLSTM for the end pointer), and without character CNNs. Fewer and narrower recurrent
passes over the passage make it several times cheaper per example, which is what matters on two CPU cores.

Passage words p_1..p_m and question words q_1..q_l (GloVe 50d, E):

    aligned question embedding   f_align(p_i) = sum_j a_ij E(q_j),
                                 a_ij = softmax_j( alpha(E(p_i)) . alpha(E(q_j)) ),  alpha = ReLU(W x)
    passage features             p~_i = [E(p_i); f_exact_match(p_i); f_tf(p_i); f_align(p_i)]
    passage encoder              {p_1..p_m} = BiLSTM(p~_1..p~_m)
    question encoder             {q_1..q_l} = BiLSTM(E(q_1)..E(q_l)),  q = sum_j b_j q_j,
                                 b_j = softmax_j(w . q_j)   (self-attention pooling)
    pointers                     P_start(i) ∝ exp(p_i W_s q),   P_end(i) ∝ exp(p_i W_e q)

The exact-match features are DrQA's: the passage word occurs in the question in its original form, in lower
case (DrQA's third, lemma match, is left out: no lemmatiser is installed), and its term frequency in the
passage. The answer is the span maximising P_start(i) x P_end(j) with i <= j <= i + 30 (:func:`best_span`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.errors import ConfigError
from dl4nlp.models.recurrent import WordEmbedding

NUM_FEATURES = 3  # exact match (original), exact match (lower case), term frequency


@dataclass
class DrQAOptions:
    """``model:`` keys of ``drqa``."""

    embeddings: str = "glove-6b-50d"  # glove-6b-50d | a vectors file | random
    embedding_dim: int = 50  # random embeddings only (pretrained ones bring their own size)
    freeze_embeddings: bool = True  # GloVe rows fixed (words without a vector still learn)
    hidden: int = 64  # per direction (DrQA: 128)
    layers: int = 2  # passage and question BiLSTM layers (DrQA: 3)
    dropout: float = 0.3  # on the embeddings and between/after the LSTM layers (DrQA: 0.3)
    max_answer_length: int = 30  # words; decoding keeps i <= j <= i + max_answer_length

    def __post_init__(self) -> None:
        for key in ("hidden", "layers", "embedding_dim", "max_answer_length"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}: must be at least 1, got {getattr(self, key)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout: must be in [0, 1), got {self.dropout}")


class AlignedQuestionEmbedding(nn.Module):
    """f_align(p_i) = sum_j a_ij E(q_j),  a_ij = softmax_j(ReLU(W E(p_i)) . ReLU(W E(q_j)))."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, p: torch.Tensor, q: torch.Tensor, q_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p [B, P, D], q [B, Q, D], q_mask [B, Q] -> (aligned [B, P, D], attention a [B, P, Q])."""
        scores = torch.bmm(F.relu(self.proj(p)), F.relu(self.proj(q)).transpose(1, 2))  # [B, P, Q]
        scores = scores.masked_fill(~q_mask.unsqueeze(1), float("-inf"))
        a = torch.softmax(scores, dim=-1)  # [B, P, Q]
        return torch.bmm(a, q), a  # [B, P, D], [B, P, Q]


class BiLSTM(nn.Module):
    """A stacked bidirectional LSTM over padded, batch-first sequences (packed by length)."""

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [B, T, I], mask [B, T] -> [B, T, 2H] (zeros on padding)."""
        lengths = mask.sum(1).clamp(min=1).cpu()  # [B]
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.size(1))  # [B, T, 2H]
        return out


class DocumentReader(nn.Module):
    """DrQA's Document Reader (see the module docstring for the equations).

    ``forward(passage, passage_mask, features, question, question_mask)`` -> start and end logits [B, P]
    (padding at -inf); ``attention(...)`` also returns the aligned-embedding attention a [B, P, Q]."""

    def __init__(self, vocab_size: int, opts: DrQAOptions | None = None, pretrained: torch.Tensor | None = None,
                 found: torch.Tensor | None = None):
        super().__init__()
        self.opts = opts = opts or DrQAOptions()
        dim = int(pretrained.size(1)) if pretrained is not None else opts.embedding_dim
        self.embed = WordEmbedding(vocab_size, dim, pretrained, found, freeze=opts.freeze_embeddings)
        self.align = AlignedQuestionEmbedding(dim)
        self.passage_rnn = BiLSTM(2 * dim + NUM_FEATURES, opts.hidden, opts.layers, opts.dropout)
        self.question_rnn = BiLSTM(dim, opts.hidden, opts.layers, opts.dropout)
        self.question_weight = nn.Linear(2 * opts.hidden, 1)  # w in b_j = softmax(w . q_j)
        self.start = nn.Linear(2 * opts.hidden, 2 * opts.hidden)  # W_s q (+ bias): p_i W_s q = p_i . (W_s q)
        self.end = nn.Linear(2 * opts.hidden, 2 * opts.hidden)  # W_e q
        self.drop = nn.Dropout(opts.dropout)

    def attention(self, passage: torch.Tensor, passage_mask: torch.Tensor, features: torch.Tensor,
                  question: torch.Tensor, question_mask: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(start logits [B, P], end logits [B, P], aligned attention a [B, P, Q])."""
        p_emb = self.drop(self.embed(passage))  # [B, P, D]
        q_emb = self.drop(self.embed(question))  # [B, Q, D]
        aligned, a = self.align(p_emb, q_emb, question_mask)  # [B, P, D], [B, P, Q]
        p_in = torch.cat([p_emb, features, aligned], dim=-1)  # [B, P, 2D + F]
        p_hid = self.drop(self.passage_rnn(p_in, passage_mask))  # [B, P, 2H]
        q_hid = self.drop(self.question_rnn(q_emb, question_mask))  # [B, Q, 2H]
        b = self.question_weight(q_hid).squeeze(-1).masked_fill(~question_mask, float("-inf"))  # [B, Q]
        q_vec = torch.bmm(torch.softmax(b, -1).unsqueeze(1), q_hid).squeeze(1)  # [B, 2H]
        # bilinear scores as one matrix-vector product per example (nn.Bilinear's kernel was ~3/4 of a CPU step)
        start = torch.bmm(p_hid, self.start(q_vec).unsqueeze(2)).squeeze(2)  # [B, P]
        end = torch.bmm(p_hid, self.end(q_vec).unsqueeze(2)).squeeze(2)  # [B, P]
        start = start.masked_fill(~passage_mask, float("-inf"))
        end = end.masked_fill(~passage_mask, float("-inf"))
        return start, end, a

    def forward(self, passage: torch.Tensor, passage_mask: torch.Tensor, features: torch.Tensor,
                question: torch.Tensor, question_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end, _ = self.attention(passage, passage_mask, features, question, question_mask)
        return start, end  # [B, P], [B, P]


def exact_match_features(passage: list[str], question: list[str]) -> list[list[float]]:
    """DrQA's token features per passage word: [in question (original form), in question (lower case),
    term frequency of the (lower-cased) word in the passage / passage length]."""
    q_orig, q_low = set(question), {w.lower() for w in question}
    low = [w.lower() for w in passage]
    counts: dict[str, int] = {}
    for w in low:
        counts[w] = counts.get(w, 0) + 1
    n = max(len(passage), 1)
    return [[float(w in q_orig), float(lw in q_low), counts[lw] / n] for w, lw in zip(passage, low, strict=True)]


def best_span(start_scores: torch.Tensor, end_scores: torch.Tensor, mask: torch.Tensor,
              max_length: int = 30) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The span (i, j) maximising ``start_scores[i] + end_scores[j]`` (log-probabilities: the product of the
    probabilities) with ``i <= j <= i + max_length`` over the unmasked positions, for every row.

    start_scores, end_scores [B, T] (log-probabilities or logits), mask [B, T] bool ->
    (start [B], end [B], score [B]); ``max_length`` counts the words after the first (DrQA's ``max_len``
    window: 15 in the paper, 30 here as in the issue)."""
    neg = torch.finfo(start_scores.dtype).min
    s = start_scores.masked_fill(~mask, neg)  # [B, T]
    e = end_scores.masked_fill(~mask, neg)  # [B, T]
    total = s.unsqueeze(2) + e.unsqueeze(1)  # [B, T, T]: score of (i, j)
    T = total.size(1)
    allowed = torch.ones(T, T, dtype=torch.bool, device=total.device).triu().tril(max_length)  # i <= j <= i+L
    total = total.masked_fill(~allowed, neg)
    flat = total.view(total.size(0), -1).argmax(-1)  # [B]
    start, end = flat // T, flat % T
    return start, end, total.view(total.size(0), -1).gather(1, flat.unsqueeze(1)).squeeze(1)
