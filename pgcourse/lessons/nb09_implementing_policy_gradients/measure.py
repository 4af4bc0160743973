"""Measurements behind notebook 09, each over many seeds: the pseudo-loss against the return,
gradient noise against batch size, learning-rate grids, and training with an env-step budget
(for panels that must stop quickly whatever the setting).

Every function is seeded: the same arguments give the same numbers on the same machine (with one
torch thread); on another CPU training runs drift apart, which is why every claim is a statistic
over seeds. Taught in notebooks/09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from pgcourse._validate import check_positive_int, check_seed
from pgcourse.batch import make_vector_env, sample_batch
from pgcourse.estimators import gradient_samples
from pgcourse.stats import Censored, format_median_iqr, median_iqr, steps_to_target
from pgcourse.config import TrainConfig
from pgcourse.runs import make_optimizer, single_thread
from pgcourse.seeds import over_seed_groups, train_seeds

__all__ = ["PANEL_TARGET", "PANEL_SEEDS", "SEEDS_PANEL_ITERATIONS",
           "SEEDS_PANEL_ENV_STEPS", "SeedRuns",
           "seeds_panel_config", "train_seeds_panel", "policies_after", "policy_after", "loss_return_correlations",
           "gradient_norm_trend", "one_step_change", "steps_on_loss", "scaled_weights_factors", "GradientNoise", "reward_to_go_samples", "gradient_noise",
           "gradient_noise_seeds", "GridCell", "learning_rate_grid"]

PANEL_TARGET = 475.0

# Notebook 09's panel trains PANEL_SEEDS at once (train_seeds_panel), each stopped at the target,
# after SEEDS_PANEL_ITERATIONS gradient steps or after SEEDS_PANEL_ENV_STEPS environment steps: at the
# default N, α and optimizer a press takes about 2.5 CPU-seconds here (the defaults need about 25k env steps to
# reach 475, so the panel compares the return reached on a fixed budget of samples).
PANEL_SEEDS = (0, 1, 2, 3, 4)
SEEDS_PANEL_ITERATIONS = 60
SEEDS_PANEL_ENV_STEPS = 15_000


class _SeedCounts:
    """Counts over ``self.histories`` (one History per seed of a train_seeds call)."""

    @property
    def solved(self) -> int:
        return sum(bool(h.solved) for h in self.histories)

    @property
    def diverged(self) -> int:
        return sum(bool(h.diverged) for h in self.histories)

    @property
    def final_returns(self) -> np.ndarray:
        """Each seed's mean return of its last max(16, N) episodes (a diverged seed: when it stopped)."""
        return np.array([h.final_return for h in self.histories], dtype=float)


@dataclass
class SeedRuns(_SeedCounts):
    """The runs of one panel setting: ``histories[k]`` is seed ``seeds[k]`` of ``config`` (train_seeds)."""

    config: TrainConfig
    seeds: tuple
    histories: list

    @property
    def budget(self) -> int:
        return int(self.config.max_env_steps)

    @property
    def steps(self) -> Censored:
        """Env steps to the target per seed, unsolved seeds censored at the env-step budget."""
        return steps_to_target(self.histories, self.budget)

    def describe(self) -> str:
        """'return 364 (IQR 234–381), 475 on 0/5' (median over the seeds when they stopped)."""
        med, q25, q75 = median_iqr(self.final_returns)
        text = f"return {med:.0f} (IQR {q25:.0f}–{q75:.0f}), 475 on {self.solved}/{len(self.histories)}"
        return text + (f", {self.diverged} diverged" if self.diverged else "")


def seeds_panel_config(n_traj: int, lr: float, optimizer: str, **fields) -> TrainConfig:
    """TrainConfig() defaults with the panel's N, α, optimizer, target 475 and notebook 09's panel budget."""
    return TrainConfig(n_traj=int(n_traj), lr=float(lr), optimizer=optimizer, target_return=PANEL_TARGET,
                       iterations=SEEDS_PANEL_ITERATIONS, max_env_steps=SEEDS_PANEL_ENV_STEPS, **fields)


