"""Measurements behind notebook 09: gradient noise against batch size, learning-rate grids, and
training with an env-step budget (for panels that must stop quickly whatever the setting).

Every function is seeded: the same arguments give the same numbers (on the same machine and
number of torch threads). Taught in notebooks/09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ._validate import check_positive_int
from .batch import make_vector_env, sample_batch
from .estimators import gradient_samples
from .train import History, TrainConfig, make_optimizer, train

# The panels' budget: stop at the target, after PANEL_ITERATIONS gradient steps or after
# PANEL_ENV_STEPS environment steps, whichever comes first (≤ 5 s on 2 cores for any setting).
PANEL_TARGET = 475.0
PANEL_ITERATIONS = 150
PANEL_ENV_STEPS = 75_000


def train_within(config: TrainConfig, max_env_steps: int | None = None, progress: bool | None = False):
    """train(config), stopped after the first batch that brings the env steps to ≥ max_env_steps.

    Returns ``(policy, history)`` like ``train`` (it is ``train`` with ``config.max_env_steps``). A run
    stopped by the budget is exactly ``train(config, iterations=len(history))`` (same policy, same
    History except wall_s): the budget is checked after the update. history.solved says whether
    config.target_return was reached first. max_env_steps None: no budget.
    Taught in notebooks/09_implementing_policy_gradients.ipynb and 10_capstone.ipynb.
    """
    if max_env_steps is not None:
        max_env_steps = check_positive_int("max_env_steps", max_env_steps)
    return train(replace(config, max_env_steps=max_env_steps), progress=progress)


def panel_config(n_traj: int, lr: float, optimizer: str, seed: int = 0, **fields) -> TrainConfig:
    """TrainConfig() defaults with the panel's N, α, optimizer, target 475 and the iteration cap."""
    return TrainConfig(n_traj=int(n_traj), lr=float(lr), optimizer=optimizer, seed=int(seed),
                       target_return=PANEL_TARGET, iterations=PANEL_ITERATIONS, **fields)


@dataclass
class Run:
    """One training run of a panel: the config it used and its History."""

    config: TrainConfig
    history: History


def train_panel(config: TrainConfig, progress: bool | None = False) -> Run:
    """The panels' training run: train_within(config, PANEL_ENV_STEPS), returned as a Run.

    A learning rate that makes training diverge (NaN loss) raises ValueError, which the Panel
    shows in its status line.
    """
    return Run(config, train_within(config, PANEL_ENV_STEPS, progress=progress)[1])


def policy_after(config: TrainConfig, iterations: int) -> nn.Module:
    """The policy after ``iterations`` gradient steps of train(config) (a fixed policy to measure at)."""
    policy, _ = train(replace(config, iterations=check_positive_int("iterations", iterations),
                              target_return=None), progress=False)
    return policy


