"""Measurements behind notebook 10: the ablation of REINFORCE's ingredients, the step sizes that
motivate trust regions, and the peer-library table written by bench/peers.py.

Taught in notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .train import TrainConfig, train

# Each row switches on one more ingredient; the last swaps Adam for SGD (at α = 0.3, the best SGD α of
# notebook 09's grid). Every other field is TrainConfig()'s default (N = 8, Adam, its lr, γ = 0.995).
ABLATION = (
    ("total return R(τ)", {"weights": "total_return", "baseline": "none", "normalise": False}),
    ("+ reward-to-go", {"weights": "reward_to_go", "baseline": "none", "normalise": False}),
    ("+ mean baseline", {"weights": "reward_to_go", "baseline": "mean", "normalise": False}),
    ("+ normalised weights (defaults)", {}),
    ("defaults, SGD α = 0.3 instead of Adam", {"optimizer": "sgd", "lr": 0.3}),
)


def ablation(rows: Sequence[tuple[str, dict]] = ABLATION, seeds: Sequence[int] = (0, 1, 2), iterations: int = 40,
             target_return: float = 475.0, base: TrainConfig | None = None) -> list[dict]:
    """For each (name, fields): train(base with fields, seed s, iterations, target_return) for every seed.

    Returns one dict per row: name, fields, solved (k), n (seeds), median_steps (median env steps
    to reach the target over the solved seeds; NaN if none), final_return (median over seeds of the
    mean return of the last max(16, N) episodes at the end), runs (per seed: seed, solved,
    env_steps, final_return, diverged). A run whose loss became NaN counts as not solved with
    final return NaN.
    Taught in notebooks/10_capstone.ipynb.
    """
    base = TrainConfig() if base is None else base
    out = []
    for name, fields in rows:
        runs = []
        for seed in seeds:
            config = replace(base, **fields, seed=int(seed), iterations=int(iterations), target_return=target_return)
            try:
                _, history = train(config, progress=False)
            except ValueError:
                runs.append({"seed": int(seed), "solved": False, "env_steps": math.nan, "final_return": math.nan,
                             "diverged": True})
                continue
            runs.append({"seed": int(seed), "solved": bool(history.solved), "env_steps": int(history.env_steps[-1]),
                         "final_return": float(history.final_return), "diverged": False})
        solved_steps = [r["env_steps"] for r in runs if r["solved"]]
        finals = [r["final_return"] for r in runs if not math.isnan(r["final_return"])]
        out.append({"name": name, "fields": dict(fields), "solved": len(solved_steps), "n": len(runs),
                    "median_steps": float(statistics.median(solved_steps)) if solved_steps else math.nan,
                    "final_return": float(statistics.median(finals)) if finals else math.nan, "runs": runs})
    return out


def format_ablation(rows: list[dict]) -> str:
    """A plain-text table: configuration | solved k/n | median env steps to 475 (thousands, 1 decimal) |
    median final return (integer)."""
    header = ("configuration", "solved", "median env steps to 475", "median final return")
    body = []
    for row in rows:
        steps = "—" if math.isnan(row["median_steps"]) else f"{row['median_steps'] / 1000:.1f}k"
        final = "—" if math.isnan(row["final_return"]) else f"{row['final_return']:.0f}"
        body.append((row["name"], f"{row['solved']}/{row['n']}", steps, final))
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(header, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


@dataclass
class StepSizes:
    """Per gradient step k ≥ 1 of a training run (step 0 is skipped: see step_sizes):
    param_step ‖θ_{k+1} − θ_k‖₂, kl the mean over the batch's states of KL(π_θk(·|s) ‖ π_θk+1(·|s)),
    mean_return of the batch the step was computed from. All (K,) arrays."""

    iteration: np.ndarray
    param_step: np.ndarray
    kl: np.ndarray
    mean_return: np.ndarray


def step_sizes(config: TrainConfig) -> StepSizes:
    """‖θ_{k+1} − θ_k‖ and E_s[KL(π_θk(·|s) ‖ π_θk+1(·|s))] over s in batch k, for every step of train(config).

    Uses train's callback, which sees the policy after each update: the copy kept from the
    previous call is θ_k, the policy that sampled batch k. Step 0 is skipped (its θ_0 is not
    seen) and so is a final batch that reached config.target_return (no step was taken).
    Taught in notebooks/10_capstone.ipynb.
    """
    rows = {"iteration": [], "param_step": [], "kl": [], "mean_return": []}
    previous = {}

    def measure(iteration, batch, history, policy):
        if "policy" in previous and math.isfinite(history.grad_norm[-1]):
            old = previous["policy"]
            obs = batch.obs[batch.mask]
            with torch.no_grad():
                kl = torch.distributions.kl_divergence(old.distribution(obs), policy.distribution(obs)).mean()
                step = torch.linalg.vector_norm(torch.cat([(p - q).reshape(-1) for p, q in
                                                           zip(policy.parameters(), old.parameters())]))
            rows["iteration"].append(iteration)
            rows["param_step"].append(float(step))
            rows["kl"].append(float(kl))
            rows["mean_return"].append(history.mean_return[-1])
        previous["policy"] = copy.deepcopy(policy)

    train(config, progress=False, callback=measure)
    return StepSizes(iteration=np.asarray(rows["iteration"], dtype=int),
                     **{k: np.asarray(v, dtype=float) for k, v in rows.items() if k != "iteration"})


# ---------------------------------------------------------------------------------------------
# bench/peers.py's results (its --json file)

PEERS_JSON = Path(__file__).resolve().parents[1] / "bench" / "peers.json"
"""Where notebook 10 looks for ``bench/peers.py --json bench/peers.json``'s output (in the repository checkout)."""

