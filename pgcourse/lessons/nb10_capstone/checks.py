"""Checkers for notebook 10's exercises: normalised advantages; the capstone on Acrobot-v1 (the reader's own
reward-to-go, mean baseline and pseudo-loss, and a configuration that reaches gymnasium's threshold −100 within
10 iterations); and a prediction of the bias of discounted reward-to-go weights for the undiscounted J.

Taught in notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import torch

from pgcourse import stats
from pgcourse._validate import check_positive_int
from pgcourse.baselines import normalise, time_mean_baseline
from pgcourse.estimators import pg_pseudo_loss
from pgcourse.returns import reward_to_go
from pgcourse.config import TrainConfig
from pgcourse.seeds import train_seeds
from pgcourse.ui.checks import CheckResult, check_function, check_loss, report
from pgcourse.ui.mistakes import MEAN_BASELINE, NORMALISED, PSEUDO_LOSS, REWARD_TO_GO

from .measure import discounted_expected_gradient, patience_mdp

__all__ = ["check_normalised_advantages", "CONFIG_ENV_ID", "CONFIG_TARGET", "CONFIG_ITERATIONS", "CONFIG_ENV_STEPS",
           "CONFIG_SEEDS", "CONFIG_NEEDED", "check_acrobot_config", "check_my_reward_to_go", "check_my_mean_baseline",
           "check_my_pseudo_loss", "PIECE_CHECKS", "DISCOUNT_GAMMAS", "discount_bias_reference", "check_discount_bias"]


def _advantage_cases():
    gen = torch.Generator().manual_seed(11)
    cases = []
    for n, t in ((1, 4), (3, 1), (3, 6), (5, 9)):
        adv = torch.randn(n, t, generator=gen, dtype=torch.float64) * 40 + 100
        lengths = torch.randint(1, t + 1, (n,), generator=gen)
        lengths[0] = t
        mask = torch.arange(t)[None, :] < lengths[:, None]
        adv = torch.where(mask, adv, torch.full_like(adv, 1000.0))     # junk in the padding on purpose
        cases.append(((adv, mask), {}))
    return cases


def check_normalised_advantages(fn, verbose: bool = True) -> CheckResult:
    """fn(adv, mask) = (A − mean A) / (std A + 1e-8) over the real steps (std with Bessel's correction,
    torch.std's default), 0 on the padding — pgcourse.baselines.normalise."""
    return check_function("normalised_advantages", fn, normalise, _advantage_cases(), atol=1e-6, rtol=1e-6,
                          verbose=verbose, mistakes=NORMALISED)


# --- the capstone: a configuration for Acrobot-v1 --------------------------------------------------------

CONFIG_ENV_ID = "Acrobot-v1"
CONFIG_TARGET = -100.0
"""gymnasium's reward_threshold for Acrobot-v1 (gymnasium.spec("Acrobot-v1").reward_threshold)."""
CONFIG_ITERATIONS = 10
"""The design constraint: at most 10 iterations, i.e. 10 batches and so at most 10 gradient steps per seed."""
CONFIG_ENV_STEPS = 300_000
"""A cap on each seed's environment steps, so that the check stays short (N = 64 uses at most 184k)."""
CONFIG_SEEDS = tuple(range(5))
CONFIG_NEEDED = 4


def check_acrobot_config(make_config, seeds=CONFIG_SEEDS, needed: int = CONFIG_NEEDED,
                         iterations: int = CONFIG_ITERATIONS, max_env_steps: int = CONFIG_ENV_STEPS,
                         verbose: bool = True) -> CheckResult:
    """make_config() (or a TrainConfig) for Acrobot-v1 must reach a mean return of −100 (gymnasium's threshold)
    within ``iterations`` iterations (gradient steps) on at least ``needed`` of the seeds.

    Trains replace(config, target_return=−100, iterations=iterations, max_env_steps=max_env_steps) on all
    seeds at once (ONE train_seeds call); a seed whose loss diverges counts as not solved. For each seed that
    misses, the message says how far its recent mean return stayed from −100 and why, e.g. that every batch's
    episodes all hit the 500-step limit, so every weight was 0 and no step was taken. Measured
    (tests/test_nb10_capstone.py): TrainConfig(env_id="Acrobot-v1", n_traj=64) reaches −100 within 8
    iterations on each of the 30 seeds 0–29, while TrainConfig(env_id="Acrobot-v1") (N = 8) does within 10
    on 12 of them and on 1 of the check's seeds 0–4.
    """
    name = "acrobot_config"

    def verdict(passed, message):
        return report(CheckResult(name, passed, message), verbose)

    seeds = tuple(int(s) for s in seeds)
    if not 1 <= needed <= len(seeds):
        raise ValueError(f"needed must be between 1 and len(seeds)={len(seeds)}, got {needed!r}")
    iterations = check_positive_int("iterations", iterations)
    budget = check_positive_int("max_env_steps", max_env_steps)
    try:
        config = make_config() if callable(make_config) else make_config
    except NotImplementedError:
        return verdict(False, "not implemented yet (raised NotImplementedError)")
    except Exception as err:  # the reader's code may fail in any way
        return verdict(False, f"making the config raised {type(err).__name__}: {err}")
    if not isinstance(config, TrainConfig):
        return verdict(False, f"expected a pgcourse.TrainConfig, got {type(config).__name__}")
    if config.env_id != CONFIG_ENV_ID:
        return verdict(False, f"the task is {CONFIG_ENV_ID}, the config has env_id={config.env_id!r}")
    task = replace(config, target_return=CONFIG_TARGET, iterations=iterations, max_env_steps=budget)
    _, histories = train_seeds(task, seeds, progress=False)
    solved = [bool(h.solved) and not h.diverged for h in histories]
    k = sum(solved)
    where = f"{k} of the {len(seeds)} seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    goal = f"a mean return of {CONFIG_TARGET:.0f} within {iterations} iterations"
    if k >= needed:
        used = [len(h) for h, ok in zip(histories, solved) if ok]
        steps = [h.env_steps[-1] for h, ok in zip(histories, solved) if ok]
        return verdict(True, f"reaches {goal} on {where} (needs {needed}); median {statistics.median(used):g} "
                             f"iterations and {stats.format_k(statistics.median(steps))} env steps")
    reasons = []
    for seed, h, ok in zip(seeds, histories, solved):
        if ok:
            continue
        short = f"recent mean return {h.final_return:.0f}, {CONFIG_TARGET - h.final_return:.0f} short of {CONFIG_TARGET:.0f}"
        if h.diverged:
            why = "diverged (NaN loss): lower lr"
        elif h.env_steps[-1] >= budget and len(h) < iterations:
            why = (f"used up the {budget:,} env steps after {len(h)} iterations ({short}): a batch of N episodes "
                   f"of up to 500 steps costs up to 500·N, use a smaller N")
        elif all(g == 0 for g in h.grad_norm):
            why = (f"in all {len(h)} batches every episode ran to the 500-step limit, so every weight was 0 and no "
                   f"step was taken ({short})")
        else:
            why = f"after its {len(h)} iterations: {short}"
        reasons.append(f"seed {seed}: {why}")
    more = f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
    return verdict(False, f"reaches {goal} on only {where} (needs {needed}). " + "; ".join(reasons[:3]) + more
                   + ". A batch teaches nothing until one of its episodes reaches the bar: how likely is that "
                     "with N episodes per batch?")


# --- the capstone's pieces: reward-to-go (notebook 06), the per-step mean baseline (07), the pseudo-loss (09) ---

def _piece_cases():
    """(rew, mask) cases with ragged episodes and junk on the padding, float32 like a batch."""
    gen = torch.Generator().manual_seed(10)
    cases = []
    for n, t in ((1, 1), (2, 5), (3, 7), (4, 9)):
        rew = torch.randn(n, t, generator=gen)
        lengths = torch.randint(1, t + 1, (n,), generator=gen)
        lengths[0] = t
        mask = torch.arange(t)[None, :] < lengths[:, None]
        cases.append((torch.where(mask, rew, torch.full_like(rew, 7.0)), mask))
    return cases


def check_my_reward_to_go(fn, verbose: bool = True) -> CheckResult:
    """fn(rew, mask, gamma) = Q̂_{i,t} = Σ_{t'≥t} γ^{t'−t} r_{i,t'} on the real steps, 0 on the padding
    (pgcourse.returns.reward_to_go), for γ = 1, 0.9 and 0.5 on ragged batches with junk in the padding."""
    cases = [((rew.clone(), mask.clone(), gamma), {}) for rew, mask in _piece_cases() for gamma in (1.0, 0.9, 0.5)]
    return check_function("my_reward_to_go", fn, reward_to_go, cases, atol=1e-5, rtol=1e-5, verbose=verbose,
                          mistakes=REWARD_TO_GO)


def check_my_mean_baseline(fn, verbose: bool = True) -> CheckResult:
    """fn(rtg, mask) = b_t, the mean of Q̂_{i,t} over the trajectories still running at t, (T,), 0 where none
    runs (pgcourse.baselines.time_mean_baseline): a padded step must count neither in the sum nor in n_t."""
    cases = [((reward_to_go(rew, mask, 0.9), mask.clone()), {}) for rew, mask in _piece_cases()]
    for (rtg, mask), _ in cases:
        rtg[~mask] = 7.0                      # junk on the padding, to be ignored
    return check_function("my_mean_baseline", fn, time_mean_baseline, cases, atol=1e-5, rtol=1e-5, verbose=verbose,
                          mistakes=MEAN_BASELINE)


def check_my_pseudo_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logp, weights, mask) = −(1/N) Σ_i Σ_t logp_{i,t} · w_{i,t} over the real steps, weights detached
    (pgcourse.estimators.pg_pseudo_loss): the value, its gradient into logp, none into the weights."""
    gen = torch.Generator().manual_seed(9)
    cases = []
    for rew, mask in _piece_cases():
        logp = -torch.rand(rew.shape, generator=gen) * 2
        cases.append(((logp, torch.randn(rew.shape, generator=gen), mask.clone()), {}))
    return check_loss("my_pseudo_loss", fn, pg_pseudo_loss, cases, atol=1e-5, rtol=1e-5, verbose=verbose,
                      mistakes=PSEUDO_LOSS)


PIECE_CHECKS = {"rtg_fn": check_my_reward_to_go, "baseline_fn": check_my_mean_baseline, "loss_fn": check_my_pseudo_loss}
"""The checker of each of train_with_pieces' keywords (its ``check=`` argument)."""


