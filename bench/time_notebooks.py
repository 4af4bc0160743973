"""Execute every notebook top to bottom (as nbval does) and print its wall time.

    .venv/bin/python bench/time_notebooks.py [notebooks/03_reinforce.ipynb ...]

The budget: each notebook < 60 s on 2 cores, the whole course < 6 minutes.
Nothing is written back: the stored notebooks keep their outputs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_EACH, BUDGET_TOTAL = 60.0, 360.0


def time_notebook(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total, over = 0.0, []
    for path in paths:
        seconds = time_notebook(path)
        total += seconds
        flag = "" if seconds < BUDGET_EACH else "  OVER BUDGET"
        over += [path.name] if flag else []
        print(f"{path.name:<48} {seconds:6.1f} s{flag}", flush=True)
    print(f"{'total':<48} {total:6.1f} s (budget {BUDGET_TOTAL:.0f} s)")
    return 1 if over or total >= BUDGET_TOTAL else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
