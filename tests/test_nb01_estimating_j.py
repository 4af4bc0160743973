"""Notebook 01: exact p_θ(τ), moments of R(τ), Q^π and V^π, stationary distributions and the conditions for them,
repeated estimates, checkers and panel."""

import math

import numpy as np
import pytest
import torch

from helpers import not_implemented, rerun_with
from pgcourse import TabularMDP
from pgcourse.lessons.nb01_estimating_j.checks import (check_estimate_J, check_fair_corridor_prediction, check_log_p_tau,
                                          check_stationary, estimate_J_reference, fair_corridor_average_reward,
                                          log_p_tau_reference, stationary_reference)
from pgcourse.lessons.nb01_estimating_j.measure import (action_values, average_reward, chain_structure, corridor_problem,
                                   enumerate_trajectories, estimates_by_batch_size, example_problem,
                                   policy_transition_matrix, repeated_estimates, return_moments, returns_float64,
                                   stationary_distribution, trajectory_log_prob)
from pgcourse.lessons.nb01_estimating_j.panel import estimate_spread, estimating_j_panel


@pytest.fixture(scope="module")
def tiny():
    mdp = TabularMDP.random(3, 2, 3, seed=1)
    logits = torch.tensor([[1.0, -1.0], [0.0, 0.5], [-0.5, 0.5]], dtype=torch.float64)
    return mdp, logits


# --- package functions ----------------------------------------------------------------------------

def test_enumeration_lists_every_trajectory_once(tiny):
    mdp, _ = tiny
    obs, act = enumerate_trajectories(mdp)
    assert obs.shape == act.shape == (216, 3)
    assert len({tuple(o) + tuple(a) for o, a in zip(obs.tolist(), act.tolist())}) == 216


def test_enumeration_refuses_huge_mdps():
    with pytest.raises(ValueError, match="too many to enumerate"):
        enumerate_trajectories(TabularMDP.random(5, 3, 10, seed=0))


def test_p_tau_sums_to_one_and_gives_J_and_var(tiny):
    mdp, logits = tiny
    obs, act = enumerate_trajectories(mdp)
    p = trajectory_log_prob(mdp, logits, obs, act).exp()
    r = mdp.R[obs, act].sum(1)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    mean, var = return_moments(mdp, logits)
    assert float((p * r).sum()) == pytest.approx(float(mdp.objective(logits)), abs=1e-12)
    assert float(mean) == pytest.approx(float((p * r).sum()), abs=1e-12)
    assert float(var) == pytest.approx(float((p * r * r).sum() - (p * r).sum() ** 2), abs=1e-12)


def test_trajectory_log_prob_by_hand():
    mdp = TabularMDP.random(2, 2, 2, seed=4)
    logits = torch.tensor([[0.3, -0.2], [1.0, 0.0]], dtype=torch.float64)
    pi = torch.softmax(logits, -1)
    obs, act = torch.tensor([1, 0]), torch.tensor([0, 1])
    by_hand = mdp.p0[1] * pi[1, 0] * mdp.P[1, 0, 0] * pi[0, 1]
    assert float(trajectory_log_prob(mdp, logits, obs, act)) == pytest.approx(math.log(float(by_hand)), abs=1e-12)


def test_its_gradient_is_the_sum_of_policy_scores():
    mdp, logits = example_problem()
    batch = mdp.sample(logits, 3, seed=2)
    theta = logits.clone().requires_grad_(True)
    (g_full,) = torch.autograd.grad(trajectory_log_prob(mdp, theta, batch.obs, batch.act).sum(), theta)
    theta2 = logits.clone().requires_grad_(True)
    (g_pi,) = torch.autograd.grad(torch.log_softmax(theta2, -1)[batch.obs, batch.act].sum(), theta2)
    assert torch.allclose(g_full, g_pi, atol=1e-12)


