"""Causality and reward-to-go: the terms reward-to-go drops, and the variance it saves.

Σ_t ∇log π(a_t|s_t) R(τ) = Σ_t ∇log π(a_t|s_t) Q̂_t + Σ_t ∇log π(a_t|s_t) Σ_{t'<t} r_{t'}:
the total-return estimator is the reward-to-go estimator plus the "past-reward" terms,
which have mean exactly 0 (the action at t cannot change rewards already received) and
nonzero variance. Taught in notebooks/06_causality_reward_to_go.ipynb.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from pgcourse._validate import check_mask, check_positive_int
from pgcourse.batch import Batch, sample_batch
from pgcourse.estimators import compare_to_exact, gradient_samples
from pgcourse.returns import reward_to_go, total_return
from pgcourse.tabular import TabularMDP
from pgcourse.train import TrainConfig, single_thread, train_seeds

__all__ = ["past_rewards", "causality_samples", "cartpole_causality", "variance_by_horizon"]


def past_rewards(rew: Tensor, mask: Tensor | None = None) -> Tensor:
    """P_{i,t} = Σ_{t'<t} r_{i,t'} = R(τ_i) − Q̂_{i,t}   (the rewards received before step t; γ = 1).

    rew, mask: (N, T); returns (N, T), zero where mask is False.
    Example: rew [[1, 2, 3]] -> [[0, 1, 3]].
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    mask = check_mask(rew, mask)
    rew = torch.where(mask, rew, torch.zeros((), dtype=rew.dtype))
    past = rew.cumsum(-1) - rew
    return torch.where(mask, past, torch.zeros((), dtype=rew.dtype))


def causality_samples(policy: nn.Module, batch: Batch) -> dict[str, Tensor]:
    """Per-trajectory gradient samples (N, P) of the three pieces of Σ_t ∇log π_t R(τ):

    "total_return": Σ_t ∇log π(a_{i,t}|s_{i,t}) R(τ_i);
    "reward_to_go": Σ_t ∇log π(a_{i,t}|s_{i,t}) Q̂_{i,t};
    "dropped": Σ_t ∇log π(a_{i,t}|s_{i,t}) Σ_{t'<t} r_{i,t'} = total_return − reward_to_go.
    Uses pgcourse.gradient_samples (γ = 1, the notes' undiscounted sums).
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    rets = total_return(batch.rew, batch.mask)
    rtg = reward_to_go(batch.rew, batch.mask)
    with single_thread():
        total = gradient_samples(policy, batch, rets)
        causal = gradient_samples(policy, batch, rtg)
    return {"total_return": total, "reward_to_go": causal, "dropped": total - causal}


def cartpole_causality(seeds=range(20), iterations: int = 5, n_traj: int = 256, batch_seed: int = 1000) -> dict:
    """The causality measurement of notebook 06 on CartPole, once per training seed.

    ``train_seeds(TrainConfig(iterations=iterations), seeds)`` gives one policy per seed (a few steps,
    so that its episodes have mixed lengths); policy k then samples ``n_traj`` episodes with seed
    ``batch_seed + seeds[k]`` and ``causality_samples`` gives its three (N, P) gradient samples.
    Returns numpy arrays, one entry per seed: "seed", "mean_return" (of the sampled episodes),
    "total_return", "reward_to_go", "dropped" (tr Cov[ĝ_i] of each piece), "ratio"
    (total_return / reward_to_go), "dropped_max_abs_z" (the largest |z| of the dropped terms' mean
    against 0 over the P parameters), and the ints "n_traj" and "n_params".
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    seeds = [int(s) for s in seeds]
    n = check_positive_int("n_traj", n_traj)
    if n < 2:
        raise ValueError("n_traj must be ≥ 2 to estimate a variance")
    policies, _ = train_seeds(TrainConfig(iterations=iterations), seeds, progress=False)
    rows = []
    for seed, policy in zip(seeds, policies):
        batch = sample_batch("CartPole-v1", policy, n_traj=n, seed=batch_seed + seed)
        pieces = causality_samples(policy, batch)
        trace = {name: float(g.var(0).sum()) for name, g in pieces.items()}
        z = compare_to_exact(pieces["dropped"], torch.zeros(pieces["dropped"].shape[1])).max_abs_z
        rows.append({"seed": seed, "mean_return": float(batch.returns().mean()), **trace,
                     "ratio": trace["total_return"] / trace["reward_to_go"], "dropped_max_abs_z": float(z)})
    out = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    out["n_traj"], out["n_params"] = n, int(pieces["dropped"].shape[1])
    return out


