"""Student edition and static site, built from the stored notebooks, offline."""

import base64
import re
from pathlib import Path

import nbformat
import pytest

from pgcourse.course import (BEGIN, END, build_site, exercise_lines, make_student, notebooks, strip_solutions,
                             student_notebook)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def test_strip_solutions_keeps_indentation_and_code_around():
    source = (
        "def f(x):\n"
        '    """doc"""\n'
        f"    {BEGIN}\n"
        "    y = x + 1\n"
        "    return y\n"
        f"    {END}\n"
        "\n"
        f"{BEGIN}\n"
        "z = 3\n"
        f"{END}"
    )
    out = strip_solutions(source)
    assert out == ('def f(x):\n    """doc"""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n'
                   "# YOUR CODE HERE\nraise NotImplementedError()")
    compile(out, "<student>", "exec")


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="the solution opened on line 1 is never closed"):
        strip_solutions(f"{BEGIN}\nx = 1\n")


def test_student_notebook_clears_exercise_outputs_only():
    nb = nbformat.v4.new_notebook()
    out = [nbformat.v4.new_output("stream", text="42\n")]
    nb.cells = [
        nbformat.v4.new_code_cell("print(42)", outputs=out, execution_count=1),
        nbformat.v4.new_markdown_cell("## Exercises"),
        nbformat.v4.new_code_cell(f"def g():\n    {BEGIN}\n    return 1\n    {END}\n", outputs=[], execution_count=2),
        nbformat.v4.new_code_cell("check_g(g)", outputs=[nbformat.v4.new_output("stream", text="✅ PASS\n")],
                                  execution_count=3),
    ]
    student = student_notebook(nb)
    assert student.cells[0].outputs == out and student.cells[0].execution_count == 1
    assert "raise NotImplementedError()" in student.cells[2].source and BEGIN not in student.cells[2].source
    assert student.cells[3].outputs == [] and student.cells[3].execution_count is None
    assert nb.cells[3].outputs, "the original is left alone"


def _regions(nb) -> int:
    return sum(c.source.count(BEGIN) for c in nb.cells if c.cell_type == "code")


def test_every_notebook_has_exercises_with_solutions():
    for path in notebooks(NOTEBOOKS):
        nb = nbformat.read(path, as_version=4)
        assert _regions(nb) >= 2, f"{path.name}: at least two exercises with solution regions"


def test_what_the_reader_writes_is_counted_and_includes_a_whole_agent():
    """The lines inside solution regions, per notebook (printed: run with -s to read them). The reader writes
    the REINFORCE loop itself (notebook 03: stop rule, weights, pseudo-loss, zero_grad/backward/step) besides
    the returns, weights, baselines and losses of the other notebooks."""
    counts = {path.stem: exercise_lines(nbformat.read(path, as_version=4)) for path in notebooks(NOTEBOOKS)}
    for name, exercises in counts.items():
        print(f"{name:45} {sum(exercises.values()):3d} lines  " + ", ".join(f"{k} {v}" for k, v in exercises.items()))
    total = sum(sum(e.values()) for e in counts.values())
    print(f"{'course':45} {total:3d} lines")
    loop = nbformat.read(NOTEBOOKS / "03_reinforce.ipynb", as_version=4)
    (cell,) = [c for c in loop.cells if c.cell_type == "code" and c.source.startswith("def reinforce(")]
    region = cell.source[cell.source.index(BEGIN):cell.source.index(END)]
    for step in ("weights_fn(batch)", "policy.log_prob", "zero_grad()", "backward()", "optimizer.step()", "break"):
        assert step in region, f"notebook 03's loop exercise leaves {step!r} to the reader"
    assert counts["03_reinforce"]["reinforce"] >= 8
    assert all(counts[name] for name in counts), "every notebook has exercises"
    assert total >= 95


def test_make_student_writes_every_notebook_without_solutions(tmp_path):
    written = make_student(NOTEBOOKS, tmp_path)
    assert [p.name for p in written] == [p.name for p in notebooks(NOTEBOOKS)]
    for path in written:
        original = nbformat.read(NOTEBOOKS / path.name, as_version=4)
        student = nbformat.read(path, as_version=4)
        text = "".join(c.source for c in student.cells)
        assert BEGIN not in text and END not in text
        assert text.count("raise NotImplementedError()") >= _regions(original)
        outputs = "".join(_text(o) for c in student.cells if c.cell_type == "code" for o in c.outputs)
        assert "PASS" not in outputs, f"{path.name}: a checker's PASS leaked into the student edition"
        assert "NBVAL" not in text, f"{path.name}: the test harness's markers are in the student edition"
    assert sum(nb.count("# NBVAL_CHECK_OUTPUT") for nb in map(lambda p: p.read_text(), notebooks(NOTEBOOKS))) > 0


