"""Per-trajectory gradient samples: torch.func against a plain autograd loop, the closed form, the pseudo-loss."""

import math

import pytest
import torch

from pgcourse import (Batch, CategoricalPolicy, GaussianPolicy, TabularMDP, TabularSoftmaxPolicy, compare_to_exact,
                      gradient_samples, n_params, pg_pseudo_loss, tabular_gradient_samples, trajectory_scores)

N, T = 5, 4


def make_batch(obs, act, seed=0):
    g = torch.Generator().manual_seed(seed)
    rew = torch.randn(N, T, generator=g)
    mask = torch.ones(N, T, dtype=torch.bool)
    mask[1, 2:] = False  # trajectory 1 ended after 2 steps, trajectory 3 after 1
    mask[3, 1:] = False
    return Batch(obs=obs, act=act, rew=rew * mask, mask=mask, terminated=torch.ones(N, dtype=torch.bool),
                 truncated=torch.zeros(N, dtype=torch.bool))


def tabular_case():
    torch.manual_seed(0)
    policy = TabularSoftmaxPolicy(4, 3)
    with torch.no_grad():
        policy.logits.normal_()
    g = torch.Generator().manual_seed(1)
    return policy, make_batch(torch.randint(0, 4, (N, T), generator=g), torch.randint(0, 3, (N, T), generator=g))


def categorical_case():
    torch.manual_seed(0)
    policy = CategoricalPolicy(3, 2, hidden=(8,), out_scale=1.0)
    g = torch.Generator().manual_seed(1)
    return policy, make_batch(torch.randn(N, T, 3, generator=g), torch.randint(0, 2, (N, T), generator=g))


def gaussian_case():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, hidden=(8,), log_std_init=-0.3, out_scale=1.0)
    g = torch.Generator().manual_seed(1)
    return policy, make_batch(torch.randn(N, T, 3, generator=g), torch.randn(N, T, 2, generator=g))


CASES = {"tabular": tabular_case, "categorical": categorical_case, "gaussian": gaussian_case}


def loop_gradient_samples(policy, batch, weights):
    """The oracle: one backward pass per trajectory, Σ_t log π(a_t|s_t) w_t over its real steps."""
    rows = []
    for i in range(batch.n_traj):
        m = batch.mask[i]
        logp = policy.log_prob(batch.obs[i][m], batch.act[i][m])
        grads = torch.autograd.grad((logp * weights[i][m]).sum(), list(policy.parameters()), allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for g, p in zip(grads, policy.parameters())]))
    return torch.stack(rows)


