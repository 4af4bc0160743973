"""Checkers for notebooks/03_reinforce.ipynb: the REINFORCE loop, the REINFORCE weights, the pseudo-loss, and a
prediction about the leave-one-out baseline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from pgcourse.batch import Batch, make_vector_env, sample_batch
from pgcourse.config import TrainConfig
from pgcourse.returns import reward_to_go
from pgcourse.runs import batch_seed, single_thread
from pgcourse.ui.checks import CheckResult, check_function, check_loss, report
from pgcourse.ui.mistakes import PSEUDO_LOSS, TOTAL_RETURN_WEIGHTS

from .loop import initial_policy

__all__ = ["reference_reinforce_weights", "check_reinforce_weights", "reference_pseudo_loss", "check_pseudo_loss",
           "reference_leave_one_out_factor", "check_leave_one_out_factor", "LOOP_CONFIG", "LOOP_MISTAKES",
           "check_reinforce_loop"]


def _padded_batch(n: int, horizon: int, seed: int):
    """rew (N, T) and a mask whose rows are real for a random number of leading steps (≥ 1)."""
    g = torch.Generator().manual_seed(seed)
    rew = torch.randn(n, horizon, generator=g)
    lengths = torch.randint(1, horizon + 1, (n,), generator=g)
    lengths[0] = horizon  # at least one full-length trajectory
    mask = torch.arange(horizon)[None, :] < lengths[:, None]
    return rew, mask


def reference_reinforce_weights(rew, mask):
    """w_{i,t} = R(τ_i) = Σ_{t'} r_{i,t'} for every real step t of trajectory i, 0 on padding. (N, T)."""
    rew = torch.where(mask, rew, torch.zeros(()))
    return torch.where(mask, rew.sum(1, keepdim=True).expand_as(rew), torch.zeros(()))


def check_reinforce_weights(fn, verbose: bool = True) -> CheckResult:
    """fn(rew, mask) -> (N, T): the notes' REINFORCE weights, the total return broadcast over t."""
    cases = [((torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[True, True, True]])), {}),
             ((torch.tensor([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]]), torch.tensor([[True, True, False], [True, False, False]])), {}),
             ((torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]]), torch.tensor([[True, True, True], [True, False, False]])), {}),
             (_padded_batch(4, 6, seed=0), {}),
             (_padded_batch(8, 10, seed=1), {})]
    # padding holds garbage (not zeros) in the last case: a masked step must never count
    rew, mask = _padded_batch(5, 7, seed=2)
    cases.append(((torch.where(mask, rew, torch.full((), 9.0)), mask), {}))
    return check_function("reinforce_weights", fn, reference_reinforce_weights, cases, verbose=verbose,
                          mistakes=TOTAL_RETURN_WEIGHTS)


def reference_pseudo_loss(logp, weights, mask):
    """L(θ) = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) · w_{i,t}, masked steps left out, weights detached."""
    terms = torch.where(mask, logp * weights.detach(), torch.zeros((), dtype=logp.dtype))
    return -terms.sum() / logp.shape[0]


def _loss_cases():
    cases = []
    for seed, (n, horizon) in enumerate([(1, 3), (2, 3), (3, 4), (8, 12)]):
        g = torch.Generator().manual_seed(100 + seed)
        logp = (-torch.rand(n, horizon, generator=g) * 2.0).round(decimals=2)   # short numbers, easy to read
        weights = (torch.randn(n, horizon, generator=g) * 5.0).round(decimals=2)
        _, mask = _padded_batch(n, horizon, seed=200 + seed)
        if (n, horizon) == (2, 3):  # a small case whose second trajectory ends after one step
            mask = torch.tensor([[True, True, True], [True, False, False]])
        cases.append(((logp, weights, mask), {}))
    return cases


