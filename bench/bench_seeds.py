"""Wall time of K seeds trained at once (train_seeds) against K sequential train calls, in one run.

    .venv/bin/python bench/bench_seeds.py [--seeds 20] [--target 475] [--iterations 200] [--repeats 3]

Both sides train the same configurations (TrainConfig() with the target, seeds 0…K−1) on one torch
thread, on the same machine and in the same process, alternating so that a change of load hits both.
Prints each side's wall seconds, the ratio, and both sides' solve counts and median env steps (the
runs are the same runs: bit for bit where the CPU rounds a batched product as a lone one, tests/test_train_seeds.py), then
the median ratio over the repeats: single repeats on a shared 2-core VM vary by ±20 %.
A benchmark, not a test: seconds depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from pgcourse import TrainConfig, train
from pgcourse.seeds import train_seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="K, the number of seeds (0 … K−1)")
    parser.add_argument("--target", type=float, default=475.0)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = TrainConfig(target_return=args.target, iterations=args.iterations)
    seeds = list(range(args.seeds))
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"one thread; load average {os.getloadavg()[0]:.2f}")
    print(f"# {len(seeds)} seeds of {config}")
    train(TrainConfig(iterations=1, n_traj=2), progress=False)  # warm-up: torch's first-use costs,
    train_seeds(TrainConfig(iterations=1, n_traj=2), [0, 1], progress=False)  # for both code paths
    ratios = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        _, together = train_seeds(config, seeds, progress=False)
        t_together = time.perf_counter() - t0
        t0 = time.perf_counter()
        alone = [train(config, seed=s, progress=False)[1] for s in seeds]
        t_alone = time.perf_counter() - t0
        for name, hs, t in (("train_seeds", together, t_together), ("sequential train", alone, t_alone)):
            solved = sum(h.solved for h in hs)
            steps = statistics.median(h.env_steps[-1] for h in hs)
            print(f"{name:<17} {t:7.2f} s   solved {solved}/{len(hs)}   median env steps {steps:,.0f}")
        ratios.append(t_together / t_alone)
        print(f"ratio train_seeds / sequential: {ratios[-1]:.2f} (repeat {r + 1})")
    print(f"median ratio over {len(ratios)} repeats: {statistics.median(ratios):.2f} (target ≤ 0.33)")


if __name__ == "__main__":
    main()