def test_stationary_distribution_two_ways():
    P = torch.tensor([[0.9, 0.1], [0.5, 0.5]], dtype=torch.float64)
    for method in ("eig", "power"):
        assert torch.allclose(stationary_distribution(P, method), torch.tensor([5 / 6, 1 / 6], dtype=torch.float64))
    mdp, logits = example_problem()
    P_pi = policy_transition_matrix(mdp, logits)
    assert torch.allclose(P_pi.sum(1), torch.ones(5, dtype=torch.float64))
    mu = stationary_distribution(P_pi)
    assert torch.allclose(mu @ P_pi, mu, atol=1e-12) and float(mu.sum()) == pytest.approx(1.0)
    assert torch.allclose(mu, stationary_distribution(P_pi, "power"), atol=1e-10)
    d = mdp.with_horizon(40).state_distributions(logits)
    assert torch.allclose(d[-1], mu, atol=1e-12)


def test_stationary_distribution_errors():
    periodic = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="did not converge"):  # from uniform: (2/3, 1/3, 0) ↔ (1/3, 2/3, 0)
        stationary_distribution(periodic, "power", max_iter=50)
    with pytest.raises(ValueError, match="'eig' or 'power'"):
        stationary_distribution(periodic, "svd")
    with pytest.raises(ValueError, match="square"):
        stationary_distribution(torch.ones(2, 3) / 3)


def test_average_reward_is_the_limit_of_J_T_over_T():
    mdp, logits = example_problem()
    T = 2000
    assert float(mdp.with_horizon(T).objective(logits)) / T == pytest.approx(float(average_reward(mdp, logits)), rel=1e-3)


def test_repeated_estimates_are_unbiased_with_the_predicted_spread():
    mdp, logits = example_problem()
    J, var = (float(x) for x in return_moments(mdp, logits))
    n, m = 16, 2000
    est = repeated_estimates(mdp, logits, n, m, seed=3)
    assert est.shape == (m,)
    z = (float(est.mean()) - J) / math.sqrt(var / (n * m))
    assert abs(z) < 4  # z-test of unbiasedness
    # the std of M estimates has relative standard error ≈ 1/√(2M) ≈ 1.6%; allow 10%
    assert float(est.std()) == pytest.approx(math.sqrt(var / n), rel=0.10)
    assert torch.equal(est, repeated_estimates(mdp, logits, n, m, seed=3))  # seeded


def test_estimates_by_batch_size_follow_sigma_over_sqrt_n():
    mdp, logits = example_problem()
    J, var = (float(x) for x in return_moments(mdp, logits))
    ns = [1, 4, 16, 64, 256]
    table = estimates_by_batch_size(mdp, logits, ns, n_repeats=400, seed=1)
    sigma = math.sqrt(var)
    for n, mean, std in zip(ns, table["mean"].tolist(), table["std"].tolist()):
        assert abs(mean - J) / (sigma / math.sqrt(n * 400)) < 4
        assert std == pytest.approx(sigma / math.sqrt(n), rel=0.2)  # 400 repeats: ~3.5% standard error
    with pytest.raises(ValueError, match="at least 2"):
        estimates_by_batch_size(mdp, logits, ns, n_repeats=1)


def test_returns_float64_matches_float32_rewards():
    mdp, logits = example_problem()
    batch = mdp.sample(logits, 50, seed=0)
    assert torch.allclose(returns_float64(mdp, batch), batch.rew.double().sum(1), atol=1e-5)


# --- checkers -------------------------------------------------------------------------------------

def test_estimate_J_checker():
    assert check_estimate_J(estimate_J_reference, verbose=False).passed
    wrong = [
        lambda rew, mask: (float(rew.sum(1).mean()), float(rew.sum(1).std() / len(rew) ** 0.5)),   # ignores mask
        lambda rew, mask: (float((rew * mask).mean()), 0.0),                                        # / (N·T)
        lambda rew, mask: estimate_J_reference(rew, mask)[:1] + (float((rew * mask).sum(1).std(unbiased=False)
                                                                        / len(rew) ** 0.5),),      # population std
        lambda rew, mask: (estimate_J_reference(rew, mask)[0], float((rew * mask).sum(1).std() / len(rew))),  # / N
    ]
    for fn in wrong:
        assert not check_estimate_J(fn, verbose=False).passed
    assert "not implemented" in check_estimate_J(not_implemented, verbose=False).message


