"""REINFORCE, the notes' algorithm box as one loop (§3, "the REINFORCE algorithm"):

    repeat:
        1. sample {τ_i}, i = 1…N, from π_θ(a_t|s_t)                      (run the policy)
        2. ∇J(θ) ≈ (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}     (the weights w, then the pseudo-loss)
        3. θ ← θ + α ∇J(θ)                                              (one optimizer step)

The weights w_{i,t} are the return R(τ_i) or the reward-to-go Q̂_{i,t}, minus a baseline, optionally
normalised (pgcourse/weights.py, notebooks 03, 06 and 07). Read ``train`` from top to bottom: it is
the whole algorithm. Notebook 03 has the reader write the same loop; pgcourse/seeds/ trains K seeds
at once with the same arithmetic (a test holds it equal to this loop).
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from .baselines import ValueBaseline
from .batch import Batch, make_vector_env, sample_batch
from .config import TrainConfig, merge_config
from .history import History
from .policies import make_policy
from .runs import Interrupt, batch_seed, check_memory, make_optimizer, progress_bar, single_thread
from .weights import BatchWeights, batch_weights

__all__ = ["train", "Callback", "StepHook"]

Callback = Callable[[int, Batch, History, nn.Module], None]
"""callback(iteration, batch, history, policy): after each batch's update and record."""
StepHook = Callable[[int, int, Batch, Tensor, Tensor], None]
"""on_step(iteration, step, batch, logp, logp_old): before each of a batch's gradient steps (also when
the step is then not taken: target reached, all-zero weights)."""


def train(config: TrainConfig | None = None, progress: bool | None = None, callback: Callback | None = None,
          on_step: StepHook | None = None, weighting: BatchWeights | None = None,
          **overrides) -> tuple[nn.Module, History]:
    """θ ← θ + α ĝ,  ĝ = (1/N) Σ_i Σ_t ∇θ log π_θ(a_{i,t}|s_{i,t}) w_{i,t}: REINFORCE; returns ``(policy, history)``.

    ``train(TrainConfig(n_traj=32))`` or ``train(n_traj=32)``. progress: a tqdm bar (None = auto).
    callback(iteration, batch, history, policy) after each batch; on_step(iteration, step, batch, logp,
    logp_old) before each gradient step (logp_old: the sampling policy's log-probabilities, detached).
    weighting: the weights and pseudo-loss of each gradient step, the loop's one extension point
    (pgcourse/weights.py; default ``batch_weights(config)``).
    Stops when the mean return of the last max(16, N) finished episodes reaches config.target_return
    (before stepping on that batch, so the policy kept is the one that earned it), when the budget is
    spent, or after Ctrl-C/SIGTERM (``history.interrupted``). Raises ValueError for a bad config and
    when the loss or gradient becomes NaN or infinite (lower the learning rate).
    Taught in notebooks/03_reinforce.ipynb.
    """
    config = merge_config(config, overrides)
    weighting = batch_weights(config) if weighting is None else weighting
    with single_thread(), Interrupt() as interrupt:
        envs = make_vector_env(config.env_id, config.n_traj)      # N copies: one per trajectory
        try:
            return _loop(config, envs, weighting, interrupt, progress, callback, on_step)
        finally:
            envs.close()


