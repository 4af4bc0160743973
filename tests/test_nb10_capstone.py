"""Notebook 10: the ablation, step sizes in parameter and policy space, the peer table, checkers, the panel."""

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from helpers import assert_same_history
from pgcourse import TrainConfig, train
from pgcourse.baselines import normalise
from pgcourse.capstone import (PEERS_JSON, ablation, format_ablation, load_peers, machine_line, peer_rows,
                               peer_table_markdown, step_sizes)
from pgcourse.checks.capstone import check_config_solves, check_normalised_advantages
from pgcourse.implementing_policy_gradients import panel_config
from pgcourse.widgets.capstone import capstone_panel, label_configuration, train_configuration

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# ablation


def test_ablation_rows_summarise_direct_training_runs():
    rows = ablation([("easy", {}), ("plain", {"weights": "total_return", "baseline": "none", "normalise": False})],
                    seeds=(0, 1), iterations=4, target_return=40.0)
    for row, fields in zip(rows, ({}, {"weights": "total_return", "baseline": "none", "normalise": False})):
        histories = [train(TrainConfig(**fields, seed=s, iterations=4, target_return=40.0), progress=False)[1]
                     for s in (0, 1)]
        assert [r["env_steps"] for r in row["runs"]] == [h.env_steps[-1] for h in histories]
        assert [r["solved"] for r in row["runs"]] == [h.solved for h in histories]
        solved = sorted(h.env_steps[-1] for h in histories if h.solved)
        assert row["solved"] == len(solved) and row["n"] == 2
        if solved:
            assert row["median_steps"] == pytest.approx(sum(solved) / len(solved))   # median of ≤ 2 values
        else:
            assert math.isnan(row["median_steps"])
        assert row["final_return"] == pytest.approx(sum(h.final_return for h in histories) / 2)


def test_format_ablation_rounds_and_marks_missing_values():
    rows = [{"name": "a", "solved": 2, "n": 3, "median_steps": 24426.0, "final_return": 495.56},
            {"name": "b", "solved": 0, "n": 3, "median_steps": math.nan, "final_return": math.nan}]
    text = format_ablation(rows)
    lines = text.splitlines()
    assert [c.strip() for c in lines[2].split(" | ")] == ["a", "2/3", "24.4k", "496"]
    assert "—" in lines[3] and "0/3" in lines[3]


# ---------------------------------------------------------------------------------------------
# step sizes


def test_step_sizes_sgd_step_is_lr_times_the_gradient_norm_and_kl_is_positive():
    config = TrainConfig(seed=2, iterations=6, optimizer="sgd", lr=0.05)
    sizes = step_sizes(config)
    _, history = train(config, progress=False)
    assert list(sizes.iteration) == [1, 2, 3, 4, 5]      # step 0 is not measured
    for k, step in zip(sizes.iteration, sizes.param_step):
        assert step == pytest.approx(0.05 * history.grad_norm[k], rel=1e-4)   # SGD: ‖Δθ‖ = α ‖∇L‖
    assert (sizes.kl > 0).all()
    assert list(sizes.mean_return) == history.mean_return[1:]


def test_step_sizes_kl_is_zero_for_a_vanishing_step():
    sizes = step_sizes(TrainConfig(seed=0, iterations=3, optimizer="sgd", lr=1e-12))
    assert (sizes.kl < 1e-12).all() and (sizes.param_step < 1e-9).all()


# ---------------------------------------------------------------------------------------------
# the peer table


def test_load_peers_default_is_the_repositorys_bench_peers_json():
    assert PEERS_JSON == ROOT / "bench" / "peers.json"


def test_load_peers_returns_none_when_the_file_is_missing(tmp_path):
    assert load_peers(tmp_path / "peers.json") is None
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a bench/peers.py --json file"):
        load_peers(tmp_path / "bad.json")


@pytest.mark.skipif(not (ROOT / "bench" / "peers.py").exists(), reason="bench/peers.py is not in this checkout")
def test_peer_table_reads_what_bench_peers_writes(tmp_path):
    out = tmp_path / "peers.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "peers.py"), "--systems", "pgcourse", "--seeds", "0",
                    "--json", str(out)], check=True, capture_output=True, text=True, cwd=ROOT, timeout=120)
    data = load_peers(out)
    (row,) = peer_rows(data)
    result = data["results"][0]
    assert row["label"] == "pgcourse REINFORCE (defaults)" and row["n"] == 1
    assert row["solved"] == int(result["solved"])
    if result["solved"]:
        assert row["env_steps"] == (result["env_steps"],) * 3
    table = peer_table_markdown(data)
    assert table.startswith("| system |") and "machine: nproc" in table and "TrainConfig() defaults" in table


