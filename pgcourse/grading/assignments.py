"""The graded release: an nbgrader course folder built from the teacher's notebooks.

``make_assignments(src, dst)`` (``python -m pgcourse.grading``, ``make assignments``) writes

    dst/nbgrader_config.py                  course_id "pgcourse", the folder is the course root
    dst/source/NN_topic/NN_topic.ipynb      one assignment per notebook

Each source notebook is the teacher's edition, outputs cleared and the test harness's ``# NBVAL_…`` lines
removed, with nbgrader's cell metadata:

* a cell holding ``### BEGIN SOLUTION … ### END SOLUTION`` is a solution cell (ungraded, editable);
  ``nbgrader generate_assignment`` replaces each region by nbgrader's stub, as the student edition does;
* a cell that ends in a course checker call, ``check_x(fn)``, is an autograded test cell worth one point
  and locked: the call becomes ``assert check_x(fn)``, so a failed check fails the cell. Where the checker
  compares with reference code (``check_function``, ``check_loss``), the cell also gets a hidden test that
  judges ``fn`` against the reference's answers stored as numbers (``pgcourse.ui.graded``): the grade then
  rests on those numbers, which stay in the source folder and never reach students.

A checker of a property or a prediction (notebook 06's negative cross term, the predict-then-check
exercises) and one whose cases are objects rather than numbers (notebook 00's episodes) is graded by
its visible check alone; ``hidden_tests_missing`` lists them.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
from pathlib import Path

from pgcourse.course import BEGIN, END, NBVAL_MARKER, _check_out, _read_notebook, _staged, notebooks

__all__ = ["CHECK_CALL", "graded_notebook", "make_assignments", "hidden_test", "NBGRADER_CONFIG"]

CHECK_CALL = re.compile(r"^(check_\w+)\(([A-Za-z_]\w*)\)[ \t]*$")
"""A checker cell's last line: a course checker called on the reader's function, nothing else."""
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
NBGRADER_CONFIG = '''# nbgrader's settings for the pgcourse graded release (written by python -m pgcourse assignments).
# Run nbgrader from this folder: nbgrader generate_assignment 03_reinforce, then collect and autograde.
c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = "pgcourse"
c.CourseDirectory.root = "."
'''


def _lesson_checks(stem: str):
    """The checks module of notebook ``stem`` (``03_reinforce`` → pgcourse.lessons.nb03_reinforce.checks)."""
    return importlib.import_module(f"pgcourse.lessons.nb{stem.lower()}.checks")


def hidden_test(checker, fn_name: str) -> str | None:
    """The hidden test for ``checker`` applied to the reader's ``fn_name``: stored answers, or None when the
    checker does not compare with a reference (a property, a prediction) or its cases are not numbers."""
    from pgcourse.ui.checks import recording
    from pgcourse.ui.graded import encode

    def not_written(*args, **kwargs):
        raise NotImplementedError

    with recording() as records, contextlib.redirect_stdout(io.StringIO()):
        checker(not_written)
    if len(records) != 1:
        return None
    try:
        blob = encode(records[0])
    except ValueError:
        return None
    return "\n".join([HIDDEN_BEGIN, "from pgcourse.ui.graded import stored_check",
                      f'assert stored_check({fn_name}, "{blob}")', HIDDEN_END])


def _meta(grade_id: str, *, solution: bool, grade: bool, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def graded_notebook(nb, stem: str):
    """A copy of notebook ``nb`` (nbformat) as an nbgrader source notebook; returns (notebook, summary)
    where summary lists the graded cells as (grade_id, has hidden test)."""
    import copy

    nb = copy.deepcopy(nb)
    checks = _lesson_checks(stem)
    summary, seen = [], set()
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.source = NBVAL_MARKER.sub("", cell.source)
        cell.outputs, cell.execution_count = [], None
        lines = cell.source.rstrip().split("\n")
        call = CHECK_CALL.match(lines[-1].strip()) if lines else None
        if BEGIN in cell.source or END in cell.source:
            cell.metadata["nbgrader"] = _meta(f"{stem}-solution-{number}", solution=True, grade=False)
        elif call and hasattr(checks, call.group(1)):
            checker, fn_name = call.groups()
            grade_id = f"{stem}-{checker}"
            if grade_id in seen:
                grade_id += f"-{number}"
            seen.add(grade_id)
            hidden = hidden_test(getattr(checks, checker), fn_name)
            lines[-1] = f"assert {checker}({fn_name}), 'the check above failed: its line says why'"
            cell.source = "\n".join(lines + ([hidden] if hidden else []))
            cell.metadata["nbgrader"] = _meta(grade_id, solution=False, grade=True, points=1)
            summary.append((grade_id, hidden is not None))
    return nb, summary


def make_assignments(src="notebooks", dst="build/assignments") -> dict[str, list[tuple[str, bool]]]:
    """Write the nbgrader course folder for every notebook in ``src`` to ``dst``: {notebook stem: its graded
    cells as (grade_id, has hidden test)}. Built aside and moved into place only when every notebook succeeded."""
    import nbformat

    src, dst = Path(src), Path(dst)
    _check_out(src, dst, ("nbgrader_config.py", "source"))
    built = {path.stem: graded_notebook(_read_notebook(path), path.stem) for path in notebooks(src)}
    with _staged(dst) as tmp:
        (tmp / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
        for stem, (nb, _) in built.items():
            (tmp / "source" / stem).mkdir(parents=True)
            nbformat.write(nb, tmp / "source" / stem / f"{stem}.ipynb")
    return {stem: summary for stem, (_, summary) in built.items()}
