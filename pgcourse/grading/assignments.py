"""The graded release: an nbgrader course folder built from the teacher's notebooks.

``make_assignments(src, dst)`` (``python -m pgcourse.grading``, ``make assignments``) writes

    dst/nbgrader_config.py                  course_id "pgcourse", the folder is the course root
    dst/source/NN_topic/NN_topic.ipynb      one assignment per notebook

Each source notebook is the teacher's edition, outputs cleared and the test harness's ``# NBVAL_…`` lines
removed, with nbgrader's cell metadata:

* a cell holding ``### BEGIN SOLUTION … ### END SOLUTION`` is a solution cell (ungraded, editable);
  ``nbgrader generate_assignment`` replaces each region by nbgrader's stub, as the student edition does;
* a cell that ends in a course checker call, ``check_x(fn)``, is an autograded test cell worth one point
  and locked: it imports the checker afresh from the course and calls ``.require()`` on its result, so a
  failed check (or a checker redefined in a student's cell) fails the cell, with one line and no traceback
  (``CheckFailed``: a traceback would show the source around it, hidden tests included). Where the checker compares with expected values
  computed by reference code (``check_function``, ``check_loss``), the cell also gets a hidden test that
  judges ``fn`` against the reference's answers stored as numbers (``pgcourse.ui.graded``). Those numbers
  stay in the source folder: nbgrader strips hidden tests from the release, and the generated
  ``nbgrader_config.py`` strips them from the feedback too.

A rebuild into an existing course folder replaces its ``source/`` only: the gradebook, releases,
submissions and feedback nbgrader wrote there are kept.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

from pgcourse.course import BEGIN, END, NBVAL_MARKER, _read_notebook, notebooks, strip_solutions

__all__ = ["CHECK_CALL", "graded_notebook", "make_assignments", "hidden_test", "NBGRADER_CONFIG", "Graded"]

CHECK_CALL = re.compile(r"^(check_\w+)\(([A-Za-z_]\w*)\)[ \t]*$")
"""A checker cell's last line: a course checker called on the reader's function, nothing else."""
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CONFIG_MARK = "# nbgrader's settings for the pgcourse graded release"
NBGRADER_CONFIG = CONFIG_MARK + ''' (written by python -m pgcourse.grading).
# Run nbgrader from this folder: nbgrader generate_assignment 03_reinforce, then collect, autograde and
# generate_feedback. A rebuild (make assignments) replaces source/ only.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = "pgcourse"
c.CourseDirectory.root = "."
# the hidden tests hold the stored answers: feedback shows their cells' results, never their source
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
# a notebook trains agents: a cell may take minutes on a slow machine (nbgrader's default is 30 s)
c.Execute.timeout = 600
'''


def _lesson_checks(stem: str):
    """The checks module of notebook ``stem`` (``03_reinforce`` → pgcourse.lessons.nb03_reinforce.checks)."""
    name = f"pgcourse.lessons.nb{stem.lower()}.checks"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise ValueError(f"{stem}.ipynb has no checkers in the course ({name} does not exist); the graded release "
                         "is built from the course's own notebooks") from None


def hidden_test(checker, fn_name: str) -> str | None:
    """The hidden test for ``checker`` applied to the reader's ``fn_name``: stored answers, or None when the
    checker does not compare with values of reference code (a property or an exact number it computes itself,
    a training run) or its cases are objects rather than numbers (an environment, an agent)."""
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
                      f'stored_check({fn_name}, "{blob}").require()', HIDDEN_END])


class Graded(tuple):
    """(grade_id, has a hidden test) of one autograded cell."""

    def __new__(cls, grade_id: str, hidden: bool):
        return super().__new__(cls, (grade_id, hidden))


def _meta(grade_id: str, *, solution: bool, grade: bool, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def _unique(grade_id: str, seen: set) -> str:
    out, k = grade_id, 2
    while out in seen:
        out, k = f"{grade_id}-{k}", k + 1
    seen.add(out)
    return out


def graded_notebook(nb, stem: str):
    """A copy of notebook ``nb`` (nbformat) as an nbgrader source notebook; returns (notebook, [Graded …]).

    ValueError (naming the notebook and cell) for solution markers outside a code cell, unbalanced or
    nested markers, and a cell that both holds a solution and ends in a check (it would lose its point)."""
    import copy

    nb = copy.deepcopy(nb)
    checks = _lesson_checks(stem)
    summary, seen = [], set()
    for number, cell in enumerate(nb.cells):
        where = f"{stem}.ipynb, cell {number}"
        if cell.cell_type != "code":
            if BEGIN in (cell.source or "") or END in (cell.source or ""):
                raise ValueError(f"{where} ({cell.cell_type}): solution markers belong in code cells only")
            continue
        cell.source = NBVAL_MARKER.sub("", cell.source)
        cell.outputs, cell.execution_count = [], None
        lines = cell.source.rstrip().split("\n")
        call = CHECK_CALL.match(lines[-1].strip()) if lines else None
        is_check = call is not None and hasattr(checks, call.group(1))
        if BEGIN in cell.source or END in cell.source:
            strip_solutions(cell.source, where)          # the student edition's marker rules
            if is_check:
                raise ValueError(f"{where}: a solution and a check in one cell; nbgrader would lock neither — "
                                 "put the check in a cell of its own")
            names = re.findall(r"^(?:def|class)\s+([A-Za-z_]\w*)", cell.source, re.M)
            cell.metadata["nbgrader"] = _meta(_unique(f"{stem}-{names[0] if names else 'solution'}", seen),
                                              solution=True, grade=False)
        elif is_check:
            checker, fn_name = call.groups()
            grade_id = _unique(f"{stem}-{checker}", seen)
            hidden = hidden_test(getattr(checks, checker), fn_name)
            lines[-1] = (f"from {checks.__name__} import {checker}   # the course's checker, whatever a cell "
                         f"above defined\n{checker}({fn_name}).require()   # a failed check fails this cell")
            cell.source = "\n".join(lines + ([hidden] if hidden else []))
            cell.metadata["nbgrader"] = _meta(grade_id, solution=False, grade=True, points=1)
            summary.append(Graded(grade_id, hidden is not None))
    return nb, summary


def _course_folder(src: Path, dst: Path) -> bool:
    """True if ``dst`` is an earlier graded release (its nbgrader_config.py is ours); False if it is new or
    empty. ValueError if it is ``src`` or inside it, a file, or a folder this build did not write."""
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents:
        raise ValueError(f"--out {str(dst)!r} is --src {str(src)!r} or inside it; choose a folder outside it")
    if dst.exists() and not dst.is_dir():
        raise ValueError(f"--out {str(dst)!r} is a file, not a folder")
    if not dst.is_dir() or not any(dst.iterdir()):
        return False
    config = dst / "nbgrader_config.py"
    if config.is_file() and config.read_text(errors="replace").startswith(CONFIG_MARK):
        return True
    raise ValueError(f"--out {str(dst)!r} already holds files and is not a pgcourse graded release (no "
                     "nbgrader_config.py written by this build); choose a new or empty folder")


def make_assignments(src="notebooks", dst="grading") -> dict[str, list[Graded]]:
    """Write the nbgrader course folder for every notebook in ``src`` to ``dst``: {notebook stem: its graded
    cells}. ``source/`` is built aside and swapped in only when every notebook succeeded; in an earlier
    release's folder nothing else is touched (the gradebook, submissions and feedback stay)."""
    import nbformat

    src, dst = Path(src), Path(dst)
    existing = _course_folder(src, dst)
    built = {path.stem: graded_notebook(_read_notebook(path), path.stem) for path in notebooks(src)}
    dst.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst, prefix=".source."))
    try:
        tmp.chmod(0o755)
        for stem, (nb, _) in built.items():
            (tmp / stem).mkdir()
            nbformat.write(nb, tmp / stem / f"{stem}.ipynb")
        source = dst / "source"
        if source.exists():
            old = Path(tempfile.mkdtemp(dir=dst, prefix=".source.old."))
            os.replace(source, old / "source")
            os.replace(tmp, source)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, source)
        if not existing:
            (dst / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {stem: summary for stem, (_, summary) in built.items()}
