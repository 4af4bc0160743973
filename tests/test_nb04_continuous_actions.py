"""Notebook 04 (continuous actions): the Gaussian log-density and score, the 1-D bandit, checkers and panel."""

import math

import numpy as np
import pytest
import torch

from pgcourse import GaussianPolicy, TrainConfig, sample_batch, train
from pgcourse.seeds import train_seeds
from pgcourse.batch import Batch
from pgcourse.lessons.nb04_continuous_actions.checks import (SIGMA_CASES, check_gaussian_log_density,
                                                check_gaussian_score_mu, check_sigma_direction,
                                                reference_gaussian_log_density, reference_gaussian_score_mu,
                                                reference_sigma_direction)
from pgcourse.lessons.nb04_continuous_actions.measure import (ZeroTorque, bandit_curves, bandit_gradient, bandit_gradient_samples,
                                         bandit_objective, format_spread, gaussian_bandit_reinforce,
                                         gaussian_bandit_reinforce_seeds, gaussian_score_mu, held_upright,
                                         mean_beyond, mvn_log_density, notes_gaussian_score_mu)
from pgcourse.lessons.nb04_continuous_actions.measure import (HANGING_STILL_RETURN, BrakeToRest, FullTorqueAlongMotion,
                                         StateSigmaGaussianPolicy, bandit_settings, format_median_interval,
                                         reference_returns, two_state_bandit_reinforce)
from pgcourse.stats import bootstrap_interval, seed_curves
from helpers import not_implemented
from pgcourse.lessons.nb04_continuous_actions.panel import (SEEDS, bandit_run, continuous_bandit_panel, divergence_note,
                                                 running_band)


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


