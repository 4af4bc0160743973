"""Notebook 04 (continuous actions): the Gaussian log-density and score, the 1-D bandit, checkers and panel."""

import math

import numpy as np
import pytest
import torch

from pgcourse import GaussianPolicy
from pgcourse.checks.continuous_actions import (check_gaussian_log_density, check_gaussian_score_mu,
                                                reference_gaussian_log_density, reference_gaussian_score_mu)
from pgcourse.continuous_actions import (bandit_gradient, bandit_gradient_samples, bandit_objective,
                                         gaussian_bandit_reinforce, gaussian_score_mu, mvn_log_density,
                                         seed_gaussian_score_mu)
from pgcourse.widgets.continuous_actions import bandit_run, continuous_bandit_panel


def _spd(k, seed):
    g = torch.Generator().manual_seed(seed)
    root = torch.randn(k, k, generator=g, dtype=torch.float64)
    return root @ root.T + 0.3 * torch.eye(k, dtype=torch.float64)


# --- log-density and score -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k, batch", [(1, ()), (2, (5,)), (4, (3, 2))])
def test_mvn_log_density_matches_torch_distributions(k, batch):
    cov = _spd(k, seed=k)
    g = torch.Generator().manual_seed(10 + k)
    act = torch.randn(*batch, k, generator=g, dtype=torch.float64)
    mu = torch.randn(*batch, k, generator=g, dtype=torch.float64)
    expected = torch.distributions.MultivariateNormal(mu, covariance_matrix=cov).log_prob(act)
    torch.testing.assert_close(mvn_log_density(act, mu, cov), expected, rtol=1e-12, atol=1e-12)


def test_mvn_log_density_of_a_standard_normal_at_its_mean():
    assert mvn_log_density(torch.zeros(3), torch.zeros(3), torch.eye(3)).item() == pytest.approx(-1.5 * math.log(2 * math.pi))


def test_mvn_log_density_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="need act, mu"):
        mvn_log_density(torch.zeros(2), torch.zeros(3), torch.eye(3))


