"""Notebook 02: the bandit's exact gradient and covariance, the gradient cloud, the falling pole (a constant
added to every reward), checkers and panel."""

import math

import numpy as np
import pytest
import torch

from helpers import not_implemented, rerun_with
from pgcourse import (CategoricalPolicy, TabularMDP, TabularSoftmaxPolicy, compare_to_exact, gradient_samples,
                      reward_to_go, sample_batch, tabular_gradient_samples)
from pgcourse.lessons.nb02_log_derivative_trick.checks import (SHIFTS, bandit_gradient_reference, check_bandit_gradient,
                                                  check_length_change, check_reinforce_estimate, check_softmax_score,
                                                  length_change_reference, reinforce_estimate_reference,
                                                  softmax_score_reference)
from pgcourse.lessons.nb02_log_derivative_trick.measure import (BALANCE, DOWN, UP, bandit_gradient, bandit_objective,
                                           bandit_problem, bandit_sample_covariance, expected_length,
                                           falling_pole, format_summary, reward_shift_ascent)
from pgcourse.lessons.nb02_log_derivative_trick.panel import gradient_cloud, log_derivative_panel


# --- package functions ----------------------------------------------------------------------------

def test_bandit_problem_and_exact_gradient():
    mdp, logits = bandit_problem()
    assert mdp.n_states == 1 and mdp.horizon == 1 and logits.shape == (1, 3)
    pi = torch.softmax(logits[0], -1)
    J = float((pi * mdp.R[0]).sum())
    assert float(bandit_objective(logits[0], mdp.R[0])) == pytest.approx(J)
    assert float(mdp.objective(logits)) == pytest.approx(J)
    g = bandit_gradient(logits[0], mdp.R[0])
    assert torch.allclose(g, mdp.gradient(logits)[0], atol=1e-12)
    assert torch.allclose(g, pi * (mdp.R[0] - J), atol=1e-12)
    assert float(g.sum()) == pytest.approx(0.0, abs=1e-12)  # softmax: gradients sum to zero


def test_a_reward_shift_leaves_the_gradient_unchanged():
    _, logits = bandit_problem()
    r = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    for c in (-2.0, 0.7, 5.0):
        assert torch.allclose(bandit_gradient(logits[0], r + c), bandit_gradient(logits[0], r), atol=1e-12)
        mdp_c, _ = bandit_problem(shift=c)
        assert torch.allclose(mdp_c.gradient(logits), bandit_problem()[0].gradient(logits), atol=1e-12)


def test_bandit_sample_covariance_matches_enumeration_and_samples():
    mdp, logits = bandit_problem()
    pi, r = torch.softmax(logits[0], -1), mdp.R[0]
    cov = bandit_sample_covariance(logits[0], r)
    # enumeration over the three arms, written out
    gs = [(torch.eye(3, dtype=torch.float64)[a] - pi) * r[a] for a in range(3)]
    mean = sum(pi[a] * gs[a] for a in range(3))
    by_hand = sum(pi[a] * torch.outer(gs[a] - mean, gs[a] - mean) for a in range(3))
    assert torch.allclose(cov, by_hand, atol=1e-12)
    # sampled: the empirical covariance of 200k single-pull samples, within 3% (rel. se ≈ 0.3–1%)
    batch = mdp.sample(logits, 200_000, seed=0)
    samples = tabular_gradient_samples(logits, batch.obs, batch.act, mdp.R[batch.obs, batch.act])
    assert np.allclose(np.cov(samples.numpy().T), cov.numpy(), rtol=0.03, atol=1e-4)


def test_gradient_samples_on_the_bandit_equal_the_closed_form():
    mdp, logits = bandit_problem(shift=0.5)
    batch = mdp.sample(logits, 50, seed=1)
    w = mdp.R[batch.obs, batch.act]
    auto = gradient_samples(TabularSoftmaxPolicy.from_logits(logits), batch, w)
    assert torch.allclose(auto, tabular_gradient_samples(logits, batch.obs, batch.act, w), atol=1e-12)


def test_gradient_cloud_is_unbiased_and_consistent():
    n, m = 16, 400
    r = gradient_cloud(n_traj=n, lr=1.0, shift=0.0, seed=0, n_repeats=m)
    assert r.estimates.shape == (m, 3) and r.J_after.shape == (m,)
    # z-test of the mean of M estimates against the exact gradient, with the exact covariance Cov[ĝ]/M
    se = np.sqrt(np.diag(r.cov) / m)
    assert np.all(np.abs(r.estimates.mean(0) - r.exact) / se < 4)
    # the measured covariance of the M estimates is close to the exact Σ/N (relative tolerance 25%)
    assert np.allclose(np.cov(r.estimates.T), r.cov, rtol=0.25, atol=2e-4)
    _, logits = bandit_problem()
    base = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
    J_after = bandit_objective(logits[0][None] + torch.from_numpy(r.estimates), base).numpy()
    assert np.allclose(r.J_after, J_after)
    assert r.J_before == pytest.approx(float(bandit_objective(logits[0], base)))
    assert 0.0 <= r.improved <= 1.0


