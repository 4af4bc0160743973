"""Importance weights: hand-computed examples, log-space stability, and (slow) bias/variance against exact gradients."""

import math

import pytest
import torch

from pgcourse import (TabularMDP, compare_estimators, effective_sample_size, first_order_is_weights, log_ratios,
                      make_lab, per_decision_is_weights, reward_to_go, notes_causal_is_weights,
                      trajectory_is_weights, trajectory_ratio)

Z_MAX = 4.5  # two-sided tail 7e-6 per parameter under N(0, 1); seeds are fixed

WEIGHTS = (trajectory_is_weights, per_decision_is_weights, first_order_is_weights, notes_causal_is_weights)


def hand_example():
    # one trajectory, ρ = (2, 0.5, 3), r = (1, 2, 3); a second one ends after 2 steps (garbage in step 3)
    rew = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 100.0]], dtype=torch.float64)
    logp_old = torch.log(torch.tensor([[0.25, 0.5, 0.2], [0.5, 0.5, 1e-30]], dtype=torch.float64))
    logp_new = torch.log(torch.tensor([[0.5, 0.25, 0.6], [0.25, 0.5, 0.9]], dtype=torch.float64))
    mask = torch.tensor([[True, True, True], [True, True, False]])
    return rew, logp_new, logp_old, mask


def test_hand_computed_weights():
    rew, logp_new, logp_old, mask = hand_example()
    # row 0: cumulative ρ products 2, 1, 3; R = 6; Q̂ = (6, 5, 3)
    # row 1: ρ = (0.5, 1), products 0.5, 0.5; R = 2; Q̂ = (2, 1); step 3 masked -> weight 0
    expected = {
        trajectory_ratio: torch.tensor([3.0, 0.5]),
        trajectory_is_weights: torch.tensor([[18.0, 18.0, 18.0], [1.0, 1.0, 0.0]]),
        # Σ_{t'≥t} r_{t'} Π_{t''≤t'} ρ: (1·2 + 2·1 + 3·3, 2·1 + 3·3, 3·3); (1·0.5 + 1·0.5, 1·0.5)
        per_decision_is_weights: torch.tensor([[13.0, 11.0, 9.0], [1.0, 0.5, 0.0]]),
        # ρ_t Q̂_t
        first_order_is_weights: torch.tensor([[12.0, 2.5, 9.0], [1.0, 1.0, 0.0]]),
        # Π_{t''≤t} ρ · Σ_{t'≥t} r_{t'} Π_{t''=t}^{t'} ρ: 2·(2 + 2·1 + 3·3), 1·(2·0.5 + 3·1.5), 3·(3·3)
        notes_causal_is_weights: torch.tensor([[26.0, 5.5, 27.0], [0.5, 0.5, 0.0]]),
    }
    for fn, want in expected.items():
        args = (logp_new, logp_old, mask) if fn is trajectory_ratio else (rew, logp_new, logp_old, mask)
        got = fn(*args)
        assert got.dtype == torch.float64
        assert torch.allclose(got, want.double(), atol=1e-12), fn.__name__
    assert torch.allclose(log_ratios(logp_new, logp_old, mask)[1], torch.tensor([math.log(0.5), 0.0, 0.0],
                                                                                 dtype=torch.float64))


def test_equal_policies_give_on_policy_weights():
    g = torch.Generator().manual_seed(0)
    rew = torch.rand(4, 6, generator=g)
    logp = -torch.rand(4, 6, generator=g)
    rtg, rets = reward_to_go(rew), rew.sum(1)
    assert torch.allclose(trajectory_ratio(logp, logp), torch.ones(4))
    assert torch.allclose(trajectory_is_weights(rew, logp, logp), rets[:, None].expand(4, 6))
    for fn in (per_decision_is_weights, first_order_is_weights, notes_causal_is_weights):
        assert torch.allclose(fn(rew, logp, logp), rtg), fn.__name__
        assert fn(rew, logp, logp).dtype == torch.float32


