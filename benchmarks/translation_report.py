"""Summarise benchmarks/translation.sh: benchmarks/results/translation.md from the run folders (and
transformer_speed.json).

    python benchmarks/translation_report.py runs/bench-translation [--out benchmarks/results/translation.md]
    python benchmarks/translation_report.py runs/bench-translation --best   # prints the best de->en model

Multi30k test2016 BLEU of the best dev-BLEU checkpoint: sacreBLEU on detokenised output (the standard, with its
signature) and BLEU on lower-cased tokenised output (how the pytorch-seq2seq tutorials report, the published
column), greedy and beam, chrF, test perplexity, decoding sentences/s and train time; mean ± std over seeds and
per seed; the targets of issues #30 and #31 judged from the measured numbers. Only what the run folders hold is
reported: models or seeds that did not run are listed as missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import report_common as rc

MODELS = ["noattn", "bahdanau", "luong", "transformer"]
NAMES = {"noattn": "GRU, no attention (Cho et al. 2014)", "bahdanau": "GRU + Bahdanau attention",
         "luong": "GRU + Luong general attention", "transformer": "transformer from scratch (3+3 layers, d 256)"}
# de->en, lower-cased tokenised BLEU, greedy: the pytorch-seq2seq tutorials, as quoted in issues #30 / #31
PUBLISHED = {"noattn": "20.6", "bahdanau": "28.1-28.3", "luong": "— (none quoted)", "transformer": "36.5"}
DIRECTIONS = ["de-en", "en-de"]
SEEDS = (13, 14, 15)


def key_of(name: str) -> str | None:
    """``bahdanau-de-en-s13`` -> ``bahdanau de-en``."""
    for d in DIRECTIONS:
        head = name.rsplit("-s", 1)[0]
        if head.endswith(f"-{d}") and head[: -len(d) - 1] in MODELS:
            return f"{head[: -len(d) - 1]} {d}"
    return None


def beam_suffix(rs: list[dict]) -> str | None:
    """``_beam5`` (the beam width the runs decoded with), or None when they decoded greedily only."""
    keys = sorted({k for r in rs for k in r if k.startswith("test_bleu_beam")})
    return keys[0][len("test_bleu"):] if keys else None


def best_model(by: dict[str, list[dict]]) -> str:
    """The de->en model with the highest mean test sacreBLEU (beam when decoded, else greedy)."""
    scores = {}
    for m in MODELS:
        rs = by.get(f"{m} de-en", [])
        if rs:
            b = beam_suffix(rs) or ""
            scores[m] = statistics.mean(rc.values(rs, f"test_bleu{b}"))
    if not scores:
        raise SystemExit("no finished de->en run to choose the en->de model from")
    return max(scores, key=scores.__getitem__)


def results_table(by: dict[str, list[dict]]) -> list[str]:
    lines = ["| model | direction | seeds | sacreBLEU greedy | sacreBLEU beam | lc tok BLEU greedy | lc tok BLEU beam "
             "| chrF greedy / beam | test ppl | dev sacreBLEU | decoding sent/s greedy / beam | params "
             "| train time per run, min (max) | epochs | published (de->en, lc tok, greedy) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in DIRECTIONS:
        for m in MODELS:
            rs = by.get(f"{m} {d}", [])
            pub = PUBLISHED[m] if d == "de-en" else "—"
            if not rs:
                if d == "de-en":
                    lines.append(f"| {NAMES[m]} | {d} | 0 | not run | | | | | | | | | | | {pub} |")
                continue
            b = beam_suffix(rs)

            def sp(key: str, rs: list[dict] = rs) -> str:
                return rc.spread(rc.values(rs, key), scale=1.0) if key else "—"

            def mean(key: str, fmt: str = ",.1f", rs: list[dict] = rs) -> str:
                xs = rc.values(rs, key)
                return format(statistics.mean(xs), fmt) if xs else "—"

            lines.append(
                f"| {NAMES[m]} | {d} | {len(rs)} | {sp('test_bleu')}<br>({rc.per_seed(rs, 'test_bleu', 1.0)}) | "
                f"{sp(f'test_bleu{b}') if b else '—'} | {sp('test_bleu_tok_lc')} | "
                f"{sp(f'test_bleu_tok_lc{b}') if b else '—'} | {mean('test_chrf')} / "
                f"{mean(f'test_chrf{b}') if b else '—'} | {mean('test_ppl', '.2f')} | {sp('dev_bleu')} | "
                f"{mean('test_sentences_per_s')} / {mean(f'test_sentences_per_s{b}') if b else '—'} | "
                f"{rs[0]['params']:,} | {rc.minutes(rs)} | {', '.join(str(r['epochs_run']) for r in rs)} | {pub} |")
    return lines


def targets(by: dict[str, list[dict]]) -> list[str]:
    def v(m: str, key: str, d: str = "de-en") -> list[float]:
        return rc.values(by.get(f"{m} {d}", []), key)

    lines = ["### Targets (issue #30: RNN seq2seq; issue #31: the transformer), de->en test2016", "",
             f"- Bahdanau >= 30 lower-cased tokenised BLEU (greedy, as the tutorials): "
             f"{rc.at_least(v('bahdanau', 'test_bleu_tok_lc'), 30, 1.0)}",
             f"- Bahdanau >= 28 sacreBLEU (greedy): {rc.at_least(v('bahdanau', 'test_bleu'), 28, 1.0)}"]
    for m in ("bahdanau", "luong"):
        lines.append(f"- {NAMES[m]} ahead of no attention by more than the seed std (sacreBLEU, greedy): "
                     f"{rc.beats(v('noattn', 'test_bleu'), v(m, 'test_bleu'), 1.0, 'BLEU')}")
    for m in MODELS:
        rs = by.get(f"{m} de-en", [])
        b = beam_suffix(rs)
        if rs and b:
            g, bm = statistics.mean(v(m, "test_bleu")), statistics.mean(v(m, f"test_bleu{b}"))
            lines.append(f"- beam search ({b[1:]}) ahead of greedy, {NAMES[m]}: {rc.verdict(bm > g)} "
                         f"(sacreBLEU {bm:.2f} vs {g:.2f}, mean over {len(rs)} seeds)")
    luong = by.get("luong de-en", [])
    lines.append(f"- Luong general reported beside Bahdanau: {rc.verdict(bool(luong))} ({len(luong)} seeds)")
    en_de = {k: rs for k, rs in by.items() if k.endswith("en-de")}
    if en_de:
        try:
            best = best_model(by)
        except SystemExit:
            best = None
        which = ", ".join(k.split()[0] for k in en_de)
        ok = best is not None and f"{best} en-de" in en_de
        lines.append(f"- en->de reported for the best model: {rc.verdict(ok)}"
                     f" (best de->en by mean test sacreBLEU: {best}; en->de runs of: {which})")
    else:
        lines.append("- en->de reported for the best model: **not met** (no en->de run)")
    all_runs = [r for rs in by.values() for r in rs]
    lines.append(f"- every run under 60 minutes: {rc.time_target(all_runs, 60)} ({len(all_runs)} runs)")
    has_speed = any(r.get("test_sentences_per_s") is not None for r in all_runs)
    lines.append(f"- decoding speed (sentences/s, greedy and beam 5) reported: {rc.verdict(has_speed)} (table above)")
    lines += [f"- transformer >= 36.5 lower-cased tokenised BLEU (greedy): "
              f"{rc.at_least(v('transformer', 'test_bleu_tok_lc'), 36.5, 1.0)}",
              f"- transformer >= 35 sacreBLEU (greedy): {rc.at_least(v('transformer', 'test_bleu'), 35, 1.0)}",
              f"- transformer ahead of the Bahdanau GRU by more than the seed std (sacreBLEU, greedy): "
              f"{rc.beats(v('bahdanau', 'test_bleu'), v('transformer', 'test_bleu'), 1.0, 'BLEU')}",
              f"- transformer under 60 minutes of training: {rc.time_target(by.get('transformer de-en', []), 60)}"]
    return [*lines, ""]


def speed_lines(path: Path) -> list[str]:
    if not path.is_file():
        return ["### Transformer speed", "",
                "Not measured (no transformer_speed.json: `benchmarks/transformer_scratch_speed.py` did not run).", ""]
    sp = json.loads(path.read_text(encoding="utf-8"))
    med, st = sp["median"], sp["settings"]
    ratio = med["train_ratio_scratch_over_torch"]
    beam = st["beam"]
    return ["### Transformer speed (benchmarks/transformer_scratch_speed.py; medians of alternating rounds)", "",
            f"Synthetic batches of {st['batch']} sentences ({st['src_len']} / {st['tgt_len']} tokens at most), "
            f"d_model {st['d_model']}, {st['heads']} heads, FF {st['d_ff']}, {st['layers']} + {st['layers']} layers, "
            f"{st['threads']} torch thread(s), {st['rounds']} rounds; decoding {st['sentences']} sentences to "
            f"{st['max_len']} tokens with random weights.", "",
            "| measure | ours (scratch) | torch.nn layers | ratio |", "|---|---|---|---|",
            f"| training tokens/s | {med['train_tok_s_scratch']:,.0f} | {med['train_tok_s_torch']:,.0f} | "
            f"{ratio:.2f} |",
            f"| greedy sentences/s, key/value cache | {med['greedy_cached_sent_s']:,.1f} | "
            f"{med['greedy_torch_impl_sent_s']:,.1f} (no cache) | |",
            f"| greedy sentences/s, no cache | {med['greedy_uncached_sent_s']:,.1f} | | cache speed-up "
            f"{med['greedy_cache_speedup']:.2f} |",
            f"| beam {beam} sentences/s, cache / no cache | {med[f'beam{beam}_cached_sent_s']:,.1f} / "
            f"{med[f'beam{beam}_uncached_sent_s']:,.1f} | | cache speed-up {med[f'beam{beam}_cache_speedup']:.2f} |",
            "", f"- training speed of our layers >= 0.8x the torch.nn layers: {rc.verdict(ratio >= 0.8)} "
            f"({ratio:.2f}x)", ""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path, nargs="?", default=Path("runs/bench-translation"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/translation.md"))
    ap.add_argument("--best", action="store_true", help="print the best de->en model's name and stop")
    args = ap.parse_args()
    runs = {n: r for n, r in rc.load_runs(args.root).items() if r.get("task") == "translation"}
    by = rc.group(runs, key_of)
    if args.best:
        print(best_model(by))
        return
    all_runs = [r for rs in by.values() for r in rs]
    sizes = sorted({json.dumps(r.get("sentences")) for r in all_runs})
    sig = sorted({r.get("bleu_signature") for r in all_runs if r.get("bleu_signature")})
    lines = ["## Translation on Multi30k (issues #30 and #31)", "",
             "Generated by `benchmarks/translation_report.py` from the run folders of `benchmarks/translation.sh` "
             "(every number below was measured by those runs).", "",
             "Dataset: Multi30k task 1 (`../shared/data/multi30k`): **train** 29,000 pairs, **select on val** "
             "(1,014; the checkpoint with the best dev sacreBLEU, greedy), **report test2016** (1,000). Text is "
             f"lower-cased, words seen at least twice. Sentences per split in the runs: {', '.join(sizes) or '—'}.",
             "", "Metrics (0-100): **sacreBLEU** on detokenised output (the standard; signature "
             f"`{', '.join(sig) or '—'}`) and **lower-cased tokenised BLEU** (the measure of the pytorch-seq2seq "
             "tutorials, whose BLEU also counts `<unk>` tokens: the published column is on that measure), greedy "
             "and beam, chrF (sacreBLEU's), test perplexity (teacher forced). Decoding sentences/s is the whole "
             "test2016 set translated in batches of 128 after training.", ""]
    lines += rc.machine_lines(all_runs, args.root)
    lines += ["### Multi30k test2016", "", *results_table(by), "",
              "Mean ± sample std over seeds (per seed under the greedy sacreBLEU). Train time is the wall clock "
              "of `trainer.fit` (all epochs, with the dev decoding after each), one torch thread. Published: "
              "ConvS2S 34.1 on the same measure (tutorial 5).", ""]
    lines += targets(by)
    lines += speed_lines(args.root / "transformer_speed.json")
    planned = [f"{m}-de-en-s{s}" for s in SEEDS for m in MODELS]
    en_de_runs = sorted(n for n in runs if n.rsplit("-s", 1)[0].endswith("-en-de"))
    lines += rc.status(planned, runs, "benchmarks/translation.sh (4 models x seeds 13, 14, 15, de->en)")
    lines += [f"en->de runs: {', '.join(en_de_runs) or 'none'}.", ""]
    lines += rc.commands(all_runs, ["bash benchmarks/translation.sh    # writes runs/bench-translation and this file",
                                    "python benchmarks/translation_report.py runs/bench-translation"])
    rc.write(args.out, lines)


if __name__ == "__main__":
    main()
