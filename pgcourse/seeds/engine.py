"""The K-seed engine: ``train_seeds`` trains one policy per seed, all at once, with the arithmetic of
``pgcourse.train`` (pgcourse/reinforce.py, the loop to read).

Per iteration, as in the readable loop: sample → stop check → weights and pseudo-loss → optimizer step →
value fit → record, for every seed still training. The K policies are stacked (pgcourse/seeds/stack.py)
and their K·N environments stepped as one vector env; each seed keeps its own Adam state and stopping
rule. tests/test_train_seeds.py holds ``train_seeds(config, [s])`` equal to ``train(config, seed=s)``.
This is speed machinery: nothing on the reading path imports it.
"""

from __future__ import annotations

import collections
import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .._validate import check_seed
from ..baselines import ValueBaseline
from ..batch import Batch, make_vector_env, rollout
from ..config import TrainConfig, merge_config
from ..history import History
from ..policies import make_policy
from ..reinforce import reached
from ..runs import Interrupt, batch_seed, check_memory, progress_bar, single_thread
from ..weights import BatchWeights, batch_weights
from .processes import auto_processes, can_fork, inside_group, over_seed_groups
from .stack import PolicyStack, StackedOptimizer, StackedUniform, ValueStack

__all__ = ["SeedCallback", "SeedStepHook", "train_seeds", "fit_value"]

SeedCallback = Callable[[int, int, Batch, "History", nn.Module], None]
"""train_seeds' callback(k, iteration, batch, history, policy); k indexes the seeds."""
SeedStepHook = Callable[[int, int, int, Batch, Tensor, Tensor], None]
"""train_seeds' on_step(k, iteration, step, batch, logp, logp_old)."""