def test_shift_changes_the_spread_not_the_target():
    r0 = gradient_cloud(n_traj=16, shift=0.0)
    r2 = gradient_cloud(n_traj=16, shift=2.0)
    assert np.allclose(r0.exact, r2.exact)
    assert np.trace(r2.cov) > 10 * np.trace(r0.cov)
    assert r2.improved < r0.improved  # with all rewards large, a third of the steps lower J


def test_seeded():
    a, b = gradient_cloud(8, 0.3, 1.0, seed=5), gradient_cloud(8, 0.3, 1.0, seed=5)
    assert np.array_equal(a.estimates, b.estimates) and np.array_equal(a.J_after, b.J_after)


def test_the_log_is_not_optional():
    """Notebook 02: ∇ log p_θ(τ) = Σ_t ∇ log π ≠ ∇ Π_t π = (Π_t π) Σ_t ∇ log π."""
    mdp = TabularMDP.random(4, 3, 6, seed=2)
    logits = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    batch = mdp.sample(logits, 1, seed=0)
    obs, act = batch.obs[0], batch.act[0]
    theta = logits.clone().requires_grad_(True)
    (g_log,) = torch.autograd.grad(torch.log_softmax(theta, -1)[obs, act].sum(), theta)
    theta = logits.clone().requires_grad_(True)
    prod = torch.softmax(theta, -1)[obs, act].prod()
    (g_prod,) = torch.autograd.grad(prod, theta)
    assert torch.allclose(g_prod, prod.detach() * g_log, atol=1e-14)
    assert float(prod.detach()) < 0.1 and not torch.allclose(g_prod, g_log, atol=1e-3)


# --- checkers -------------------------------------------------------------------------------------

def test_softmax_score_checker():
    assert check_softmax_score(softmax_score_reference, verbose=False).passed
    wrong = [
        lambda logits, a: torch.softmax(logits, -1) - torch.eye(len(logits), dtype=logits.dtype)[a],  # sign
        lambda logits, a: torch.eye(len(logits), dtype=logits.dtype)[a] - 1.0 / len(logits),         # uniform π
        lambda logits, a: torch.eye(len(logits), dtype=logits.dtype)[a] * (1 - torch.softmax(logits, -1)),  # diagonal only
    ]
    for fn in wrong:
        assert not check_softmax_score(fn, verbose=False).passed
    assert not check_softmax_score(not_implemented, verbose=False).passed


def test_bandit_gradient_checker():
    assert check_bandit_gradient(bandit_gradient_reference, verbose=False).passed
    assert check_bandit_gradient(bandit_gradient, verbose=False).passed
    wrong = [
        lambda logits, r: torch.softmax(logits, -1) * r,                                   # forgot − π J
        lambda logits, r: r - (torch.softmax(logits, -1) * r).sum(),                        # forgot the π weight
        lambda logits, r: (torch.eye(len(logits), dtype=logits.dtype) - torch.softmax(logits, -1)).sum(0) * r,  # no π
    ]
    for fn in wrong:
        assert not check_bandit_gradient(fn, verbose=False).passed
    assert not check_bandit_gradient(not_implemented, verbose=False).passed


def test_reinforce_estimate_checker():
    assert check_reinforce_estimate(reinforce_estimate_reference, verbose=False).passed
    wrong = [
        lambda scores, rets: scores.mean(0) * rets.mean(),               # mean of product ≠ product of means
        lambda scores, rets: (scores * rets[:, None]).sum(0),            # sum instead of mean
        lambda scores, rets: (scores * rets[None, :].T.flip(0)).mean(0),  # returns paired with the wrong trajectories
    ]
    for fn in wrong:
        assert not check_reinforce_estimate(fn, verbose=False).passed
    assert not check_reinforce_estimate(not_implemented, verbose=False).passed


# --- panel ----------------------------------------------------------------------------------------

def test_panel_runs_headless_and_matches_its_compute_function():
    panel = log_derivative_panel()
    panel.run()
    result = rerun_with(panel, n_traj=64, lr=0.5, shift=1.0)
    direct = gradient_cloud(n_traj=64, lr=0.5, shift=1.0)
    assert np.array_equal(result.estimates, direct.estimates) and np.array_equal(result.J_after, direct.J_after)
    assert np.array_equal(result.cov, direct.cov) and (result.n_traj, result.lr, result.shift) == (64, 0.5, 1.0)


# --- a constant added to every reward when episodes end at random times (exercise 4) ----------------------------

