"""Translation: teacher-forced token cross-entropy (padding ignored), dev perplexity and dev BLEU of greedy
output every epoch, and the scores a translation run reports.

Two BLEUs, never to be confused:

* ``bleu`` — **sacreBLEU** (Post 2018) on *detokenised* output against the raw reference sentences, with its
  default 13a tokenisation, case-sensitive: the standard, comparable number; its signature is kept beside it.
* ``bleu_tok_lc`` — BLEU on *lower-cased, Moses-tokenised* output against the lower-cased, tokenised
  references (``<unk>`` tokens count as words, as in the pytorch-seq2seq tutorials whose numbers
  it is put beside; their references were tokenised by spaCy, ours by Moses).

Plus ``chrf`` (chrF2, Popović 2015; sacreBLEU, detokenised) and ``ppl`` = exp(mean token cross-entropy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from dl4nlp.core.config import TrainConfig
from dl4nlp.tasks.label_smoothing import label_smoothed_nll
from dl4nlp.tasks.optim import l2_penalty, lightning_optimizers


def decode_ids(model: Any, src: torch.Tensor, src_mask: torch.Tensor, sos_id: int, eos_id: int, max_len: int,
               beam: int = 1, alpha: float = 0.0) -> list[list[int]]:
    """Translate a batch through :mod:`dl4nlp.engine.generation`: greedy (``beam == 1``) or batched beam search; ids
    without ``<sos>`` / ``<eos>``. Works for any model with ``encode`` and ``step`` (the pipeline's interface)."""
    from dl4nlp.engine.generation import beam_search_batch, generate

    def step(last: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        log_probs, state, _ = model.step(last, state)
        return log_probs, state

    with torch.no_grad():
        state = model.encode(src, src_mask)
        start = torch.full((src.size(0),), sos_id, dtype=torch.long, device=src.device)  # [B]
        if beam == 1:
            return generate(step, start, state, max_len, eos_id=eos_id, strategy="greedy")
        return [ids for ids, _ in beam_search_batch(step, start, state, beam, max_len, eos_id, alpha)]


def translation_scores(hyp_tokens: Sequence[Sequence[str]], ref_tokens: Sequence[Sequence[str]],
                       hyp_text: Sequence[str], ref_text: Sequence[str]) -> dict[str, Any]:
    """``bleu`` (sacreBLEU, detokenised), ``bleu_signature``, ``bleu_tok_lc`` (lower-cased tokenised BLEU) and
    ``chrf``, all 0-100, of hypotheses against one reference each."""
    from sacrebleu.metrics import BLEU, CHRF

    if not hyp_text:
        return {"bleu": 0.0, "bleu_tok_lc": 0.0, "chrf": 0.0, "bleu_signature": ""}
    sacre = BLEU()
    out: dict[str, Any] = {"bleu": float(sacre.corpus_score(list(hyp_text), [list(ref_text)]).score)}
    out["bleu_signature"] = str(sacre.get_signature())
    tok = BLEU(tokenize="none", lowercase=True, force=True)
    hyps = [" ".join(t) for t in hyp_tokens]
    refs = [" ".join(t) for t in ref_tokens]
    out["bleu_tok_lc"] = float(tok.corpus_score(hyps, [refs]).score)
    out["chrf"] = float(CHRF().corpus_score(list(hyp_text), [list(ref_text)]).score)
    return out


class TranslationTask(L.LightningModule):
    """Wraps an encoder-decoder. Batches: ``src`` [B, S], ``src_mask`` [B, S], ``tgt`` [B, T] (``<sos> .. <eos>``).

    Loss: mean cross-entropy of ``tgt[:, 1:]`` given ``tgt[:, :-1]`` over the real target tokens. Logs
    ``train_loss`` / ``train_ppl``, and per validation epoch ``dev_loss`` / ``dev_ppl`` (token-weighted over
    the whole split) and ``dev_bleu`` (sacreBLEU of greedy translations; needs ``references``)."""

    def __init__(self, model: torch.nn.Module, train_cfg: TrainConfig, special: dict[str, int], translate: Any = None,
                 references: Sequence[str] | None = None, config: dict | None = None):
        super().__init__()
        self.model = model
        self.cfg = train_cfg
        self.pad_id, self.sos_id, self.eos_id = special["pad"], special["sos"], special["eos"]
        self.translate = translate  # ids -> (tokens, detokenised text), for dev BLEU
        self.references = list(references) if references is not None else None
        if config is not None:
            self.save_hyperparameters({"config": config})
        self._nll, self._count, self._hyps = 0.0, 0, []

    def loss(self, batch: dict[str, torch.Tensor], reduction: str = "mean",
             smoothing: float = 0.0) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Token cross-entropy (padding ignored); with ``smoothing`` > 0 also the label-smoothed loss of the
        same logits (Szegedy et al. 2016; Vaswani et al. 2017 use 0.1): ``(cross-entropy, smoothed)``."""
        tgt = batch["tgt"]
        logits, _ = self.model(batch["src"], batch["src_mask"], tgt[:, :-1])  # [B, T, V]
        flat, gold = logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1)  # [B*T, V], [B*T]
        ce = F.cross_entropy(flat, gold, ignore_index=self.pad_id, reduction=reduction)
        if smoothing <= 0:
            return ce
        return ce, label_smoothed_nll(flat, gold, smoothing, self.pad_id, reduction)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """The objective is the label-smoothed loss when the model's ``label_smoothing`` is set; the logged
        ``train_loss`` / ``train_ppl`` stay the plain cross-entropy, comparable with dev."""
        eps = float(getattr(getattr(self.model, "opts", None), "label_smoothing", 0.0) or 0.0)
        ce, objective = self.loss(batch, smoothing=eps) if eps > 0 else (self.loss(batch),) * 2
        n = int((batch["tgt"][:, 1:] != self.pad_id).sum())
        self.log("train_loss", ce, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        self.log("train_ppl", torch.exp(ce.detach()), on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return objective + self.cfg.l2 * l2_penalty(self.model) if self.cfg.l2 > 0 else objective

    def on_validation_epoch_start(self) -> None:
        self._nll, self._count, self._hyps = 0.0, 0, []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._nll += float(self.loss(batch, reduction="sum"))
        self._count += int((batch["tgt"][:, 1:] != self.pad_id).sum())
        if self.translate is not None and self.references is not None:
            opts = getattr(self.model, "opts", None)
            ids = decode_ids(self.model, batch["src"], batch["src_mask"], self.sos_id, self.eos_id,
                             getattr(opts, "max_len", 100))
            self._hyps.extend(self.translate(i)[1] for i in ids)

    def on_validation_epoch_end(self) -> None:
        loss = self._nll / max(1, self._count)
        self.log("dev_loss", loss)
        self.log("dev_ppl", math.exp(min(loss, 50.0)), prog_bar=True)
        if self._hyps and self.references is not None:  # dev is read in file order: hypothesis i is line i
            from sacrebleu.metrics import BLEU

            refs = self.references[: len(self._hyps)]  # all of dev, except in Lightning's 2-batch sanity check
            self.log("dev_bleu", float(BLEU().corpus_score(self._hyps, [refs]).score), prog_bar=True)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(params, self.cfg, int(self.trainer.estimated_stepping_batches))