def one_step_change(policy: nn.Module, loss_fn, optimizer: str, lr: float) -> float:
    """‖θ' − θ‖₂ after one optimizer step on loss_fn(copy of policy), θ the policy's parameters.

    The policy itself is not changed. With SGD the step is α‖∇L‖, so it scales with the loss; with
    Adam the first step is about α per parameter whatever the loss's scale.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    clone = copy.deepcopy(policy)
    before = torch.cat([p.detach().reshape(-1) for p in clone.parameters()]).clone()
    opt = make_optimizer(clone.parameters(), optimizer, lr)
    opt.zero_grad()
    loss_fn(clone).backward()
    opt.step()
    after = torch.cat([p.detach().reshape(-1) for p in clone.parameters()])
    return float(torch.linalg.vector_norm(after - before))


@dataclass
class GradientNoise:
    """ĝ_N = (1/N) Σ_{i≤N} ĝ_i against a reference gradient g_ref from n_ref other trajectories.

    batch_sizes: (K,); for each N, the pool of n_pool trajectories is cut into n_pool // N
    disjoint batches, giving that many estimates ĝ_N:
    cos_mean, cos_std: mean and standard deviation over those batches of cos(ĝ_N, g_ref);
    sq_err: mean of ‖ĝ_N − g_ref‖²; predicted_sq_err: tr Cov[ĝ_i] / N + tr Cov / n_ref (the
    1/N law plus the reference's own noise); ref_sq_norm: ‖g_ref‖²; tr_cov: tr Cov[ĝ_i] of one
    trajectory's sample; mean_length: the trajectories' mean length.
    """

    batch_sizes: np.ndarray
    cos_mean: np.ndarray
    cos_std: np.ndarray
    sq_err: np.ndarray
    predicted_sq_err: np.ndarray
    ref_sq_norm: float
    tr_cov: float
    n_pool: int
    n_ref: int
    mean_length: float
    mean_return: float

    def rows(self):
        return [{"N": int(n), "cos_mean": float(c), "cos_std": float(s), "sq_err": float(e),
                 "predicted_sq_err": float(p)}
                for n, c, s, e, p in zip(self.batch_sizes, self.cos_mean, self.cos_std, self.sq_err,
                                         self.predicted_sq_err)]


def reward_to_go_samples(policy: nn.Module, env_id: str, n_traj: int, gamma: float, seed: int):
    """ĝ_i = Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) Q̂_{i,t} for n_traj fresh trajectories: (N, P) float64, and the batch."""
    envs = make_vector_env(env_id, n_traj)
    try:
        batch = sample_batch(envs, policy, seed=seed)
    finally:
        envs.close()
    samples = gradient_samples(policy, batch, batch.reward_to_go(gamma), chunk_size=512)
    return samples.double(), batch


def gradient_noise(policy: nn.Module, env_id: str = "CartPole-v1",
                   batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256),
                   n_pool: int = 2048, n_ref: int = 4096, gamma: float = 0.995, seed: int = 0) -> GradientNoise:
    """cos(ĝ_N, g_ref) and ‖ĝ_N − g_ref‖² for each batch size N, at a fixed policy.

    ĝ_N = (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) Q̂_{i,t} (reward-to-go weights, no baseline,
    so that the trajectories' samples are independent). The n_pool trajectories (seed) and the
    n_ref reference trajectories (seed + 1) are disjoint. Returns a GradientNoise.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    sizes = np.array([check_positive_int("N", n) for n in batch_sizes])
    if sizes.max() > n_pool:
        raise ValueError(f"the largest batch size {sizes.max()} exceeds n_pool = {n_pool}")
    pool, batch = reward_to_go_samples(policy, env_id, n_pool, gamma, seed)
    ref, _ = reward_to_go_samples(policy, env_id, n_ref, gamma, seed + 1)
    g_ref = ref.mean(0)
    tr_cov = float(pool.var(0, unbiased=True).sum())
    tr_cov_ref = float(ref.var(0, unbiased=True).sum())
    cos_mean, cos_std, sq_err = [], [], []
    for n in sizes:
        m = n_pool // n
        estimates = pool[: m * n].reshape(m, n, -1).mean(1)                 # (m, P): m disjoint batches
        cos = torch.nn.functional.cosine_similarity(estimates, g_ref[None, :], dim=1)
        cos_mean.append(float(cos.mean()))
        cos_std.append(float(cos.std()) if m > 1 else 0.0)
        sq_err.append(float((estimates - g_ref).pow(2).sum(1).mean()))
    rets = batch.returns()
    return GradientNoise(batch_sizes=sizes, cos_mean=np.array(cos_mean), cos_std=np.array(cos_std),
                         sq_err=np.array(sq_err), predicted_sq_err=tr_cov / sizes + tr_cov_ref / n_ref,
                         ref_sq_norm=float(g_ref.pow(2).sum()), tr_cov=tr_cov, n_pool=n_pool, n_ref=n_ref,
                         mean_length=float(batch.lengths.double().mean()), mean_return=float(rets.mean()))


def learning_rate_grid(lrs: Sequence[float], optimizers: Sequence[str] = ("sgd", "adam"),
                       seeds: Sequence[int] = (0, 1), iterations: int = 25, target_return: float = 475.0,
                       **fields) -> list[dict]:
    """One training run per (optimizer, α, seed) with a fixed budget of gradient steps.

    Each run is train(TrainConfig(optimizer=…, lr=α, seed=…, iterations=iterations,
    target_return=target_return, **fields)). Returns rows {optimizer, lr, seed, solved,
    env_steps, iterations, final_return, diverged}; a run whose loss became NaN is reported with
    diverged=True and final_return NaN.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    rows = []
    for optimizer in optimizers:
        for lr in lrs:
            for seed in seeds:
                config = TrainConfig(optimizer=optimizer, lr=float(lr), seed=int(seed), iterations=iterations,
                                     target_return=target_return, **fields)
                try:
                    _, history = train(config, progress=False)
                except ValueError:
                    rows.append({"optimizer": optimizer, "lr": float(lr), "seed": int(seed), "solved": False,
                                 "env_steps": math.nan, "iterations": math.nan, "final_return": math.nan,
                                 "diverged": True})
                    continue
                rows.append({"optimizer": optimizer, "lr": float(lr), "seed": int(seed),
                             "solved": bool(history.solved), "env_steps": int(history.env_steps[-1]),
                             "iterations": len(history), "final_return": float(history.final_return),
                             "diverged": False})
    return rows