def _text(output) -> str:
    """The text a reader sees in an output (not the base64 of its images)."""
    text = output.get("text", "")
    plain = output.get("data", {}).get("text/plain", "")
    return "".join(text) + "".join(plain)


@pytest.mark.slow
def test_student_notebooks_run_and_every_checker_fails(tmp_path):
    """No checker passes on a stub, and nothing crashes before the checkers."""
    from nbclient import NotebookClient

    for path in make_student(NOTEBOOKS, tmp_path):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}},
                       allow_errors=False).execute()  # raises CellExecutionError on a crash
        checker_outputs = ["".join(_text(o) for o in c.outputs) for c in nb.cells
                           if c.cell_type == "code" and re.search(r"\bcheck_\w+\(", c.source)
                           and BEGIN not in c.source and "def check_" not in c.source]
        fails = [t for t in checker_outputs if "FAIL" in t]
        assert checker_outputs, f"{path.name}: no checker cells found"
        assert "PASS" not in "".join(checker_outputs), f"{path.name}: a checker passed on a stub"
        assert len(fails) >= _regions(nbformat.read(NOTEBOOKS / path.name, as_version=4)), path.name


def _image_outputs(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if any(k in o.get("data", {}) for k in ("image/png", "image/gif")))


def test_static_site_has_every_page_and_its_images(tmp_path):
    index = build_site(NOTEBOOKS, tmp_path)
    toc = index.read_text()
    assert (tmp_path / "mathjax" / "MathJax.js").is_file(), "MathJax is served by the site itself (offline)"
    for path in notebooks(NOTEBOOKS):
        page = tmp_path / f"{path.stem}.html"
        assert page.is_file() and f'href="{page.name}"' in toc
        text = page.read_text()
        images = re.findall(r'<img[^>]+src="data:image/(?:png|gif);base64,([^"]+)"', text)
        nb = nbformat.read(path, as_version=4)
        assert len(images) >= _image_outputs(nb) > 0, f"{path.name}: every stored figure is on the page"
        assert all(base64.b64decode(data)[:3] in (b"\x89PN", b"GIF") for data in images)
        configs = re.search(r'src="mathjax/MathJax\.js\?config=([^"]+)"', text).group(1).split(",")
        for config in configs:  # each config MathJax asks for is served by the site (else the math stays raw TeX)
            assert (tmp_path / "mathjax" / "config" / f"{config}.js").is_file(), config
        assert "cdn.jsdelivr.net/npm/mathjax" not in text and "cdnjs.cloudflare.com/ajax/libs/mathjax" not in text


def test_the_workspace_is_the_student_edition_copied_once_and_never_overwritten(tmp_path):
    """make lab's workspace (issue 23): written whole on first use; later runs keep every notebook the learner
    has, add the ones that are missing, and name the ones the course changed since, without touching them."""
    import json

    from pgcourse.course import WORKSPACE_MARK, make_workspace

    work = tmp_path / "work"
    first = make_workspace(NOTEBOOKS, work)
    assert first.created and first.added == [p.name for p in notebooks(NOTEBOOKS)]
    assert "never overwrite" in first.summary()
    loop = work / "03_reinforce.ipynb"
    assert "raise NotImplementedError()" in loop.read_text() and BEGIN not in loop.read_text()
    loop.write_text(loop.read_text().replace("raise NotImplementedError()", "return 'my own loop'", 1))
    edited = loop.read_text()
    (work / "01_estimating_J.ipynb").unlink()
    mark = json.loads((work / WORKSPACE_MARK).read_text())
    mark["05_imitation_and_partial_observability.ipynb"] = "an older edition"
    (work / WORKSPACE_MARK).write_text(json.dumps(mark))
    second = make_workspace(NOTEBOOKS, work)
    assert loop.read_text() == edited                                   # the learner's edit is kept
    assert not second.created and second.added == ["01_estimating_J.ipynb"]
    assert second.changed == ["05_imitation_and_partial_observability.ipynb"]
    assert "make student" in second.summary() and "kept" in second.summary()
    assert make_workspace(NOTEBOOKS, work).added == []                  # the re-added one is recorded


