"""REINFORCE, as the notes' algorithm box: sample {τ_i} from π_θ, estimate ∇J, take one step.

    1. sample N trajectories τ_i with the current policy        (_sample: one batch per seed)
    2. ĝ = (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}   (weights.py, pg_pseudo_loss + autograd)
    3. θ ← θ + α ĝ                                               (one optimizer step: _gradient_step)

with weights w = R(τ_i) or Q̂_{i,t}, minus an optional baseline, optionally normalised
(pgcourse/weights.py). ``train_seeds`` runs this for K seeds at once; each iteration of its loop is
named steps: sample, stop check, weights and update, value fit, record. ``train`` is its one-seed case.
Taught in notebooks/03_reinforce.ipynb and 09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import csv
import io
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import check_choice, check_seed
from .baselines import ValueBaseline
from .batch import Batch, make_vector_env, rollout
from .config import OPTIMIZERS, TrainConfig, merge_config
from .estimators import pg_pseudo_loss
from .policies import make_policy
from .stack import PolicyStack, StackedOptimizer, StackedUniform, ValueStack
from .weights import BatchWeights, batch_weights

__all__ = ["TrainConfig", "merge_config", "Callback", "StepHook",
           "SeedCallback", "SeedStepHook", "HISTORY_COLUMNS", "History",
           "make_optimizer", "single_thread", "batch_seed", "train", "train_seeds", "value_subset",
           "fit_value", "memory_estimate", "check_memory"]

Callback = Callable[[int, Batch, "History", nn.Module], None]
"""train's callback(iteration, batch, history, policy): after each batch's update."""
StepHook = Callable[[int, int, Batch, Tensor, Tensor], None]
"""train's on_step(iteration, step, batch, logp, logp_old): at each of a batch's gradient steps, before
the step (also when the step is then not taken: target reached, all-zero weights)."""
SeedCallback = Callable[[int, int, Batch, "History", nn.Module], None]
"""train_seeds' callback(k, iteration, batch, history, policy); k indexes the seeds."""
SeedStepHook = Callable[[int, int, int, Batch, Tensor, Tensor], None]
"""train_seeds' on_step(k, iteration, step, batch, logp, logp_old)."""


HISTORY_COLUMNS = ("iteration", "mean_return", "stderr_return", "recent_return", "env_steps", "wall_s",
                   "loss", "grad_norm", "entropy")


@dataclass
class History:
    """One row per iteration: the batch's mean return ± standard error, the mean return of the
    last max(16, N) finished episodes (the stopping rule's statistic), cumulative env steps and
    wall seconds, the pseudo-loss, the gradient norm (NaN when no step was taken because the
    target was reached or the loss diverged; 0.0 when the weights were all zero, so the batch
    carried no signal and no step was taken) and the policy's mean entropy."""

    iteration: list[int] = field(default_factory=list)
    mean_return: list[float] = field(default_factory=list)
    stderr_return: list[float] = field(default_factory=list)
    recent_return: list[float] = field(default_factory=list)
    env_steps: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    solved: bool = False
    """True when target_return was reached."""
    diverged: str | None = None
    """Why training stopped early because the loss or gradient became NaN/inf (None: it did not)."""
    interrupted: bool = False
    """True when Ctrl-C (SIGINT) or SIGTERM stopped training early; the policy is the one after the last
    finished iteration, and ``interrupt_signal`` names the signal."""
    interrupt_signal: str | None = None

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
        with path.open("wb") as f:
            self.write_csv(f)
        return path

    def write_csv(self, f) -> None:
        """The rows as CSV into a binary file object."""
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=HISTORY_COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows())
        f.write(text.getvalue().encode())

    def summary(self) -> dict:
        """The CLI's final JSON line."""
        return {"solved": bool(self.solved), "iterations": len(self),
                "env_steps": int(self.env_steps[-1]) if self.env_steps else 0,
                "wall_s": round(float(self.wall_s[-1]), 3) if self.wall_s else 0.0,
                "final_return": float(self.final_return), "interrupted": bool(self.interrupted)}


