"""The mistakes the exercises' prompts warn about, each as the wrong function it leads to, with what to say.

A checker that finds the reader's result on a failing case equal to one of these (and the right answer
different) names the mistake instead of only printing numbers: ``check_function(..., mistakes=...)``.
Each catalogue below belongs to one kind of exercise and is used by every notebook that asks for it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from pgcourse.returns import _lag_discounts, reward_to_go

__all__ = ["Mistake", "REWARD_TO_GO", "PSEUDO_LOSS", "PSEUDO_LOSS_ANY_PADDING", "PSEUDO_LOSS_STEPS", "TOTAL_RETURN_WEIGHTS",
           "MEAN_BASELINE", "NORMALISED", "NOTES_LOSS"]

Mistake = tuple[str, Callable]
"""(what the reader is told, the function that mistake computes, called like the reference)."""


def _real(x, mask):
    return x if mask is None else torch.where(mask, x, torch.zeros((), dtype=x.dtype))


def _rtg_from_start(rew, mask=None, gamma=1.0):
    rew = _real(rew, mask)
    powers = torch.tensor(gamma, dtype=torch.float64) ** torch.arange(rew.shape[-1], dtype=torch.float64)
    return _real(reward_to_go(rew * powers.to(rew.dtype), None, 1.0), mask)


def _rtg_after_t(rew, mask=None, gamma=1.0):
    full = reward_to_go(_real(rew, mask), None, gamma)
    return _real(full - _real(rew, mask), mask)


def _rtg_one_lag_too_many(rew, mask=None, gamma=1.0):
    return _real(gamma * reward_to_go(_real(rew, mask), None, gamma), mask)


def _rtg_past(rew, mask=None, gamma=1.0):
    rew = _real(rew, mask)
    return _real(rew @ _lag_discounts(rew.shape[-1], float(gamma), rew.dtype).T, mask)  # Σ_{t'≤t} γ^{t−t'} r_{t'}


def _rtg_total(rew, mask=None, gamma=1.0):
    rew = _real(rew, mask)
    return _real(reward_to_go(rew, None, gamma)[..., :1].expand_as(rew), mask)


def _rtg_unmasked(rew, mask=None, gamma=1.0):
    return reward_to_go(rew, None, gamma)


def _rtg_padding_summed(rew, mask=None, gamma=1.0):
    return _real(reward_to_go(rew, None, gamma), mask)


REWARD_TO_GO: list[Mistake] = [
    ("your sum discounts by γ^{t'}, from the episode's start; the reward-to-go discounts by γ^{t'−t}, from the "
     "current step t", _rtg_from_start),
    ("your sum starts at t + 1; the reward-to-go includes r_t itself", _rtg_after_t),
    ("your discount is one power too many: r_t itself has weight γ⁰ = 1", _rtg_one_lag_too_many),
    ("you summed the rewards up to t; the reward-to-go sums from t to the end", _rtg_past),
    ("you gave every step the whole return R(τ); the reward-to-go leaves out the rewards before t", _rtg_total),
    ("padded steps change your result: padded rewards count as 0, and padded entries of the result are 0 "
     "(apply the mask)", _rtg_unmasked),
    ("padded rewards are in your sums: set them to 0 before summing (torch.where(mask, rew, 0))",
     _rtg_padding_summed),
]
"""Q̂_{i,t} = Σ_{t'≥t} γ^{t'−t} r_{i,t'}: reference ``pgcourse.returns.reward_to_go(rew, mask, gamma)``."""


def _n(logp):
    return logp.shape[0]


def _loss_sign(logp, weights, mask, *rest, **kwargs):
    return (_real(logp * weights.detach(), mask)).sum() / _n(logp)


def _loss_over_nt(logp, weights, mask, *rest, **kwargs):
    return -(_real(logp * weights.detach(), mask)).sum() / logp.numel()


def _loss_over_steps(logp, weights, mask, *rest, **kwargs):
    return -(_real(logp * weights.detach(), mask)).sum() / mask.sum()


def _loss_over_n(logp, weights, mask, *rest, **kwargs):
    return -(_real(logp * weights.detach(), mask)).sum() / _n(logp)


def _loss_unmasked(logp, weights, mask, *rest, **kwargs):
    return -(logp * weights.detach()).sum() / _n(logp)


def _loss_times_mask(logp, weights, mask, *rest, **kwargs):
    return -(logp * weights.detach() * mask).sum() / _n(logp)


_MASK_TIMES_INF = ("padding holds −inf here (it may hold anything), and −inf · 0 = NaN: multiplying by the mask "
                   "does not remove it; select the real steps instead (torch.where(mask, …, 0) or logp[mask])")
_OVER_STEPS = ("you divided by a number of steps (N·T, or the real steps Σ_i T_i); the estimator divides by N, "
               "the number of trajectories")
_SIGN = "the sign is flipped: minimising L must climb J, so L = −(1/N) Σ_i Σ_t log π · w"
_UNMASKED = "padded steps change your result: leave them out (they may hold anything)"

PSEUDO_LOSS: list[Mistake] = [
    (_SIGN, _loss_sign),
    (_OVER_STEPS, _loss_over_nt),
    (_OVER_STEPS, _loss_over_steps),
    (_UNMASKED, _loss_unmasked),
]
"""L = −(1/N) Σ_i Σ_t log π(a_{i,t}|s_{i,t}) · w_{i,t} over the real steps (logp, weights, mask). Where the
padding is finite, multiplying by the mask is right; PSEUDO_LOSS_ANY_PADDING adds the case where it is not."""

PSEUDO_LOSS_ANY_PADDING: list[Mistake] = [(_MASK_TIMES_INF, _loss_times_mask), *PSEUDO_LOSS]
"""PSEUDO_LOSS for a prompt whose padding "may hold anything" (notebook 09 pads log π with −inf)."""

PSEUDO_LOSS_STEPS: list[Mistake] = [
    ("the sign is flipped: minimising L must climb J, so L = −(1/Σ_i T_i) Σ_i Σ_t log π · w",
     lambda logp, weights, mask, *rest, **kw: -_loss_over_steps(logp, weights, mask)),
    ("you divided by N·T, padding included; reduction='steps' divides by the number of real steps Σ_i T_i",
     _loss_over_nt),
    ("you divided by N, the number of trajectories; reduction='steps' divides by the number of real steps Σ_i T_i",
     _loss_over_n),
    (_MASK_TIMES_INF, lambda logp, weights, mask, *rest, **kw: -(logp * weights.detach() * mask).sum() / mask.sum()),
    (_UNMASKED, lambda logp, weights, mask, *rest, **kw: -(logp * weights.detach()).sum() / mask.sum()),
]
"""The same loss divided by the number of real steps (notebook 09's reduction="steps")."""


def _weights_rtg(rew, mask):
    return reward_to_go(rew, mask)


def _weights_unmasked(rew, mask):
    return rew.sum(1, keepdim=True).expand_as(rew).clone()


def _weights_padding_summed(rew, mask):
    return _real(rew.sum(1, keepdim=True).expand_as(rew), mask)


TOTAL_RETURN_WEIGHTS: list[Mistake] = [
    ("you used the reward-to-go; these weights are the whole return R(τ_i) at every step", _weights_rtg),
    ("padded steps change your result: padded rewards count as 0 and padded weights are 0 (apply the mask)",
     _weights_unmasked),
    ("padded rewards are in your R(τ_i): set them to 0 before summing (torch.where(mask, rew, 0))",
     _weights_padding_summed),
]
"""w_{i,t} = R(τ_i) on every real step, 0 on padding (rew, mask)."""


def _baseline_over_n(rtg, mask):
    return _real(rtg, mask).sum(0) / rtg.shape[0]


def _baseline_unmasked(rtg, mask):
    return rtg.mean(0)


MEAN_BASELINE: list[Mistake] = [
    ("you divided by N, every trajectory; b_t averages over the n_t trajectories still running at t", _baseline_over_n),
    ("padded steps count in your mean: b_t averages Q̂_{i,t} over the trajectories still running at t only",
     _baseline_unmasked),
]
"""b_t = mean of Q̂_{i,t} over the trajectories running at t, (T,): ``time_mean_baseline(rtg, mask)``."""


def _normalised_population(adv, mask=None, eps=1e-8):
    mask = torch.ones_like(adv, dtype=torch.bool) if mask is None else mask
    valid = adv[mask]
    return _real((adv - valid.mean()) / (valid.std(correction=0) + eps), mask)


def _normalised_unmasked(adv, mask=None, eps=1e-8):
    return _real((adv - adv.mean()) / (adv.std() + eps), mask)


NORMALISED: list[Mistake] = [
    ("you used the population std (dividing by n); torch.std's default, used here, divides by n − 1 (Bessel's "
     "correction)", _normalised_population),
    ("padded steps count in your mean and std: take both over the real steps only (adv[mask])",
     _normalised_unmasked),
]
"""(A − mean A)/(std A + 1e-8) over the real steps, 0 on padding: ``pgcourse.baselines.normalise``."""


def _notes_broadcast(logits, actions, q_values):
    return (F.cross_entropy(logits, actions, reduction="none") * q_values).mean()


def _notes_negated(logits, actions, q_values):
    return -(F.cross_entropy(logits, actions, reduction="none") * q_values.reshape(-1)).mean()


def _notes_summed(logits, actions, q_values):
    return (F.cross_entropy(logits, actions, reduction="none") * q_values.reshape(-1)).sum()


NOTES_LOSS: list[Mistake] = [
    ("Q̂ has shape (M, 1) and the likelihoods (M,): their product broadcasts to an (M, M) table; reshape Q̂ to "
     "(M,) first (q_values.reshape(-1))", _notes_broadcast),
    ("the sign is flipped: the loss averages −log π(a_j|s_j) · Q̂_j (cross_entropy already returns −log π)",
     _notes_negated),
    ("you summed over the M rows; the notes' reduce_mean averages them", _notes_summed),
]
"""(1/M) Σ_j cross_entropy(logits_j, a_j) · Q̂_j with Q̂ of shape (M, 1), as the notes' pseudo-code has it."""
