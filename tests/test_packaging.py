"""The install story: pyproject, environment.yml, the torch pin, the README's two commands, CI."""

import os
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[\[<>=!~ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = _pyproject()
    wanted = {_name(s): s for s in project["dependencies"] + project["optional-dependencies"]["lab"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(s): s for s in pip_section if not s.startswith("-")}
    assert listed.keys() == wanted.keys()
    assert listed == wanted, "same names and the same version ranges"
    assert "python=3.11" in env["dependencies"]


def _make_dry_run(*targets: str) -> str:
    """What `make` would run for the targets (make -n: nothing is executed)."""
    done = subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_torch_is_pinned_to_the_cpu_wheel_in_one_constraints_file():
    pins = [ln for ln in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
            if ln.split("#")[0].strip().lower().startswith("torch")]
    assert pins == ["torch==2.13.0"], "one torch pin, the CPU wheel's version"
    installs = [ln for ln in _make_dry_run("install").splitlines() if "pip install" in ln]
    assert installs and all("-c requirements/constraints.txt" in ln for ln in installs), installs
    import torch

    assert torch.__version__.split("+")[0] == "2.13.0" and not torch.cuda.is_available()


def test_readme_starts_with_the_two_commands_and_make_knows_them():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S).group(1)
    commands = [ln.split("#")[0].strip() for ln in first_block.splitlines() if ln.strip()]
    assert commands == ["make lab", "make test"]
    assert text.index("```") < text.index("##"), "the commands come before any section"
    lab = _make_dry_run("lab")
    assert "--ServerApp.ip=127.0.0.1" in lab and "jupyter lab" in lab
    assert "pytest tests notebooks --nbval-lax" in _make_dry_run("test")


def test_ci_runs_make_test_then_the_other_float_path(tmp_path):
    """Run .ci/run with a `make` that only records how it was called (and a Chromium that is 'installed')."""
    log = tmp_path / "calls"
    for name, body in (("make", f'echo "$* ATEN=${{ATEN_CPU_CAPABILITY:-}} BROWSER=${{PGCOURSE_REQUIRE_BROWSER:-}}" >> {log}'),
                       ("chromium", "exit 0")):
        tool = tmp_path / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    env.pop("ATEN_CPU_CAPABILITY", None)
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert log.read_text().splitlines() == ["test ATEN= BROWSER=1", "test-float-path ATEN=default BROWSER=1"]
    (tmp_path / "make").write_text("#!/bin/sh\nexit 3\n")   # a failing step fails the run
    assert subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, timeout=60).returncode != 0
