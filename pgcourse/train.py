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
from torch import Tensor, nn

from ._validate import check_choice, check_gamma, check_lr, check_positive_int
from .baselines import ValueBaseline, normalise, time_mean_baseline
from .batch import Batch, check_env_id, make_vector_env, sample_batch
from .estimators import pg_pseudo_loss
from .policies import make_policy

WEIGHTS = ("total_return", "reward_to_go")
BASELINES = ("none", "mean", "value")
OPTIMIZERS = ("sgd", "adam")


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


def train(config: TrainConfig | None = None, progress: bool | None = None, callback=None, **overrides):
    """Train a policy with REINFORCE; returns ``(policy, history)``.

    ``train(TrainConfig(n_traj=32))`` or ``train(n_traj=32)``. progress: a tqdm bar
    (None = auto: shown in notebooks and terminals). callback(iteration, batch, history, policy)
    is called after each batch (after the update). Raises ValueError for a bad config and when the
    loss becomes NaN or infinite (lower the learning rate).
    """
    config = TrainConfig(**overrides) if config is None else (
        TrainConfig.from_dict({**asdict(config), **overrides}) if overrides else config.validate())
    with single_thread():
        return _train(config, progress, callback)


def _train(config: TrainConfig, progress, callback):
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
                weights = policy_weights(batch, config, value_fn)
                logp = policy.log_prob(batch.obs, batch.act)
                loss = pg_pseudo_loss(logp, weights, batch.mask)
                if not torch.isfinite(loss):
                    raise ValueError(f"training diverged: the loss became {float(loss.detach())} at iteration {it} "
                                     f"(lr={config.lr}, optimizer={config.optimizer}); use a smaller lr")
                with torch.no_grad():
                    entropy = float(policy.entropy(batch.obs)[batch.mask].mean())
                grad_norm = float("nan")
                if not solved:  # check before the update: keep the policy that reached the target
                    optimizer.zero_grad()
                    loss.backward()
                    grad_norm = float(torch.linalg.vector_norm(
                        torch.stack([p.grad.norm() for p in policy.parameters() if p.grad is not None])))
                    if not math.isfinite(grad_norm):
                        raise ValueError(f"training diverged: the gradient norm became {grad_norm} at iteration "
                                         f"{it} (lr={config.lr}); use a smaller lr")
                    optimizer.step()
                    if value_fn is not None:
                        value_fn.fit(batch.obs, batch.reward_to_go(config.gamma), batch.mask)
                n = len(rets)
                history.append(iteration=it, mean_return=float(rets.mean()),
                               stderr_return=float(rets.std() / math.sqrt(n)) if n > 1 else 0.0,
                               recent_return=float(np.mean(window)),
                               env_steps=steps, wall_s=time.perf_counter() - start,
                               loss=float(loss.detach()), grad_norm=grad_norm, entropy=entropy)
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
        finally:
            if bar is not None:
                bar.close()
    finally:
        envs.close()
    policy.eval()
    return policy, history
