"""Print the captioning benchmark tables (markdown) from the run folders of benchmarks/captioning.sh.

python benchmarks/captioning_report.py runs/bench-captioning

When other seeds were trained beside seed 13 (``rsicd-<model>-s<seed>``, `bash benchmarks/captioning.sh
seeds`), a table gives each decoder's mean and standard deviation over the seeds (RSICD test, and NWPU-Captions
when every run was scored on it with `dl4nlp caption-eval RUN ... --out RUN/nwpu`), and a last one attention's
BLEU-4 lead over each other decoder seed by seed, with a paired t-test.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
import sys
from pathlib import Path

import yaml


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench-captioning")
    feats_file = out / "features.json"  # written by the script's full run (not by `seeds` alone)
    feats = json.loads(feats_file.read_text()) if feats_file.is_file() else {"rows": []}
    print("| features | split | images | seconds | images/s | grid |")
    print("|---|---|---|---|---|---|")
    for r in feats["rows"]:
        state = " (cache reused)" if r["reused"] else ""
        print(
            f"| {r['dataset']} | {r['split']} | {r['images']} | {r['seconds']}{state} | {r['images_per_s']} "
            f"| {r['grid'][0]} x {r['grid'][1]} |"
        )
    print()
    print("| model | eval set | beam | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | train time (s) | epochs | params |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("attention", "no-attention", "show-and-tell"):
        run = out / f"rsicd-{name}"
        if not (run / "results.json").is_file():
            continue
        res = json.loads((run / "results.json").read_text())
        for k in (1, res["hyper_parameters"].get("beam_size", 3)):
            b = [res[f"test_bleu{n}_beam{k}"] for n in range(1, 5)]
            print(
                f"| {res['model']} | RSICD test ({res['test_images']}) | {k} | "
                + " | ".join(f"{x:.1f}" for x in b)
                + f" | {res['train_time_s']:.0f} | {res['epochs_run']} | {res['params']:,} |"
            )
        nwpu = run / "nwpu" / "nwpu_captions-test.json"
        if nwpu.is_file():
            ev = json.loads(nwpu.read_text())
            for k in (1, 3):
                if f"bleu1_beam{k}" in ev:
                    b = [ev[f"bleu{n}_beam{k}"] for n in range(1, 5)]
                    print(
                        f"| {res['model']} | NWPU-Captions test ({ev['images']}) | {k} | "
                        + " | ".join(f"{x:.1f}" for x in b)
                        + f" | features {ev['feature_time_s']} s{' (cached)' if ev['features_reused'] else ''} | | |"
                    )

    seeds_table(out)


RUN_NAME = re.compile(r"^rsicd-(?P<name>.+?)(?:-s(?P<seed>\d+))?$")


def seed_groups(out: Path) -> dict[str, dict[int, dict]]:
    """{decoder name: {seed: results}} of every finished ``rsicd-<name>[-s<seed>]`` run under ``out``
    (``attention`` first); the seed is read from the run's config.yaml."""
    groups: dict[str, dict[int, dict]] = {}
    for res_file in sorted(out.glob("rsicd-*/results.json")):
        m = RUN_NAME.match(res_file.parent.name)
        if not m:
            continue
        seed = int(yaml.safe_load((res_file.parent / "config.yaml").read_text())["run"]["seed"])
        res = json.loads(res_file.read_text())
        # CIDEr-D and METEOR: `dl4nlp caption-eval RUN --out RUN/rsicd-eval`; NWPU: `... --dataset nwpu_captions
        # --out RUN/nwpu`
        for sub, prefix in (("rsicd-eval/rsicd-test.json", "test"), ("nwpu/nwpu_captions-test.json", "nwpu")):
            if (res_file.parent / sub).is_file():
                ev = json.loads((res_file.parent / sub).read_text())
                res |= {f"{prefix}_{k}": v for k, v in ev.items() if k.startswith(("bleu", "cider", "meteor"))}
        groups.setdefault(m["name"], {})[seed] = res
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] != "attention", kv[0])))