PEER_LABELS = {"pgcourse": "pgcourse REINFORCE (defaults)", "ppo": "SB3 PPO (zoo)", "a2c": "SB3 A2C (zoo)",
               "tianshou": "Tianshou Reinforce (test)"}


def load_peers(path=None) -> dict | None:
    """The JSON written by ``bench/peers.py --json FILE`` ({machine, settings, pgcourse_config, results}),
    or None if the file does not exist. path: default PEERS_JSON, the repository's bench/peers.json."""
    path = PEERS_JSON if path is None else Path(path)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    for key in ("machine", "results"):
        if key not in data:
            raise ValueError(f"{path} is not a bench/peers.py --json file: it has no {key!r} key")
    return data


def peer_rows(data: dict) -> list[dict]:
    """One row per system, in the order the results list them: label, source of the
    hyperparameters, solved (k/n), and median / min / max of wall seconds and env steps over the
    solved seeds (as bench/peers.py's table)."""
    systems = list(dict.fromkeys(r["system"] for r in data["results"]))
    settings = data.get("settings", {})
    rows = []
    for system in systems:
        runs = [r for r in data["results"] if r["system"] == system]
        ok = [r for r in runs if r["solved"]]
        source = settings.get(system, {}).get("source") or settings.get(system, {}).get("config", "")
        row = {"system": system, "label": PEER_LABELS.get(system, system), "source": source,
               "solved": len(ok), "n": len(runs)}
        for key in ("wall_s", "env_steps"):
            values = [float(r[key]) for r in ok]
            row[key] = ((statistics.median(values), min(values), max(values)) if values else None)
        rows.append(row)
    return rows


def _threads(n) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def machine_line(info: dict) -> str:
    """The machine the benchmark ran on, in bench/peers.py's words."""
    libs = ", ".join(f"{k} {info[k]}" for k in ("gymnasium", "numpy", "pgcourse", "stable_baselines3", "tianshou")
                     if k in info)
    load = "/".join(f"{x:.2f}" for x in info.get("loadavg_start", []))
    end = info.get("loadavg_end")
    git = f" (git {info['pgcourse_git']})" if info.get("pgcourse_git") else ""
    return (f"machine: nproc {info.get('nproc')}, {info.get('cpu')}, python {info.get('python')}, "
            f"torch {info.get('torch')} ({_threads(info.get('torch_threads'))}), {libs}{git}; load average at "
            f"start {load}" + (", at end " + "/".join(f"{x:.2f}" for x in end) if end else ""))


def peer_table_markdown(data: dict) -> str:
    """A Markdown table of peer_rows (median (min–max) over the solved seeds), then the machine line."""
    def cell(stat, spec):
        if stat is None:
            return "—"
        med, lo, hi = stat
        return f"{med:{spec}} ({lo:{spec}}–{hi:{spec}})"

    seeds = sorted({r["seed"] for r in data["results"]})
    lines = ["| system | hyperparameters from | solved | wall s, median (min–max) | env steps, median (min–max) |",
             "|---|---|---|---|---|"]
    for row in peer_rows(data):
        lines.append(f"| {row['label']} | {row['source']} | {row['solved']}/{row['n']} | "
                     f"{cell(row['wall_s'], '.2f')} | {cell(row['env_steps'], ',.0f')} |")
    criterion = data.get("settings", {}).get("criterion", "mean return of the last 16 finished training episodes >= 475")
    return ("\n".join(lines) + f"\n\nCartPole-v1, seeds {', '.join(map(str, seeds))}; solved = {criterion}; "
            f"statistics over the solved seeds.\n\n{machine_line(data['machine'])}")
