"""Notebook 07 (baselines): the exact variance parabola, its panel and the exercise checkers."""

import math

import numpy as np
import pytest
import torch

from helpers import not_implemented, rerun_with
from pgcourse import (TabularMDP, TrainConfig, make_lab, optimal_baseline, optimal_scalar_baseline, time_mean_baseline)
from pgcourse.seeds import train_seeds
from pgcourse.lessons.nb07_baselines.measure import (bandit_counterexample, baseline_moments, baseline_variance,
                                        trajectory_table, sign_agreement)
from pgcourse.baselines import subtract_baseline
from pgcourse.lessons.nb07_baselines.checks import (check_optimal_scalar_baseline, check_parabola_prediction,
                                                   check_time_mean_baseline, check_total_variance,
                                                   double_baseline_ratio)
from pgcourse import compare_estimators, optimal_baseline_from_samples
from pgcourse.tabular import example_problem
from pgcourse.stats import bootstrap_difference, median_iqr, seed_curves
from pgcourse.lessons.nb07_baselines.panel import PROBLEMS, baseline_experiment, baselines_panel, make_problem


def _logits(S, A, seed):
    return torch.randn(S, A, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- exact enumeration -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3, 2, 4), (2, 3, 3), (4, 2, 1)])
def test_enumeration_reproduces_exact_objective_and_gradient(shape):
    S, A, T = shape
    mdp = TabularMDP.random(S, A, T, seed=sum(shape))
    logits = _logits(S, A, 1)
    e = trajectory_table(mdp, logits)
    assert len(e) == (S * A) ** T and (e.prob > 0).all()  # Dirichlet P has no zeros: every trajectory is possible
    assert float(e.prob.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float(e.prob @ e.rets) == pytest.approx(float(mdp.objective(logits)), abs=1e-12)
    torch.testing.assert_close(e.prob @ e.scores, torch.zeros(S * A, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(e.prob @ (e.scores * e.rets[:, None]), mdp.gradient(logits).reshape(-1),
                               atol=1e-12, rtol=0)


def test_enumeration_refuses_huge_mdps():
    with pytest.raises(ValueError, match="max_trajectories"):
        trajectory_table(TabularMDP.random(5, 3, 10, seed=0), _logits(5, 3, 0))


def test_moments_parabola_equals_direct_formula_and_vertex_is_optimal():
    mdp = TabularMDP.random(3, 2, 4, seed=0)
    e = trajectory_table(mdp, _logits(3, 2, 1))
    m = baseline_moments(e.scores, e.rets, e.prob)
    bs = torch.linspace(-2, 5, 29, dtype=torch.float64)
    torch.testing.assert_close(m.variance(bs), baseline_variance(e.scores, e.rets, bs, e.prob), atol=1e-10, rtol=0)
    # vertex of tr Cov(b) is b* = E[‖g‖²R]/E[‖g‖²]; per parameter, b_k = E[g_k²R]/E[g_k²] minimises Var_k
    b_star = m.optimal_scalar_baseline()
    for eps in (-1e-3, 1e-3):
        assert float(m.total_variance(b_star)) < float(m.total_variance(b_star + eps))
    bk = m.optimal_baseline()
    for eps in (-1e-3, 1e-3):
        assert (m.variance(bk).diagonal() < m.variance(bk + eps).diagonal()).all()
    per_param = float(m.variance(bk).diagonal().sum())
    assert per_param <= float(m.total_variance(b_star)) + 1e-12
    # the package's sample formulas on the enumeration's support, weighted by prob: the same numbers
    w = e.prob / e.prob.max()
    assert float(optimal_scalar_baseline(e.scores * w.sqrt()[:, None], e.rets)) == pytest.approx(b_star, rel=1e-10)
    torch.testing.assert_close(optimal_baseline(e.scores * w.sqrt()[:, None], e.rets), bk, atol=1e-10, rtol=1e-10)


def test_sample_moments_give_the_plug_in_variance():
    g = torch.Generator().manual_seed(0)
    scores, rets = torch.randn(50, 4, generator=g, dtype=torch.float64), torch.rand(50, generator=g, dtype=torch.float64)
    m = baseline_moments(scores, rets)
    for b in (0.0, 0.4, 2.0):
        x = scores * (rets - b)[:, None]
        # plug-in: E[x²] − (E[gR])², which is Var(x) when the sample mean of g is 0 — check the identity itself
        expected = (x ** 2).mean(0) - (scores * rets[:, None]).mean(0) ** 2
        torch.testing.assert_close(m.variance(b), expected)


def test_bandit_counterexample_is_exactly_64():
    r = bandit_counterexample()
    assert r["var_none"] == pytest.approx(2 * 0.0009, abs=1e-15)
    assert r["var_mean"] == pytest.approx(2 * 0.0576, abs=1e-14)
    assert r["factor"] == pytest.approx(64.0, rel=1e-12)
    assert r["var_optimal"] == pytest.approx(0.0, abs=1e-15)
    assert r["mean_baseline"] == pytest.approx(0.9) and r["optimal_baseline"] == pytest.approx(0.1)


def test_sign_agreement():
    exact = torch.tensor([1.0, 0.0])
    samples = torch.tensor([[1.0, 5.0], [-1.0, 0.0], [0.5, -3.0], [0.0, 1.0]])
    assert sign_agreement(samples, exact) == 0.5


def test_mean_baseline_makes_small_batches_point_uphill():
    # notebook 07's intuition cell: 3-armed bandit, rewards (1, 1.1, 1.2), uniform π, 4000 batches of N = 8
    mdp = TabularMDP.bandit([1.0, 1.1, 1.2])
    lab = make_lab(mdp, torch.zeros(1, 3, dtype=torch.float64), n_traj=8 * 4000, seed=0)
    g, R = lab.scores.reshape(4000, 8, 3), lab.rets.reshape(4000, 8)
    none = (g * R[..., None]).mean(1)
    mean = (g * (R - R.mean(1, keepdim=True))[..., None]).mean(1)
    assert sign_agreement(none, lab.exact) < 0.65 and sign_agreement(mean, lab.exact) > 0.99


def test_sampled_variance_matches_parabola_z_test():
    # N = 2·10^5 samples of g(R − b) on the small MDP: sample tr Cov within 4 standard errors of the exact one
    mdp, logits = make_problem("random MDP")
    e = trajectory_table(mdp, logits)
    m = baseline_moments(e.scores, e.rets, e.prob)
    lab = make_lab(mdp, logits, n_traj=200_000, seed=3)
    for b in (0.0, 1.0, m.optimal_scalar_baseline()):
        x = subtract_baseline(lab.scores * lab.rets[:, None], lab.scores, b)
        sq = (x - x.mean(0)).pow(2).sum(1)
        z = (float(sq.mean()) - float(m.total_variance(b))) / (float(sq.std()) / math.sqrt(len(sq)))
        assert abs(z) < 4, (b, z)


# --- CartPole: no baseline, b_t and V_φ over seeds (notebook 07, "A learned value baseline on CartPole") -------------

CARTPOLE_SEEDS = {"none": range(30), "mean": range(30), "value": range(30)}


@pytest.fixture(scope="module")
def cartpole_runs():
    """The notebook's runs: per baseline, (seeds, iterations) curves of the batch mean return, and each seed's score,
    the mean return of its last 5 batches."""
    curves = {}
    for baseline, seeds in CARTPOLE_SEEDS.items():
        config = TrainConfig(baseline=baseline, normalise=False, lr=0.03, iterations=20, value_lr=0.1, value_steps=20)
        _, histories = train_seeds(config, seeds, progress=False)
        assert not any(h.diverged for h in histories)
        curves[baseline] = seed_curves(histories)
    return curves, {baseline: c[:, -5:].mean(1) for baseline, c in curves.items()}


@pytest.mark.claims
@pytest.mark.slow
def test_claim_both_baselines_learn_faster_than_none_and_cannot_be_told_apart(cartpole_runs):
    """Notebook 07: medians of the last-5-batch return "about 115 ... (IQR about 70–210, 30 seeds), about 355 with b_t
    (IQR about 235–465) and about 385 with V_φ (IQR about 255–450)"; "both baselines learn faster than no
    baseline": +240 with b_t (interval about +140 to +360), +270 with V_φ (about +165 to +350), "both intervals stay
    far from 0"; "about three times the median return ... 95 % intervals [of the ratio] from about 1.8 to 5.3 (b_t)
    and 2.1 to 5.3 (V_φ)"; "V_φ and b_t cannot be told apart": about +30, interval about −95 to +135, "which
    contains 0". Measured on the two float paths (seeds 0–29 each; AVX2 / torch's default kernels, with V_φ
    fitted on the real steps only): V_φ median 385 / 385 (IQR 256–452 / 265–455), +269 / +269 over no baseline
    (interval [+166, +349] / [+166, +344]), +30 / +30 against b_t (interval [−96, +135] / [−94, +134]); the none
    and b_t runs move by a few seeds between the float paths."""
    curves, last5 = cartpole_runs
    assert {b: len(x) for b, x in last5.items()} == {"none": 30, "mean": 30, "value": 30}
    med = {b: median_iqr(x) for b, x in last5.items()}
    assert 90 < med["none"][0] < 150 and 40 < med["none"][1] < 100 and 170 < med["none"][2] < 250
    assert 310 < med["mean"][0] < 400 and 200 < med["mean"][1] < 270 and 430 < med["mean"][2] < 490
    assert 330 < med["value"][0] < 430 and 230 < med["value"][1] < 340 and 410 < med["value"][2] < 490
    log_median = lambda x: np.log(np.median(x))  # noqa: E731
    for better in ("mean", "value"):
        diff, lo, hi = bootstrap_difference(last5[better], last5["none"])
        assert 200 < diff < 310 and lo > 60 and 300 < hi < 420, (better, diff, lo, hi)     # far from 0
        ratio, lo, hi = np.exp(bootstrap_difference(last5[better], last5["none"], stat=log_median))
        assert 2.3 < ratio < 4.0 and 1.3 < lo < 2.5 and 4.0 < hi < 7.0, (better, ratio, lo, hi)  # "about three times"
    diff, lo, hi = bootstrap_difference(last5["value"], last5["mean"])
    assert -30 < diff < 70 and lo < -40 and hi > 90                         # contains 0, by a margin on each side
    # "the interquartile bands of the two overlap at every iteration"
    q25_m, q75_m = np.percentile(curves["mean"], [25, 75], axis=0)
    q25_v, q75_v = np.percentile(curves["value"], [25, 75], axis=0)
    assert ((q25_v <= q75_m) & (q25_m <= q75_v)).all()


# --- the panel ---------------------------------------------------------------------------------------------------

def _same(a, b):
    for field in a.__dataclass_fields__:
        x, y = getattr(a, field), getattr(b, field)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y, field


def test_panel_runs_headless_and_matches_compute():
    panel = baselines_panel()
    first = panel.run()
    _same(first, baseline_experiment(0.9, 64, PROBLEMS[0], seed=0))
    assert first.var_exact == pytest.approx(0.1152) and first.var_optimal == pytest.approx(0.0, abs=1e-12)
    rerun_with(panel, b=0.1, n_traj=256)
    _same(panel.result, baseline_experiment(0.1, 256, PROBLEMS[0], seed=0))
    assert panel.result.measured == pytest.approx(0.0, abs=1e-12)  # b* makes every sample equal
    rerun_with(panel, problem=PROBLEMS[1], b=1.5, n_traj=512)
    _same(panel.result, baseline_experiment(1.5, 512, PROBLEMS[1], seed=0))


def test_experiment_is_seeded_and_validates():
    a, b = baseline_experiment(0.5, 128, PROBLEMS[1], seed=4), baseline_experiment(0.5, 128, PROBLEMS[1], seed=4)
    _same(a, b)
    assert baseline_experiment(0.5, 128, PROBLEMS[1], seed=5).measured != a.measured
    with pytest.raises(ValueError, match="N ≥ 2"):
        baseline_experiment(0.5, 1)
    with pytest.raises(ValueError, match="problem must be one of"):
        baseline_experiment(0.5, 8, "cartpole")


# --- checkers ------------------------------------------------------------------------------------------------------


def test_check_optimal_scalar_baseline():
    assert check_optimal_scalar_baseline(lambda s, r: optimal_scalar_baseline(s, r), ).passed
    own = lambda s, r: ((s ** 2).sum(1) * r).sum() / (s ** 2).sum()  # noqa: E731 (a reader's correct version)
    assert check_optimal_scalar_baseline(own).passed
    assert not check_optimal_scalar_baseline(lambda s, r: ((s ** 2) * r[:, None]).mean(0) / (s ** 2).mean(0)).passed
    assert not check_optimal_scalar_baseline(lambda s, r: r.mean()).passed  # the mean baseline
    assert not check_optimal_scalar_baseline(lambda s, r: (s.sum(1) * r).sum() / s.sum(1).sum()).passed  # no square
    assert not check_optimal_scalar_baseline(not_implemented).passed


def test_check_total_variance():
    def ref(prob, scores, rets, b):
        return float(((prob[:, None] * scores ** 2 * (rets - b)[:, None] ** 2).sum(0)
                      - (prob @ (scores * rets[:, None])) ** 2).sum())

    assert check_total_variance(ref).passed
    assert not check_total_variance(lambda p, s, r, b: float(((s * (r - b)[:, None]) ** 2).mean(0).sum()
                                                             - ((s * r[:, None]).mean(0) ** 2).sum())).passed  # no p
    assert not check_total_variance(lambda p, s, r, b: float((p @ (s ** 2 * (r - b)[:, None] ** 2)).sum())).passed
    assert not check_total_variance(lambda p, s, r, b: float((p @ (s ** 2 * (r - b)[:, None])).sum()
                                                             - ((p @ (s * r[:, None])) ** 2).sum())).passed
    assert not check_total_variance(not_implemented).passed


def test_check_time_mean_baseline():
    assert check_time_mean_baseline(lambda rtg, mask: time_mean_baseline(rtg, mask)).passed
    assert check_time_mean_baseline(lambda rtg, mask: (rtg * mask).sum(0) / mask.sum(0).clamp(min=1)).passed
    assert not check_time_mean_baseline(lambda rtg, mask: rtg.mean(0)).passed  # divides by N
    assert not check_time_mean_baseline(lambda rtg, mask: rtg.mean()).passed  # one constant
    assert not check_time_mean_baseline(lambda rtg, mask: (rtg * mask).sum(0) / mask.sum(0)).passed  # 0/0 = nan
    assert not check_time_mean_baseline(not_implemented).passed


def test_check_parabola_prediction():
    assert check_parabola_prediction(lambda: 1.0, verbose=False).passed
    assert check_parabola_prediction(lambda: torch.tensor(1.0), verbose=False).passed      # a reader's tensor
    assert not check_parabola_prediction(lambda: 4.0, verbose=False).passed     # "twice the b, four times the variance"
    assert not check_parabola_prediction(lambda: 0.04, verbose=False).passed    # "any b past 0 helps": tr Cov(b*)/tr Cov(0)
    assert not check_parabola_prediction(lambda: "equal", verbose=False).passed
    result = check_parabola_prediction(not_implemented, verbose=False)
    assert not result.passed and "not implemented" in result.message


def test_vertex_form_of_the_parabola():
    """Greensmith et al. (2004)'s form, exactly: tr Cov(b) = tr Cov(b*) + E[‖g‖²](b − b*)² and, per parameter,
    Var_k(b) = Var_k(b_k*) + E[g_k²](b − b_k*)²; so b = 0 and b = 2b* give the same variance (notebook 07, exercise 4)."""
    for problem in PROBLEMS:
        e = trajectory_table(*make_problem(problem))
        m = baseline_moments(e.scores, e.rets, e.prob)
        b_star, bk = m.optimal_scalar_baseline(), m.optimal_baseline()
        for b in (-1.0, 0.0, 0.5, 2.0, 3.7):
            assert float(m.total_variance(b)) == pytest.approx(
                float(m.total_variance(b_star)) + float(m.g2.sum()) * (b - b_star) ** 2, abs=1e-12)
            torch.testing.assert_close(m.variance(b), m.variance(bk).diagonal() + m.g2 * (b - bk) ** 2,
                                       atol=1e-12, rtol=0)
        assert double_baseline_ratio(problem) == pytest.approx(1.0, abs=1e-9)


def test_reward_to_go_with_a_constant_loses_to_total_return_with_the_mean():
    """Notebook 07's cell after the reward-to-go table (the 5-state lab, N = 10^4, seed 0): mean of Q̂_t falls from
    4.80 to 0.48; best constants 2.34–2.94; mean squared weights 0.71 (R − mean R), 2.29 (Q̂_t − 2.65; the trend's
    part 1.90), 0.38 (Q̂_t − b_t); tr Cov 4.27, 12.57, 2.18, each about 5.5–6 times the mean squared weight."""
    mdp, logits = example_problem()
    lab = make_lab(mdp, logits, n_traj=10_000, seed=0)
    q, R = lab.rtg, lab.rets
    assert float(q.mean(0)[0]) == pytest.approx(4.80, abs=0.005) and float(q.mean(0)[-1]) == pytest.approx(0.48, abs=0.005)
    b_k = optimal_baseline_from_samples(lab.scores, lab.samples(q))
    assert 2.3 < float(b_k.min()) and float(b_k.max()) < 3.0
    b = float(b_k.mean())
    b_t = time_mean_baseline(q, lab.batch.mask)
    ms = [float((w ** 2).mean()) for w in ((R - R.mean())[:, None].expand_as(q), q - b, q - b_t)]
    assert ms == pytest.approx([0.71, 2.29, 0.38], abs=0.005)
    assert float(((q.mean(0) - b) ** 2).mean()) == pytest.approx(1.90, abs=0.005)
    res = compare_estimators(lab, ["total_return_mean_baseline", "reward_to_go_optimal_constant_baseline",
                                   "reward_to_go_mean_baseline"])
    tr = [s.trace_cov for s in res.values()]
    assert tr == pytest.approx([4.27, 12.57, 2.18], abs=0.005)
    assert tr[2] < tr[0] < tr[1]
    assert all(5.0 < t / m < 6.5 for t, m in zip(tr, ms))


def test_what_to_try_numbers_of_the_parabola_panel():
    """Notebook 07, "What to try" after the panel (sampling only, no training; the panel's seed 0)."""
    bandit, mdp = PROBLEMS
    at_b_star = baseline_experiment(0.1, 64, bandit)
    # "drops to 0 (up to rounding, about 10^{-33}), because every sample equals 0.09"
    assert at_b_star.measured < 1e-30 and np.allclose(at_b_star.samples0, 0.09, atol=1e-15, rtol=0)
    # "At b = 0 the exact variance is 0.0018, and at b = 1.5 it is 0.35"
    assert at_b_star.var_none == pytest.approx(0.0018) and baseline_experiment(1.5, 64, bandit).var_exact == \
        pytest.approx(0.3528)
    # "With N = 8 the rare arm is never pulled, and the measured variance is 0 ± 0"
    small = baseline_experiment(0.9, 8, bandit)
    assert small.measured == 0.0 and small.measured_se == 0.0
    # "At N = 64 it is 0.076 ± 0.034. Only at N = 1024 does it reach the parabola (0.114 ± 0.010 against 0.115)"
    n64, n1024 = baseline_experiment(0.9, 64, bandit), baseline_experiment(0.9, 1024, bandit)
    assert (round(n64.measured, 3), round(n64.measured_se, 3)) == (0.076, 0.034)
    assert (round(n1024.measured, 3), round(n1024.measured_se, 3), round(n1024.var_exact, 3)) == (0.114, 0.010, 0.115)
    assert abs(n64.measured - n64.var_exact) > n64.measured_se > abs(n1024.measured - n1024.var_exact)
    # "try b = 0, 1, 1.9, 3 with N = 256. The measured points follow the parabola: 7.4, 1.9, 0.28, 2.5"
    for b, stated in ((0.0, 7.4), (1.0, 1.9), (1.9, 0.28), (3.0, 2.5)):
        r = baseline_experiment(b, 256, mdp)
        assert float(f"{r.measured:.2g}") == stated and abs(r.measured - r.var_exact) < 2 * r.measured_se


# ---------------------------------------------------------------- the reader's baseline trains (after exercise 3)

def _b_t_float32(rtg, mask):
    """The notebook's solution: the per-step mean summed in float32, as pgcourse's time_mean_baseline does."""
    count = mask.sum(0)
    total = (rtg * mask).sum(0)
    return total / count.clamp(min=1)


@pytest.mark.claims
@pytest.mark.slow
def test_claim_your_baseline_trains_and_two_plausible_mistakes(capsys):
    """Notebook 07, after exercise 3 (seeds 0–9, TrainConfig's defaults, 15k env steps): the solution: "the two runs
    are the same run, seed for seed" (same sums in the same order); a b_t that forgets to divide:
    "the runs do not learn: their final returns, a median of 9, are no higher than at their first batch"; a b_t
    divided by N: "its check fails, yet training showed no difference ... (the interval of the median difference
    contains 0 by a wide margin on each side)". Measured on both float paths: the same run; the undivided sum ended at a median of 9 (IQR 9–26), change from
    the first batch −10 [−13, +6]; the mean over N: difference −14 [−129, +90] (and [−129, +97])."""
    from pgcourse.ui.pieces import train_with_pieces

    config = TrainConfig(target_return=475, max_env_steps=15_000)
    run = train_with_pieces(config, range(10), baseline_fn=_b_t_float32, check=check_time_mean_baseline)
    assert capsys.readouterr().out == ""                         # the chatty checker is silenced, and passes
    assert run.same and run.verdict() == "the same run"

    def b_t_sum(rtg, mask):                                      # forgot to divide by the number still running
        return torch.where(mask, rtg, torch.zeros(())).sum(0)

    wrong = train_with_pieces(config, range(10), baseline_fn=b_t_sum, check=check_time_mean_baseline)
    assert capsys.readouterr().out.startswith("your b_t_sum fails its check: case 1:")
    assert wrong.verdict() == "does not learn" and np.median(wrong.final_reader) < 20
    assert wrong.gain[0] <= 0 and wrong.difference[2] < -150

    def b_t_over_n(rtg, mask):                                   # counts the padded steps: divides by N
        return torch.where(mask, rtg, torch.zeros(())).mean(0)

    padded = train_with_pieces(config, range(10), baseline_fn=b_t_over_n, check=check_time_mean_baseline)
    assert capsys.readouterr().out.startswith("your b_t_over_n fails its check:")
    diff, lo, hi = padded.difference
    assert lo < -60 and hi > 40 and padded.verdict() == "no difference detected"