def test_a_folder_that_is_not_a_workspace_is_never_written(tmp_path):
    from pgcourse.cli import main

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "03_reinforce.ipynb").write_text("someone else's notebook")
    with pytest.raises(ValueError, match="not a pgcourse workspace"):
        from pgcourse.course import make_workspace
        make_workspace(NOTEBOOKS, theirs)
    assert main(["workspace", "--src", str(NOTEBOOKS), "--out", str(theirs)]) == 2
    assert [p.name for p in theirs.iterdir()] == ["03_reinforce.ipynb"]
    assert (theirs / "03_reinforce.ipynb").read_text() == "someone else's notebook"
    with pytest.raises(ValueError, match="inside"):
        from pgcourse.course import make_workspace
        make_workspace(NOTEBOOKS, NOTEBOOKS / "work")


def test_checks_record_progress_in_the_workspace_only(tmp_path, monkeypatch, capsys):
    """issue 23: each check records its last verdict in the learner's workspace; make progress prints, for each
    notebook, the exercises passed out of the checkers it calls. Outside a workspace nothing is written."""
    from pgcourse.cli import main
    from pgcourse.course import PROGRESS, make_workspace, progress_table
    from pgcourse.lessons.nb03_reinforce.checks import check_leave_one_out_factor, check_pseudo_loss

    monkeypatch.chdir(tmp_path)                           # not a workspace: a check writes nothing
    assert check_leave_one_out_factor(lambda n: n / (n - 1), verbose=False).passed
    assert list(tmp_path.iterdir()) == []
    work = tmp_path / "work"
    make_workspace(NOTEBOOKS, work)
    monkeypatch.chdir(work)                               # Jupyter runs a notebook's kernel in its folder
    assert check_leave_one_out_factor(lambda n: n / (n - 1), verbose=False).passed
    assert not check_pseudo_loss(lambda logp, w, mask: (logp * w).sum(), verbose=False).passed
    table = progress_table(work)
    row = next(line for line in table.splitlines() if line.startswith("03_reinforce.ipynb"))
    assert row.split()[1] == "1/4", table                 # 4 checkers in notebook 03, one passed
    assert "00_welcome.ipynb" in table and table.splitlines()[-1].split()[-1].startswith("1/")
    assert not check_leave_one_out_factor(lambda n: 1.0, verbose=False).passed      # the last verdict counts
    assert next(line for line in progress_table(work).splitlines() if line.startswith("03_")).split()[1] == "0/4"
    assert (work / PROGRESS).is_file()
    capsys.readouterr()
    assert main(["progress", "--work", str(work)]) == 0 and "03_reinforce.ipynb" in capsys.readouterr().out
    assert main(["progress", "--work", str(tmp_path)]) == 2
    assert "not a pgcourse workspace" in capsys.readouterr().err


def test_progress_goes_to_the_courses_notebook_not_a_copy_and_survives_a_broken_file(tmp_path, monkeypatch):
    """A learner's duplicate (03_reinforce-Copy1.ipynb sorts first) takes no verdicts and no total; a progress
    file that is not what it should be never breaks a check."""
    import shutil

    from pgcourse.course import PROGRESS, make_workspace, progress_table
    from pgcourse.lessons.nb03_reinforce.checks import check_leave_one_out_factor

    work = tmp_path / "work"
    make_workspace(NOTEBOOKS, work)
    shutil.copy(work / "03_reinforce.ipynb", work / "03_reinforce-Copy1.ipynb")
    monkeypatch.chdir(work)
    assert check_leave_one_out_factor(lambda n: n / (n - 1), verbose=False).passed
    table = progress_table(work)
    assert "Copy1" not in table and next(r for r in table.splitlines() if r.startswith("03_")).split()[1] == "1/4"
    (work / PROGRESS).write_text('{"03_reinforce.ipynb": ["not", "a", "mapping"]}')
    assert check_leave_one_out_factor(lambda n: n / (n - 1), verbose=False).passed   # no exception
    (work / "new").mkdir()
    assert make_workspace(NOTEBOOKS, work).added == []          # the copy is the learner's: left as it is
    assert (work / "03_reinforce-Copy1.ipynb").is_file() and (work / "new").is_dir()
    assert "03_reinforce.ipynb" in progress_table(work)          # and the table reads it as nothing passed
