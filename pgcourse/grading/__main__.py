"""``python -m pgcourse.grading [--src notebooks] [--out assignments]`` (``make assignments``).

Bad input (a folder this build did not write, a notebook that cannot be read) prints one line and exits 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgcourse.grading",
                                     description="write the graded release: an nbgrader course folder, one "
                                                 "assignment per notebook, its checks autograded")
    parser.add_argument("--src", type=Path, default=Path("notebooks"))
    parser.add_argument("--out", type=Path, default=Path("assignments"),
                        help="the nbgrader course folder (default: assignments/); a rebuild replaces its source/ only")
    args = parser.parse_args(argv)
    from .assignments import make_assignments

    try:
        built = make_assignments(args.src, args.out)
    except ValueError as err:
        print(f"pgcourse.grading: error: {err}", file=sys.stderr)
        return 2
    cells = [(grade_id, hidden) for summary in built.values() for grade_id, hidden in summary]
    visible = [grade_id for grade_id, hidden in cells if not hidden]
    print(f"graded release: {len(built)} assignments in {args.out}/source, {len(cells)} autograded cells, "
          f"{len(cells) - len(visible)} of them with a hidden test of stored answers; graded by their visible "
          f"check alone: {', '.join(visible)}.\nNext, from {args.out}/: nbgrader generate_assignment <name>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
