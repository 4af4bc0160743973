"""Exercise checkers of notebooks/05_imitation_and_partial_observability.ipynb."""

from __future__ import annotations

import numpy as np
import torch

from pgcourse.envs import hide_velocities, stack_two_frames
from pgcourse.ui.checks import CheckResult, check_function
from .imitation import bc_loss

__all__ = ["check_hide_velocities", "check_stack_two_frames", "check_bc_loss"]


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
