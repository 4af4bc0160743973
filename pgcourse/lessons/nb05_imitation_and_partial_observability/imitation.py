"""Behaviour cloning (maximum likelihood on expert data) beside the policy gradient.

Both minimise the same pseudo-loss −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}:
behaviour cloning with w = 1 on an expert's trajectories, the policy gradient
with w = R(τ_i) (or Q̂_{i,t}) on the learner's own trajectories.
Taught in notebooks/05_imitation_and_partial_observability.ipynb.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from pgcourse.batch import Batch, make_vector_env, rollout
from pgcourse.estimators import pg_pseudo_loss
from pgcourse.policies import make_policy
from pgcourse.seeds.stack import PolicyStack, StackedOptimizer, UniformStream
from pgcourse.config import TrainConfig
from pgcourse.runs import single_thread
from pgcourse.reinforce import train
from pgcourse.seeds import train_seeds

__all__ = ["bc_loss", "Curve", "curve_array", "fresh_policy", "sample_seeds", "behaviour_cloning",
           "behaviour_cloning_seeds", "policy_gradient_curve", "policy_gradient_curves", "expert_batches",
           "imitation_vs_pg", "log_likelihood_change"]


def bc_loss(logp: Tensor, mask: Tensor | None = None) -> Tensor:
    """L_BC(θ) = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) = pg_pseudo_loss(logp, 1, mask).

    The negative log-likelihood of the expert's actions, per trajectory. logp, mask: (N, T).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    return pg_pseudo_loss(logp, torch.ones_like(logp), mask)


@dataclass
class Curve:
    """Mean return ± standard error after 0, 1, …, steps gradient steps (one run, one seed)."""

    steps: np.ndarray
    mean_return: np.ndarray
    stderr_return: np.ndarray
    env_steps: np.ndarray
    """Environment steps used for learning so far (the expert's data counts once, up front)."""


def curve_array(curves, y: str = "mean_return", length: int | None = None) -> np.ndarray:
    """(K, length) array of one Curve column per seed; a run that ended early keeps its last value."""
    length = max(len(c.steps) for c in curves) if length is None else int(length)
    out = np.empty((len(curves), length))
    for k, curve in enumerate(curves):
        col = np.asarray(getattr(curve, y), dtype=float)[:length]
        out[k, :len(col)] = col
        out[k, len(col):] = col[-1]
    return out


def _mean_stderr(rets: Tensor) -> tuple[float, float]:
    n = len(rets)
    return float(rets.mean()), float(rets.std() / math.sqrt(n)) if n > 1 else 0.0


def fresh_policy(env_id: str = "CartPole-v1", seed: int = 0, hidden=(64,)) -> nn.Module:
    """An untrained policy for env_id, initialised from ``seed`` exactly as ``train(TrainConfig(seed=seed))`` starts."""
    envs = make_vector_env(env_id, 1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return make_policy(envs.single_observation_space, envs.single_action_space, "auto", hidden)
    finally:
        envs.close()


def sample_seeds(env, policy: PolicyStack, seeds, n_traj: int) -> list[Batch]:
    """N trajectories of each copy k of ``policy``, block k of one vector env reset with seeds[k].

    env: an env id or a vector env of len(seeds)·n_traj copies. Copy k's actions draw their noise
    from a generator seeded with seeds[k], so block k is what ``sample_batch(env_id, policy_k,
    n_traj, seed=seeds[k])`` samples (up to float rounding) whatever the other blocks are.
    """
    seeds = [int(s) for s in seeds]
    own_env = isinstance(env, str)
    envs = make_vector_env(env, len(seeds) * n_traj) if own_env else env
    try:
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        if policy.discrete:
            generators = [UniformStream(g) for g in generators]
        views = {}

        def act(obs, blocks):
            key = tuple(blocks.tolist())
            if key not in views:
                views[key] = policy.detached(torch.tensor(key))
            return views[key].sample(obs, [generators[b] for b in key])

        return rollout(envs, act, seeds, n_traj)
    finally:
        if own_env:
            envs.close()


def _pad(tensors, length: int) -> Tensor:
    """Stack (N, T_k, ...) tensors into (K, N, length, ...), padding time with zeros."""
    return torch.stack([nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, length - t.shape[1])) for t in tensors])


