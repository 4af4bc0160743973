"""Notebook 03 (REINFORCE): the three-trajectory example, the checkers and the training panel."""

import math

import numpy as np
import pytest
import torch

from pgcourse import CategoricalPolicy, TrainConfig, make_vector_env, pg_pseudo_loss, sample_batch, total_return, train
from pgcourse.train import batch_seed
from pgcourse.checks.reinforce import (check_pseudo_loss, check_reinforce_weights, reference_pseudo_loss,
                                       reference_reinforce_weights)
from pgcourse.reinforce import reinforce_step, three_trajectories, trajectory_log_prob
from pgcourse.widgets.reinforce import TARGET_RETURN, reinforce_panel, run_label, train_cartpole


# --- the seed's example: one exact REINFORCE step on a tabular policy --------------------------------------------

def test_trajectory_log_prob_is_the_sum_of_the_steps_log_probabilities():
    logits = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
    obs, act = torch.tensor([[0, 1, 0]]), torch.tensor([[1, 0, 0]])
    pi = torch.softmax(logits, -1)
    expected = math.log(pi[0, 1] * pi[1, 0] * pi[0, 0])
    assert trajectory_log_prob(logits, obs, act).item() == pytest.approx(expected, rel=1e-12)


def test_reinforce_step_gradient_matches_autograd_of_the_weighted_log_probability():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, generator=g, dtype=torch.float64)
    obs = torch.randint(0, 4, (5, 6), generator=g)
    act = torch.randint(0, 3, (5, 6), generator=g)
    weights = torch.randn(5, generator=g, dtype=torch.float64)
    step = reinforce_step(logits, obs, act, weights, lr=0.1)
    theta = logits.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((trajectory_log_prob(theta, obs, act) * weights).mean(), theta)
    torch.testing.assert_close(step.grad, grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(step.logits_after, logits + 0.1 * grad, rtol=1e-12, atol=1e-12)


def test_raw_returns_raise_every_sampled_trajectory_in_the_order_of_their_returns():
    obs, act, rets = three_trajectories()
    step = reinforce_step(torch.zeros(9, 2), obs, act, rets, lr=0.05)
    assert torch.allclose(step.prob_before, torch.full((3,), 1 / 8, dtype=torch.float64))
    assert (step.ratio > 1).all()
    order = torch.argsort(rets)
    assert (torch.diff(step.ratio[order]) > 0).all()          # larger return, larger push
    assert step.prob_after[1] / step.prob_after[2] < 1.0       # τ2 loses only relative to τ3
    # own push: (α/N) R ‖g‖² with ‖g‖² = T·½ at the uniform policy; the exact change agrees to first order
    torch.testing.assert_close(step.own_push, 0.05 / 3 * rets * 1.5)
    # disjoint states: each trajectory's exact change is T·log(2σ(αR/N)) (logit gap α R / N per state)
    exact = 3 * torch.log(2 * torch.sigmoid(0.05 * rets / 3))
    torch.testing.assert_close(step.log_change, exact, rtol=1e-12, atol=1e-12)


def test_a_mean_baseline_lowers_the_below_average_trajectory():
    obs, act, rets = three_trajectories()
    step = reinforce_step(torch.zeros(9, 2), obs, act, rets - rets.mean(), lr=0.05)
    assert step.ratio[0].item() == pytest.approx(1.0, abs=1e-12)
    assert step.ratio[1] < 1 < step.ratio[2]


def test_reinforce_step_rejects_bad_shapes():
    obs, act, rets = three_trajectories()
    with pytest.raises(ValueError, match="weights must have shape"):
        reinforce_step(torch.zeros(9, 2), obs, act, rets[:2], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        reinforce_step(torch.zeros(9, 2), obs, act, rets, lr=0.0)


# --- checkers -------------------------------------------------------------------------------------------------------

def test_check_reinforce_weights_passes_the_reference():
    assert check_reinforce_weights(reference_reinforce_weights, verbose=False)


@pytest.mark.parametrize("wrong", [
    lambda rew, mask: torch.where(mask, rew.flip(-1).cumsum(-1).flip(-1), torch.zeros(())),   # reward-to-go
    lambda rew, mask: rew.sum(1, keepdim=True).expand_as(rew),                                  # padding counted
    lambda rew, mask: torch.where(mask, rew, torch.zeros(())),                                  # per-step reward
    lambda rew, mask: torch.where(mask, rew, torch.zeros(())).sum(1),                           # (N,), not broadcast
])
def test_check_reinforce_weights_fails_plausible_mistakes(wrong):
    assert not check_reinforce_weights(wrong, verbose=False)


def test_checkers_report_a_stub_without_raising(capsys):
    def stub(*args):
        raise NotImplementedError()

    assert not check_reinforce_weights(stub)
    assert not check_pseudo_loss(stub)
    out = capsys.readouterr().out
    assert out.count("❌ FAIL") == 2 and "not implemented yet" in out


def test_check_pseudo_loss_passes_the_reference_and_pg_pseudo_loss():
    assert check_pseudo_loss(reference_pseudo_loss, verbose=False)
    assert check_pseudo_loss(pg_pseudo_loss, verbose=False)


@pytest.mark.parametrize("wrong, why", [
    (lambda logp, w, mask: -torch.where(mask, logp * w.detach(), torch.zeros(())).sum() / mask.sum(), "case"),
    (lambda logp, w, mask: torch.where(mask, logp * w.detach(), torch.zeros(())).sum() / logp.shape[0], "case"),
    (lambda logp, w, mask: -(logp * w.detach()).sum() / logp.shape[0], "case"),
    (lambda logp, w, mask: -torch.where(mask, logp * w, torch.zeros(())).sum() / logp.shape[0], "detach"),
    (lambda logp, w, mask: torch.tensor(float(reference_pseudo_loss(logp, w, mask).detach())), "differentiate"),
])
def test_check_pseudo_loss_fails_plausible_mistakes(wrong, why):
    result = check_pseudo_loss(wrong, verbose=False)
    assert not result and why in result.message


# --- the notebook's hand-written loop is train() ---------------------------------------------------------------------

def test_the_notebooks_plain_loop_reproduces_train_exactly():
    n, lr, iterations, seed = 4, 0.02, 6, 3
    envs = make_vector_env("CartPole-v1", n)
    torch.manual_seed(seed)
    policy = CategoricalPolicy(obs_dim=4, n_actions=2, hidden=(64,))
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    means = []
    for it in range(iterations):
        batch = sample_batch(envs, policy, seed=batch_seed(seed, it))
        rets = total_return(batch.rew, batch.mask)
        means.append(float(rets.mean()))
        loss = pg_pseudo_loss(policy.log_prob(batch.obs, batch.act), rets[:, None].expand_as(batch.rew), batch.mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    envs.close()
    _, history = train(TrainConfig(n_traj=n, lr=lr, gamma=1.0, weights="total_return", baseline="none",
                                   normalise=False, hidden=(64,), seed=seed, iterations=iterations), progress=False)
    assert history.mean_return == means


# --- the panel -------------------------------------------------------------------------------------------------------

def test_panel_trains_with_its_settings_and_matches_a_direct_train_call():
    panel = reinforce_panel()
    panel.set(n_traj=16, lr=0.05, seed=1, iterations=10)
    first = panel.run()
    png_first = panel.png
    _, direct = train(TrainConfig(n_traj=16, lr=0.05, seed=1, target_return=475, iterations=10), progress=False)
    assert first.mean_return == direct.mean_return and first.env_steps == direct.env_steps
    panel.set(n_traj=4, lr=0.2)
    second = panel.run()
    assert panel.png != png_first and panel.png[:4] == b"\x89PNG"
    direct2 = train_cartpole(n_traj=4, lr=0.2, seed=1, iterations=10, progress=False)
    assert second.mean_return == direct2.mean_return and second.env_steps == direct2.env_steps
    assert len(panel.runs) == 2 and panel.runs[0][0]["n_traj"] == 16


def test_panel_defaults_are_trainconfigs_defaults():
    panel = reinforce_panel()
    defaults = TrainConfig()
    assert panel.values["n_traj"] == defaults.n_traj and panel.values["lr"] == defaults.lr
    assert TARGET_RETURN == 475


def test_run_label_says_when_a_run_solved_or_not():
    class H:
        solved, env_steps, final_return, iteration = True, [100, 18798], 480.0, [0, 1]

        def __len__(self):
            return 2

    values = {"n_traj": 8, "lr": 0.04, "seed": 0}
    assert run_label(values, H()) == "N=8, α=0.04, seed 0: 475 after 18,798 steps"
    H.solved = False
    assert run_label(values, H()) == "N=8, α=0.04, seed 0: 480 after 2 it."
