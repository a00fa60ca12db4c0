"""The transformer written from scratch: parity with torch.nn (attention, encoder and decoder layers), masks,
padding invariance, key/value cache, label smoothing, the warm-up schedule, the decoder-only LM."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.config import TrainConfig
from dl4nlp.core.errors import ConfigError
from dl4nlp.engine.generation import beam_search, generate
from dl4nlp.models.transformer_lm import TransformerLM, build_transformer_lm
from dl4nlp.models.transformer_scratch import (
    DecoderLayer,
    EncoderLayer,
    MultiHeadAttention,
    ScratchTransformerOptions,
    TransformerSeq2Seq,
    build_transformer_seq2seq,
    causal_keep,
)
from dl4nlp.tasks.label_smoothing import LabelSmoothingLoss, label_smoothed_nll
from dl4nlp.tasks.optim import inverse_sqrt_factor, make_schedule

D, H, FF = 16, 4, 32


def opts(**kw) -> ScratchTransformerOptions:
    base = {"d_model": D, "heads": H, "d_ff": FF, "layers": 2, "dropout": 0.0}
    return ScratchTransformerOptions(**{**base, **kw})


def copy_mha(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """torch keeps W^Q, W^K, W^V stacked in one in_proj matrix [3d, d]."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        theirs.out_proj.weight.copy_(ours.w_o.weight)
        theirs.out_proj.bias.copy_(ours.w_o.bias)


def copy_ff_norms(ours: nn.Module, theirs: nn.Module, norms: int) -> None:
    with torch.no_grad():
        theirs.linear1.load_state_dict(ours.ff.w_1.state_dict())
        theirs.linear2.load_state_dict(ours.ff.w_2.state_dict())
        for i in range(1, norms + 1):
            getattr(theirs, f"norm{i}").load_state_dict(getattr(ours, f"norm{i}").state_dict())