def test_effective_sample_size():
    assert effective_sample_size(torch.ones(4)) == pytest.approx(4.0)
    assert effective_sample_size(torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_sample_size(torch.tensor([1.0, 2.0, 3.0])) == pytest.approx(36 / 14)
    assert effective_sample_size(torch.tensor([1e300, 1e300, 0.0])) == pytest.approx(2.0)  # no overflow of w²
    assert effective_sample_size(torch.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="≥ 0"):
        effective_sample_size(torch.tensor([1.0, -1.0]))


def test_long_horizon_no_underflow_or_overflow():
    # T = 1000 steps, each action probability e^-50 (float32): Π π' and Π π are both 0 in floating point,
    # so the naive ratio is 0/0; log-ratios alternate ±5, so every product of ratios is 1 or e^5.
    T = 1000
    logp_old = torch.full((2, T), -50.0)
    delta = torch.tensor([5.0, -5.0]).repeat(T // 2)
    logp_new = logp_old + delta
    rew = torch.ones(2, T)
    naive = logp_new.double().exp().prod(1) / logp_old.double().exp().prod(1)
    assert torch.isnan(naive).all()  # what this module avoids
    assert torch.allclose(trajectory_ratio(logp_new, logp_old), torch.ones(2))
    assert torch.allclose(trajectory_is_weights(rew, logp_new, logp_old), torch.full((2, T), float(T)))
    pd = per_decision_is_weights(rew, logp_new, logp_old)
    # Σ_{t'≥t} Π_{t''≤t'} ρ: the cumulative log-ratio is 5 at even t' (0-based) and 0 at odd t'
    remaining = torch.arange(T, 0, -1, dtype=torch.float64)
    n_even = torch.div(remaining + (torch.arange(T) % 2 == 0), 2, rounding_mode="floor")
    want = n_even * math.exp(5.0) + (remaining - n_even)
    assert torch.isfinite(pd).all() and torch.allclose(pd[0].double(), want, rtol=1e-5)
    for fn in WEIGHTS:
        assert torch.isfinite(fn(rew, logp_new, logp_old)).all(), fn.__name__


def test_huge_intermediate_ratios_cancel_in_log_space():
    # log-ratio +40 for 500 steps, then −40 for 500: Π ρ over the trajectory is exactly 1, although the naive
    # running product of ratios overflows float64 (e^{40·500}) and then gives inf · 0 = nan
    T = 1000
    delta = torch.cat([torch.full((500,), 40.0), torch.full((500,), -40.0)])[None].double()
    logp_old = torch.zeros(1, T, dtype=torch.float64) - 1.0
    logp_new = logp_old + delta
    assert torch.isinf(delta.exp().cumprod(1)).any()
    assert float(trajectory_ratio(logp_new, logp_old)) == pytest.approx(1.0)
    rew = torch.zeros(1, T, dtype=torch.float64)
    rew[0, -1] = 2.0  # only the last reward: its full-trajectory product is 1
    assert float(per_decision_is_weights(rew, logp_new, logp_old)[0, 0]) == pytest.approx(2.0)
    assert torch.isfinite(trajectory_is_weights(rew, logp_new, logp_old)).all()


def test_random_long_horizon_matches_direct_float64_formula():
    # T = 1000, log-ratios ~ N(0, 1): cumulative sums wander to ±~60, fine in float64; check a few t directly
    T = 1000
    g = torch.Generator().manual_seed(0)
    logp_old = -torch.rand(3, T, generator=g, dtype=torch.float64) * 5
    logp_new = logp_old + torch.randn(3, T, generator=g, dtype=torch.float64)
    rew = torch.randn(3, T, generator=g, dtype=torch.float64)
    pd = per_decision_is_weights(rew, logp_new, logp_old)
    assert torch.isfinite(pd).all()
    cum = (logp_new - logp_old).cumsum(1)
    for t in (0, 17, 500, 999):
        direct = sum(float(rew[0, k]) * math.exp(float(cum[0, k])) for k in range(t, T))
        assert float(pd[0, t]) == pytest.approx(direct, rel=1e-9)


def test_shapes_are_validated():
    rew, logp_new, logp_old, mask = hand_example()
    with pytest.raises(ValueError, match="logp_old must have the shape of logp_new"):
        per_decision_is_weights(rew, logp_new, logp_old[:, :2])
    with pytest.raises(ValueError, match="rew must have the shape of logp_new"):
        trajectory_is_weights(rew[:1], logp_new, logp_old)
    with pytest.raises(ValueError, match=r"logp_new must have shape \(N, T\)"):
        trajectory_ratio(logp_new[0], logp_old[0])


# --- statistical tests against the exact gradient of the target policy ---------------------------------------

def random_logits(seed, scale=1.0):
    return scale * torch.randn(5, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.fixture(scope="module", params=[0, 1])
def off_policy(request):
    # target θ' ~ N(0, 1) logits; behaviour θ = θ' + 0.5 · N(0, 1): trajectory ESS ≈ 20–25 % of N
    seed = request.param
    mdp = TabularMDP.random(5, 3, 10, seed=seed)
    target = random_logits(100 + seed)
    lab = make_lab(mdp, target, n_traj=100_000, seed=seed, behaviour_logits=target + 0.5 * random_logits(200 + seed))
    return seed, compare_estimators(lab, ["trajectory_is", "per_decision_is", "first_order_is", "notes_causal_is"])


@pytest.mark.slow
def test_trajectory_and_per_decision_is_are_unbiased(off_policy):
    # max |z| < 4.5 over all 15 parameters, N = 10^5; per-decision has the lower variance
    seed, s = off_policy
    print(f"MDP {seed}: " + "; ".join(f"{k} max|z| {v.max_abs_z:.2f} tr Cov {v.trace_cov:.4g}" for k, v in s.items()))
    assert s["trajectory_is"].max_abs_z < Z_MAX, s["trajectory_is"]
    assert s["per_decision_is"].max_abs_z < Z_MAX, s["per_decision_is"]
    assert s["per_decision_is"].trace_cov < s["trajectory_is"].trace_cov


@pytest.mark.slow
def test_notes_causal_form_is_biased(off_policy):
    # notebook 08: the notes' Π_{t''=t}^{t'} counts ρ_t twice; it misses ∇J(θ') by ≫ 20 standard errors (≈ 90–100 here)
    seed, s = off_policy
    assert s["notes_causal_is"].max_abs_z > 20, s["notes_causal_is"]


@pytest.mark.slow
def test_first_order_bias_grows_with_policy_distance():
    # behaviour θ = θ' + d·D for d = 0, 0.25, 0.5, 1: unbiased at d = 0 (|z| < 4.5), then ‖bias‖ grows with d
    # and is significant (max |z| > 4.5) at every d > 0. N = 10^5 per distance.
    mdp = TabularMDP.random(5, 3, 10, seed=0)
    target, direction = random_logits(100), random_logits(300)
    results = {}
    for d in (0.0, 0.25, 0.5, 1.0):
        lab = make_lab(mdp, target, n_traj=100_000, seed=1, behaviour_logits=target + d * direction)
        results[d] = compare_estimators(lab, ["first_order_is"])["first_order_is"]
    print("first-order IS: " + "; ".join(f"d={d}: ‖ĝ − ∇J‖ {s.error_norm:.3f}, max|z| {s.max_abs_z:.1f}"
                                          for d, s in results.items()))
    assert results[0.0].max_abs_z < Z_MAX
    norms = [results[d].error_norm for d in results]
    assert all(a < b for a, b in zip(norms, norms[1:])), norms
    assert all(results[d].max_abs_z > Z_MAX for d in (0.25, 0.5, 1.0))


@pytest.mark.slow
def test_trajectory_is_variance_grows_with_horizon():
    # same P, R, p0, θ' and θ = θ' + 0.3·D, T = 2, 5, 10, 20: tr Cov of trajectory IS grows, and faster than
    # that of the unweighted (ρ = 1) total-return samples of the same batch (their ratio grows too);
    # the trajectory ESS falls. N = 10^5.
    base = TabularMDP.random(5, 3, 10, seed=0)
    target, direction = random_logits(100), random_logits(300)
    rows = []
    for T in (2, 5, 10, 20):
        lab = make_lab(base.with_horizon(T), target, n_traj=100_000, seed=1,
                       behaviour_logits=target + 0.3 * direction)
        s = compare_estimators(lab, ["trajectory_is", "total_return"])
        ess = effective_sample_size(trajectory_ratio(lab.logp, lab.logp_old))
        rows.append((T, s["trajectory_is"].trace_cov, s["trajectory_is"].trace_cov / s["total_return"].trace_cov, ess))
        assert s["trajectory_is"].max_abs_z < Z_MAX
    print("trajectory IS: " + "; ".join(f"T={T}: tr Cov {v:.4g} ({r:.2f}× unweighted), ESS {e:.0f}"
                                         for T, v, r, e in rows))
    for a, b in zip(rows, rows[1:]):
        assert a[1] < b[1] and a[2] < b[2] and a[3] > b[3], rows