def test_format_summary_names_the_sampling_error_not_a_bias():
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(400, 3, generator=g, dtype=torch.float64) + 1.0
    s = compare_to_exact(samples, torch.ones(3, dtype=torch.float64))
    line = format_summary(s)
    assert "bias" not in line and "‖ĝ − ∇J‖" in line
    assert f"{s.error_norm:.3g}" in line and f"{math.sqrt(s.trace_cov / s.n):.3g}" in line and "N = 400" in line


def test_falling_pole_expected_length_is_the_geometric_sum_and_J_c_is_1_plus_c_times_it():
    hold, horizon = 0.95, 30
    for logit_balance in (-1.0, 0.0, 2.0):
        theta = torch.tensor([[logit_balance, 0.0], [0.3, -0.2]], dtype=torch.float64)
        x = float(torch.softmax(theta[UP], -1)[BALANCE]) * hold       # P(still up after one more step)
        closed = (1 - x ** horizon) / (1 - x)                          # Σ_{t=0}^{H-1} x^t
        assert float(expected_length(falling_pole(0.0), theta)) == pytest.approx(closed, rel=1e-12)
        for c in (-2.5, -1.0, 0.0, 0.5, 3.0):
            mdp = falling_pole(c)
            assert float(mdp.objective(theta)) == pytest.approx((1 + c) * closed, rel=1e-12, abs=1e-12)
            g, g0 = mdp.gradient(theta), falling_pole(0.0).gradient(theta)
            assert torch.allclose(g, (1 + c) * g0, atol=1e-12)
            assert torch.all(g[DOWN] == 0)                              # the fallen state's choice changes nothing


def test_falling_pole_sampled_lengths_match_the_exact_expectation():
    mdp = falling_pole(0.0)
    theta = torch.zeros(2, 2, dtype=torch.float64)
    batch = mdp.sample(theta, 20_000, seed=3)
    lengths = (batch.obs == UP).sum(1).double()                        # steps the pole was up
    se = float(lengths.std()) / math.sqrt(len(lengths))
    assert abs(float(lengths.mean()) - float(expected_length(mdp, theta))) < 4 * se


def test_falling_pole_rejects_bad_input():
    for kwargs in ({"c": math.inf}, {"hold": 0.0}, {"hold": 1.5}, {"horizon": 0}):
        with pytest.raises(ValueError):
            falling_pole(**kwargs)
    with pytest.raises(ValueError):
        reward_shift_ascent(0.0, steps=0)
    with pytest.raises(ValueError):
        reward_shift_ascent(0.0, lr=-1.0)


def test_reward_shift_ascent_moves_the_length_by_the_sign_of_1_plus_c():
    for c in SHIFTS:
        run = reward_shift_ascent(c, steps=50, lr=0.02)
        assert run.change == length_change_reference(c)
    flat = reward_shift_ascent(-1.0, steps=50, lr=0.02)
    assert torch.equal(flat.lengths, flat.lengths[:1].expand_as(flat.lengths))   # gradient exactly 0: nothing moves
    slow, base, fast = (reward_shift_ascent(c, steps=50, lr=0.02).lengths[-1] for c in (-0.5, 0.0, 1.0))
    assert slow < base < fast                                                     # the gradient scales with 1 + c
    assert float(reward_shift_ascent(-3.0, steps=50, lr=0.02).lengths[-1]) < 1.3   # learns to let go


def test_length_change_checker():
    assert check_length_change(length_change_reference, verbose=False).passed
    # the checker agrees with the experiment it announces
    assert check_length_change(lambda c: reward_shift_ascent(c, steps=50, lr=0.02).change, verbose=False).passed
    wrong = [
        lambda c: 1,                          # "a constant changes nothing": always learns to balance
        lambda c: 1 if c >= 0 else -1,        # "negative rewards make it fall"
        lambda c: int(np.sign(c)),            # the sign of c, not of 1 + c
    ]
    for fn in wrong:
        assert not check_length_change(fn, verbose=False).passed
    assert not check_length_change(not_implemented, verbose=False).passed


def test_cartpole_estimate_with_rewards_1_plus_c_is_1_plus_c_times_the_estimate():
    torch.manual_seed(0)
    policy = CategoricalPolicy(obs_dim=4, n_actions=2, hidden=(16,))
    batch = sample_batch("CartPole-v1", policy, n_traj=4, seed=0)
    g = gradient_samples(policy, batch, reward_to_go(batch.rew, batch.mask)).mean(0)
    for c in (-2.0, -1.0, 1.0):
        g_c = gradient_samples(policy, batch, reward_to_go(batch.rew + c, batch.mask)).mean(0)
        assert torch.allclose(g_c, (1 + c) * g, rtol=1e-4, atol=1e-6 * float(g.abs().max()))
