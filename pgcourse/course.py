"""Build the course's other editions from the stored notebooks: the student edition and a static site.

* ``make_student(src, dst)``: every ``### BEGIN SOLUTION … ### END SOLUTION`` region becomes
  ``raise NotImplementedError()`` (nbgrader's markers and stub), and the exercise cells lose
  their outputs, so no solution or PASS line leaks; the test harness's ``# NBVAL_…`` lines go.
* ``build_site(src, dst)``: one HTML page per notebook from its stored outputs (nbconvert, no
  execution, no network), MathJax served from the site itself, and an index with the table of
  contents.

* ``make_workspace(src, dst)``: the learner's workspace (``make lab``): the student edition copied once
  into ``work/``; later runs add new notebooks and never overwrite the learner's.

All run offline: ``python -m pgcourse student`` / ``python -m pgcourse site`` (``make student``,
``make site``).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import inspect
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._validate import first_line

__all__ = ["STUB", "notebooks", "strip_solutions", "exercise_lines", "student_notebook", "make_student", "build_site",
           "make_workspace", "Workspace", "record_verdict", "progress_table"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
NBVAL_MARKER = re.compile(r"^[ \t]*# NBVAL_[A-Z_]+[ \t]*(?:\n|$)", re.M)
"""A line that only holds an nbval marker (``# NBVAL_CHECK_OUTPUT``): the student edition drops it."""


def notebooks(src) -> list[Path]:
    """The course's notebooks in teaching order (NN_topic.ipynb)."""
    found = sorted(p for p in Path(src).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise ValueError(f"no notebooks named NN_topic.ipynb in {str(src)!r}")
    return found


def strip_solutions(source: str, where: str = "a cell") -> str:
    """Replace each solution region (markers included) by the stub, keeping its indentation.

    The markers are read line by line: a BEGIN inside a region, an END without a BEGIN, or a region
    left open is a ValueError naming ``where`` and the line, so no solution line can slip through."""
    out, open_at, indent = [], None, ""
    lines = source.split("\n")
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if open_at is not None:
                raise ValueError(f"{where}: line {number} opens a solution inside the one opened on line "
                                 f"{open_at}; solutions cannot be nested")
            open_at, indent = number, line[:len(line) - len(line.lstrip())]
        elif stripped.startswith(END):
            if open_at is None:
                raise ValueError(f"{where}: line {number} closes a solution that was never opened")
            out.extend(f"{indent}{stub}" for stub in STUB.splitlines())
            open_at = None
        elif open_at is None:
            out.append(line)
    if open_at is not None:
        raise ValueError(f"{where}: the solution opened on line {open_at} is never closed ({END!r})")
    return "\n".join(out)


def exercise_lines(nb) -> dict[str, int]:
    """What the reader writes in notebook ``nb`` (nbformat): for each function or class whose body holds a
    solution region (the last top-level definition above the region), the number of code lines inside its
    regions (blank and comment-only lines not counted). The student edition replaces exactly these lines."""
    found: dict[str, int] = {}
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or BEGIN not in cell.source:
            continue
        strip_solutions(cell.source, f"cell {number}")  # the same marker rules as the student edition
        inside, name = False, f"cell {number}"
        for line in cell.source.split("\n"):
            stripped = line.strip()
            definition = re.match(r"(?:def|class)\s+([A-Za-z_]\w*)", line)
            if definition and not inside:
                name = definition.group(1)
            if stripped.startswith(BEGIN) or stripped.startswith(END):
                inside = stripped.startswith(BEGIN)
                found.setdefault(name, 0)
            elif inside and stripped and not stripped.startswith("#"):
                found[name] += 1
    return found


def _is_exercise_section(cell) -> bool:
    return cell.cell_type == "markdown" and re.match(r"\s*#+\s*Exercises?\b", cell.source or "") is not None


def _solved_names(source: str) -> set[str]:
    """The functions and classes a solution cell defines (their bodies are what the student writes)."""
    return set(re.findall(r"^[ \t]*(?:def|class)\s+([A-Za-z_]\w*)", source, re.M))


def student_notebook(nb, name: str = "notebook"):
    """A copy of notebook ``nb`` (nbformat) with solutions stubbed, and no output that could show one.

    Cleared: the outputs of solution cells, of every code cell in the exercises section, and of any
    later cell that uses a function a solution defines. Markers outside code cells are an error."""
    import copy

    nb = copy.deepcopy(nb)
    in_exercises, solved = False, set()
    for number, cell in enumerate(nb.cells):
        where = f"{name}, cell {number}"
        in_exercises = in_exercises or _is_exercise_section(cell)
        if cell.cell_type != "code":
            if BEGIN in (cell.source or "") or END in (cell.source or ""):
                raise ValueError(f"{where} ({cell.cell_type}): solution markers belong in code cells only")
            continue
        cell.source = NBVAL_MARKER.sub("", cell.source)  # the test harness's markers are not the learner's
        has_solution = BEGIN in cell.source or END in cell.source
        uses_solved = any(re.search(rf"\b{re.escape(n)}\b", cell.source) for n in solved)
        if has_solution:
            solved |= _solved_names(cell.source)
            cell.source = strip_solutions(cell.source, where)
        if has_solution or in_exercises or uses_solved:
            cell.outputs = []
            cell.execution_count = None
    return nb


def _read_notebook(path: Path):
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # JSON errors, nbformat's schema errors: one line naming the file
        first = first_line(err)
        raise ValueError(f"{path} is not a readable notebook: {first}") from None
    return nb


def _check_out(src: Path, dst: Path, kinds: tuple[str, ...]) -> None:
    """``dst`` may not be ``src`` or lie inside it, must not be a file, and if it exists must hold only
    what an earlier build wrote (``kinds``: name patterns), so nothing else can be overwritten."""
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents:
        raise ValueError(f"--out {str(dst)!r} is --src {str(src)!r} or inside it; the notebooks would be "
                         f"overwritten: choose a folder outside it such as build/")
    if dst.exists() and not dst.is_dir():
        raise ValueError(f"--out {str(dst)!r} is a file, not a folder")
    if dst.is_dir():
        strangers = [p.name for p in dst.iterdir() if not any(p.match(k) for k in kinds)]
        if strangers:
            raise ValueError(f"--out {str(dst)!r} already holds files this build did not write "
                             f"({', '.join(sorted(strangers)[:3])}); choose a new or empty folder")


@contextlib.contextmanager
def _staged(dst: Path):
    """A temporary folder beside ``dst``; moved onto ``dst`` when the block succeeds, else removed."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}."))
    tmp.chmod(0o755)  # mkdtemp makes it private; the edition is an ordinary folder
    try:
        yield tmp
        if dst.exists():
            old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.old."))
            os.replace(dst, old / dst.name)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_student(src="notebooks", dst="build/student") -> list[Path]:
    """Write the student edition of every notebook in ``src`` to ``dst``; returns the paths written.

    Built in a temporary folder and moved into place only when every notebook succeeded."""
    import nbformat

    src, dst = Path(src), Path(dst)
    _check_out(src, dst, ("[0-9][0-9]_*.ipynb",))
    paths = notebooks(src)
    editions = [(path.name, student_notebook(_read_notebook(path), path.name)) for path in paths]
    with _staged(dst) as tmp:
        for name, nb in editions:
            nbformat.write(nb, tmp / name)
    return [dst / name for name, _ in editions]


WORKSPACE_MARK = ".pgcourse-workspace.json"
"""The file that makes a folder a learner's workspace: the name and hash of each notebook as first written."""


@dataclass
class Workspace:
    """What ``make_workspace`` did: the folder, the notebooks it added, and those the course changed since."""

    folder: Path
    added: list[str]
    changed: list[str]
    created: bool = False

    def summary(self) -> str:
        """One line for ``make lab``; a second when the course changed notebooks the learner already has."""
        if self.created:
            return (f"your workspace: {self.folder}/, the student edition ({len(self.added)} notebooks), yours to "
                    "edit: later runs never overwrite it (make teach opens the teacher's edition)")
        line = f"your workspace: {self.folder}/ (your notebooks are kept as they are"
        line += f"; added from the course: {', '.join(self.added)})" if self.added else ")"
        if self.changed:
            line += (f"\nthe course changed {', '.join(self.changed)} since your copy: `make student` writes its new "
                     "edition to build/student/, beside your work")
        return line


def _digest(nb) -> str:
    """A hash of the notebook's cells (type and source): outputs and execution counts do not count as a change."""
    return hashlib.sha256(json.dumps([[c.cell_type, c.source] for c in nb.cells]).encode()).hexdigest()


def make_workspace(src="notebooks", dst="work") -> Workspace:
    """The learner's workspace: the student edition of ``src`` copied once into ``dst``, never overwritten.

    A new ``dst`` receives every notebook (built aside and moved into place). An existing workspace keeps
    every notebook the learner has; notebooks new in the course are added, and those whose student edition
    changed since the learner's copy are named (``Workspace.changed``), never replaced. A folder that exists
    and is not a workspace (no ``.pgcourse-workspace.json``) is refused with a ValueError.
    """
    import nbformat

    from .io import atomic_write

    src, dst = Path(src), Path(dst)
    mark = dst / WORKSPACE_MARK
    if dst.exists() and not dst.is_dir():
        raise ValueError(f"workspace {str(dst)!r} is a file, not a folder")
    if dst.is_dir() and any(dst.iterdir()) and not mark.is_file():
        raise ValueError(f"{str(dst)!r} already holds files and is not a pgcourse workspace (no {WORKSPACE_MARK}); "
                         "it is left alone: choose another folder, e.g. make lab WORK=my-work")
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents:
        raise ValueError(f"workspace {str(dst)!r} is the course's folder {str(src)!r} or inside it")
    editions = {path.name: student_notebook(_read_notebook(path), path.name) for path in notebooks(src)}
    if not mark.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}."))
        try:
            tmp.chmod(0o755)
            for name, nb in editions.items():
                nbformat.write(nb, tmp / name)
            (tmp / WORKSPACE_MARK).write_text(json.dumps({name: _digest(nb) for name, nb in editions.items()},
                                                         indent=1) + "\n")
            if dst.exists():
                dst.rmdir()          # only an empty folder: anything written there meanwhile stops this, not lost
            os.rename(tmp, dst)
        except OSError as err:
            raise ValueError(f"could not create the workspace {str(dst)!r} ({err.strerror or err}); "
                             "nothing in it was changed") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Workspace(dst, sorted(editions), [], created=True)
    try:
        recorded = json.loads(mark.read_text())
        if not isinstance(recorded, dict):
            raise ValueError("not a mapping of notebook names")
    except (OSError, ValueError) as err:
        raise ValueError(f"{mark} cannot be read ({err}); your notebooks are untouched") from None
    added, changed = [], []
    for name, nb in editions.items():
        if not (dst / name).exists():
            try:
                with atomic_write(dst / name, "w", exclusive=True) as out:   # never replaces the learner's file
                    out.write(nbformat.writes(nb))
                recorded[name] = _digest(nb)
                added.append(name)
                continue
            except FileExistsError:   # it appeared meanwhile: it is the learner's
                pass
        if recorded.get(name) != _digest(nb):
            changed.append(name)
    if added:
        with atomic_write(mark, "w") as out:
            out.write(json.dumps(recorded, indent=1) + "\n")
    return Workspace(dst, added, changed)


PROGRESS = ".pgcourse-progress.json"
"""In a workspace: each notebook's checkers and the last verdict of each (``record_verdict``)."""
_CHECK_CALL = re.compile(r"(?<![\w.(])(check_\w+)\(")


def _checker_frame():
    """(notebook number "NN", checker name) of the course checker being run, from the call stack, or None."""
    frame = inspect.currentframe()
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        found = re.match(r"pgcourse\.lessons\.nb(\d\d)_", module)
        if found and frame.f_code.co_name.startswith("check_"):
            return found.group(1), frame.f_code.co_name
        frame = frame.f_back
    return None


def record_verdict(passed: bool, folder=None) -> bool:
    """Record a course checker's verdict in the learner's workspace; True if it was recorded.

    Only inside a workspace (``folder``, default the kernel's working directory, which Jupyter sets to the
    notebook's folder, holds ``.pgcourse-workspace.json``): the teacher's edition and tests write nothing.
    A failure to write is ignored: progress must never break a check."""
    folder = Path.cwd() if folder is None else Path(folder)
    where = _checker_frame()
    if where is None or not (folder / WORKSPACE_MARK).is_file():
        return False
    number, checker = where
    try:  # the course's notebook of that number, as the workspace mark names it (not a copy the learner made)
        course = json.loads((folder / WORKSPACE_MARK).read_text())
        names = sorted(name for name in course if name.startswith(f"{number}_"))
        if not names:
            return False
        from .io import atomic_write

        with _locked(folder / f"{PROGRESS}.lock"):
            progress = json.loads((folder / PROGRESS).read_text()) if (folder / PROGRESS).is_file() else {}
            progress.setdefault(names[0], {})[checker] = bool(passed)
            with atomic_write(folder / PROGRESS, "w") as out:
                out.write(json.dumps(progress, indent=1, sort_keys=True) + "\n")
    except Exception:  # a broken or unwritable progress file must never break a check
        return False
    return True


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (created if needed) for the block: two kernels never lose each other's verdicts."""
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def progress_table(folder="work") -> str:
    """For each notebook of a workspace: the exercises whose checker last passed, out of the checkers it calls."""
    import nbformat

    folder = Path(folder)
    if not (folder / WORKSPACE_MARK).is_file():
        raise ValueError(f"{str(folder)!r} is not a pgcourse workspace (no {WORKSPACE_MARK}): run make lab first")
    try:
        progress = json.loads((folder / PROGRESS).read_text()) if (folder / PROGRESS).is_file() else {}
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{folder / PROGRESS} cannot be read ({err})") from None
    rows, done, total = [], 0, 0
    try:
        course = set(json.loads((folder / WORKSPACE_MARK).read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{folder / WORKSPACE_MARK} cannot be read ({err})") from None
    for path in (p for p in notebooks(folder) if p.name in course):
        nb = nbformat.read(path, as_version=4)
        checks = sorted({m for c in nb.cells if c.cell_type == "code" for m in _CHECK_CALL.findall(c.source)})
        if not checks:
            continue
        entry = progress.get(path.name) if isinstance(progress, dict) else None
        passed = sum(bool(entry.get(name)) for name in checks) if isinstance(entry, dict) else 0
        done, total = done + passed, total + len(checks)
        rows.append(f"{path.name:<48} {passed:>2}/{len(checks)}" + ("  ✅" if passed == len(checks) else ""))
    rows.append(f"{'all notebooks':<48} {done:>2}/{total}")
    return "\n".join([f"{'notebook':<48} passed", *rows])


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


def _html_for_gifs(nb) -> dict[str, str]:
    """nbconvert renders no image/gif output: give each one a placeholder paragraph, which the
    sanitiser keeps, and return placeholder → the <img> with the same data (put in after sanitising:
    the course's own animation, base64 only, so nothing in it can be markup)."""
    images = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/gif" in data and "text/html" not in data:
                gif = "".join(data["image/gif"]).replace("\n", "")
                if not re.fullmatch(r"[A-Za-z0-9+/=]*", gif):
                    continue
                token = f"PGCOURSE-ANIMATION-{len(images)}"
                data["text/html"] = token
                images[token] = f'<img src="data:image/gif;base64,{gif}" alt="animation">'
    return images


CSP = ("default-src 'self' data:; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'none'; object-src 'none'; base-uri 'none'; "
       "form-action 'none'")
"""The pages' Content-Security-Policy: nothing is fetched from another origin (the site works offline
and a notebook's HTML cannot call home); the notebooks' own HTML is also sanitised by nbconvert."""
_TEMPLATE = "pgcourse_offline.html.j2"
_OFFLINE = ("{%- extends 'lab/index.html.j2' -%}\n"
            "{%- block html_head_js_requirejs -%}\n"  # require.js (from a CDN) only serves widget state
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            "{%- endblock html_head_js_requirejs -%}\n"
            "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n")  # from a CDN too


def _without_widgets(nb):
    """Drop the stored widget state and views: they need scripts from a CDN, and each panel's figure is
    stored beside it as a PNG (``panel.snapshot()``), which the page shows."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
    return nb


def build_site(src="notebooks", dst="build/site") -> Path:
    """Static HTML pages from the stored notebooks plus index.html; returns the index's path."""
    src, dst = Path(src), Path(dst)
    _check_out(src, dst, ("*.html", "mathjax"))
    paths = notebooks(src)
    nbs = [(path, _read_notebook(path)) for path in paths]
    with _staged(dst) as tmp:
        _write_site(nbs, tmp)
    return dst / "index.html"


def _write_site(nbs, dst: Path) -> None:
    import jinja2
    from nbconvert import HTMLExporter

    mathjax = _mathjax_dir()
    exporter = HTMLExporter(template_name="lab", extra_loaders=[jinja2.DictLoader({_TEMPLATE: _OFFLINE})],
                            template_file=_TEMPLATE, sanitize_html=True)
    if mathjax is not None:
        shutil.copytree(mathjax, dst / "mathjax", dirs_exist_ok=True)
        exporter.mathjax_url = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # configs it ships
    entries = []
    for path, nb in nbs:
        nb = _without_widgets(nb)
        gifs = _html_for_gifs(nb)
        title = _title(nb, path.stem)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        for token, img in gifs.items():
            body = re.sub(rf"(?:<p>|&lt;p&gt;)?{token}\b(?:</p>|&lt;/p&gt;)?", img, body)
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
