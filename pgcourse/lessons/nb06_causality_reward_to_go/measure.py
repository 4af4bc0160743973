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
from torch.func import functional_call, grad, vmap

from pgcourse._validate import check_mask, check_positive_int
from pgcourse.batch import Batch, sample_batch
from pgcourse.estimators import compare_to_exact, gradient_samples
from pgcourse.returns import reward_to_go, total_return
from pgcourse.tabular import (TabularMDP, enumerate_trajectories, tabular_gradient_samples,
                              trajectory_log_prob)
from pgcourse.config import TrainConfig
from pgcourse.runs import single_thread
from pgcourse.seeds import over_seed_groups, train_seeds

__all__ = ["past_rewards", "causality_samples", "step_scores", "projection_z", "cartpole_causality",
           "exact_causality_variances", "variance_by_horizon", "negative_cross_example"]


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


def step_scores(policy: nn.Module, batch: Batch) -> Tensor:
    """g_{i,t} = ∇θ log π_θ(a_{i,t}|s_{i,t}) (step t's score) for every real step, (M, P) float64, M = mask.sum().

    Rows in the order of ``batch.obs[batch.mask]`` (trajectory by trajectory, in time order);
    P = all parameters flattened in ``policy.parameters()`` order, as in gradient_samples.
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    mask = check_mask(batch.rew, batch.mask)
    params = {name: p.detach() for name, p in policy.named_parameters()}
    buffers = {name: b.detach() for name, b in policy.named_buffers()}
    obs, act = batch.obs[mask], batch.act[mask]

    def logp(params, o, a):
        return functional_call(policy, (params, buffers), (o[None], a[None])).sum()

    with single_thread():
        g = vmap(grad(logp), in_dims=(None, 0, 0))(params, obs, act)
    return torch.cat([g[name].reshape(obs.shape[0], -1) for name in params], 1).double()


def projection_z(samples: Tensor, directions: Tensor, exact=None) -> Tensor:
    """z_j = u_j·(ḡ − ∇J) / (std_i(u_j·ĝ_i) / √N) for fixed unit directions u_j (one z per direction).

    samples: (N, P); directions: (K, P), chosen before the samples are drawn (not from them);
    exact: (P,) or None (= 0). Each z_j is the z-score of one scalar mean, so for an unbiased
    estimator and N large it is close to standard normal whatever P is (the central limit theorem
    for the N independent numbers u_j·ĝ_i). Returns (K,) float64.
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    x = samples.detach().to(torch.float64)
    u = directions.detach().to(torch.float64)
    if x.dim() != 2 or u.dim() != 2 or u.shape[1] != x.shape[1]:
        raise ValueError(f"samples must be (N, P) and directions (K, P) with the same P, got "
                         f"{tuple(x.shape)} and {tuple(u.shape)}")
    target = torch.zeros(u.shape[0], dtype=torch.float64) if exact is None else \
        u @ torch.as_tensor(exact, dtype=torch.float64).reshape(-1)
    return compare_to_exact(x @ u.T, target).z                            # the z-scores of the K means u_j·ĝ