def randomise(module: nn.Module) -> None:
    """Non-trivial LayerNorm gains/biases and attention biases, so a swapped parameter cannot go unnoticed."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))


# --------------------------------------------------------------------------- parity with torch.nn


def test_multi_head_attention_matches_torch_outputs_and_gradients():
    torch.manual_seed(0)
    ours = MultiHeadAttention(D, H)
    randomise(ours)
    theirs = nn.MultiheadAttention(D, H, batch_first=True)
    copy_mha(ours, theirs)
    q = torch.randn(3, 5, D)
    kv = torch.randn(3, 7, D)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[0, 4:], pad[2, 6:] = True, True  # torch: True = padding
    causal = ~causal_keep(5, 7)  # [5, 7] torch: True = masked out
    for torch_mask in (None, causal):
        q1, kv1, q2, kv2 = (t.clone().requires_grad_() for t in (q, kv, q, kv))
        keep = ~pad[:, None, None, :]
        if torch_mask is not None:
            keep = keep & ~torch_mask[None, None]
        out, w, _ = ours(q1, kv1, kv1, keep)
        ref, ref_w = theirs(q2, kv2, kv2, key_padding_mask=pad, attn_mask=torch_mask, average_attn_weights=False)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(w, ref_w, atol=1e-6, rtol=1e-5)
        g = torch.randn_like(out)
        ours.zero_grad()
        theirs.zero_grad()
        (out * g).sum().backward()
        (ref * g).sum().backward()
        torch.testing.assert_close(q1.grad, q2.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(kv1.grad, kv2.grad, atol=1e-5, rtol=1e-4)
        in_grad = torch.cat([ours.w_q.weight.grad, ours.w_k.weight.grad, ours.w_v.weight.grad])
        torch.testing.assert_close(in_grad, theirs.in_proj_weight.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(ours.w_o.weight.grad, theirs.out_proj.weight.grad, atol=1e-5, rtol=1e-4)
    assert float(w[0, :, :, 4:].abs().max()) == 0.0  # padded keys get exactly zero weight


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_encoder_layer_matches_torch_both_norm_placements(norm):
    torch.manual_seed(1)
    ours = EncoderLayer(opts(norm=norm))
    randomise(ours)
    theirs = nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm == "pre")
    copy_mha(ours.self_attn, theirs.self_attn)
    copy_ff_norms(ours, theirs, 2)
    x = torch.randn(2, 6, D)
    pad = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    for mode in ("train", "eval"):  # train: the Python path with gradients; eval, no grad: torch's fused fast path
        ours.train(mode == "train")
        theirs.train(mode == "train")
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        with torch.set_grad_enabled(mode == "train"):
            out, _, _ = ours(x1, ~pad[:, None, None, :])
            ref = theirs(x2, src_key_padding_mask=pad)
        real = ~pad  # torch's fast path may leave padded rows as they come: compare the real positions
        torch.testing.assert_close(out[real], ref[real], atol=1e-5, rtol=1e-5)
        if mode == "train":
            g = torch.randn_like(out) * real[..., None]
            (out * g).sum().backward()
            (ref * g).sum().backward()
            torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(ours.ff.w_1.weight.grad, theirs.linear1.weight.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_decoder_layer_matches_torch(norm):
    torch.manual_seed(2)
    ours = DecoderLayer(opts(norm=norm))
    randomise(ours)
    theirs = nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, batch_first=True, norm_first=norm == "pre")
    copy_mha(ours.self_attn, theirs.self_attn)
    copy_mha(ours.cross_attn, theirs.multihead_attn)
    copy_ff_norms(ours, theirs, 3)
    y, mem = torch.randn(2, 5, D), torch.randn(2, 7, D)
    src_pad = torch.tensor([[False] * 7, [False] * 3 + [True] * 4])
    out, _, cross, _ = ours(y, ours.cross_attn.project_kv(mem, mem), causal_keep(5, 5)[None, None],
                            ~src_pad[:, None, None, :])
    ref = theirs(y, mem, tgt_mask=~causal_keep(5, 5), memory_key_padding_mask=src_pad)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert float(cross[1, :, :, 3:].abs().max()) == 0.0


def test_torch_impl_matches_scratch_impl_with_the_same_weights():
    """``impl: torch`` is the same network: copying our weights into it gives the same logits."""
    torch.manual_seed(3)
    ours = TransformerSeq2Seq(11, 13, opts(norm="post")).eval()
    theirs = TransformerSeq2Seq(11, 13, opts(norm="post", impl="torch")).eval()
    theirs.load_state_dict({k: v for k, v in ours.state_dict().items() if "layers" not in k}, strict=False)
    for a, b in zip(ours.encoder.layers, theirs.encoder.layers, strict=True):
        copy_mha(a.self_attn, b.self_attn)
        copy_ff_norms(a, b, 2)
    for a, b in zip(ours.decoder.layers, theirs.decoder.layers, strict=True):
        copy_mha(a.self_attn, b.self_attn)
        copy_mha(a.cross_attn, b.multihead_attn)
        copy_ff_norms(a, b, 3)
    src = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    tgt = torch.tensor([[1, 5, 6], [1, 9, 0]])
    with torch.no_grad():
        lo, _ = ours(src, src != 0, tgt)
        lt, attn = theirs(src, src != 0, tgt)
    torch.testing.assert_close(lo[tgt != 0], lt[tgt != 0], atol=1e-5, rtol=1e-5)
    assert attn is None  # torch.nn layers give no attention weights


# --------------------------------------------------------------------------- masks


def test_causal_mask_future_tokens_never_change_earlier_outputs():
    torch.manual_seed(4)
    model = TransformerSeq2Seq(11, 13, opts()).eval()
    lm = TransformerLM(13, opts()).eval()
    src = torch.tensor([[3, 4, 5, 6, 7]])
    tgt = torch.tensor([[1, 5, 6, 7, 8, 9]])
    for j in range(1, tgt.size(1)):
        changed = tgt.clone()
        changed[0, j] = 2 if tgt[0, j] != 2 else 3
        with torch.no_grad():
            a, b = model(src, None, tgt)[0], model(src, None, changed)[0]
            c, d = lm(tgt)[0], lm(changed)[0]
        for x, y in ((a, b), (c, d)):
            torch.testing.assert_close(x[:, :j], y[:, :j], atol=0, rtol=0)  # bit-identical before j
            assert float((x[:, j:] - y[:, j:]).abs().max()) > 1e-4  # and it does change position j onwards


def test_padding_invariance_a_sentence_alone_equals_it_in_a_padded_batch():
    torch.manual_seed(5)
    model = TransformerSeq2Seq(11, 13, opts(norm="post")).eval()
    src = torch.tensor([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 10, 4]])
    tgt = torch.tensor([[1, 5, 6, 0, 0], [1, 9, 8, 7, 6]])
    with torch.no_grad():
        batch, attn = model(src, src != 0, tgt)
        alone, attn1 = model(src[:1, :3], None, tgt[:1, :3])
        maps = model.attention_maps(src, src != 0, tgt)
    torch.testing.assert_close(batch[0, :3], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attn[0, :3, :3], attn1[0], atol=1e-6, rtol=1e-5)
    assert float(attn[0, :, 3:].abs().max()) == 0.0
    assert len(maps["encoder"]) == len(maps["self"]) == len(maps["cross"]) == 2
    assert maps["cross"][0].shape == (2, H, 5, 6) and maps["encoder"][1].shape == (2, H, 6, 6)
    torch.testing.assert_close(maps["cross"][1].sum(-1), torch.ones(2, H, 5))


# --------------------------------------------------------------------------- key/value cache


def test_cached_and_uncached_decoding_give_the_same_outputs_and_tokens():
    torch.manual_seed(6)
    model = TransformerSeq2Seq(11, 13, opts(positions="learned")).eval()
    src = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9], [10, 3, 0, 0]])
    results = {}
    for cache in (True, False):
        model.use_cache = cache
        state = model.encode(src, src != 0)
        lps, last = [], torch.ones(3, dtype=torch.long)
        for _ in range(6):  # the same forced prefix: the distributions must agree step by step
            lp, state, alpha = model.step(last, state)
            lps.append(lp)
            last = lp.argmax(-1)
        greedy = generate(lambda t, s: model.step(t, s)[:2], torch.ones(3, dtype=torch.long),
                          model.encode(src, src != 0), max_len=8, eos_id=2)
        beam = beam_search(lambda t, s: model.step(t, s)[:2], 1, model.encode(src[1:2], src[1:2] != 0),
                           beam_size=3, max_len=8, eos_id=2)
        results[cache] = (torch.stack(lps, 1), alpha, greedy, beam)
        assert ("self_kv" in state) == cache
    (a, al_a, g_a, b_a), (b, al_b, g_b, b_b) = results[True], results[False]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(al_a, al_b, atol=1e-6, rtol=1e-5)
    assert g_a == g_b and b_a[0] == b_b[0]
    with torch.no_grad():  # and stepping equals the teacher-forced forward pass
        prefix = torch.cat([torch.ones(3, 1, dtype=torch.long), a.argmax(-1)[:, :-1]], 1)
        full = torch.log_softmax(model(src, src != 0, prefix)[0], -1)
    torch.testing.assert_close(full, a, atol=1e-5, rtol=1e-5)


def test_lm_cache_matches_the_full_forward_pass():
    torch.manual_seed(7)
    lm = TransformerLM(17, opts()).eval()
    x = torch.randint(0, 17, (2, 9))
    with torch.no_grad():
        full, none = lm(x)
        state = lm.init_state(2)
        parts = []
        for chunk in (x[:, :4], x[:, 4:5], x[:, 5:]):
            logits, state = lm(chunk, state)
            parts.append(logits)
        lm.use_cache = False
        state2 = lm.init_state(2)
        logits2, state2 = lm(x[:, :5], state2)
        logits3, state2 = lm(x[:, 5:], state2)
    assert none is None  # nothing carried across BPTT windows
    assert state[0].shape == (2, 2, H, 9, D // H)  # [layers, B, H, t, d_k]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat([logits2, logits3], 1), full, atol=1e-5, rtol=1e-5)
    assert state2.shape == (1, 2, 9)


def test_torch_impl_lm_is_causal_and_its_prefix_state_matches_the_full_pass():
    torch.manual_seed(10)
    lm = TransformerLM(17, opts(impl="torch")).eval()
    x = torch.randint(0, 17, (2, 7))
    changed = x.clone()
    changed[:, 4] = (x[:, 4] + 1) % 17
    with torch.no_grad():
        full, changed_full = lm(x)[0], lm(changed)[0]
        state = lm.init_state(2)  # the token prefix [1, B, 0]: no cache on the torch.nn path
        a, state = lm(x[:, :3], state)
        b, state = lm(x[:, 3:], state)
    torch.testing.assert_close(full[:, :4], changed_full[:, :4], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-5, rtol=1e-5)
    assert state.shape == (1, 2, 7)


# --------------------------------------------------------------------------- embeddings, options


def test_shared_and_tied_embeddings_are_one_tensor():
    shared = TransformerSeq2Seq(12, 12, opts(share_embeddings=True))
    assert shared.src_embed is shared.tgt_embed and shared.out.weight is shared.tgt_embed.tokens.weight
    untied = TransformerSeq2Seq(12, 14, opts(tie_output=False))
    assert untied.out.weight is not untied.tgt_embed.tokens.weight
    n_shared = sum(p.numel() for p in shared.parameters())
    n_untied = sum(p.numel() for p in untied.parameters())
    assert n_untied - n_shared == 12 * D + 14 * D + 2 * D + 2  # a source table, an output matrix, 2 more rows, 2 biases


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="divisible"):
        build_transformer_seq2seq({"d_model": 10, "heads": 4}, 5, 5)
    with pytest.raises(ConfigError, match="norm"):
        build_transformer_lm({"norm": "middle"}, 5)
    with pytest.raises(ConfigError, match="joint vocabulary"):
        build_transformer_seq2seq({"share_embeddings": True}, 5, 6)
    with pytest.raises(ConfigError, match="colour"):
        build_transformer_lm({"colour": 1}, 5)
    lm = TransformerLM(5, opts(positions="learned", max_positions=4))
    with pytest.raises(ValueError, match="max_positions"):
        lm(torch.zeros(1, 5, dtype=torch.long))


# --------------------------------------------------------------------------- loss and schedule


def test_label_smoothing_matches_torch_cross_entropy():
    torch.manual_seed(8)
    logits = torch.randn(20, 7, requires_grad=True)
    target = torch.randint(0, 7, (20,))
    target[[3, 11]] = 0
    for eps in (0.0, 0.1, 0.3):
        ours = LabelSmoothingLoss(eps, ignore_index=0)(logits, target)
        ref = F.cross_entropy(logits, target, label_smoothing=eps, ignore_index=0)
        torch.testing.assert_close(ours, ref)
        g1, = torch.autograd.grad(ours, logits)
        g2, = torch.autograd.grad(ref, logits)
        torch.testing.assert_close(g1, g2)
    total = label_smoothed_nll(logits, target, 0.1, ignore_index=0, reduction="sum")
    torch.testing.assert_close(total, F.cross_entropy(logits, target, label_smoothing=0.1, ignore_index=0,
                                                      reduction="sum"))


def test_inverse_sqrt_schedule_warms_up_linearly_then_decays_as_inverse_square_root():
    warm = 10
    f = [inverse_sqrt_factor(s, warm) for s in range(200)]
    assert f[0] == pytest.approx(0.1) and f[4] == pytest.approx(0.5)
    assert max(f) == pytest.approx(1.0) and f.index(max(f)) == warm - 1  # the peak: train.lr itself
    assert all(b > a for a, b in zip(f[:warm - 1], f[1:warm], strict=True))  # rising
    assert all(b < a for a, b in zip(f[warm:-1], f[warm + 1:], strict=True))  # falling
    assert f[4 * warm - 1] == pytest.approx(0.5) and f[16 * warm - 1] == pytest.approx(0.25)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = make_schedule(opt, TrainConfig(schedule="inverse_sqrt", warmup_steps=warm, lr=2.0), 100)
    assert sched["interval"] == "step"
    lrs = []
    for _ in range(3 * warm):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched["scheduler"].step()
    assert lrs[0] == pytest.approx(0.2) and max(lrs) == pytest.approx(2.0)


# --------------------------------------------------------------------------- a tiny model learns


def test_tiny_transformer_lm_overfits_a_repeated_sentence():
    torch.manual_seed(9)
    lm = TransformerLM(10, opts(d_model=32, d_ff=64, heads=4))
    seq = torch.tensor([[2, 5, 7, 3, 9, 4, 6, 8, 2, 5, 7, 3, 9, 4, 6, 8, 2]])
    x, y = seq[:, :-1], seq[:, 1:]
    opt = torch.optim.Adam(lm.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = F.cross_entropy(lm(x)[0].reshape(-1, 10), y.reshape(-1))
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 1.5 and float(loss) < 0.05
    lm.eval()

    def step(last: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        logits, state = lm(last[:, None], state)  # one new position through the cache
        return torch.log_softmax(logits[:, -1], -1), state

    out = generate(step, torch.tensor([2]), lm.init_state(1), max_len=7)
    assert out[0] == [5, 7, 3, 9, 4, 6, 8]


def test_translation_objective_is_label_smoothed_when_the_model_asks_and_logs_stay_plain():
    """TranslationTask trains on the smoothed loss of the same logits (eps from model.label_smoothing) while
    train_loss stays the plain cross-entropy; eps 0 is exactly cross-entropy."""
    from dl4nlp.core.config import TrainConfig
    from dl4nlp.models.transformer_scratch import ScratchTransformerOptions
    from dl4nlp.tasks.label_smoothing import label_smoothed_nll
    from dl4nlp.tasks.translation import TranslationTask

    class Toy(torch.nn.Module):
        def __init__(self, eps: float):
            super().__init__()
            self.opts = ScratchTransformerOptions(label_smoothing=eps)
            self.out = torch.nn.Linear(3, 7)

        def forward(self, src, src_mask, tgt_in):
            return self.out(torch.ones(*tgt_in.shape, 3) * tgt_in[..., None]), None

    batch = {"src": torch.tensor([[4, 5]]), "src_mask": torch.tensor([[True, True]]),
             "tgt": torch.tensor([[1, 3, 4, 2, 0]])}
    special = {"pad": 0, "sos": 1, "eos": 2}
    for eps in (0.0, 0.2):
        torch.manual_seed(0)
        task = TranslationTask(Toy(eps), TrainConfig(), special)
        task.log = lambda *a, **k: None
        objective = task.training_step(batch, 0)
        logits, _ = task.model(batch["src"], batch["src_mask"], batch["tgt"][:, :-1])
        gold = batch["tgt"][:, 1:].reshape(-1)
        want = label_smoothed_nll(logits.reshape(-1, 7), gold, eps, ignore_index=0)
        torch.testing.assert_close(objective, want)
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), gold, ignore_index=0)
        assert (objective == ce) == (eps == 0.0)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        ScratchTransformerOptions(label_smoothing=1.0)