def test_log_p_tau_checker():
    assert check_log_p_tau(log_p_tau_reference, verbose=False).passed

    def no_start(p0, P, logits, obs, act):
        return log_p_tau_reference(p0, P, logits, obs, act) - torch.log(p0[obs[:, 0]])

    def unnormalised(p0, P, logits, obs, act):  # log π taken as the raw logit
        return (torch.log(p0[obs[:, 0]]) + logits[obs, act].sum(1)
                + torch.log(P[obs[:, :-1], act[:, :-1], obs[:, 1:]]).sum(1))

    def shifted_actions(p0, P, logits, obs, act):  # off by one: pairs s_t with a_{t+1}
        return (torch.log(p0[obs[:, 0]]) + torch.log_softmax(logits, -1)[obs, act].sum(1)
                + torch.log(P[obs[:, :-1], act[:, 1:], obs[:, 1:]]).sum(1))

    for fn in (no_start, unnormalised, shifted_actions):
        assert not check_log_p_tau(fn, verbose=False).passed
    assert not check_log_p_tau(not_implemented, verbose=False).passed


def test_stationary_checker():
    assert check_stationary(stationary_reference, verbose=False).passed
    assert check_stationary(lambda P: stationary_distribution(P, "power"), verbose=False).passed

    def right_eigenvector(P):
        vals, vecs = torch.linalg.eig(P)
        v = vecs[:, int((vals - 1).abs().argmin())].real
        return v / v.sum()

    def transposed(P):  # μ = P μ instead of μ = μ P
        return stationary_distribution(P.T.contiguous() / P.T.sum(1, keepdim=True), "power")

    for fn in (right_eigenvector, transposed, lambda P: torch.full((P.shape[0],), 1.0 / P.shape[0])):
        assert not check_stationary(fn, verbose=False).passed
    assert not check_stationary(not_implemented, verbose=False).passed


# --- panel ----------------------------------------------------------------------------------------

def test_panel_runs_headless_and_matches_its_compute_function():
    panel = estimating_j_panel()
    first = panel.run()
    result = rerun_with(panel, n_traj=64, n_repeats=100, seed=2)
    direct = estimate_spread(n_traj=64, n_repeats=100, seed=2)
    assert np.array_equal(result.estimates, direct.estimates)
    assert (result.exact, result.sigma, result.n_traj) == (direct.exact, direct.sigma, 64)
    assert result.predicted_std == pytest.approx(first.predicted_std / 2)  # σ/√N: 4× the trajectories, half the spread


# --- Q^π and V^π --------------------------------------------------------------------------------

def test_action_values_are_the_conditional_expectations_of_the_return(tiny):
    mdp, logits = tiny
    Q, V = action_values(mdp, logits)
    assert Q.shape == (3, 3, 2) and V.shape == (3, 3)
    obs, act = enumerate_trajectories(mdp)
    p = trajectory_log_prob(mdp, logits, obs, act).exp()
    r = mdp.R[obs, act].sum(1)
    for s in range(3):
        for a in range(2):
            first = (obs[:, 0] == s) & (act[:, 0] == a)
            assert float(Q[0, s, a]) == pytest.approx(float((p * r)[first].sum() / p[first].sum()), abs=1e-12)
    assert torch.allclose(V, (torch.softmax(logits, -1) * Q).sum(-1), atol=1e-12)
    assert torch.equal(Q[-1], mdp.R)  # one step left: Q^π_T = r
    assert float(mdp.p0 @ V[0]) == pytest.approx(float(mdp.objective(logits)), abs=1e-12)  # J = E_{s_1}[V^π(s_1)]