def make_optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    """torch.optim.Adam or SGD with learning rate lr (for single modules; train uses StackedOptimizer)."""
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
    other processes share the cores), and a run does not depend on how many cores a machine has
    (it still depends on the CPU's instruction set: see notebooks/00_welcome.ipynb).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def batch_seed(seed: int, iteration: int) -> int:
    """The seed of batch ``iteration`` of a run with ``seed``: made when needed, never a list up front."""
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(iteration),)).generate_state(1)[0])


def train(config: TrainConfig | None = None, progress: bool | None = None, callback: Callback | None = None,
          on_step: StepHook | None = None, weighting: BatchWeights | None = None,
          **overrides) -> tuple[nn.Module, History]:
    """Train a policy with REINFORCE; returns ``(policy, history)``.

    ``train(TrainConfig(n_traj=32))`` or ``train(n_traj=32)``. This is ``train_seeds`` with the one
    seed ``config.seed``: the same code trains one seed or many. progress: a tqdm bar
    (None = auto: shown in notebooks and terminals). callback(iteration, batch, history, policy)
    is called after each batch (after the update); on_step(iteration, step, batch, logp, logp_old) before
    each of the batch's gradient steps (logp_old: the sampling policy's log-probabilities, detached).
    weighting: the weights of each gradient step (pgcourse/weights.py; default ``batch_weights(config)``).
    Raises ValueError for a bad config and when the loss becomes NaN or infinite (lower the learning rate).
    """
    config = merge_config(config, overrides)
    policies, histories = train_seeds(
        config, [config.seed], progress=progress,
        callback=None if callback is None else (lambda k, *args: callback(*args)),
        on_step=None if on_step is None else (lambda k, *args: on_step(*args)), weighting=weighting)
    if histories[0].diverged:
        raise ValueError(histories[0].diverged)
    return policies[0], histories[0]