def variance_by_horizon(n_traj: int = 256, horizon: int = 20, seed: int = 0, n_states: int = 5,
                        n_actions: int = 3, mdp_seed: int = 0) -> dict:
    """tr Cov[ĝ] of the N-trajectory estimate ĝ, with R(τ) and with Q̂_t, for every horizon h = 1 … T.

    One batch of N trajectories of length T is sampled from TabularMDP.random(n_states,
    n_actions, T, mdp_seed) under fixed random logits; its first h steps are a batch of the
    same MDP with horizon h. Returns a dict of numpy-ready lists indexed by h:
    "horizons", "var_total", "var_rtg" (tr Cov of one trajectory's sample / N, i.e. the
    variance of the estimate), "var_dropped", "ratio" = var_total / var_rtg, and at h = T
    "max_abs_z" {"total_return", "reward_to_go"} against the exact ∇J. Pure and seeded.
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    n = check_positive_int("n_traj", n_traj)
    if n < 2:
        raise ValueError("n_traj must be ≥ 2 to estimate a variance")
    horizon = check_positive_int("horizon", horizon)
    with single_thread():  # small tensors: one thread is faster, as in train()
        return _variance_by_horizon(n, horizon, seed, n_states, n_actions, mdp_seed)


def _variance_by_horizon(n, horizon, seed, n_states, n_actions, mdp_seed):
    mdp = TabularMDP.random(n_states, n_actions, horizon, seed=mdp_seed)
    logits = torch.randn(n_states, n_actions, generator=torch.Generator().manual_seed(mdp_seed + 1),
                         dtype=torch.float64)
    batch = mdp.sample(logits, n, seed=seed)
    rew = mdp.R[batch.obs, batch.act]                                     # (N, T) float64
    # per-step scores ∇θ log π(a_t|s_t) = (one-hot(a_t) − π(·|s_t)) in row s_t: (N, T, S·A)
    pi = torch.softmax(logits, -1)
    score = torch.zeros(n, horizon, n_states, n_actions, dtype=torch.float64)
    score[torch.arange(n)[:, None], torch.arange(horizon)[None, :], batch.obs] = -pi[batch.obs]
    score.view(n, horizon, -1).scatter_add_(2, (batch.obs * n_actions + batch.act)[..., None],
                                            torch.ones(n, horizon, 1, dtype=torch.float64))
    score = score.reshape(n, horizon, -1)
    # horizon h = first h steps: R_h = Σ_{t<h} r_t, G_h = Σ_{t<h} score_t, D_h = Σ_{t<h} score_t Σ_{t'<t} r_t'
    rets_h = rew.cumsum(1)                                                # (N, T)
    total = score.cumsum(1) * rets_h[..., None]                          # (N, T, P): ĝ with R(τ), horizon h
    dropped = (score * past_rewards(rew)[..., None]).cumsum(1)           # the past-reward terms
    causal = total - dropped                                              # ĝ with Q̂_t, horizon h
    var = {k: (x.var(0, unbiased=True).sum(-1) / n).tolist()
           for k, x in (("var_total", total), ("var_rtg", causal), ("var_dropped", dropped))}
    out = {"horizons": list(range(1, horizon + 1)), **var,
           "ratio": [a / b if b > 0 else float("nan") for a, b in zip(var["var_total"], var["var_rtg"])]}
    total, causal = total[:, -1], causal[:, -1]
    exact = mdp.gradient(logits)
    out["max_abs_z"] = {"total_return": compare_to_exact(total, exact).max_abs_z,
                        "reward_to_go": compare_to_exact(causal, exact).max_abs_z}
    out["n_traj"], out["horizon"] = n, horizon
    return out
