"""Notebook 09: the pseudo-loss checkers, budgeted training, gradient-noise and step measurements, the panel,
and the notebook's claims from training over many seeds (marker ``claims``: margins that hold on either float
path, ATEN_CPU_CAPABILITY unset or =default)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import assert_same_history, not_implemented, rerun_with
from pgcourse import TrainConfig, sample_batch, train
from pgcourse.seeds import train_seeds
from pgcourse.lessons.nb09_implementing_policy_gradients.checks import (check_pseudo_loss, check_notes_pg_loss,
                                                           pseudo_loss_reference, notes_pg_loss_reference)
from pgcourse.estimators import gradient_samples, pg_pseudo_loss
from pgcourse.lessons.nb09_implementing_policy_gradients.measure import (PANEL_SEEDS, SEEDS_PANEL_ENV_STEPS, SEEDS_PANEL_ITERATIONS,
                                                    SeedRuns, gradient_noise, gradient_noise_seeds,
                                                    gradient_norm_trend, learning_rate_grid,
                                                    loss_return_correlations, one_step_change, policies_after,
                                                    policy_after, seeds_panel_config, train_seeds_panel)
from pgcourse.stats import bootstrap_difference, bootstrap_interval, median_iqr
from pgcourse.history import History
from pgcourse.lessons.nb09_implementing_policy_gradients.panel import implementing_panel, train_curves


# ---------------------------------------------------------------------------------------------
# checkers


def _pseudo(denominator, detach=True, sign=-1.0, use_mask=True):
    def fn(logp, weights, mask, reduction="trajectories"):
        w = weights.detach() if detach else weights
        terms = logp * w
        if use_mask:
            terms = torch.where(mask, terms, torch.zeros((), dtype=logp.dtype))
        return sign * terms.sum() / denominator(logp, mask, reduction)
    return fn


def _right_denominator(logp, mask, reduction):
    return logp.shape[0] if reduction == "trajectories" else mask.sum()


def test_pseudo_loss_checker_passes_the_reference_and_a_rewrite(capsys):
    assert check_pseudo_loss(pseudo_loss_reference)
    assert check_pseudo_loss(_pseudo(_right_denominator))
    assert "✅ PASS" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [
    _pseudo(lambda logp, mask, r: logp.shape[0] if r == "trajectories" else logp.numel()),  # counts the padding
    _pseudo(lambda logp, mask, r: mask.sum()),                                              # always per step
    _pseudo(_right_denominator, detach=False),                                              # gradient into weights
    _pseudo(_right_denominator, sign=1.0),                                                  # forgot the minus
    _pseudo(_right_denominator, use_mask=False),                                            # padding leaks in
])
def test_pseudo_loss_checker_fails_plausible_mistakes(wrong, capsys):
    assert not check_pseudo_loss(wrong)
    assert "❌ FAIL" in capsys.readouterr().out


def test_pseudo_loss_checker_reports_a_stub_without_raising(capsys):
    result = check_pseudo_loss(not_implemented)
    assert not result and "not implemented yet" in result.message


def test_pseudo_loss_reference_matches_pg_pseudo_loss_and_the_step_mean():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, 9.0, 9.0]])
    weights = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    per_traj = pseudo_loss_reference(logp, weights, mask)
    assert per_traj == pytest.approx(pg_pseudo_loss(logp, weights, mask).item())
    assert per_traj == pytest.approx((1 + 4 + 9 + 2) / 2)
    assert pseudo_loss_reference(logp, weights, mask, reduction="steps") == pytest.approx((1 + 4 + 9 + 2) / 4)


def test_notes_pg_loss_checker(capsys):
    assert check_notes_pg_loss(notes_pg_loss_reference)
    broadcast = lambda logits, actions, q: (F.cross_entropy(logits, actions, reduction="none") * q).mean()
    summed = lambda logits, actions, q: (F.cross_entropy(logits, actions, reduction="none") * q[:, 0]).sum()
    positive = lambda logits, actions, q: (-F.cross_entropy(logits, actions, reduction="none") * q[:, 0]).mean()
    for wrong in (broadcast, summed, positive):
        assert not check_notes_pg_loss(wrong)
    assert not check_notes_pg_loss(not_implemented)
    assert "not implemented yet" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# package functions


def test_one_step_change_oracles():
    policy = policy_after(TrainConfig(seed=1), iterations=1)
    batch = sample_batch("CartPole-v1", policy, n_traj=4, seed=5)
    rtg = batch.reward_to_go()

    def loss_fn(p):
        return pg_pseudo_loss(p.log_prob(batch.obs, batch.act), rtg, batch.mask)

    before = [p.detach().clone() for p in policy.parameters()]
    grads = torch.autograd.grad(loss_fn(policy), list(policy.parameters()))
    grad_norm = float(torch.cat([g.reshape(-1) for g in grads]).norm())
    # SGD: θ' − θ = −α ∇L exactly
    assert one_step_change(policy, loss_fn, "sgd", 0.01) == pytest.approx(0.01 * grad_norm, rel=1e-4)
    # Adam's first step: α · g / (|g| + ε) per coordinate, i.e. about α for every coordinate with g ≠ 0
    nonzero = int(sum((g.abs() > 1e-6).sum() for g in grads))
    assert one_step_change(policy, loss_fn, "adam", 0.01) == pytest.approx(0.01 * math.sqrt(nonzero), rel=1e-2)
    # doubling the loss doubles SGD's step and leaves Adam's unchanged
    double = lambda p: 2 * loss_fn(p)
    assert one_step_change(policy, double, "sgd", 0.01) == pytest.approx(2 * 0.01 * grad_norm, rel=1e-4)
    assert one_step_change(policy, double, "adam", 0.01) == pytest.approx(
        one_step_change(policy, loss_fn, "adam", 0.01), rel=1e-4)
    for p, q in zip(policy.parameters(), before):  # the policy itself never moves
        assert torch.equal(p, q)


def test_gradient_noise_follows_the_one_over_n_law_and_matches_a_direct_computation():
    policy = policy_after(TrainConfig(seed=0), iterations=1)
    sizes = [1, 4, 16]
    noise = gradient_noise(policy, batch_sizes=sizes, n_pool=2048, n_ref=2048, gamma=0.99, seed=7)
    # oracle: the same quantities computed directly from gradient_samples
    pool = sample_batch("CartPole-v1", policy, n_traj=2048, seed=7)
    ref = sample_batch("CartPole-v1", policy, n_traj=2048, seed=8)
    g_pool = gradient_samples(policy, pool, pool.reward_to_go(0.99)).double()
    ref_samples = gradient_samples(policy, ref, ref.reward_to_go(0.99)).double()
    g_ref = ref_samples.mean(0)
    assert noise.tr_cov == pytest.approx(float(g_pool.var(0).sum()), rel=1e-6)
    assert noise.mean_length == pytest.approx(float(pool.lengths.double().mean()))
    # the signal: ‖g_ref‖² minus the reference's own noise tr Cov_ref / n_ref (E‖g_ref‖² = ‖∇J‖² + tr Cov / n_ref)
    assert noise.signal_sq_norm == pytest.approx(float(g_ref.pow(2).sum() - ref_samples.var(0).sum() / 2048), rel=1e-6)
    assert noise.noise_equals_signal == pytest.approx(noise.tr_cov / noise.signal_sq_norm)
    assert noise.cos_at(4) == noise.cos_mean[1]
    for k, n in enumerate(sizes):
        m = 2048 // n
        errors = (g_pool.reshape(m, n, -1).mean(1) - g_ref).pow(2).sum(1)        # ‖ĝ_N − g_ref‖², m batches
        assert noise.sq_err[k] == pytest.approx(float(errors.mean()), rel=1e-6)
        # E‖ĝ_N − g_ref‖² = tr Cov / N + tr Cov_ref / n_ref: a z-test over the m disjoint batches, |z| < 4
        # (a wide margin: the errors are skewed; this policy and seed give |z| < 1)
        z = (float(errors.mean()) - noise.predicted_sq_err[k]) / (float(errors.std()) / math.sqrt(m))
        assert abs(z) < 4, (n, z)
    assert noise.cos_mean[-1] > noise.cos_mean[0] + 0.3   # larger batches point closer to the true gradient


def test_gradient_noise_rejects_a_batch_larger_than_the_pool():
    with pytest.raises(ValueError, match="exceeds n_pool"):
        gradient_noise(policy_after(TrainConfig(), 1), batch_sizes=[64], n_pool=32, n_ref=32)


def test_gradient_noise_seeds_measure_each_seeds_policy():
    config = TrainConfig(n_traj=4)
    noises = gradient_noise_seeds(config, iterations=2, seeds=[3, 5], batch_sizes=[1, 4], n_pool=16, n_ref=16)
    policies = policies_after(config, 2, [3, 5])
    for noise, policy, seed in zip(noises, policies, [3, 5]):
        direct = gradient_noise(policy, batch_sizes=[1, 4], n_pool=16, n_ref=16, seed=2 * seed)
        assert noise.rows() == direct.rows() and noise.tr_cov == direct.tr_cov
    one = policy_after(replace(config, seed=5), 2)   # one seed alone: the same run up to float rounding
    for p, q in zip(one.parameters(), policies[1].parameters()):
        assert torch.allclose(p, q, atol=1e-5)


def _history(loss, mean_return, grad_norm=None):
    h = History()
    n = len(loss)
    grad_norm = [1.0] * n if grad_norm is None else grad_norm
    for i in range(n):
        h.append(iteration=i, mean_return=mean_return[i], stderr_return=0.0, recent_return=mean_return[i],
                 env_steps=100 * (i + 1), wall_s=0.0, loss=loss[i], grad_norm=grad_norm[i], entropy=0.5)
    return h


def test_loss_return_correlations_and_gradient_norm_trend_oracles():
    rets = [10.0, 20.0, 40.0, 80.0]
    rising, falling = _history([1.0, 2.0, 3.0, 5.0], rets), _history([4.0, 3.0, 1.0, 0.0], rets)
    flat = _history([0.0, 0.0, 0.0, 0.0], rets)
    r = loss_return_correlations([rising, falling, flat])
    assert r[0] == pytest.approx(np.corrcoef([1, 2, 3, 5], rets)[0, 1]) and r[0] > 0.9
    assert r[1] < -0.9 and math.isnan(r[2])                   # a constant loss has no correlation
    # ‖∇‖ 2, 4, (no step: 0 and NaN are skipped), 20 on returns 10, 20, 40, 80: span 10, ranks agree
    trend = gradient_norm_trend([_history([0.0] * 4, rets, [2.0, 4.0, 0.0, 20.0]),
                                 _history([0.0] * 4, rets, [8.0, 4.0, math.nan, 1.0])])
    assert trend["span"][0] == pytest.approx(10.0) and trend["span"][1] == pytest.approx(8.0)
    assert trend["rank_corr"][0] == pytest.approx(1.0) and trend["rank_corr"][1] == pytest.approx(-1.0)


def test_learning_rate_grid_cells_are_train_seeds_runs():
    cells = learning_rate_grid([0.01, 0.1], optimizers=("sgd", "adam"), seeds=(4, 6), iterations=3)
    assert [(c.optimizer, c.lr, c.seeds) for c in cells] == [("sgd", 0.01, (4, 6)), ("sgd", 0.1, (4, 6)),
                                                             ("adam", 0.01, (4, 6)), ("adam", 0.1, (4, 6))]
    config = TrainConfig(optimizer="adam", lr=0.1, iterations=3, target_return=475.0)
    _, direct = train_seeds(config, (4, 6), progress=False)
    for h, d in zip(cells[-1].histories, direct):
        assert_same_history(h, d)
    assert list(cells[-1].final_returns) == [h.final_return for h in direct]
    assert cells[-1].n == 2 and cells[-1].solved == 0 and cells[-1].diverged == 0
    assert cells[-1].summary().startswith("median ") and cells[-1].summary().endswith("475 on 0/2")


# ---------------------------------------------------------------------------------------------
# panel


def test_panel_trains_five_seeds_redraws_and_matches_a_direct_train_seeds_call():
    panel = implementing_panel()
    panel.run()
    runs = panel.result
    assert isinstance(runs, SeedRuns) and runs.seeds == PANEL_SEEDS and len(PANEL_SEEDS) >= 5
    assert (runs.config.n_traj, runs.config.lr, runs.config.optimizer) == (8, TrainConfig().lr, "adam")
    _, direct = train_seeds(seeds_panel_config(8, TrainConfig().lr, "adam"), PANEL_SEEDS, progress=False)
    for h, d in zip(runs.histories, direct):
        assert_same_history(h, d)
    assert runs.describe().startswith("return ") and f"475 on {runs.solved}/5" in runs.describe()

    runs = rerun_with(panel, n_traj=4, lr=1.0, optimizer="sgd")   # a bad setting: it must stop quickly too
    assert len(panel.runs) == 2
    assert (runs.config.n_traj, runs.config.lr, runs.config.optimizer) == (4, 1.0, "sgd")
    expected = train_curves(4, 1.0, "sgd", progress=False)
    for h, d in zip(runs.histories, expected.histories):
        assert_same_history(h, d)
    # the budget: each seed stopped by 475, the iteration cap, or the first batch past the env-step budget
    for h in runs.histories:
        assert h.solved or len(h) == SEEDS_PANEL_ITERATIONS or (
            h.env_steps[-1] >= SEEDS_PANEL_ENV_STEPS > h.env_steps[-2])


def test_train_seeds_panel_needs_a_budget():
    with pytest.raises(ValueError, match="budget"):
        train_seeds_panel(TrainConfig(), seeds=(0,))


# ---------------------------------------------------------------------------------------------
# the notebook's claims from training, recomputed with the notebook's seeds and configs

SEEDS = range(10)


@pytest.fixture(scope="module")
def loss_runs():
    """Notebook 09 c18: 10 seeds of the defaults and of raw Q̂, at most 20 iterations, stopped at 475."""
    runs = {"defaults": TrainConfig(iterations=20, target_return=475.0),
            "raw": TrainConfig(iterations=20, target_return=475.0, baseline="none", normalise=False)}
    return {name: train_seeds(config, SEEDS, progress=False)[1] for name, config in runs.items()}


@pytest.mark.slow
@pytest.mark.claims
def test_claim_the_loss_does_not_track_the_return(loss_runs):
    defaults, raw = (loss_return_correlations(loss_runs[k]) for k in ("defaults", "raw"))
    med = median_iqr(defaults)[0]
    assert -0.6 < med < -0.1                     # "drifts down a little …, only loosely"
    assert med ** 2 < 0.2                        # "accounts for less than a fifth of the return's variation"
    med_raw, q25_raw, _ = median_iqr(raw)
    assert med_raw > 0.9 and q25_raw > 0.85      # "rises with the return, almost in lockstep"
    assert raw.min() > 0.7                       # "above +0.7 in every seed"


@pytest.mark.slow
@pytest.mark.claims
def test_claim_the_gradient_size_varies_within_a_run(loss_runs):
    trend = gradient_norm_trend(loss_runs["defaults"])
    assert 5 < median_iqr(trend["span"])[0] < 25          # "about ten times its smallest"
    assert median_iqr(trend["rank_corr"])[0] > 0.4        # "it grows as the episodes get longer"


@pytest.fixture(scope="module")
def noises():
    """Notebook 09 c22: gradient noise at 10 policies, five steps into training."""
    return gradient_noise_seeds(TrainConfig(), iterations=5, seeds=SEEDS, batch_sizes=[1, 2, 4, 8, 16, 32, 64],
                                n_pool=512, n_ref=512)


@pytest.mark.slow
@pytest.mark.claims
def test_claim_gradient_noise_over_ten_policies(noises):
    assert all(n.signal_sq_norm > 0 for n in noises)
    ratio = np.median([n.sq_err / n.predicted_sq_err for n in noises], axis=0)
    assert np.all((0.85 < ratio) & (ratio < 1.15)), ratio                       # "within about 10 % … at every N"
    assert median_iqr([n.cos_at(1) for n in noises])[0] < 0.15                   # "barely points along" (0.07)
    n_star, n_star_q25, _ = median_iqr([n.noise_equals_signal for n in noises])
    assert 10 < n_star < 20                                                      # "a median of N ≈ 14"
    assert n_star_q25 > 8                              # "at N = 8 the noise is larger … for most of the policies"
    assert 0.5 < median_iqr([n.cos_at(8) for n in noises])[0] < 0.72             # "0.62 at N = 8" (noise > signal)
    assert median_iqr([n.cos_at(64) for n in noises])[0] > 0.9


@pytest.fixture(scope="module")
def grid():
    """Notebook 09 c26: SGD and Adam at five α, 10 seeds per cell, 20 gradient steps."""
    cells = learning_rate_grid([0.01, 0.03, 0.1, 0.3, 1.0], optimizers=("sgd", "adam"), seeds=SEEDS, iterations=20)
    return {(c.optimizer, c.lr): c for c in cells}


@pytest.mark.slow
@pytest.mark.claims
def test_claim_learning_rate_grid(grid):
    med = {key: median_iqr(c.final_returns)[0] for key, c in grid.items()}
    entropy = {key: np.median([h.entropy[-1] for h in c.histories]) for key, c in grid.items()}
    sgd = [key for key in grid if key[0] == "sgd"]
    assert all(grid[key].solved == 0 for key in sgd)                          # "none of its 50 runs"
    assert max(med[key] for key in sgd) < 100                                 # "its best median is below 100"
    adam = {lr: med[("adam", lr)] for lr in (0.01, 0.03, 0.1, 0.3, 1.0)}
    assert sorted(adam, key=adam.get)[-2:] in ([0.03, 0.1], [0.1, 0.03])      # "largest medians at α = 0.03 and 0.1"
    assert 160 < adam[0.03] < 280 and 210 < adam[0.1] < 350                   # "about 220 and 290"
    assert grid[("adam", 0.03)].solved >= 1 and grid[("adam", 0.1)].solved >= 3
    assert all(grid[key].solved <= 1 for key in grid if key not in (("adam", 0.03), ("adam", 0.1)))
    assert 80 < adam[0.01] < 170                                              # "about 120 at 0.01"
    assert adam[0.3] < 60 and adam[1.0] < 15                                  # "31 and 12": collapsed
    assert entropy[("adam", 0.3)] < 0.05 and entropy[("adam", 1.0)] < 0.05   # "below 0.05 nats"


WHAT_TO_TRY = {"N=4": (4, 0.04, "adam"), "N=8": (8, 0.04, "adam"), "N=16": (16, 0.04, "adam"),
               "N=32": (32, 0.04, "adam"), "N=64": (64, 0.04, "adam"), "N=2": (2, 0.04, "adam"),
               "N=1": (1, 0.04, "adam"), "sgd .04": (8, 0.04, "sgd"), "sgd .1": (8, 0.1, "sgd"),
               "adam .01": (8, 0.01, "adam"), "adam 1": (8, 1.0, "adam"), "sgd 1": (8, 1.0, "sgd")}
WHAT_TO_TRY_SEEDS = range(20)   # the panel's seeds 0–4 and fifteen more


@pytest.fixture(scope="module")
def panel_runs():
    """Notebook 09 c30: the panel's runs (15k env steps) at each setting "What to try" names, on seeds 0–19
    (all seeds of a setting in one train_seeds call)."""
    return {name: train_curves(*setting, progress=False, seeds=WHAT_TO_TRY_SEEDS)
            for name, setting in WHAT_TO_TRY.items()}


def _median_ci(values):
    """(median, low, high): the median over the seeds and its 95 % bootstrap interval."""
    return (float(np.median(values)), *bootstrap_interval(values))


def _entropies(runs):
    return [h.entropy[-1] for h in runs.histories]


@pytest.mark.slow
@pytest.mark.claims
def test_claim_what_to_try_batch_size(panel_runs):
    ret = {name: _median_ci(r.final_returns) for name, r in panel_runs.items()}
    (m8, lo8, hi8), (m16, lo16, hi16), (m32, lo32, hi32), (m64, lo64, hi64) = (
        ret["N=8"], ret["N=16"], ret["N=32"], ret["N=64"])
    # "from N=8 on, the larger the batch, the lower the return within the budget: a median of 393 [353, 406]
    #  at N=8, 285 [203, 320] at 16, 147 [117, 168] at 32 and 77 [70, 87] at 64 over 20 seeds, each interval below
    #  the previous one."
    assert (340 < m8 < 440 and 230 < m16 < 340 and 110 < m32 < 190 and 60 < m64 < 100
            and hi16 < lo8 and hi32 < lo16 and hi64 < lo32)
    # "Each gradient step costs N episodes, so N=64 gets only about 5 steps out of 15k samples (on each of the
    #  20 seeds)"  (5 or 6 on both float paths; a margin of one step either side)
    assert all(4 <= len(h) <= 7 for h in panel_runs["N=64"].histories)
    # "N=4 cannot be ranked against 8 on these seeds: about 6 of the 20 reach 475 but a quarter end below about
    #  175, and its median, 387 [187, 476], has an interval that overlaps N=8's."
    n4 = panel_runs["N=4"]
    _, d_lo, d_hi = bootstrap_difference(n4.final_returns, panel_runs["N=8"].final_returns)
    assert (3 <= n4.solved <= 10 and median_iqr(n4.final_returns)[1] < 250 and 300 < ret["N=4"][0] <= 476
            and ret["N=4"][1] < hi8 and ret["N=4"][2] > lo8 and d_lo < 0 < d_hi)
    # "At N=2 the seeds split: about 12 of the 20 end below 150 and about 7 above 390, so its median is poorly
    #  determined (its 95 % interval runs from about 50 to about 400 or beyond)"
    n2 = panel_runs["N=2"].final_returns
    assert 8 <= sum(n2 < 150) <= 16 and 4 <= sum(n2 > 390) <= 11 and ret["N=2"][1] < 100 and ret["N=2"][2] > 350
    # "the policies end closer to deterministic than at N=8 (median entropy 0.18 [0.15, 0.23] nats against
    #  0.44 [0.36, 0.47])"
    (e2, _, e2_hi), (e8, e8_lo, _) = _median_ci(_entropies(panel_runs["N=2"])), _median_ci(_entropies(panel_runs["N=8"]))
    assert 0.1 < e2 < 0.3 and 0.35 < e8 < 0.52 and e2_hi < e8_lo
    # "At N=1 nothing happens at all — exactly, on every seed: … every weight is 0, and no seed's policy ever
    #  changes (its entropy stays at log 2 = 0.69)."  (exact by construction: the mean baseline is the only Q̂)
    for h in panel_runs["N=1"].histories:
        assert all(g == 0.0 for g in h.grad_norm) and max(abs(e - math.log(2)) for e in h.entropy) < 1e-3


@pytest.mark.slow
@pytest.mark.claims
def test_claim_what_to_try_optimizer_and_collapse(panel_runs):
    ret = {name: _median_ci(r.final_returns) for name, r in panel_runs.items()}
    adam_lo = ret["N=8"][1]   # Adam at α = 0.04, N = 8
    # "Switch to SGD at α = 0.04: a median of 154 [115, 188] against Adam's 393 [353, 406] on the same
    #  20 seeds and budget."
    assert 110 < ret["sgd .04"][0] < 210 and ret["sgd .04"][2] < adam_lo
    # "At α = 0.1 SGD is still far below Adam at 0.04 (median 122 [82, 211])"
    assert 80 < ret["sgd .1"][0] < 190 and ret["sgd .1"][2] < adam_lo
    # "its interval overlaps that of SGD at 0.04, so these seeds do not rank the two SGD rates."
    _, d_lo, d_hi = bootstrap_difference(panel_runs["sgd .1"].final_returns, panel_runs["sgd .04"].final_returns)
    assert d_lo < 0 < d_hi
    # "Then compare Adam at 0.01: lower within the budget than at 0.04 (median 194 [163, 245])."
    assert 150 < ret["adam .01"][0] < 250 and ret["adam .01"][2] < adam_lo
    # "the median return drops to about 10, with 95 % intervals of at most a few tens ([9, 28] with Adam,
    #  [9, 43] with SGD …)"
    assert all(ret[name][0] < 25 and ret[name][2] < 70 for name in ("adam 1", "sgd 1"))
    # "and the median entropy at the end is about 0 nats (intervals reaching at most a few hundredths, against
    #  0.44 [0.36, 0.47] at α = 0.04)"
    ent = {name: _median_ci(_entropies(panel_runs[name])) for name in ("adam 1", "sgd 1", "N=8")}
    assert all(ent[name][0] < 0.02 and ent[name][2] < 0.06 < ent["N=8"][1] for name in ("adam 1", "sgd 1"))


# ---------------------------------------------------------------------------------------------
# exercise 3: multiplying every weight by c (the prediction checker and the measurement behind it)

from pgcourse.lessons.nb09_implementing_policy_gradients.checks import (  # noqa: E402
    SCALING_FACTORS, check_scaling_prediction, scaling_reference)
from pgcourse.lessons.nb09_implementing_policy_gradients.measure import (  # noqa: E402
    scaled_weights_factors, steps_on_loss)


def _scaling_problem():
    policy = policy_after(TrainConfig(seed=2), iterations=1)
    batch = sample_batch("CartPole-v1", policy, n_traj=4, seed=3)
    q = batch.reward_to_go()

    def loss_of_weights(p, scale):
        return pg_pseudo_loss(p.log_prob(batch.obs, batch.act), scale * q, batch.mask)

    return policy, loss_of_weights


def test_scaled_weights_factors_measure_the_reference():
    policy, loss_of_weights = _scaling_problem()
    before = [p.detach().clone() for p in policy.parameters()]
    for c in (2.0, 10.0, 0.25):
        f = scaled_weights_factors(policy, loss_of_weights, c, lr=0.01, adam_steps=3)
        for key, expected in scaling_reference(c).items():
            assert f[key] == pytest.approx(expected, rel=1e-5), (c, key)
        assert f["adam_max_diff"] <= 1e-6
    assert scaled_weights_factors(policy, loss_of_weights, 2.0)["adam_max_diff"] == 0.0   # a power of 2 is exact
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, policy.parameters()))  # the policy is untouched
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="c must be"):
            scaled_weights_factors(policy, loss_of_weights, bad)


def test_steps_on_loss_oracles():
    policy, loss_of_weights = _scaling_problem()
    theta = torch.cat([p.detach().reshape(-1) for p in policy.parameters()])
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss_of_weights(policy, 1.0), list(policy.parameters()))])
    sgd = steps_on_loss(policy, lambda p: loss_of_weights(p, 1.0), "sgd", lr=0.1)
    assert torch.allclose(sgd, theta - 0.1 * g, atol=1e-7)                  # θ − α∇L
    adam = steps_on_loss(policy, lambda p: loss_of_weights(p, 1.0), "adam", lr=0.01, eps=0.0)
    assert torch.allclose(adam, theta - 0.01 * torch.sign(g), atol=1e-7)    # Adam's first step: α·sign(g)
    assert torch.equal(steps_on_loss(policy, lambda p: loss_of_weights(p, 1.0), "adam", lr=0.01, steps=2),
                       steps_on_loss(policy, lambda p: loss_of_weights(p, 1.0), "adam", lr=0.01, steps=2))
    with pytest.raises(ValueError, match="eps"):
        steps_on_loss(policy, lambda p: loss_of_weights(p, 1.0), "adam", lr=0.01, eps=-1.0)
    with pytest.raises(ValueError):
        steps_on_loss(policy, lambda p: loss_of_weights(p, 1.0), "rmsprop", lr=0.01)


def test_check_scaling_prediction(capsys):
    assert check_scaling_prediction(scaling_reference)
    assert len(SCALING_FACTORS) >= 4 and all(c > 0 for c in SCALING_FACTORS)
    adam_scales = lambda c: {"loss": c, "gradient": c, "sgd_step": c, "adam_steps": c}        # Adam like SGD
    loss_fixed = lambda c: {"loss": 1.0, "gradient": c, "sgd_step": c, "adam_steps": 1.0}     # "a loss is a loss"
    squared = lambda c: {"loss": c, "gradient": c, "sgd_step": c * c, "adam_steps": 1.0}
    incomplete = lambda c: {"loss": c, "gradient": c}
    for wrong in (adam_scales, loss_fixed, squared, incomplete, lambda c: c):
        assert not check_scaling_prediction(wrong)
    assert not check_scaling_prediction(not_implemented)
    assert "not implemented yet" in capsys.readouterr().out


# ---------------------------------------------------------------- the reader's pseudo-loss trains (after exercise 1)

@pytest.mark.claims
@pytest.mark.slow
def test_claim_your_pseudo_loss_trains_and_a_wrong_sign_learns_to_fail(capsys):
    """Notebook 09, after exercise 1 (seeds 0–9, TrainConfig's defaults, 15k env steps): the solution "does the same
    float32 operations as pg_pseudo_loss, so the two runs are the same run, seed for seed" (exact, any CPU); with
    the sign flipped "the runs end at a median return of 9, below where every one of them started". Measured on
    both float paths: final median 9 (IQR 9–9), change from the first batch −12 [−16, −10]."""
    import functools

    from pgcourse.ui.pieces import train_with_pieces

    config = TrainConfig(target_return=475, max_env_steps=15_000)
    solution = _pseudo(_right_denominator)
    run = train_with_pieces(config, range(10), loss_fn=functools.partial(solution, reduction="trajectories"),
                            check=check_pseudo_loss)
    assert capsys.readouterr().out == ""
    assert run.same and "the same run as pgcourse's, seed for seed" in run.summary()

    wrong = _pseudo(_right_denominator, sign=1.0)
    bad = train_with_pieces(config, range(10), loss_fn=functools.partial(wrong, reduction="trajectories"),
                            check=check_pseudo_loss)
    assert capsys.readouterr().out.startswith("your fn fails its check: case 1:")
    first = np.array([h.mean_return[0] for h in bad.reader])
    assert (bad.final_reader < first).all()                      # below where every run started
    assert np.median(bad.final_reader) < 15 and bad.verdict() == "does not learn" and bad.gain[2] < 0