def train_seeds(config: TrainConfig | None = None, seeds: Iterable[int] = range(10), progress: bool | None = None,
                callback: SeedCallback | None = None, on_step: SeedStepHook | None = None,
                weighting: BatchWeights | None = None, processes: int | None = None,
                **overrides) -> tuple[list[nn.Module], list[History]]:
    """Train one policy per seed, all at once; returns ``(policies, histories)``, one of each per seed.

    Seed s's run is ``config`` with ``seed=s``: its own initial weights, environments, action noise,
    optimizer state and stopping rule. The K = len(seeds) policies are stacked (pgcourse/seeds/stack.py)
    and their K·N environments stepped as one vector env; a seed that stops (target reached, budget
    spent, diverged) is dropped from sampling while the others go on. With one seed this is
    ``pgcourse.train(config, seed=s)`` bit for bit; with several, each seed's update runs on its own
    batch, so seed s takes the same steps as alone wherever the CPU's batched product (the rollout's
    one ``baddbmm`` for all K policies) rounds each slice as a lone product does. Where it does not
    (ATEN_CPU_CAPABILITY=default, some AVX-512 kernels), seeds drift apart from their lone runs in the
    last bits, as runs do across CPUs (tests/test_train_seeds.py). Compare statistics over seeds.
    A seed whose loss or gradient becomes NaN stops with ``history.diverged`` set to the reason
    (``train`` raises it as a ValueError).
    callback(k, iteration, batch, history, policy) after each of seed k's batches (k indexes seeds);
    on_step(k, iteration, step, batch, logp, logp_old) before each gradient step on seed k's batch.
    weighting: the weights of each gradient step on a batch (pgcourse/weights.py), the loop's one
    extension point; default ``batch_weights(config)``: one on-policy step, or ``steps_per_batch``
    steps with importance-weighted reuse.
    processes: how many processes share the seeds, each training a contiguous group of them
    (pgcourse/seeds/processes.py). None: one per usable core, at most 4 and at most K, where forking
    is possible (Linux) and nothing must run in this process: no callback, no on_step, no weighting of
    one's own (it may keep state), progress=False.
    The environment variable PGCOURSE_PROCESSES overrides None (1 turns it off). A group's seeds run
    exactly as that group would in one process, so the grouping moves numbers only where several
    seeds do (the batched product above).
    Taught in notebooks/03_reinforce.ipynb.
    """
    config = merge_config(config, overrides)
    seeds = [check_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, got none")
    n = _processes(processes, len(seeds), progress, callback, on_step, weighting)
    weighting = batch_weights(config) if weighting is None else weighting

    def run(group):
        with single_thread():
            return _train_seeds(config, group, progress, callback, on_step, weighting)

    runs = over_seed_groups(run, seeds, interrupted=lambda r: r[1][0].interrupt_signal, processes=n)
    return [p for policies, _ in runs for p in policies], [h for _, histories in runs for h in histories]


def _processes(processes, k: int, progress, callback, on_step, weighting) -> int:
    """How many processes train_seeds uses (see its docstring)."""
    if processes is not None:
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ValueError(f"processes must be a whole number ≥ 1, got {processes!r}")
        if processes > 1 and (callback is not None or on_step is not None or progress is not False):
            raise ValueError(f"processes={processes} needs progress=False and no callback or on_step "
                             "(they run in this process only); use processes=1")
        if processes > 1 and not can_fork():
            raise ValueError(f"processes={processes} needs os.fork (Linux); use processes=1")
        return 1 if inside_group() else min(processes, k)  # no processes of processes
    if callback is not None or on_step is not None or weighting is not None or progress is not False:
        return 1
    return auto_processes(k)


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
        return reached(self.windows[k], self.config.target_return)

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
        uniforms = StackedUniform(generators, (config.n_traj, envs.single_action_space.n), low=1e-12)

        def act(obs, blocks):
            key = tuple(blocks.tolist())
            if key not in views:
                views[key] = (policy.detached(torch.tensor([active[b] for b in key])), torch.as_tensor(blocks))
            view, index = views[key]
            u = uniforms.rand()
            return view.sample_with(obs, u if len(key) == len(active) else u[index], clamped=True)
    else:
        def act(obs, blocks):
            key = tuple(blocks.tolist())
            if key not in views:
                views[key] = policy.detached(torch.tensor([active[b] for b in key]))
            return views[key].sample(obs, [generators[b] for b in key])

    return rollout(envs, act, batch_seeds, config.n_traj)


def _train_seeds(config: TrainConfig, seeds, progress, callback, on_step, weighting: BatchWeights):
    """The training loop: per iteration, sample → stop check → weights and update → value fit → record.

    SIGINT or SIGTERM ends it after the current iteration: it returns what it has, each history marked
    ``interrupted`` (so ``train`` returns too, and the CLI saves the run before exiting 130 or 143)."""
    start = time.perf_counter()
    envs_cache: dict = {}
    state = _Seeds(config, seeds)
    bar = progress_bar(config.iterations, progress)
    with Interrupt() as interrupt:
        try:
            policy, value = _initial_stacks(config, seeds)
            optimizer = StackedOptimizer(policy.parameters(), config.optimizer, config.lr)
            value_opt = (StackedOptimizer(value.parameters(), "adam", config.value_lr) if value is not None else None)
            _loop(config, seeds, state, policy, value, optimizer, value_opt, envs_cache, bar, interrupt, start,
                  callback, on_step, weighting)
        finally:
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
        steps = _update(config, weighting, policy, optimizer, batches, solved,
                        [state.histories[k] for k in active], it, on_step, active, value)
        if value is not None:
            _fit_values(config, value, value_opt, active, batches, solved)
        _record(state, it, active, batches, solved, steps, time.perf_counter() - start, callback, policy)
        _show_progress(bar, state, active)


def _initial_stacks(config: TrainConfig, seeds):
    probe = make_vector_env(config.env_id, 1)  # for the observation and action spaces
    try:
        check_memory(config, len(seeds), probe)
        return _make_stacks(config, seeds, probe)
    finally:
        probe.close()


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
    bar.update(1)
    best = max(state.histories[k].mean_return[-1] for k in active)
    bar.set_postfix(ret=f"{best:.1f}", seeds=int(state.training.sum()))


def _update(config, weighting: BatchWeights, policy, optimizer, batches, solved, histories, it, on_step, active,
            value=None) -> _StepStats:
    """``weighting.steps`` gradient steps on one batch per active seed, all seeds in one backward pass.

    Each step: every seed's log-probabilities on its own (N, T_j) batch through its own copy of the
    network (``ParamStack.copy``: the single policy's arithmetic, so a seed steps exactly as it would
    alone), the weights ``weighting.weights(step, …)`` and pseudo-loss ``weighting.loss`` per seed, then
    one optimizer step for the seeds still stepping. A seed that reached the target takes no step (the
    policy kept is the one that sampled the batch), nor does one whose weights are all zero (the batch
    carries no signal) or whose loss or gradient is not finite (it stops, ``history.diverged`` says why).
    histories: the active seeds' Histories, in the order of ``batches``.
    """
    with torch.no_grad():
        values = None if value is None else [value.copy(k)(b.obs[None])[0] for k, b in zip(active, batches)]
    stats = _StepStats([math.nan] * len(batches), [math.nan] * len(batches), [])
    stepping = torch.tensor([not s for s in solved])
    for step in range(weighting.steps):
        views = [policy.copy(k) for k in active]
        if step == 0:
            pairs = [v.log_prob_and_entropy(b.obs[None], b.act[None]) for v, b in zip(views, batches)]
            logp = [lp[0] for lp, _ in pairs]
            logp_old = [lp.detach() for lp in logp]
            stats.entropies = [float(ent[0][b.mask].mean()) for (_, ent), b in zip(pairs, batches)]
        else:
            logp = [v.log_prob(b.obs[None], b.act[None])[0] for v, b in zip(views, batches)]
        weights = _step_weights(weighting, step, active, batches, logp, logp_old, values, it, on_step)
        # seed j's pseudo-loss −(1/N) Σ_i Σ_t log π(a_{i,t}|s_{i,t}) w_{i,t}, on its own (N, T_j) batch
        loss_j = torch.stack([weighting.loss(lp, w, b.mask) for lp, w, b in zip(logp, weights, batches)])
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
        norm = _gradient_step(policy, optimizer, active, stepping, loss_j)
        _stop_non_finite(stepping, norm, "gradient norm", histories, f"{where} (lr={config.lr})")
        which = torch.zeros(policy.k, dtype=torch.bool)
        which[torch.tensor(active)[stepping]] = True
        optimizer.step(which)
        if step == 0:
            for j in torch.nonzero(stepping).flatten().tolist():
                stats.norms[j] = float(norm[j])
    return stats


def _step_weights(weighting: BatchWeights, step: int, active, batches, logp, logp_old, values, it, on_step):
    """Every active seed's (N, T_j) weights for this step (and the on_step hook)."""
    weights = []
    for j, b in enumerate(batches):
        lp, lp_old = logp[j].detach(), logp_old[j]
        weights.append(weighting.weights(step, b, lp, lp_old, None if values is None else values[j]))
        if on_step is not None:
            on_step(active[j], it, step, b, lp, lp_old)
    return weights


def _stop_non_finite(stepping: Tensor, values: Tensor, what: str, histories: list[History], where: str) -> None:
    """Seeds whose loss or gradient norm is NaN or infinite stop stepping, with the reason in history.diverged."""
    for j in torch.nonzero(stepping).flatten().tolist():
        if not math.isfinite(float(values[j])):
            histories[j].diverged = f"training diverged: the {what} became {float(values[j])} {where}; use a smaller lr"
            stepping[j] = False


def _gradient_step(policy, optimizer, active: list[int], stepping: Tensor, loss_j: Tensor) -> Tensor:
    """Backward through the stepping seeds' losses; returns ‖∇‖ per active seed (the caller steps)."""
    optimizer.zero_grad()
    torch.where(stepping, loss_j, torch.zeros(())).sum().backward()
    return torch.stack([torch.linalg.vector_norm(torch.cat([p.grad[k].reshape(-1) for p in policy.parameters()]))
                        for k in active])


def _fit_values(config, value, value_opt, active, batches, solved) -> None:
    """The value baseline's regression on this iteration's reward-to-go, for the seeds that did not stop."""
    fits = [(k, b.obs, b.reward_to_go(config.gamma), b.mask) for k, b, s in zip(active, batches, solved) if not s]
    if fits:
        fit_value(value, value_opt, fits, config.value_steps)


def fit_value(value: ValueStack, optimizer: StackedOptimizer, fits, steps: int) -> None:
    """``steps`` Adam steps per copy k on the masked mean squared error (V_{φ_k}(s) − Q̂)²: for each
    (k, obs (N, T, d), targets (N, T), mask (N, T)) in fits, the arithmetic of ``ValueBaseline.fit``."""
    which = torch.zeros(value.k, dtype=torch.bool)
    which[[k for k, *_ in fits]] = True
    fits = [(k, obs[mask], targets[mask]) for k, obs, targets, mask in fits]     # real steps only
    for _ in range(steps):
        losses = [(value.copy(k)(obs[None])[0] - targets).pow(2).sum() / max(len(targets), 1)
                  for k, obs, targets in fits]
        optimizer.zero_grad()
        torch.stack(losses).sum().backward()
        optimizer.step(which)
