"""Notebook 06: reward-to-go, the terms it drops, and the variance it saves."""

import numpy as np
import pytest
import torch

from helpers import not_implemented, rerun_with
from pgcourse import (CategoricalPolicy, TabularMDP, TabularSoftmaxPolicy, TrainConfig, compare_estimators,
                      compare_to_exact, gradient_samples, make_lab, reward_to_go, sample_batch,
                      tabular_gradient_samples, total_return, train)
from pgcourse.lessons.nb06_causality_reward_to_go.measure import cartpole_causality, causality_samples, past_rewards, variance_by_horizon
from pgcourse.stats import bootstrap_interval, median_iqr
from pgcourse.lessons.nb06_causality_reward_to_go.checks import check_past_rewards, check_reward_to_go_loop
from pgcourse.lessons.nb06_causality_reward_to_go.panel import causality_panel, compute_causality_variance


def _rtg_loop(rew, mask=None, gamma=1.0, *, discount=True, include_current=True):
    if mask is None:
        mask = torch.ones_like(rew, dtype=torch.bool)
    rew = torch.where(mask, rew, torch.zeros_like(rew))
    out = torch.zeros_like(rew)
    running = torch.zeros_like(rew[:, 0])
    for t in reversed(range(rew.shape[1])):
        if include_current:
            running = rew[:, t] + (gamma if discount else 1.0) * running
            out[:, t] = running
        else:
            out[:, t] = running
            running = rew[:, t] + (gamma if discount else 1.0) * running
    return torch.where(mask, out, torch.zeros_like(out))


# ---------------------------------------------------------------- checkers

def test_check_reward_to_go_loop():
    assert check_reward_to_go_loop(_rtg_loop, verbose=False)
    assert not check_reward_to_go_loop(lambda rew, mask=None, gamma=1.0: _rtg_loop(rew, mask, gamma, discount=False),
                                       verbose=False)                                  # forgot the discount
    assert not check_reward_to_go_loop(
        lambda rew, mask=None, gamma=1.0: _rtg_loop(rew, mask, gamma, include_current=False), verbose=False)  # t' > t
    assert not check_reward_to_go_loop(lambda rew, mask=None, gamma=1.0: _rtg_loop(rew, None, gamma),
                                       verbose=False)                                  # ignores the mask
    assert not check_reward_to_go_loop(lambda rew, mask=None, gamma=1.0: rew.cumsum(1), verbose=False)  # forward sum
    result = check_reward_to_go_loop(not_implemented, verbose=False)
    assert not result and "not implemented" in result.message


def test_check_past_rewards():
    ref = lambda rew, mask=None: past_rewards(rew, mask)  # noqa: E731
    assert check_past_rewards(ref, verbose=False)
    assert not check_past_rewards(lambda rew, mask=None: rew.cumsum(1), verbose=False)   # includes r_t
    assert not check_past_rewards(lambda rew, mask=None: reward_to_go(rew, mask), verbose=False)
    assert not check_past_rewards(lambda rew, mask=None: past_rewards(rew), verbose=False)  # ignores the mask
    assert not check_past_rewards(not_implemented, verbose=False)


# ---------------------------------------------------------------- the decomposition

def test_past_rewards_complete_the_reward_to_go():
    assert past_rewards(torch.tensor([[1.0, 2.0, 3.0]])).tolist() == [[0.0, 1.0, 3.0]]
    g = torch.Generator().manual_seed(0)
    rew = torch.rand(4, 7, generator=g)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 5, 1, 3])[:, None]
    total = total_return(rew, mask)[:, None].expand_as(rew)
    assert torch.allclose(torch.where(mask, total, torch.zeros(())), reward_to_go(rew, mask) + past_rewards(rew, mask))
    assert (past_rewards(rew, mask)[~mask] == 0).all()


def test_causality_samples_split_the_total_return_estimator():
    mdp = TabularMDP.random(4, 2, 5, seed=0)
    theta = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    batch = mdp.sample(theta, 50, seed=2)
    batch.rew = batch.rew.double()
    pieces = causality_samples(TabularSoftmaxPolicy.from_logits(theta), batch)
    rets = batch.rew.sum(1, keepdim=True).expand_as(batch.rew)
    assert torch.allclose(pieces["total_return"], tabular_gradient_samples(theta, batch.obs, batch.act, rets))
    assert torch.allclose(pieces["reward_to_go"],
                          tabular_gradient_samples(theta, batch.obs, batch.act, reward_to_go(batch.rew)))
    assert torch.allclose(pieces["dropped"],
                          tabular_gradient_samples(theta, batch.obs, batch.act, past_rewards(batch.rew)))


