"""Extract (or reuse) the EfficientNet-Lite0 feature grids of RSICD train/val/test and NWPU-Captions test
into the feature cache, timing each split. Run from the repo root:

    flock /tmp/dl4nlp-bench.lock python benchmarks/captioning_features.py --out runs/bench-captioning/features.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from dl4nlp.core.config import DataConfig
from dl4nlp.core.io import write_json
from dl4nlp.data.captions import read_caption_splits
from dl4nlp.data.image_features import cached_features
from dl4nlp.engine.training import machine_info
from dl4nlp.models.image_encoder import build_encoder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rsicd", default="../shared/data/rsicd")
    ap.add_argument("--nwpu", default="../shared/data/nwpu_captions")
    ap.add_argument("--cache-dir", default="cache")
    ap.add_argument("--out", default="runs/bench-captioning/features.json")
    ap.add_argument("--image-size", type=int, default=224, help="model.image_size of the runs (grid = size / 32)")
    args = ap.parse_args()
    enc = build_encoder("efficientnet-lite0", image_size=args.image_size)
    rows = []
    sets = [("rsicd", args.rsicd, ("train", "dev", "test")), ("nwpu_captions", args.nwpu, ("test",))]
    for dataset, path, splits in [s for s in sets if s[1]]:  # --nwpu "" skips NWPU-Captions
        data = read_caption_splits(DataConfig(dataset=dataset, path=path))
        for split in splits:
            images = [im.image for im in data.split(split)]
            start = time.perf_counter()
            fs = cached_features(images, enc, args.cache_dir, f"{dataset}-{split}")
            wall = time.perf_counter() - start
            rows.append(
                {
                    "dataset": dataset,
                    "split": split,
                    "images": len(images),
                    "reused": fs.reused,
                    "seconds": round(wall, 1),
                    "images_per_s": round(len(images) / max(wall, 1e-9), 1),
                    "grid": list(fs.features.shape[1:]),
                    "file": str(fs.path),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    write_json(args.out, {"rows": rows, "threads": torch.get_num_threads(), "machine": machine_info()})


if __name__ == "__main__":
    main()