DISCOUNT_GAMMAS = (1.0, 0.995, 0.9, 0.8, 0.79, 0.7, 0.5)
"""The discounts γ at which check_discount_bias asks for the prediction (2γ³ − 1 changes sign near 0.794)."""


def discount_bias_reference(gamma):
    """k(γ) with E[ĝ_γ] = k(γ) ∇J on ``patience_mdp()`` at the uniform policy, computed exactly (a sum over every
    trajectory): only the choice in state 0 matters, and E[ĝ_γ] there is π(1 − π)(γ³·2 − 1) against
    ∇J's π(1 − π)(2 − 1), so k(γ) = 2γ³ − 1."""
    mdp = patience_mdp()
    logits = torch.zeros(mdp.n_states, mdp.n_actions, dtype=torch.float64)
    return float(discounted_expected_gradient(mdp, logits, gamma)[0, 1] / mdp.gradient(logits)[0, 1])


def check_discount_bias(fn, verbose: bool = True) -> CheckResult:
    """fn(gamma) -> the factor k with E[ĝ_γ] = k ∇J (discounted reward-to-go weights, undiscounted J) on the
    patience MDP (take 1 now, or wait 3 steps for 2) at the uniform policy, for the seven γ of DISCOUNT_GAMMAS."""
    cases = [((g,), {}) for g in DISCOUNT_GAMMAS]
    return check_function("discount_bias", fn, discount_bias_reference, cases, atol=1e-6, rtol=1e-6, verbose=verbose,
                          hint="only the choice in the first state matters: with weights Q̂^γ, what is waiting worth "
                               "there (2, three steps later) and what is taking worth, and how does their difference "
                               "compare with ∇J's 2 − 1?")
