"""Build the course's other editions from the stored notebooks: the student edition and a static site.

* ``make_student(src, dst)``: every ``### BEGIN SOLUTION … ### END SOLUTION`` region becomes
  ``raise NotImplementedError()`` (nbgrader's markers and stub), and the exercise cells lose
  their outputs, so no solution or PASS line leaks.
* ``build_site(src, dst)``: one HTML page per notebook from its stored outputs (nbconvert, no
  execution, no network), MathJax served from the site itself, and an index with the table of
  contents.

Both run offline: ``python -m pgcourse student`` / ``python -m pgcourse site`` (``make student``,
``make site``).
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

__all__ = ["STUB", "notebooks", "strip_solutions", "student_notebook", "make_student", "build_site"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.S | re.M)


def notebooks(src) -> list[Path]:
    """The course's notebooks in teaching order (NN_topic.ipynb)."""
    found = sorted(p for p in Path(src).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise ValueError(f"no notebooks named NN_topic.ipynb in {str(src)!r}")
    return found


def strip_solutions(source: str) -> str:
    """Replace each solution region (markers included) by the stub, keeping its indentation."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"unbalanced solution markers: {source.count(BEGIN)} BEGIN, {source.count(END)} END")

    def stub(match: re.Match) -> str:
        indent = match.group(1)
        return "".join(f"{indent}{line}\n" for line in STUB.splitlines()) if match.group(2) else \
            "\n".join(f"{indent}{line}" for line in STUB.splitlines())

    return _REGION.sub(stub, source)


def _is_exercise_section(cell) -> bool:
    return cell.cell_type == "markdown" and re.match(r"\s*#+\s*Exercises?\b", cell.source or "") is not None


def student_notebook(nb):
    """A copy of notebook ``nb`` (nbformat) with solutions stubbed and exercise outputs cleared."""
    import copy

    nb = copy.deepcopy(nb)
    in_exercises = False
    for cell in nb.cells:
        in_exercises = in_exercises or _is_exercise_section(cell)
        if cell.cell_type != "code":
            continue
        has_solution = BEGIN in cell.source
        if has_solution:
            cell.source = strip_solutions(cell.source)
        if has_solution or in_exercises:
            cell.outputs = []
            cell.execution_count = None
    return nb


def make_student(src="notebooks", dst="build/student") -> list[Path]:
    """Write the student edition of every notebook in ``src`` to ``dst``; returns the paths written."""
    import nbformat

    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks(src):
        nb = nbformat.read(path, as_version=4)
        out = dst / path.name
        nbformat.write(student_notebook(nb), out)
        written.append(out)
    return written


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return fallback


def _mathjax_dir() -> Path | None:
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    return static if (static / "MathJax.js").is_file() else None


def _html_for_gifs(nb):
    """nbconvert renders no image/gif output: give each one an HTML <img> with the same data."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/gif" in data and "text/html" not in data:
                gif = "".join(data["image/gif"]).replace("\n", "")
                data["text/html"] = f'<img src="data:image/gif;base64,{gif}" alt="animation">'
    return nb


def build_site(src="notebooks", dst="build/site") -> Path:
    """Static HTML pages from the stored notebooks plus index.html; returns the index's path."""
    import nbformat
    from nbconvert import HTMLExporter

    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    mathjax = _mathjax_dir()
    exporter = HTMLExporter(template_name="lab")
    if mathjax is not None:
        shutil.copytree(mathjax, dst / "mathjax", dirs_exist_ok=True)
        exporter.mathjax_url = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # configs it ships
    entries = []
    for path in notebooks(src):
        nb = _html_for_gifs(nbformat.read(path, as_version=4))
        title = _title(nb, path.stem)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        page = dst / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        entries.append((page.name, title, path.name))
    items = "\n".join(f'    <li><a href="{html.escape(href)}">{html.escape(title)}</a> '
                      f'<small>({html.escape(name)})</small></li>' for href, title, name in entries)
    index = dst / "index.html"
    index.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pgcourse — policy gradients</title>
<style>body{{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.5}}</style></head>
<body>
  <h1>pgcourse — policy gradients, by hand and by machine</h1>
  <p>An interactive course on policy-gradient reinforcement learning (CS285 lecture 5).
  These pages show the notebooks with their stored outputs; to move the sliders, run
  <code>make lab</code>.</p>
  <h2>Contents</h2>
  <ol start="0">
{items}
  </ol>
</body></html>
""", encoding="utf-8")
    return index
