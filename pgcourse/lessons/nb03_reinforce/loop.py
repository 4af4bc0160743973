"""Notebook 03: the REINFORCE loop the reader writes, and what the notebook does with it.

The reader's loop has the signature of ``reference_reinforce``: ``reinforce(policy, optimizer, env,
config, weights_fn, watch=None)``. Sampling is given (``sample_batch`` with ``batch_seed``); the reader
writes the stop rule, the weights, the pseudo-loss and the gradient step. ``train_your_loop`` trains
CartPole with it over several seeds, exactly as ``pgcourse.train`` sets a run up (same initial
weights, optimizer and weights), so a correct loop gives pgcourse.train's runs batch for batch.
Taught in notebooks/03_reinforce.ipynb.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from pgcourse.batch import make_vector_env, sample_batch
from pgcourse.config import TrainConfig
from pgcourse.history import History
from pgcourse.policies import make_policy
from pgcourse.reinforce import train
from pgcourse.runs import batch_seed, make_optimizer, single_thread
from pgcourse.seeds import over_seed_groups, train_seeds
from pgcourse.weights import policy_weights

__all__ = ["reference_reinforce", "initial_policy", "YourRuns", "NO_SIGNAL", "FAILING_ITERATIONS", "train_your_loop"]


def reference_reinforce(policy, optimizer, env, config, weights_fn, watch=None):
    """The notes' REINFORCE box: per iteration, sample N trajectories, stop if solved, weigh, step.

    weights_fn(batch) -> (N, T) weights w_{i,t} (padded steps may hold anything, and the weights may
    carry gradients: detach them). watch(it, batch) is called after each batch is sampled.
    Stops before stepping on the batch with which the last max(16, N) finished episodes' mean return
    reaches config.target_return (never when it is None). Returns the policy.
    """
    recent = collections.deque(maxlen=max(16, config.n_traj))      # the last finished episodes' returns
    for it in range(config.iterations):
        batch = sample_batch(env, policy, seed=batch_seed(config.seed, it))   # 1. sample {τ_i} from π_θ
        recent.extend(batch.returns().tolist())
        if watch is not None:
            watch(it, batch)
        # the stop rule, before any step on this batch: the policy kept is the one that earned the target
        if config.target_return is not None and len(recent) >= 16 and np.mean(recent) >= config.target_return:
            break
        weights = weights_fn(batch)                                       # 2. w_{i,t}
        logp = policy.log_prob(batch.obs, batch.act)                      #    log π_θ(a_{i,t}|s_{i,t})
        terms = torch.where(batch.mask, logp * weights.detach(), torch.zeros(()))
        loss = -terms.sum() / batch.n_traj                                #    L = −(1/N) Σ_i Σ_t log π · w
        optimizer.zero_grad()                                             # 3. θ ← θ + α ĝ
        loss.backward()
        optimizer.step()
    return policy


def initial_policy(config: TrainConfig, env) -> nn.Module:
    """The policy pgcourse.train starts from for config.seed (same architecture, same initial weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return make_policy(env.single_observation_space, env.single_action_space, config.policy, config.hidden,
                           log_std_init=config.log_std_init)


@dataclass
class YourRuns:
    """What ``train_your_loop`` returns: one trained policy and one History per seed (mean return and
    environment steps of every sampled batch; the loop reports no loss or gradient norm, so those are
    NaN), whose loop trained them ("yours", or "pgcourse.train" when the reader's loop was not written
    yet), and per seed the first batch at which the run leaves pgcourse.train's (None: it never does)
    with the reason."""

    seeds: list[int]
    policies: list[nn.Module]
    histories: list[History]
    trained_by: str
    departures: list[tuple[int, str] | None]

    def summary(self) -> str:
        solved = sum(h.solved for h in self.histories)
        if self.trained_by != "yours":
            return f"{self.trained_by} (your loop is not written yet): {solved}/{len(self.seeds)} seeds reached the target"
        same = sum(d is None for d in self.departures)
        lines = [f"your loop: {solved}/{len(self.seeds)} seeds reached the target; "
                 f"{same}/{len(self.seeds)} runs are pgcourse.train's run, batch for batch"]
        reasons: dict[str, list[str]] = {}
        for s, d in zip(self.seeds, self.departures):
            if d is not None:
                reasons.setdefault(d[1], []).append(f"seed {s} at batch {d[0]}")
        lines += [f"  {', '.join(where)} leave{'s' if len(where) == 1 else ''} pgcourse.train's run: {why}"
                  for why, where in reasons.items()]
        return "\n".join(lines)


NO_SIGNAL = ("the batch before it had all-zero weights (every episode lasted equally long, so Q̂ − b_t = 0): "
             "pgcourse.train takes no step on such a batch, while Adam, given a zero gradient, still moves θ "
             "along its momentum")


OTHER_NUMBERS = ("your loop computes other numbers from here on: check_reinforce_loop says whether it is right "
                 "(a right loop can still round differently, e.g. with .mean() for the 1/N sum)")


def _departure(yours: History, your_policy: nn.Module, train_history: History,
               train_policy: nn.Module) -> tuple[int, str] | None:
    """The first batch from which the reader's run is not pgcourse.train's, and why (None: the same run,
    every batch's return and the final weights equal). A batch whose weights are all zero (grad_norm 0 in
    train's history) is where a plain loop parts from train: it steps, train does not; the returns can stay
    equal for a while after it (they are whole numbers), so the weights are compared too."""
    skipped = next((it for it, g in enumerate(train_history.grad_norm) if g == 0.0), None)
    differ = next((it for it, (a, b) in enumerate(zip(yours.mean_return, train_history.mean_return)) if a != b), None)
    same_weights = all(torch.equal(p, q) for p, q in zip(your_policy.state_dict().values(),
                                                         train_policy.state_dict().values()))
    if skipped is not None and (differ is None or skipped < differ) and not same_weights:
        return skipped + 1, NO_SIGNAL
    if differ is not None:
        return differ, OTHER_NUMBERS
    if len(yours) != len(train_history):
        return min(len(yours), len(train_history)), "the runs stopped at different batches"
    if not same_weights:
        return len(yours), "the returns are the same, but the final weights differ: " + OTHER_NUMBERS.split(": ", 1)[1]
    return None


def _run(reinforce: Callable, config: TrainConfig) -> tuple[nn.Module, History]:
    """One seed through the reader's loop, set up as pgcourse.train sets it up; the History from watch."""
    env = make_vector_env(config.env_id, config.n_traj)
    try:
        policy = initial_policy(config, env)
        optimizer = make_optimizer(policy.parameters(), config.optimizer, config.lr)
        history, recent, steps = History(), collections.deque(maxlen=max(16, config.n_traj)), [0]

        def watch(it, batch):
            rets = batch.returns()
            recent.extend(rets.tolist())
            steps[0] += batch.n_steps
            history.append(iteration=it, mean_return=float(rets.mean()),
                           stderr_return=float(rets.std() / math.sqrt(len(rets))), recent_return=float(np.mean(recent)),
                           env_steps=steps[0], wall_s=math.nan, loss=math.nan, grad_norm=math.nan, entropy=math.nan)

        with single_thread():
            policy = reinforce(policy, optimizer, env, config, lambda batch: policy_weights(batch, config), watch)
        target = config.target_return
        history.solved = bool(target is not None and len(recent) >= 16 and np.mean(recent) >= target)
        return policy.eval(), history
    finally:
        env.close()


FAILING_ITERATIONS = 40
"""A loop that fails its check trains for at most this many iterations per seed (a loop without a stop rule
would otherwise run all of config.iterations on 500-step episodes)."""


def train_your_loop(reinforce: Callable, seeds, config: TrainConfig | None = None,
                    check: Callable | None = None) -> YourRuns:
    """Train one policy per seed with the reader's ``reinforce`` (weights: policy_weights(batch, config)).

    config: the defaults with target_return 475 unless given. If the loop is not written yet
    (NotImplementedError), the same runs come from ``pgcourse.train`` instead, and a line says so.
    check: the loop's checker (``check_reinforce_loop``), run quietly first; a loop that fails it trains anyway,
    to show what the mistake does, for at most FAILING_ITERATIONS iterations, and one line says so.
    """
    config = TrainConfig(target_return=475, iterations=200) if config is None else config
    seeds = list(seeds)
    if check is not None:
        verdict = check(reinforce, verbose=False)
        if not verdict.passed and "not implemented" not in verdict.message:
            config = replace(config, iterations=min(config.iterations, FAILING_ITERATIONS))
            print(f"your reinforce fails its check ({verdict.message}); these runs use it anyway, for at most "
                  f"{config.iterations} iterations per seed")
    policies, histories, by = [], [], "yours"
    try:  # seed by seed through the reader's loop; the seeds split over the cores (each run is the same alone)
        for group in over_seed_groups(lambda group: [_run(reinforce, replace(config, seed=s)) for s in group], seeds):
            policies += [policy for policy, _ in group]
            histories += [history for _, history in group]
    except NotImplementedError:
        by = "pgcourse.train"
    if by != "yours":
        print("Your reinforce is not written yet (NotImplementedError): these runs come from pgcourse.train, "
              "the same loop; write the exercise above and run this cell again to train with yours.")
        policies, histories = zip(*(train(replace(config, seed=s), progress=False) for s in seeds))
        policies, histories = list(policies), list(histories)
    departures = [None] * len(seeds)
    if by == "yours":  # pgcourse.train's runs for these seeds, from one call of the K-seed engine (the same runs)
        train_policies, trains = train_seeds(config, seeds, progress=False)
        departures = [_departure(h, p, t, q) for h, p, t, q in zip(histories, policies, trains, train_policies)]
    return YourRuns(seeds, policies, histories, by, departures)