def train_seeds(config: TrainConfig | None = None, seeds: Iterable[int] = range(10), progress: bool | None = None,
                callback: SeedCallback | None = None, on_step: SeedStepHook | None = None,
                weighting: BatchWeights | None = None, **overrides) -> tuple[list[nn.Module], list[History]]:
    """Train one policy per seed, all at once; returns ``(policies, histories)``, one of each per seed.

    Seed s's run is ``config`` with ``seed=s``: its own initial weights, environments, action noise,
    optimizer state and stopping rule. The K = len(seeds) policies are stacked (pgcourse/stack.py) and
    their K·N environments stepped as one vector env; a seed that stops (target reached, budget spent,
    diverged) is dropped from sampling while the others go on. Seed s samples the same first batch as
    ``train(config, seed=s)`` and agrees with it up to float rounding afterwards, which CartPole
    magnifies over many iterations: the update's products are padded to the longest episode among
    the seeds trained together, so a seed's run can also depend, in the last bits, on which seeds
    share the call. Compare statistics over seeds, and recompute a claim with the same seed list.
    A seed whose loss or gradient becomes NaN stops with
    ``history.diverged`` set to the reason (``train`` raises it as a ValueError).
    callback(k, iteration, batch, history, policy) after each of seed k's batches (k indexes seeds);
    on_step(k, iteration, step, batch, logp, logp_old) before each gradient step on seed k's batch.
    weighting: the weights of each gradient step on a batch (pgcourse/weights.py), the loop's one
    extension point; default ``batch_weights(config)``: one on-policy step, or ``steps_per_batch``
    steps with importance-weighted reuse.
    Taught in notebooks/03_reinforce.ipynb.
    """
    config = merge_config(config, overrides)
    seeds = [check_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, got none")
    with single_thread():
        return _train_seeds(config, seeds, progress, callback, on_step,
                            batch_weights(config) if weighting is None else weighting)


def _make_stacks(config: TrainConfig, seeds, envs):
    """Policy k (and value baseline k) initialised from seeds[k], exactly as one run with that seed."""
    policies, values = [], []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            policies.append(make_policy(envs.single_observation_space, envs.single_action_space,
                                        config.policy, config.hidden, log_std_init=config.log_std_init))
            if config.baseline == "value":
                values.append(ValueBaseline(envs.single_observation_space.shape[0], config.hidden,
                                            config.value_lr, config.value_steps))
    policy = PolicyStack(policies)
    value = ValueStack(values) if values else None
    return policy, value


class _Seeds:
    """The per-seed bookkeeping of a multi-seed run: histories, return windows, who is still training."""

    def __init__(self, config: TrainConfig, seeds):
        self.config, self.seeds = config, seeds
        self.histories = [History() for _ in seeds]
        self.windows = [collections.deque(maxlen=max(16, config.n_traj)) for _ in seeds]
        self.steps = [0] * len(seeds)
        self.training = torch.ones(len(seeds), dtype=torch.bool)

    def record_returns(self, k: int, batch: Batch) -> bool:
        """Add batch k's returns to seed k's window; True when the stop rule says seed k is solved."""
        self.windows[k].extend(batch.returns().tolist())
        self.steps[k] += batch.n_steps
        window, target = self.windows[k], self.config.target_return
        return target is not None and len(window) >= 16 and float(np.mean(window)) >= target

    def active(self) -> list[int]:
        """The seeds still training, in seed order."""
        return [k for k in range(len(self.seeds)) if self.training[k]]

    def over_budget(self, k: int, iteration: int) -> bool:
        budget = self.config.max_env_steps
        return iteration + 1 >= self.config.iterations or (budget is not None and self.steps[k] >= budget)


def _sample(envs_cache: dict, config: TrainConfig, policy: PolicyStack, active: list[int], seeds, iteration: int):
    """One batch of N trajectories for every active seed, from one vector env of len(active)·N copies."""
    n_envs = len(active) * config.n_traj
    if n_envs not in envs_cache:
        for old in envs_cache.values():
            old.close()
        envs_cache.clear()
        envs_cache[n_envs] = make_vector_env(config.env_id, n_envs)
    envs = envs_cache[n_envs]
    batch_seeds = [batch_seed(seeds[k], iteration) for k in active]
    generators = [torch.Generator().manual_seed(s) for s in batch_seeds]
    views = {}  # the copies of the blocks still running, made once per set of blocks
    if policy.discrete:  # the same uniforms as one torch.rand((N, A)) call per step, fetched 64 steps at a time
        uniforms = StackedUniform(generators, (config.n_traj, envs.single_action_space.n))

        def act(obs, blocks):
            key = tuple(blocks.tolist())
            if key not in views:
                views[key] = (policy.detached(torch.tensor([active[b] for b in key])), torch.as_tensor(blocks))
            view, index = views[key]
            u = uniforms.rand()
            return view.sample_with(obs, u if len(key) == len(active) else u[index])
    else:
        def act(obs, blocks):
            key = tuple(blocks.tolist())
            if key not in views:
                views[key] = policy.detached(torch.tensor([active[b] for b in key]))
            return views[key].sample(obs, [generators[b] for b in key])

    return rollout(envs, act, batch_seeds, config.n_traj)


def _pad(tensors: list[Tensor], length: int) -> Tensor:
    """Stack (N, T_k, ...) tensors into (K, N, length, ...), padding time with zeros."""
    return torch.stack([torch.nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, length - t.shape[1])) for t in tensors])