def test_action_values_at_a_later_step_by_enumerating_the_rest():
    mdp, logits = example_problem(n_states=3, n_actions=2, horizon=4, seed=2)
    Q, V = action_values(mdp, logits)
    rest = mdp.with_horizon(2)  # from step t = 3 two steps remain: V^π_3(s) is J of the 2-step MDP started at s
    for s in range(3):
        start = torch.zeros(3, dtype=torch.float64)
        start[s] = 1.0
        assert float(V[2, s]) == pytest.approx(float(TabularMDP(rest.P, rest.R, start, 2).objective(logits)), abs=1e-12)


# --- the conditions for a stationary distribution ------------------------------------------------

def test_chain_structure():
    assert chain_structure(torch.tensor([[0.0, 1.0], [1.0, 0.0]])) == (True, 2)
    assert chain_structure(torch.eye(2)) == (False, None)
    cycle = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert chain_structure(cycle) == (True, 3)
    lazy = (cycle + torch.eye(3)) / 2  # a self-loop makes it aperiodic
    assert chain_structure(lazy) == (True, 1)
    two_cycles = torch.tensor([[0.0, 0.5, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert chain_structure(two_cycles) == (True, 1)  # cycles of lengths 2 and 3: gcd 1
    one_way = torch.tensor([[0.5, 0.5], [0.0, 1.0]])  # 1 never returns to 0
    assert chain_structure(one_way) == (False, None)
    mdp, logits = example_problem()
    assert chain_structure(policy_transition_matrix(mdp, logits)) == (True, 1)
    with pytest.raises(ValueError, match="square"):
        chain_structure(torch.ones(2, 3) / 3)


def test_corridor_is_slow_irreducible_aperiodic_with_a_geometric_mu():
    mdp, logits = corridor_problem(n_states=5, p_move=0.7, p_right=0.6)
    P_pi = policy_transition_matrix(mdp, logits)
    assert torch.allclose(P_pi.sum(1), torch.ones(5, dtype=torch.float64))
    assert chain_structure(P_pi) == (True, 1)
    mu = stationary_distribution(P_pi)
    geometric = 1.5 ** torch.arange(5, dtype=torch.float64)
    assert torch.allclose(mu, geometric / geometric.sum(), atol=1e-12)  # detailed balance: μ(s+1)/μ(s) = 0.42/0.28
    lam2 = float(torch.linalg.eigvals(P_pi).abs().sort(descending=True).values[1])
    assert lam2 == pytest.approx(0.855, abs=1e-3)
    d = mdp.with_horizon(40).state_distributions(logits)
    gap = (d - mu).abs().sum(1)
    assert float(gap[9]) > 0.4 and float(gap[39]) < 0.01  # visibly slow, but converging
    avg = float(average_reward(mdp, logits, mu))
    deficits = [T * avg - float(mdp.with_horizon(T).objective(logits)) for T in (100, 1000)]
    assert deficits[0] == pytest.approx(deficits[1], abs=1e-4) and deficits[1] == pytest.approx(4.1586, abs=1e-4)


@pytest.mark.parametrize("kwargs", [{"n_states": 1}, {"n_states": 2.5}, {"p_move": 1.0}, {"p_move": 0.0},
                                    {"p_right": 1.2}, {"p_right": "a"}])
def test_corridor_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        corridor_problem(**kwargs)


def test_fair_corridor_prediction_checker():
    assert fair_corridor_average_reward() == pytest.approx(0.2, abs=1e-12)  # symmetric P_π: uniform μ
    assert check_fair_corridor_prediction(lambda: 1 / 5, verbose=False).passed
    for wrong in (lambda: 0.5,        # π(right | s), not μ(right end)
                  lambda: 0.3839,     # the biased corridor's answer (p_right = 0.6)
                  lambda: 0.7 * 0.2,  # multiplied by p_move
                  lambda: "0.2?", lambda: float("nan")):
        assert not check_fair_corridor_prediction(wrong, verbose=False).passed
    result = check_fair_corridor_prediction(not_implemented, verbose=False)
    assert not result.passed and "not implemented" in result.message