def train_seeds_panel(config: TrainConfig, seeds=PANEL_SEEDS, progress: bool | None = False) -> SeedRuns:
    """Notebook 09's panel run: train_seeds(config, seeds), all seeds at once, as SeedRuns.

    config must carry the budget (max_env_steps). A seed whose loss becomes NaN stops with
    history.diverged set (counted in SeedRuns.describe); the others go on.
    """
    if config.max_env_steps is None:
        raise ValueError("a panel run needs an env-step budget: set config.max_env_steps")
    seeds = tuple(check_seed(s) for s in seeds)
    _, histories = train_seeds(config, seeds, progress=progress)
    return SeedRuns(config, seeds, histories)


def policies_after(config: TrainConfig, iterations: int, seeds) -> list[nn.Module]:
    """The policies after ``iterations`` gradient steps of config, one per seed (train_seeds, no target)."""
    config = replace(config, iterations=check_positive_int("iterations", iterations), target_return=None)
    policies, histories = train_seeds(config, list(seeds), progress=False)
    for h in histories:
        if h.diverged:
            raise ValueError(h.diverged)
    return policies


def policy_after(config: TrainConfig, iterations: int) -> nn.Module:
    """The policy after ``iterations`` gradient steps of train(config) (a fixed policy to measure at)."""
    return policies_after(config, iterations, [config.seed])[0]


def loss_return_correlations(histories) -> np.ndarray:
    """Per run, the correlation over iterations between the pseudo-loss and the batch's mean return.

    NaN for a run with fewer than 3 iterations or a constant loss or return (no correlation defined).
    """
    out = []
    for h in histories:
        loss, ret = np.asarray(h.loss, dtype=float), np.asarray(h.mean_return, dtype=float)
        ok = len(loss) >= 3 and np.isfinite(loss).all() and loss.std() > 0 and ret.std() > 0
        out.append(float(np.corrcoef(loss, ret)[0, 1]) if ok else math.nan)
    return np.array(out)


def gradient_norm_trend(histories) -> dict:
    """How ‖∇ pseudo-loss‖ varies within each run, over the batches that took a step (‖∇‖ > 0).

    Returns arrays over runs: ``span`` max ‖∇‖ / min ‖∇‖, and ``rank_corr`` the Spearman rank
    correlation between ‖∇‖ and the batch's mean return (> 0: larger gradients on longer episodes).
    """
    span, rank_corr = [], []
    for h in histories:
        g, r = np.asarray(h.grad_norm, dtype=float), np.asarray(h.mean_return, dtype=float)
        keep = np.isfinite(g) & (g > 0)
        g, r = g[keep], r[keep]
        span.append(float(g.max() / g.min()) if len(g) else math.nan)
        if len(g) >= 3 and g.std() > 0 and r.std() > 0:
            rg, rr = np.argsort(np.argsort(g)), np.argsort(np.argsort(r))   # ranks (ties broken by order)
            rank_corr.append(float(np.corrcoef(rg, rr)[0, 1]))
        else:
            rank_corr.append(math.nan)
    return {"span": np.array(span), "rank_corr": np.array(rank_corr)}


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