def test_causality_samples_on_cartpole_respect_the_mask():
    torch.manual_seed(0)
    policy = CategoricalPolicy(4, 2, hidden=(8,))
    batch = sample_batch("CartPole-v1", policy, n_traj=6, seed=0)
    assert not batch.mask.all()
    pieces = causality_samples(policy, batch)
    assert torch.allclose(pieces["total_return"], gradient_samples(policy, batch, batch.returns()))
    assert torch.allclose(pieces["total_return"], pieces["reward_to_go"] + pieces["dropped"])


def test_dropped_terms_have_mean_zero_and_positive_variance():
    """Exact lab, N = 20 000: max |z| of the dropped terms against 0 over 15 parameters < 4.5; tr Cov > 0;
    both estimators unbiased (max |z| < 4.5), and reward-to-go has the smaller trace of covariance."""
    mdp = TabularMDP.random(5, 3, 10, seed=0)
    theta = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lab = make_lab(mdp, theta, n_traj=20_000, seed=7)
    dropped = compare_to_exact(lab.samples(past_rewards(lab.rew)), torch.zeros(15))
    assert dropped.max_abs_z < 4.5 and dropped.trace_cov > 1.0
    total = compare_to_exact(lab.samples(lab.rets[:, None].expand_as(lab.rew)), lab.exact)
    causal = compare_to_exact(lab.samples(lab.rtg), lab.exact)
    assert total.max_abs_z < 4.5 and causal.max_abs_z < 4.5
    assert causal.trace_cov < total.trace_cov / 2


# ---------------------------------------------------------------- CartPole, over 20 trained policies

def test_cartpole_causality_is_train_then_sample_then_causality_samples():
    """Same machine: one seed of cartpole_causality is train(iterations=5, seed), a batch with seed 1000 + seed,
    and causality_samples on it."""
    result = cartpole_causality(seeds=[3], iterations=2, n_traj=12)
    policy, _ = train(TrainConfig(iterations=2, seed=3), progress=False)
    batch = sample_batch("CartPole-v1", policy, n_traj=12, seed=1003)
    pieces = causality_samples(policy, batch)
    for name, g in pieces.items():
        assert result[name][0] == pytest.approx(float(g.var(0).sum()), rel=1e-6)
    assert result["ratio"][0] == pytest.approx(result["total_return"][0] / result["reward_to_go"][0])
    assert result["mean_return"][0] == pytest.approx(float(batch.returns().mean()))
    assert result["seed"].tolist() == [3] and result["n_traj"] == 12 and result["n_params"] == 450
    with pytest.raises(ValueError):
        cartpole_causality(seeds=[0], n_traj=1)


@pytest.fixture(scope="module")
def cartpole():
    """Notebook 06, cell "On CartPole": 20 policies (seeds 0–19, 5 steps each), 256 episodes each."""
    return cartpole_causality(seeds=range(20), iterations=5, n_traj=256)


@pytest.mark.claims
def test_claim_reward_to_go_saves_more_variance_on_cartpole_than_on_the_tabular_mdp(cartpole):
    """Notebook 06: "a median of 3.3 times less variance (IQR 2.9–3.7; the 95 % interval of the median, [3.0, 3.7],
    lies above the tabular 2.5) ... less variance for every one of the 20 policies (the smallest ratio is 2.4)";
    episodes of "a median of 70 steps, IQR 59–82"; summary "a median of 3.3× over 20 trained CartPole policies".
    Margins: over seeds 0–99 (five disjoint sets of 20 policies) the median ratio ranged 3.26–3.71, the lower end of
    its interval 3.00–3.32, the smallest ratio 2.08–2.58 and the median episode 64–71 steps."""
    ratio = cartpole["ratio"]
    assert len(ratio) == 20
    med, q25, q75 = median_iqr(ratio)
    lo, hi = bootstrap_interval(ratio)
    assert 3.0 < med < 3.8 and 2.6 < q25 and q75 < 4.2
    # the tabular ratio the notebook compares with (same lab as its cell), exact on every machine up to rounding
    mdp = TabularMDP.random(n_states=5, n_actions=3, horizon=10, seed=0)
    theta = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = compare_estimators(make_lab(mdp, theta, n_traj=10_000, seed=1), ["total_return", "reward_to_go"])
    tabular = res["total_return"].trace_cov / res["reward_to_go"].trace_cov
    assert tabular == pytest.approx(2.53, abs=0.01)
    assert lo > tabular + 0.2 and hi < 4.2                          # the interval lies above the tabular ratio
    assert ratio.min() > 1.5                                        # every policy: less variance with Q̂_t
    med_len, q25_len, q75_len = median_iqr(cartpole["mean_return"])
    assert 55 < med_len < 85 and 45 < q25_len and q75_len < 100     # "a median of 70 steps, IQR 59–82"


