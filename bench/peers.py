#!/usr/bin/env python
"""Side-by-side benchmark on CartPole-v1: pgcourse's REINFORCE against peer libraries.

Every system is trained per seed in this one process, on this one machine, and stopped by the
same criterion: the mean return of the last 16 finished training episodes reaches 475.

    wall s     from the start of model/environment construction to the moment the criterion
               is met (Python imports excluded);
    env steps  environment transitions consumed by training up to that moment.

Systems (hyperparameters are the constants below, with their sources):

    pgcourse   pgcourse.TrainConfig() defaults, target_return=475 (history.summary())
    ppo        Stable-Baselines3 PPO, RL Zoo hyperparams/ppo.yml CartPole-v1
    a2c        Stable-Baselines3 A2C, RL Zoo hyperparams/a2c.yml CartPole-v1
    tianshou   Tianshou Reinforce, settings of test/discrete/test_reinforce.py (ex test_pg.py)

The criterion is checked where each system can stop: SB3 after every vector-env step (callback
on the Monitor episode infos), pgcourse and Tianshou after every batch of whole episodes (before
the update). Statistics in the table are over the solved seeds. Every system runs torch on the
same number of threads (--torch-threads, default 1: pgcourse's train runs on one thread itself,
and on a shared 2-core machine a 2-thread torch slows these tiny networks by up to 20x).

    .venv-bench/bin/python bench/peers.py
    .venv-bench/bin/python bench/peers.py --seeds 0 1 --systems pgcourse ppo --json out.json

The peer libraries are imported only for the systems asked for, so ``--systems pgcourse`` runs
with the main environment alone.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

ENV_ID = "CartPole-v1"
TARGET = 475.0
WINDOW = 16
SYSTEMS = ("pgcourse", "ppo", "a2c", "tianshou")
INSTALL_HINT = "install the bench extra: pip install -c requirements/constraints.txt -e '.[bench]'"

# pgcourse: TrainConfig() defaults; only the stopping target and the iteration budget are set.
PGCOURSE_ITERATIONS = 500

# RL Baselines3 Zoo, hyperparams/ppo.yml, entry "CartPole-v1" ("# Tuned").
# lin_X means the zoo's linear_schedule(X): value = progress_remaining * X, where
# progress_remaining = 1 - num_timesteps / n_timesteps, so n_timesteps is the learn() budget.
PPO_ZOO = {
    "n_envs": 8,
    "n_timesteps": 100_000,
    "policy": "MlpPolicy",
    "n_steps": 32,
    "batch_size": 256,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "learning_rate": "lin_0.001",
    "clip_range": "lin_0.2",
}

# RL Baselines3 Zoo, hyperparams/a2c.yml, entry "CartPole-v1"; everything else is SB3's A2C
# default (n_steps 5, lr 7e-4 constant, gamma 0.99, gae_lambda 1.0, RMSprop, vf_coef 0.5,
# max_grad_norm 0.5, normalize_advantage False).
A2C_ZOO = {
    "n_envs": 8,
    "n_timesteps": 500_000,
    "policy": "MlpPolicy",
    "ent_coef": 0.0,
}

# Tianshou test/discrete/test_reinforce.py (test_pg.py before 2.0) argparse defaults for
# CartPole-v1. The test's own stop rule (mean test return >= 195 on 100 test episodes) is
# replaced by the common criterion on the training collector's episodes; no test collector.
TIANSHOU_TEST = {
    "buffer_size": 20_000,
    "lr": 1e-3,
    "gamma": 0.95,
    "episode_per_collect": 8,
    "repeat_per_collect": 2,
    "batch_size": 64,
    "hidden_sizes": [64, 64],
    "training_num": 8,
    "rew_norm": True,
}
TIANSHOU_MAX_STEPS = 500_000


class MissingLibrary(RuntimeError):
    pass


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingLibrary(f"{module} is not importable ({err}); {INSTALL_HINT}") from None


SCHEDULE_KEYS = ("learning_rate", "clip_range", "clip_range_vf")  # the keys the zoo turns into schedules


def _zoo_schedule(value):
    """The zoo's hyperparameter strings: "lin_X" -> X * progress_remaining; a number stays a number."""
    if isinstance(value, str):
        kind, initial = value.split("_", 1)
        if kind != "lin":
            raise ValueError(f"unsupported schedule {value!r}")
        initial = float(initial)

        def linear(progress_remaining: float) -> float:
            return progress_remaining * initial

        return linear
    return value