def steps_on_loss(policy: nn.Module, loss_fn, optimizer: str, lr: float, steps: int = 1,
                  eps: float = 1e-8) -> torch.Tensor:
    """θ after ``steps`` optimizer steps on loss_fn(copy of policy), flattened; the policy itself is not changed.

    loss_fn(policy) -> scalar, re-evaluated at each step (same batch, new θ). optimizer: "sgd" or "adam";
    eps: Adam's ε in θ ← θ − α m̂/(√v̂ + ε) (PyTorch's default 1e-8; 0 makes the step exactly invariant to
    a positive factor in the loss). Deterministic: the same arguments give the same θ on the same machine.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    steps = check_positive_int("steps", steps)
    if not eps >= 0:
        raise ValueError(f"eps must be ≥ 0, got {eps!r}")
    clone = copy.deepcopy(policy)
    if optimizer == "adam":
        opt = torch.optim.Adam(clone.parameters(), lr=lr, eps=eps)
    else:
        opt = make_optimizer(clone.parameters(), optimizer, lr)  # validates the name
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(clone).backward()
        opt.step()
    return torch.cat([q.detach().reshape(-1) for q in clone.parameters()])


def scaled_weights_factors(policy: nn.Module, loss_of_weights, c: float, lr: float = 0.01,
                           adam_steps: int = 3) -> dict:
    """What multiplying every weight by c > 0 does, measured: each value is (with c·w) / (with w).

    loss_of_weights(policy, scale) -> the pseudo-loss with weights scale · w (a scalar).
    Returns {"loss": L_c / L, "gradient": ‖∇L_c‖ / ‖∇L‖, "sgd_step": ‖Δθ_c‖ / ‖Δθ‖ after one SGD step,
    "adam_steps": ‖Δθ_c‖ / ‖Δθ‖ after ``adam_steps`` Adam steps with ε = 0, "adam_max_diff": max |θ_c − θ|
    after those Adam steps (ε = 0), "adam_max_diff_eps": the same with PyTorch's ε = 1e-8}, all from the
    same θ (the policy's) and learning rate lr.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    c = float(c)
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"c must be a finite number > 0, got {c!r}")
    theta = torch.cat([q.detach().reshape(-1) for q in policy.parameters()])
    params = list(policy.parameters())
    losses, grads = [], []
    for scale in (1.0, c):
        loss = loss_of_weights(policy, scale)
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
        losses.append(float(loss.detach()))
    out = {"loss": losses[1] / losses[0], "gradient": float(grads[1].norm() / grads[0].norm())}

    def after(optimizer, steps, eps, scale):
        return steps_on_loss(policy, lambda p: loss_of_weights(p, scale), optimizer, lr, steps, eps)

    sgd = [after("sgd", 1, 0.0, scale) - theta for scale in (1.0, c)]
    out["sgd_step"] = float(sgd[1].norm() / sgd[0].norm())
    adam = [after("adam", adam_steps, 0.0, scale) for scale in (1.0, c)]
    out["adam_steps"] = float((adam[1] - theta).norm() / (adam[0] - theta).norm())
    out["adam_max_diff"] = float((adam[1] - adam[0]).abs().max())
    adam_eps = [after("adam", adam_steps, 1e-8, scale) for scale in (1.0, c)]
    out["adam_max_diff_eps"] = float((adam_eps[1] - adam_eps[0]).abs().max())
    return out


@dataclass
class GradientNoise:
    """ĝ_N = (1/N) Σ_{i≤N} ĝ_i against a reference gradient g_ref from n_ref other trajectories.

    batch_sizes: (K,); for each N, the pool of n_pool trajectories is cut into n_pool // N
    disjoint batches, giving that many estimates ĝ_N:
    cos_mean, cos_std: mean and standard deviation over those batches of cos(ĝ_N, g_ref);
    sq_err: mean of ‖ĝ_N − g_ref‖²; predicted_sq_err: tr Cov[ĝ_i] / N + tr Cov / n_ref (the
    1/N law plus the reference's own noise); ref_sq_norm: ‖g_ref‖²; signal_sq_norm:
    ‖g_ref‖² − tr Cov_ref / n_ref, an unbiased estimate of ‖∇J‖² (‖g_ref‖² includes the
    reference's noise); tr_cov: tr Cov[ĝ_i] of one trajectory's sample; mean_length: the
    trajectories' mean length.
    """

    batch_sizes: np.ndarray
    cos_mean: np.ndarray
    cos_std: np.ndarray
    sq_err: np.ndarray
    predicted_sq_err: np.ndarray
    ref_sq_norm: float
    signal_sq_norm: float
    tr_cov: float
    n_pool: int
    n_ref: int
    mean_length: float
    mean_return: float

    @property
    def noise_equals_signal(self) -> float:
        """N at which the noise E‖ĝ_N − ∇J‖² = tr Cov / N equals the signal ‖∇J‖²: tr Cov / ‖∇J‖²."""
        return self.tr_cov / self.signal_sq_norm if self.signal_sq_norm > 0 else math.inf

    def cos_at(self, n: int) -> float:
        """Mean cos(ĝ_N, g_ref) at batch size N (one of batch_sizes)."""
        return float(self.cos_mean[list(self.batch_sizes).index(int(n))])

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
                         ref_sq_norm=float(g_ref.pow(2).sum()),
                         signal_sq_norm=float(g_ref.pow(2).sum()) - tr_cov_ref / n_ref, tr_cov=tr_cov,
                         n_pool=n_pool, n_ref=n_ref,
                         mean_length=float(batch.lengths.double().mean()), mean_return=float(rets.mean()))


