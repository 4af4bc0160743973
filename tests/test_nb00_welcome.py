"""Notebook 00: the welcome notebook's agents, final_states and its two exercise checkers."""

import math

import gymnasium as gym
import pytest
import torch

from helpers import not_implemented
from pgcourse import sample_batch
from pgcourse.lessons.nb00_welcome.checks import (check_discounted_return, check_episode_length, discounted_return_reference,
                                     episode_length_reference)
from pgcourse.lessons.nb00_welcome.measure import LeanController, UniformRandomPolicy, final_states


# --- check_episode_length -------------------------------------------------------------------------

def _until_terminated(env, act, seed):  # ignores truncation: steps past the time limit
    obs, _ = env.reset(seed=seed)
    n = 0
    while True:
        obs, _, terminated, truncated, _ = env.step(act(obs))
        n += 1
        if terminated:
            return n, True, bool(truncated)


def _off_by_one(env, act, seed):  # counts the reset as a step
    n, terminated, truncated = episode_length_reference(env, act, seed)
    return n + 1, terminated, truncated


def _flags_swapped(env, act, seed):
    n, terminated, truncated = episode_length_reference(env, act, seed)
    return n, truncated, terminated


def test_episode_length_checker_passes_the_reference():
    assert check_episode_length(episode_length_reference, verbose=False).passed


@pytest.mark.parametrize("wrong", [_until_terminated, _off_by_one, _flags_swapped])
def test_episode_length_checker_fails_wrong_implementations(wrong):
    result = check_episode_length(wrong, verbose=False)
    assert not result.passed


def test_episode_length_checker_stops_a_loop_past_the_end():
    result = check_episode_length(_until_terminated, verbose=False)
    assert "after the episode had ended" in result.message


def test_episode_length_checker_reports_a_stub(capsys):
    result = check_episode_length(not_implemented)
    assert not result.passed and "not implemented" in result.message
    assert "❌ FAIL" in capsys.readouterr().out


# --- check_discounted_return ----------------------------------------------------------------------

def test_discounted_return_reference_values():
    assert discounted_return_reference([1.0, 2.0, 3.0], 0.5) == pytest.approx(2.75)
    assert discounted_return_reference([], 0.9) == 0.0


@pytest.mark.parametrize("wrong", [
    lambda rewards, gamma: float(sum(rewards)),                                          # forgot the discount
    lambda rewards, gamma: sum(gamma ** (t + 1) * r for t, r in enumerate(rewards)),     # discounts the first reward
    lambda rewards, gamma: sum(gamma * r for r in rewards),                              # γ instead of γ^t
])
def test_discounted_return_checker_fails_wrong_implementations(wrong):
    assert check_discounted_return(discounted_return_reference, verbose=False).passed
    assert not check_discounted_return(wrong, verbose=False).passed


def test_discounted_return_checker_reports_a_stub():
    result = check_discounted_return(not_implemented, verbose=False)
    assert not result.passed and "not implemented" in result.message


# --- the two agents -------------------------------------------------------------------------------

def test_lean_controller_is_truncated_and_random_agent_terminates():
    lean = sample_batch("CartPole-v1", LeanController(0.5), n_traj=8, seed=0)
    assert lean.truncated.all() and not lean.terminated.any() and (lean.lengths == 500).all()
    rand = sample_batch("CartPole-v1", UniformRandomPolicy(2), n_traj=8, seed=0)
    assert rand.terminated.all() and not rand.truncated.any() and (rand.lengths < 100).all()
    assert torch.equal(rand.returns(), rand.lengths.float())  # reward 1 per step, padding contributes 0


def test_lean_controller_pushes_toward_the_lean():
    controller = LeanController(0.5)
    obs = torch.tensor([[0.0, 0.0, 0.05, 0.0], [0.0, 0.0, -0.05, 0.0], [0.0, 0.0, 0.05, -0.2]])
    assert controller.mode(obs).tolist() == [1, 0, 0]  # right, left, left (0.05 − 0.1 < 0)
    assert controller(obs[0].numpy()) == 1


