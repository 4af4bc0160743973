"""Notebook 02: the bandit's exact gradient and covariance, the gradient cloud, checkers and panel."""

import numpy as np
import pytest
import torch

from helpers import not_implemented, rerun_with
from pgcourse import TabularMDP, TabularSoftmaxPolicy, gradient_samples, tabular_gradient_samples
from pgcourse.lessons.nb02_log_derivative_trick.checks import (bandit_gradient_reference, check_bandit_gradient,
                                                  check_reinforce_estimate, check_softmax_score,
                                                  reinforce_estimate_reference, softmax_score_reference)
from pgcourse.lessons.nb02_log_derivative_trick.measure import (bandit_gradient, bandit_objective, bandit_problem,
                                           bandit_sample_covariance)
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
