"""A finite-horizon tabular MDP with exact answers, and the tabular softmax policy.

The exact-gradient laboratory: J(θ) and ∇J(θ) are computed exactly (dynamic
programming over state distributions, then autograd), so every sampled
estimator can be checked against the truth with z-scores.

Convention (the course's, notebook 01): s_1 ~ p0, a_t ~ π_θ(·|s_t) = softmax(θ[s_t]),
reward R[s_t, a_t], s_{t+1} ~ P[s_t, a_t, ·], for t = 1 … T; no discount.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._validate import check_positive_int
from .batch import Batch

__all__ = ["TabularMDP", "TabularSoftmaxPolicy", "tabular_gradient_samples", "example_problem", "MAX_ENUMERATED",
           "trajectory_log_prob", "enumerate_trajectories", "action_values"]

_SUM_TOL = 1e-6  # tolerance for "sums to 1" checks on P and p0


def _as_float64(name: str, value, ndim: int) -> Tensor:
    try:
        x = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be an array of numbers, got {value!r}") from None
    if x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must contain only finite numbers")
    return x.clone()


def _check_distribution(name: str, p: Tensor, what: str) -> None:
    if (p < 0).any():
        raise ValueError(f"{name} must be ≥ 0 everywhere ({what}); its smallest entry is {float(p.min()):.3g}")
    err = (p.sum(-1) - 1.0).abs()
    if (err > _SUM_TOL).any():
        raise ValueError(f"{name} must sum to 1 over its last axis ({what}); "
                         f"the worst sum is off by {float(err.max()):.3g}")


def _dirichlet(shape: Sequence[int], generator: torch.Generator) -> Tensor:
    """Uniform (Dirichlet(1, …, 1)) probability vectors along the last axis: normalised exponentials."""
    e = -torch.rand(tuple(shape), generator=generator, dtype=torch.float64).clamp_(min=1e-300).log()
    return e / e.sum(-1, keepdim=True)


class TabularMDP:
    """A finite-horizon MDP: P (S, A, S) transitions, R (S, A) rewards, p0 (S,) start, horizon T.

    J(θ) = E_{τ~p_θ}[Σ_{t=1}^T R(s_t, a_t)] with π_θ(a|s) = softmax(θ[s])_a.
    Stored in float64; ``objective``/``gradient`` compute in the dtype of the logits.
    Taught in notebooks/02_log_derivative_trick.ipynb (and used in 06, 07, 08).
    """

    def __init__(self, P, R, p0, horizon: int):
        P = _as_float64("P", P, 3)
        R = _as_float64("R", R, 2)
        p0 = _as_float64("p0", p0, 1)
        n_states, n_actions = P.shape[0], P.shape[1]
        if n_states < 1 or n_actions < 1:
            raise ValueError(f"P must have shape (S, A, S) with S, A ≥ 1, got {tuple(P.shape)}")
        if P.shape[2] != n_states:
            raise ValueError(f"P must have shape (S, A, S): its first and last axes differ, got {tuple(P.shape)}")
        if R.shape != (n_states, n_actions):
            raise ValueError(f"R must have shape (S, A) = {(n_states, n_actions)} to match P, got {tuple(R.shape)}")
        if p0.shape != (n_states,):
            raise ValueError(f"p0 must have shape (S,) = ({n_states},) to match P, got {tuple(p0.shape)}")
        _check_distribution("P", P, "each P[s, a, :] is a distribution over next states")
        _check_distribution("p0", p0, "the start-state distribution")
        self.P, self.R, self.p0 = P, R, p0
        self.horizon = check_positive_int("horizon", horizon)

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    def __repr__(self) -> str:
        return f"TabularMDP(n_states={self.n_states}, n_actions={self.n_actions}, horizon={self.horizon})"

    @classmethod
    def random(cls, n_states: int, n_actions: int, horizon: int, seed: int,
               reward_low: float = 0.0, reward_high: float = 1.0) -> "TabularMDP":
        """A random MDP: P[s, a, :] and p0 ~ Dirichlet(1, …, 1), R ~ Uniform[reward_low, reward_high).

        The same seed gives the same MDP. The default rewards are all positive.
        """
        n_states = check_positive_int("n_states", n_states)
        n_actions = check_positive_int("n_actions", n_actions)
        if not (math.isfinite(reward_low) and math.isfinite(reward_high) and reward_low <= reward_high):
            raise ValueError(f"need finite reward_low ≤ reward_high, got {reward_low!r}, {reward_high!r}")
        g = torch.Generator().manual_seed(int(seed))
        P = _dirichlet((n_states, n_actions, n_states), g)
        p0 = _dirichlet((n_states,), g)
        R = reward_low + (reward_high - reward_low) * torch.rand((n_states, n_actions), generator=g, dtype=torch.float64)
        return cls(P, R, p0, horizon)

    @classmethod
    def bandit(cls, rewards) -> "TabularMDP":
        """A one-state, one-step MDP (a multi-armed bandit): J(θ) = Σ_a π_θ(a) r_a.

        rewards: (A,), e.g. (1, 0) for notebook 07's counterexample with the
        policy (0.9, 0.1), i.e. logits [[log 0.9, log 0.1]].
        Taught in notebooks/07_baselines.ipynb.
        """
        R = _as_float64("rewards", rewards, 1)
        if R.numel() < 2:
            raise ValueError(f"a bandit needs at least 2 arms, got rewards {rewards!r}")
        n_actions = R.numel()
        return cls(torch.ones(1, n_actions, 1, dtype=torch.float64), R[None, :], torch.ones(1, dtype=torch.float64), 1)

    def with_horizon(self, horizon: int) -> "TabularMDP":
        """The same P, R, p0 with another horizon T."""
        return TabularMDP(self.P, self.R, self.p0, horizon)

    def check_logits(self, logits) -> Tensor:
        """θ as a floating (S, A) tensor (a TabularSoftmaxPolicy is accepted and its logits used)."""
        if isinstance(logits, TabularSoftmaxPolicy):
            logits = logits.logits
        if not isinstance(logits, Tensor):
            logits = torch.as_tensor(logits, dtype=torch.float64)
        if logits.shape != (self.n_states, self.n_actions):
            raise ValueError(f"logits must have shape (S, A) = {(self.n_states, self.n_actions)}, "
                             f"got {tuple(logits.shape)}")
        if not logits.is_floating_point():
            logits = logits.to(torch.float64)
        return logits

    def state_distributions(self, logits) -> Tensor:
        """d_t(s) = P(s_t = s) under π_θ, for t = 1 … T: d_1 = p0, d_{t+1}(s') = Σ_{s,a} d_t(s) π(a|s) P(s'|s,a).

        logits: (S, A); returns (T, S), differentiable w.r.t. the logits.
        Taught in notebooks/08_off_policy_importance_sampling.ipynb (the state-marginal ratio).
        """
        logits = self.check_logits(logits)
        pi = torch.softmax(logits, -1)
        P = self.P.to(logits.dtype)
        d = self.p0.to(logits.dtype)
        out = [d]
        for _ in range(self.horizon - 1):
            d = torch.einsum("s,sa,sau->u", d, pi, P)
            out.append(d)
        return torch.stack(out)

    def objective(self, logits) -> Tensor:
        """J(θ) = Σ_{t=1}^T Σ_s d_t(s) Σ_a π_θ(a|s) R(s, a)   (exact, by dynamic programming).

        logits: (S, A); returns a scalar, differentiable w.r.t. the logits.
        Taught in notebooks/02_log_derivative_trick.ipynb.
        """
        logits = self.check_logits(logits)
        pi = torch.softmax(logits, -1)
        d = self.state_distributions(logits).sum(0)  # expected visits Σ_t d_t(s)
        return (d[:, None] * pi * self.R.to(logits.dtype)).sum()

    def gradient(self, logits) -> Tensor:
        """∇_θ J(θ), exact (autograd through ``objective``).

        logits: (S, A); returns (S, A) in the logits' dtype (use float64 for checks).
        Taught in notebooks/02_log_derivative_trick.ipynb.
        """
        logits = self.check_logits(logits).detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self.objective(logits), logits)
        return grad

    @torch.no_grad()
    def sample(self, logits, n_traj: int, seed: int | None = None) -> Batch:
        """N trajectories τ_i ~ p_θ(τ), all T steps, sampled together (a loop over t only).

        Returns a Batch with obs/act (N, T) int64, rew (N, T) float32, mask all
        True, terminated all True (the finite horizon ends the episode), truncated
        all False. The same seed gives the same batch.
        Taught in notebooks/02_log_derivative_trick.ipynb.
        """
        logits = self.check_logits(logits).detach().to(torch.float64)
        n = check_positive_int("n_traj", n_traj)
        g = torch.Generator()
        if seed is None:
            g.seed()
        else:
            g.manual_seed(int(seed))
        pi_cdf = torch.softmax(logits, -1).cumsum(-1)
        p_cdf = self.P.cumsum(-1)
        p0_cdf = self.p0.cumsum(-1)
        T, A, S = self.horizon, self.n_actions, self.n_states
        # inverse-CDF sampling: one uniform per draw, index = #(cdf entries ≤ u)
        u0 = torch.rand(n, generator=g, dtype=torch.float64)
        u_act = torch.rand((T, n, 1), generator=g, dtype=torch.float64)
        u_next = torch.rand((T, n, 1), generator=g, dtype=torch.float64)
        obs = torch.empty((n, T), dtype=torch.int64)
        act = torch.empty((n, T), dtype=torch.int64)
        s = torch.searchsorted(p0_cdf, u0, right=True).clamp_(max=S - 1)
        for t in range(T):
            a = torch.searchsorted(pi_cdf[s], u_act[t], right=True).squeeze(1).clamp_(max=A - 1)
            obs[:, t], act[:, t] = s, a
            if t + 1 < T:
                s = torch.searchsorted(p_cdf[s, a], u_next[t], right=True).squeeze(1).clamp_(max=S - 1)
        rew = self.R[obs, act].to(torch.float32)
        return Batch(obs=obs, act=act, rew=rew, mask=torch.ones((n, T), dtype=torch.bool),
                     terminated=torch.ones(n, dtype=torch.bool), truncated=torch.zeros(n, dtype=torch.bool))


class TabularSoftmaxPolicy(nn.Module):
    """π_θ(a|s) = softmax(θ[s])_a with one logit per (state, action): parameter ``logits`` (S, A), zeros at init.

    obs, act: int64 of any common shape (…); log_prob returns that shape.
    Same interface as pgcourse/policies.py (distribution, log_prob = forward, sample, mode, entropy).
    Taught in notebooks/02_log_derivative_trick.ipynb.
    """

    def __init__(self, n_states: int, n_actions: int):
        super().__init__()
        self.n_states = check_positive_int("n_states", n_states)
        self.n_actions = check_positive_int("n_actions", n_actions)
        self.logits = nn.Parameter(torch.zeros(self.n_states, self.n_actions))

    @classmethod
    def from_logits(cls, logits) -> "TabularSoftmaxPolicy":
        """A policy whose parameter is a copy of the given (S, A) logits (keeps their dtype)."""
        logits = torch.as_tensor(logits)
        if logits.dim() != 2:
            raise ValueError(f"logits must have shape (S, A), got {tuple(logits.shape)}")
        policy = cls(logits.shape[0], logits.shape[1])
        if not logits.is_floating_point():
            logits = logits.to(torch.get_default_dtype())
        policy.logits = nn.Parameter(logits.detach().clone())
        return policy

    def _check_obs(self, obs: Tensor) -> Tensor:
        if obs.is_floating_point() or obs.dtype == torch.bool:
            raise ValueError(f"obs must hold integer state ids in 0 … {self.n_states - 1}, got dtype {obs.dtype}")
        return obs.long()

    def distribution(self, obs: Tensor) -> torch.distributions.Categorical:
        return torch.distributions.Categorical(logits=self.logits[self._check_obs(obs)])

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        """log π_θ(a|s) = θ[s, a] − log Σ_b exp θ[s, b], shape obs.shape."""
        logp_all = torch.log_softmax(self.logits, -1)[self._check_obs(obs)]
        return logp_all.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)

    forward = log_prob

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """a ~ π_θ(·|s) by the Gumbel-max trick (one uniform per action, seeded by ``generator``)."""
        logits = self.logits[self._check_obs(obs)]
        u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).clamp_(1e-12, 1.0)
        return (logits - torch.log(-torch.log(u))).argmax(-1)

    def mode(self, obs: Tensor) -> Tensor:
        """argmax_a π_θ(a|s)."""
        return self.logits[self._check_obs(obs)].argmax(-1)

    def entropy(self, obs: Tensor) -> Tensor:
        return self.distribution(obs).entropy()


def tabular_gradient_samples(logits: Tensor, obs: Tensor, act: Tensor, weights: Tensor,
                             mask: Tensor | None = None) -> Tensor:
    """ĝ_i = Σ_t (e_{a_{i,t}} − π_θ(·|s_{i,t})) ⊗ e_{s_{i,t}} · w_{i,t}   (closed-form softmax score).

    ∇_{θ[s, ·]} log π_θ(a|s) = one-hot(a) − π_θ(·|s), and 0 for the other states.
    logits (S, A); obs, act, weights, mask (N, T); returns (N, S·A) in float64,
    the same as ``gradient_samples(TabularSoftmaxPolicy, batch, weights)`` but much faster.
    Taught in notebooks/02_log_derivative_trick.ipynb.
    """
    logits = logits.detach().to(torch.float64)
    S, A = logits.shape
    if obs.dim() != 2 or act.shape != obs.shape or weights.shape != obs.shape:
        raise ValueError(f"obs, act and weights must all have shape (N, T); got {tuple(obs.shape)}, "
                         f"{tuple(act.shape)}, {tuple(weights.shape)}")
    w = weights.detach().to(torch.float64)
    if mask is not None:
        if mask.shape != obs.shape:
            raise ValueError(f"mask must have shape (N, T) = {tuple(obs.shape)}, got {tuple(mask.shape)}")
        w = torch.where(mask.bool(), w, torch.zeros((), dtype=w.dtype))
    n = obs.shape[0]
    obs, act = obs.long(), act.long()
    # Σ_t w_t one-hot(s_t, a_t)  minus  Σ_t w_t one-hot(s_t) ⊗ π(·|s_t)
    plus = torch.zeros(n, S * A, dtype=torch.float64).scatter_add_(1, obs * A + act, w)
    visits = torch.zeros(n, S, dtype=torch.float64).scatter_add_(1, obs, w)
    minus = visits[:, :, None] * torch.softmax(logits, -1)[None]
    return plus - minus.reshape(n, S * A)


# --- the course's example MDP, and exact sums over trajectories (notebooks 01, 02 and 07) ---------

def example_problem(n_states: int = 5, n_actions: int = 3, horizon: int = 10, seed: int = 0
                    ) -> tuple[TabularMDP, Tensor]:
    """The course's small random MDP and a fixed, non-uniform policy: (mdp, logits (S, A) float64).

    mdp = TabularMDP.random(S, A, T, seed); θ ~ N(0, 1) from seed + 1. The same seed gives the same pair.
    Used by notebooks/01_estimating_J.ipynb, 02_log_derivative_trick.ipynb and 07_baselines.ipynb.
    """
    mdp = TabularMDP.random(n_states, n_actions, horizon, seed=seed)
    g = torch.Generator().manual_seed(int(seed) + 1)
    logits = torch.randn(mdp.n_states, mdp.n_actions, generator=g, dtype=torch.float64)
    return mdp, logits



MAX_ENUMERATED = 1_000_000  # enumerate_trajectories refuses to list more trajectories than this


def trajectory_log_prob(mdp: TabularMDP, logits, obs: Tensor, act: Tensor) -> Tensor:
    """log p_θ(τ_i) = log p(s_1) + Σ_{t=1}^T log π_θ(a_t|s_t) + Σ_{t=1}^{T-1} log p(s_{t+1}|s_t, a_t).

    obs, act: (N, T) int64 (or (T,) for one trajectory); returns (N,) (or a scalar),
    differentiable w.r.t. the logits (S, A). The transition out of the last step,
    p(s_{T+1}|s_T, a_T), is not a factor: τ ends with a_T and that factor sums to 1
    over s_{T+1}. Impossible trajectories get -inf.
    Taught in notebooks/01_estimating_J.ipynb and 02_log_derivative_trick.ipynb.
    """
    logits = mdp.check_logits(logits)
    obs, act = torch.as_tensor(obs).long(), torch.as_tensor(act).long()
    single = obs.dim() == 1
    if single:
        obs, act = obs[None], act[None]
    if obs.dim() != 2 or act.shape != obs.shape:
        raise ValueError(f"obs and act must both have shape (N, T) or (T,), got {tuple(obs.shape)} and {tuple(act.shape)}")
    dtype = logits.dtype
    log_p0 = torch.log(mdp.p0.to(dtype))[obs[:, 0]]
    log_pi = torch.log_softmax(logits, -1)[obs, act].sum(1)
    log_P = torch.log(mdp.P.to(dtype))[obs[:, :-1], act[:, :-1], obs[:, 1:]].sum(1)
    out = log_p0 + log_pi + log_P
    return out[0] if single else out


def enumerate_trajectories(mdp: TabularMDP) -> tuple[Tensor, Tensor]:
    """Every trajectory τ = (s_1, a_1, …, s_T, a_T) of a small MDP: obs, act (K, T) int64, K = (S·A)^T.

    Together with trajectory_log_prob this turns the integral ∫ p_θ(τ) f(τ) dτ into an exact sum.
    Refuses (ValueError) when K exceeds MAX_ENUMERATED.
    Taught in notebooks/01_estimating_J.ipynb.
    """
    S, A, T = mdp.n_states, mdp.n_actions, mdp.horizon
    k = (S * A) ** T
    if k > MAX_ENUMERATED:
        raise ValueError(f"(S·A)^T = {k} trajectories is too many to enumerate (limit {MAX_ENUMERATED}); "
                         f"use a smaller MDP or a shorter horizon")
    pairs = torch.tensor(list(itertools.product(range(S * A), repeat=T)), dtype=torch.int64).reshape(k, T)
    return pairs // A, pairs % A


def action_values(mdp: TabularMDP, logits) -> tuple[Tensor, Tensor]:
    """Q^π_t(s, a) and V^π_t(s) for t = 1 … T, exactly, by backward recursion from V^π_{T+1} = 0.

    Q^π_t(s, a) = Σ_{t'=t}^T E_π[r(s_t', a_t') | s_t = s, a_t = a] = R(s, a) + Σ_s' P(s'|s, a) V^π_{t+1}(s'),
    V^π_t(s)    = Σ_{t'=t}^T E_π[r(s_t', a_t') | s_t = s]          = Σ_a π_θ(a|s) Q^π_t(s, a).
    With a finite horizon both depend on t (T − t + 1 steps remain). logits (S, A); returns
    Q (T, S, A) and V (T, S) in the logits' dtype (row 0 is t = 1); J(θ) = p0 · V[0].
    Taught in notebooks/01_estimating_J.ipynb; notebook 08's surrogate gradient uses Q.
    """
    logits = mdp.check_logits(logits)
    dtype = logits.dtype
    pi = torch.softmax(logits, -1)
    P, R = mdp.P.to(dtype), mdp.R.to(dtype)
    V_next = torch.zeros(mdp.n_states, dtype=dtype)  # V^π_{T+1} = 0
    Qs, Vs = [], []
    for _ in range(mdp.horizon):  # t = T, T − 1, …, 1
        Q = R + P @ V_next
        V_next = (pi * Q).sum(-1)
        Qs.append(Q)
        Vs.append(V_next)
    return torch.stack(Qs[::-1]), torch.stack(Vs[::-1])