@pytest.mark.parametrize("case", CASES)
def test_gradient_samples_match_autograd_loop(case):
    # float32 throughout: agreement to 1e-5 (rounding only)
    policy, batch = CASES[case]()
    weights = batch.reward_to_go()
    samples = gradient_samples(policy, batch, weights)
    assert samples.shape == (N, n_params(policy))
    assert torch.allclose(samples, loop_gradient_samples(policy, batch, weights), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_masked_steps_contribute_nothing(case):
    policy, batch = CASES[case]()
    weights = torch.ones(N, T)
    garbage = weights.clone()
    garbage[~batch.mask] = 1e6  # weights of steps that never happened must be ignored
    assert torch.allclose(gradient_samples(policy, batch, weights), gradient_samples(policy, batch, garbage))


@pytest.mark.parametrize("case", CASES)
def test_pseudo_loss_gradient_is_minus_mean_of_samples(case):
    # ∇θ L = −(1/N) Σ_i ĝ_i, to 1e-5 (float32)
    policy, batch = CASES[case]()
    weights = batch.reward_to_go()
    loss = pg_pseudo_loss(policy.log_prob(batch.obs, batch.act), weights, batch.mask)
    grads = torch.autograd.grad(loss, list(policy.parameters()))
    flat = torch.cat([g.reshape(-1) for g in grads])
    assert torch.allclose(flat, -gradient_samples(policy, batch, weights).mean(0), atol=1e-5, rtol=1e-5)


def test_trajectory_scores_are_ones_weights_and_per_trajectory_weights_broadcast():
    policy, batch = gaussian_case()
    scores = trajectory_scores(policy, batch)
    assert torch.equal(scores, gradient_samples(policy, batch, torch.ones(N, T)))
    rets = batch.returns()
    assert torch.allclose(gradient_samples(policy, batch, rets), gradient_samples(policy, batch, rets[:, None].expand(N, T)))
    assert torch.allclose(gradient_samples(policy, batch, rets), scores * rets[:, None], atol=1e-5)


def test_gradient_samples_leave_the_policy_untouched_and_chunking_agrees():
    policy, batch = categorical_case()
    before = [p.detach().clone() for p in policy.parameters()]
    a = gradient_samples(policy, batch, batch.reward_to_go())
    b = gradient_samples(policy, batch, batch.reward_to_go(), chunk_size=2)
    assert torch.allclose(a, b, atol=1e-6)  # float32 rounding differs between chunkings
    assert all(p.grad is None for p in policy.parameters())
    assert all(torch.equal(p, q) for p, q in zip(policy.parameters(), before))
    with torch.no_grad():  # works inside no_grad as well
        assert torch.allclose(gradient_samples(policy, batch, batch.reward_to_go()), a, atol=1e-6)


def test_gradient_samples_validate_weights():
    policy, batch = tabular_case()
    with pytest.raises(ValueError, match=r"weights must have shape \(N, T\) = \(5, 4\)"):
        gradient_samples(policy, batch, torch.ones(4, 5))


def test_gaussian_score_has_no_factor_one_half():
    # notebook 04: ∇_μ log N(a; μ, σ²) = (a − μ)/σ², checked on the output bias of μ_θ
    policy, batch = gaussian_case()
    scores = trajectory_scores(policy, batch[:1])
    names = [name for name, _ in policy.named_parameters()]
    sizes = [p.numel() for p in policy.parameters()]
    k = names.index("mu_net.2.bias")
    start = sum(sizes[:k])
    m = batch.mask[0]
    obs, act = batch.obs[0][m], batch.act[0][m]
    with torch.no_grad():
        expected = ((act - policy.mean(obs)) / policy.log_std.exp().pow(2)).sum(0)
    assert torch.allclose(scores[0, start:start + sizes[k]], expected, atol=1e-5)


def test_closed_form_tabular_samples_equal_torch_func_path():
    # the lab's fast path: one-hot(a) − π(·|s) scattered into the (S, A) grid; agreement to 1e-12 (float64)
    mdp = TabularMDP.random(5, 3, 10, seed=0)
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    batch = mdp.sample(logits, 300, seed=1)
    weights = batch.reward_to_go().double()
    policy = TabularSoftmaxPolicy.from_logits(logits)
    assert torch.allclose(tabular_gradient_samples(logits, batch.obs, batch.act, weights),
                          gradient_samples(policy, batch, weights), atol=1e-12, rtol=0)
    mask = torch.rand(300, 10, generator=torch.Generator().manual_seed(2)) < 0.7
    masked = Batch(batch.obs, batch.act, batch.rew, mask, batch.terminated, batch.truncated)
    assert torch.allclose(tabular_gradient_samples(logits, batch.obs, batch.act, weights, mask),
                          gradient_samples(policy, masked, weights), atol=1e-12, rtol=0)


def test_score_has_zero_mean_eglp():
    # E_{τ~p_θ}[∇θ log p_θ(τ)] = 0: max |z| < 4.5 over all 15 parameters, N = 10^5
    mdp = TabularMDP.random(5, 3, 10, seed=21)
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    batch = mdp.sample(logits, 100_000, seed=2)
    policy = TabularSoftmaxPolicy.from_logits(logits)
    summary = compare_to_exact(trajectory_scores(policy, batch), torch.zeros(5, 3))
    assert summary.max_abs_z < 4.5, summary


def test_compare_to_exact_hand_example_and_degenerate_parameters():
    samples = torch.tensor([[1.0, 2.0, 5.0], [3.0, 2.0, 5.0]])
    s = compare_to_exact(samples, torch.tensor([1.0, 2.0, 4.0]))
    # parameter 0: mean 2, std √2, stderr 1, z = 1; parameter 1: stderr 0 and mean = exact -> z 0;
    # parameter 2: stderr 0 and mean ≠ exact -> z = +inf
    assert torch.allclose(s.mean, torch.tensor([2.0, 2.0, 5.0], dtype=torch.float64))
    assert torch.allclose(s.stderr, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert s.z[0] == pytest.approx(1.0) and s.z[1] == 0.0 and s.z[2] == math.inf
    assert s.max_abs_z == math.inf and s.n == 2
    assert s.trace_cov == pytest.approx(2.0)  # the per-parameter variances 2, 0, 0
    assert torch.allclose(s.error, torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="P = 3 entries"):
        compare_to_exact(samples, torch.zeros(2))
    with pytest.raises(ValueError, match="at least 2 samples"):
        compare_to_exact(samples[:1], torch.zeros(3))


# --- the laboratory (pgcourse/lab.py) ----------------------------------------------------------------------------

def test_lab_matches_public_torch_func_path():
    # compare_estimators' closed-form samples == gradient_samples with a TabularSoftmaxPolicy (to 1e-10)
    from pgcourse import compare_estimators, make_lab, optimal_baseline, subtract_baseline
    mdp = TabularMDP.random(4, 3, 6, seed=5)
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lab = make_lab(mdp, logits, n_traj=2000, seed=3)
    policy = TabularSoftmaxPolicy.from_logits(logits)
    rtg = lab.rtg  # float64 rewards R[s, a] (batch.rew is the float32 copy)
    scores = trajectory_scores(policy, lab.batch)
    expected = {
        "reward_to_go": compare_to_exact(gradient_samples(policy, lab.batch, rtg), mdp.gradient(logits)),
        "total_return_optimal_baseline": compare_to_exact(
            subtract_baseline(scores * lab.rets[:, None], scores, optimal_baseline(scores, lab.rets)),
            mdp.gradient(logits)),
    }
    got = compare_estimators(lab, {"reward_to_go": "reward_to_go",
                                   "total_return_optimal_baseline": "total_return_optimal_baseline"})
    for name, want in expected.items():
        assert torch.allclose(got[name].mean, want.mean, atol=1e-10) and torch.allclose(got[name].z, want.z, atol=1e-6)
        assert got[name].trace_cov == pytest.approx(want.trace_cov, rel=1e-9)
    # user weights: a tensor or a function of the lab; on-policy, importance weights reduce to reward-to-go
    custom = compare_estimators(lab, {"rtg tensor": lab.rtg, "rtg fn": lambda lab: lab.rtg, "pd": "per_decision_is"})
    assert all(torch.allclose(s.mean, got["reward_to_go"].mean, atol=1e-10) for s in custom.values())
    with pytest.raises(ValueError, match="unknown estimator 'nope'"):
        compare_estimators(lab, ["nope"])
    with pytest.raises(ValueError, match=r"weights for 'bad' must have shape \(N, T\)"):
        compare_estimators(lab, {"bad": torch.ones(3, 3)})


def test_lab_is_fast_enough_for_notebooks():
    # 10^4 trajectories of a 5-state, 3-action, horizon-10 MDP, sampled and summarised for four estimators
    # in ≤ 1 s (best of 3; typically ~0.03 s on an idle 2-core machine)
    import time
    from pgcourse import compare_estimators, format_summaries, make_lab
    mdp = TabularMDP.random(5, 3, 10, seed=0)
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    names = ["total_return", "reward_to_go", "reward_to_go_mean_baseline", "total_return_optimal_baseline"]
    best = math.inf
    for rep in range(3):
        t0 = time.perf_counter()
        results = compare_estimators(make_lab(mdp, logits, n_traj=10_000, seed=rep), names)
        best = min(best, time.perf_counter() - t0)
    print(f"\n{format_summaries(results)}\nlab: 10^4 trajectories, 4 estimators: {best:.3f} s (best of 3)")
    assert list(results) == names and best < 1.0
