"""The exact-gradient laboratory: bias and variance of policy-gradient estimators.

Sample N trajectories of a TabularMDP once (``make_lab``), then score any number
of weight choices on that same batch (``compare_estimators``): for each one the
z-scores of its mean against the exact ∇J(θ) (bias) and the trace of the
covariance of its per-trajectory gradient samples (variance).

    lab = make_lab(TabularMDP.random(5, 3, 10, seed=0), logits, n_traj=10_000, seed=1)
    results = compare_estimators(lab, ["total_return", "reward_to_go"])
    print(format_summaries(results))

Off-policy: pass ``behaviour_logits`` (the policy that samples); the exact
gradient and the scores are those of the target ``logits``.
Taught in notebooks/06_causality_reward_to_go.ipynb, 07_baselines.ipynb and
08_off_policy_importance_sampling.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from . import importance
from .baselines import (mean_baseline, optimal_baseline, optimal_baseline_from_samples, subtract_baseline,
                        time_mean_baseline)
from .batch import Batch
from .estimators import GradientSummary, compare_to_exact
from .returns import reward_to_go, total_return
from .tabular import TabularMDP, tabular_gradient_samples

__all__ = ["LabContext", "make_lab", "ESTIMATORS", "WeightChoice", "compare_estimators", "format_summaries"]


def _log_softmax_at(logits: Tensor, obs: Tensor, act: Tensor) -> Tensor:
    return torch.log_softmax(logits, -1)[obs, act]


@dataclass(frozen=True)
class LabContext:
    """One sampled batch and what every estimator needs, all float64.

    logits, behaviour_logits: (S, A) target θ' and sampling θ (equal on-policy).
    logp, logp_old: (N, T) log π_θ'(a|s), log π_θ(a|s). rew (N, T) = R[s, a] in float64
    (batch.rew holds the same rewards rounded to float32); rets (N,), rtg (N, T).
    scores: (N, P) target trajectory scores Σ_t ∇θ' log π_θ'(a_t|s_t), P = S·A.
    exact: (S·A,) the exact ∇J(θ') flattened.
    """

    mdp: TabularMDP
    logits: Tensor
    behaviour_logits: Tensor
    batch: Batch
    logp: Tensor
    logp_old: Tensor
    rew: Tensor
    rets: Tensor
    rtg: Tensor
    scores: Tensor
    exact: Tensor

    @property
    def on_policy(self) -> bool:
        return bool(torch.equal(self.logits, self.behaviour_logits))

    def samples(self, weights: Tensor) -> Tensor:
        """ĝ_i = Σ_t ∇θ' log π_θ'(a_{i,t}|s_{i,t}) w_{i,t}, (N, T) -> (N, P), in closed form."""
        b = self.batch
        return tabular_gradient_samples(self.logits, b.obs, b.act, torch.as_tensor(weights), b.mask)


def make_lab(mdp: TabularMDP, logits, n_traj: int = 10_000, seed: int = 0, behaviour_logits=None) -> LabContext:
    """Sample τ_1 … τ_N ~ p_θ (θ = behaviour_logits, default logits) and prepare the lab for ∇J(θ').

    logits, behaviour_logits: (S, A). The same seed gives the same batch.
    Taught in notebooks/06_causality_reward_to_go.ipynb, 07 and 08.
    """
    logits = mdp.check_logits(logits).detach().to(torch.float64)
    behaviour = logits if behaviour_logits is None else mdp.check_logits(behaviour_logits).detach().to(torch.float64)
    batch = mdp.sample(behaviour, n_traj, seed=seed)
    rew = mdp.R[batch.obs, batch.act]
    rtg = reward_to_go(rew, batch.mask)
    rets = total_return(rew, batch.mask)
    ones = torch.ones_like(rew)
    scores = tabular_gradient_samples(logits, batch.obs, batch.act, ones, batch.mask)
    return LabContext(mdp=mdp, logits=logits, behaviour_logits=behaviour, batch=batch,
                      logp=_log_softmax_at(logits, batch.obs, batch.act),
                      logp_old=_log_softmax_at(behaviour, batch.obs, batch.act),
                      rew=rew, rets=rets, rtg=rtg, scores=scores, exact=mdp.gradient(logits).reshape(-1))


def _total_return_samples(lab: LabContext) -> Tensor:
    return lab.scores * lab.rets[:, None]


def _rtg_samples(lab: LabContext) -> Tensor:
    return lab.samples(lab.rtg)


def _rtg_optimal_baseline_samples(lab: LabContext) -> Tensor:
    samples = _rtg_samples(lab)
    return subtract_baseline(samples, lab.scores, optimal_baseline_from_samples(lab.scores, samples))


# Built-in estimators: name -> function(lab) -> (N, P) gradient samples.
ESTIMATORS: dict[str, Callable[[LabContext], Tensor]] = {
    # on-policy (the notes, §5.3: Σ_t ∇ log π · R(τ), then reward-to-go, then baselines)
    "total_return": _total_return_samples,
    "reward_to_go": _rtg_samples,
    "total_return_mean_baseline": lambda lab: subtract_baseline(
        _total_return_samples(lab), lab.scores, mean_baseline(lab.rets)),
    "total_return_optimal_baseline": lambda lab: subtract_baseline(
        _total_return_samples(lab), lab.scores, optimal_baseline(lab.scores, lab.rets)),
    # b_t = mean_i Q̂_{i,t}: the mean baseline for reward-to-go weights, one per step
    "reward_to_go_mean_baseline": lambda lab: lab.samples(lab.rtg - time_mean_baseline(lab.rtg, lab.batch.mask)),
    # b_k = E[g_k ĝ_k] / E[g_k²], ĝ the reward-to-go samples: the best *constant* per parameter
    # (a per-step b_t, as above, can do better)
    "reward_to_go_optimal_constant_baseline": _rtg_optimal_baseline_samples,
    # off-policy (target scores, importance weights; equal to the above on-policy)
    "trajectory_is": lambda lab: lab.samples(
        importance.trajectory_is_weights(lab.rew, lab.logp, lab.logp_old, lab.batch.mask)),
    "per_decision_is": lambda lab: lab.samples(
        importance.per_decision_is_weights(lab.rew, lab.logp, lab.logp_old, lab.batch.mask)),
    "first_order_is": lambda lab: lab.samples(
        importance.first_order_is_weights(lab.rew, lab.logp, lab.logp_old, lab.batch.mask)),
    "notes_causal_is": lambda lab: lab.samples(
        importance.notes_causal_is_weights(lab.rew, lab.logp, lab.logp_old, lab.batch.mask)),
}

WeightChoice = str | Tensor | Callable[[LabContext], Tensor]


def _samples_for(lab: LabContext, name: str, choice: WeightChoice) -> Tensor:
    if isinstance(choice, str):
        if choice not in ESTIMATORS:
            raise ValueError(f"unknown estimator {choice!r} for {name!r}; built-in ones are {', '.join(ESTIMATORS)}")
        return ESTIMATORS[choice](lab)
    weights = choice(lab) if callable(choice) else choice
    weights = torch.as_tensor(weights)
    if weights.shape != lab.batch.rew.shape:
        raise ValueError(f"weights for {name!r} must have shape (N, T) = {tuple(lab.batch.rew.shape)}, "
                         f"got {tuple(weights.shape)}")
    return lab.samples(weights)


def compare_estimators(lab: LabContext, estimators: Iterable[str] | Mapping[str, WeightChoice]
                       ) -> dict[str, GradientSummary]:
    """For each weight choice w: z_k = (mean_i ĝ_{i,k} − ∇_k J) / stderr_k and tr Cov[ĝ_i].

    estimators: names from ESTIMATORS, or a dict name -> a built-in name, a
    weights tensor (N, T), or a function lab -> weights (N, T). All are scored
    on the same batch (common random numbers), against ``lab.exact``.
    Returns {name: GradientSummary} in the given order.
    Taught in notebooks/06_causality_reward_to_go.ipynb, 07 and 08.
    """
    items = estimators.items() if isinstance(estimators, Mapping) else ((name, name) for name in estimators)
    return {name: compare_to_exact(_samples_for(lab, name, choice), lab.exact) for name, choice in items}


def format_summaries(results: Mapping[str, GradientSummary]) -> str:
    """A plain-text table: estimator, max |z|, ‖ĝ−∇J‖ (the sampling error), tr Cov, N (one row per estimator)."""
    width = max([len("estimator")] + [len(name) for name in results])
    lines = [f"{'estimator':<{width}}  {'max|z|':>8}  {'‖ĝ−∇J‖':>9}  {'tr Cov':>10}  {'N':>7}"]
    for name, s in results.items():
        lines.append(f"{name:<{width}}  {s.max_abs_z:8.2f}  {s.error_norm:9.3g}  {s.trace_cov:10.4g}  {s.n:7d}")
    return "\n".join(lines)