class _Window:
    """Returns of the last WINDOW finished episodes and the stopping test."""

    def __init__(self):
        self.returns = collections.deque(maxlen=WINDOW)
        self.episodes = 0

    def add(self, ret: float):
        self.returns.append(float(ret))
        self.episodes += 1

    @property
    def mean(self) -> float:
        return float(sum(self.returns) / len(self.returns)) if self.returns else float("nan")

    def solved(self) -> bool:
        return len(self.returns) == WINDOW and self.mean >= TARGET


# --------------------------------------------------------------------------------------------
# systems: each returns {"solved", "wall_s", "env_steps", "episodes", "window_mean", ...}


def run_pgcourse(seed: int, args) -> dict:
    from pgcourse import TrainConfig, train

    config = TrainConfig(seed=seed, target_return=TARGET, iterations=args.pg_iterations)
    start = time.perf_counter()
    policy, history = train(config, progress=False)
    outer = time.perf_counter() - start
    summary = history.summary()
    if args.save_dir is not None:
        _save_pgcourse(policy, config, history, Path(args.save_dir) / f"seed{seed}")
    return {"solved": summary["solved"], "wall_s": summary["wall_s"], "env_steps": summary["env_steps"],
            "episodes": summary["iterations"] * config.n_traj, "iterations": summary["iterations"],
            "window_mean": summary["final_return"], "wall_s_outer": round(outer, 3),
            "budget": f"{config.iterations} iterations"}


