"""The house plan (ARCHITECTURE.md), enforced: core, ui, one lesson folder per notebook, and the import rule.

- core: the top-level modules of pgcourse (what a student reads to learn the algorithm);
- seeds: pgcourse/seeds, the K-seed engine (an accelerator, never on the reading path);
- ui: pgcourse/ui, the panels' and checkers' shared machinery;
- lessons: pgcourse/lessons/nbNN_topic, everything that belongs to notebooks/NN_topic.ipynb;
- grading: pgcourse/grading, the graded release, which reads every lesson's checkers; nothing imports it.

The core imports only the core (not the engine, ui or lessons); the engine imports the core; ui imports
the core and the engine; a lesson imports the core, the engine, ui and its own folder, never another
lesson; a notebook imports the core, the engine, ui and its own lesson.
Nothing here names a notebook: a new notebook is checked as it is added.
"""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pgcourse"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def lesson_of(notebook: Path) -> str:
    """notebooks/05_imitation_and_partial_observability.ipynb -> nb05_imitation_and_partial_observability."""
    return "nb" + notebook.stem.lower()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every pgcourse module the code imports (anywhere in it, also inside functions), as dotted names.
    ``from pkg import name`` counts as pkg.name when that is a module, else as pkg."""
    found = set()
    for node in ast.walk(tree):  # everywhere: in functions, and under `if TYPE_CHECKING:` too
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))  # importlib.import_module("pgcourse.…"), __import__("pgcourse.…")
    return {m for m in found if m == "pgcourse" or m.startswith("pgcourse.")}


def _exists(module: str) -> bool:
    path = ROOT / module.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def layer(module: str) -> str:
    """'core', 'ui' or 'lessons.nbNN_topic'."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("ui", "seeds", "grading"):
        return parts[1]
    if len(parts) >= 3 and parts[1] == "lessons":
        return f"lessons.{parts[2]}"
    if module == "pgcourse.lessons":
        return "lessons"
    return "core"


def allowed(importer: str, imported: str) -> bool:
    if importer == "core":
        return imported == "core"
    if importer == "seeds":
        return imported in ("core", "seeds")
    if importer == "ui":
        return imported in ("core", "seeds", "ui")
    if importer == "grading":   # the graded release reads every notebook's checkers
        return True
    if imported == "grading":   # and nothing else imports it
        return False
    return imported in ("core", "seeds", "ui", importer)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {m: imported_modules(ast.parse(p.read_text()), m, p.name == "__init__.py") - {m} for m, p in MODULES.items()}


