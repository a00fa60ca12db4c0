"""The decoder-only transformer LM inside the language-model task (BPTT windows, no carried state) and its
key/value cache in the RNN-like state layout the LM pipeline's generation code moves around."""

from __future__ import annotations

import lightning as L
import torch

from dl4nlp.core.config import TrainConfig
from dl4nlp.data.lm import make_lm_loader
from dl4nlp.engine.generation import beam_search, generate, map_state
from dl4nlp.models.lm import detach_state, state_to_batch_first, state_to_layer_first
from dl4nlp.models.transformer_lm import TransformerLM
from dl4nlp.models.transformer_scratch import ScratchTransformerOptions
from dl4nlp.tasks.language_model import LanguageModelTask

PATTERN = [3, 5, 7, 4, 9, 6, 8, 2]  # a "sentence" ending in <eos> (2), repeated


def tiny_lm(vocab: int = 10, **kw) -> TransformerLM:
    opts = {"d_model": 32, "heads": 4, "d_ff": 64, "layers": 2, "dropout": 0.0, **kw}
    return TransformerLM(vocab, ScratchTransformerOptions(**opts))


def test_transformer_lm_overfits_through_the_language_model_task():
    torch.manual_seed(0)
    stream = torch.tensor(PATTERN * 12 + [3])  # 97 tokens -> 4 rows of 24, windows of 8
    cfg = TrainConfig(optimizer="adam", lr=1e-2, batch_size=4, schedule="inverse_sqrt", warmup_steps=3)
    task = LanguageModelTask(tiny_lm(), cfg)
    loader = make_lm_loader(stream, 4, 8)
    trainer = L.Trainer(accelerator="cpu", max_epochs=6, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    before = trainer.validate(task, loader, verbose=False)[0]["dev_ppl"]
    trainer.fit(task, loader)
    after = trainer.validate(task, loader, verbose=False)[0]["dev_ppl"]
    assert before > 5 and after < 1.5, (before, after)
    assert task._state.get("dev") is None  # nothing is carried across BPTT windows
    assert detach_state(None) is None


def test_generation_with_the_cache_in_the_pipeline_state_layout():
    """The LM pipeline keeps a batch-first state between steps (``state_to_batch_first``) and hands the model
    a layer-first one: the cache survives both conversions and beam search's reordering."""
    torch.manual_seed(1)
    lm = tiny_lm(12).eval()
    context = torch.tensor([[2, 3, 5, 7]] * 3)  # [n, T]

    def step(last: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        logits, new = lm(last[:, None], state_to_layer_first(state))
        return torch.log_softmax(logits[:, -1], -1), state_to_batch_first(new)

    with torch.no_grad():
        _, st = lm(context[:, :-1], lm.init_state(3))  # prefill all but the last prompt token
        cached = generate(step, context[:, -1], state_to_batch_first(st), max_len=6)
        full = context.clone()
        for _ in range(6):  # the reference: the whole prefix again at every step, no cache
            full = torch.cat([full, lm(full)[0][:, -1].argmax(-1, keepdim=True)], 1)
        beam_c, _ = beam_search(step, 7, state_to_batch_first(lm(context[:1, :-1], lm.init_state(1))[1]),
                                beam_size=3, max_len=5)
        lm.use_cache = False
        _, st2 = lm(context[:1, :-1], lm.init_state(1))
        beam_u, _ = beam_search(step, 7, state_to_batch_first(st2), beam_size=3, max_len=5)
    assert cached == full[:, 4:].tolist()
    assert beam_c == beam_u
    reordered = map_state(state_to_batch_first(st), lambda t: t.index_select(0, torch.tensor([2, 0])))
    assert reordered[0].shape == (2, 2, 4, 3, 8)  # [N, layers, H, t, d_k] batch-first
