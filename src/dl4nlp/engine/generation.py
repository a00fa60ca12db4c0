"""Decoding shared by language models, seq2seq and captioning: greedy, sampling (temperature, top-k,
top-p / nucleus) and beam search with length normalisation.

Every decoder is driven through one function::

    step_fn(last_tokens: LongTensor [N], state) -> (log_probs: FloatTensor [N, V], new_state)

where ``state`` is a tensor, or a tuple / list / dict of tensors (nested), whose batch dimension is 0
(beam search reorders it with ``index_select`` on dim 0) — e.g. an RNN hidden state moved to batch-first,
plus encoder outputs for attention.

References: Holtzman et al. 2020 (nucleus sampling, top-p); Fan et al. 2018 (top-k sampling);
Wu et al. 2016 (GNMT length normalisation  lp(Y) = ((5 + |Y|) / 6)^alpha).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

StepFn = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


def map_state(state: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor of a (nested) state."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return fn(state)
    if isinstance(state, tuple):
        return tuple(map_state(s, fn) for s in state)
    if isinstance(state, list):
        return [map_state(s, fn) for s in state]
    if isinstance(state, dict):
        return {k: map_state(v, fn) for k, v in state.items()}
    return state


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Mask (to -inf) every token outside the top-k and outside the nucleus of mass ``top_p``.

    logits: [N, V]. top-k keeps the k largest; top-p keeps the smallest set of most probable tokens
    whose total probability reaches ``top_p`` (the token that crosses the threshold is kept, so at
    least one token always survives).
    """
    out = logits.clone()
    V = out.size(-1)
    if top_k and 0 < top_k < V:
        kth = torch.topk(out, top_k, dim=-1).values[..., -1:]  # [N, 1]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)  # [N, V]
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the tokens ranked above each one
        drop_sorted = before >= top_p  # [N, V]
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row: greedy when ``temperature == 0``, else a sample from the filtered softmax."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    filtered = filter_logits(logits / temperature, top_k, top_p)
    probs = torch.softmax(filtered, dim=-1)  # [N, V]
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # [N]


