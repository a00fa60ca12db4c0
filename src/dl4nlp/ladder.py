"""Ladders (the rungs of a configs folder, any pipeline, in ladder order) and grid sweeps selected on dev."""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dl4nlp.core.config import ExperimentConfig, apply_overrides, from_dict, parse_value, read_yaml
from dl4nlp.core.errors import ConfigError
from dl4nlp.core.io import write_json, write_text
from dl4nlp.ladder_manifest import MANIFEST, Manifest, read_manifest


@dataclass
class LadderPlan:
    """What a ladder call will train: (rung, seed, config) in ladder order, into ``out``."""

    manifest: Manifest
    dataset: str | None
    out: Path
    runs: list[tuple[str, int, ExperimentConfig]]


def plan_ladder(configs: Path, dataset: str | None, out: Path | None, only: list[str], skip: list[str],
                overrides: list[str], quick: bool = False, seeds: list[int] | None = None) -> LadderPlan:
    """Read the manifest and every rung's config (a broken one fails before any training)."""
    man = read_manifest(configs)
    names = man.names()
    unknown = [r for r in [*only, *skip] if r not in names]
    if unknown:
        raise ConfigError(f"unknown rung(s) {', '.join(unknown)} (rungs of {configs}: {', '.join(names)})")
    if quick and not man.quick:
        raise ConfigError(f"--quick: {configs} names no quick rungs (a 'quick:' list in its {MANIFEST})")
    chosen = man.quick if quick else names
    rungs = [r for r in names if r in chosen and (not only or r in only) and r not in skip]
    if not rungs:
        raise ConfigError("no rung left to train (check --only / --skip)")
    dataset = dataset or (man.datasets[0] if man.datasets else None)
    if man.datasets and dataset not in man.datasets:
        raise ConfigError(f"--dataset: this ladder runs on {' or '.join(man.datasets)}, not '{dataset}'")
    out = out or Path("runs") / ("ladder" + (f"-{dataset}" if dataset else "") + ("-quick" if quick else ""))
    runs = []
    for rung in rungs:
        for seed in seeds or [None]:
            name = rung + (f"-{dataset}" if dataset else "") + (f"-s{seed}" if seeds and len(seeds) > 1 else "")
            info = man.rung(rung)
            sets = [*([f"data.dataset={dataset}"] if dataset else []), *info.sets, f"run.dir={out}",
                    f"run.name={name}", *([f"run.seed={seed}"] if seed is not None else []),
                    *(man.quick_set.get(rung, []) if quick else []), *overrides]
            path = info.config(dataset)
            cfg = from_dict(apply_overrides(read_yaml(path), sets), str(path))
            runs.append((rung, cfg.run.seed, cfg))
    return LadderPlan(man, dataset, out, runs)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def run_ladder(configs: Path, dataset: str | None, out: Path | None, only: list[str], skip: list[str],
               overrides: list[str], quick: bool = False, seeds: list[int] | None = None,
               sort: str = "ladder") -> Path:
    """Train every rung of a ladder folder (any pipeline) with one progress line per rung on stderr; write
    ``leaderboard.md``/``.csv`` in ladder order (``sort="dev"``: best dev first) and ``ladder.png`` (rungs
    grouped by family, seed std as error bars, published references as markers); returns the .md."""
    from dl4nlp.experiments import ladder_run_state, train_any

    if sort not in ("ladder", "dev"):
        raise ConfigError(f"--sort: unknown value '{sort}' (use ladder or dev)")
    plan = plan_ladder(configs, dataset, out, only, skip, overrides, quick, seeds)
    states = [ladder_run_state(cfg) for _, _, cfg in plan.runs]  # other settings stop before any training
    start, spent = time.perf_counter(), []
    n = len(plan.runs)
    for i, ((_, _, cfg), (state, run)) in enumerate(zip(plan.runs, states, strict=True), 1):
        elapsed = time.perf_counter() - start
        eta = f"; about {_clock(sum(spent) / len(spent) * (n - i + 1))} left" if spent else ""
        tag = f"[ladder {i}/{n}] {cfg.run_name()}"
        if state == "finished":
            _say(f"{tag}: already trained, kept ({run})")
        else:
            _say(f"{tag}: {'resuming' if state == 'resumable' else 'training'} (elapsed {_clock(elapsed)}{eta})")
            t0 = time.perf_counter()
            run = train_any(cfg, resume=run if state == "resumable" else None)
            spent.append(time.perf_counter() - t0)
        _say(f"{tag}: {_scores(run, plan.manifest.metric)} ({_clock(time.perf_counter() - start)} so far)")
    return write_ladder_report(plan, sort)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _scores(run: Path, metric: str) -> str:
    from dl4nlp.core.runs import read_results

    res = read_results(run) or {}
    dev = metric.replace("test_", "dev_", 1)
    return "  ".join(f"{k} {_fmt_score(res[k])}" for k in (dev, metric) if isinstance(res.get(k), int | float))


