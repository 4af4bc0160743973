"""``python -m pgcourse.grading [--src notebooks] [--out build/assignments]`` (``make assignments``).

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
    parser.add_argument("--out", type=Path, default=Path("build/assignments"))
    args = parser.parse_args(argv)
    from .assignments import make_assignments

    try:
        built = make_assignments(args.src, args.out)
    except ValueError as err:
        print(f"pgcourse.grading: error: {err}", file=sys.stderr)
        return 2
    cells = [hidden for summary in built.values() for _, hidden in summary]
    print(f"graded release: {len(built)} assignments in {args.out}/source, {len(cells)} autograded cells "
          f"({sum(cells)} with hidden tests of stored answers). Next, from {args.out}: "
          "nbgrader generate_assignment <name>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
