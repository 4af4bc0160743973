"""Checkers for notebook 09's exercises: the pseudo-loss, the notes' pseudo-code in PyTorch, and a prediction of
what multiplying every weight by c does to the loss, its gradient, an SGD step and Adam's steps.

Taught in notebooks/09_implementing_policy_gradients.ipynb.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pgcourse.estimators import pg_pseudo_loss
from pgcourse.ui.checks import CheckResult, call_reader, check_function, check_loss, report
from pgcourse.ui.mistakes import NOTES_LOSS, PSEUDO_LOSS_ANY_PADDING, PSEUDO_LOSS_STEPS

__all__ = ["pseudo_loss_reference", "check_pseudo_loss", "notes_pg_loss_reference", "check_notes_pg_loss",
           "SCALING_KEYS", "SCALING_FACTORS", "scaling_reference", "check_scaling_prediction"]


def _pseudo_loss_cases():
    gen = torch.Generator().manual_seed(9)
    cases = []
    for n, t in ((1, 1), (2, 3), (3, 5), (4, 7)):
        logp = (-torch.rand(n, t, generator=gen, dtype=torch.float64) * 2).round(decimals=2)
        weights = (torch.randn(n, t, generator=gen, dtype=torch.float64) * 3).round(decimals=2)
        mask = torch.ones(n, t, dtype=torch.bool)
        if t > 2:  # trajectories of different lengths: padding at the end
            lengths = torch.randint(1, t + 1, (n,), generator=gen)
            lengths[0] = t
            mask = torch.arange(t)[None, :] < lengths[:, None]
            # padding holds anything: here log π = −inf (an impossible action), which multiplying by the mask
            # turns into NaN (−inf · 0); the weights' padding is finite junk, so the right gradient stays finite
            logp = torch.where(mask, logp, torch.full_like(logp, -math.inf))
            weights = torch.where(mask, weights, torch.full_like(weights, 7.0))
        for reduction in ("trajectories", "steps"):
            cases.append(((logp, weights, mask), {"reduction": reduction}))
    return cases


def pseudo_loss_reference(logp, weights, mask, reduction="trajectories"):
    """−(1/N) Σ_i Σ_t logp·w ("trajectories", pgcourse) or −(1/Σ_i T_i) Σ_i Σ_t logp·w ("steps", the notes'
    reduce_mean over the real steps), weights detached."""
    loss = pg_pseudo_loss(logp, weights, mask)
    if reduction == "steps":
        loss = loss * logp.shape[0] / mask.sum()
    elif reduction != "trajectories":
        raise ValueError(f"reduction must be 'trajectories' or 'steps', got {reduction!r}")
    return loss


def _by_reduction():
    """The pseudo-loss mistakes of each reduction, each applied only to the cases of its reduction."""
    def only(reduction, wrong):
        def applies(*args, **kwargs):
            if kwargs.get("reduction", "trajectories") != reduction:
                raise ValueError("another reduction")
            return wrong(*args)
        return applies
    return ([(why, only("trajectories", wrong)) for why, wrong in PSEUDO_LOSS_ANY_PADDING]
            + [(why, only("steps", wrong)) for why, wrong in PSEUDO_LOSS_STEPS])


def check_pseudo_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logp, weights, mask, reduction) = −(1/D) Σ_i Σ_t logp_{i,t} · weights_{i,t} over the real steps,
    weights detached; D = N for reduction="trajectories", D = Σ_i T_i (the number of real steps) for "steps".

    Compares the value and the gradient with respect to logp (−weights/D on real steps, 0 on padding)
    with pseudo_loss_reference, and checks that no gradient flows into the weights (they are constants).
    """
    return check_loss("pseudo_loss", fn, pseudo_loss_reference, _pseudo_loss_cases(), atol=1e-8, rtol=1e-6,
                      verbose=verbose, mistakes=_by_reduction())


