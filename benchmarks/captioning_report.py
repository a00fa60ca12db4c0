"""Print the captioning benchmark tables (markdown) from the run folders of benchmarks/captioning.sh.

python benchmarks/captioning_report.py runs/bench-captioning

When other seeds were trained beside seed 13 (``rsicd-<model>-s<seed>``, `bash benchmarks/captioning.sh
seeds`), a last table gives each model's mean and standard deviation over the seeds.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import yaml


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench-captioning")
    feats = json.loads((out / "features.json").read_text())
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
    for name in ("attention", "no-attention"):
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


def seeds_table(out: Path) -> None:
    """Mean ± std over seeds of RSICD test BLEU-1..4 (beam 1 and 3) and dev BLEU-4 (the selection metric)."""
    runs = {name: sorted(out.glob(f"rsicd-{name}-s*/results.json")) for name in ("attention", "no-attention")}
    if not any(runs.values()):
        return
    print()
    print("| model | seeds | beam | test BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-4 per seed | dev BLEU-4 "
          "| train time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, extra in runs.items():
        files = [f for f in [out / f"rsicd-{name}" / "results.json"] if f.is_file()] + extra  # seed 13 first
        results = [json.loads(f.read_text()) for f in files]
        if not results:
            continue
        seeds = "/".join(str(yaml.safe_load((f.parent / "config.yaml").read_text())["run"]["seed"]) for f in files)
        for k in (1, 3):
            cols = []
            for n in range(1, 5):
                xs = [r[f"test_bleu{n}_beam{k}"] for r in results]
                spread = f" ± {statistics.stdev(xs):.1f}" if len(xs) > 1 else ""
                cols.append(f"{statistics.mean(xs):.1f}{spread}")
            per_seed = " / ".join(f"{r[f'test_bleu4_beam{k}']:.1f}" for r in results)
            dev = statistics.mean(r[f"dev_bleu4_beam{k}"] for r in results)
            times = " / ".join(f"{r['train_time_s']:.0f}" for r in results)
            print(f"| {results[0]['model']} | {seeds} | {k} | " + " | ".join(cols)
                  + f" | {per_seed} | {dev:.1f} | {times} |")


if __name__ == "__main__":
    main()
