"""Every notebook follows the course's shape: goals, seeded setup, panel, summary, exercises, small images."""

import re
import struct
import base64
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
"""The course's notebooks, found on disk: a new notebook is checked without editing this file."""


def load(name):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


def test_the_notebooks_are_numbered_from_00_without_gaps():
    assert [name[:3] for name in NAMES] == [f"{k:02d}_" for k in range(len(NAMES))]
    assert len(NAMES) >= 11


def _png_dpi(data: bytes):
    """(x, y) pixels per inch from the PNG's pHYs chunk, or None."""
    at = data.find(b"pHYs")
    if at < 0:
        return None
    x, y, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    return (x * 0.0254, y * 0.0254) if unit == 1 else None


@pytest.mark.parametrize("name", NAMES)
def test_notebook_shape(name):
    nb = load(name)
    cells = nb.cells
    md = [c.source for c in cells if c.cell_type == "markdown"]
    code = [c for c in cells if c.cell_type == "code"]
    assert re.match(rf"# {name[:2]} · \S", md[0]), "title cell '# NN · Title'"
    assert "Learning goals" in md[0] and "Prerequisites" in md[0]
    assert any(m.lstrip().startswith("## Summary") for m in md)
    assert any(m.lstrip().startswith("## Exercises") for m in md)
    setup = code[0].source
    for needed in ("SEED = 0", "torch.manual_seed(SEED)", "torch.set_num_threads(1)", 'figure.dpi"] = 100'):
        assert needed in setup, f"first code cell sets {needed!r}"
    assert sum(c.source.count("### BEGIN SOLUTION") for c in code) >= 2, "2-4 exercises with solutions"
    assert any("NBVAL_CHECK_OUTPUT" in c.source for c in code), "the lesson's numbers are checked by nbval"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in cells:
        assert "slide_type" in cell.metadata.get("slideshow", {}), f"slide metadata on every cell: {cell.source[:40]!r}"


@pytest.mark.parametrize("name", NAMES)
def test_stored_outputs_executed_in_order_without_errors(name):
    code = [c for c in load(name).cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "executed top to bottom once, outputs stored"
    for cell in code:
        for output in cell.outputs:
            assert output.output_type != "error", f"error output in {cell.source[:60]!r}"
            assert "Traceback" not in "".join(output.get("text", ""))


@pytest.mark.parametrize("name", NAMES)
def test_images_are_small_png(name):
    images = [base64.b64decode(o.data["image/png"]) for c in load(name).cells if c.cell_type == "code"
              for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, "every notebook shows at least one figure"
    for data in images:
        dpi = _png_dpi(data)
        assert dpi is not None and max(dpi) <= 100.5, f"PNG at dpi {dpi}"
        width, height = struct.unpack(">II", data[16:24])
        assert width <= 1100 and height <= 800, (width, height)


@pytest.mark.parametrize("name", NAMES[1:])
def test_interactive_notebooks_have_a_panel_with_a_static_figure(name):
    sources = "\n".join(c.source for c in load(name).cells if c.cell_type == "code")
    assert "display(panel" in sources and ".snapshot()" in sources
    lesson = "nb" + name.removesuffix(".ipynb").lower()
    assert re.search(rf"from pgcourse\.lessons\.{lesson}\.panel import", sources), f"the panel comes from {lesson}/panel.py"


DEVELOPER_WORDS = re.compile(r"nbval|NBVAL|tests/|bench/|pytest|\.ci/")
"""Words of the course's developers, not of its learners: the test harness and the repository's folders."""


@pytest.mark.parametrize("name", NAMES)
def test_the_text_a_learner_reads_has_no_developer_words(name):
    """The prose is the same in both editions; it speaks of 'the course's tests', never of their files or tools."""
    for k, cell in enumerate(load(name).cells):
        if cell.cell_type == "markdown":
            found = DEVELOPER_WORDS.findall(cell.source)
            assert not found, f"cell {k}: {found}"


@pytest.mark.parametrize("name", NAMES)
def test_no_text_cell_holds_a_solution_marker(name):
    """nbgrader takes any line containing BEGIN SOLUTION (or END SOLUTION) as a marker, in any cell: prose that
    names the markers stops `nbgrader generate_assignment` with 'no end solution statement found'."""
    for k, cell in enumerate(load(name).cells):
        if cell.cell_type == "markdown":
            assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source, f"cell {k}"
