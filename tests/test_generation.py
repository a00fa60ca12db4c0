import itertools
import math

import pytest
import torch

from dl4nlp.engine.generation import beam_search, filter_logits, generate, sample_next


def test_top_k_keeps_exactly_k_largest():
    logits = torch.tensor([[0.1, 2.0, -1.0, 3.0, 0.5]])
    out = filter_logits(logits, top_k=2)
    kept = torch.isfinite(out)[0].nonzero().flatten().tolist()
    assert kept == [1, 3]
    assert torch.equal(out[0, [1, 3]], logits[0, [1, 3]])


def test_top_p_keeps_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    # 0.5 < 0.7 so the second token is needed; 0.5 + 0.3 >= 0.7 so the third is not
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))[0].nonzero().flatten().tolist()
    assert kept == [0, 1]
    kept = torch.isfinite(filter_logits(logits, top_p=0.5))[0].nonzero().flatten().tolist()
    assert kept == [0]
    kept = torch.isfinite(filter_logits(logits, top_p=0.96))[0].nonzero().flatten().tolist()
    assert kept == [0, 1, 2, 3]


def test_top_p_works_on_unsorted_rows_independently():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 2.9]])
    out = filter_logits(logits, top_p=0.5)
    assert torch.isfinite(out).tolist() == [[False, True, False], [True, False, False]]


def test_sampling_is_reproducible_and_respects_filter():
    logits = torch.randn(200, 10)
    a = sample_next(logits, 1.0, top_k=3, generator=torch.Generator().manual_seed(0))
    b = sample_next(logits, 1.0, top_k=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    top3 = torch.topk(logits, 3).indices
    assert all(a[i] in top3[i] for i in range(200))
    assert torch.equal(sample_next(logits, 0.0), logits.argmax(-1))


def _toy_step(table):
    """A 'decoder' whose next-token log-probs depend on the previous token only."""
    def step(tokens, state):
        return table[tokens], state
    return step


def _seq_score(table, start, seq):
    s, prev = 0.0, start
    for t in seq:
        s += float(table[prev, t])
        prev = t
    return s


def test_beam_search_finds_best_sequence_by_enumeration():
    torch.manual_seed(3)
    V, eos, L = 5, 4, 4
    table = torch.log_softmax(torch.randn(V, V) * 2, dim=-1)
    best, score = beam_search(_toy_step(table), start_token=0, state=torch.zeros(1, 1), beam_size=V * V,
                              max_len=L, eos_id=eos)
    # brute force over all sequences that end with eos within L steps
    cands = []
    for n in range(0, L):
        for body in itertools.product(range(V - 1), repeat=n):
            cands.append((_seq_score(table, 0, [*body, eos]), list(body)))
    ref_score, ref = max(cands)
    assert best == ref
    assert math.isclose(score, ref_score, rel_tol=1e-5)


def test_beam_one_equals_greedy_and_wider_beam_is_no_worse():
    torch.manual_seed(0)
    V, eos = 6, 5
    table = torch.log_softmax(torch.randn(V, V) * 3, dim=-1)
    step = _toy_step(table)
    greedy = generate(step, torch.tensor([0]), None, max_len=8, eos_id=eos)[0]
    b1, _ = beam_search(step, 0, torch.zeros(1, 2), beam_size=1, max_len=8, eos_id=eos)
    assert b1 == greedy
    b4, s4 = beam_search(step, 0, torch.zeros(1, 2), beam_size=4, max_len=8, eos_id=eos)
    assert s4 >= _seq_score(table, 0, [*greedy, eos]) - 1e-6 or len(greedy) == 8


def test_beam_search_reorders_state():
    seen = []

    def step(tokens, state):
        seen.append(state.size(0))
        assert state.size(0) == tokens.size(0)
        return torch.log_softmax(torch.randn(tokens.size(0), 7), -1), state

    beam_search(step, 0, torch.zeros(1, 3), beam_size=3, max_len=5, eos_id=None)
    assert seen[0] == 1 and max(seen) == 3


def test_generate_stops_at_eos_per_row():
    def step(tokens, state):
        V = 4
        lp = torch.full((tokens.size(0), V), -10.0)
        nxt = torch.where(tokens == 0, torch.tensor(2), torch.tensor(3))  # row starting 0: 2 then eos(3)
        lp[torch.arange(tokens.size(0)), nxt] = 0.0
        return lp, state

    out = generate(step, torch.tensor([0, 1]), None, max_len=5, eos_id=3)
    assert out == [[2], []]
    with pytest.raises(ValueError):
        generate(step, torch.tensor([0]), None, max_len=2, strategy="nope")