def notes_pg_loss_reference(logits, actions, q_values):
    """The notes' pseudo-code: mean over the N·T rows of softmax cross-entropy(logits, actions) · Q̂.

    logits (M, A), actions (M,) int64, q_values (M, 1) as in the notes; returns a scalar.
    """
    negative_likelihoods = F.cross_entropy(logits, actions, reduction="none")     # (M,)
    return (negative_likelihoods * q_values.reshape(-1)).mean()


def _notes_cases():
    gen = torch.Generator().manual_seed(10)
    cases = []
    for m, a in ((1, 2), (3, 2), (6, 3), (10, 4)):
        logits = torch.randn(m, a, generator=gen, dtype=torch.float64).round(decimals=2)
        actions = torch.randint(0, a, (m,), generator=gen)
        q_values = (torch.rand(m, 1, generator=gen, dtype=torch.float64) * 20).round(decimals=1)
        cases.append(((logits, actions, q_values), {}))
    return cases


def check_notes_pg_loss(fn, verbose: bool = True) -> CheckResult:
    """fn(logits (M, A), actions (M,), q_values (M, 1)) = (1/M) Σ_j −log softmax(logits_j)[a_j] · Q̂_j."""
    return check_function("notes_pg_loss", fn, notes_pg_loss_reference, _notes_cases(), atol=1e-8, rtol=1e-6,
                          verbose=verbose, mistakes=NOTES_LOSS)


SCALING_KEYS = ("loss", "gradient", "sgd_step", "adam_steps")
"""What check_scaling_prediction asks about: the pseudo-loss's value, its gradient, the length of one SGD step,
and how far a few Adam steps (ε = 0) move θ."""
SCALING_FACTORS = (0.1, 0.5, 2.0, 10.0, 1000.0)
"""The factors c > 0 at which check_scaling_prediction asks for the prediction."""


def scaling_reference(c):
    """Every weight times c > 0: L, ∇L and SGD's step α∇L scale by c; Adam's steps m̂/√v̂ (ε = 0) do not change."""
    return {"loss": c, "gradient": c, "sgd_step": c, "adam_steps": 1.0}


SCALING_HINTS = {
    "loss": "L = −(1/N) Σ_i Σ_t log π · w is linear in the weights",
    "gradient": "∇L is the derivative of L, and differentiation is linear",
    "sgd_step": "SGD's step is α∇L with α fixed",
    "adam_steps": "Adam's step is α m̂/(√v̂ + ε), with ε = 0 here: m̂ averages gradients and v̂ their squares",
}
"""What a wrong factor is told: a hint, never the factor (a predict-then-check exercise)."""


def check_scaling_prediction(fn, verbose: bool = True) -> CheckResult:
    """fn(c) -> {"loss", "gradient", "sgd_step", "adam_steps"}: the factor by which each changes when every
    weight is multiplied by c > 0, asked at the five c of SCALING_FACTORS; reports the first wrong entry."""
    name = "scaling_prediction"
    for c in SCALING_FACTORS:
        got, failure = call_reader(name, fn, c, stub=f"not implemented yet ({name}({c}) raised NotImplementedError)")
        if failure is not None:
            return report(failure, verbose)
        if not isinstance(got, dict) or any(k not in got for k in SCALING_KEYS):
            return report(CheckResult(name, False, f"{name}({c}) returned {got!r}; expected a dict with the keys "
                                      + ", ".join(repr(k) for k in SCALING_KEYS)), verbose)
        for key, expected in scaling_reference(c).items():
            try:
                value = float(got[key])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):  # a float32 answer is right too
                return report(CheckResult(name, False, f"{name}({c})[{key!r}] = {got[key]!r} is not right. "
                                          f"Hint: {SCALING_HINTS[key]}"), verbose)
    return report(CheckResult(name, True, f"all {len(SCALING_FACTORS)} factors c match, for all four quantities"),
                  verbose)