class _Interrupt:
    """While training, SIGINT (Ctrl-C, a notebook's interrupt) and SIGTERM ask the loop to stop after the
    iteration it is in, so the policy and the history agree; a second Ctrl-C stops at once
    (KeyboardInterrupt). Off the main thread, where Python cannot install handlers, nothing changes."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self):
        self.signal: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signal == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        return False


def _train_seeds(config: TrainConfig, seeds, progress, callback, on_step, weighting: BatchWeights):
    """The training loop: per iteration, sample → stop check → weights and update → value fit → record.

    SIGINT or SIGTERM ends it after the current iteration: it returns what it has, each history marked
    ``interrupted`` (so ``train`` returns too, and the CLI saves the run before exiting 130 or 143)."""
    start = time.perf_counter()
    envs_cache: dict = {}
    state = _Seeds(config, seeds)
    bar = _progress(config.iterations, progress)
    with _Interrupt() as interrupt:
        try:
            policy, value = _initial_stacks(config, seeds)
            optimizer = StackedOptimizer(policy.parameters(), config.optimizer, config.lr)
            value_opt = (StackedOptimizer(value.parameters(), "adam", config.value_lr) if value is not None else None)
            _loop(config, seeds, state, policy, value, optimizer, value_opt, envs_cache, bar, interrupt, start,
                  callback, on_step, weighting)
        finally:
            if bar is not None:
                bar.close()
            for envs in envs_cache.values():
                envs.close()
    if interrupt.signal is not None:
        for history in state.histories:
            history.interrupted, history.interrupt_signal = True, interrupt.signal
    return [policy.module(k) for k in range(len(seeds))], state.histories


def _loop(config, seeds, state, policy, value, optimizer, value_opt, envs_cache, bar, interrupt, start,
          callback, on_step, weighting):
    """Iterations until every seed stopped or a signal asked to stop (see _train_seeds)."""
    for it in range(config.iterations):
        active = state.active()
        if not active or interrupt.signal is not None:
            break
        batches = _sample(envs_cache, config, policy, active, seeds, it)
        solved = [state.record_returns(k, b) for k, b in zip(active, batches)]  # the stop check
        padded = _Padded.of(active, batches)
        steps = _update(config, weighting, policy, optimizer, padded, batches, solved,
                        [state.histories[k] for k in active], it, on_step, active, value)
        if value is not None:
            _fit_values(config, value, value_opt, padded, batches, solved)
        _record(state, it, active, batches, solved, steps, time.perf_counter() - start, callback, policy)
        _show_progress(bar, state, active)
    if bar is not None and bar.n < bar.total:  # finished early: show the bar complete, not failed
        bar.total = bar.n
        bar.refresh()


def _initial_stacks(config: TrainConfig, seeds):
    probe = make_vector_env(config.env_id, 1)  # for the observation and action spaces
    try:
        check_memory(config, len(seeds), probe)
        return _make_stacks(config, seeds, probe)
    finally:
        probe.close()


def memory_estimate(config: TrainConfig, n_seeds: int, envs) -> int:
    """Bytes a run needs, roughly, before anything is allocated: K copies of the weights with their
    gradients and Adam moments, and one padded batch with the activations its backward pass keeps."""
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    space = envs.single_action_space
    n_out = int(space.n) if hasattr(space, "n") else 2 * int(np.prod(space.shape))
    sizes = (obs_dim, *config.hidden, n_out)
    n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if config.baseline == "value":
        n_params += sum((a + 1) * b for a, b in zip((obs_dim, *config.hidden, 1), (*config.hidden, 1)))
    spec = envs.spec
    horizon = (spec.max_episode_steps if spec is not None and spec.max_episode_steps else None) or 1000
    per_step = obs_dim + 3 * sum(config.hidden) + 4 * n_out + 8  # obs, activations, logits, rewards, masks
    floats = n_seeds * (4 * n_params + config.n_traj * horizon * per_step)
    return 4 * floats


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # pragma: no cover (not on every platform)
        return None


def check_memory(config: TrainConfig, n_seeds: int, envs) -> None:
    """ValueError, before allocating, when the run would need more than half of this machine's memory."""
    need, have = memory_estimate(config, n_seeds, envs), _physical_memory()
    if have is not None and need > have // 2:
        raise ValueError(f"this run needs about {need / 2**30:.1f} GiB (n_traj={config.n_traj}, "
                         f"hidden={list(config.hidden)}, {n_seeds} seed(s)), more than half of this machine's "
                         f"{have / 2**30:.1f} GiB; lower n_traj or hidden")