@pytest.mark.claims
def test_claim_cartpole_dropped_terms_have_mean_zero_and_comparable_variance(cartpole):
    """Notebook 06: the largest |z| of the dropped terms' mean against 0 among the 450 parameters "has a median of
    2.0 (IQR 1.7–2.3)", "no larger than for 450 independent standard normals ... about 3.2"; their variance is
    "comparable to that of the reward-to-go samples themselves: a median of 1.25 times theirs (IQR 1.04–1.46)".
    Margins: over seeds 0–99 (five sets of 20) the median largest |z| ranged 1.75–2.01, the largest of all 100 was
    3.11, and the median variance share 1.16–1.39."""
    z = cartpole["dropped_max_abs_z"]
    assert len(z) == 20
    # 450 independent standard normals: P(max |z| ≤ x) = (1 − 2Φ(−x))^450 = 1/2 at x ≈ 3.17
    independent = -float(torch.special.ndtri(torch.tensor((1 - 0.5 ** (1 / 450)) / 2, dtype=torch.float64)))
    assert independent == pytest.approx(3.17, abs=0.01)
    med, q25, q75 = median_iqr(z)
    assert 1.5 < med < 2.4 and q75 < independent and z.max() < 4.0   # consistent with mean 0: no large |z|
    share = cartpole["dropped"] / cartpole["reward_to_go"]
    med, q25, q75 = median_iqr(share)
    lo, hi = bootstrap_interval(share)
    assert 1.05 < med < 1.5 and 0.8 < q25 and q75 < 2.0             # "comparable": within a factor 2 either way
    assert 0.8 < lo and hi < 2.0


# ---------------------------------------------------------------- variance by horizon

def test_variance_by_horizon_matches_direct_samples():
    n, horizon, seed = 300, 12, 3
    result = variance_by_horizon(n, horizon, seed=seed)
    mdp = TabularMDP.random(5, 3, horizon, seed=0)
    theta = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    batch = mdp.sample(theta, n, seed=seed)
    for h in (1, 5, 12):
        rew = mdp.R[batch.obs, batch.act][:, :h]
        obs, act = batch.obs[:, :h], batch.act[:, :h]
        total = tabular_gradient_samples(theta, obs, act, rew.sum(1, keepdim=True).expand_as(rew))
        causal = tabular_gradient_samples(theta, obs, act, reward_to_go(rew))
        assert result["var_total"][h - 1] == pytest.approx(float(total.var(0).sum() / n), rel=1e-9)
        assert result["var_rtg"][h - 1] == pytest.approx(float(causal.var(0).sum() / n), rel=1e-9)
        if h == horizon:  # the bias check at T uses a horizon-T exact gradient
            z = compare_to_exact(causal, mdp.gradient(theta)).max_abs_z
            assert result["max_abs_z"]["reward_to_go"] == pytest.approx(z)
    assert result["ratio"][0] == pytest.approx(1.0) and result["var_dropped"][0] == 0.0
    assert result["horizons"] == list(range(1, horizon + 1))


def test_variance_by_horizon_is_pure_and_scales_like_one_over_n():
    a, b = variance_by_horizon(256, 8, seed=1), variance_by_horizon(256, 8, seed=1)
    assert a["var_total"] == b["var_total"]
    big = variance_by_horizon(4096, 8, seed=1)
    # tr Cov[ĝ] = tr Cov[ĝ_i] / N: 16 times more trajectories, about 16 times less variance (±35 %)
    assert 16 / 1.35 < a["var_total"][-1] / big["var_total"][-1] < 16 * 1.35
    assert big["ratio"][-1] > 1.5
    with pytest.raises(ValueError):
        variance_by_horizon(1, 5)


def test_panel_redraws_and_equals_a_direct_call():
    panel = causality_panel()
    panel.run()
    rerun_with(panel, n_traj=512, horizon=10)
    direct = compute_causality_variance(512, 10, seed=0)
    for key in ("var_total", "var_rtg", "ratio"):
        assert np.allclose(panel.result[key], direct[key])
    assert panel.result["horizon"] == 10 and panel.result["n_traj"] == 512