def seeds_table(out: Path) -> None:
    """Mean ± std over seeds of RSICD test BLEU-1..4 (beam 1 and 3) and dev BLEU-4 (the selection metric),
    NWPU-Captions test where every run of a decoder was scored on it, then each decoder against attention
    seed by seed (the same seed: the same initial weights and batches)."""
    groups = {k: v for k, v in seed_groups(out).items() if len(v) > 1}
    if not groups:
        return
    print()
    print("| decoder (run name) | seeds | eval set | beam | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | METEOR "
          "| BLEU-4 per seed | dev BLEU-4 | best / run epochs | train time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, by_seed in groups.items():
        seeds = sorted(by_seed)
        results = [by_seed[s] for s in seeds]
        label = f"| {results[0]['model']} (rsicd-{name}) | {seeds[0]}-{seeds[-1]} ({len(seeds)}) |"
        epochs = " / ".join(f"{r.get('best_epoch', '?')}/{r['epochs_run']}" for r in results)
        times = " / ".join(f"{r['train_time_s']:.0f}" for r in results)
        for split, set_name in (("test", "RSICD test"), ("nwpu", "NWPU-Captions test")):
            for k in (1, 3):
                if not all(f"{split}_bleu4_beam{k}" in r for r in results):
                    continue
                cols = []
                for metric in ("bleu1", "bleu2", "bleu3", "bleu4", "cider", "meteor"):
                    xs = [r.get(f"{split}_{metric}_beam{k}") for r in results]
                    ok = None not in xs
                    cols.append(f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs):.1f}" if ok else "")
                per_seed = " / ".join(f"{r[f'{split}_bleu4_beam{k}']:.1f}" for r in results)
                tail = " | | |"
                if split == "test":
                    dev = [r[f"dev_bleu4_beam{k}"] for r in results]
                    tail = f" {statistics.mean(dev):.1f} ± {statistics.stdev(dev):.1f} | {epochs} | {times} |"
                print(f"{label} {set_name} | {k} | " + " | ".join(cols) + f" | {per_seed} |" + tail)
    paired_table(groups)


def paired_table(groups: dict[str, dict[int, dict]]) -> None:
    """Attention's lead over each other decoder in BLEU-4, CIDEr-D and METEOR (where scored), seed by seed:
    mean ± std of the per-seed differences, how many seeds attention is ahead, the two-sided paired t-test's p."""
    att = groups.get("attention")
    others = [n for n in groups if n != "attention"]
    if not att or not others:
        return
    from scipy.stats import ttest_rel

    print()
    print("| attention vs | seeds | split | beam | metric | lead (mean ± std) | attention ahead | paired t-test p |")
    print("|---|---|---|---|---|---|---|---|")
    for name in others:
        seeds = sorted(set(att) & set(groups[name]))
        if len(seeds) < 2:
            continue
        for split, metric, k in itertools.product(("test", "dev", "nwpu"), ("bleu4", "cider", "meteor"), (1, 3)):
            key = f"{split}_{metric}_beam{k}"
            if not all(key in att[s] and key in groups[name][s] for s in seeds):
                continue
            a = [att[s][key] for s in seeds]
            b = [groups[name][s][key] for s in seeds]
            d = [x - y for x, y in zip(a, b, strict=True)]
            ahead = sum(x > 0 for x in d)
            p = ttest_rel(a, b).pvalue if len(seeds) > 2 else float("nan")
            label = {"bleu4": "BLEU-4", "cider": "CIDEr-D", "meteor": "METEOR"}[metric]
            print(f"| rsicd-{name} | {len(seeds)} | {split} | {k} | {label} | {statistics.mean(d):+.2f} ± "
                  f"{statistics.stdev(d):.2f} | {ahead} of {len(seeds)} | {p:.3f} |")


if __name__ == "__main__":
    main()