def test_uniform_random_policy_is_uniform_and_seeded():
    policy = UniformRandomPolicy(3)
    obs = torch.zeros(30_000, 4)
    act = policy.sample(obs, torch.Generator().manual_seed(0))
    assert act.shape == (30_000,)
    freq = torch.bincount(act, minlength=3).double() / len(act)
    se = (1 / 3 * 2 / 3 / len(act)) ** 0.5
    assert ((freq - 1 / 3).abs() / se).max() < 4  # z-test, each action has probability 1/3
    again = policy.sample(obs, torch.Generator().manual_seed(0))
    assert torch.equal(act, again)


def test_manual_episode_matches_sample_batch():
    env = gym.make("CartPole-v1")
    n, terminated, truncated = episode_length_reference(env, LeanController(0.5), seed=0)
    env.close()
    assert (n, terminated, truncated) == (500, False, True)


# --- final_states: the state s_{T+1} after the last action ----------------------------------------

def test_final_states_replays_the_batch_and_finds_where_each_episode_ended():
    limit = 12 * 2 * math.pi / 360  # CartPole's θ threshold
    rand = sample_batch("CartPole-v1", UniformRandomPolicy(2), n_traj=8, seed=0)
    final = final_states("CartPole-v1", rand, seed=0)
    assert final.shape == (8, 4)
    # every s_1 … s_T is inside the limits; every terminal s_{T+1} is outside (angle or cart position)
    inside = (rand.obs[:, :, 2].abs() <= limit) & (rand.obs[:, :, 0].abs() <= 2.4)
    assert inside[rand.mask].all()
    assert ((final[:, 2].abs() > limit) | (final[:, 0].abs() > 2.4)).all()
    lean = sample_batch("CartPole-v1", LeanController(0.5), n_traj=8, seed=0)
    lean_final = final_states("CartPole-v1", lean, seed=0)
    assert (lean_final[:, 2].abs() < limit).all()  # truncated: s_501 is an ordinary state


def test_final_states_is_the_next_observation_of_a_plain_env_loop():
    env = gym.make("CartPole-v1")
    batch = sample_batch("CartPole-v1", UniformRandomPolicy(2), n_traj=1, seed=3)
    obs, _ = env.reset(seed=3)
    for a in batch.act[0, :int(batch.lengths[0])].tolist():
        obs, *_ = env.step(a)
    env.close()
    assert torch.allclose(final_states("CartPole-v1", batch, seed=3)[0], torch.as_tensor(obs), atol=1e-6)


def test_final_states_refuses_a_wrong_seed():
    batch = sample_batch("CartPole-v1", UniformRandomPolicy(2), n_traj=4, seed=0)
    with pytest.raises(ValueError, match="does not reproduce"):
        final_states("CartPole-v1", batch, seed=1)


def test_the_map_lists_every_notebook_and_what_the_reader_builds_in_it():
    """Notebook 00's map has one row per notebook, and its 'what you build' column names only functions the
    notebook's own exercises define (so the map cannot promise what a notebook does not ask for)."""
    import re
    from pathlib import Path

    import nbformat

    from pgcourse.course import exercise_lines, notebooks

    root = Path(__file__).resolve().parents[1] / "notebooks"
    welcome = nbformat.read(root / "00_welcome.ipynb", as_version=4)
    (table,) = [c.source for c in welcome.cells if c.cell_type == "markdown" and c.source.startswith("## A map")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| \*\*(\d\d) [^|]*\*\* \|[^|]*\| (.*) \|$", table, re.M)}
    paths = notebooks(root)
    assert sorted(rows) == [p.name[:2] for p in paths], "one row per notebook"
    for path in paths:
        built = set(re.findall(r"`([A-Za-z_]\w*)`", rows[path.name[:2]]))
        exercises = set(exercise_lines(nbformat.read(path, as_version=4)))
        assert built, f"{path.name}: the map says what the reader builds"
        assert built <= exercises, f"{path.name}: the map names {sorted(built - exercises)}, which it does not ask for"
    assert "`reinforce`" in rows["03"] and "`my_config`" in rows["10"]