def _save_pgcourse(policy, config, history, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    try:  # the CLI's saving (pgcourse train --out DIR) when this pgcourse has it
        from pgcourse.io import save_policy
    except ImportError:
        import torch

        torch.save(policy.state_dict(), out / "policy.pt")
        (out / "config.json").write_text(config.to_json() + "\n")
    else:
        save_policy(policy, config, out)
    history.to_csv(out / "history.csv")


def _run_sb3(algo: str, zoo: dict, seed: int, args) -> dict:
    sb3 = _require("stable_baselines3")
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    model_cls = getattr(sb3, algo)
    hyper = {k: (_zoo_schedule(v) if k in SCHEDULE_KEYS else v) for k, v in zoo.items()
             if k not in ("n_envs", "n_timesteps")}
    max_wall = args.max_wall

    class StopAtTarget(BaseCallback):
        """Collects Monitor episode returns; stops learn() when the last-16 mean reaches 475."""

        def __init__(self, start: float):
            super().__init__()
            self.start = start
            self.window = _Window()
            self.result = None

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                episode = info.get("episode")
                if episode is not None:
                    self.window.add(episode["r"])
            if self.window.solved():
                self.result = (True, time.perf_counter() - self.start, self.num_timesteps)
                return False
            if time.perf_counter() - self.start > max_wall:
                self.result = (False, time.perf_counter() - self.start, self.num_timesteps)
                return False
            return True

    start = time.perf_counter()
    # as the zoo builds it: make_vec_env (Monitor-wrapped envs in a DummyVecEnv), seeded
    env = make_vec_env(ENV_ID, n_envs=zoo["n_envs"], seed=seed, vec_env_cls=DummyVecEnv)
    model = model_cls(env=env, seed=seed, verbose=0, device="cpu", **hyper)
    callback = StopAtTarget(start)
    model.learn(total_timesteps=zoo["n_timesteps"], callback=callback, progress_bar=False)
    if callback.result is None:  # budget exhausted
        callback.result = (False, time.perf_counter() - start, model.num_timesteps)
    env.close()
    solved, wall, steps = callback.result
    return {"solved": solved, "wall_s": round(wall, 3), "env_steps": int(steps),
            "episodes": callback.window.episodes, "window_mean": callback.window.mean,
            "budget": f"{zoo['n_timesteps']} steps or {max_wall:g} s"}


def run_ppo(seed: int, args) -> dict:
    return _run_sb3("PPO", PPO_ZOO, seed, args)


def run_a2c(seed: int, args) -> dict:
    return _run_sb3("A2C", A2C_ZOO, seed, args)


def run_tianshou(seed: int, args) -> dict:
    _require("tianshou")
    import gymnasium as gym
    import numpy as np
    import torch
    from tianshou.algorithm import Reinforce
    from tianshou.algorithm.modelfree.reinforce import ProbabilisticActorPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Collector, CollectStats, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.utils.net.common import Net
    from tianshou.utils.torch_utils import policy_within_training_step

    p = TIANSHOU_TEST
    start = time.perf_counter()
    env = gym.make(ENV_ID)
    train_envs = DummyVectorEnv([lambda: gym.make(ENV_ID) for _ in range(p["training_num"])])
    np.random.seed(seed)
    torch.manual_seed(seed)
    train_envs.seed(seed)
    net = Net(state_shape=env.observation_space.shape, action_shape=int(env.action_space.n),
              hidden_sizes=p["hidden_sizes"], softmax=True)
    policy = ProbabilisticActorPolicy(actor=net, dist_fn=torch.distributions.Categorical,
                                      action_space=env.action_space, action_scaling=False)
    algorithm = Reinforce(policy=policy, optim=AdamOptimizerFactory(lr=p["lr"]), gamma=p["gamma"],
                          return_standardization=p["rew_norm"])
    for m in net.modules():  # as the test: orthogonal initialisation
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.orthogonal_(m.weight, gain=np.sqrt(2))
            torch.nn.init.zeros_(m.bias)
    collector = Collector[CollectStats](algorithm, train_envs,
                                        VectorReplayBuffer(p["buffer_size"], len(train_envs)))
    collector.reset()
    window, steps, solved = _Window(), 0, False
    # OnPolicyTrainer's training step, with the common stop rule in place of test_in_train
    while steps < args.tianshou_max_steps and time.perf_counter() - start <= args.max_wall:
        with policy_within_training_step(algorithm.policy):
            stats = collector.collect(n_episode=p["episode_per_collect"])
            steps += int(stats.n_collected_steps)
            for ret in np.asarray(stats.returns).ravel():
                window.add(ret)
            if window.solved():
                solved = True
                break
            algorithm.update(buffer=collector.buffer, batch_size=p["batch_size"],
                             repeat=p["repeat_per_collect"])
        collector.reset_buffer(keep_statistics=True)
    wall = time.perf_counter() - start
    train_envs.close()
    env.close()
    return {"solved": solved, "wall_s": round(wall, 3), "env_steps": steps, "episodes": window.episodes,
            "window_mean": window.mean, "budget": f"{args.tianshou_max_steps} steps or {args.max_wall:g} s"}


RUNNERS = {"pgcourse": run_pgcourse, "ppo": run_ppo, "a2c": run_a2c, "tianshou": run_tianshou}
LIBRARY = {"ppo": "stable_baselines3", "a2c": "stable_baselines3", "tianshou": "tianshou"}
LABEL = {"pgcourse": "pgcourse REINFORCE (defaults)", "ppo": "SB3 PPO (zoo)", "a2c": "SB3 A2C (zoo)",
         "tianshou": "Tianshou Reinforce (test)"}


# --------------------------------------------------------------------------------------------
# machine and report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:
        return None


def _git_describe() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict:
    import torch

    info = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "pgcourse_git": _git_describe(),
    }
    for name, module in (("gymnasium", "gymnasium"), ("numpy", "numpy"), ("pgcourse", "pgcourse"),
                         ("stable_baselines3", "stable_baselines3"), ("tianshou", "tianshou")):
        version = _version(module)
        if version is not None:
            info[name] = version
    return info


def machine_line(info: dict) -> str:
    libs = ", ".join(f"{k} {info[k]}" for k in ("gymnasium", "numpy", "pgcourse", "stable_baselines3", "tianshou")
                     if k in info)
    load = "/".join(f"{x:.2f}" for x in info["loadavg_start"])
    git = f" (git {info['pgcourse_git']})" if info.get("pgcourse_git") else ""
    return (f"machine: nproc {info['nproc']}, {info['cpu']}, python {info['python']}, torch {info['torch']} "
            f"({info['torch_threads']} threads), {libs}{git}; load average at start {load}")


def _fmt(values, spec: str) -> str:
    if not values:
        return "—"
    return f"{statistics.median(values):{spec}} / {min(values):{spec}} / {max(values):{spec}}"


