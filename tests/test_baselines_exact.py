"""Unbiasedness and variance of on-policy estimators and baselines against the exact gradient (notebooks 06 and 07)."""

import math

import pytest
import torch

from pgcourse import (TabularMDP, TabularSoftmaxPolicy, compare_estimators, compare_to_exact, gradient_samples,
                      make_lab, mean_baseline, optimal_baseline, optimal_baseline_from_samples,
                      optimal_scalar_baseline, subtract_baseline, time_mean_baseline, trajectory_scores)

Z_MAX = 4.5  # two-sided tail 7e-6 per parameter under N(0, 1): ~1e-3 over all z's here (seeds are fixed anyway)


def random_logits(S, A, seed):
    return torch.randn(S, A, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# Random 5-state, 3-action, horizon-10 MDPs. Seeds 0 and 1 have rewards in [0, 1) (all positive:
# a baseline has a lot to remove); seed 2 has rewards in [-1, 1).
MDPS = {
    "positive-0": lambda: TabularMDP.random(5, 3, 10, seed=0),
    "positive-1": lambda: TabularMDP.random(5, 3, 10, seed=1),
    "signed-2": lambda: TabularMDP.random(5, 3, 10, seed=2, reward_low=-1.0, reward_high=1.0),
}


@pytest.fixture(scope="module", params=list(MDPS))
def on_policy(request):
    """10^5 trajectories of one MDP; the samples of each estimator via the public torch.func path."""
    mdp = MDPS[request.param]()
    logits = random_logits(5, 3, 100 + list(MDPS).index(request.param))
    batch = mdp.sample(logits, 100_000, seed=7)
    policy = TabularSoftmaxPolicy.from_logits(logits)
    rets = batch.returns().double()
    rtg = batch.reward_to_go().double()
    scores = trajectory_scores(policy, batch)
    total = gradient_samples(policy, batch, rets)
    to_go = gradient_samples(policy, batch, rtg)
    samples = {
        "total_return": total,
        "reward_to_go": to_go,
        "total_return - mean baseline": subtract_baseline(total, scores, mean_baseline(rets)),
        "total_return - optimal scalar baseline": subtract_baseline(total, scores, optimal_scalar_baseline(scores, rets)),
        "total_return - optimal baseline": subtract_baseline(total, scores, optimal_baseline(scores, rets)),
        "reward_to_go - mean baseline": subtract_baseline(to_go, scores, mean_baseline(rets)),
        "reward_to_go - time mean baseline": gradient_samples(policy, batch, rtg - time_mean_baseline(rtg)),
        "reward_to_go - optimal baseline": subtract_baseline(to_go, scores, optimal_baseline(scores, rets)),
        "reward_to_go - optimal constant baseline": subtract_baseline(
            to_go, scores, optimal_baseline_from_samples(scores, to_go)),
    }
    exact = mdp.gradient(logits)
    return request.param, {name: compare_to_exact(x, exact) for name, x in samples.items()}


@pytest.mark.slow
def test_on_policy_estimators_are_unbiased(on_policy):
    # every estimator: max |z| < 4.5 over all 15 parameters, N = 10^5
    name, summaries = on_policy
    for estimator, s in summaries.items():
        assert s.max_abs_z < Z_MAX, f"{name}, {estimator}: {s}"


@pytest.mark.slow
def test_reward_to_go_has_lower_variance_than_total_return(on_policy):
    # notebook 06: dropping the past rewards removes zero-mean terms; tr Cov falls (by 1.8–2.6× on these MDPs)
    name, s = on_policy
    assert s["reward_to_go"].trace_cov < s["total_return"].trace_cov, name


@pytest.mark.slow
def test_baseline_variance_ordering(on_policy):
    # optimal (per parameter) ≤ optimal scalar ≤ mean ≤ none, for the total-return estimator on all three MDPs
    # (on the all-positive ones the mean baseline removes > 90 % of tr Cov); and for reward-to-go weights the
    # best constant b_k and the per-step mean b_t both beat no baseline.
    name, s = on_policy
    tr = {k: v.trace_cov for k, v in s.items()}
    assert (tr["total_return - optimal baseline"] <= tr["total_return - optimal scalar baseline"]
            <= tr["total_return - mean baseline"] <= tr["total_return"]), (name, tr)
    assert tr["reward_to_go - optimal constant baseline"] <= tr["reward_to_go"], (name, tr)
    assert tr["reward_to_go - time mean baseline"] <= tr["reward_to_go"], (name, tr)
    if name.startswith("positive"):
        assert tr["total_return - mean baseline"] < 0.1 * tr["total_return"], (name, tr)


def test_mean_baseline_can_raise_variance_bandit_counterexample():
    # notebook 07: π = (0.9, 0.1), r = (1, 0). Exactly: Var without baseline 2·0.0009, with b = E[R] = 0.9
    # 2·0.0576 (64×), with b* = E[g²R]/E[g²] = 0.1 zero (g·(R − b*) = 0.09 for both arms).
    mdp = TabularMDP.bandit([1.0, 0.0])
    logits = torch.tensor([[math.log(0.9), math.log(0.1)]], dtype=torch.float64)
    lab = make_lab(mdp, logits, n_traj=100_000, seed=0)
    s = compare_estimators(lab, ["total_return", "total_return_mean_baseline", "total_return_optimal_baseline"])
    none, mean, best = (s[k].trace_cov for k in s)
    factor = mean / none
    print(f"bandit (0.9, 0.1), rewards (1, 0): tr Cov none {none:.5f}, mean {mean:.5f}, optimal {best:.2e}; "
          f"mean/none = {factor:.1f}")
    assert none == pytest.approx(2 * 0.0009, rel=0.05)
    assert factor == pytest.approx(64.0, rel=0.05) and factor > 50
    assert best < 1e-8 and best <= none
    b = optimal_baseline(lab.scores, lab.rets)
    assert torch.allclose(b, torch.full((2,), 0.1, dtype=torch.float64), atol=1e-3)
    for v in s.values():  # all three are unbiased; the optimal one has stderr ≈ 0 and mean 0.09
        assert v.max_abs_z < Z_MAX


def test_optimal_baselines_hand_example():
    scores = torch.tensor([[1.0, 0.0], [-2.0, 0.0], [1.0, 0.0]])
    rets = torch.tensor([3.0, 1.0, 0.0])
    # E[g_0² R] = (3 + 4 + 0)/3, E[g_0²] = (1 + 4 + 1)/3 -> 7/6; parameter 1 has E[g²] = 0 -> 0 (guarded 0/0)
    assert torch.allclose(optimal_baseline(scores, rets), torch.tensor([7 / 6, 0.0], dtype=torch.float64))
    assert float(optimal_scalar_baseline(scores, rets)) == pytest.approx(7 / 6)
    assert float(optimal_scalar_baseline(torch.zeros(3, 2), rets)) == 0.0
    samples = scores * rets[:, None]
    assert torch.allclose(optimal_baseline_from_samples(scores, samples), optimal_baseline(scores, rets))
    assert torch.allclose(subtract_baseline(samples, scores, torch.tensor([1.0, 5.0])),
                          (scores * (rets[:, None] - torch.tensor([1.0, 5.0]))).double())
    with pytest.raises(ValueError, match=r"rets must have shape \(N,\)"):
        optimal_baseline(scores, rets[:2])
    with pytest.raises(ValueError, match=r"b must be a scalar or have shape \(P,\)"):
        subtract_baseline(samples, scores, torch.zeros(3))