def test_gaussian_score_mu_is_autograds_gradient_and_the_seeds_is_half_of_it():
    cov = _spd(3, seed=0)
    g = torch.Generator().manual_seed(1)
    act = torch.randn(3, generator=g, dtype=torch.float64)
    mu = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    (autograd,) = torch.autograd.grad(mvn_log_density(act, mu, cov), mu)
    torch.testing.assert_close(gaussian_score_mu(act, mu.detach(), cov), autograd, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(seed_gaussian_score_mu(act, mu.detach(), cov), 0.5 * autograd, rtol=1e-12, atol=1e-12)


def test_chain_rule_through_a_linear_mean_gives_the_outer_product():
    cov = _spd(2, seed=2)
    g = torch.Generator().manual_seed(3)
    state = torch.randn(3, generator=g, dtype=torch.float64)
    W = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    act = torch.tensor([1.0, 0.0], dtype=torch.float64)
    (autograd,) = torch.autograd.grad(mvn_log_density(act, W @ state, cov), W)
    torch.testing.assert_close(torch.outer(gaussian_score_mu(act, W.detach() @ state, cov), state), autograd)


def test_gaussian_policy_log_prob_is_the_diagonal_mvn_density():
    torch.manual_seed(0)
    policy = GaussianPolicy(obs_dim=3, act_dim=2, hidden=(8,), log_std_init=-0.3)
    obs = torch.randn(4, 3)
    act = torch.randn(4, 2)
    cov = torch.diag(policy.log_std.exp().detach() ** 2)
    expected = mvn_log_density(act, policy.mean(obs).detach(), cov)
    torch.testing.assert_close(policy.log_prob(obs, act).detach(), expected, rtol=1e-5, atol=1e-5)


# --- the 1-D Gaussian bandit ------------------------------------------------------------------------------------------

def test_bandit_objective_is_the_expected_reward():
    rng = np.random.default_rng(0)
    act = 0.5 + 0.7 * rng.standard_normal(400_000)
    mc = np.mean(-(act - 2.0) ** 2)
    se = np.std(-(act - 2.0) ** 2) / math.sqrt(len(act))
    exact = bandit_objective(0.5, math.log(0.7), 2.0)
    assert abs(mc - exact) < 4 * se
    assert exact == pytest.approx(-(1.5 ** 2) - 0.49)


@pytest.mark.parametrize("mu, log_std, a_star", [(0.0, 0.0, 2.0), (1.0, -0.5, -1.0), (-2.0, 0.3, 0.5)])
def test_bandit_gradient_samples_are_unbiased(mu, log_std, a_star):
    """z-test: each component of the mean of 200k REINFORCE samples is within 4 standard errors of ∇J."""
    rng = np.random.default_rng(1)
    act = mu + math.exp(log_std) * rng.standard_normal(200_000)
    samples = bandit_gradient_samples(mu, log_std, act, a_star)
    z = (samples.mean(0) - bandit_gradient(mu, log_std, a_star)) / (samples.std(0) / math.sqrt(len(act)))
    assert np.all(np.abs(z) < 4), z


def test_bandit_gradient_is_the_derivative_of_the_objective():
    mu, log_std, a_star, h = 0.3, -0.2, 1.1, 1e-6
    numeric = [(bandit_objective(mu + h, log_std, a_star) - bandit_objective(mu - h, log_std, a_star)) / (2 * h),
               (bandit_objective(mu, log_std + h, a_star) - bandit_objective(mu, log_std - h, a_star)) / (2 * h)]
    np.testing.assert_allclose(bandit_gradient(mu, log_std, a_star), numeric, rtol=1e-6)


def test_bandit_reinforce_is_seeded_and_learns():
    run = gaussian_bandit_reinforce(n_traj=64, lr=0.05, a_star=-1.5, steps=200, seed=3)
    again = gaussian_bandit_reinforce(n_traj=64, lr=0.05, a_star=-1.5, steps=200, seed=3)
    np.testing.assert_array_equal(run.mu, again.mu)
    assert not run.diverged and len(run.mu) == 201 and len(run.mean_reward) == 200
    assert abs(run.mu[-1] + 1.5) < 0.1 and run.sigma[-1] < 0.5 * run.sigma[0]
    np.testing.assert_allclose(run.J, -(run.mu + 1.5) ** 2 - run.sigma ** 2)
    assert run.J[-1] > run.J[0]


def test_bandit_reinforce_reports_divergence_instead_of_nan():
    run = gaussian_bandit_reinforce(n_traj=16, lr=1.0, steps=100)
    assert run.diverged and len(run.mu) < 101 and np.all(np.isfinite(run.mu))


def test_bandit_reinforce_rejects_bad_settings():
    with pytest.raises(ValueError, match="n_traj"):
        gaussian_bandit_reinforce(n_traj=0)
    with pytest.raises(ValueError, match="lr"):
        gaussian_bandit_reinforce(lr=-0.1)


# --- checkers -------------------------------------------------------------------------------------------------------

def test_checkers_pass_the_references():
    assert check_gaussian_log_density(reference_gaussian_log_density, verbose=False)
    assert check_gaussian_score_mu(reference_gaussian_score_mu, verbose=False)
    assert check_gaussian_score_mu(gaussian_score_mu, verbose=False)


@pytest.mark.parametrize("wrong", [
    lambda a, mu, ls: (-0.5 * ((a - mu) / ls.exp()) ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1),          # no log σ
    lambda a, mu, ls: (-((a - mu) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum(-1),           # no ½
    lambda a, mu, ls: (-0.5 * ((a - mu) / ls.exp()) ** 2 - ls).sum(-1),                                   # no 2π
    lambda a, mu, ls: -0.5 * ((a - mu) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi),               # not summed
    lambda a, mu, ls: (-0.5 * (a - mu) ** 2 / ls.exp() - ls - 0.5 * math.log(2 * math.pi)).sum(-1),       # σ, not σ²
])
def test_check_gaussian_log_density_fails_plausible_mistakes(wrong):
    assert not check_gaussian_log_density(wrong, verbose=False)


@pytest.mark.parametrize("wrong", [
    seed_gaussian_score_mu,                                                                   # the notes' ½
    lambda a, mu, cov: -gaussian_score_mu(a, mu, cov),                                       # sign: Σ⁻¹(μ − a)
    lambda a, mu, cov: ((a - mu).unsqueeze(-1) * 1.0).squeeze(-1) @ cov.T,                    # Σ instead of Σ⁻¹
    lambda a, mu, cov: (a - mu) / torch.diagonal(cov),                                        # ignores correlations
])
def test_check_gaussian_score_mu_fails_plausible_mistakes(wrong):
    assert not check_gaussian_score_mu(wrong, verbose=False)


def test_checkers_report_a_stub_without_raising(capsys):
    def stub(*args):
        raise NotImplementedError()

    assert not check_gaussian_log_density(stub)
    assert not check_gaussian_score_mu(stub)
    assert capsys.readouterr().out.count("not implemented yet") == 2


# --- the panel -------------------------------------------------------------------------------------------------------

def _assert_same_run(a, b):
    for name in ("mu", "sigma", "J", "mean_reward"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.diverged == b.diverged


def test_panel_redraws_when_a_slider_moves_and_matches_the_compute_function():
    panel = continuous_bandit_panel()
    first = panel.run()
    _assert_same_run(first, gaussian_bandit_reinforce(n_traj=16, lr=0.05, a_star=2.0, steps=100, seed=0))
    png = panel.png
    panel.set(n_traj=64)                      # auto panel: recomputes on change
    assert panel.png != png and panel.result.n_traj == 64
    panel.set(lr=0.2, a_star=-1.0, steps=50)
    _assert_same_run(panel.result, bandit_run(n_traj=64, lr=0.2, a_star=-1.0, steps=50))
    png = panel.png
    panel.run()                               # the button gives the same (seeded) result and figure
    assert panel.png == png


def test_panel_draws_a_diverged_run():
    panel = continuous_bandit_panel(n_traj=16, lr=1.0)
    run = panel.run()
    assert run.diverged and panel.png[:4] == b"\x89PNG"