@dataclass
class _StepStats:
    """What one iteration logs per active seed: the first step's pseudo-loss, ‖∇‖ and mean entropy."""

    losses: list
    norms: list
    entropies: list


def _record(state: _Seeds, it: int, active, batches, solved, steps: _StepStats, wall_s: float, callback, policy):
    """One History row per active seed; then the stop rule (solved, diverged or out of budget)."""
    for j, (k, batch) in enumerate(zip(active, batches)):
        history = state.histories[k]
        rets = batch.returns()
        n = len(rets)
        history.append(iteration=it, mean_return=float(rets.mean()),
                       stderr_return=float(rets.std() / math.sqrt(n)) if n > 1 else 0.0,
                       recent_return=float(np.mean(state.windows[k])), env_steps=state.steps[k],
                       wall_s=wall_s, loss=steps.losses[j], grad_norm=steps.norms[j], entropy=steps.entropies[j])
        if callback is not None:
            callback(k, it, batch, history, policy.module(k))
        if solved[j]:
            history.solved = True
        if solved[j] or history.diverged or state.over_budget(k, it):
            state.training[k] = False


def _show_progress(bar, state: _Seeds, active) -> None:
    if bar is not None:
        bar.update(1)
        best = max(state.histories[k].mean_return[-1] for k in active)
        bar.set_postfix(ret=f"{best:.1f}", seeds=int(state.training.sum()))


@dataclass
class _Padded:
    """The active seeds' batches stacked as (K, N, T, ...) tensors, T the longest horizon among them
    (zeros after each batch's own end): built once per iteration for the update and the value fit."""

    index: Tensor
    obs: Tensor
    act: Tensor
    mask: Tensor
    length: int

    @classmethod
    def of(cls, active: list[int], batches: list[Batch]) -> "_Padded":
        length = max(b.horizon for b in batches)
        return cls(torch.tensor(active), _pad([b.obs for b in batches], length), _pad([b.act for b in batches], length),
                   _pad([b.mask for b in batches], length), length)


def _update(config, weighting: BatchWeights, policy, optimizer, padded: _Padded, batches, solved, histories, it,
            on_step, active, value=None) -> _StepStats:
    """``weighting.steps`` gradient steps on one batch per active seed, all seeds in one backward pass.

    Each step: the log-probabilities of every seed's batch (padded to the longest), the weights
    ``weighting.weights(step, …)`` per seed, the per-seed pseudo-losses, then one optimizer step for
    the seeds still stepping. A seed that reached the target takes no step (the policy kept is the
    one that sampled the batch), nor does one whose weights are all zero (the batch carries no
    signal) or whose loss or gradient is not finite (it stops, ``history.diverged`` says why).
    histories: the active seeds' Histories, in the order of ``batches``.
    """
    index, obs, act = padded.index, padded.obs, padded.act
    sub = copy.copy(policy)
    with torch.no_grad():
        values = value_subset(value, index)(obs) if value is not None else None
    stats = _StepStats([math.nan] * len(batches), [math.nan] * len(batches), [])
    stepping = torch.tensor([not s for s in solved])
    for step in range(weighting.steps):
        sub.params = {name: p[index] for name, p in policy.params.items()}
        if step == 0:
            logp, ent = sub.log_prob_and_entropy(obs, act)
            logp_old = logp.detach()
            stats.entropies = [float(ent[j, :, :b.horizon][b.mask].mean()) for j, b in enumerate(batches)]
        else:
            logp = sub.log_prob(obs, act)
        weights = _step_weights(weighting, step, active, batches, logp, logp_old, values, it, on_step)
        # seed j's pseudo-loss −(1/N) Σ_i Σ_t log π(a_{i,t}|s_{i,t}) w_{i,t}, on its own (N, T_j) batch
        loss_j = torch.stack([pg_pseudo_loss(logp[j, :, :b.horizon], w, b.mask)
                              for j, (b, w) in enumerate(zip(batches, weights))])
        if step == 0:
            stats.losses = [float(x) for x in loss_j.detach()]
        where = f"at iteration {it}" + (f", step {step}" if weighting.steps > 1 else "")
        _stop_non_finite(stepping, loss_j.detach(), "loss", histories,
                         f"{where} (lr={config.lr}, optimizer={config.optimizer})")
        if step == 0:
            # no signal, no step: all-zero weights give a zero gradient, and Adam would still move
            silent = torch.tensor([not bool(w.ne(0).any()) for w in weights])
            for j in torch.nonzero(stepping & silent).flatten().tolist():
                stats.norms[j] = 0.0
            stepping &= ~silent
        if not bool(stepping.any()):
            break
        norm = _gradient_step(policy, optimizer, index, stepping, loss_j)
        _stop_non_finite(stepping, norm, "gradient norm", histories, f"{where} (lr={config.lr})")
        which = torch.zeros(policy.k, dtype=torch.bool)
        which[index[stepping]] = True
        optimizer.step(which)
        if step == 0:
            for j in torch.nonzero(stepping).flatten().tolist():
                stats.norms[j] = float(norm[j])
    return stats