def behaviour_cloning(expert_data: Batch, env_id: str = "CartPole-v1", steps: int = 20, lr: float = 0.04,
                      seed: int = 0, hidden=(64,), n_eval: int = 4, optimizer: str = "adam"
                      ) -> tuple[nn.Module, Curve]:
    """θ ← θ − α ∇_θ L_BC(θ) on the expert's batch, ``steps`` full-batch steps from a fresh policy.

    expert_data: a Batch of expert trajectories (obs (N, T, d), act (N, T), mask (N, T)).
    After each step the policy is evaluated on ``n_eval`` fresh trajectories (seeded, sampled,
    not greedy, like the policy gradient's batches). Returns the policy and its Curve
    (steps + 1 points: before the first step and after each step). The one-seed case of
    ``behaviour_cloning_seeds``. Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    policies, curves = behaviour_cloning_seeds([expert_data], [seed], env_id, steps, lr, hidden, n_eval, optimizer)
    return policies[0], curves[0]


def behaviour_cloning_seeds(expert_data, seeds, env_id: str = "CartPole-v1", steps: int = 20, lr: float = 0.04,
                            hidden=(64,), n_eval: int = 4, optimizer: str = "adam"
                            ) -> tuple[list[nn.Module], list[Curve]]:
    """Behaviour cloning for K seeds at once: fresh policy k (initialised from seeds[k]) fits expert_data[k].

    expert_data: K Batches (one per seed; they may have different lengths T). The K policies are
    stacked (pgcourse/seeds/stack.py) and each takes ``steps`` full-batch steps of its own optimizer on
    L_BC = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) of its own data. The policy after each step is
    evaluated on ``n_eval`` fresh trajectories, seeded from seeds[k] and the step; all (step, seed)
    evaluations run at the end in one vector env (faster; the numbers are those of evaluating
    after each step). Returns K policies and K Curves. Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    seeds = [int(s) for s in seeds]
    if len(expert_data) != len(seeds):
        raise ValueError(f"need one expert batch per seed: {len(expert_data)} batches for {len(seeds)} seeds")
    k_seeds = len(seeds)
    with single_thread():  # tiny networks: one thread is faster and core-count independent (as in train)
        modules = [fresh_policy(env_id, seed, hidden) for seed in seeds]
        policy = PolicyStack(modules)
        opt = StackedOptimizer(policy.parameters(), optimizer, lr)
        everyone = torch.ones(k_seeds, dtype=torch.bool)
        length = max(b.horizon for b in expert_data)
        obs = _pad([b.obs for b in expert_data], length)
        act = _pad([b.act for b in expert_data], length)
        mask = _pad([b.mask for b in expert_data], length)
        n = torch.tensor([b.n_traj for b in expert_data], dtype=torch.float32)
        snapshots = [{name: p.detach().clone() for name, p in policy.params.items()}]  # θ after 0, 1, … steps
        for _ in range(steps):
            logp = policy.log_prob(obs, act)                                    # (K, N, T)
            loss = -(torch.where(mask, logp, torch.zeros(())).sum((1, 2)) / n)  # L_BC of each seed, (K,)
            opt.zero_grad()
            loss.sum().backward()                                               # seed k's gradient: its own loss
            opt.step(everyone)
            snapshots.append({name: p.detach().clone() for name, p in policy.params.items()})
        # evaluate every (step, seed) snapshot at once: block (k, j) is n_eval episodes seeded from seed j
        evaluated = copy.copy(policy)
        evaluated.params = {name: torch.cat([snap[name] for snap in snapshots]) for name in policy.params}
        eval_seeds = [np.random.SeedSequence([seed, 1]).generate_state(steps + 1) for seed in seeds]
        batches = sample_seeds(env_id, evaluated, [int(eval_seeds[j][k]) for k in range(steps + 1)
                                                   for j in range(k_seeds)], n_eval)
    stats = np.array([_mean_stderr(b.returns()) for b in batches]).reshape(steps + 1, k_seeds, 2)
    curves = [Curve(np.arange(steps + 1), stats[:, j, 0], stats[:, j, 1], np.full(steps + 1, b.n_steps))
              for j, b in enumerate(expert_data)]
    return [policy.module(j) for j in range(k_seeds)], curves


def _history_curve(history) -> Curve:
    env_steps = np.concatenate([[0], history.env_steps[:-1]])  # steps used for learning before point k
    return Curve(np.arange(len(history)), np.array(history.mean_return), np.array(history.stderr_return),
                 env_steps)


