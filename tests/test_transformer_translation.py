"""The from-scratch transformer through the translation pipeline: train -> run folder -> translate (greedy and
beam, attention) -> evaluate, on a tiny Multi30k-like fixture."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from dl4nlp.core.config import load_config
from dl4nlp.pipelines import pipeline_for_model
from dl4nlp.pipelines.translation import load_translator

WORDS = {"mann": "man", "hund": "dog", "frau": "woman", "kind": "child", "läuft": "runs", "schläft": "sleeps"}


def write_parallel(folder: Path, sizes: tuple[int, int, int] = (48, 8, 8)) -> Path:
    rng = random.Random(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "val", "test_2016_flickr"), sizes, strict=True):
        de, en = [], []
        for _ in range(n):
            a, v = rng.choice(["mann", "hund", "frau", "kind"]), rng.choice(["läuft", "schläft"])
            de.append(f"Ein {a.capitalize()} {v}.")
            en.append(f"A {WORDS[a]} {WORDS[v]}.")
        (folder / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    return folder


def test_transformer_trains_translates_and_shows_attention_through_the_pipeline(tmp_path: Path) -> None:
    data = write_parallel(tmp_path / "m30k")
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(f"""
data: {{dataset: multi30k, path: {data}, direction: de-en, min_count: 1}}
model: {{name: seq2seq_transformer, d_model: 32, heads: 4, d_ff: 64, layers: 2, dropout: 0.0, norm: pre,
        tie_output: true, beam_size: 2, max_len: 8}}
train: {{epochs: 6, lr: 0.01, batch_size: 16, eval_batch_size: 16, patience: 0, schedule: inverse_sqrt,
        warmup_steps: 3}}
trainer: {{progress_bar: false}}
run: {{dir: {tmp_path / 'runs'}, name: tiny}}
""", encoding="utf-8")
    pipe = pipeline_for_model("seq2seq_transformer")
    assert pipe.name == "translation"
    run = pipe.train(load_config(cfg_file))
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["model"] == "seq2seq_transformer" and results["dev_bleu_tok_lc"] > 90, results
    assert "test_bleu_beam2" in results
    pred = pipe.load(run).predict(["Ein Hund schläft."])[0]
    assert pred.label.lower() == "a dog sleeps."
    attn = torch.tensor(pred.extra["attention"])  # [target tokens + <eos>, source tokens]
    assert attn.shape == (len(pred.extra["target_tokens"]) + 1, len(pred.extra["source_tokens"]))
    torch.testing.assert_close(attn.sum(-1), torch.ones(attn.size(0)))
    tr, _ = load_translator(run)  # every layer and head, for heatmaps
    src = torch.tensor([[tr.src_vocab.stoi[t] for t in pred.extra["source_tokens"]]])
    tgt = torch.tensor([[tr.special["sos"], *[tr.tgt_vocab.stoi[t] for t in pred.extra["target_tokens"]]]])
    maps = tr.model.attention_maps(src, src != 0, tgt)
    assert len(maps["cross"]) == 2 and maps["cross"][1].shape == (1, 4, tgt.size(1), src.size(1))
    torch.testing.assert_close(maps["cross"][-1].mean(1)[0], attn)
    scores = pipe.evaluate(run, "test")
    assert scores["bleu_tok_lc"] > 90 and "bleu_beam2" in scores
