"""Command line: ``python -m pgcourse train ...`` and ``python -m pgcourse evaluate ...``.

Bad input prints one line ``pgcourse: error: ...`` to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import fields
from pathlib import Path


from .train import TrainConfig


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (argparse prints usage too)
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _defaults():
    return {f.name: f.default for f in fields(TrainConfig)}


def build_parser() -> argparse.ArgumentParser:
    d = _defaults()
    parser = _Parser(prog="pgcourse", description="Policy-gradient course: train and evaluate REINFORCE policies.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a policy with REINFORCE")
    t.add_argument("--env", dest="env_id", default=d["env_id"], help="gymnasium id (default %(default)s)")
    t.add_argument("--weights", default=d["weights"], help="total_return | reward_to_go (default %(default)s)")
    t.add_argument("--baseline", default=d["baseline"], help="none | mean | value (default %(default)s)")
    t.add_argument("--normalise", action=argparse.BooleanOptionalAction, default=d["normalise"],
                   help="normalise the weights per batch (default %(default)s)")
    t.add_argument("--n-traj", type=int, default=d["n_traj"], help="trajectories per batch N (default %(default)s)")
    t.add_argument("--lr", type=float, default=d["lr"], help="learning rate (default %(default)s)")
    t.add_argument("--optimizer", default=d["optimizer"], help="sgd | adam (default %(default)s)")
    t.add_argument("--gamma", type=float, default=d["gamma"], help="discount in [0, 1] (default %(default)s)")
    t.add_argument("--hidden", type=int, nargs="*", default=list(d["hidden"]), help="hidden sizes (default %(default)s)")
    t.add_argument("--iterations", type=int, default=d["iterations"], help="max gradient steps (default %(default)s)")
    t.add_argument("--seed", type=int, default=d["seed"])
    t.add_argument("--target-return", type=float, default=None,
                   help="stop when the mean return of the last 16 finished episodes reaches this")
    t.add_argument("--policy", default=d["policy"], help="auto | categorical | gaussian (default %(default)s)")
    t.add_argument("--out", type=Path, default=None, help="folder for history.csv, learning_curve.png and the policy")
    t.add_argument("--json", action="store_true", help="print one final JSON line")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    e = sub.add_parser("evaluate", help="run fresh episodes with a saved policy")
    e.add_argument("--policy", dest="policy_dir", type=Path, required=True, help="folder written by train --out")
    e.add_argument("--episodes", type=int, default=16)
    e.add_argument("--seed", type=int, default=12345)
    e.add_argument("--greedy", action="store_true", help="take argmax / mean actions instead of sampling")
    e.add_argument("--json", action="store_true", help="print one JSON line")

    st = sub.add_parser("student", help="write the student edition (solutions replaced by stubs)")
    st.add_argument("--src", type=Path, default=Path("notebooks"))
    st.add_argument("--out", type=Path, default=Path("build/student"))

    si = sub.add_parser("site", help="build the static HTML course from the stored notebooks")
    si.add_argument("--src", type=Path, default=Path("notebooks"))
    si.add_argument("--out", type=Path, default=Path("build/site"))
    return parser


def _train(args) -> int:
    from .io import save_policy
    from .plots import save_learning_curve
    from .train import train

    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: (tuple(v) if k == "hidden" else v) for k, v in vars(args).items() if k in names})
    policy, history = train(config, progress=False if (args.no_progress or args.json) else None)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        history.to_csv(args.out / "history.csv")
        save_learning_curve(history, args.out / "learning_curve.png",
                            title=f"REINFORCE on {config.env_id} (seed {config.seed})", target=config.target_return)
        save_policy(policy, config, args.out)
    summary = history.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'solved' if summary['solved'] else 'finished'}: {summary['iterations']} iterations, "
              f"{summary['env_steps']} env steps, {summary['wall_s']:.2f} s, final mean return "
              f"{summary['final_return']:.1f}" + (f"; saved to {args.out}" if args.out else ""))
    return 0


def evaluate(policy, env_id: str, episodes: int = 16, seed: int = 0, greedy: bool = False) -> dict:
    """Mean return ± standard error of ``episodes`` fresh episodes (sampled actions unless greedy)."""
    from ._validate import check_positive_int
    from .batch import sample_batch

    episodes = check_positive_int("episodes", episodes)
    rets = sample_batch(env_id, policy, n_traj=episodes, seed=seed, greedy=greedy).returns().double()
    stderr = float(rets.std() / math.sqrt(episodes)) if episodes > 1 else 0.0
    return {"mean_return": float(rets.mean()), "stderr": stderr, "episodes": episodes}


def _evaluate(args) -> int:
    from .io import load_policy

    policy, config = load_policy(args.policy_dir)
    result = evaluate(policy, config.env_id, args.episodes, args.seed, args.greedy)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{config.env_id}: mean return {result['mean_return']:.1f} ± {result['stderr']:.1f} "
              f"over {result['episodes']} episodes")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "student":
            from .course import make_student

            written = make_student(args.src, args.out)
            print(f"student edition: {len(written)} notebooks in {args.out}")
            return 0
        if args.command == "site":
            from .course import build_site

            print(f"static site: {build_site(args.src, args.out)}")
            return 0
        return _train(args) if args.command == "train" else _evaluate(args)
    except (_UsageError, ValueError) as err:
        message = " ".join(str(err).split())
        print(f"pgcourse: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
