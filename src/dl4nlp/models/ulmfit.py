"""The ULMFiT classifier (Howard & Ruder 2018, *Universal Language Model Fine-tuning for Text Classification*):
a language model's encoder (embedding + stacked LSTM) with a concat-pooling head.

    H = [h_1 ... h_T] = LSTM(E w_1 ... E w_T)                      encoder taken from the fine-tuned LM
    h_c = [h_T ; maxpool(H) ; meanpool(H)]                          concat pooling over the real tokens
    logits = W_2 dropout(ReLU(W_1 dropout(h_c) + b_1)) + b_2

``layer_groups()`` lists the parameters from input to output (embedding, each LSTM layer, head), the unit of
discriminative learning rates and gradual unfreezing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dl4nlp.models.lm import LMOptions, RNNLanguageModel


@dataclass
class HeadOptions:
    hidden: int = 50
    dropout: float = 0.1


class ULMFiTClassifier(nn.Module):
    """``logits [B, C] = model(tokens [B, T], mask [B, T])`` over right-padded batches."""

    def __init__(self, vocab_size: int, lm_opts: LMOptions, num_classes: int, head: HeadOptions):
        super().__init__()
        self.lm_opts = lm_opts
        rnn_cls = nn.LSTM if lm_opts.cell == "lstm" else nn.GRU
        self.embedding = nn.Embedding(vocab_size, lm_opts.emb_dim)
        emb_p = lm_opts.dropout if lm_opts.emb_dropout is None else lm_opts.emb_dropout
        self.emb_drop = nn.Dropout(emb_p)
        self.rnn = rnn_cls(
            lm_opts.emb_dim,
            lm_opts.hidden,
            lm_opts.layers,
            batch_first=True,
            dropout=lm_opts.dropout if lm_opts.layers > 1 else 0.0,
        )
        H = lm_opts.hidden
        self.head = nn.Sequential(
            nn.Dropout(head.dropout),
            nn.Linear(3 * H, head.hidden),
            nn.ReLU(),
            nn.Dropout(head.dropout),
            nn.Linear(head.hidden, num_classes),
        )
        nn.init.uniform_(self.embedding.weight, -lm_opts.init_range, lm_opts.init_range)

    def load_encoder(self, lm: RNNLanguageModel) -> None:
        """Copy the embedding and recurrent weights of a (fine-tuned) language model with the same vocabulary."""
        self.embedding.load_state_dict(lm.embedding.state_dict())
        self.rnn.load_state_dict(lm.rnn.state_dict())

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(
            self.emb_drop(self.embedding(tokens))
        )  # [B, T, H]; right padding: real steps unaffected
        m = mask.unsqueeze(-1)  # [B, T, 1]
        lengths = mask.sum(1).clamp(min=1)  # [B]
        last = out[torch.arange(out.size(0)), lengths - 1]  # [B, H] state at the last real token
        maxp = out.masked_fill(~m, float("-inf")).max(1).values  # [B, H]
        meanp = (out * m).sum(1) / lengths[:, None]  # [B, H]
        return self.head(torch.cat([last, maxp, meanp], dim=-1))  # [B, C]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """[embedding, rnn layer 1, ..., rnn layer L, head]: each parameter in exactly one group."""
        groups: list[list[nn.Parameter]] = [[self.embedding.weight]]
        for i in range(self.lm_opts.layers):
            groups.append([p for n, p in self.rnn.named_parameters() if n.endswith(f"_l{i}")])
        groups.append(list(self.head.parameters()))
        return groups
