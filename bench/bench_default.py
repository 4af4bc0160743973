"""Time the default CartPole-v1 configuration to a mean return ≥ 475 (seeds 0–4).

    .venv/bin/python bench/bench_default.py [--seeds 0 1 2 3 4] [--target 475] [--set n_traj=32 lr=0.01 ...]

Prints one row per seed and the median/min/max of env steps and wall seconds.
A benchmark, not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics

import torch

from pgcourse import TrainConfig, train


def parse_set(items):
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def run(seeds, target, overrides, iterations=400):
    rows = []
    # warm up torch's kernels once so the first seed is not charged for it
    train(TrainConfig(iterations=1, n_traj=2), progress=False)
    for seed in seeds:
        config = TrainConfig(**{**overrides, "seed": seed, "target_return": target, "iterations": iterations})
        _, history = train(config, progress=False)
        rows.append({"seed": seed, **history.summary()})
    return rows


def summarise(rows):
    solved = [r for r in rows if r["solved"]]
    out = {"solved": f"{len(solved)}/{len(rows)}"}
    for key in ("wall_s", "env_steps"):
        values = [r[key] for r in solved] or [float("nan")]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--target", type=float, default=475.0)
    parser.add_argument("--set", nargs="*", default=[], help="TrainConfig overrides, key=value")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    overrides = parse_set(args.set)
    rows = run(args.seeds, args.target, overrides)
    summary = summarise(rows)
    if args.json:
        print(json.dumps({"config": {**TrainConfig().__dict__, **overrides}, "rows": rows, "summary": summary},
                         default=str))
        return
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"(train() runs on one thread)")
    print(f"# config: {TrainConfig(**overrides)}")
    print(f"{'seed':>4} {'solved':>6} {'iters':>5} {'env steps':>10} {'wall s':>7} {'final':>7}")
    for r in rows:
        print(f"{r['seed']:>4} {str(r['solved']):>6} {r['iterations']:>5} {r['env_steps']:>10} "
              f"{r['wall_s']:>7.2f} {r['final_return']:>7.1f}")
    w, s = summary["wall_s"], summary["env_steps"]
    print(f"solved {summary['solved']}; wall s median {w['median']:.2f} (min {w['min']:.2f}, max {w['max']:.2f}); "
          f"env steps median {s['median']:.0f} (min {s['min']:.0f}, max {s['max']:.0f})")


if __name__ == "__main__":
    main()
