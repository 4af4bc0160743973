"""Checkers for notebook 10's exercises: normalised advantages, and a configuration that solves CartPole.

Taught in notebooks/10_capstone.ipynb.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..baselines import normalise
from ..implementing_policy_gradients import train_within
from ..train import TrainConfig
from . import CheckResult, check_function


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


def check_config_solves(make_config, max_env_steps: int = 40_000, seeds=(0, 1), verbose: bool = True) -> CheckResult:
    """make_config() (or a TrainConfig) must reach a mean return of 475 on CartPole-v1 within
    max_env_steps environment steps for every seed in seeds.

    Trains replace(config, seed=s, target_return=475) for each seed, stopped after max_env_steps
    (pgcourse.implementing_policy_gradients.train_within), with one torch thread (restored
    afterwards) so that the verdict is the same on any number of cores.
    """
    name = "config_solves"

    def report(passed, message):
        result = CheckResult(name, passed, message)
        if verbose:
            print(("✅ " if passed else "❌ ") + repr(result))
        return result

    try:
        config = make_config() if callable(make_config) else make_config
    except NotImplementedError:
        return report(False, "not implemented yet (raised NotImplementedError)")
    except Exception as err:  # the reader's code may fail in any way
        return report(False, f"making the config raised {type(err).__name__}: {err}")
    if not isinstance(config, TrainConfig):
        return report(False, f"expected a pgcourse.TrainConfig, got {type(config).__name__}")
    if config.env_id != "CartPole-v1":
        return report(False, f"the task is CartPole-v1, the config has env_id={config.env_id!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for seed in seeds:
            try:
                _, history = train_within(replace(config, seed=int(seed), target_return=475.0), max_env_steps)
            except ValueError as err:
                return report(False, f"seed {seed}: {err}")
            steps = history.env_steps[-1]
            if not history.solved:
                why = (f"stopped after its {config.iterations} iterations" if steps < max_env_steps
                       else f"used up {max_env_steps:,} env steps")
                return report(False, f"seed {seed}: not solved — {why} with a recent mean return of "
                                     f"{history.final_return:.0f}; turn on the ingredients that help "
                                     f"(or raise iterations)")
            if steps > max_env_steps:
                return report(False, f"seed {seed}: solved only after {steps:,} env steps (> {max_env_steps:,})")
    finally:
        torch.set_num_threads(threads)
    return report(True, f"reaches a mean return of 475 within {max_env_steps:,} env steps on seeds "
                        f"{', '.join(map(str, seeds))}")
