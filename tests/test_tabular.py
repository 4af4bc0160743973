"""TabularMDP: exact J and ∇J against finite differences and brute-force enumeration; the sampler."""

import itertools
import math

import pytest
import torch

from pgcourse import Batch, TabularMDP, TabularSoftmaxPolicy


def random_logits(mdp, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(mdp.n_states, mdp.n_actions, generator=g, dtype=torch.float64)


def brute_force_objective(mdp, logits):
    """J(θ) = Σ_τ p_θ(τ) R(τ) over all (S·A)^T trajectories (differentiable)."""
    pi = torch.softmax(logits, -1)
    P, R, p0 = mdp.P, mdp.R, mdp.p0
    steps = list(itertools.product(range(mdp.n_states), range(mdp.n_actions)))
    total = torch.zeros((), dtype=torch.float64)
    for traj in itertools.product(steps, repeat=mdp.horizon):
        prob = p0[traj[0][0]]
        ret = 0.0
        for t, (s, a) in enumerate(traj):
            prob = prob * pi[s, a]
            ret = ret + R[s, a]
            if t + 1 < len(traj):
                prob = prob * P[s, a, traj[t + 1][0]]
        total = total + prob * ret
    return total


@pytest.fixture(scope="module")
def tiny():
    return TabularMDP.random(3, 2, 4, seed=11, reward_low=-1.0, reward_high=2.0)


def test_objective_and_gradient_match_brute_force_enumeration(tiny):
    # S=3, A=2, T=4: 6^4 = 1296 trajectories enumerated one by one; tolerance 1e-6 (float64)
    logits = random_logits(tiny, 0)
    theta = logits.clone().requires_grad_(True)
    j_brute = brute_force_objective(tiny, theta)
    (g_brute,) = torch.autograd.grad(j_brute, theta)
    assert abs(float(tiny.objective(logits)) - float(j_brute.detach())) < 1e-6
    assert torch.allclose(tiny.gradient(logits), g_brute, atol=1e-6, rtol=0)


def test_gradient_matches_central_finite_differences():
    # float64, step 1e-6: truncation O(1e-12) and rounding O(1e-10); tolerance 1e-7
    mdp = TabularMDP.random(5, 3, 10, seed=3)
    logits = random_logits(mdp, 1)
    grad = mdp.gradient(logits)
    h = 1e-6
    fd = torch.zeros_like(logits)
    for s in range(mdp.n_states):
        for a in range(mdp.n_actions):
            e = torch.zeros_like(logits)
            e[s, a] = h
            fd[s, a] = (mdp.objective(logits + e) - mdp.objective(logits - e)) / (2 * h)
    assert grad.shape == (5, 3) and grad.dtype == torch.float64
    assert torch.allclose(grad, fd, atol=1e-7, rtol=0)


def test_objective_is_differentiable_and_gradient_keeps_dtype():
    mdp = TabularMDP.random(4, 2, 3, seed=0)
    theta = torch.zeros(4, 2, requires_grad=True)
    mdp.objective(theta).backward()
    assert theta.grad is not None and theta.grad.shape == (4, 2)
    assert mdp.gradient(torch.zeros(4, 2)).dtype == torch.float32
    # a policy object is accepted in place of its logits
    policy = TabularSoftmaxPolicy(4, 2)
    assert torch.allclose(mdp.gradient(policy), mdp.gradient(torch.zeros(4, 2)))


def test_state_distributions_are_distributions():
    mdp = TabularMDP.random(5, 3, 7, seed=2)
    d = mdp.state_distributions(random_logits(mdp, 0))
    assert d.shape == (7, 5)
    assert torch.allclose(d.sum(1), torch.ones(7, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(d[0], mdp.p0)


def test_bandit_objective_and_gradient():
    mdp = TabularMDP.bandit([1.0, 0.0])
    logits = torch.tensor([[math.log(0.9), math.log(0.1)]], dtype=torch.float64)
    assert mdp.n_states == 1 and mdp.n_actions == 2 and mdp.horizon == 1
    assert float(mdp.objective(logits)) == pytest.approx(0.9, abs=1e-12)
    # ∇_θ Σ_a π_a r_a = π_0 (1 − π_0) (1, −1)
    assert torch.allclose(mdp.gradient(logits), torch.tensor([[0.09, -0.09]], dtype=torch.float64), atol=1e-12)


def test_random_is_reproducible():
    a, b = TabularMDP.random(4, 3, 5, seed=7), TabularMDP.random(4, 3, 5, seed=7)
    assert torch.equal(a.P, b.P) and torch.equal(a.R, b.R) and torch.equal(a.p0, b.p0)
    assert not torch.equal(a.P, TabularMDP.random(4, 3, 5, seed=8).P)
    assert (a.R >= 0).all() and (a.R < 1).all()


def test_sample_layout_and_same_seed_same_batch():
    mdp = TabularMDP.random(5, 3, 6, seed=0)
    logits = random_logits(mdp, 0)
    b1, b2 = mdp.sample(logits, 50, seed=123), mdp.sample(logits, 50, seed=123)
    assert isinstance(b1, Batch)
    assert b1.obs.shape == b1.act.shape == b1.rew.shape == b1.mask.shape == (50, 6)
    assert b1.obs.dtype == b1.act.dtype == torch.int64 and b1.rew.dtype == torch.float32
    assert b1.mask.all() and b1.terminated.all() and not b1.truncated.any()
    assert b1.terminated.shape == b1.truncated.shape == (50,)
    for name in ("obs", "act", "rew", "mask", "terminated", "truncated"):
        assert torch.equal(getattr(b1, name), getattr(b2, name))
    assert not torch.equal(b1.act, mdp.sample(logits, 50, seed=124).act)
    assert ((b1.obs >= 0) & (b1.obs < 5)).all() and ((b1.act >= 0) & (b1.act < 3)).all()
    assert torch.equal(b1.rew, mdp.R[b1.obs, b1.act].float())


def test_sample_respects_zero_probabilities():
    # deterministic chain 0 -> 1 -> 2 -> 2 and a policy that never takes action 1
    P = torch.zeros(3, 2, 3, dtype=torch.float64)
    P[0, :, 1] = P[1, :, 2] = P[2, :, 2] = 1.0
    mdp = TabularMDP(P, torch.tensor([[1.0, 0.0]] * 3), torch.tensor([1.0, 0.0, 0.0]), 4)
    logits = torch.tensor([[0.0, -math.inf]] * 3)
    batch = mdp.sample(logits, 200, seed=0)
    assert (batch.act == 0).all()
    assert (batch.obs == torch.tensor([0, 1, 2, 2])).all()
    assert torch.allclose(batch.returns(), torch.full((200,), 4.0))


def test_empirical_mean_return_matches_objective():
    # |z| = |mean R − J| / (std R / √N) < 4.5 with N = 20 000 (seeded: deterministic)
    mdp = TabularMDP.random(5, 3, 10, seed=4, reward_low=-1.0, reward_high=1.0)
    logits = random_logits(mdp, 2)
    rets = mdp.sample(logits, 20_000, seed=5).returns().double()
    z = (rets.mean() - mdp.objective(logits)) / (rets.std() / math.sqrt(rets.numel()))
    assert abs(float(z)) < 4.5


def test_empirical_action_frequencies_match_policy():
    # state-0 action frequencies at t=1 vs π(·|0): |z| < 4.5 for each action, N = 20 000
    P = torch.full((2, 3, 2), 0.5, dtype=torch.float64)
    mdp = TabularMDP(P, torch.zeros(2, 3), torch.tensor([1.0, 0.0]), 1)
    logits = torch.tensor([[0.0, 1.0, -1.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    act = mdp.sample(logits, 20_000, seed=0).act[:, 0]
    pi = torch.softmax(logits[0], -1)
    freq = torch.bincount(act, minlength=3).double() / act.numel()
    z = (freq - pi) / (pi * (1 - pi) / act.numel()).sqrt()
    assert z.abs().max() < 4.5


@pytest.mark.parametrize("kwargs, match", [
    (dict(P=torch.ones(2, 2, 2), R=torch.zeros(2, 2), p0=torch.tensor([0.5, 0.5]), horizon=3), "P must sum to 1"),
    (dict(P=torch.full((2, 2, 3), 0.5), R=torch.zeros(2, 2), p0=torch.tensor([0.5, 0.5]), horizon=3), "shape"),
    (dict(P=torch.full((2, 2, 2), 0.5), R=torch.zeros(2, 3), p0=torch.tensor([0.5, 0.5]), horizon=3), "R must have shape"),
    (dict(P=torch.full((2, 2, 2), 0.5), R=torch.zeros(2, 2), p0=torch.tensor([0.7, 0.7]), horizon=3), "p0 must sum to 1"),
    (dict(P=torch.full((2, 2, 2), 0.5), R=torch.zeros(2, 2), p0=torch.tensor([1.5, -0.5]), horizon=3), "p0 must be ≥ 0"),
    (dict(P=torch.full((2, 2, 2), 0.5), R=torch.zeros(2, 2), p0=torch.tensor([0.5, 0.5]), horizon=0), "horizon must be ≥ 1"),
    (dict(P=torch.full((2, 2, 2), 0.5), R=torch.tensor([[0.0, math.nan], [0, 0]]), p0=torch.tensor([0.5, 0.5]),
          horizon=2), "R must contain only finite"),
])
def test_constructor_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TabularMDP(**kwargs)


def test_logits_and_n_traj_are_validated():
    mdp = TabularMDP.random(3, 2, 4, seed=0)
    with pytest.raises(ValueError, match=r"logits must have shape \(S, A\) = \(3, 2\)"):
        mdp.objective(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="n_traj must be ≥ 1"):
        mdp.sample(torch.zeros(3, 2), 0)
    with pytest.raises(ValueError, match="at least 2 arms"):
        TabularMDP.bandit([1.0])


def test_softmax_policy_interface():
    policy = TabularSoftmaxPolicy(4, 3)
    assert policy.logits.shape == (4, 3) and (policy.logits == 0).all()
    assert [name for name, _ in policy.named_parameters()] == ["logits"]
    with torch.no_grad():
        policy.logits.copy_(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    obs = torch.tensor([[0, 1, 2], [3, 3, 0]])
    act = torch.tensor([[2, 0, 1], [1, 2, 0]])
    logp = policy.log_prob(obs, act)
    assert logp.shape == obs.shape
    assert torch.equal(policy(obs, act), logp)
    assert torch.allclose(logp, policy.distribution(obs).log_prob(act))
    assert torch.allclose(logp, torch.log_softmax(policy.logits, -1)[obs, act])
    assert torch.equal(policy.mode(obs), policy.logits[obs].argmax(-1))
    assert policy.entropy(obs).shape == obs.shape
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(policy.sample(obs, g1), policy.sample(obs, g2))
    with pytest.raises(ValueError, match="integer state ids"):
        policy.log_prob(obs.float(), act)


def test_from_logits_copies():
    logits = torch.randn(3, 2, dtype=torch.float64)
    policy = TabularSoftmaxPolicy.from_logits(logits)
    assert policy.logits.dtype == torch.float64 and torch.equal(policy.logits.data, logits)
    with torch.no_grad():
        policy.logits.add_(1.0)
    assert not torch.equal(policy.logits.data, logits)