def test_every_notebook_has_one_lesson_folder_and_one_test_file():
    lessons = {p.name for p in (PACKAGE / "lessons").iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert lessons == {lesson_of(nb) for nb in NOTEBOOKS}, "one folder per notebook, none without a notebook"
    for notebook in NOTEBOOKS:
        folder = PACKAGE / "lessons" / lesson_of(notebook)
        assert (folder / "__init__.py").exists(), f"{folder} is a package"
        assert (ROOT / "tests" / f"test_{lesson_of(notebook)}.py").exists(), f"tests/test_{lesson_of(notebook)}.py"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_import_of_pgcourse_names_a_module_that_exists(module):
    missing = sorted(m for m in GRAPH[module] if not _exists(m))
    assert not missing, f"{module} imports {missing}, which do not exist (a relative import left behind by a move?)"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_dependency_rule(module):
    bad = sorted(m for m in GRAPH[module] if m in MODULES and not allowed(layer(module), layer(m)))
    assert not bad, f"{module} ({layer(module)}) must not import {bad}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_the_core_ui_and_their_own_lesson(notebook):
    own = f"lessons.{lesson_of(notebook)}"
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for m in imported_modules(ast.parse(code), "__main__", False):
            assert layer(m) in ("core", "seeds", "ui", own), f"{notebook.name} imports {m}, another notebook's lesson"


def test_there_are_no_import_cycles():
    """Depth-first search over every import inside pgcourse (the package's __init__ aside: importing
    ``from pgcourse import x`` runs it, but it only gathers the core's public names)."""
    graph = {m: {n for n in deps if n in MODULES and n != "pgcourse"} for m, deps in GRAPH.items() if m != "pgcourse"}
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_rule_is_checked_on_real_imports():
    """The walker sees relative, absolute and function-level imports (else the tests above would pass vacuously)."""
    panel = "pgcourse.lessons.nb10_capstone.panel"
    assert {"pgcourse.seeds", "pgcourse.ui.panel", "pgcourse.stats"} <= GRAPH[panel]
    assert layer(panel) == "lessons.nb10_capstone" and not allowed("core", "lessons.nb10_capstone")
    tree = ast.parse("def f():\n    from ..lessons.nb03_reinforce import measure\n"
                     "if TYPE_CHECKING:\n    from ..lessons.nb06_causality_reward_to_go import panel\n"
                     "importlib.import_module('pgcourse.lessons.nb07_baselines.panel')\n")
    assert imported_modules(tree, "pgcourse.ui.panel", False) == {"pgcourse.lessons.nb03_reinforce.measure",
                                                                  "pgcourse.lessons.nb06_causality_reward_to_go.panel",
                                                                  "pgcourse.lessons.nb07_baselines.panel"}


@pytest.mark.parametrize("module", sorted(m for m, p in MODULES.items()
                                          if not p.stem.startswith("_") or m == "pgcourse"))
def test_public_modules_declare_all_and_define_every_name_in_it(module):
    mod = importlib.import_module(module)
    names = getattr(mod, "__all__", None)
    assert names, f"{module} declares __all__"
    assert len(set(names)) == len(names), f"{module}.__all__ lists a name twice"
    assert [n for n in names if not hasattr(mod, n)] == [], f"{module}.__all__ names what it does not define"


@pytest.mark.parametrize("importer, imported, ok", [
    ("core", "core", True), ("core", "ui", False), ("core", "lessons.nb03_reinforce", False),
    ("core", "seeds", False), ("seeds", "core", True), ("seeds", "ui", False),
    ("seeds", "lessons.nb03_reinforce", False), ("ui", "seeds", True), ("lessons.nb03_reinforce", "seeds", True),
    ("ui", "core", True), ("ui", "lessons.nb03_reinforce", False),
    ("lessons.nb03_reinforce", "core", True), ("lessons.nb03_reinforce", "ui", True),
    ("lessons.nb03_reinforce", "lessons.nb03_reinforce", True), ("lessons.nb03_reinforce", "lessons.nb07_baselines", False),
    ("lessons.nb03_reinforce", "lessons", False),
])
def test_the_rule_table(importer, imported, ok):
    assert allowed(importer, imported) is ok


def _loaded_after_importing(modules: list[str], prefix: str) -> str:
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted(m for m in sys.modules if m.startswith({prefix!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_core_and_ui_loads_no_lesson():
    """At run time too: every core and ui module imported in a fresh interpreter pulls in no lesson."""
    modules = sorted(m for m in MODULES if layer(m) in ("core", "seeds", "ui") and m != "pgcourse.__main__")
    assert _loaded_after_importing(modules, "pgcourse.lessons") == "[]"


def test_the_core_never_loads_the_engine():
    """The reading path stays readable: importing every core module (pgcourse.train among them) loads
    nothing of pgcourse.seeds."""
    core = sorted(m for m in MODULES if layer(m) == "core" and m != "pgcourse.__main__")
    assert "pgcourse.reinforce" in core
    assert _loaded_after_importing(core, "pgcourse.seeds") == "[]"


def test_the_trainer_a_learner_reads_is_short():
    """pgcourse.train is defined in one module short enough to read in one sitting (at most 200 lines)."""
    import inspect

    import pgcourse

    path = Path(inspect.getsourcefile(pgcourse.train))
    assert path == PACKAGE / "reinforce.py"
    assert len(path.read_text().splitlines()) <= 200
