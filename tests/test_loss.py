"""The pseudo-loss: its gradient is minus the policy-gradient estimate, in closed form."""

import pytest
import torch

from pgcourse import CategoricalPolicy, pg_pseudo_loss


def test_pseudo_loss_gradient_equals_closed_form_softmax_score():
    # A linear softmax policy on one-hot states: logits(s) = W s + b, so
    # ∇_W log π(a|s) = (e_a − π(·|s)) sᵀ and ∇_b log π(a|s) = e_a − π(·|s).
    g = torch.Generator().manual_seed(0)
    n, t, n_states, n_actions = 4, 3, 5, 3
    policy = CategoricalPolicy(n_states, n_actions, hidden=(), out_scale=1.0).double()
    with torch.no_grad():
        policy.logits_net[0].weight.copy_(torch.randn(n_actions, n_states, generator=g))
    states = torch.randint(0, n_states, (n, t), generator=g)
    obs = torch.nn.functional.one_hot(states, n_states).double()
    act = torch.randint(0, n_actions, (n, t), generator=g)
    weights = torch.randn(n, t, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=torch.bool)

    loss = pg_pseudo_loss(policy.log_prob(obs, act), weights, mask)
    loss.backward()

    probs = torch.softmax(policy.logits(obs), -1).detach()
    score = torch.nn.functional.one_hot(act, n_actions).double() - probs       # (N, T, A)
    w = (weights * mask)[..., None]
    expected_b = (score * w).sum((0, 1)) / n                                   # Σ_i Σ_t ... / N
    expected_w = torch.einsum("nta,nts->as", score * w, obs) / n
    lin = policy.logits_net[0]
    assert torch.allclose(lin.weight.grad, -expected_w, atol=1e-12)
    assert torch.allclose(lin.bias.grad, -expected_b, atol=1e-12)


def test_weights_are_detached_and_reduction_is_over_trajectories():
    logp = torch.log(torch.tensor([[0.5, 0.25], [0.5, 0.5]], requires_grad=True))
    weights = torch.tensor([[2.0, 1.0], [4.0, 3.0]], requires_grad=True)
    loss = pg_pseudo_loss(logp, weights)
    # −(1/N) Σ_i Σ_t: N = 2 trajectories, not N·T = 4 steps
    expected = -(logp.detach() * weights.detach()).sum() / 2
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert weights.grad is None


def test_masked_steps_do_not_count_even_if_logp_is_minus_inf():
    logp = torch.tensor([[-1.0, float("-inf")]])
    loss = pg_pseudo_loss(logp, torch.tensor([[1.0, 1.0]]), torch.tensor([[True, False]]))
    assert loss.item() == 1.0


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"weights must have the shape of logp \(2, 3\)"):
        pg_pseudo_loss(torch.zeros(2, 3), torch.zeros(2, 4))