def random_directions(k: int, p: int, seed: int) -> Tensor:
    """K unit vectors in R^P, uniformly distributed on the sphere (normalised Gaussians), from ``seed``."""
    u = torch.randn(k, p, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
    return u / u.norm(dim=1, keepdim=True)


def cartpole_causality(seeds=range(20), iterations: int = 5, n_traj: int = 256, batch_seed: int = 1000,
                       n_directions: int = 3, direction_seed: int = 6) -> dict:
    """The causality measurement of notebook 06 on CartPole, once per training seed.

    ``train_seeds(TrainConfig(iterations=iterations), seeds)`` gives one policy per seed (a few steps,
    so that its episodes have mixed lengths); policy k then samples ``n_traj`` episodes with seed
    ``batch_seed + seeds[k]`` and ``causality_samples`` gives its three (N, P) gradient samples.
    Returns numpy arrays, one entry per seed: "seed", "mean_return" (of the sampled episodes),
    "total_return", "reward_to_go", "dropped" (tr Cov[ĝ_i] of each piece), "ratio"
    (total_return / reward_to_go), "dropped_z" (seeds, K): ``projection_z`` of the dropped terms
    against 0 along K fixed random unit directions (``direction_seed``, the same for every seed);
    and, from the per-step scores g_{i,t} (``step_scores``), the pieces of the variance ratio:
    "uniform_ratio" = Σ_{i,t} R_i² / Σ_{i,t} Q̂_{i,t}² (the ratio if every score had the same size
    and the steps were uncorrelated), "diagonal_ratio" = Σ_{i,t} ‖g_{i,t}‖² R_i² / Σ_{i,t} ‖g_{i,t}‖² Q̂_{i,t}²
    (the same with the measured score sizes), "score_sq_first" and "score_sq_last" (the mean ‖g_{i,t}‖²
    over the first and the last 10 steps of the episodes). Also the ints "n_traj" and "n_params".
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    seeds = [int(s) for s in seeds]
    n = check_positive_int("n_traj", n_traj)
    if n < 2:
        raise ValueError("n_traj must be ≥ 2 to estimate a variance")
    k = check_positive_int("n_directions", n_directions)
    policies, _ = train_seeds(TrainConfig(iterations=iterations), seeds, progress=False)

    def measure(seed, policy) -> dict:
        batch = sample_batch("CartPole-v1", policy, n_traj=n, seed=batch_seed + seed)
        pieces = causality_samples(policy, batch)
        trace = {name: float(g.var(0).sum()) for name, g in pieces.items()}
        directions = random_directions(k, pieces["dropped"].shape[1], direction_seed)   # the same for every seed
        z = projection_z(pieces["dropped"], directions)
        mask = batch.mask
        rew = batch.rew.double()
        s2 = step_scores(policy, batch).pow(2).sum(1)                     # ‖g_{i,t}‖², real steps
        rets = total_return(rew, mask)[:, None].expand_as(rew)[mask]      # R_i at each real step
        rtg = reward_to_go(rew, mask)[mask]                               # Q̂_{i,t}
        t = torch.arange(rew.shape[1])[None, :].expand_as(rew)
        to_end = (mask.sum(1, keepdim=True) - 1 - t)[mask]                # steps left after t
        return {"seed": seed, "mean_return": float(batch.returns().mean()), **trace,
                "ratio": trace["total_return"] / trace["reward_to_go"], "dropped_z": z.numpy(),
                "uniform_ratio": float((rets ** 2).sum() / (rtg ** 2).sum()),
                "diagonal_ratio": float((s2 * rets ** 2).sum() / (s2 * rtg ** 2).sum()),
                "score_sq_first": float(s2[t[mask] < 10].mean()),
                "score_sq_last": float(s2[to_end < 10].mean())}

    # one seed at a time; the seeds split over the cores (each seed's measurement is the same alone)
    by_policy = dict(zip(seeds, policies))
    rows = [row for group in over_seed_groups(lambda group: [measure(s, by_policy[s]) for s in group], seeds)
            for row in group]
    out = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    out["n_traj"], out["n_params"] = n, int(sum(p.numel() for p in policies[0].parameters()))
    return out


def exact_causality_variances(mdp: TabularMDP, logits) -> dict:
    """tr Cov of one trajectory's sample with R(τ), with Q̂_t and of the dropped terms D, and the cross term,
    exactly, by summing over every trajectory of a small TabularMDP.

    tr Cov[ĝ^R] = tr Cov[ĝ^Q̂] + tr Cov[D] + 2·cross, cross = Σ_k Cov(ĝ^Q̂_k, D_k) = E[ĝ^Q̂·D] (E[D] = 0).
    Returns floats {"total_return", "reward_to_go", "dropped", "cross"} and "n_trajectories".
    Refuses (ValueError) an MDP with more than tabular.MAX_ENUMERATED trajectories.
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    logits = mdp.check_logits(logits).detach().to(torch.float64)
    obs, act = enumerate_trajectories(mdp)
    prob = trajectory_log_prob(mdp, logits, obs, act).exp()              # (K,)
    rew = mdp.R[obs, act]                                                 # (K, T)
    rtg, past = reward_to_go(rew), past_rewards(rew)
    causal = tabular_gradient_samples(logits, obs, act, rtg)             # ĝ^Q̂(τ), (K, P)
    dropped = tabular_gradient_samples(logits, obs, act, past)           # D(τ)
    total = causal + dropped                                              # ĝ^R(τ)

    def cov(x, y):
        return float(prob @ (x * y).sum(1) - (prob @ x) @ (prob @ y))

    return {"total_return": cov(total, total), "reward_to_go": cov(causal, causal),
            "dropped": cov(dropped, dropped), "cross": cov(causal, dropped), "n_trajectories": int(len(prob))}


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


def negative_cross_example() -> tuple[TabularMDP, Tensor]:
    """(mdp, logits) whose cross term Σ_k Cov(ĝ^Q̂_k, D_k) is negative: one answer to notebook 06's exercise 3.

    Two steps, state 0 then state 1 (the steps' scores sit in different rows of θ, so g_1·g_2 = 0 and
    cross = E[r_1]·E[‖g_2‖² r_2]); a sure reward +1 first, then 0 or −2 under the uniform policy. The
    notebook's experiment uses it while the reader's own answer is not written yet.
    Taught in notebooks/06_causality_reward_to_go.ipynb.
    """
    P = torch.zeros(2, 2, 2, dtype=torch.float64)
    P[:, :, 1] = 1.0                                   # every step leads to state 1
    R = torch.tensor([[1.0, 1.0], [0.0, -2.0]], dtype=torch.float64)
    mdp = TabularMDP(P, R, p0=torch.tensor([1.0, 0.0], dtype=torch.float64), horizon=2)
    return mdp, torch.zeros(2, 2, dtype=torch.float64)  # the uniform policy
