"""The sentiment ladder (every registered rung on one dataset) and small grid sweeps selected on dev."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from dl4nlp import registry
from dl4nlp.config import apply_overrides, from_dict, parse_value, read_yaml
from dl4nlp.errors import ConfigError
from dl4nlp.io import write_json, write_text


def run_ladder(dataset: str, configs: Path, out: Path | None, only: list[str], skip: list[str],
               overrides: list[str]) -> Path:
    """Train each rung of :data:`registry.LADDER` with ``configs/<rung>.yaml`` on ``dataset``;
    writes ``leaderboard.md``/``.csv`` and ``ladder.png`` in the output folder and returns the .md."""
    from dl4nlp import plots
    from dl4nlp.experiments import ladder_run_state, train_any
    from dl4nlp.runs import write_leaderboard

    if dataset not in ("sst2", "sst5"):
        raise ConfigError(f"--dataset: the ladder runs on sst2 or sst5, not '{dataset}'")
    unknown = [r for r in [*only, *skip] if r not in registry.LADDER]
    if unknown:
        raise ConfigError(f"unknown rung(s) {', '.join(unknown)} (rungs: {', '.join(registry.LADDER)})")
    rungs = [r for r in registry.LADDER if (not only or r in only) and r not in skip]
    missing = [r for r in rungs if not (configs / f"{r}.yaml").is_file()]
    if missing:
        has = [r for r in registry.LADDER if (configs / f"{r}.yaml").is_file()]
        raise ConfigError(f"{configs}: no config for rung(s) {', '.join(missing)} (this folder has: "
                          f"{', '.join(has) or 'none'}; choose rungs with --only / --skip)")
    out = out or Path("runs") / f"ladder-{dataset}"
    raws = {}
    for rung in rungs:  # read every config first: a broken one fails before any training
        path = configs / f"{rung}.yaml"
        raw = apply_overrides(read_yaml(path), [f"data.dataset={dataset}", f"run.dir={out}",
                                                 f"run.name={rung}-{dataset}", *overrides])
        raws[rung] = (from_dict(raw, str(path)))
    states = {rung: ladder_run_state(cfg) for rung, cfg in raws.items()}  # other settings stop before training
    for rung, cfg in raws.items():
        state, run = states[rung]
        if state == "finished":
            print(f"[ladder] {rung}: already trained, kept ({run})")
        elif state == "resumable":
            print(f"[ladder] {rung}: resuming unfinished run")
            train_any(cfg, resume=run)
        else:
            print(f"[ladder] training {rung} on {dataset}")
            train_any(cfg)
    md, _, rows = write_leaderboard(out)
    order = {r: i for i, r in enumerate(registry.LADDER)}
    rows = sorted(rows, key=lambda r: order.get(str(r["model"]), 99))
    plots.ladder_comparison(rows, out / "ladder.png", f"sentiment ladder on {dataset.upper()}")
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
    from dl4nlp.experiments import train_any
    from dl4nlp.pipelines import pipeline_for_model
    from dl4nlp.runs import read_results, write_results

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