def _step_weights(weighting: BatchWeights, step: int, active, batches, logp, logp_old, values, it, on_step):
    """Every active seed's (N, T_j) weights for this step (and the on_step hook)."""
    weights = []
    for j, b in enumerate(batches):
        lp, lp_old = logp[j, :, :b.horizon].detach(), logp_old[j, :, :b.horizon]
        weights.append(weighting.weights(step, b, lp, lp_old, None if values is None else values[j, :, :b.horizon]))
        if on_step is not None:
            on_step(active[j], it, step, b, lp, lp_old)
    return weights


def _stop_non_finite(stepping: Tensor, values: Tensor, what: str, histories: list[History], where: str) -> None:
    """Seeds whose loss or gradient norm is NaN or infinite stop stepping, with the reason in history.diverged."""
    for j in torch.nonzero(stepping).flatten().tolist():
        if not math.isfinite(float(values[j])):
            histories[j].diverged = f"training diverged: the {what} became {float(values[j])} {where}; use a smaller lr"
            stepping[j] = False


def _gradient_step(policy, optimizer, index: Tensor, stepping: Tensor, loss_j: Tensor) -> Tensor:
    """Backward through the stepping seeds' losses; returns ‖∇‖ per active seed (the caller steps)."""
    optimizer.zero_grad()
    torch.where(stepping, loss_j, torch.zeros(())).sum().backward()
    grads = [p.grad[index].reshape(len(index), -1) for p in policy.parameters()]
    return torch.linalg.vector_norm(torch.cat(grads, 1), dim=1)


def _fit_values(config, value, value_opt, padded: _Padded, batches, solved) -> None:
    """The value baseline's regression on this iteration's reward-to-go, for the seeds that did not stop."""
    fit = torch.zeros(value.k, dtype=torch.bool)
    fit[padded.index[torch.tensor([not s for s in solved])]] = True
    targets = _pad([b.reward_to_go(config.gamma) for b in batches], padded.length)
    fit_value(value, value_opt, padded.index, fit, padded.obs, targets, padded.mask, config.value_steps)


def value_subset(value: ValueStack, index: Tensor):
    """V_{φ_k} for the copies in index: obs (len(index), ...) -> values."""
    sub = copy.copy(value)
    sub.params = {name: p.detach()[index] for name, p in value.params.items()}
    return sub


def fit_value(value: ValueStack, optimizer: StackedOptimizer, index: Tensor, fit: Tensor, obs: Tensor,
              targets: Tensor, mask: Tensor, steps: int) -> None:
    """``steps`` Adam steps per copy on the masked mean squared error (V_φ(s) − Q̂)² (ValueBaseline.fit)."""
    count = mask.sum((1, 2)).clamp(min=1)
    for _ in range(steps):
        sub = copy.copy(value)
        sub.params = {name: p[index] for name, p in value.params.items()}
        err = torch.where(mask, sub(obs) - targets, torch.zeros(()))
        loss = err.pow(2).sum((1, 2)) / count
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step(fit)