def test_gaussian_score_mu_is_autograds_gradient_and_the_notes_is_half_of_it():
    cov = _spd(3, seed=0)
    g = torch.Generator().manual_seed(1)
    act = torch.randn(3, generator=g, dtype=torch.float64)
    mu = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    (autograd,) = torch.autograd.grad(mvn_log_density(act, mu, cov), mu)
    torch.testing.assert_close(gaussian_score_mu(act, mu.detach(), cov), autograd, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(notes_gaussian_score_mu(act, mu.detach(), cov), 0.5 * autograd, rtol=1e-12, atol=1e-12)


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


def test_bandit_reinforce_is_seeded():
    run = gaussian_bandit_reinforce(n_traj=64, lr=0.05, a_star=-1.5, steps=200, seed=3)
    again = gaussian_bandit_reinforce(n_traj=64, lr=0.05, a_star=-1.5, steps=200, seed=3)
    np.testing.assert_array_equal(run.mu, again.mu)
    assert not run.diverged and len(run.mu) == 201 and len(run.mean_reward) == 200
    np.testing.assert_allclose(run.J, -(run.mu + 1.5) ** 2 - run.sigma ** 2)


@pytest.mark.claims
def test_bandit_reinforce_learns_on_every_one_of_10_seeds():
    """N = 64, α = 0.05, 200 steps: μ ends within 0.1 of a* and σ below half its start on all of seeds 0–9."""
    runs = gaussian_bandit_reinforce_seeds(n_traj=64, lr=0.05, a_star=-1.5, steps=200, seeds=range(10))
    for run in runs:
        assert not run.diverged and abs(run.mu[-1] + 1.5) < 0.1 and run.sigma[-1] < 0.5 * run.sigma[0]
        assert run.J[-1] > run.J[0]


def test_bandit_reinforce_reports_divergence_instead_of_nan():
    run = gaussian_bandit_reinforce(n_traj=16, lr=1.0, steps=100)
    assert run.diverged and len(run.mu) < 101 and np.all(np.isfinite(run.mu))


def test_bandit_seeds_are_independent_runs_of_the_one_seed_function():
    """Seed k of a 5-seed run is exactly gaussian_bandit_reinforce(seed=k), diverged or not."""
    for kwargs in (dict(n_traj=16, lr=0.05), dict(n_traj=1, lr=0.05), dict(n_traj=16, lr=0.3)):
        runs = gaussian_bandit_reinforce_seeds(seeds=range(5), **kwargs)
        assert [r.seed for r in runs] == list(range(5))
        for k, run in enumerate(runs):
            _assert_same_run(run, gaussian_bandit_reinforce(seed=k, **kwargs))
    alone = gaussian_bandit_reinforce_seeds(n_traj=1, seeds=[3])[0]
    _assert_same_run(alone, gaussian_bandit_reinforce_seeds(n_traj=1, seeds=[7, 3, 9])[1])


def test_bandit_gradient_samples_vectorise_over_policies():
    rng = np.random.default_rng(2)
    mu, log_std = np.array([0.0, 1.0, -0.5]), np.array([0.0, -0.3, 0.2])
    act = mu[:, None] + np.exp(log_std)[:, None] * rng.standard_normal((3, 7))
    stacked = bandit_gradient_samples(mu, log_std, act, 1.5)
    assert stacked.shape == (3, 7, 2)
    for s in range(3):
        np.testing.assert_allclose(stacked[s], bandit_gradient_samples(mu[s], log_std[s], act[s], 1.5), rtol=1e-15)


def test_bandit_curves_pad_diverged_runs_with_nan():
    runs = gaussian_bandit_reinforce_seeds(n_traj=1, lr=0.05, seeds=range(5))
    mu = bandit_curves(runs, "mu")
    assert mu.shape == (5, 101)
    for k, run in enumerate(runs):
        np.testing.assert_array_equal(mu[k, :len(run.mu)], run.mu)
        assert np.isnan(mu[k, len(run.mu):]).all() and (len(run.mu) < 101) == run.diverged


def test_running_band_needs_a_majority_of_seeds():
    curves = np.array([[1.0, 2.0, 3.0], [2.0, np.nan, np.nan], [3.0, 4.0, np.nan]])
    med, q25, q75 = running_band(curves)
    np.testing.assert_allclose(med[:2], [2.0, 3.0])
    np.testing.assert_allclose(q25[:2], [1.5, 2.5])
    assert np.isnan(med[2]) and np.isnan(q75[2])   # one seed of three left: no median run


def test_divergence_note_counts_the_seeds_and_steps():
    assert divergence_note(gaussian_bandit_reinforce_seeds(seeds=range(5))) == ""
    runs = gaussian_bandit_reinforce_seeds(n_traj=1, seeds=range(5))
    after = sorted(len(r.mu) - 1 for r in runs if r.diverged)
    assert divergence_note(runs) == f"{len(after)} of 5 seeds diverged (after {after[0]}–{after[-1]} steps)"


def test_bandit_reinforce_rejects_bad_settings():
    with pytest.raises(ValueError, match="n_traj"):
        gaussian_bandit_reinforce(n_traj=0)
    with pytest.raises(ValueError, match="lr"):
        gaussian_bandit_reinforce(lr=-0.1)
    with pytest.raises(ValueError, match="seeds"):
        gaussian_bandit_reinforce_seeds(seeds=[])


# --- checkers -------------------------------------------------------------------------------------------------------

def test_checkers_pass_the_references():
    assert check_gaussian_log_density(reference_gaussian_log_density, verbose=False)
    assert check_gaussian_score_mu(reference_gaussian_score_mu, verbose=False)


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
    notes_gaussian_score_mu,                                                                   # the notes' ½
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


def test_panel_trains_five_seeds_redraws_when_a_slider_moves_and_matches_the_compute_function():
    panel = continuous_bandit_panel()
    first = panel.run()
    assert len(first) == len(SEEDS) >= 5
    for k, run in zip(SEEDS, first):
        _assert_same_run(run, gaussian_bandit_reinforce(n_traj=16, lr=0.05, a_star=2.0, steps=100, seed=k))
    png = panel.png
    panel.set(n_traj=64)                      # auto panel: recomputes on change
    assert panel.png != png and all(run.n_traj == 64 for run in panel.result)
    panel.set(lr=0.2, a_star=-1.0, steps=50)
    for a, b in zip(panel.result, bandit_run(n_traj=64, lr=0.2, a_star=-1.0, steps=50)):
        _assert_same_run(a, b)
    png = panel.png
    panel.run()                               # the button gives the same (seeded) result and figure
    assert panel.png == png


def test_panel_draws_diverged_runs():
    for lr, n_traj in ((1.0, 16), (0.05, 1)):   # all seeds diverge; most seeds diverge
        panel = continuous_bandit_panel(n_traj=n_traj, lr=lr)
        runs = panel.run()
        assert any(run.diverged for run in runs) and panel.png[:4] == b"\x89PNG"


# --- claims of the notebook's "What to try" (the panel's 5 seeds) ----------------------------------------------------

def _panel_runs(**values):
    settings = dict(n_traj=16, lr=0.05, a_star=2.0, steps=100) | values
    return bandit_run(**settings, seeds=SEEDS)


def _seed_spread(runs):
    """The largest gap between the seeds' μ at any step (over the seeds that did not diverge)."""
    mu = bandit_curves([r for r in runs if not r.diverged], "mu")
    return float(np.max(mu.max(0) - mu.min(0)))


def _steps_to(run, tol=0.1):
    close = np.flatnonzero(np.abs(run.mu - run.a_star) < tol)
    return int(close[0]) if close.size else math.inf


@pytest.mark.claims
def test_claim_bandit_batch_size():
    """N = 4: paths up to about 1.1 apart (N = 16: 0.4); N = 1: 4 of 5 seeds diverge within 25 steps;
    N = 256: all 5 walk to a* and never differ by more than 0.15."""
    n4, n16, n1, n256 = (_panel_runs(n_traj=n) for n in (4, 16, 1, 256))
    assert not any(r.diverged for r in n4 + n16 + n256)
    assert 0.8 < _seed_spread(n4) < 1.4 and 0.3 < _seed_spread(n16) < 0.55 and _seed_spread(n256) <= 0.15
    diverged = [len(r.mu) - 1 for r in n1 if r.diverged]
    assert len(diverged) == 4 and max(diverged) <= 25
    assert all(abs(r.mu[-1] - r.a_star) < 0.05 for r in n256)


@pytest.mark.claims
def test_claim_bandit_learning_rate():
    """α = 0.3: 4 of 5 reach a* ± 0.1 within 5 steps (α = 0.05: 25–35), σ ends at 0.06–0.09 (α = 0.05: ≈ 0.2),
    the fifth diverges after 6 steps; α = 1: all 5 diverge within 3 steps; α = 0.01: 0.2–0.32 short of a*."""
    base, fast, huge, slow = (_panel_runs(lr=lr) for lr in (0.05, 0.3, 1.0, 0.01))
    assert all(20 <= _steps_to(r) <= 40 and 0.18 < r.sigma[-1] < 0.23 for r in base)
    ok = [r for r in fast if not r.diverged]
    assert len(ok) == 4 and all(_steps_to(r) <= 5 and 0.05 < r.sigma[-1] < 0.1 for r in ok)
    assert [len(r.mu) - 1 for r in fast if r.diverged][0] <= 10
    assert all(r.diverged and len(r.mu) - 1 <= 3 for r in huge)
    assert all(not r.diverged and 0.18 < abs(r.mu[-1] - r.a_star) < 0.34 for r in slow)


@pytest.mark.claims
def test_claim_bandit_target_and_slow_shrinking_of_sigma():
    """a* = −3: μ follows on all 5 seeds; the median σ goes from about 0.21 at step 100 to about 0.10 at 500."""
    runs = _panel_runs(a_star=-3.0, steps=500)
    assert all(not r.diverged and abs(r.mu[100] + 3.0) < 0.05 and abs(r.mu[-1] + 3.0) < 0.05 for r in runs)
    sigma = bandit_curves(runs, "sigma")
    assert 0.18 < np.median(sigma[:, 100]) < 0.24 and 0.08 < np.median(sigma[:, 500]) < 0.12


# --- Pendulum-v1 ------------------------------------------------------------------------------------------------------

def _pendulum_batch(cos_theta):
    """A Batch of Pendulum observations with the given cos ϑ per (episode, step)."""
    cos = torch.as_tensor(cos_theta, dtype=torch.float32)
    n, t = cos.shape
    obs = torch.stack([cos, torch.sqrt(1 - cos ** 2), torch.zeros(n, t)], -1)
    return Batch(obs=obs, act=torch.zeros(n, t, 1), rew=torch.zeros(n, t), mask=torch.ones(n, t, dtype=torch.bool),
                 terminated=torch.zeros(n, dtype=torch.bool), truncated=torch.ones(n, dtype=torch.bool))


def test_held_upright_looks_at_each_of_the_last_steps():
    cos = np.full((3, 200), 0.95)
    cos[1, 160] = 0.5          # one step out of the window of the last 50: not held
    cos[2, 100] = -1.0         # before the window: held
    assert held_upright(_pendulum_batch(cos)).tolist() == [True, False, True]
    with pytest.raises(ValueError, match="last=50"):
        held_upright(_pendulum_batch(np.ones((2, 20))))


def test_mean_beyond_is_the_share_of_states_with_a_large_mean():
    class Fixed:
        def mean(self, obs):
            return obs[:, :1] * 3.0          # μ = 3 cos ϑ
    cos = np.array([[1.0, 0.5, -0.9, 0.0]])
    assert mean_beyond(Fixed(), _pendulum_batch(cos)) == pytest.approx(0.5)   # |μ| = 3, 1.5, 2.7, 0


def test_format_spread_names_median_and_quartiles():
    assert format_spread([-10, -20, -30, -40, -50]) == "median -30 (IQR -40 to -20)"


def test_zero_torque_reference():
    """The notebook's reference: a = 0 scores about −1220 (5–95 %: about −1800 to −630) and never ends upright."""
    still = sample_batch("Pendulum-v1", ZeroTorque(), n_traj=10_000, seed=0)
    rets = still.returns().numpy()
    assert -1240 < rets.mean() < -1200
    assert -1850 < np.percentile(rets, 5) < -1750 and -680 < np.percentile(rets, 95) < -580
    assert not held_upright(still).any()
    assert rets.max() <= 0 and rets.min() >= -200 * (math.pi ** 2 + 0.1 * 64 + 0.001 * 4) - 1e-3


def test_sigma_from_the_entropy_is_the_policys_sigma():
    """The notebook reads σ off the history: σ_k = exp(H_k − ½ log 2πe) is the σ of the policy that sampled batch k."""
    seen = []
    config = TrainConfig(env_id="Pendulum-v1", n_traj=4, gamma=0.95, lr=0.05, iterations=4)
    _, history = train(config, callback=lambda it, batch, history, policy: seen.append(policy.log_std.exp().item()))
    sigma = np.exp(np.array(history.entropy) - 0.5 * np.log(2 * np.pi * np.e))
    np.testing.assert_allclose(sigma, [1.0] + seen[:-1], rtol=1e-5)


@pytest.fixture(scope="module", params=[range(10), range(10, 20)], ids=["notebook seeds 0-9", "fresh seeds 10-19"])
def pendulum(request):
    """The notebook's Pendulum run: 10 seeds, N = 32, γ = 0.95, Adam α = 0.01, 150 iterations, and each final
    policy on 32 fresh episodes (seeds 10 000 + s); on the notebook's seeds and on 10 others."""
    seeds = request.param
    config = TrainConfig(env_id="Pendulum-v1", n_traj=32, gamma=0.95, lr=0.01, iterations=150)
    policies, histories = train_seeds(config, seeds, progress=False)   # as the notebook: the same groups
    assert not any(h.diverged for h in histories)
    rets = seed_curves(histories, "mean_return")
    sigma = np.exp(seed_curves(histories, "entropy") - 0.5 * np.log(2 * np.pi * np.e))
    evals = [sample_batch("Pendulum-v1", policy, n_traj=32, seed=10_000 + s) for s, policy in zip(seeds, policies)]
    return dict(seeds=list(seeds), rets=rets, sigma=sigma, evals=evals, final=np.array([b.returns().mean().item() for b in evals]),
                beyond=np.array([mean_beyond(p, b) for p, b in zip(policies, evals)]),
                upright=np.array([held_upright(b).float().mean().item() for b in evals]))


def _iqr(x):
    q25, q75 = np.percentile(x, [25, 75])
    return q75 - q25


@pytest.mark.slow
@pytest.mark.claims
def test_claim_pendulum_return_rises_over_10_seeds(pendulum):
    """From about −1200 (about what zero torque scores, −1220) by a median of several hundred (its 95 % interval
    well above 0), by more than 200 on every seed; the band widens; still climbing: from batches 91–100 to
    141–150 the median seed gains, and most seeds (≥ 7 of 10) gain; on the notebook's seeds the interval of that
    median lies above 0."""
    rets = pendulum["rets"]
    first, middle, last = rets[:, :10].mean(1), rets[:, 90:100].mean(1), rets[:, -10:].mean(1)
    assert -1250 < np.median(first) < -1150 and abs(np.median(first) - (-1220)) < 60
    gain = last - first
    assert 400 < np.median(gain) < 800 and bootstrap_interval(gain)[0] > 250 and gain.min() > 200
    assert _iqr(last) > 2 * _iqr(first)
    # "most seeds gain (on these seeds the interval of that median lies above 0 ...; on ten other seeds 7 or 8 of 10
    # gain and the interval reaches just below 0)": seeds 10–19 with the engine of issue 22 gave a median gain of
    # +171 [−43, +240] natively and +106 [−0.3, +288] under ATEN_CPU_CAPABILITY=default, 7 and 8 of 10 gaining.
    assert np.median(last - middle) > 0 and (last > middle).sum() >= 7
    if pendulum["seeds"] == list(range(10)):
        assert bootstrap_interval(last - middle)[0] > 0


@pytest.mark.slow
@pytest.mark.claims
def test_claim_pendulum_sigma_hardly_moves_then_shrinks(pendulum):
    """The median σ stays within about 10 % of 1 in iterations 0–39 ("within 3 %" is said only of the stored
    seeds 0–9: 1.02 on AVX-512, 1.03 on AVX2; seeds 10–19 under ATEN_CPU_CAPABILITY=default drift to 0.934 by
    iteration 39); in the last batch it is below 1 on most seeds (≥ 7 of 10), with a median between about 0.75
    and 0.8 (0.75 on AVX-512, 0.80 on AVX2; the test allows 0.65–0.85)."""
    sigma = pendulum["sigma"]
    median = np.median(sigma, 0)
    assert 0.9 < median[:40].min() and median[:40].max() < 1.1
    assert 0.65 < median[-1] < 0.85 and bootstrap_interval(sigma[:, -1])[1] < 1.0
    assert (sigma[:, -1] < 1).sum() >= 7


@pytest.mark.slow
@pytest.mark.claims
def test_claim_pendulum_policies_push_beyond_the_limits_and_many_episodes_end_upright(pendulum):
    """Fresh episodes: on every seed the means spread out, a median of about half the states has |μ| > 2;
    many episodes end held upright (about half for the median seed, its interval above 0 but wide)."""
    beyond, upright = pendulum["beyond"], pendulum["upright"]
    assert 0.4 < np.median(beyond) < 0.65 and beyond.min() > 0.15
    assert 0.3 < np.median(upright) < 0.65 and bootstrap_interval(upright)[0] > 0.05


@pytest.mark.slow
@pytest.mark.claims
def test_claim_one_seeds_fresh_episodes_span_several_hundred_and_so_do_the_seeds(pendulum):
    """The animation's caption: the first seed's 32 fresh episodes span several hundred, and the 10 seeds' mean
    returns on their fresh episodes differ by a few hundred too."""
    rets = pendulum["evals"][0].returns().numpy()
    assert rets.max() - rets.min() > 300
    final = pendulum["final"]
    assert final.max() - final.min() > 200


# --- Pendulum's references --------------------------------------------------------------------------------------------

def test_reference_policies_act_as_named():
    obs = torch.tensor([[1.0, 0.0, 3.0], [1.0, 0.0, -0.5], [1.0, 0.0, 0.0]])
    assert FullTorqueAlongMotion().sample(obs)[:, 0].tolist() == [2.0, -2.0, 2.0]
    assert BrakeToRest().sample(obs)[:, 0].tolist() == [-2.0, 1.0, -0.0]
    assert HANGING_STILL_RETURN == pytest.approx(-1973.92, abs=0.01)


def test_reference_returns_hanging_spinning_and_swinging():
    """The notebook's references over 10,000 episodes (and 10,000 others): swinging freely about −1220,
    braked to hanging about −1870, spinning about −1620, each with a 95 % half-width of a few units."""
    for seed in (0, 1):
        refs = reference_returns({"zero": ZeroTorque(), "hang": BrakeToRest(), "spin": FullTorqueAlongMotion()},
                                 n_traj=10_000, seed=seed)
        (zero, hz, _), (hang, hh, rets_hang), (spin, hs, _) = refs["zero"], refs["hang"], refs["spin"]
        assert -1240 < zero < -1200 and -1890 < hang < -1840 and -1640 < spin < -1600
        assert max(hz, hh, hs) < 10 and spin < zero and hang < spin
        assert rets_hang.min() >= HANGING_STILL_RETURN - 1      # braking from a swing costs at most hanging still


def test_reference_returns_rejects_bad_n_traj():
    with pytest.raises(ValueError, match="n_traj"):
        reference_returns({"zero": ZeroTorque()}, n_traj=0)


# --- the bandit over many seeds ---------------------------------------------------------------------------------------

def test_bandit_settings_summarise_the_runs():
    (s,) = bandit_settings(settings=((1, 0.05),), seeds=range(20))
    runs = gaussian_bandit_reinforce_seeds(n_traj=1, lr=0.05, seeds=range(20))
    assert s.n_seeds == 20 and s.diverged == sum(r.diverged for r in runs)
    ok = [r for r in runs if not r.diverged]
    assert s.median_final_sigma == pytest.approx(np.median([r.sigma[-1] for r in ok]))
    (never,) = bandit_settings(settings=((16, 0.001),), seeds=range(3))
    assert never.median_steps_to_target == math.inf


@pytest.mark.claims
def test_claim_bandit_settings_over_500_seeds():
    """What to try, over 500 seeds (and 500 others): N = 1 diverges in about a fifth of the runs, N ≥ 16 never;
    α = 0.3 about one in ten, reaching a* ± 0.1 in about 4 steps (α = 0.05: about 28) with σ near 0.09 (0.21);
    α = 1 essentially always; α = 0.01 still about 0.26 short after 100 steps."""
    for seeds in (range(500), range(500, 1000)):
        by = {(s.n_traj, s.lr): s for s in bandit_settings(seeds=seeds)}
        assert 0.15 < by[1, 0.05].diverged / 500 < 0.3
        assert by[4, 0.05].diverged / 500 < 0.03 and by[16, 0.05].diverged == by[256, 0.05].diverged == 0
        assert 0.05 < by[16, 0.3].diverged / 500 < 0.15 and by[16, 0.3].median_steps_to_target <= 5
        assert 0.07 < by[16, 0.3].median_final_sigma < 0.1 and 0.19 < by[16, 0.05].median_final_sigma < 0.23
        assert 25 <= by[16, 0.05].median_steps_to_target <= 32
        assert by[16, 1.0].diverged >= 495
        assert 0.22 < by[16, 0.01].median_final_gap < 0.3 and by[16, 0.01].diverged == 0


# --- a state-dependent σ ----------------------------------------------------------------------------------------------

def test_state_sigma_policy_log_prob_is_the_mvn_density_with_the_states_sigma():
    torch.manual_seed(0)
    policy = StateSigmaGaussianPolicy(obs_dim=3, act_dim=2, hidden=(8,), out_scale=1.0).double()
    obs = torch.randn(4, 3, dtype=torch.float64)
    act = torch.randn(4, 2, dtype=torch.float64)
    mu, log_std = policy.mean_and_log_std(obs)
    assert log_std.std(0).min() > 1e-3                         # σ differs from state to state
    for i in range(4):
        expected = mvn_log_density(act[i], mu[i].detach(), torch.diag(log_std[i].exp() ** 2).detach())
        torch.testing.assert_close(policy.log_prob(obs[i], act[i]).detach(), expected)
    torch.testing.assert_close(policy.entropy(obs).detach(),
                               torch.distributions.Normal(mu, log_std.exp()).entropy().sum(-1).detach())


def test_state_sigma_score_is_autograds_and_sampling_has_the_states_spread():
    torch.manual_seed(1)
    policy = StateSigmaGaussianPolicy(obs_dim=1, act_dim=1, hidden=(8,), out_scale=1.0, log_std_init=-0.5).double()
    obs = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    act = torch.tensor([[0.3], [-2.0]], dtype=torch.float64)
    mu, log_std = policy.mean_and_log_std(obs)
    (by_autograd,) = torch.autograd.grad(torch.distributions.Normal(mu, log_std.exp()).log_prob(act).sum(), log_std)
    torch.testing.assert_close(policy.score_log_std(obs, act).detach(), by_autograd)
    draws = policy.sample(obs.repeat(20_000, 1), torch.Generator().manual_seed(2)).detach().view(20_000, 2)
    np.testing.assert_allclose(draws.std(0).numpy(), log_std.exp()[:, 0].detach().numpy(), rtol=0.03)
    fresh = StateSigmaGaussianPolicy(obs_dim=1, act_dim=1, log_std_init=-0.5)
    np.testing.assert_allclose(fresh.log_std(obs.float()).detach().numpy(), -0.5, atol=0.05)   # small last layer


def test_state_sigma_policy_and_two_state_bandit_reject_bad_input():
    with pytest.raises(ValueError, match="act_dim"):
        StateSigmaGaussianPolicy(obs_dim=1, act_dim=0)
    with pytest.raises(ValueError, match="w_low"):
        two_state_bandit_reinforce(StateSigmaGaussianPolicy(1, 1), w_low=2.0)
    with pytest.raises(ValueError, match="steps"):
        two_state_bandit_reinforce(StateSigmaGaussianPolicy(1, 1), steps=0)


def _two_state_runs(seeds):
    out = {"state": [], "one": []}
    for seed in seeds:
        for name, make in (("state", lambda: StateSigmaGaussianPolicy(1, 1, hidden=(16,))),
                           ("one", lambda: GaussianPolicy(1, 1, hidden=(16,)))):
            torch.manual_seed(seed)
            out[name].append(two_state_bandit_reinforce(make(), steps=200, n_traj=64, lr=0.05, w_low=0.05,
                                                        seed=seed)["sigma"][-1])
    return {k: np.array(v) for k, v in out.items()}


def test_two_state_bandit_is_seeded_and_one_sigma_is_shared():
    a, b = _two_state_runs([3]), _two_state_runs([3])
    np.testing.assert_array_equal(a["state"], b["state"])
    np.testing.assert_array_equal(a["one"][:, 0], a["one"][:, 1])


@pytest.mark.claims
@pytest.mark.parametrize("seeds", [range(10), range(10, 20)], ids=["notebook seeds", "fresh seeds"])
def test_claim_state_sigma_parts_ways_on_every_seed(seeds):
    """With σ_θ(s), σ ends smaller where the action matters on every seed, several times smaller (medians about
    0.08 vs 0.33); one σ ends between the two (about 0.21)."""
    runs = _two_state_runs(seeds)
    state, one = runs["state"], runs["one"]
    assert (state[:, 0] < state[:, 1]).all()
    assert np.median(state[:, 1]) > 3 * np.median(state[:, 0])
    assert np.median(state[:, 0]) < np.median(one[:, 0]) < np.median(state[:, 1])


def test_format_median_interval():
    assert format_median_interval([1, 2, 3, 4, 5]).startswith("median 3 (95 % interval ")


# --- the prediction exercise ------------------------------------------------------------------------------------------

def test_sigma_direction_checker():
    assert check_sigma_direction(reference_sigma_direction, verbose=False)
    assert not check_sigma_direction(lambda z, r: int(np.sign(r)), verbose=False)            # ignores z
    assert not check_sigma_direction(lambda z, r: int(np.sign(z * z - 1)), verbose=False)    # ignores the reward
    assert not check_sigma_direction(lambda z, r: -reference_sigma_direction(z, r), verbose=False)
    assert not check_sigma_direction(not_implemented, verbose=False)
    assert {reference_sigma_direction(z, r) for z, r in SIGMA_CASES} == {-1, 0, 1}


def test_sigma_direction_is_the_sign_of_one_reinforce_step():
    for z, r in SIGMA_CASES:
        log_std = torch.tensor(math.log(0.8), dtype=torch.float64, requires_grad=True)
        act = torch.tensor(0.3 + z * 0.8, dtype=torch.float64)
        (grad,) = torch.autograd.grad(r * torch.distributions.Normal(0.3, log_std.exp()).log_prob(act), log_std)
        assert grad.item() == pytest.approx(r * (z * z - 1), abs=1e-12)
        assert reference_sigma_direction(z, r) == (0 if abs(grad.item()) < 1e-12 else np.sign(grad.item()))


@pytest.mark.parametrize("wrong, says", [
    (lambda act, mu, cov: act - mu, "left out Σ⁻¹"),
    (lambda act, mu, cov: torch.linalg.solve(cov, (mu - act).unsqueeze(-1)).squeeze(-1), "sign is flipped"),
    (lambda act, mu, cov: (cov @ (act - mu).unsqueeze(-1)).squeeze(-1), "multiplied by Σ"),
    (lambda act, mu, cov: (act - mu) / torch.diagonal(cov), "variances alone"),
], ids=["no inverse", "sign", "times Σ", "diagonal"])
def test_the_score_checker_names_the_mistake(wrong, says):
    result = check_gaussian_score_mu(wrong, verbose=False)
    assert not result.passed and says in result.message, result.message
