"""A linear-chain conditional random field over emission scores (Lafferty et al. 2001; as the output layer of
a BiLSTM: Huang et al. 2015, Lample et al. 2016, Ma & Hovy 2016), written out.

For a sentence of n tokens with emission scores P [n, K] (from the encoder) and tags y_1..y_n, the score is

    s(x, y) = start[y_1] + sum_{i=1..n} P[i, y_i] + sum_{i=2..n} A[y_{i-1}, y_i] + end[y_n]

and p(y | x) = exp s(x, y) / Z(x), with Z(x) = sum over all K^n tag sequences y' of exp s(x, y'). The forward
algorithm computes log Z in O(n K^2), in log space:

    alpha_1[k] = start[k] + P[1, k]
    alpha_i[k] = logsumexp_j (alpha_{i-1}[j] + A[j, k]) + P[i, k]
    log Z      = logsumexp_k (alpha_n[k] + end[k])

and Viterbi decoding replaces logsumexp with max (keeping the argmax as back-pointers). Padded positions
(``mask`` False; masks are left-aligned, every sentence has at least one token) carry alpha through unchanged.
Optional constraints (:func:`scheme_constraints`) give the transitions an invalid tag sequence would need a
score of -10000, so neither training nor decoding can use them (Lample et al.'s IOBES decoding rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: the score of a forbidden transition (finite, so a fully masked row never turns into NaN)
FORBIDDEN = -10000.0


def scheme_constraints(labels: Sequence[str], scheme: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Allowed (start [K], transitions [K, K] from -> to, end [K]) bool masks for ``labels`` in ``scheme``
    (iob1 / iob2 / bioes; :func:`dl4nlp.data.conll.transition_allowed`)."""
    from dl4nlp.data.conll import transition_allowed

    start = torch.tensor([transition_allowed(None, t, scheme) for t in labels])  # [K]
    trans = torch.tensor([[transition_allowed(a, b, scheme) for b in labels] for a in labels])  # [K, K]
    end = torch.tensor([transition_allowed(t, None, scheme) for t in labels])  # [K]
    return start, trans, end


class CRF(nn.Module):
    """Linear-chain CRF with start / transition / end scores; see the module docstring for the equations.

    ``nll(emissions [B, T, K], tags [B, T], mask [B, T]) -> [B]`` is -log p(y | x) per sentence;
    ``decode(emissions, mask) -> [B, T]`` the Viterbi tags (0 at padded positions).
    """

    def __init__(self, num_tags: int, constraints: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        self.num_tags = num_tags
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # [K]
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))  # [K, K] from -> to
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # [K]
        allowed = constraints or (torch.ones(num_tags, dtype=torch.bool), torch.ones(num_tags, num_tags,
                                                                                     dtype=torch.bool),
                                  torch.ones(num_tags, dtype=torch.bool))
        for name, ok in zip(("start_penalty", "transition_penalty", "end_penalty"), allowed, strict=True):
            self.register_buffer(name, torch.where(ok, 0.0, FORBIDDEN), persistent=False)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(start [K], transitions [K, K], end [K]) with the constraints' penalties added."""
        return (self.start + self.start_penalty, self.transitions + self.transition_penalty,
                self.end + self.end_penalty)

    def sequence_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """s(x, y) [B] of the given tags."""
        start, trans, end = self.scores()
        m = mask.float()  # [B, T]
        emit = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # [B, T]
        score = start[tags[:, 0]] + (emit * m).sum(1)  # [B]
        score = score + (trans[tags[:, :-1], tags[:, 1:]] * m[:, 1:]).sum(1)  # [B]
        last = tags.gather(1, (mask.long().sum(1) - 1).unsqueeze(1)).squeeze(1)  # [B] tag of the last token
        return score + end[last]

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z(x) [B] by the forward algorithm."""
        start, trans, end = self.scores()
        alpha = start + emissions[:, 0]  # [B, K]
        for i in range(1, emissions.size(1)):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, i]  # [B, K]
            alpha = torch.where(mask[:, i].unsqueeze(1), nxt, alpha)  # padding: alpha carried through
        return torch.logsumexp(alpha + end, dim=1)  # [B]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """-log p(y | x) = log Z(x) - s(x, y), per sentence [B]."""
        return self.log_partition(emissions, mask) - self.sequence_score(emissions, tags, mask)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Viterbi: argmax_y s(x, y), tags [B, T] (0 where ``mask`` is False)."""
        start, trans, end = self.scores()
        B, T, K = emissions.shape
        delta = start + emissions[:, 0]  # [B, K] best score of a path ending in each tag
        backptr = []
        for i in range(1, T):
            best, arg = (delta.unsqueeze(2) + trans).max(dim=1)  # [B, K], [B, K]
            on = mask[:, i].unsqueeze(1)  # [B, 1]
            delta = torch.where(on, best + emissions[:, i], delta)
            backptr.append(torch.where(on, arg, torch.arange(K, device=arg.device)))  # padding: stay put
        tag = (delta + end).argmax(dim=1)  # [B] last tag (padding kept it in place)
        path = [tag]
        for ptr in reversed(backptr):
            tag = ptr.gather(1, tag.unsqueeze(1)).squeeze(1)  # [B]
            path.append(tag)
        tags = torch.stack(path[::-1], dim=1)  # [B, T]
        return tags * mask.long()