def table(results: list[dict], systems) -> str:
    header = ("system", "solved", "wall s (median / min / max)", "env steps (median / min / max)")
    rows = []
    for system in systems:
        runs = [r for r in results if r["system"] == system]
        ok = [r for r in runs if r["solved"]]
        rows.append((LABEL[system], f"{len(ok)}/{len(runs)}", _fmt([r["wall_s"] for r in ok], ".2f"),
                     _fmt([r["env_steps"] for r in ok], ",.0f")))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(header, widths)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def settings(args) -> dict:
    return {
        "env_id": ENV_ID, "criterion": f"mean return of the last {WINDOW} finished training episodes >= {TARGET:g}",
        "pgcourse": {"config": "TrainConfig() defaults", "target_return": TARGET,
                     "iterations": args.pg_iterations},
        "ppo": {"source": "rl-baselines3-zoo hyperparams/ppo.yml CartPole-v1", **PPO_ZOO,
                "max_wall_s": args.max_wall},
        "a2c": {"source": "rl-baselines3-zoo hyperparams/a2c.yml CartPole-v1 (rest: SB3 A2C defaults)", **A2C_ZOO,
                "max_wall_s": args.max_wall},
        "tianshou": {"source": "tianshou test/discrete/test_reinforce.py (test_pg.py) defaults", **TIANSHOU_TEST,
                     "max_steps": args.tianshou_max_steps, "max_wall_s": args.max_wall},
    }


def _pgcourse_config(args) -> dict:
    try:
        from pgcourse import TrainConfig

        return asdict(TrainConfig(target_return=TARGET, iterations=args.pg_iterations))
    except Exception:  # pragma: no cover
        return {}


def warm_up():
    """Untimed: the imports that torch and gymnasium make on first use, not at import time.

    torch's first optimizer construction imports torch._dynamo (~800 modules, 1-3 s here); without
    this it would land in whichever run builds the first optimizer of the process.
    """
    import gymnasium as gym
    import torch

    param = torch.nn.Parameter(torch.zeros(2))
    for optimizer in (torch.optim.Adam([param], lr=1e-3), torch.optim.RMSprop([param], lr=1e-3)):
        optimizer.zero_grad()
        (param ** 2).sum().backward()
        optimizer.step()
    gym.make(ENV_ID).close()
    spec = gym.spec(ENV_ID)
    if spec.vector_entry_point is not None:
        gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point").close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--json", type=Path, default=None, help="write the raw per-seed results here")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="save pgcourse's policy per seed to DIR/seed{s}/ (policy.pt, config.json, history.csv)")
    parser.add_argument("--max-wall", type=float, default=300.0,
                        help="wall-second cap of one SB3 or Tianshou run (default 300)")
    parser.add_argument("--tianshou-max-steps", type=int, default=TIANSHOU_MAX_STEPS,
                        help=f"env-step budget of one Tianshou run (default {TIANSHOU_MAX_STEPS})")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch.set_num_threads for every system (default 1, as pgcourse's train uses; "
                             "0 = leave torch's default)")
    parser.add_argument("--pg-iterations", type=int, default=PGCOURSE_ITERATIONS,
                        help=f"iteration budget of one pgcourse run (default {PGCOURSE_ITERATIONS})")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    systems = list(dict.fromkeys(args.systems))
    try:  # every import up front: a missing library fails before any run, and no import is timed
        _require("pgcourse")
        for system in systems:
            if system in LIBRARY:
                _require(LIBRARY[system])
    except MissingLibrary as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if args.torch_threads > 0:
        import torch

        torch.set_num_threads(args.torch_threads)
    warm_up()
    info = machine_info()
    print(machine_line(info), flush=True)
    if info["loadavg_start"][0] > 0.5:
        print(f"warning: load average {info['loadavg_start'][0]:.2f} at start; other processes will "
              f"inflate the wall times", file=sys.stderr, flush=True)
    results = []
    for seed in args.seeds:  # interleaved, so slow drifts in machine load hit every system alike
        for system in systems:
            cpu = time.process_time()
            result = {"system": system, "seed": seed, **RUNNERS[system](seed, args)}
            result["cpu_s_process"] = round(time.process_time() - cpu, 3)
            results.append(result)
            print(f"  {system:<9} seed {seed}: {'solved' if result['solved'] else 'NOT solved'} "
                  f"wall {result['wall_s']:.2f} s, {result['env_steps']} env steps, "
                  f"{result['episodes']} episodes, last-{WINDOW} mean {result['window_mean']:.1f}", flush=True)

    info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print()
    print(f"CartPole-v1, seeds {' '.join(map(str, args.seeds))}; solved = mean return of the last {WINDOW} "
          f"finished training episodes >= {TARGET:g}; wall s and env steps up to that moment (solved seeds only)")
    print(table(results, systems))
    print(machine_line(info) + ", at end " + "/".join(f"{x:.2f}" for x in info["loadavg_end"]))
    if args.json is not None:
        out = {"machine": info, "settings": settings(args), "pgcourse_config": _pgcourse_config(args),
               "results": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"raw results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
