"""Command line: ``python -m pgcourse train ...`` and ``python -m pgcourse evaluate ...``.

Bad input prints one line ``pgcourse: error: ...`` to stderr and exits with status 2; so do a folder
that cannot be written and a run too large for memory. An unexpected failure inside the course prints
one line too and exits with status 1. Ctrl-C (SIGINT) or SIGTERM during ``train`` ends the run after
the current iteration: what it has is saved to ``--out``, one line says so, and the exit status is
130 or 143 (128 + the signal's number, the shell's convention).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import typing
from dataclasses import fields
from pathlib import Path


from .config import TrainConfig

__all__ = ["field_docs", "ALIASES", "add_config_options", "config_from_args", "build_parser", "evaluate", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (argparse prints usage too)
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def field_docs(cls=None) -> dict[str, str]:
    """Each dataclass field's docstring (the string literal under it in the class body), read with ast."""
    import ast
    import inspect
    import textwrap

    cls = TrainConfig if cls is None else cls
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


ALIASES = {"env_id": ["--env"]}
"""Short spellings kept for the README's commands."""


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field: --field-name, its type, its default, and its docstring as help."""
    docs = field_docs()
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        optional = type(None) in typing.get_args(kind)
        base = next((a for a in typing.get_args(kind) if a is not type(None)), kind) if optional else kind
        kwargs = {"dest": f.name, "default": f.default,
                  "help": docs.get(f.name, "").replace("%", "%%") + " (default: %(default)s)"}
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(base) is tuple:
            kwargs.update(type=typing.get_args(base)[0], nargs="+", default=list(f.default))
        else:
            kwargs["type"] = base
        parser.add_argument(flag, *ALIASES.get(f.name, []), **kwargs)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig a parsed ``train`` command line asks for."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    values["hidden"] = tuple(values["hidden"])
    return TrainConfig(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pgcourse", description="Policy-gradient course: train and evaluate REINFORCE policies.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a policy with REINFORCE")
    add_config_options(t)
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

    ws = sub.add_parser("workspace", help="the learner's workspace: the student edition, copied once, never "
                                          "overwritten (make lab)")
    ws.add_argument("--src", type=Path, default=Path("notebooks"))
    ws.add_argument("--out", type=Path, default=Path("work"))

    pr = sub.add_parser("progress", help="the exercises you passed in your workspace, notebook by notebook")
    pr.add_argument("--work", type=Path, default=Path("work"))

    si = sub.add_parser("site", help="build the static HTML course from the stored notebooks")
    si.add_argument("--src", type=Path, default=Path("notebooks"))
    si.add_argument("--out", type=Path, default=Path("build/site"))
    return parser


_EXIT = {"SIGINT": 130, "SIGTERM": 143}


def _train(args) -> int:
    from .io import prepare_out_dir, save_run
    from .reinforce import train

    config = config_from_args(args)
    if args.out is not None:
        prepare_out_dir(args.out)  # before training: a bad --out costs nothing
    policy, history = train(config, progress=False if (args.no_progress or args.json) else None)
    if args.out is not None:
        save_run(args.out, policy, config, history)
    summary = history.summary()
    if history.interrupted:
        if args.json:
            print(json.dumps(summary))
        saved = f"; saved to {args.out}" if args.out else " (no --out: nothing saved)"
        print(f"pgcourse: interrupted by {history.interrupt_signal} after {summary['iterations']} iterations"
              f"{saved}", file=sys.stderr)
        return _EXIT[history.interrupt_signal]
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{'solved' if summary['solved'] else 'finished'}: {summary['iterations']} iterations, "
              f"{summary['env_steps']} env steps, {summary['wall_s']:.2f} s, final mean return "
              f"{summary['final_return']:.1f}" + (f"; saved to {args.out}" if args.out else ""))
    return 0


def evaluate(policy, env_id: str, episodes: int = 16, seed: int = 0, greedy: bool = False) -> dict:
    """Mean return ± standard error of ``episodes`` fresh episodes (sampled actions unless greedy)."""
    from ._validate import MAX_BATCH, check_positive_int, check_seed
    from .batch import sample_batch

    episodes = check_positive_int("episodes", episodes, maximum=MAX_BATCH)
    seed = check_seed(seed)
    rets = sample_batch(env_id, policy, n_traj=episodes, seed=seed, greedy=greedy).returns().double()
    stderr = float(rets.std() / math.sqrt(episodes)) if episodes > 1 else 0.0
    return {"mean_return": float(rets.mean()), "stderr": stderr, "episodes": episodes}


def _evaluate(args) -> int:
    from ._validate import MAX_BATCH, check_positive_int, check_seed
    from .io import load_policy

    check_seed(args.seed)
    check_positive_int("episodes", args.episodes, maximum=MAX_BATCH)
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
        if args.command == "workspace":
            from .course import make_workspace

            print(make_workspace(args.src, args.out).summary())
            return 0
        if args.command == "progress":
            from .course import progress_table

            print(progress_table(args.work))
            return 0
        if args.command == "site":
            from .course import build_site

            print(f"static site: {build_site(args.src, args.out)}")
            return 0
        return _train(args) if args.command == "train" else _evaluate(args)
    except (_UsageError, ValueError) as err:
        return _fail(err, 2)
    except OSError as err:  # a folder that cannot be written, a full disk
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        return _fail(f"{err.strerror or err}{where}", 2)
    except MemoryError:
        return _fail("out of memory; lower n_traj or hidden", 2)
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside training
        print("pgcourse: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a fault inside the course: one line, not a traceback
        return _fail(f"internal error ({type(err).__name__}: {err}); please report it", 1)


def _fail(err, status: int) -> int:
    message = " ".join(str(err).split())
    print(f"pgcourse: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