def test_peer_rows_statistics_over_solved_seeds():
    data = {"machine": {"nproc": 2, "cpu": "x", "python": "3", "torch": "2", "torch_threads": 1,
                        "loadavg_start": [0.1, 0.2, 0.3]},
            "settings": {"ppo": {"source": "zoo"}},
            "results": [{"system": "ppo", "seed": s, "solved": s != 2, "wall_s": 1.0 + s, "env_steps": 1000 * (s + 1)}
                        for s in range(4)]
                       + [{"system": "tianshou", "seed": 0, "solved": False, "wall_s": 9.0, "env_steps": 5}]}
    ppo, tianshou = peer_rows(data)
    assert (ppo["solved"], ppo["n"], ppo["source"]) == (3, 4, "zoo")
    assert ppo["env_steps"] == (2000.0, 1000.0, 4000.0) and ppo["wall_s"] == (2.0, 1.0, 4.0)
    assert tianshou["env_steps"] is None
    table = peer_table_markdown(data)
    assert "| SB3 PPO (zoo) | zoo | 3/4 | 2.00 (1.00–4.00) | 2,000 (1,000–4,000) |" in table
    assert "| Tianshou Reinforce (test) |  | 0/1 | — | — |" in table
    assert machine_line(data["machine"]).startswith("machine: nproc 2, x, python 3")


# ---------------------------------------------------------------------------------------------
# checkers


def _stub(*args, **kwargs):
    raise NotImplementedError()


def test_normalised_advantages_checker(capsys):
    assert check_normalised_advantages(normalise)

    def population_std(adv, mask):
        real = adv[mask]
        return torch.where(mask, (adv - real.mean()) / (real.std(unbiased=False) + 1e-8), torch.zeros(()).double())

    def padding_counted(adv, mask):
        return torch.where(mask, (adv - adv.mean()) / (adv.std() + 1e-8), torch.zeros(()).double())

    def padding_kept(adv, mask):
        real = adv[mask]
        return (adv - real.mean()) / (real.std() + 1e-8)

    for wrong in (population_std, padding_counted, padding_kept, _stub):
        assert not check_normalised_advantages(wrong)
    assert "not implemented yet" in capsys.readouterr().out


def test_config_checker_passes_the_defaults_and_fails_the_plainest_config(capsys):
    assert check_config_solves(lambda: TrainConfig(), max_env_steps=40_000, seeds=(0, 1))
    plain = TrainConfig(weights="total_return", baseline="none", normalise=False, optimizer="sgd", lr=1e-4)
    result = check_config_solves(plain, max_env_steps=40_000, seeds=(0,))
    assert not result and "seed 0: not solved" in result.message


def test_config_checker_rejects_stubs_and_wrong_objects(capsys):
    assert "not implemented yet" in check_config_solves(_stub).message
    assert "expected a pgcourse.TrainConfig" in check_config_solves(lambda: {"lr": 0.1}).message
    assert "CartPole-v1" in check_config_solves(TrainConfig(env_id="Acrobot-v1")).message
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tight = check_config_solves(TrainConfig(), max_env_steps=1000, seeds=(0,))
        assert not tight and "used up 1,000 env steps" in tight.message
        assert torch.get_num_threads() == 2                         # the checker restores the thread count
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------------------------------
# panel


def test_capstone_panel_trains_redraws_and_matches_a_direct_train_call():
    panel = capstone_panel()
    panel.run()
    first = panel.png
    direct = train(panel_config(8, TrainConfig().lr, "adam", 0), progress=False)[1]   # the panel starts at the defaults
    assert_same_history(panel.result.history, direct)
    assert label_configuration(panel.result.config) == f"Q̂ − mean b, normalised, adam α={TrainConfig().lr:.2g}, N=8"

    panel.set(weights="total_return", baseline="none", normalise=False, optimizer="sgd", n_traj=4, lr=1.0)
    panel.button.click()
    assert panel.png != first and len(panel.runs) == 2
    config = panel.result.config
    assert (config.weights, config.baseline, config.normalise, config.optimizer, config.n_traj, config.lr) == \
        ("total_return", "none", False, "sgd", 4, 1.0)
    expected = train_configuration("total_return", "none", False, "sgd", 4, 1.0, progress=False).history
    assert_same_history(panel.result.history, expected)
    assert_same_history(panel.result.history, train(replace(config, iterations=len(expected)), progress=False)[1])