def policy_gradient_curve(env_id: str = "CartPole-v1", n_traj: int = 8, steps: int = 20, lr: float = 0.04,
                          seed: int = 0, **config) -> tuple[nn.Module, Curve]:
    """REINFORCE (pgcourse.train, the course defaults) for ``steps`` gradient steps, as a Curve.

    Point k is the mean return of the batch sampled after k gradient steps (steps + 1 points:
    one more batch is sampled after the last step, with no update).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    policy, history = train(TrainConfig(env_id=env_id, n_traj=n_traj, lr=lr, iterations=steps + 1, seed=seed,
                                        **config), progress=False)
    return policy, _history_curve(history)


def policy_gradient_curves(seeds, env_id: str = "CartPole-v1", n_traj: int = 8, steps: int = 20,
                           lr: float = 0.04, **config) -> list[Curve]:
    """``policy_gradient_curve`` for every seed, trained at once by ``pgcourse.seeds.train_seeds``.

    A seed whose loss became NaN (a very large lr) stops early: its Curve is shorter.
    """
    _, histories = train_seeds(TrainConfig(env_id=env_id, n_traj=n_traj, lr=lr, iterations=steps + 1, **config),
                               seeds=seeds, progress=False)
    return [_history_curve(h) for h in histories]


def expert_batches(expert: nn.Module, seeds, n_traj: int, env_id: str = "CartPole-v1") -> list[Batch]:
    """For each seed s, N trajectories of the one expert, sampled with seed 10 000 + s."""
    with single_thread():
        return sample_seeds(env_id, PolicyStack([expert] * len(seeds)), [10_000 + int(s) for s in seeds], n_traj)


def imitation_vs_pg(expert: nn.Module, n_traj: int = 4, lr: float = 0.04, steps: int = 15, seeds=range(10),
                    env_id: str = "CartPole-v1") -> dict:
    """Return after k gradient steps, per seed: behaviour cloning on N expert trajectories vs REINFORCE with N per step.

    For each seed s both methods start from the same fresh policy (initialised from s) and use Adam
    with the same lr; behaviour cloning fits N trajectories of the one expert sampled with seed
    10 000 + s. All seeds are trained at once. Returns {"seeds": list, "bc": [Curve per seed],
    "pg": [Curve per seed], "expert_return": (K,) mean return of each seed's expert data}.
    On one machine the same arguments give the same result.
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    seeds = [int(s) for s in seeds]
    data = expert_batches(expert, seeds, n_traj, env_id)
    _, bc = behaviour_cloning_seeds(data, seeds, env_id, steps=steps, lr=lr)
    pg = policy_gradient_curves(seeds, env_id, n_traj=n_traj, steps=steps, lr=lr)
    return {"seeds": seeds, "bc": bc, "pg": pg, "expert_return": np.array([float(b.returns().mean()) for b in data])}


def log_likelihood_change(policy: nn.Module, batch: Batch, weights: Tensor, lr: float = 1e-3) -> Tensor:
    """Δ_i = log p_θ'(τ_i) − log p_θ(τ_i) after one SGD step θ' = θ − α ∇L on pg_pseudo_loss(logp, weights).

    Only the policy's factors of p_θ(τ) change (the dynamics do not depend on θ), so
    Δ_i = Σ_t [log π_θ'(a_{i,t}|s_{i,t}) − log π_θ(a_{i,t}|s_{i,t})]. weights: (N, T) or (N,).
    The policy itself is not modified (a copy takes the step). Returns (N,).
    Taught in notebooks/05_imitation_and_partial_observability.ipynb.
    """
    weights = torch.as_tensor(weights)
    if weights.shape == batch.rew.shape[:1]:
        weights = weights[:, None].expand_as(batch.rew)
    learner = copy.deepcopy(policy)

    def log_p(p):
        return torch.where(batch.mask, p.log_prob(batch.obs, batch.act), torch.zeros(())).sum(1)

    before = log_p(learner).detach()
    loss = pg_pseudo_loss(learner.log_prob(batch.obs, batch.act), weights, batch.mask)
    params = [p for p in learner.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(lr * g)                                  # θ' = θ − α ∇L (one plain SGD step)
        return log_p(learner) - before
