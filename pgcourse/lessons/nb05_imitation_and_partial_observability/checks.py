"""Exercise checkers of notebooks/05_imitation_and_partial_observability.ipynb, and of its prediction of what a
2-frame stack determines."""

from __future__ import annotations

import numpy as np
import torch

from pgcourse.envs import hide_velocities, stack_two_frames
from pgcourse.ui.checks import CheckResult, call_reader, check_function, report
from .imitation import bc_loss
from .partial_observability import STACK_QUANTITIES, computable_from_stack

__all__ = ["check_hide_velocities", "check_stack_two_frames", "check_bc_loss", "check_stack_prediction"]


def check_hide_velocities(fn, verbose: bool = True) -> CheckResult:
    """fn(obs) -> (x, θ) from CartPole's (x, ẋ, θ, θ̇), for one observation or any batch of them."""
    rng = np.random.default_rng(5)
    cases = [((np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32),), {}),
             ((rng.normal(size=(8, 4)).astype(np.float32),), {}),
             ((rng.normal(size=(3, 7, 4)).astype(np.float32),), {})]
    return check_function("hide_velocities", fn, hide_velocities, cases, verbose=verbose)


def check_stack_two_frames(fn, verbose: bool = True) -> CheckResult:
    """fn(obs) with obs (T, d) one episode -> (T, 2d) = (o_{t-1}, o_t), o_{-1} = o_0."""
    rng = np.random.default_rng(7)
    cases = [((np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),), {}),
             ((rng.normal(size=(6, 2)),), {}),
             ((rng.normal(size=(1, 2)),), {}),
             ((rng.normal(size=(5, 3)),), {})]
    return check_function("stack_two_frames", fn, stack_two_frames, cases, verbose=verbose)


def check_bc_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logp, mask) -> −(1/N) Σ_i Σ_t mask_{i,t} log π(a_{i,t}|s_{i,t}), a scalar."""
    g = torch.Generator().manual_seed(5)
    logp = -torch.rand(4, 6, generator=g) * 2
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    mask[3, 2:] = False
    cases = [((torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]), torch.ones(2, 2, dtype=torch.bool)), {}),
             ((logp, torch.ones(4, 6, dtype=torch.bool)), {}),
             ((logp, mask), {})]
    return check_function("bc_loss", fn, bc_loss, cases, verbose=verbose)


def check_stack_prediction(fn, verbose: bool = True) -> CheckResult:
    """fn(quantity) -> True if a 2-frame stack (x_{t-1}, θ_{t-1}, x_t, θ_t) determines ``quantity`` exactly, else
    False, for each name in STACK_QUANTITIES (the prediction is checked against Euler's update rule)."""
    name = "computable_from_stack"
    for quantity in STACK_QUANTITIES:
        got, failure = call_reader(name, fn, quantity, stub="not implemented yet: return True or False for each quantity")
        if failure is not None:
            return report(failure, verbose)
        if not isinstance(got, (bool, np.bool_)):
            return report(CheckResult(name, False, f"{name}({quantity!r}) returned {got!r}; return True or False"),
                          verbose)
        if bool(got) != computable_from_stack(quantity):
            hint = ("CartPole's Euler step is x_t = x_{t-1} + τ·ẋ_{t-1}: which velocity does a difference of two "
                    "positions give?" if bool(got) else
                    "the difference of two positions divided by τ is a velocity: which one?")
            return report(CheckResult(name, False, f"your prediction for {quantity} is {bool(got)}. Hint: {hint}"),
                          verbose)
    return report(CheckResult(name, True, f"all {len(STACK_QUANTITIES)} predictions match what the stack "
                                          "determines"), verbose)
