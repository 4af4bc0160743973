"""The graded release (pgcourse/grading/, pgcourse/ui/graded.py): nbgrader metadata, hidden tests that
grade from stored answers, and real nbgrader giving full marks to a solved copy and zero to the stubs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

import pgcourse.ui.checks as checks_module
from pgcourse.grading.assignments import CHECK_CALL, graded_notebook, hidden_test, make_assignments
from pgcourse.course import BEGIN, notebooks, strip_solutions
from pgcourse.ui.checks import recording
from pgcourse.ui.graded import decode, encode, stored_check

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _recorded_with_references(monkeypatch):
    """Every lesson checker's recording, each with the reference it compared with (kept aside for the test)."""
    import importlib
    import pkgutil

    import pgcourse.lessons as lessons

    references = []
    original = checks_module._record

    def keep(name, kind, reference, cases, atol, rtol, hint=False):
        references.append(reference)
        return original(name, kind, reference, cases, atol, rtol, hint)

    monkeypatch.setattr(checks_module, "_record", keep)
    found = []
    for info in sorted(pkgutil.iter_modules(lessons.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"pgcourse.lessons.{info.name}.checks")
        for name in (n for n in module.__all__ if n.startswith("check_")):
            with recording() as records:
                getattr(module, name)(lambda *a, **k: None)
            found += [(info.name, entry, ref) for entry, ref in zip(records, references[-len(records):] or [])]
    return found


HIDDEN = 32
"""How many checkers of the course get a hidden test of stored answers (every check_function/check_loss checker
whose cases are numbers; 00's episode_length has environments and agents as cases)."""


def _shifted(value):
    """A wrong answer near the right one: every number moved by 0.5."""
    if isinstance(value, torch.Tensor):
        return value + 0.5
    if isinstance(value, (tuple, list)):
        return type(value)(_shifted(v) for v in value)
    return value + 0.5


def test_stored_answers_grade_the_reference_right_and_a_near_miss_wrong(monkeypatch, capsys):
    recorded = _recorded_with_references(monkeypatch)
    storable = []
    for lesson, entry, reference in recorded:
        try:
            storable.append((lesson, entry["name"], encode(entry), reference))
        except ValueError:
            continue
    assert len(storable) == HIDDEN, sorted(name for _, name, _, _ in storable)
    for lesson, name, blob, reference in storable:
        assert decode(blob)["name"] == name
        assert stored_check(reference, blob, verbose=False).passed, (lesson, name)

        def stub(*args, **kwargs):
            raise NotImplementedError

        assert not stored_check(stub, blob, verbose=False).passed, (lesson, name)
        if decode(blob)["kind"] == "loss":
            doubled = lambda *a, **k: 2 * reference(*a, **k)  # noqa: E731
            assert not stored_check(doubled, blob, verbose=False).passed, (lesson, name)
        else:
            near = lambda *a, **k: _shifted(reference(*a, **k))  # noqa: E731
            result = stored_check(near, blob, verbose=False)
            assert not result.passed, (lesson, name)
            if decode(blob)["hint"]:                                   # a prediction's value is never shown
                assert "expected" not in result.message and "is not right" in result.message, result.message


def test_a_stored_loss_check_sees_a_gradient_into_the_weights():
    from pgcourse.lessons.nb03_reinforce.checks import check_pseudo_loss

    with recording() as records:
        check_pseudo_loss(lambda *a, **k: None, verbose=False)
    blob = encode(records[0])
    right = lambda logp, w, mask: -(logp * w.detach() * mask).sum() / logp.shape[0]    # noqa: E731
    leaky = lambda logp, w, mask: -(logp * w * mask).sum() / logp.shape[0]             # noqa: E731
    assert stored_check(right, blob, verbose=False).passed
    result = stored_check(leaky, blob, verbose=False)
    assert not result.passed and "into the weights" in result.message


def test_a_blob_holds_numbers_only():
    """The hidden test's answers load with weights_only=True; a case that is an object cannot be stored."""
    import numpy as np

    entry = {"name": "f", "kind": "function", "atol": 0, "rtol": 0, "cases": [((np.arange(3.0),), {"k": 2})],
             "expected": [torch.tensor([1.0])], "grads": []}
    back = decode(encode(entry))
    assert isinstance(back["cases"][0][0][0], np.ndarray) and back["cases"][0][1] == {"k": 2}
    with pytest.raises(ValueError, match="cannot be stored as numbers"):
        encode({**entry, "cases": [((lambda x: x,), {})]})


def test_the_graded_notebooks_carry_nbgrader_metadata_and_no_harness_markers():
    for path in notebooks(NOTEBOOKS):
        nb, summary = graded_notebook(nbformat.read(path, as_version=4), path.stem)
        ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
        assert len(ids) == len(set(ids)), path.name
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if cell.cell_type == "code":
                assert "NBVAL" not in cell.source and cell.outputs == []
            if cell.cell_type == "code" and BEGIN in cell.source:
                assert meta and meta["solution"] and not meta["grade"] and not meta["locked"]
            elif meta and meta["grade"]:
                assert meta["locked"] and meta["points"] == 1 and meta["schema_version"] == 3
                visible = cell.source.split("### BEGIN HIDDEN TESTS")[0].rstrip().split("\n")
                assert visible[-1].startswith("check_") and ").require()" in visible[-1], (path.name, visible[-1])
                assert visible[-2].startswith(f"from pgcourse.lessons.nb{path.stem.lower()}.checks import check_")
        assert summary, f"{path.name} has no autograded cell"
    # every checker cell of the course is graded
    graded = sum(len(graded_notebook(nbformat.read(p, as_version=4), p.stem)[1]) for p in notebooks(NOTEBOOKS))
    calls = sum(1 for p in notebooks(NOTEBOOKS) for c in nbformat.read(p, as_version=4).cells
                if c.cell_type == "code" and c.source.strip()
                and CHECK_CALL.match(c.source.rstrip().split("\n")[-1].strip()))
    assert graded == calls == 40


def test_a_checker_without_a_reference_gets_no_hidden_test():
    from pgcourse.lessons.nb06_causality_reward_to_go.checks import check_negative_cross_term, check_past_rewards

    assert hidden_test(check_negative_cross_term, "f") is None          # a property: no stored answer
    text = hidden_test(check_past_rewards, "rewards_before_t")
    assert text.startswith("### BEGIN HIDDEN TESTS") and "stored_check(rewards_before_t," in text and ").require()" in text


def test_the_builder_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a pgcourse graded release"):
        make_assignments(NOTEBOOKS, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine.txt"]


def test_bad_notebooks_get_one_line(tmp_path):
    src = tmp_path / "nb"
    src.mkdir()
    nb = nbformat.read(NOTEBOOKS / "00_welcome.ipynb", as_version=4)
    nbformat.write(nb, src / "99_unknown.ipynb")
    with pytest.raises(ValueError, match="99_unknown.ipynb has no checkers in the course"):
        make_assignments(src, tmp_path / "out")
    (src / "99_unknown.ipynb").unlink()
    bad = nbformat.read(NOTEBOOKS / "00_welcome.ipynb", as_version=4)
    solution = next(c for c in bad.cells if c.cell_type == "code" and BEGIN in c.source)
    solution.source = solution.source.replace("### END SOLUTION", "")
    nbformat.write(bad, src / "00_welcome.ipynb")
    with pytest.raises(ValueError, match="is never closed"):
        make_assignments(src, tmp_path / "out")
    solution.source = nbformat.read(NOTEBOOKS / "00_welcome.ipynb", as_version=4).cells[
        bad.cells.index(solution)].source + "\ncheck_discounted_return(discounted_return)"
    nbformat.write(bad, src / "00_welcome.ipynb")
    with pytest.raises(ValueError, match="a solution and a check in one cell"):
        make_assignments(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_rebuild_replaces_source_only(tmp_path):
    src = tmp_path / "nb"
    src.mkdir()
    shutil.copy(NOTEBOOKS / "00_welcome.ipynb", src)
    course = tmp_path / "course"
    make_assignments(src, course)
    (course / "gradebook.db").write_text("grades")
    (course / "submitted").mkdir()
    (course / "nbgrader_config.py").write_text((course / "nbgrader_config.py").read_text() + "# mine\n")
    (course / "source" / "00_welcome" / "00_welcome.ipynb").write_text("old")
    make_assignments(src, course)
    assert (course / "gradebook.db").read_text() == "grades" and (course / "submitted").is_dir()
    assert (course / "nbgrader_config.py").read_text().endswith("# mine\n")          # the lecturer's settings stay
    assert nbformat.read(course / "source" / "00_welcome" / "00_welcome.ipynb", as_version=4).cells


def _nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          timeout=600, env=env)   # nbgrader runs the venv's alembic from PATH
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _solved(release: Path, source: Path, out: Path) -> None:
    """The release with each solution cell's stub replaced by the solution (its markers dropped)."""
    nb, src = nbformat.read(release, as_version=4), nbformat.read(source, as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in src.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = "\n".join(line for line in solutions[grade_id].split("\n")
                                    if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
    out.parent.mkdir(parents=True)
    nbformat.write(nb, out)


def test_nbgrader_gives_full_marks_to_the_solved_release_and_zero_to_the_stubs(tmp_path):
    pytest.importorskip("nbgrader", reason="nbgrader is the 'grade' extra: make install")
    src = tmp_path / "notebooks"
    src.mkdir()
    name = "00_welcome"
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", src)
    course = tmp_path / "course"
    built = make_assignments(src, course)
    assert [hidden for _, hidden in built[name]] == [False, True]   # episodes are objects: graded by the check
    _nbgrader(course, "generate_assignment", name, "--force")
    release = course / "release" / name / f"{name}.ipynb"
    text = release.read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "stored_check" not in text
    _solved(release, course / "source" / name / f"{name}.ipynb", course / "submitted" / "alice" / name / f"{name}.ipynb")
    (course / "submitted" / "bob" / name).mkdir(parents=True)
    shutil.copy(release, course / "submitted" / "bob" / name / f"{name}.ipynb")
    # carol writes a wrong discounted return and bends the visible check to agree with it, and redefines the other
    # checker: the locked cells import the course's checkers afresh, and the hidden test grades from stored answers
    carol = course / "submitted" / "carol" / name / f"{name}.ipynb"
    _solved(release, course / "source" / name / f"{name}.ipynb", carol)
    nb = nbformat.read(carol, as_version=4)
    cell = next(c for c in nb.cells if "def discounted_return(" in c.source)
    cell.source += ("\n\ndef discounted_return(rewards, gamma):\n    return sum(float(r) for r in rewards)\n"
                    "import pgcourse.lessons.nb00_welcome.checks as _c\n"
                    "_c.discounted_return_reference = discounted_return\n"
                    "check_episode_length = lambda f: True")
    nbformat.write(nb, carol)
    _nbgrader(course, "autograde", name, "--create", "--force")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission(name, s) for s in ("alice", "bob", "carol")}
        assert scores["alice"].max_score == 2
        assert (scores["alice"].score, scores["bob"].score) == (2, 0)
        assert scores["carol"].score == 1     # episode_length is right; the hidden test catches the bent check
    graded = json.loads((course / "autograded" / "alice" / name / f"{name}.ipynb").read_text())
    hidden_ran = [c for c in graded["cells"] if "stored_check" in "".join(c["source"])]
    assert len(hidden_ran) == 1     # the hidden tests were put back and ran
    _nbgrader(course, "generate_feedback", name, "--force")
    source = "\n".join(c.source for c in nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4).cells)
    blob = re.search(r'stored_check\(\w+, "([^"]+)"\)', source).group(1)
    for student in ("alice", "bob", "carol"):   # neither the hidden test's source nor its answers, pass or fail
        feedback = (course / "feedback" / student / name / f"{name}.html").read_text()
        assert "discounted_return" in feedback and "stored_check" not in feedback and "HIDDEN" not in feedback
        assert blob[:40] not in feedback and blob[-40:] not in feedback, student
    assert "CheckFailed: discounted_return: hidden test" in (course / "feedback" / "carol" / name / f"{name}.html").read_text()


def test_strip_solutions_matches_nbgraders_stub():
    """generate_assignment and the student edition write the same stub."""
    pytest.importorskip("nbgrader", reason="nbgrader is the 'grade' extra: make install")
    from nbgrader.preprocessors import ClearSolutions

    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "a", "locked": False,
                                 "schema_version": 3, "task": False}
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = ClearSolutions().preprocess(nb, {})
    assert nb.cells[0].source == strip_solutions("### BEGIN SOLUTION\nx = 1\n### END SOLUTION") == (
        "# YOUR CODE HERE\nraise NotImplementedError()")
