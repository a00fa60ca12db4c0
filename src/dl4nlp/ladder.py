"""The sentiment ladder (every registered rung on one dataset) and small grid sweeps selected on dev."""

from __future__ import annotations

import itertools
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


def run_sweep(config: Path, grid_items: list[str], overrides: list[str]) -> Path:
    """Train every grid point without touching test, pick the best on dev, score test once for it."""
    from dl4nlp.pipelines.classification import evaluate_run
    from dl4nlp.experiments import train_any
    from dl4nlp.runs import read_results, write_results

    grid = parse_grid(grid_items)
    base = apply_overrides(read_yaml(config), overrides)
    base_cfg = from_dict(base, str(config))
    out = Path(base_cfg.run.dir) / f"sweep-{base_cfg.run_name()}"
    keys = list(grid)
    points = list(itertools.product(*grid.values()))
    cfgs = []
    for i, values in enumerate(points):
        sets = [f"{k}={v}" for k, v in zip(keys, values, strict=True)]
        raw = apply_overrides(base, [*sets, f"run.dir={out}", f"run.name=point{i:02d}"])
        cfgs.append((sets, from_dict(raw, str(config))))
    rows = []
    for sets, cfg in cfgs:
        print(f"[sweep] {' '.join(sets)}")
        from dl4nlp.pipelines.classification import train_classifier

        run = train_classifier(cfg, evaluate_test=False) if cfg.model_name in registry.MODELS else train_any(cfg)
        res = read_results(run) or {}
        rows.append({"run": run.name, "setting": " ".join(sets), "dev_acc": res.get("dev_acc"),
                     "dev_f1": res.get("dev_f1")})
    mode = base_cfg.train.mode
    metric = base_cfg.train.monitor
    key = metric if metric in rows[0] else "dev_acc"
    best = (max if mode == "max" else min)(rows, key=lambda r: r[key])
    test = evaluate_run(out / best["run"], "test")
    res = read_results(out / best["run"]) or {}
    res.update({"test_acc": test["accuracy"], "test_f1": test["macro_f1"], "selected_by": key})
    write_results(out / best["run"], res)
    lines = [f"# sweep of {config} ({len(rows)} settings, selected on {key})", "",
             "| run | setting | dev acc | dev F1 |", "|---|---|---|---|"]
    for r in rows:
        mark = " **(chosen)**" if r is best else ""
        lines.append(f"| {r['run']}{mark} | {r['setting']} | {100 * r['dev_acc']:.2f} | {100 * r['dev_f1']:.2f} |")
    lines += ["", f"Chosen: {best['setting']} -> test accuracy {100 * test['accuracy']:.2f}, "
              f"macro-F1 {100 * test['macro_f1']:.2f} (test read once, for this model only)."]
    write_json(out / "sweep.json", {"grid": grid, "rows": rows, "chosen": best, "test": test})
    return write_text(out / "sweep.md", "\n".join(lines) + "\n")
