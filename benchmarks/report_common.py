"""Helpers the benchmark reports share (benchmarks/ner_report.py, translation_report.py, trees_report.py,
lm_cpu_report.py): reading run folders, mean ± std over seeds, the machine / load / date lines, target verdicts
and the commands recorded by the runs. Every number comes from the run folders' ``results.json``; nothing here
is hard-coded."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def load_runs(root: Path) -> dict[str, dict[str, Any]]:
    """``{folder name: results.json}`` of the finished runs directly under ``root``."""
    out = {}
    for res in sorted(root.glob("*/results.json")):
        out[res.parent.name] = json.loads(res.read_text(encoding="utf-8"))
    return out


def seed_of(name: str) -> int:
    """``bilstm_crf-s13`` -> 13 (the scripts name every run ``...-s<seed>``)."""
    return int(name.rsplit("-s", 1)[1])


def group(runs: dict[str, dict[str, Any]], key: Callable[[str], str | None]) -> dict[str, list[dict[str, Any]]]:
    """Runs grouped by ``key(folder name)`` (None: left out), each with its ``seed``, sorted by seed."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, res in runs.items():
        k = key(name)
        if k is not None:
            out.setdefault(k, []).append({"seed": seed_of(name), "run": name, **res})
    return {k: sorted(v, key=lambda r: r["seed"]) for k, v in out.items()}


def values(rs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rs if r.get(key) is not None]


def mean_std(xs: list[float]) -> tuple[float, float | None]:
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def spread(xs: list[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` (sample std over seeds) of ``xs * scale``; ``(1 seed)`` without a std; ``—`` when empty."""
    if not xs:
        return "—"
    m, s = mean_std([scale * x for x in xs])
    return f"{m:.{digits}f} ± {s:.{digits}f}" if s is not None else f"{m:.{digits}f} (1 seed)"


def per_seed(rs: list[dict[str, Any]], key: str, scale: float = 100.0, digits: int = 2) -> str:
    return ", ".join(f"s{r['seed']}: {scale * r[key]:.{digits}f}" for r in rs if r.get(key) is not None)


def minutes(rs: list[dict[str, Any]]) -> str:
    """Mean and slowest train time of the runs, in minutes."""
    ts = values(rs, "train_time_s")
    return f"{statistics.mean(ts) / 60:.1f} (max {max(ts) / 60:.1f})" if ts else "—"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def beats(lo: list[float], hi: list[float], scale: float = 100.0, unit: str = "points") -> str:
    """Whether ``hi`` beats ``lo`` on the mean by more than the larger of the two seed stds (the issues'
    rule), as a verdict with the numbers behind it."""
    if not lo or not hi:
        return "cannot be judged (a side has no finished run)"
    (a, sa), (b, sb) = mean_std([scale * x for x in lo]), mean_std([scale * x for x in hi])
    stds = [s for s in (sa, sb) if s is not None]
    if not stds:
        return f"cannot be judged (1 seed each, no seed-to-seed std; difference {b - a:+.2f} {unit})"
    bar = max(stds)
    return (f"{verdict(b - a > bar)} (difference {b - a:+.2f} {unit} vs the larger seed std {bar:.2f}; "
            f"seeds {len(lo)} and {len(hi)})")


def at_least(xs: list[float], target: float, scale: float = 100.0, what: str = "mean") -> str:
    """Verdict of ``mean(xs) * scale >= target``."""
    if not xs:
        return "cannot be judged (no finished run)"
    m = statistics.mean(xs) * scale
    return f"{verdict(m >= target)} ({what} {m:.2f} vs {target})"


def time_target(rs: list[dict[str, Any]], limit_min: float) -> str:
    ts = values(rs, "train_time_s")
    if not ts:
        return "cannot be judged (no finished run)"
    return f"{verdict(max(ts) / 60 < limit_min)} (slowest run {max(ts) / 60:.1f} min)"


def load_note(root: Path) -> str:
    """The 1-minute load averages the scripts logged at the start and end of each job ($OUT/load.tsv)."""
    path = root / "load.tsv"
    if not path.is_file():
        return "machine load not logged (no load.tsv)"
    loads = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            loads.append(float(parts[3].split()[0]))
    if not loads:
        return "machine load not logged (empty load.tsv)"
    return (f"1-minute load average at the start / end of the jobs: {min(loads):.2f} to {max(loads):.2f} "
            f"(median {statistics.median(loads):.2f}, {len(loads)} readings; about 1 means one busy core of 2)")


def machine_lines(runs: Iterable[dict[str, Any]], root: Path) -> list[str]:
    rs = list(runs)
    if not rs:
        return []
    m = rs[0]["machine"]
    dates = sorted(r["date"] for r in rs if r.get("date"))
    gpu = f", device {m['device']}" if m.get("device", "cpu") != "cpu" else ""
    return [f"Machine: {m['platform']}, {m['cpu_count']} CPU cores{gpu}, torch {m['torch']} with "
            f"{m['torch_threads']} thread(s); {load_note(root)}. Runs dated {dates[0]} to {dates[-1]} (UTC).", ""]


def commands(runs: Iterable[dict[str, Any]], script_lines: list[str]) -> list[str]:
    """The reproduce block and the commands the runs recorded."""
    lines = ["### Reproduce", "", "```bash", *script_lines, "```", ""]
    cmds = sorted({r.get("command") or "" for r in runs} - {""})
    if cmds:
        lines += ["Commands recorded in the runs:", "", "```", *cmds, "```", ""]
    return lines


def status(planned: list[str], have: Iterable[str], script: str) -> list[str]:
    missing = [p for p in planned if p not in set(have)]
    return ["### Status", "", f"{len(planned) - len(missing)} of the {len(planned)} runs planned by `{script}` "
            "finished." + (f" Not run: {', '.join(missing)}." if missing else ""), ""]


def write(out: Path, lines: list[str]) -> None:
    from dl4nlp.core.io import write_text

    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, "\n".join(lines))
    print(out.read_text(encoding="utf-8"))