def check_pseudo_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logp, weights, mask) -> scalar L with ∇_logp L = −w/N on real steps and no gradient into the weights."""
    return check_loss("pseudo_loss", fn, reference_pseudo_loss, _loss_cases(), verbose=verbose, mistakes=PSEUDO_LOSS)


def reference_leave_one_out_factor(n):
    """c_N = N/(N − 1): R_i − (1/(N−1)) Σ_{j≠i} R_j = N/(N−1) · (R_i − (1/N) Σ_j R_j), so ĝ_LOO = c_N ĝ_mean."""
    return n / (n - 1)


def check_leave_one_out_factor(fn, verbose: bool = True) -> CheckResult:
    """fn(n) -> the number c with ĝ_LOO = c · ĝ_mean for every batch of n ≥ 2 trajectories, for six n."""
    cases = [((n,), {}) for n in (2, 3, 4, 8, 10, 100)]
    return check_function("leave_one_out_factor", fn, reference_leave_one_out_factor, cases, atol=1e-9, rtol=1e-6,
                          verbose=verbose, hint="write Σ_{j≠i} R_j = N·R̄ − R_i, put it into R_i − (1/(N−1)) Σ_{j≠i} "
                                            "R_j, and collect the terms in R_i and R̄")


# --- the REINFORCE loop --------------------------------------------------------------------------------------

LOOP_LR = 0.05
"""The checker steps with plain SGD, θ ← θ − α ∇L, so that every mistake moves θ by a different amount
(Adam's first step hides a rescaled loss: notebook 09)."""


@dataclass
class _Trace:
    """What the reader's loop did, seen from outside: each sampled batch with θ before its step, the
    weights weights_fn returned per iteration, and θ at the end."""

    batches: list = field(default_factory=list)
    before: list = field(default_factory=list)
    weights_calls: dict = field(default_factory=dict)
    final: list | None = None


def _params(policy) -> list[torch.Tensor]:
    return [p.detach().clone() for p in policy.parameters()]


def _loop_setup(config: TrainConfig):
    env = make_vector_env(config.env_id, config.n_traj)
    return env, initial_policy(config, env)


def _checker_weights(policy, batch):
    """The weights the checker hands the loop: (Q̂ − 20)/10, garbage (7.0) on padded steps, and attached to θ
    (value w, gradient w ∇log π, as importance weights are): a loop must mask and detach them."""
    base = torch.where(batch.mask, (reward_to_go(batch.rew, batch.mask) - 20.0) / 10.0, torch.full((), 7.0))
    logp = policy.log_prob(batch.obs, batch.act)
    return base * torch.exp(logp - logp.detach())


def _trace(reinforce: Callable, config: TrainConfig) -> _Trace:
    """Run the reader's loop with the checker's SGD, weights and watch; record what it did."""
    env, policy = _loop_setup(config)
    optimizer = torch.optim.SGD(policy.parameters(), lr=LOOP_LR)
    trace = _Trace()

    def weights_fn(batch):
        trace.weights_calls[len(trace.batches) - 1] = trace.weights_calls.get(len(trace.batches) - 1, 0) + 1
        return _checker_weights(policy, batch)

    def watch(it, batch):
        trace.batches.append(Batch(*(t.clone() for t in (batch.obs, batch.act, batch.rew, batch.mask,
                                                         batch.terminated, batch.truncated))))
        trace.before.append(_params(policy))

    try:
        with single_thread():
            reinforce(policy, optimizer, env, config, weights_fn, watch)
    finally:
        env.close()
    trace.final = _params(policy)
    return trace


def _candidate_steps(policy, batch, grad_before) -> dict[str, list[torch.Tensor]]:
    """θ after one SGD step from policy's θ for the right pseudo-loss and for each typical mistake."""
    n = batch.n_traj

    def grads(make_loss):
        policy.zero_grad()
        make_loss().backward()
        return [p.grad.detach().clone() for p in policy.parameters()]

    def loss(mask=True, detach=True, sign=1.0, denominator=None):
        w = _checker_weights(policy, batch)
        w = w.detach() if detach else w
        logp = policy.log_prob(batch.obs, batch.act)
        terms = torch.where(batch.mask, logp * w, torch.zeros(())) if mask else logp * w
        return -sign * terms.sum() / (n if denominator is None else denominator)

    right = grads(loss)
    steps = {"right": right,
             "sign": grads(lambda: loss(sign=-1.0)),
             "mask": grads(lambda: loss(mask=False)),
             "detach": grads(lambda: loss(detach=False)),
             "steps": grads(lambda: loss(denominator=batch.n_steps)),
             "cells": grads(lambda: loss(denominator=batch.rew.numel())),
             "zero_grad": [g + h for g, h in zip(right, grad_before)] if grad_before is not None else None}
    theta = _params(policy)  # what torch.optim.SGD computes: θ.add_(g, alpha=−α)
    return {k: [t.add(g, alpha=-LOOP_LR) for t, g in zip(theta, v)] for k, v in steps.items() if v is not None}, right


def _same(a, b, tol: float = 1e-6) -> bool:
    return all(torch.allclose(x, y, atol=tol, rtol=1e-5) for x, y in zip(a, b))


LOOP_MISTAKES = {
    "sign": ("the pseudo-loss", "its sign is flipped: optimizers minimise, so L = −(1/N) Σ_i Σ_t log π · w "
                                "carries the minus, and L's gradient is −ĝ"),
    "mask": ("the pseudo-loss", "padded steps enter your sum: keep only real steps "
                                "(torch.where(batch.mask, logp * weights, 0))"),
    "detach": ("the pseudo-loss", "a gradient flows into the weights: they are constants of the step, "
                                  "use weights.detach()"),
    "steps": ("the pseudo-loss", "you divided by the number of real steps Σ_i T_i; the estimator divides by N"),
    "cells": ("the pseudo-loss", "you divided by N·T (a .mean() over the padded (N, T) array); the estimator "
                                 "divides by N"),
    "zero_grad": ("the gradient step", "the previous batch's gradient was still in .grad: call "
                                       "optimizer.zero_grad() before loss.backward()"),
}


def _first_difference(reinforce: Callable, config: TrainConfig) -> str | None:
    """Replay the reader's run with the reference and name the first part that differs (None: none)."""
    trace = _trace(reinforce, config)
    env, shadow = _loop_setup(config)
    try:
        grad_before = None
        if not trace.batches:
            return "sampling: your loop sampled no batch (keep the given sample_batch line and call watch)"
        for it, batch in enumerate(trace.batches):
            want = sample_batch(env, shadow, seed=batch_seed(config.seed, it))
            if batch.obs.shape != want.obs.shape or not (torch.equal(batch.obs, want.obs)
                                                         and torch.equal(batch.act, want.act)):
                return (f"sampling: batch {it} is not sample_batch(env, policy, seed=batch_seed(config.seed, {it})) "
                        "of the current policy; keep the given sampling line")
            after = trace.before[it + 1] if it + 1 < len(trace.batches) else trace.final
            if it + 1 == len(trace.batches) and it + 1 < config.iterations:
                return ("the stop rule: your loop stopped after batch "
                        f"{it} although config.target_return is {config.target_return}")
            if trace.weights_calls.get(it, 0) == 0:
                return f"the weights: iteration {it} never called weights_fn(batch); use w = weights_fn(batch)"
            candidates, right = _candidate_steps(shadow, batch, grad_before)
            if _same(after, trace.before[it]):
                return (f"the gradient step: θ did not change at iteration {it}; the order is "
                        "optimizer.zero_grad(), loss.backward(), optimizer.step()")
            if not _same(after, candidates["right"]):
                for key, (part, why) in LOOP_MISTAKES.items():
                    if key in candidates and _same(after, candidates[key]):
                        return f"{part} (iteration {it}): {why}"
                return (f"the gradient step: θ after iteration {it} is not one optimizer step on "
                        "L = −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) · w_{i,t} (zero_grad, backward, step, once each)")
            with torch.no_grad():  # go on from the reader's θ (equal to the reference's up to rounding)
                for p, q in zip(shadow.parameters(), after):
                    p.copy_(q)
            grad_before = right
        return None
    finally:
        env.close()


def _stop_difference(reinforce: Callable) -> str | None:
    """The stop rule on a run whose target is met as soon as 16 episodes are in (N = 4: at batch 3)."""
    config = replace(LOOP_CONFIG, target_return=0.0, iterations=8)
    trace = _trace(reinforce, config)
    n = len(trace.batches)
    if n < 4:
        return (f"the stop rule: your loop stopped after {4 * n} episodes; wait for at least 16 finished episodes "
                "(the last max(16, N) of them must average config.target_return)")
    if n > 4:
        return ("the stop rule: the last 16 episodes reached config.target_return after batch 3, but your loop "
                f"went on to batch {n - 1}")
    if not _same(trace.final, trace.before[-1]):
        return ("the stop rule: your loop stepped on the batch that reached the target; check the rule before "
                "the step, so that the policy kept is the one whose episodes earned it")
    return None


LOOP_CONFIG = TrainConfig(n_traj=4, iterations=5, hidden=(16,), seed=0)
"""The checker's run: CartPole-v1, N = 4, five iterations (20 episodes: a stop rule must cope with no target), a small network (fast)."""


def check_reinforce_loop(reinforce: Callable, verbose: bool = True) -> CheckResult:
    """Run the reader's reinforce(policy, optimizer, env, config, weights_fn, watch) beside the reference,
    iteration by iteration, and name the first part that differs: sampling, the weights, the pseudo-loss,
    the gradient step or the stop rule."""
    name = "reinforce"
    for run in (lambda: _first_difference(reinforce, LOOP_CONFIG), lambda: _stop_difference(reinforce)):
        try:
            problem = run()
        except NotImplementedError:
            return report(CheckResult(name, False, "not implemented yet (raised NotImplementedError)"), verbose)
        except TypeError as err:
            if "NoneType" in str(err):
                problem = ("the stop rule: config.target_return is None (no target) in this run, and your rule "
                           f"failed on it ({err}); stop only when a target is set")
            else:
                problem = f"your loop raised TypeError: {err}"
        except Exception as err:  # the reader's code may fail in any way; report it, don't crash
            problem = f"your loop raised {type(err).__name__}: {err}"
        if problem is not None:
            return report(CheckResult(name, False, problem), verbose)
    return report(CheckResult(name, True, "sampling, weights, pseudo-loss, gradient step and stop rule match the "
                                          "reference loop, step for step"), verbose)
