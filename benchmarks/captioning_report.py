"""Print the captioning benchmark tables (markdown) from the run folders of benchmarks/captioning.sh.

python benchmarks/captioning_report.py runs/bench-captioning
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


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


if __name__ == "__main__":
    main()
