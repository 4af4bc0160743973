"""Behaviour cloning (maximum likelihood on expert data) beside the policy gradient.

Both minimise the same pseudo-loss −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}:
behaviour cloning with w = 1 on an expert's trajectories, the policy gradient
with w = R(τ_i) (or Q̂_{i,t}) on the learner's own trajectories.
Taught in notebooks/05_imitation_and_partial_observability.ipynb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .batch import Batch, make_vector_env, sample_batch
from .estimators import pg_pseudo_loss
from .policies import make_policy
from .train import TrainConfig, make_optimizer, single_thread, train


def bc_loss(logp: Tensor, mask: Tensor | None = None) -> Tensor:
    """L_BC(θ) = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) = pg_pseudo_loss(logp, 1, mask).

    The negative log-likelihood of the expert's actions, per trajectory. logp, mask: (N, T).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    return pg_pseudo_loss(logp, torch.ones_like(logp), mask)


@dataclass
class Curve:
    """Mean return ± standard error after 0, 1, …, steps gradient steps."""

    steps: np.ndarray
    mean_return: np.ndarray
    stderr_return: np.ndarray
    env_steps: np.ndarray
    """Environment steps used for learning so far (the expert's data counts once, up front)."""


def _mean_stderr(rets: Tensor) -> tuple[float, float]:
    n = len(rets)
    return float(rets.mean()), float(rets.std() / math.sqrt(n)) if n > 1 else 0.0


def behaviour_cloning(expert_data: Batch, env_id: str = "CartPole-v1", steps: int = 20, lr: float = 0.04,
                      seed: int = 0, hidden=(64,), n_eval: int = 4, optimizer: str = "adam"
                      ) -> tuple[nn.Module, Curve]:
    """θ ← θ − α ∇_θ L_BC(θ) on the expert's batch, ``steps`` full-batch steps from a fresh policy.

    expert_data: a Batch of expert trajectories (obs (N, T, d), act (N, T), mask (N, T)).
    After each step the policy is evaluated on ``n_eval`` fresh trajectories (seeded, sampled,
    not greedy, like the policy gradient's batches). Returns the policy and its Curve
    (steps + 1 points: before the first step and after each step).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    with single_thread():  # tiny networks: one thread is faster and core-count independent (as in train)
        return _behaviour_cloning(expert_data, env_id, steps, lr, seed, hidden, n_eval, optimizer)


def _behaviour_cloning(expert_data, env_id, steps, lr, seed, hidden, n_eval, optimizer):
    envs = make_vector_env(env_id, n_eval)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the same initial weights as train(TrainConfig(seed=seed))
            policy = make_policy(envs.single_observation_space, envs.single_action_space, "auto", hidden)
        opt = make_optimizer(policy.parameters(), optimizer, lr)
        eval_seeds = np.random.SeedSequence([seed, 1]).generate_state(steps + 1)
        n_expert = expert_data.n_steps
        means, errs = [], []
        for k in range(steps + 1):
            rets = sample_batch(envs, policy, seed=int(eval_seeds[k])).returns()
            mean, err = _mean_stderr(rets)
            means.append(mean)
            errs.append(err)
            if k == steps:
                break
            loss = bc_loss(policy.log_prob(expert_data.obs, expert_data.act), expert_data.mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        envs.close()
    policy.eval()
    return policy, Curve(np.arange(steps + 1), np.array(means), np.array(errs), np.full(steps + 1, n_expert))


def policy_gradient_curve(env_id: str = "CartPole-v1", n_traj: int = 8, steps: int = 20, lr: float = 0.04,
                          seed: int = 0, **config) -> tuple[nn.Module, Curve]:
    """REINFORCE (pgcourse.train, the course defaults) for ``steps`` gradient steps, as a Curve.

    Point k is the mean return of the batch sampled after k gradient steps (steps + 1 points:
    one more batch is sampled after the last step, with no update).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    policy, history = train(TrainConfig(env_id=env_id, n_traj=n_traj, lr=lr, iterations=steps + 1, seed=seed,
                                        **config), progress=False)
    env_steps = np.concatenate([[0], history.env_steps[:-1]])  # steps used for learning before point k
    return policy, Curve(np.arange(len(history)), np.array(history.mean_return), np.array(history.stderr_return),
                         env_steps)


def imitation_vs_pg(expert: nn.Module, n_traj: int = 4, lr: float = 0.04, steps: int = 15, seed: int = 0,
                    env_id: str = "CartPole-v1") -> dict:
    """Return after k gradient steps: behaviour cloning on N expert trajectories vs REINFORCE with N per step.

    Both start from the same fresh policy (seed) and use Adam with the same lr.
    Returns {"bc": Curve, "pg": Curve, "expert_return": (mean, stderr) of the expert data}.
    Pure: the same arguments give the same result. Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    with single_thread():
        expert_data = sample_batch(env_id, expert, n_traj=n_traj, seed=10_000 + seed)
        _, bc = behaviour_cloning(expert_data, env_id, steps=steps, lr=lr, seed=seed)
        _, pg = policy_gradient_curve(env_id, n_traj=n_traj, steps=steps, lr=lr, seed=seed)
    return {"bc": bc, "pg": pg, "expert_return": _mean_stderr(expert_data.returns())}


def log_likelihood_change(policy: nn.Module, batch: Batch, weights: Tensor, lr: float = 1e-3) -> Tensor:
    """Δ_i = log p_θ'(τ_i) − log p_θ(τ_i) after one SGD step θ' = θ − α ∇L on pg_pseudo_loss(logp, weights).

    Only the policy's factors of p_θ(τ) change (the dynamics do not depend on θ), so
    Δ_i = Σ_t [log π_θ'(a_{i,t}|s_{i,t}) − log π_θ(a_{i,t}|s_{i,t})]. weights: (N, T) or (N,).
    The policy itself is not modified (a copy takes the step). Returns (N,).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    import copy

    weights = torch.as_tensor(weights)
    if weights.shape == batch.rew.shape[:1]:
        weights = weights[:, None].expand_as(batch.rew)
    learner = copy.deepcopy(policy)
    opt = torch.optim.SGD(learner.parameters(), lr=lr)

    def log_p(p):
        return torch.where(batch.mask, p.log_prob(batch.obs, batch.act), torch.zeros(())).sum(1)

    before = log_p(learner).detach()
    loss = pg_pseudo_loss(learner.log_prob(batch.obs, batch.act), weights, batch.mask)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        return log_p(learner) - before
