"""The graded release for lecturers (nbgrader): ``python -m pgcourse.grading --src notebooks --out assignments``.

A layer of its own: it reads every notebook's checkers (the lessons), so the core, ui and the lessons never
import it (tests/test_layout.py)."""

from .assignments import make_assignments

__all__ = ["make_assignments"]
