"""REINFORCE, as the seed's algorithm box: sample {τ_i} from π_θ, estimate ∇J, take one step.

    1. sample N trajectories τ_i with the current policy        (sample_batch)
    2. ĝ = (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}   (pg_pseudo_loss + autograd)
    3. θ ← θ + α ĝ                                               (one optimizer step)

with weights w = R(τ_i) or Q̂_{i,t}, minus an optional baseline, optionally
normalised. Taught in notebooks/03_reinforce.ipynb and 09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._validate import check_choice, check_gamma, check_lr, check_positive_int
from .baselines import ValueBaseline, normalise, time_mean_baseline
from .returns import reward_to_go
from .batch import Batch, check_env_id, make_vector_env, sample_batch
from .estimators import pg_pseudo_loss
from .policies import make_policy

WEIGHTS = ("total_return", "reward_to_go")
BASELINES = ("none", "mean", "value")
OPTIMIZERS = ("sgd", "adam")
IMPORTANCE_WEIGHTS = ("per_decision", "first_order")


@dataclass
class TrainConfig:
    """Everything that defines a training run; the same config and seed give the same run.

    The defaults are plain on-policy REINFORCE with one gradient step per batch, tuned for
    CartPole-v1 by measurement (bench/sweep_defaults.py: 15/15 seeds reach a mean return of 475 in
    a median of about 24k env steps, at most 79k; a smaller batch with a larger step wins on
    sample efficiency, and lr 0.04 is the largest step that never collapsed in the sweep).
    """

    env_id: str = "CartPole-v1"
    """A registered gymnasium environment id."""
    weights: str = "reward_to_go"
    """What multiplies ∇ log π_θ(a_t|s_t): "total_return" R(τ) (the original REINFORCE) or
    "reward_to_go" Q̂_t = Σ_{t'≥t} γ^{t'-t} r_{t'} (causality, notebook 06)."""
    baseline: str = "mean"
    """Subtracted from the weights: "none"; "mean" (the batch's mean R(τ), or for reward-to-go the
    mean Q̂_t over trajectories at each t); "value" (a learned V_φ(s_t), notebook 07)."""
    normalise: bool = True
    """Rescale the weights to mean 0 and standard deviation 1 over the batch's steps."""
    n_traj: int = 8
    """N, the batch size: trajectories sampled per gradient step."""
    lr: float = 0.04
    """Learning rate α of the policy's optimizer."""
    optimizer: str = "adam"
    """"sgd" (θ ← θ + α ĝ) or "adam" (per-parameter step sizes, notebook 09)."""
    gamma: float = 0.995
    """Discount γ in [0, 1] used in the weights (1 = the seed's undiscounted sum)."""
    hidden: tuple[int, ...] = (64,)
    """Hidden layer sizes of the policy (and of the value baseline)."""
    iterations: int = 100
    """Maximum number of gradient steps (batches)."""
    seed: int = 0
    """Seeds the policy's initial weights, the environments and the action noise."""
    target_return: float | None = None
    """Stop as soon as the mean return of the last max(16, N) finished episodes reaches this;
    the policy kept is the one that produced the newest of them (checked before updating)."""
    policy: str = "auto"
    """"auto" (Categorical for discrete actions, Gaussian for continuous), "categorical" or "gaussian"."""
    log_std_init: float = 0.0
    """Initial log σ of a Gaussian policy."""
    value_lr: float = 0.01
    """Learning rate of the value baseline (baseline="value")."""
    value_steps: int = 5
    """Adam steps per batch fitting the value baseline."""
    steps_per_batch: int = 1
    """K, gradient steps per batch. 1 is plain on-policy REINFORCE (the default); K > 1 reuses each
    batch, weighting steps 2…K with importance weights against the policy that sampled it (notebook 08)."""
    importance_weights: str = "per_decision"
    """How steps 2…K of a reused batch are weighted: "per_decision" (unbiased) or "first_order"
    (ρ_t · Q̂_t, biased unless the policy barely moved)."""
    max_env_steps: int | None = None
    """Also stop after the batch that brings the environment steps to at least this (None: no budget)."""

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        self.validate()

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the bad value and what is allowed."""
        check_env_id(self.env_id)
        check_choice("weights", self.weights, WEIGHTS)
        check_choice("baseline", self.baseline, BASELINES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("policy", self.policy, ("auto", "categorical", "gaussian"))
        check_positive_int("n_traj", self.n_traj)
        check_positive_int("iterations", self.iterations)
        check_positive_int("steps_per_batch", self.steps_per_batch)
        check_choice("importance_weights", self.importance_weights, IMPORTANCE_WEIGHTS)
        if self.steps_per_batch > 1 and self.weights != "reward_to_go":
            raise ValueError(f"steps_per_batch={self.steps_per_batch} reuses batches with per-decision importance "
                             f"weights, which need weights='reward_to_go' (got {self.weights!r})")
        if self.max_env_steps is not None:
            check_positive_int("max_env_steps", self.max_env_steps)
        check_lr(self.lr)
        check_lr(self.value_lr)
        check_gamma(self.gamma)
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be ≥ 1, got {self.hidden}")
        if self.target_return is not None and not math.isfinite(float(self.target_return)):
            raise ValueError(f"target_return must be a finite number or None, got {self.target_return!r}")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**data)


HISTORY_COLUMNS = ("iteration", "mean_return", "stderr_return", "recent_return", "env_steps", "wall_s",
                   "loss", "grad_norm", "entropy")


@dataclass
class History:
    """One row per iteration: the batch's mean return ± standard error, the mean return of the
    last max(16, N) finished episodes (the stopping rule's statistic), cumulative env steps and
    wall seconds, the pseudo-loss, the gradient norm (NaN when no step was taken) and the
    policy's mean entropy."""

    iteration: list = field(default_factory=list)
    mean_return: list = field(default_factory=list)
    stderr_return: list = field(default_factory=list)
    recent_return: list = field(default_factory=list)
    env_steps: list = field(default_factory=list)
    wall_s: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    entropy: list = field(default_factory=list)
    solved: bool = False
    """True when target_return was reached."""

    def append(self, **row):
        for key in HISTORY_COLUMNS:
            getattr(self, key).append(row[key])

    def __len__(self) -> int:
        return len(self.iteration)

    @property
    def final_return(self) -> float:
        """Mean return of the last max(16, N) finished episodes at the end of training."""
        return self.recent_return[-1] if self.recent_return else float("nan")

    def rows(self):
        return [dict(zip(HISTORY_COLUMNS, values)) for values in zip(*(getattr(self, k) for k in HISTORY_COLUMNS))]

    def to_csv(self, path) -> Path:
        path = Path(path)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=HISTORY_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())
        return path

    def summary(self) -> dict:
        """The CLI's final JSON line."""
        return {"solved": bool(self.solved), "iterations": len(self),
                "env_steps": int(self.env_steps[-1]) if self.env_steps else 0,
                "wall_s": round(float(self.wall_s[-1]), 3) if self.wall_s else 0.0,
                "final_return": float(self.final_return)}


def policy_weights(batch: Batch, config: TrainConfig, value_fn: ValueBaseline | None = None) -> Tensor:
    """w_{i,t}: return or reward-to-go, minus the configured baseline, optionally normalised. (N, T)."""
    if config.weights == "total_return":
        weights = batch.returns(config.gamma)[:, None].expand_as(batch.rew)
    else:
        weights = batch.reward_to_go(config.gamma)
    if config.baseline == "mean":
        if config.weights == "total_return":
            weights = weights - weights[:, 0].mean()
        else:
            weights = weights - time_mean_baseline(weights, batch.mask)
    elif config.baseline == "value":
        with torch.no_grad():
            weights = weights - value_fn(batch.obs)
    weights = torch.where(batch.mask, weights, torch.zeros(()))
    if config.normalise:
        weights = normalise(weights, batch.mask)
    return weights


def reuse_weights(batch: Batch, config: TrainConfig, logp_new: Tensor, logp_old: Tensor,
                  baseline_values: Tensor | None = None, weighting: str = "per_decision") -> Tensor:
    """w_{i,t} = Σ_{t'≥t} γ^{t'-t} r_{i,t'} c_{i,t'} − b_{i,t} c_{i,t},  c_{i,t} = Π_{t''≤t} π'(a_{t''}|s_{t''})/π(a_{t''}|s_{t''}).

    Per-decision importance weights for data sampled by π (logp_old) and the current policy π'
    (logp_new, detached): each reward is re-weighted by the ratio of everything that led to it, the
    baseline b_{i,t} (config.baseline: 0, the per-step mean b_t of the batch's Q̂, or
    ``baseline_values`` = V_φ(s_{i,t})) by the ratio of its own step, so it stays unbiased. Then
    normalised as in ``policy_weights`` if config.normalise (a heuristic: the mean it removes is not
    multiplied by c). When logp_new = logp_old every c is 1 and this equals
    ``pgcourse.train.policy_weights(batch, config, value_fn)`` exactly (same float32 operations).
    batch: N trajectories; logp_new, logp_old: (N, T). Returns (N, T) float32.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    if config.weights != "reward_to_go":
        raise ValueError("reuse_weights uses per-decision importance weights, which need weights='reward_to_go' "
                         f"(got {config.weights!r})")
    mask = batch.mask
    check_choice("weighting", weighting, IMPORTANCE_WEIGHTS)
    log_rho = torch.where(mask, logp_new.detach() - logp_old.detach(), torch.zeros((), dtype=logp_new.dtype))
    log_c = log_rho.to(torch.float64)
    if weighting == "per_decision":
        log_c = log_c.cumsum(1)
    c = log_c.exp().to(batch.rew.dtype)  # 1.0 exactly where log ρ = 0
    if not torch.isfinite(c[mask]).all():
        raise ValueError("the importance weights overflowed: the policy moved too far from the one that sampled "
                         "the batch; use a smaller lr or fewer steps per batch")
    rtg = batch.reward_to_go(config.gamma)
    if weighting == "per_decision":
        weights = reward_to_go(batch.rew * c, mask, config.gamma)
    else:  # first order: ρ_t Q̂_t
        weights = rtg * c
    if config.baseline == "mean":
        weights = weights - time_mean_baseline(rtg, mask) * c
    elif config.baseline == "value":
        if baseline_values is None:
            raise ValueError("config.baseline is 'value': pass baseline_values = V_φ(s) of shape (N, T)")
        weights = weights - baseline_values * c
    weights = torch.where(mask, weights, torch.zeros(()))
    if config.normalise:
        weights = normalise(weights, mask)
    return weights


def make_optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    check_choice("optimizer", name, OPTIMIZERS)
    return torch.optim.Adam(params, lr=lr) if name == "adam" else torch.optim.SGD(params, lr=lr)


def _progress(total: int, enabled):
    if enabled is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc="train", leave=False, disable=None if enabled is None else not enabled)


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread inside the block, then restore the previous setting.

    The course's networks are tiny: one thread is faster (no synchronisation, and no slowdown when
    other processes share the cores), and results do not depend on how many cores a machine has.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(config: TrainConfig | None = None, progress: bool | None = None, callback=None, on_step=None,
          **overrides):
    """Train a policy with REINFORCE; returns ``(policy, history)``.

    ``train(TrainConfig(n_traj=32))`` or ``train(n_traj=32)``. progress: a tqdm bar
    (None = auto: shown in notebooks and terminals). callback(iteration, batch, history, policy)
    is called after each batch (after the update); on_step(iteration, k, batch, logp, logp_old) before each
    of the K gradient steps on a batch (logp_old: the sampling policy's log-probabilities, detached).
    Raises ValueError for a bad config and when the loss becomes NaN or infinite (lower the learning rate).
    """
    config = TrainConfig(**overrides) if config is None else (
        TrainConfig.from_dict({**asdict(config), **overrides}) if overrides else config.validate())
    with single_thread():
        return _train(config, progress, callback, on_step)


def _train(config: TrainConfig, progress, callback, on_step):
    start = time.perf_counter()
    envs = make_vector_env(config.env_id, config.n_traj)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            policy = make_policy(envs.single_observation_space, envs.single_action_space,
                                 config.policy, config.hidden, log_std_init=config.log_std_init)
            value_fn = (ValueBaseline(envs.single_observation_space.shape[0], config.hidden,
                                      config.value_lr, config.value_steps)
                        if config.baseline == "value" else None)
        optimizer = make_optimizer(policy.parameters(), config.optimizer, config.lr)
        seeds = np.random.SeedSequence(config.seed).generate_state(config.iterations)
        history = History()
        window = collections.deque(maxlen=max(16, config.n_traj))
        steps = 0
        bar = _progress(config.iterations, progress)
        try:
            for it in range(config.iterations):
                batch = sample_batch(envs, policy, seed=int(seeds[it]))
                rets = batch.returns()
                window.extend(rets.tolist())
                steps += batch.n_steps
                solved = (config.target_return is not None and len(window) >= 16
                          and float(np.mean(window)) >= config.target_return)
                with torch.no_grad():
                    values = value_fn(batch.obs) if value_fn is not None else None
                    logp_old = policy.log_prob(batch.obs, batch.act)  # the sampling policy's, for steps 2…K
                first_loss, grad_norm = math.nan, math.nan
                # K gradient steps on this batch; the first is on-policy, later ones importance-weighted
                for k in range(1 if solved else config.steps_per_batch):
                    logp = policy.log_prob(batch.obs, batch.act)
                    if k == 0:
                        weights = policy_weights(batch, config, value_fn)
                    else:
                        weights = reuse_weights(batch, config, logp.detach(), logp_old, values,
                                                config.importance_weights)
                    loss = pg_pseudo_loss(logp, weights, batch.mask)
                    where = f"iteration {it}" + (f", step {k}" if config.steps_per_batch > 1 else "")
                    if not torch.isfinite(loss):
                        raise ValueError(f"training diverged: the loss became {float(loss.detach())} at {where} "
                                         f"(lr={config.lr}, optimizer={config.optimizer}); use a smaller lr")
                    if k == 0:
                        first_loss = float(loss.detach())
                        with torch.no_grad():  # of the policy that sampled the batch
                            entropy = float(policy.entropy(batch.obs)[batch.mask].mean())
                    if on_step is not None:
                        on_step(it, k, batch, logp.detach(), logp_old)
                    if solved:  # check before the update: keep the policy that reached the target
                        break
                    optimizer.zero_grad()
                    loss.backward()
                    norm = float(torch.linalg.vector_norm(
                        torch.stack([p.grad.norm() for p in policy.parameters() if p.grad is not None])))
                    if not math.isfinite(norm):
                        raise ValueError(f"training diverged: the gradient norm became {norm} at {where} "
                                         f"(lr={config.lr}); use a smaller lr")
                    if k == 0:
                        grad_norm = norm
                    optimizer.step()
                if value_fn is not None and not solved:
                    value_fn.fit(batch.obs, batch.reward_to_go(config.gamma), batch.mask)
                n = len(rets)
                history.append(iteration=it, mean_return=float(rets.mean()),
                               stderr_return=float(rets.std() / math.sqrt(n)) if n > 1 else 0.0,
                               recent_return=float(np.mean(window)),
                               env_steps=steps, wall_s=time.perf_counter() - start,
                               loss=first_loss, grad_norm=grad_norm, entropy=entropy)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(ret=f"{history.mean_return[-1]:.1f}", steps=steps)
                if callback is not None:
                    callback(it, batch, history, policy)
                if solved:
                    history.solved = True
                    if bar is not None:  # finished early: show the bar complete, not failed
                        bar.total = bar.n
                        bar.refresh()
                    break
                if config.max_env_steps is not None and steps >= config.max_env_steps:
                    break
        finally:
            if bar is not None:
                bar.close()
    finally:
        envs.close()
    policy.eval()
    return policy, history