def write_ladder_report(plan: LadderPlan, sort: str = "ladder") -> Path:
    """leaderboard.md/.csv of the plan's runs in ladder order, and ladder.png."""
    from dl4nlp.analysis import plots
    from dl4nlp.core.runs import leaderboard_csv, leaderboard_markdown, leaderboard_row, read_results

    names = {cfg.run_name(): (k, rung) for k, (rung, _, cfg) in enumerate(plan.runs)}
    rows = [leaderboard_row(plan.out / name) for name in names if (plan.out / name / "results.json").is_file()]
    if sort == "dev":
        rows.sort(key=lambda r: -(r["dev_acc"] or 0))
    md = write_text(plan.out / "leaderboard.md", leaderboard_markdown(rows))
    write_text(plan.out / "leaderboard.csv", leaderboard_csv(rows))
    bars = []
    for rung in dict.fromkeys(r for r, _, _ in plan.runs):
        scores = [float(v) for name, (_, r) in names.items() if r == rung
                  for v in [(read_results(plan.out / name) or {}).get(plan.manifest.metric)] if v is not None]
        info = plan.manifest.rung(rung)
        ref = info.reference.get(plan.dataset or "", None)
        bars.append(plots.LadderBar(rung, info.family, scores, ref, plan.manifest.scale))
    title = plan.manifest.title + (f" on {plan.dataset.upper()}" if plan.dataset else "")
    plots.ladder_plot(bars, plan.out / "ladder.png", title, plan.manifest.metric)
    write_json(plan.out / "ladder.json", {"title": title, "metric": plan.manifest.metric,
                                          "rungs": [b.as_dict() for b in bars]})
    return md


def parse_grid(items: list[str]) -> dict[str, list]:
    grid: dict[str, list] = {}
    for item in items:
        for part in item.split(";"):
            if not part.strip():
                continue
            if "=" not in part:
                raise ConfigError(f"--grid '{part}': expected key=v1,v2 (e.g. train.lr=0.1,0.01)")
            key, values = part.split("=", 1)
            key = key.strip()
            if "." not in key:
                key = f"train.{key}"
            grid[key] = [parse_value(v.strip()) for v in values.split(",") if v.strip()]
            if not grid[key]:
                raise ConfigError(f"--grid '{part}': no values")
    if not grid:
        raise ConfigError("--grid: give at least one key=v1,v2")
    return grid


def _fmt_score(v: object) -> str:
    return "-" if v is None else (f"{100 * v:.2f}" if isinstance(v, float) and abs(v) <= 1 else f"{v:.4g}")


def run_sweep(config: Path, grid_items: list[str], overrides: list[str]) -> Path:
    """Train every grid point of any pipeline without touching test, pick the best on the pipeline's dev
    metric (``train.monitor`` where the config sets one the runs report), then score test once, for that
    model only (the pipeline's own ``evaluate``). Writes ``sweep.md`` and ``sweep.json``; returns the .md."""
    from dl4nlp.core.runs import read_results, write_results
    from dl4nlp.experiments import train_any
    from dl4nlp.pipelines import pipeline_for_model

    grid = parse_grid(grid_items)
    base = apply_overrides(read_yaml(config), overrides)
    base_cfg = from_dict(base, str(config))
    pipe = pipeline_for_model(base_cfg.model_name)
    out = Path(base_cfg.run.dir) / f"sweep-{base_cfg.run_name()}"
    keys = list(grid)
    cfgs = []
    for i, values in enumerate(itertools.product(*grid.values())):
        sets = [f"{k}={v}" for k, v in zip(keys, values, strict=True)]
        raw = apply_overrides(base, [*sets, f"run.dir={out}", f"run.name=point{i:02d}"])
        cfgs.append((sets, from_dict(raw, str(config))))  # every point's config is checked before training
    rows = []
    for sets, cfg in cfgs:
        print(f"[sweep] {' '.join(sets)}", file=sys.stderr)
        run = train_any(cfg, evaluate_test=False)
        res = read_results(run) or {}
        rows.append({"run": run.name, "setting": " ".join(sets), "results": res})
    metric, mode = pipe.monitor, pipe.mode
    if base_cfg.train.monitor in rows[0]["results"] and base_cfg.train.monitor != "dev_acc":
        metric, mode = base_cfg.train.monitor, base_cfg.train.mode
    missing = [r["run"] for r in rows if r["results"].get(metric) is None]
    if missing:
        raise ConfigError(f"sweep: run(s) {', '.join(missing)} report no '{metric}' to select on")
    sign = 1.0 if mode == "max" else -1.0
    best = max(rows, key=lambda r: sign * float(r["results"][metric]))
    test = pipe.evaluate(out / best["run"], "test")
    res = read_results(out / best["run"]) or {}
    res.update({"test_scores": test, "selected_by": metric})
    for k in ("accuracy", "macro_f1", "perplexity"):
        if k in test:
            res[{"accuracy": "test_acc", "macro_f1": "test_f1", "perplexity": "test_ppl"}[k]] = test[k]
    write_results(out / best["run"], res)
    lines = [f"# sweep of {config} ({len(rows)} settings, {pipe.name} pipeline, selected on {metric})", "",
             f"| run | setting | {metric} |", "|---|---|---|"]
    for r in rows:
        mark = " **(chosen)**" if r is best else ""
        lines.append(f"| {r['run']}{mark} | {r['setting']} | {_fmt_score(r['results'][metric])} |")
    shown = ", ".join(f"{k} {_fmt_score(v)}" for k, v in test.items() if isinstance(v, float) and k != "seconds")
    lines += ["", f"Chosen: {best['setting']} -> test {shown} (test read once, for this model only)."]
    table = [{"run": r["run"], "setting": r["setting"], metric: r["results"][metric]} for r in rows]
    write_json(out / "sweep.json", {"grid": grid, "metric": metric, "mode": mode, "rows": table,
                                    "chosen": table[rows.index(best)], "test": test})
    return write_text(out / "sweep.md", "\n".join(lines) + "\n")
