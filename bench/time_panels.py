"""Time one press of every panel that trains, at its defaults, as a reader would press it.

    .venv/bin/python bench/time_panels.py [--presses 3]

Each panel is built headless and pressed ``--presses`` times (the first press of a process also
pays torch's warm-up); the script prints the wall and CPU seconds of every press and flags a
median press over the 3 s target. Read it beside ``uptime``: other jobs on the machine slow the
wall time, not the CPU time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time

TARGET = 3.0


def panels():
    """(notebook, builder): the panels whose button trains policies."""
    from pgcourse.lessons.nb10_capstone.panel import capstone_panel
    from pgcourse.lessons.nb04_continuous_actions.panel import continuous_bandit_panel
    from pgcourse.lessons.nb09_implementing_policy_gradients.panel import implementing_panel
    from pgcourse.lessons.nb03_reinforce.panel import reinforce_panel

    def imitation():
        from pgcourse.config import TrainConfig
        from pgcourse.reinforce import train
        from pgcourse.lessons.nb05_imitation_and_partial_observability.panel import imitation_panel

        expert, _ = train(TrainConfig(target_return=475), progress=False)   # as notebook 05 builds it
        return imitation_panel(expert)

    return [("03 reinforce", reinforce_panel), ("04 continuous actions", continuous_bandit_panel),
            ("05 imitation", imitation), ("09 implementing", implementing_panel), ("10 capstone", capstone_panel)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=3, help="presses per panel (default 3)")
    args = parser.parse_args(argv)
    if args.presses < 1:
        parser.error(f"--presses must be at least 1, got {args.presses}")
    print(f"load average {os.getloadavg()[0]:.2f}; target {TARGET:.0f} s per press")
    over = []
    for name, build in panels():
        panel = build()
        walls, cpus = [], []
        for _ in range(args.presses):
            wall, cpu = time.perf_counter(), time.process_time()
            with contextlib.redirect_stderr(io.StringIO()):   # the panels' progress bars
                panel.run()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        median = statistics.median(walls)
        flag = "" if median <= TARGET else "  OVER TARGET"
        over += [name] if flag else []
        print(f"{name:<24} wall {' '.join(f'{s:4.2f}' for s in walls)} s, "
              f"cpu {' '.join(f'{s:4.2f}' for s in cpus)} s{flag}", flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
