"""Policies return real torch distributions; log-probs match them; the Gaussian score has no ½."""

import math

import gymnasium as gym
import pytest
import torch

from pgcourse import CategoricalPolicy, GaussianPolicy, make_policy


def test_categorical_uses_logits_and_matches_distribution():
    torch.manual_seed(0)
    policy = CategoricalPolicy(4, 3, hidden=(8,), out_scale=1.0)
    obs = torch.randn(5, 7, 4)
    act = torch.randint(0, 3, (5, 7))
    dist = policy.distribution(obs)
    assert isinstance(dist, torch.distributions.Categorical)
    assert torch.allclose(dist.logits, torch.log_softmax(policy.logits(obs), -1))
    assert policy.log_prob(obs, act).shape == (5, 7)
    assert torch.allclose(policy.log_prob(obs, act), dist.log_prob(act), atol=1e-6)
    assert torch.allclose(policy(obs, act), policy.log_prob(obs, act))


def test_categorical_sampling_frequencies_match_probabilities():
    torch.manual_seed(1)
    policy = CategoricalPolicy(2, 3, hidden=(), out_scale=1.0)
    obs = torch.tensor([0.3, -1.2]).expand(200_000, 2)
    probs = policy.distribution(obs[:1]).probs[0]
    act = policy.sample(obs, torch.Generator().manual_seed(0))
    freq = torch.bincount(act, minlength=3).double() / len(act)
    stderr = (probs.double() * (1 - probs.double()) / len(act)).sqrt()
    assert ((freq - probs.double()).abs() / stderr).max() < 4.5  # |z| < 4.5 per action
    again = policy.sample(obs, torch.Generator().manual_seed(0))
    assert torch.equal(act, again)


def test_gaussian_log_prob_is_summed_over_action_dims():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, hidden=(8,), log_std_init=-0.3)
    obs, act = torch.randn(4, 6, 3), torch.randn(4, 6, 2)
    dist = policy.distribution(obs)
    assert isinstance(dist, torch.distributions.Independent)
    assert policy.log_prob(obs, act).shape == (4, 6)
    assert torch.allclose(policy.log_prob(obs, act), dist.log_prob(act), atol=1e-5)
    normal = torch.distributions.Normal(policy.mean(obs), policy.log_std.exp())
    assert torch.allclose(policy.log_prob(obs, act), normal.log_prob(act).sum(-1), atol=1e-5)


def test_gaussian_score_is_inverse_covariance_times_error_without_half():
    # ∇_μ log N(a; μ, diag σ²) = Σ⁻¹ (a − μ)  (notebook 04: the notes' factor ½ is wrong)
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    log_std = torch.tensor([0.2, -0.4])
    a = torch.tensor([1.3, 0.7])
    logp = torch.distributions.Normal(mu, log_std.exp()).log_prob(a).sum()
    (grad,) = torch.autograd.grad(logp, mu)
    assert torch.allclose(grad, (a - mu.detach()) / log_std.exp() ** 2)
    assert not torch.allclose(grad, 0.5 * (a - mu.detach()) / log_std.exp() ** 2)


def test_gaussian_sampling_is_seeded_and_has_right_moments():
    policy = GaussianPolicy(1, 1, hidden=(), log_std_init=math.log(0.5))
    obs = torch.zeros(100_000, 1)
    act = policy.sample(obs, torch.Generator().manual_seed(3))
    assert torch.equal(act, policy.sample(obs, torch.Generator().manual_seed(3)))
    assert abs(act.mean().item()) < 4 * 0.5 / math.sqrt(len(act))
    assert act.std().item() == pytest.approx(0.5, rel=0.02)


def test_make_policy_picks_from_action_space_and_rejects_mismatch():
    cart, pend = gym.make("CartPole-v1"), gym.make("Pendulum-v1")
    assert isinstance(make_policy(cart.observation_space, cart.action_space), CategoricalPolicy)
    assert isinstance(make_policy(pend.observation_space, pend.action_space), GaussianPolicy)
    with pytest.raises(ValueError, match="policy='categorical' needs discrete actions"):
        make_policy(pend.observation_space, pend.action_space, kind="categorical")
    with pytest.raises(ValueError, match="policy must be one of"):
        make_policy(cart.observation_space, cart.action_space, kind="softmax")