def _loop(config, envs, weighting, interrupt, progress, callback, on_step):
    """Set up θ (and V_φ), then per iteration: sample → weights → pseudo-loss → step → value fit → record → stop."""
    check_memory(config, 1, envs)
    with torch.random.fork_rng(devices=[]):                  # the initial θ (and φ) come from the seed alone
        torch.manual_seed(config.seed)
        policy = make_policy(envs.single_observation_space, envs.single_action_space, config.policy,
                             config.hidden, log_std_init=config.log_std_init)
        value = (ValueBaseline(envs.single_observation_space.shape[0], config.hidden, config.value_lr,
                               config.value_steps) if config.baseline == "value" else None)
    optimizer = make_optimizer(policy.parameters(), config.optimizer, config.lr)
    history, recent = History(), collections.deque(maxlen=max(16, config.n_traj))
    env_steps, start, bar = 0, time.perf_counter(), progress_bar(config.iterations, progress)
    for it in range(config.iterations):
        if interrupt.signal is not None:                      # Ctrl-C or SIGTERM: stop between iterations
            break
        # 1. sample N trajectories with the current policy
        batch = sample_batch(envs, policy, seed=batch_seed(config.seed, it))
        recent.extend(batch.returns().tolist())
        env_steps += batch.n_steps
        solved = reached(recent, config.target_return)        # checked before any step on this batch
        values = None if value is None else value(batch.obs).detach()   # V_φ(s_{i,t}), fitted on earlier batches
        # 2. the weights w_{i,t}, then the pseudo-loss −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) w_{i,t}: its gradient is −ĝ
        logp = policy.log_prob(batch.obs, batch.act)          # (N, T), with gradients
        logp_old = logp.detach()                              # the policy that sampled the batch
        if on_step is not None:
            on_step(it, 0, batch, logp_old, logp_old)
        weights = weighting.weights(0, batch, logp_old, logp_old, values)
        step_loss = weighting.loss(logp, weights, batch.mask)
        loss, norm = float(step_loss.detach()), math.nan
        with torch.no_grad():
            entropy = float(policy.entropy(batch.obs)[batch.mask].mean())
        if not solved and not bool(weights.ne(0).any()):     # no signal, no step (Adam would still move θ)
            norm = 0.0
        elif not solved:                                      # (solved: keep the policy that sampled the batch)
            for step in range(weighting.steps):               # one step, unless the weighting reuses the batch
                if step > 0:                                  # reuse (notebook 08): θ has moved since the batch
                    logp = policy.log_prob(batch.obs, batch.act)
                    if on_step is not None:
                        on_step(it, step, batch, logp.detach(), logp_old)
                    weights = weighting.weights(step, batch, logp.detach(), logp_old, values)
                    step_loss = weighting.loss(logp, weights, batch.mask)
                # 3. θ ← θ + α ĝ: one step of the optimizer on the pseudo-loss
                _finite(float(step_loss.detach()), "loss", it, step, config)
                optimizer.zero_grad()
                step_loss.backward()
                step_norm = _finite(_grad_norm(policy), "gradient norm", it, step, config)
                optimizer.step()
                norm = step_norm if step == 0 else norm
        if value is not None and not solved:                  # fit V_φ after use: a batch never baselines itself
            value.fit(batch.obs, batch.reward_to_go(config.gamma), batch.mask)
        rets = batch.returns()
        history.append(iteration=it, mean_return=float(rets.mean()),
                       stderr_return=float(rets.std() / math.sqrt(len(rets))) if len(rets) > 1 else 0.0,
                       recent_return=float(np.mean(recent)), env_steps=env_steps,
                       wall_s=time.perf_counter() - start, loss=loss, grad_norm=norm, entropy=entropy)
        if callback is not None:
            callback(it, batch, history, policy)
        bar.update(1)
        bar.set_postfix(ret=f"{history.mean_return[-1]:.1f}")
        history.solved = solved
        if solved or (config.max_env_steps is not None and env_steps >= config.max_env_steps):
            break
    bar.close()
    if interrupt.signal is not None:
        history.interrupted, history.interrupt_signal = True, interrupt.signal
    return policy.eval(), history


def reached(recent, target: float | None) -> bool:
    """The stop rule: at least 16 finished episodes, and the mean of the last max(16, N) ≥ target."""
    return target is not None and len(recent) >= 16 and float(np.mean(recent)) >= target


def _grad_norm(module: nn.Module) -> float:
    """‖∇‖ over every parameter's .grad, as one vector."""
    return float(torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in module.parameters()])))


def _finite(x: float, what: str, it: int, step: int, config: TrainConfig) -> float:
    """x, or the ValueError that says training diverged and where."""
    if not math.isfinite(x):
        where = f"at iteration {it}" + (f", step {step}" if config.steps_per_batch > 1 else "")
        raise ValueError(f"training diverged: the {what} became {x} {where} "
                         f"(lr={config.lr}, optimizer={config.optimizer}); use a smaller lr")
    return x
