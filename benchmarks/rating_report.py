"""The table of benchmarks/rating_one_percent.sh: test MAE, RMSE, Spearman, accuracy and within-one-star of every
model at each label count, mean +- std over seeds, the baselines beside them, and the issue's checks (BoW within
0.05 MAE of Ridge; the best all-ratings model >= 30 % below the mean baseline; ULMFiT ahead of the GRU from scratch
and of BoW with 1 % of the ratings by more than the seed std). Markdown on stdout.

    python benchmarks/rating_report.py runs/bench-rating
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

NAME = re.compile(r"^(?P<model>.+)-n(?P<n>\w+)-s(?P<seed>\d+)$")
METRICS = ("test_mae", "test_rmse", "test_spearman", "test_acc", "test_within_one", "train_time_s")
ORDER = ("mean", "ridge", "bow", "gru", "ulmfit-scratch", "ulmfit", "gru-regress", "gru-classify")


def collect(root: Path) -> dict[tuple[str, str], list[dict[str, float]]]:
    """(model, label count) -> one dict of metrics per seed."""
    groups: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    for res_path in sorted(root.glob("*/results.json")):
        m = NAME.match(res_path.parent.name)
        res = json.loads(res_path.read_text(encoding="utf-8"))
        if m and res.get("task") == "rating":
            groups[m["model"], m["n"]].append({k: res[k] for k in METRICS if isinstance(res.get(k), int | float)})
    for path in sorted(root.glob("baselines-n*-s*.json")):
        m = NAME.match(path.stem)
        if not m:
            continue
        base = json.loads(path.read_text(encoding="utf-8"))
        groups["mean", m["n"]].append({k.replace("accuracy", "acc"): v for k, v in base["mean"].items()
                                       if k.startswith("test_")})
        groups["ridge", m["n"]].append({**{k.replace("accuracy", "acc"): v for k, v in base["ridge"].items()
                                           if k.startswith("test_")}, "train_time_s": base["ridge"]["train_time_s"]})
    return groups


def stat(rows: list[dict[str, float]], key: str) -> tuple[float, float] | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(s: tuple[float, float] | None, key: str) -> str:
    if s is None:
        return ""
    scale = 100 if key in ("test_acc", "test_within_one") else 1
    digits = 1 if key in ("test_acc", "test_within_one", "train_time_s") else 3
    return f"{s[0] * scale:.{digits}f} ± {s[1] * scale:.{digits}f}"


def report(root: Path) -> str:
    groups = collect(root)
    if not groups:
        return f"no rating runs or baselines under {root}\n"
    counts = sorted({n for _, n in groups}, key=lambda n: (n == "all", n))
    head = "| ratings | model | seeds | test MAE | test RMSE | Spearman | acc (%) | within 1 (%) | train (s) |"
    lines = [f"IMDB test, 1-10 stars; {root}", "", head, "|---|---|---|" + "---|" * 6]
    for n in counts:
        for model in sorted({m for m, k in groups if k == n}, key=lambda m: (ORDER.index(m) if m in ORDER else 99, m)):
            rows = groups[model, n]
            cells = [fmt(stat(rows, k), k) for k in METRICS]
            lines.append(f"| {n} | {model} | {len(rows)} | " + " | ".join(cells) + " |")
    lines += ["", *checks(groups)]
    return "\n".join(lines) + "\n"


def checks(groups: dict[tuple[str, str], list[dict[str, float]]]) -> list[str]:
    def mae(model: str, n: str) -> tuple[float, float] | None:
        return stat(groups.get((model, n), []), "test_mae")

    out = []
    for n in sorted({n for _, n in groups}):
        bow, ridge = mae("bow", n), mae("ridge", n)
        if bow and ridge:
            out.append(f"- {n} ratings: BoW {bow[0]:.3f} vs Ridge {ridge[0]:.3f} MAE (gap {bow[0] - ridge[0]:+.3f}; "
                       f"target within 0.05)")
    models = [m for m, n in groups if n == "all" and m not in ("mean", "ridge")]
    mean_all = mae("mean", "all")
    if models and mean_all:
        best = min(models, key=lambda m: mae(m, "all")[0])
        b = mae(best, "all")[0]
        out.append(f"- all ratings: best {best} MAE {b:.3f}, {100 * (1 - b / mean_all[0]):.1f} % below the mean "
                   f"baseline {mean_all[0]:.3f} (target >= 30 %)")
    ul = mae("ulmfit", "250")
    for other in ("gru", "ulmfit-scratch", "bow"):
        o = mae(other, "250")
        if ul and o:
            margin, std = o[0] - ul[0], max(ul[1], o[1])
            verdict = "ahead by more than the seed std" if margin > std else "NOT ahead by more than the seed std"
            if min(len(groups["ulmfit", "250"]), len(groups[other, "250"])) < 2:
                verdict = "one seed only: no seed std to compare with"
            out.append(f"- 250 ratings: ULMFiT {ul[0]:.3f} vs {other} {o[0]:.3f} MAE: {verdict} ({margin:+.3f}, "
                       f"std {std:.3f})")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/rating_report.py RUNS_FOLDER")
    sys.stdout.write(report(Path(sys.argv[1])))