def gradient_noise_seeds(config: TrainConfig, iterations: int, seeds, env_id: str = "CartPole-v1",
                         batch_sizes: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128), n_pool: int = 512,
                         n_ref: int = 512, gamma: float = 0.995) -> list[GradientNoise]:
    """gradient_noise at each of the policies policies_after(config, iterations, seeds).

    Policy seeds[k] is measured on pool trajectories sampled with seed 2·seeds[k] and reference
    trajectories with seed 2·seeds[k] + 1. Returns one GradientNoise per seed.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    seeds = [check_seed(s) for s in seeds]
    policies = policies_after(config, iterations, seeds)

    def measure(indices):   # one policy at a time, one thread each; the policies split over the cores
        with single_thread():
            return [gradient_noise(policies[k], env_id, batch_sizes, n_pool=n_pool, n_ref=n_ref, gamma=gamma,
                                   seed=2 * seeds[k]) for k in indices]

    return [noise for group in over_seed_groups(measure, range(len(seeds))) for noise in group]


@dataclass
class GridCell(_SeedCounts):
    """One (optimizer, α) cell of a learning-rate grid: histories[k] is seed seeds[k] (one train_seeds call)."""

    optimizer: str
    lr: float
    seeds: tuple
    histories: list

    @property
    def n(self) -> int:
        return len(self.histories)

    def summary(self) -> str:
        """'median 218 (IQR 149–448), 475 on 2/10'."""
        text = f"{format_median_iqr(self.final_returns)}, 475 on {self.solved}/{self.n}"
        return text + (f", {self.diverged} diverged" if self.diverged else "")


def learning_rate_grid(lrs: Sequence[float], optimizers: Sequence[str] = ("sgd", "adam"),
                       seeds: Sequence[int] = tuple(range(10)), iterations: int = 20,
                       target_return: float = 475.0, **fields) -> list[GridCell]:
    """One train_seeds call per (optimizer, α) over all seeds, with a fixed budget of gradient steps.

    Cell (optimizer, α) holds train_seeds(TrainConfig(optimizer=…, lr=α, iterations=iterations,
    target_return=target_return, **fields), seeds)'s histories. Returns the cells, optimizer by
    optimizer, α by α. A seed whose loss became NaN keeps its history with ``diverged`` set.
    Taught in notebooks/09_implementing_policy_gradients.ipynb.
    """
    seeds = tuple(check_seed(s) for s in seeds)
    cells = []
    for optimizer in optimizers:
        for lr in lrs:
            config = TrainConfig(optimizer=optimizer, lr=float(lr), iterations=iterations,
                                 target_return=target_return, **fields)
            _, histories = train_seeds(config, seeds, progress=False)
            cells.append(GridCell(optimizer, float(lr), seeds, histories))
    return cells
