"""Exact and sampled answers about J(θ) on a TabularMDP: p_θ(τ), moments of R(τ), stationary distributions.

The pieces behind notebooks/01_estimating_J.ipynb (and the log-probability of a
whole trajectory used in 02): every function is pure and seeded, so the
notebook's numbers can be checked by tests.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pgcourse._validate import check_positive_int
# the example MDP, the exact sums over trajectories and Q^π are core (notebooks 02, 07 and 08 use them too)
from pgcourse.tabular import (MAX_ENUMERATED, TabularMDP, action_values, enumerate_trajectories,  # noqa: F401
                              example_problem, trajectory_log_prob)

__all__ = ["return_moments", "action_values", "returns_float64", "repeated_estimates", "estimates_by_batch_size",
           "policy_transition_matrix", "chain_structure", "stationary_distribution", "average_reward",
           "corridor_problem", "normal_pdf", "MAX_ENUMERATED", "enumerate_trajectories", "example_problem",
           "trajectory_log_prob"]

def return_moments(mdp: TabularMDP, logits) -> tuple[Tensor, Tensor]:
    """E[R(τ)] = J(θ) and Var[R(τ)], R(τ) = Σ_{t=1}^T r(s_t, a_t), exactly, by backward recursion.

    V_t(s) = Σ_a π(a|s) [R(s,a) + Σ_s' P(s'|s,a) V_{t+1}(s')],
    M_t(s) = Σ_a π(a|s) [R(s,a)² + 2 R(s,a) Σ_s' P V_{t+1} + Σ_s' P M_{t+1}]   (M = E[(reward-to-go)²]),
    V_{T+1} = M_{T+1} = 0; E[R] = p0·V_1, Var[R] = p0·M_1 − (p0·V_1)².
    logits (S, A); returns two scalars in the logits' dtype (differentiable).
    Taught in notebooks/01_estimating_J.ipynb (the spread σ/√N of Ĵ).
    """
    logits = mdp.check_logits(logits)
    dtype = logits.dtype
    pi = torch.softmax(logits, -1)
    P, R, p0 = mdp.P.to(dtype), mdp.R.to(dtype), mdp.p0.to(dtype)
    V = torch.zeros(mdp.n_states, dtype=dtype)
    M = torch.zeros(mdp.n_states, dtype=dtype)
    for _ in range(mdp.horizon):
        PV, PM = P @ V, P @ M  # (S, A)
        V, M = (pi * (R + PV)).sum(-1), (pi * (R * R + 2 * R * PV + PM)).sum(-1)
    mean = p0 @ V
    return mean, p0 @ M - mean * mean


def returns_float64(mdp: TabularMDP, batch) -> Tensor:
    """R(τ_i) = Σ_t R[s_{i,t}, a_{i,t}] in float64 (batch.rew holds the same rewards rounded to float32), (N,)."""
    return mdp.R[batch.obs, batch.act].sum(1)


def repeated_estimates(mdp: TabularMDP, logits, n_traj: int, n_repeats: int, seed: int = 0) -> Tensor:
    """Ĵ_j = (1/N) Σ_{i=1}^N R(τ_{j,i}) for j = 1 … M independent batches, (M,) float64.

    Samples N·M trajectories at once and reshapes them to (M, N): one vectorised call.
    Taught in notebooks/01_estimating_J.ipynb.
    """
    n = check_positive_int("n_traj", n_traj)
    m = check_positive_int("n_repeats", n_repeats)
    batch = mdp.sample(logits, n * m, seed=seed)
    return returns_float64(mdp, batch).reshape(m, n).mean(1)


def estimates_by_batch_size(mdp: TabularMDP, logits, ns, n_repeats: int = 200, seed: int = 0) -> dict[str, Tensor]:
    """For each N in ns: the mean and standard deviation over M batches of Ĵ_N = (1/N) Σ_{i≤N} R(τ_{j,i}).

    Samples M·max(ns) trajectories once, as an (M, max N) table; Ĵ_N of batch j uses its
    first N trajectories (so the M estimates for one N are independent).
    Returns {"n": (K,), "mean": (K,), "std": (K,)} float64, K = len(ns).
    Taught in notebooks/01_estimating_J.ipynb (the law of large numbers, std ∝ 1/√N).
    """
    ns = [check_positive_int("N", n) for n in ns]
    m = check_positive_int("n_repeats", n_repeats)
    if m < 2:
        raise ValueError(f"n_repeats must be at least 2 to measure a spread, got {m}")
    rets = returns_float64(mdp, mdp.sample(logits, m * max(ns), seed=seed)).reshape(m, max(ns))
    csum = rets.cumsum(1)
    est = torch.stack([csum[:, n - 1] / n for n in ns], 1)  # (M, K)
    return {"n": torch.tensor(ns, dtype=torch.float64), "mean": est.mean(0), "std": est.std(0)}


def policy_transition_matrix(mdp: TabularMDP, logits) -> Tensor:
    """P_π(s'|s) = Σ_a π_θ(a|s) P(s'|s, a): the state chain under π_θ, (S, S), rows sum to 1.

    Taught in notebooks/01_estimating_J.ipynb (finite vs infinite horizon).
    """
    logits = mdp.check_logits(logits)
    return torch.einsum("sa,sau->su", torch.softmax(logits, -1), mdp.P.to(logits.dtype))


def chain_structure(P_pi: Tensor) -> tuple[bool, int | None]:
    """(irreducible, period) of the finite Markov chain with transition matrix P_pi (S, S).

    Irreducible: every state can reach every other (a path of positive entries). The period
    (of an irreducible chain; None otherwise) is the gcd of the lengths of all cycles, computed as
    the gcd of level(u) + 1 − level(v) over the edges u → v, with level the breadth-first distance
    from state 0; period 1 means aperiodic. A finite irreducible aperiodic chain has a unique
    stationary distribution μ and d_t → μ from every start (Levin and Peres, *Markov Chains and
    Mixing Times*, 2nd ed., 2017: §1.5 and the convergence theorem, Theorem 4.9).
    Taught in notebooks/01_estimating_J.ipynb.
    """
    P_pi = torch.as_tensor(P_pi, dtype=torch.float64)
    if P_pi.dim() != 2 or P_pi.shape[0] != P_pi.shape[1]:
        raise ValueError(f"P_pi must be a square (S, S) matrix, got shape {tuple(P_pi.shape)}")
    edges = (P_pi > 0).tolist()
    n = len(edges)

    def levels(adjacent) -> list:
        level, frontier = [None] * n, [0]
        level[0] = 0
        while frontier:
            nxt = []
            for u in frontier:
                for v in range(n):
                    if adjacent(u, v) and level[v] is None:
                        level[v] = level[u] + 1
                        nxt.append(v)
            frontier = nxt
        return level

    forward = levels(lambda u, v: edges[u][v])
    backward = levels(lambda u, v: edges[v][u])
    if None in forward or None in backward:
        return False, None
    period = 0
    for u in range(n):
        for v in range(n):
            if edges[u][v]:
                period = math.gcd(period, abs(forward[u] + 1 - forward[v]))
    return True, period


def stationary_distribution(P_pi: Tensor, method: str = "eig", tol: float = 1e-12,
                            max_iter: int = 100_000) -> Tensor:
    """μ with μ P_π = μ, Σ_s μ(s) = 1: the stationary distribution of a state chain, (S,).

    method "eig": the left eigenvector of P_π for the eigenvalue closest to 1;
    "power": μ ← μ P_π from the uniform distribution until ‖Δμ‖₁ < tol (ValueError if
    it has not converged after max_iter steps, e.g. for a periodic chain).
    Assumes the chain has a unique stationary distribution (true when it is irreducible, see
    ``chain_structure``; all P_π > 0 is enough).
    Taught in notebooks/01_estimating_J.ipynb.
    """
    P_pi = torch.as_tensor(P_pi, dtype=torch.float64)
    if P_pi.dim() != 2 or P_pi.shape[0] != P_pi.shape[1]:
        raise ValueError(f"P_pi must be a square (S, S) matrix, got shape {tuple(P_pi.shape)}")
    if method == "eig":
        vals, vecs = torch.linalg.eig(P_pi.T)
        k = int((vals - 1).abs().argmin())
        mu = vecs[:, k].real
        return mu / mu.sum()
    if method == "power":
        mu = torch.full((P_pi.shape[0],), 1.0 / P_pi.shape[0], dtype=torch.float64)
        for _ in range(max_iter):
            new = mu @ P_pi
            if float((new - mu).abs().sum()) < tol:
                return new
            mu = new
        raise ValueError(f"power iteration did not converge in {max_iter} steps (a periodic chain?)")
    raise ValueError(f"method must be 'eig' or 'power', got {method!r}")


def average_reward(mdp: TabularMDP, logits, mu: Tensor | None = None) -> Tensor:
    """E_{(s,a)~p_θ(s,a)}[r(s,a)] = Σ_s μ(s) Σ_a π_θ(a|s) R(s,a), μ the stationary distribution (scalar).

    The infinite-horizon objective: J_T(θ)/T → this as T → ∞.
    Taught in notebooks/01_estimating_J.ipynb.
    """
    logits = mdp.check_logits(logits)
    if mu is None:
        mu = stationary_distribution(policy_transition_matrix(mdp, logits).detach())
    pi = torch.softmax(logits, -1)
    return (mu.to(logits.dtype)[:, None] * pi * mdp.R.to(logits.dtype)).sum()


def corridor_problem(n_states: int = 5, p_move: float = 0.7, p_right: float = 0.6,
                     horizon: int = 10) -> tuple[TabularMDP, Tensor]:
    """A slow chain: a corridor of states 0 … S−1, start at 0, reward 1 at the right end; (mdp, logits).

    Action 0 steps left, action 1 steps right; the step succeeds with probability p_move, else
    the agent stays (at a wall it always stays). R(S−1, a) = 1, all other rewards 0. The fixed
    policy steps right with probability p_right in every state. The state chain is a birth-death
    chain that moves one state at a time, so d_t needs many steps to reach μ; with
    0 < p_move < 1 and 0 < p_right < 1 it is irreducible and aperiodic (it can stay put).
    Taught in notebooks/01_estimating_J.ipynb (finite vs infinite horizon).
    """
    if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 2:
        raise ValueError(f"n_states must be a whole number ≥ 2, got {n_states!r}")
    for name, value in (("p_move", p_move), ("p_right", p_right)):
        if not (isinstance(value, (int, float)) and 0.0 < float(value) < 1.0):
            raise ValueError(f"{name} must be a probability strictly between 0 and 1, got {value!r}")
    S = n_states
    P = torch.zeros(S, 2, S, dtype=torch.float64)
    for s in range(S):
        for a, step in ((0, -1), (1, 1)):
            P[s, a, min(max(s + step, 0), S - 1)] += p_move
            P[s, a, s] += 1.0 - p_move
    R = torch.zeros(S, 2, dtype=torch.float64)
    R[S - 1] = 1.0
    p0 = torch.zeros(S, dtype=torch.float64)
    p0[0] = 1.0
    logits = torch.tensor([[0.0, math.log(p_right / (1.0 - p_right))]] * S, dtype=torch.float64)
    return TabularMDP(P, R, p0, horizon), logits


def normal_pdf(x, mean: float, std: float):
    """N(x; mean, std²), elementwise (for overlaying the predicted spread of Ĵ on a histogram)."""
    return torch.exp(-0.5 * ((torch.as_tensor(x, dtype=torch.float64) - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
