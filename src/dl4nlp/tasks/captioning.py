"""Image captioning: teacher-forced cross-entropy + the doubly stochastic attention regulariser;
dev BLEU-1..4 of greedy captions at the end of every validation epoch (``dev_bleu4`` selects the model).
Caption metrics: corpus BLEU-1..4 (sacrebleu), CIDEr-D and METEOR (the COCO caption evaluation's scorers).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from dl4nlp.core.config import TrainConfig
from dl4nlp.models.captioner import Captioner, doubly_stochastic_penalty
from dl4nlp.tasks.optim import l2_penalty, lightning_optimizers


def corpus_bleu(hypotheses: list[str], references: list[list[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (0-100) with sacrebleu against ALL references of each image.

    Inputs are already tokenised, lower-cased, punctuation-free captions joined by spaces, so sacrebleu
    runs with ``tokenize='none'``; BLEU-n is sacrebleu's BLEU with ``max_ngram_order=n`` (geometric mean
    of the 1..n-gram precisions times the brevity penalty, closest reference length), no smoothing —
    the cumulative BLEU-n of the COCO caption evaluation. Images may have different numbers of
    references.
    """
    from sacrebleu.metrics import BLEU

    if not hypotheses:
        return {f"bleu{n}": 0.0 for n in range(1, 5)}
    width = max(len(r) for r in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    out = {}
    for n in range(1, 5):
        bleu = BLEU(max_ngram_order=n, tokenize="none", smooth_method="none", effective_order=False)
        out[f"bleu{n}"] = float(bleu.corpus_score(hypotheses, streams).score)
    return out


def coco_inputs(
    hypotheses: list[str], references: list[list[str]]
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """The COCO caption evaluation scorers' inputs: ``({image: references}, {image: [hypothesis]})``."""
    gts = {i: list(refs) for i, refs in enumerate(references)}
    res = {i: [hyp] for i, hyp in enumerate(hypotheses)}
    return gts, res


def corpus_cider(hypotheses: list[str], references: list[list[str]]) -> float:
    """CIDEr-D (Vedantam, Zitnick, Parikh 2015) x 100, with the COCO caption evaluation's own scorer
    (``pycocoevalcap``: n-grams 1..4, tf-idf weights with document frequencies from the references of the
    evaluated images, clipped counts, Gaussian length penalty sigma = 6, x 10 per image), averaged over images:

        CIDEr-D_n(c, S) = 10/m sum_j exp(-(l(c) - l(s_j))^2 / (2 sigma^2)) min(g^n(c), g^n(s_j)) . g^n(s_j)
                          / (||g^n(c)|| ||g^n(s_j)||),   CIDEr-D = mean_n CIDEr-D_n

    Inputs as :func:`corpus_bleu` (tokenised, lower-case, space-joined); an image's hypothesis may be empty.
    """
    from pycocoevalcap.cider.cider import Cider

    if not hypotheses:
        return 0.0
    score, _ = Cider().compute_score(*coco_inputs(hypotheses, references))
    return float(score) * 100


def meteor_available() -> str | None:
    """None when METEOR can be computed, else why not (its scorer is a Java program)."""
    import shutil

    return None if shutil.which("java") else "no `java` on PATH (METEOR 1.5 is a Java program)"


def corpus_meteor(hypotheses: list[str], references: list[list[str]]) -> float:
    """METEOR 1.5 (Denkowski & Lavie 2014) x 100 with the COCO caption evaluation's jar (``pycocoevalcap``,
    English, normalised): unigram matches by exact form, stem, synonym and paraphrase against each reference,
    F_mean = P R / (alpha P + (1 - alpha) R) with a fragmentation penalty; the corpus score aggregates the
    statistics of all images. Starts one Java process (a few seconds); :func:`meteor_available` says
    whether it can."""
    reason = meteor_available()
    if reason:
        raise RuntimeError(f"METEOR: {reason}")
    from pycocoevalcap.meteor.meteor import Meteor

    if not hypotheses:
        return 0.0
    scorer = Meteor()
    try:
        score, _ = scorer.compute_score(*coco_inputs(hypotheses, references))
    finally:
        del scorer  # closes the Java process
    return float(score) * 100


def caption_scores(hypotheses: list[str], references: list[list[str]], meteor: bool = False) -> dict[str, float]:
    """``bleu1``..``bleu4`` and ``cider`` (and ``meteor`` when asked: it starts a Java process), all 0-100."""
    scores = {**corpus_bleu(hypotheses, references), "cider": corpus_cider(hypotheses, references)}
    if meteor:
        scores["meteor"] = corpus_meteor(hypotheses, references)
    return scores


def greedy_ids(
    model: Captioner, features: torch.Tensor, start_id: int, end_id: int, max_len: int
) -> list[list[int]]:
    """Batched greedy decoding through :func:`dl4nlp.engine.generation.generate`."""
    from dl4nlp.engine.generation import generate

    state = model.init_state(features)
    start = torch.full((features.size(0),), start_id, dtype=torch.long, device=features.device)
    return generate(model.log_prob_step, start, state, max_len, eos_id=end_id, strategy="greedy")


class CaptioningTask(L.LightningModule):
    """Wraps a :class:`Captioner`. Train batches: ``features [B, L, D], tokens [B, T+1]``
    (``<start> w1 .. wn <end>``, padded). Eval batches: one row per image with all its references.

    Logs ``train_loss`` (cross-entropy per word), ``train_att_reg``, ``dev_loss`` and ``dev_bleu1..4``.
    """

    def __init__(
        self,
        model: Captioner,
        train_cfg: TrainConfig,
        special: dict[str, int],
        itos: list[str],
        config: dict | None = None,
    ):
        super().__init__()
        self.model = model
        self.cfg = train_cfg
        self.pad_id, self.start_id, self.end_id = special["pad"], special["start"], special["end"]
        self.itos = itos
        if config is not None:
            self.save_hyperparameters({"config": config})
        self._hyps: list[str] = []
        self._refs: list[list[str]] = []

    def loss(
        self, features: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, cross-entropy per word, attention regulariser)."""
        inp, target = tokens[:, :-1], tokens[:, 1:]  # [B, T]
        logits, alphas = self.model(features, inp)  # [B, T, V], [B, T, L]
        ce = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=self.pad_id
        )
        reg = torch.zeros((), device=ce.device)
        if alphas is not None and self.model.opts.alpha_c > 0:
            reg = doubly_stochastic_penalty(alphas, target != self.pad_id)
        total = ce + self.model.opts.alpha_c * reg
        if self.cfg.l2 > 0:
            total = total + self.cfg.l2 * l2_penalty(self.model)
        return total, ce, reg

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        total, ce, reg = self.loss(batch["features"], batch["tokens"])
        bs = batch["tokens"].size(0)
        self.log("train_loss", ce, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("train_att_reg", reg, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        return total

    def words(self, ids: list[int]) -> str:
        return " ".join(self.itos[i] for i in ids if i not in (self.pad_id, self.start_id))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        feats = batch["features"]  # [B, L, D]
        rep = feats[batch["caption_image"]]  # one row per reference caption
        _, ce, _ = self.loss(rep, batch["tokens"])
        self.log("dev_loss", ce, on_epoch=True, batch_size=batch["tokens"].size(0), sync_dist=True)
        for ids in greedy_ids(self.model, feats, self.start_id, self.end_id, self.model.opts.max_len):
            self._hyps.append(self.words(ids))
        self._refs.extend(batch["references"])

    def on_validation_epoch_start(self) -> None:
        self._hyps, self._refs = [], []

    def on_validation_epoch_end(self) -> None:
        scores = corpus_bleu(self._hyps, self._refs)
        for n in range(1, 5):
            self.log(f"dev_bleu{n}", scores[f"bleu{n}"], prog_bar=n == 4)

    def configure_optimizers(self) -> Any:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return lightning_optimizers(params, self.cfg, int(self.trainer.estimated_stepping_batches))
