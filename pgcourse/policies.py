"""Stochastic policies π_θ(a|s) for discrete and continuous actions.

Both policies share one interface, used by the sampler, the loss and the
per-sample gradients:

* ``distribution(obs)`` -> a ``torch.distributions`` object,
* ``log_prob(obs, act)`` -> log π_θ(a|s), shape ``obs.shape[:-1]``
  (summed over action dimensions); ``forward(obs, act)`` is the same,
* ``sample(obs, generator)`` and ``mode(obs)`` -> actions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import gymnasium as gym
import torch
from torch import Tensor, nn

from ._validate import check_choice

__all__ = ["ACTIVATIONS", "mlp", "CategoricalPolicy", "GaussianPolicy", "make_policy"]

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(sizes: Sequence[int], activation: str = "tanh", out_scale: float = 1.0) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them.

    The last layer's weights are multiplied by ``out_scale`` (a small value makes
    the initial policy close to uniform / the initial mean close to 0).
    """
    check_choice("activation", activation, tuple(ACTIVATIONS))
    layers: list[nn.Module] = []
    for j in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[j], sizes[j + 1]))
        if j < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    with torch.no_grad():
        layers[-1].weight.mul_(out_scale)
        layers[-1].bias.zero_()
    return nn.Sequential(*layers)


class CategoricalPolicy(nn.Module):
    """π_θ(a|s) = softmax(f_θ(s))_a, parameterised by the logits f_θ(s) (never softmax → probs).

    obs (..., obs_dim) float; act (...) int64 in {0, …, n_actions-1}.
    Taught in notebooks/03_reinforce.ipynb.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (32,),
                 activation: str = "tanh", out_scale: float = 0.01):
        super().__init__()
        self.obs_dim, self.n_actions = int(obs_dim), int(n_actions)
        self.logits_net = mlp([self.obs_dim, *hidden, self.n_actions], activation, out_scale)

    def logits(self, obs: Tensor) -> Tensor:
        """f_θ(s): unnormalised log-probabilities, (..., n_actions)."""
        return self.logits_net(obs)

    def distribution(self, obs: Tensor) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.logits(obs))

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        """log π_θ(a|s) = f_θ(s)_a − log Σ_b exp f_θ(s)_b, shape obs.shape[:-1]."""
        logp_all = torch.log_softmax(self.logits(obs), dim=-1)
        return logp_all.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)

    forward = log_prob

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """a ~ π_θ(·|s) by the Gumbel-max trick (one uniform per action, seeded by ``generator``)."""
        logits = self.logits(obs)
        u = torch.rand(logits.shape, generator=generator).clamp_(1e-12, 1.0)
        return (logits - torch.log(-torch.log(u))).argmax(-1)

    def mode(self, obs: Tensor) -> Tensor:
        """argmax_a π_θ(a|s)."""
        return self.logits(obs).argmax(-1)

    def entropy(self, obs: Tensor) -> Tensor:
        return self.distribution(obs).entropy()


class GaussianPolicy(nn.Module):
    """π_θ(a|s) = N(μ_θ(s), diag σ²) with a state-independent, learnable log σ.

    log π_θ(a|s) = −½ Σ_k ((a_k − μ_k)/σ_k)² − Σ_k log σ_k − (d/2) log 2π, so
    ∇_μ log π = Σ⁻¹(a − μ) (no factor ½, unlike the notes: notebook 04 checks it with autograd).
    obs (..., obs_dim); act (..., act_dim). Taught in notebooks/04_continuous_actions.ipynb.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (32,),
                 activation: str = "tanh", log_std_init: float = 0.0, out_scale: float = 0.01):
        super().__init__()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.mu_net = mlp([self.obs_dim, *hidden, self.act_dim], activation, out_scale)
        self.log_std = nn.Parameter(torch.full((self.act_dim,), float(log_std_init)))

    def mean(self, obs: Tensor) -> Tensor:
        """μ_θ(s), (..., act_dim)."""
        return self.mu_net(obs)

    def distribution(self, obs: Tensor) -> torch.distributions.Independent:
        normal = torch.distributions.Normal(self.mean(obs), self.log_std.exp())
        return torch.distributions.Independent(normal, 1)

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        """log N(a; μ_θ(s), diag σ²), summed over action dimensions: shape obs.shape[:-1]."""
        z = (act - self.mean(obs)) * torch.exp(-self.log_std)
        return (-0.5 * z.pow(2) - self.log_std).sum(-1) - 0.5 * self.act_dim * math.log(2 * math.pi)

    forward = log_prob

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mu = self.mean(obs)
        return mu + self.log_std.exp() * torch.randn(mu.shape, generator=generator)

    def mode(self, obs: Tensor) -> Tensor:
        return self.mean(obs)

    def entropy(self, obs: Tensor) -> Tensor:
        return self.distribution(obs).entropy()


def make_policy(observation_space: gym.Space, action_space: gym.Space, kind: str = "auto",
                hidden: Sequence[int] = (32,), activation: str = "tanh", log_std_init: float = 0.0) -> nn.Module:
    """The policy that fits a gymnasium environment's spaces.

    kind: "auto" (Categorical for Discrete actions, Gaussian for Box actions),
    "categorical" or "gaussian"; a mismatch is a ValueError.
    """
    check_choice("policy", kind, ("auto", "categorical", "gaussian"))
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise ValueError(f"observations must be a flat Box (a vector); got {observation_space}")
    obs_dim = observation_space.shape[0]
    if isinstance(action_space, gym.spaces.Discrete):
        if kind == "gaussian":
            raise ValueError(f"policy='gaussian' needs continuous (Box) actions; this environment's actions are {action_space}")
        return CategoricalPolicy(obs_dim, int(action_space.n), hidden, activation)
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        if kind == "categorical":
            raise ValueError(f"policy='categorical' needs discrete actions; this environment's actions are "
                             f"continuous {action_space}: use policy='gaussian' or 'auto'")
        return GaussianPolicy(obs_dim, action_space.shape[0], hidden, activation, log_std_init)
    raise ValueError(f"unsupported action space {action_space}: use Discrete or a flat Box")
