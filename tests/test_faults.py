"""Faults a new user meets: interrupted runs, a bad --out, a full disk, malformed notebooks and configs,
sizes too large, a panel whose compute fails. Each ends in one clear line and loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

from pgcourse import cli
from pgcourse.config import TrainConfig
from pgcourse.course import build_site, make_student, strip_solutions, student_notebook
from pgcourse.io import load_policy, save_run
from pgcourse.reinforce import train
from pgcourse.ui.panel import Panel, n_slider

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(capsys, status_expected, *argv, match=""):
    status, _, err = run_cli(capsys, *argv)
    assert status == status_expected, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgcourse: error: "), err
    assert "Traceback" not in err and match in lines[0], lines[0]
    return lines[0]


# --- interruption: real signals to a real process --------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_training_saves_the_run_and_exits_with_one_line(tmp_path, sig, status):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "pgcourse", "train", "--env", "Pendulum-v1", "--iterations",
                             "100000", "--out", str(out), "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(12)  # imports (up to ~10 s on a loaded 2-core machine) and a few iterations
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert f"interrupted by {signal.Signals(sig).name}" in stderr and str(out) in stderr
    policy, config = load_policy(out)  # evaluate loads it
    assert config.env_id == "Pendulum-v1"
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) >= 2  # the header and at least one iteration
    result = cli.evaluate(policy, config.env_id, episodes=2, seed=0)
    assert result["episodes"] == 2


def test_train_returns_what_it_has_when_interrupted():
    """The Python API returns (policy, history) with history.interrupted = True (no exception)."""
    def interrupt(iteration, batch, history, policy):
        if iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)

    policy, history = train(iterations=50, progress=False, callback=interrupt)
    assert history.interrupted and history.interrupt_signal == "SIGINT"
    assert len(history) == 3 and history.summary()["interrupted"] is True
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored


def test_a_second_ctrl_c_stops_at_once():
    def interrupt(iteration, batch, history, policy):
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(iterations=50, progress=False, callback=interrupt,
              on_step=lambda *args: os.kill(os.getpid(), signal.SIGINT))


# --- --out is checked before training ---------------------------------------------------------------

@pytest.mark.parametrize("make", ["file", "under_file", "unwritable"])
def test_a_bad_out_is_refused_before_training(tmp_path, capsys, monkeypatch, make):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    # /proc refuses new folders even to root (a chmod 500 folder would not stop root)
    target = {"file": a_file, "under_file": a_file / "run", "unwritable": Path("/proc/pgcourse-run")}[make]
    trained = []
    monkeypatch.setattr(sys.modules["pgcourse.reinforce"], "train", lambda *a, **k: trained.append(1))
    line = one_line_error(capsys, 2, "train", "--iterations", "2", "--out", str(target), match="--out")
    assert not trained, line


# --- atomic saves ---------------------------------------------------------------------------------

def test_a_full_disk_while_saving_keeps_the_previous_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    old_policy, old_history = train(iterations=2, progress=False, seed=1)
    save_run(out, old_policy, TrainConfig(iterations=2, seed=1), old_history)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    new_policy, new_history = train(iterations=3, progress=False, seed=2, hidden=(8,))

    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        save_run(out, new_policy, TrainConfig(iterations=3, seed=2, hidden=(8,)), new_history)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # the old complete run, and no temporary file left behind
    policy, config = load_policy(out)
    assert config.seed == 1 and config.hidden == (64,)


def test_a_full_disk_in_the_cli_is_one_line(tmp_path, capsys, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    one_line_error(capsys, 2, "train", "--iterations", "1", "--no-progress", "--out", str(tmp_path / "run"),
                   match="No space left on device")
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_new_run_replaces_every_file_of_the_old_one(tmp_path):
    out = tmp_path / "run"
    for seed, hidden in ((1, (64,)), (2, (8,))):
        policy, history = train(iterations=2 + seed, progress=False, seed=seed, hidden=hidden)
        save_run(out, policy, TrainConfig(iterations=2 + seed, seed=seed, hidden=hidden), history)
    policy, config = load_policy(out)
    assert config.seed == 2 and config.hidden == (8,)
    assert len((out / "history.csv").read_text().strip().splitlines()) == 1 + 4
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "history.csv", "learning_curve.png", "policy.pt"]


# --- the student edition ----------------------------------------------------------------------------

def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if kind == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="PASS\n")]
        nb.cells.append(cell)
    return nb


GOOD = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"


@pytest.mark.parametrize("source, match", [
    ("def f(x):\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
     "    ### END SOLUTION\n", "nested"),
    ("def f(x):\n    ### END SOLUTION\n    return 2 * x\n    ### BEGIN SOLUTION\n", "never opened"),
    ("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n", "never closed"),
])
def test_malformed_markers_are_refused_naming_the_cell(source, match):
    with pytest.raises(ValueError, match=match) as err:
        student_notebook(_notebook(("markdown", "# title"), ("code", source)), "03_x.ipynb")
    assert "03_x.ipynb, cell 1" in str(err.value)


def test_markers_in_markdown_are_refused():
    with pytest.raises(ValueError, match="cell 0 .markdown.: solution markers belong in code cells only"):
        student_notebook(_notebook(("markdown", "### BEGIN SOLUTION\nanswer\n### END SOLUTION")), "x.ipynb")


def test_no_solution_line_survives_and_outputs_of_cells_using_solved_functions_are_cleared():
    nb = student_notebook(_notebook(("code", GOOD), ("markdown", "## Not the exercises"),
                                    ("code", "print(f(3))"), ("code", "print('unrelated')")), "x.ipynb")
    assert "return 2 * x" not in nb.cells[0].source and "raise NotImplementedError()" in nb.cells[0].source
    assert nb.cells[2].outputs == [] and nb.cells[3].outputs != []
    assert strip_solutions(GOOD) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"


def _write(folder: Path, name: str, nb) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


def test_student_refuses_out_inside_src_and_leaves_no_half_built_folder(tmp_path, capsys):
    src = tmp_path / "src"
    _write(src, "00_a.ipynb", _notebook(("code", GOOD)))
    _write(src, "01_b.ipynb", _notebook(("code", "### BEGIN SOLUTION\nx = 1\n")))  # bad, in the middle
    _write(src, "02_c.ipynb", _notebook(("code", GOOD)))
    for out in (src, src / "student"):
        one_line_error(capsys, 2, "student", "--src", str(src), "--out", str(out), match="inside it")
    one_line_error(capsys, 2, "student", "--src", str(src), "--out", str(tmp_path / "out"), match="01_b.ipynb, cell 0")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no temporary folder left either
    (src / "01_b.ipynb").unlink()
    assert [p.name for p in make_student(src, tmp_path / "out")] == ["00_a.ipynb", "02_c.ipynb"]


def test_a_json_file_that_is_not_a_notebook_is_one_line(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "00_a.ipynb").write_text(json.dumps({"hello": "world"}))
    one_line_error(capsys, 2, "student", "--src", str(src), "--out", str(tmp_path / "out"),
                   match="00_a.ipynb is not a readable notebook")
    one_line_error(capsys, 2, "site", "--src", str(src), "--out", str(tmp_path / "site"),
                   match="00_a.ipynb is not a readable notebook")


@pytest.mark.parametrize("command", ["student", "site"])
def test_out_naming_a_file_or_a_foreign_folder_is_refused(tmp_path, capsys, command):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    one_line_error(capsys, 2, command, "--src", str(ROOT / "notebooks"), "--out", str(a_file), match="is a file")
    other = tmp_path / "home"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    one_line_error(capsys, 2, command, "--src", str(ROOT / "notebooks"), "--out", str(other), match="thesis.tex")
    assert a_file.read_text() == "keep me" and (other / "thesis.tex").read_text() == "keep me"


# --- the static site is offline and sanitised -------------------------------------------------------

def test_the_site_loads_nothing_from_the_internet_and_drops_raw_scripts(tmp_path):
    from html.parser import HTMLParser

    src = tmp_path / "src"
    src.mkdir()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        (src / path.name).write_bytes(path.read_bytes())
    evil = nbformat.read(src / "00_welcome.ipynb", as_version=4)
    evil.cells.append(nbformat.v4.new_markdown_cell('<script>fetch("https://evil.example/x")</script>'
                                                    '<img src="https://evil.example/pixel.png">'))
    nbformat.write(evil, src / "00_welcome.ipynb")
    build_site(src, tmp_path / "site")

    class Loads(HTMLParser):
        def __init__(self):
            super().__init__()
            self.remote, self.scripts, self.csp = [], [], False
            self._in_script = False

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            url = attrs.get("src") or (attrs.get("href") if tag == "link" else None) or ""
            if tag in ("script", "link", "img", "iframe", "embed", "object", "source") and url.startswith(("http:", "https:", "//")):
                self.remote.append((tag, url))
            if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
                self.csp = "connect-src 'none'" in attrs.get("content", "")
            self._in_script = tag == "script"

        def handle_endtag(self, tag):
            self._in_script = False

        def handle_data(self, data):
            if self._in_script:
                self.scripts.append(data)

    pages = sorted((tmp_path / "site").glob("*.html"))
    assert len(pages) == 12
    for page in pages:
        parser = Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        assert parser.remote == [], (page.name, parser.remote)
        assert not any("http://" in s or "https://" in s for s in parser.scripts), page.name
        if page.name != "index.html":
            assert parser.csp, page.name
    page = (tmp_path / "site" / "00_welcome.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;fetch" in page  # shown as text, not run
    assert "<script>fetch" not in page and '<img src="https://evil' not in page


# --- one line instead of a traceback ----------------------------------------------------------------

@pytest.mark.parametrize("argv, match", [
    (["train", "--lr", "1e300"], "lr must be a finite number in (0, 1000]"),
    (["train", "--seed", "-1"], "seed must be in [0, 2**63)"),
    (["train", "--seed", str(2**70)], "seed must be in [0, 2**63)"),
    (["train", "--n-traj", "100000000"], "n_traj must be at most 65,536"),
    (["train", "--hidden", "100000", "100000", "--iterations", "1"], "GiB"),
    (["train", "--env", "NoSuchEnv-v0"], "unknown environment id"),
    (["evaluate", "--policy", ".", "--seed", "-1"], "seed must be in [0, 2**63)"),
    (["evaluate", "--policy", ".", "--episodes", "100000000"], "episodes must be at most 65,536"),
])
def test_bad_input_is_one_line_with_status_2(capsys, argv, match):
    one_line_error(capsys, 2, *argv, "--no-progress" if argv[0] == "train" else "--json", match=match)


def test_a_missing_extra_is_one_line(capsys, monkeypatch):
    import gymnasium as gym

    def missing(*args, **kwargs):
        raise gym.error.DependencyNotInstalled("Box2D is not installed, run `pip install \"gymnasium[box2d]\"`")

    monkeypatch.setattr(gym, "make_vec", missing)
    one_line_error(capsys, 2, "train", "--env", "MountainCar-v0", "--no-progress",
                   match="cannot make environment 'MountainCar-v0': Box2D")


def test_an_internal_fault_is_one_line_with_status_1(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something inside torch")

    monkeypatch.setattr(sys.modules["pgcourse.reinforce"], "train", broken)
    one_line_error(capsys, 1, "train", "--no-progress", match="internal error (RuntimeError: something inside torch)")


@pytest.mark.parametrize("field, value, match", [
    ("hidden", "64", "hidden must be a sequence of whole numbers"),
    ("hidden", [1.7], "hidden must be a sequence of whole numbers"),
    ("hidden", [0], "hidden must be a sequence of whole numbers"),
    ("lr", "0.04", "lr must be a finite number"),
    ("lr", float("nan"), "lr must be a finite number"),
    ("lr", 1e4, "lr must be a finite number in (0, 1000]"),
    ("gamma", "0.9", "gamma must be a finite number in [0, 1]"),
    ("gamma", 1.5, "gamma must be in [0, 1]"),
    ("log_std_init", float("inf"), "log_std_init must be a finite number"),
    ("seed", 1.5, "seed must be a whole number"),
    ("seed", -1, "seed must be in [0, 2**63)"),
    ("seed", 2**63, "seed must be in [0, 2**63)"),
    ("normalise", "no", "normalise must be True or False"),
    ("value_steps", -3, "value_steps must be ≥ 1"),
    ("n_traj", 65_537, "n_traj must be at most 65,536"),
    ("value_lr", 0.0, "value_lr must be a finite number"),
])
def test_train_config_checks_types_and_ranges(field, value, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("*", r"\*")):
        TrainConfig(**{field: value})


def test_train_config_keeps_good_values():
    config = TrainConfig(hidden=[32, 16], lr=1, gamma=1, seed=2**63 - 1)
    assert config.hidden == (32, 16) and config.validate() is config


# --- panels -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [ZeroDivisionError("division by zero"), RuntimeError("boom"),
                                   ValueError("N must be ≥ 2")])
def test_a_failing_panel_shows_the_error_in_red_and_stays_usable(error):
    calls = []

    def compute(n_traj):
        calls.append(n_traj)
        if n_traj == 8:
            raise error
        return n_traj

    panel = Panel("p", {"n_traj": n_slider(4)}, compute, lambda fig, r, e: fig.subplots().plot([r]))
    panel.button.click()
    first = panel.png
    panel.set(n_traj=8)
    panel.button.click()  # the button does not raise: the status line says what went wrong
    assert "color:#b00" in panel.status.value and str(error) in panel.status.value
    if not isinstance(error, ValueError):
        assert type(error).__name__ in panel.status.value
    assert not panel.button.disabled and panel.png == first
    panel.set(n_traj=16)
    panel.button.click()
    assert calls == [4, 8, 16] and panel.result == 16 and "color:#b00" not in panel.status.value


def test_an_interrupted_panel_stays_usable():
    def compute(n_traj):
        if n_traj == 8:
            raise KeyboardInterrupt
        return n_traj

    panel = Panel("p", {"n_traj": n_slider(8)}, compute, lambda fig, r, e: fig.subplots().plot([r]))
    with pytest.raises(KeyboardInterrupt):
        panel.run()
    assert "interrupted" in panel.status.value and not panel.button.disabled
    panel.set(n_traj=4)
    assert panel.run() == 4


def test_an_exclusive_atomic_write_never_replaces_a_file(tmp_path):
    """io.atomic_write(exclusive=True), which the learner's workspace adds notebooks with: a file that exists
    when the new one is complete stays as it was, and no temporary file is left."""
    from pgcourse.io import atomic_write

    path = tmp_path / "03_reinforce.ipynb"
    with atomic_write(path, "w", exclusive=True) as out:
        out.write("course")
    with pytest.raises(FileExistsError):
        with atomic_write(path, "w", exclusive=True) as out:
            out.write("would replace the learner's")
    assert path.read_text() == "course" and [p.name for p in tmp_path.iterdir()] == [path.name]
