"""The weights w_{i,t} of the pseudo-loss −(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) w_{i,t}, and how the
trainer asks for them: the training loop's one extension point.

* ``policy_weights``: on-policy weights, the return or reward-to-go minus a baseline, optionally
  normalised (notebooks 03, 06, 07).
* ``reuse_weights``: the weights of a later gradient step on a batch the policy has since moved
  away from, with per-decision (or first-order) importance weights (notebook 08).
* ``BatchWeights``: what the trainer calls for every gradient step (its weights and its pseudo-loss);
  ``batch_weights(config)`` is the one ``TrainConfig`` describes (one on-policy step, or
  ``steps_per_batch`` steps with reuse). To change how the trainer weights its steps, pass your own
  ``BatchWeights`` to ``pgcourse.train`` (or ``pgcourse.seeds.train_seeds``).
* ``PieceWeights``: your own reward-to-go, baseline or pseudo-loss in place of pgcourse's (notebooks 06,
  07 and 09 train with the reader's pieces).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validate import check_choice
from .baselines import negligible, normalise, time_mean_baseline
from .batch import Batch
from .config import IMPORTANCE_WEIGHTS, TrainConfig
from .estimators import pg_pseudo_loss
from .returns import reward_to_go

__all__ = ["policy_weights", "reuse_weights", "BatchWeights", "ReuseWeights", "PieceWeights", "batch_weights"]


def policy_weights(batch: Batch, config: TrainConfig, values=None, *, rtg_fn=reward_to_go,
                   baseline_fn=time_mean_baseline) -> Tensor:
    """w_{i,t}: return or reward-to-go, minus the configured baseline, optionally normalised. (N, T).

    values: V_φ(s_{i,t}) as an (N, T) tensor, or a callable obs -> values (baseline="value").
    rtg_fn(rew, mask, gamma) -> (N, T) and baseline_fn(rtg, mask) -> (T,) compute Q̂ and the per-step
    mean b_t (pgcourse's by default; ``PieceWeights`` passes the reader's own).
    When the baseline removes everything (every trajectory has the same weights, as in a CartPole
    batch where all N episodes last 500 steps) the weights are exactly 0: what remains is float32
    rounding of the subtraction (about 1e-5), which normalising or Adam would blow up into a full step.
    """
    if config.weights == "total_return":
        raw = batch.returns(config.gamma)[:, None].expand_as(batch.rew)
    else:
        raw = rtg_fn(batch.rew, batch.mask, config.gamma)
    weights = raw
    if config.baseline == "mean":
        if config.weights == "total_return":
            weights = raw - raw[:, 0].mean()
        else:
            weights = raw - baseline_fn(raw, batch.mask)
    elif config.baseline == "value":
        if values is None:
            raise ValueError("config.baseline is 'value': pass values = V_φ(s) of shape (N, T)")
        with torch.no_grad():
            weights = raw - (values(batch.obs) if callable(values) else values)
    weights = torch.where(batch.mask, weights, torch.zeros(()))
    if config.baseline != "none" and negligible(weights, raw, batch.mask):
        return torch.zeros_like(weights)
    if config.normalise:
        weights = normalise(weights, batch.mask)
    return weights


def reuse_weights(batch: Batch, config: TrainConfig, logp_new: Tensor, logp_old: Tensor,
                  baseline_values: Tensor | None = None, weighting: str = "per_decision") -> Tensor:
    """w_{i,t} = Σ_{t'≥t} γ^{t'-t} r_{i,t'} c_{i,t'} − b_{i,t} c_{i,t},  c_{i,t} = Π_{t''≤t} π'(a_{t''}|s_{t''})/π(a_{t''}|s_{t''}).

    Per-decision importance weights for data sampled by π (logp_old) and the current policy π'
    (logp_new, detached): each reward is re-weighted by the ratio of everything that led to it, the
    baseline b_{i,t} (config.baseline: 0, the per-step mean b_t of the batch's Q̂, or
    ``baseline_values`` = V_φ(s_{i,t})) by the ratio of its own step, so a baseline fixed in advance
    stays unbiased (the per-step batch mean keeps its O(1/n_t) bias, as on-policy). Then normalised as
    in ``policy_weights`` if config.normalise (a heuristic: the mean it removes is not
    multiplied by c). When logp_new = logp_old every c is 1 and this equals
    ``policy_weights(batch, config, baseline_values)`` exactly (same float32 operations).
    batch: N trajectories; logp_new, logp_old: (N, T). Returns (N, T) float32.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb.
    """
    if config.weights != "reward_to_go":
        raise ValueError("reuse_weights uses per-decision importance weights, which need weights='reward_to_go' "
                         f"(got {config.weights!r})")
    mask = batch.mask
    check_choice("weighting", weighting, IMPORTANCE_WEIGHTS)
    log_rho = torch.where(mask, logp_new.detach() - logp_old.detach(), torch.zeros((), dtype=logp_new.dtype))
    log_c = log_rho.to(torch.float64)
    if weighting == "per_decision":
        log_c = log_c.cumsum(1)
    c = log_c.exp().to(batch.rew.dtype)  # 1.0 exactly where log ρ = 0
    if not torch.isfinite(c[mask]).all():
        raise ValueError("the importance weights overflowed: the policy moved too far from the one that sampled "
                         "the batch; use a smaller lr or fewer steps per batch")
    rtg = batch.reward_to_go(config.gamma)
    if weighting == "per_decision":
        weights = reward_to_go(batch.rew * c, mask, config.gamma)
    else:  # first order: ρ_t Q̂_t
        weights = rtg * c
    if config.baseline == "mean":
        weights = weights - time_mean_baseline(rtg, mask) * c
    elif config.baseline == "value":
        if baseline_values is None:
            raise ValueError("config.baseline is 'value': pass baseline_values = V_φ(s) of shape (N, T)")
        weights = weights - baseline_values * c
    weights = torch.where(mask, weights, torch.zeros(()))
    if config.baseline != "none" and negligible(weights, rtg, mask):
        return torch.zeros_like(weights)
    if config.normalise:
        weights = normalise(weights, mask)
    return weights


class BatchWeights:
    """The gradient steps the trainer takes on a batch: by default one on-policy step.

    ``steps``: gradient steps per batch. ``weights(step, batch, logp, logp_old, values)`` returns the
    (N, T) weights of step ``step`` (0 … steps − 1): logp are the current policy's log-probabilities
    (detached), logp_old those of the policy that sampled the batch, values V_φ(s) or None.
    ``loss(logp, weights, mask)`` is the pseudo-loss whose gradient the step follows. A subclass may
    change any of them; the loop itself knows nothing of reuse or importance sampling.
    """

    steps = 1

    def __init__(self, config: TrainConfig):
        self.config = config

    def weights(self, step: int, batch: Batch, logp: Tensor, logp_old: Tensor, values: Tensor | None) -> Tensor:
        return policy_weights(batch, self.config, values)

    def loss(self, logp: Tensor, weights: Tensor, mask: Tensor) -> Tensor:
        """−(1/N) Σ_i Σ_t log π_θ(a_{i,t}|s_{i,t}) w_{i,t} over real steps (``pg_pseudo_loss``)."""
        return pg_pseudo_loss(logp, weights, mask)


class ReuseWeights(BatchWeights):
    """``config.steps_per_batch`` steps per batch: on-policy weights first, then ``reuse_weights``
    with ``config.importance_weights`` as the policy moves away from the one that sampled the batch.
    Taught in notebooks/08_off_policy_importance_sampling.ipynb."""

    def __init__(self, config: TrainConfig):
        super().__init__(config)
        self.steps = config.steps_per_batch

    def weights(self, step: int, batch: Batch, logp: Tensor, logp_old: Tensor, values: Tensor | None) -> Tensor:
        if step == 0:
            return policy_weights(batch, self.config, values)
        return reuse_weights(batch, self.config, logp, logp_old, values, self.config.importance_weights)


class PieceWeights(BatchWeights):
    """One on-policy step per batch built from the reader's own pieces, pgcourse's where one is None.

    rtg_fn(rew, mask, gamma) -> (N, T): Q̂ (notebook 06); baseline_fn(rtg, mask) -> (T,): the per-step
    mean b_t (notebook 07, with baseline="mean"); loss_fn(logp, weights, mask) -> scalar: the
    pseudo-loss (notebook 09). The guard against normalising rounding noise stays in place.
    """

    def __init__(self, config: TrainConfig, rtg_fn=None, baseline_fn=None, loss_fn=None):
        super().__init__(config)
        self.rtg_fn = reward_to_go if rtg_fn is None else rtg_fn
        self.baseline_fn = time_mean_baseline if baseline_fn is None else baseline_fn
        self.loss_fn = pg_pseudo_loss if loss_fn is None else loss_fn

    def weights(self, step: int, batch: Batch, logp: Tensor, logp_old: Tensor, values: Tensor | None) -> Tensor:
        return policy_weights(batch, self.config, values, rtg_fn=self.rtg_fn, baseline_fn=self.baseline_fn)

    def loss(self, logp: Tensor, weights: Tensor, mask: Tensor) -> Tensor:
        return self.loss_fn(logp, weights, mask)


def batch_weights(config: TrainConfig) -> BatchWeights:
    """The weighting a TrainConfig describes: ReuseWeights when steps_per_batch > 1, else BatchWeights."""
    return ReuseWeights(config) if config.steps_per_batch > 1 else BatchWeights(config)
