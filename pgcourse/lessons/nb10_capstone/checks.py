"""Checkers for notebook 10's exercises: normalised advantages, a configuration that solves CartPole, and a
prediction of the bias of discounted reward-to-go weights for the undiscounted J.

Taught in notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from pgcourse import stats
from pgcourse._validate import check_positive_int
from pgcourse.baselines import normalise
from pgcourse.config import TrainConfig
from pgcourse.seeds import train_seeds
from pgcourse.ui.checks import CheckResult, check_function, report

from .measure import discounted_expected_gradient, patience_mdp

__all__ = ["check_normalised_advantages", "CONFIG_SEEDS", "CONFIG_NEEDED", "CONFIG_ENV_STEPS",
           "check_config_solves", "DISCOUNT_GAMMAS", "discount_bias_reference", "check_discount_bias"]


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
                          verbose=verbose)


CONFIG_SEEDS = tuple(range(6))
CONFIG_NEEDED = 4
CONFIG_ENV_STEPS = 50_000


def check_config_solves(make_config, max_env_steps: int = CONFIG_ENV_STEPS, seeds=CONFIG_SEEDS,
                        needed: int = CONFIG_NEEDED, verbose: bool = True) -> CheckResult:
    """make_config() (or a TrainConfig) must reach a mean return of 475 on CartPole-v1 within
    max_env_steps environment steps on at least ``needed`` of the seeds.

    Trains replace(config, target_return=475, max_env_steps=max_env_steps) on all seeds at once
    (ONE train_seeds call); a seed whose loss diverges counts as not solved. A verdict over several
    seeds with a margin, not the luck of one seed: TrainConfig() reaches 475 within 50k env steps on
    29 of the 30 seeds 0–29 (tests/test_nb10_capstone.py), so "4 of 6" passes it on any CPU with room
    to spare, while the plainest REINFORCE solves none.
    """
    name = "config_solves"

    def verdict(passed, message):
        return report(CheckResult(name, passed, message), verbose)

    seeds = tuple(int(s) for s in seeds)
    if not 1 <= needed <= len(seeds):
        raise ValueError(f"needed must be between 1 and len(seeds)={len(seeds)}, got {needed!r}")
    try:
        config = make_config() if callable(make_config) else make_config
    except NotImplementedError:
        return verdict(False, "not implemented yet (raised NotImplementedError)")
    except Exception as err:  # the reader's code may fail in any way
        return verdict(False, f"making the config raised {type(err).__name__}: {err}")
    if not isinstance(config, TrainConfig):
        return verdict(False, f"expected a pgcourse.TrainConfig, got {type(config).__name__}")
    if config.env_id != "CartPole-v1":
        return verdict(False, f"the task is CartPole-v1, the config has env_id={config.env_id!r}")
    budget = check_positive_int("max_env_steps", max_env_steps)
    _, histories = train_seeds(replace(config, target_return=475.0, max_env_steps=budget), seeds, progress=False)
    solved = [bool(h.solved) and not h.diverged for h in histories]
    k = sum(solved)
    where = f"{k} of the {len(seeds)} seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    if k >= needed:
        steps = stats.steps_to_target(histories, budget)
        return verdict(True, f"reaches a mean return of 475 within {budget:,} env steps on {where} (needs "
                            f"{needed}); median {stats.format_k(steps.median())} env steps")
    reasons = []
    for seed, h, ok in zip(seeds, histories, solved):
        if ok:
            continue
        if h.diverged:
            why = "diverged (NaN loss): lower lr"
        elif h.env_steps[-1] < budget:
            why = f"stopped after its {config.iterations} iterations, recent mean return {h.final_return:.0f}"
        else:
            why = f"used up {budget:,} env steps, recent mean return {h.final_return:.0f}"
        reasons.append(f"seed {seed}: not solved — {why}")
    more = f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
    return verdict(False, f"reaches 475 within {budget:,} env steps on only {where} (needs {needed}). "
                         + "; ".join(reasons[:3]) + more + ". Turn on the ingredients that help (or raise iterations)")


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
    return check_function("discount_bias", fn, discount_bias_reference, cases, atol=1e-6, rtol=1e-6, verbose=verbose)