@torch.no_grad()
def generate(step_fn: StepFn, start_tokens: torch.Tensor, state: Any, max_len: int, eos_id: int | None = None,
             strategy: str = "greedy", temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
             seed: int | None = None) -> list[list[int]]:
    """Decode N sequences in parallel from ``start_tokens`` [N]; returns the generated ids (without the
    start token, with ``eos_id`` dropped and decoding of that row stopped when it is produced).
    ``strategy``: ``greedy`` or ``sample``; sampling is reproducible with ``seed``."""
    if strategy not in ("greedy", "sample"):
        raise ValueError(f"unknown strategy '{strategy}' (use greedy or sample)")
    gen = None
    if seed is not None:
        gen = torch.Generator(device=start_tokens.device).manual_seed(seed)
    tokens = start_tokens
    done = torch.zeros_like(start_tokens, dtype=torch.bool)
    out: list[list[int]] = [[] for _ in range(start_tokens.size(0))]
    for _ in range(max_len):
        log_probs, state = step_fn(tokens, state)  # [N, V]
        if strategy == "greedy":
            nxt = log_probs.argmax(-1)
        else:
            nxt = sample_next(log_probs, temperature, top_k, top_p, gen)
        for i, t in enumerate(nxt.tolist()):
            if done[i]:
                continue
            if eos_id is not None and t == eos_id:
                done[i] = True
            else:
                out[i].append(t)
        if bool(done.all()):
            break
        tokens = nxt
    return out


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length normalisation ((5 + |Y|) / 6) ** alpha; alpha = 0 gives raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(step_fn: StepFn, start_token: int, state: Any, beam_size: int, max_len: int,
                eos_id: int | None = None, alpha: float = 0.0, device: str | torch.device = "cpu"
                ) -> tuple[list[int], float]:
    """Beam search for ONE input (its ``state`` has batch size 1); returns (best ids, normalised score).

    Keeps ``beam_size`` partial hypotheses; a hypothesis that emits ``eos_id`` is finished. The result is
    the finished (or, at ``max_len``, unfinished) hypothesis with the highest
    ``sum log p / length_penalty(len, alpha)``. ``beam_size=1`` is greedy decoding.
    """
    if beam_size < 1:
        raise ValueError("beam_size must be >= 1")
    tokens = torch.tensor([start_token], device=device)  # [1]
    scores = torch.zeros(1, device=device)  # [k] summed log-probs of live hypotheses
    seqs: list[list[int]] = [[]]
    finished: list[tuple[float, list[int]]] = []
    for _ in range(max_len):
        log_probs, state = step_fn(tokens, state)  # [k, V]
        V = log_probs.size(-1)
        total = (scores[:, None] + log_probs).view(-1)  # [k * V]
        top = torch.topk(total, min(beam_size * 2, total.numel()))
        new_seqs, new_scores, origins, new_tokens = [], [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            origin, tok = divmod(flat, V)
            seq = seqs[origin] + [tok]
            if eos_id is not None and tok == eos_id:
                finished.append((score / length_penalty(len(seq) - 1, alpha), seq[:-1]))
                continue
            new_seqs.append(seq)
            new_scores.append(score)
            origins.append(origin)
            new_tokens.append(tok)
            if len(new_seqs) == beam_size:
                break
        best_finished = max((s for s, _ in finished), default=float("-inf"))
        if not new_seqs:
            break
        # stop when no live hypothesis can still beat the best finished one (log-probs only decrease)
        if finished and alpha == 0 and max(new_scores) < best_finished:
            break
        idx = torch.tensor(origins, device=device)
        state = map_state(state, lambda t, idx=idx: t.index_select(0, idx))
        seqs, scores = new_seqs, torch.tensor(new_scores, device=device)
        tokens = torch.tensor(new_tokens, device=device)
    if not finished:
        finished = [(float(s) / length_penalty(len(q), alpha), q) for s, q in zip(scores.tolist(), seqs, strict=True)]
    score, best = max(finished, key=lambda x: x[0])
    return best, float(score)


def _beam_candidates(b: int, top: list[tuple[float, int, int]], seqs: list[list[int]], k: int,
                     eos_id: int | None, alpha: float, finished: list[tuple[float, list[int]]]
                     ) -> list[tuple[float, int, int, list[int]]]:
    """Input ``b``'s next live hypotheses ``(score, row, token, seq)`` from its ``k`` best candidates ``(summed
    log-prob, origin beam, token)``, best first; a candidate ending in ``eos_id`` goes to ``finished`` (with its
    normalised score) and leaves the beam one slot smaller."""
    live: list[tuple[float, int, int, list[int]]] = []
    for score, origin, tok in top[:k]:
        if score == float("-inf"):
            break
        seq = seqs[origin] + [tok]
        if eos_id is not None and tok == eos_id:
            finished.append((score / length_penalty(len(seq) - 1, alpha), seq[:-1]))
        else:
            live.append((score, b * k + origin, tok, seq))
    return live


@torch.no_grad()
def beam_search_batch(step_fn: StepFn, start_tokens: torch.Tensor, state: Any, beam_size: int, max_len: int,
                      eos_id: int | None = None, alpha: float = 0.0) -> list[tuple[list[int], float]]:
    """Batched beam search: ``B`` inputs at once (``state`` has batch size B on dim 0, ``start_tokens`` [B]);
    returns, per input, (best ids without start and ``<eos>``, normalised score).

    The state is repeated ``beam_size`` times per input (rows ``b * k .. b * k + k - 1``) and reordered with
    ``index_select`` on dim 0 after every step, so any model whose step is ``step_fn(last_tokens [N], state)
    -> (log_probs [N, V], state)`` can use it (an RNN's hidden state, or a transformer's cache of the tokens and
    keys/values so far). Per input and step, the ``k`` best extensions of the live hypotheses are kept; one
    ending in ``eos_id`` is finished with score ``sum log p / length_penalty(len, alpha)`` and its slot closes
    (the beam shrinks, so ``beam_size=1`` is exactly greedy decoding). An input stops when its beam is empty, at
    ``max_len``, or when no live hypothesis can still beat its best finished one: a live summed log-prob ``s``
    only falls, so ``s / length_penalty(max_len, alpha)`` bounds what it can still reach. The best finished
    hypothesis wins (the best live one if none finished).
    """
    if beam_size < 1:
        raise ValueError("beam_size must be >= 1")
    B, k, dev = start_tokens.size(0), beam_size, start_tokens.device
    state = map_state(state, lambda t: t.repeat_interleave(k, dim=0))  # [B*k, ...]
    tokens = start_tokens.repeat_interleave(k)  # [B*k]
    scores = torch.full((B, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # one live hypothesis per input at the start
    seqs: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(B)]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    done = [False] * B
    bound = length_penalty(max_len, alpha)
    for _ in range(max_len):
        log_probs, state = step_fn(tokens, state)  # [B*k, V]
        V = log_probs.size(-1)
        total = (scores.view(-1, 1) + log_probs).view(B, k * V)  # [B, k*V]
        top = torch.topk(total, min(k, k * V), dim=-1)  # [B, k]
        values, flat = top.values.tolist(), top.indices.tolist()
        rows = torch.arange(B * k, device=dev).view(B, k).clone()  # [B, k] which old row each new row continues
        new_scores = torch.full((B, k), float("-inf"), device=dev)
        new_tokens = tokens.view(B, k).clone()
        for b in range(B):
            if done[b]:
                continue
            cands = [(v, f // V, f % V) for v, f in zip(values[b], flat[b], strict=True)]
            live = _beam_candidates(b, cands, seqs[b], k, eos_id, alpha, finished[b])
            seqs[b] = [s for *_, s in live] + [[] for _ in range(k - len(live))]
            for j, (score, row, tok, _) in enumerate(live):
                new_scores[b, j], rows[b, j], new_tokens[b, j] = score, row, tok
            best_done = max((s for s, _ in finished[b]), default=float("-inf"))
            done[b] = not live or live[0][0] / bound < best_done
            if done[b]:
                new_scores[b] = float("-inf")
        if all(done):
            break
        state = map_state(state, lambda t, idx=rows.view(-1): t.index_select(0, idx))
        scores, tokens = new_scores, new_tokens.view(-1)
    out = []
    for b in range(B):
        pool = finished[b] or [(float(s) / length_penalty(len(q), alpha), q)
                               for s, q in zip(scores[b].tolist(), seqs[b], strict=True) if s > float("-inf")]
        score, best = max(pool, key=lambda x: x[0], default=(float("-inf"), []))
        out.append((best, float(score)))
    return out
