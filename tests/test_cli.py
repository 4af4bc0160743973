"""The command line: outputs, the final JSON line, saved policies, and one-line errors with status 2."""

import json
import subprocess
import sys

import pytest
import torch

from pgcourse.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "pgcourse", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    proc = run("train", "--env", "CartPole-v1", "--seed", "0", "--target-return", "475",
               "--iterations", "200", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_train_writes_outputs_and_one_json_line(trained):
    out, proc = trained
    last = proc.stdout.strip().splitlines()[-1]
    summary = json.loads(last)
    assert set(summary) == {"solved", "iterations", "env_steps", "wall_s", "final_return", "interrupted"}
    assert summary["solved"] is True and summary["final_return"] >= 475
    assert (out / "history.csv").read_text().startswith("iteration,mean_return")
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = torch.load(out / "policy.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert json.loads((out / "config.json").read_text())["env_id"] == "CartPole-v1"


def test_evaluate_saved_policy(trained):
    out, _ = trained
    proc = run("evaluate", "--policy", str(out), "--episodes", "16", "--seed", "100", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"mean_return", "stderr", "episodes"} and result["episodes"] == 16
    assert result["mean_return"] >= 400
    greedy = json.loads(run("evaluate", "--policy", str(out), "--episodes", "4", "--greedy", "--json").stdout)
    assert greedy["episodes"] == 4


def test_evaluate_is_seeded(trained):
    out, _ = trained
    a = main(["evaluate", "--policy", str(out), "--episodes", "3", "--seed", "1", "--json"])
    assert a == 0


@pytest.mark.parametrize("args,message", [
    (["train", "--env", "NoSuchEnv-v0"], "unknown environment id 'NoSuchEnv-v0'"),
    (["train", "--n-traj", "0"], "n_traj must be ≥ 1, got 0"),
    (["train", "--lr", "-1"], "lr must be a finite number in (0, 1000], got -1.0"),
    (["train", "--lr", "nan"], "lr must be a finite number in (0, 1000], got nan"),
    (["train", "--gamma", "2"], r"gamma must be in [0, 1], got 2.0"),
    (["train", "--env", "Pendulum-v1", "--policy", "categorical"], "policy='categorical' needs discrete actions"),
    (["train", "--n-traj", "many"], "argument --n-traj: invalid int value: 'many'"),
    (["fly"], "invalid choice: 'fly'"),
    (["evaluate", "--policy", "/nonexistent/dir"], "policy folder '/nonexistent/dir' does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pgcourse: error: ")
    assert message in err


def test_bad_input_from_a_real_process_has_no_traceback():
    proc = run("train", "--lr", "0")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "pgcourse: error: lr must be a finite number in (0, 1000], got 0.0"
    assert "Traceback" not in proc.stderr


def test_evaluate_missing_file(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["evaluate", "--policy", str(tmp_path)]) == 2
    assert "policy.pt' is missing" in capsys.readouterr().err


def test_evaluate_corrupt_file(trained, tmp_path, capsys):
    out, _ = trained
    (tmp_path / "config.json").write_text((out / "config.json").read_text())
    (tmp_path / "policy.pt").write_bytes(b"this is not a checkpoint")
    assert main(["evaluate", "--policy", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a readable state dict" in err


def test_evaluate_refuses_pickled_code(trained, tmp_path, capsys):
    out, _ = trained
    (tmp_path / "config.json").write_text((out / "config.json").read_text())
    torch.save({"weights": object()}, tmp_path / "policy.pt")  # not loadable with weights_only=True
    assert main(["evaluate", "--policy", str(tmp_path)]) == 2
    assert "is not a readable state dict" in capsys.readouterr().err


def test_evaluate_mismatched_file(trained, tmp_path, capsys):
    out, _ = trained
    config = json.loads((out / "config.json").read_text())
    config["hidden"] = [64, 64]
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "policy.pt").write_bytes((out / "policy.pt").read_bytes())
    assert main(["evaluate", "--policy", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match the policy in config.json" in err


def test_evaluate_corrupt_config(trained, tmp_path, capsys):
    out, _ = trained
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "policy.pt").write_bytes((out / "policy.pt").read_bytes())
    assert main(["evaluate", "--policy", str(tmp_path)]) == 2
    assert "is not a valid config" in capsys.readouterr().err


def test_evaluate_bad_episodes(trained, capsys):
    out, _ = trained
    assert main(["evaluate", "--policy", str(out), "--episodes", "0"]) == 2
    assert "episodes must be ≥ 1, got 0" in capsys.readouterr().err


def test_every_trainconfig_field_is_settable_from_the_command_line():
    """The train options are generated from TrainConfig: a new field is an option with its docstring as help."""
    from dataclasses import fields

    from pgcourse import TrainConfig
    from pgcourse.cli import build_parser, config_from_args, field_docs

    changed = {"env_id": "Pendulum-v1", "weights": "total_return", "baseline": "value", "normalise": False,
               "n_traj": 3, "lr": 0.5, "optimizer": "sgd", "gamma": 0.9, "hidden": (7, 5), "iterations": 9,
               "seed": 11, "target_return": 12.5, "policy": "gaussian", "log_std_init": -0.5, "value_lr": 0.2,
               "value_steps": 2, "steps_per_batch": 1, "importance_weights": "first_order", "max_env_steps": 99}
    assert set(changed) == {f.name for f in fields(TrainConfig)}, "a new field needs a value in this test"
    argv = ["train"]
    for name, value in changed.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    config = config_from_args(build_parser().parse_args(argv))
    assert config == TrainConfig(**changed)
    # no option given: the defaults; the help text is each field's docstring
    assert config_from_args(build_parser().parse_args(["train"])) == TrainConfig()
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    for name, doc in field_docs().items():
        assert " ".join(doc.split()[:4]) in help_text, name
    assert len(field_docs()) == len(fields(TrainConfig))
