"""Notebook 09: the pseudo-loss checkers, budgeted training, gradient-noise and step measurements, the panel."""

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from helpers import assert_same_history
from pgcourse import TrainConfig, sample_batch, train
from pgcourse.checks.implementing_policy_gradients import (check_pseudo_loss, check_seed_pg_loss,
                                                           pseudo_loss_reference, seed_pg_loss_reference)
from pgcourse.estimators import gradient_samples, pg_pseudo_loss
from pgcourse.implementing_policy_gradients import (PANEL_ENV_STEPS, gradient_noise, learning_rate_grid,
                                                    one_step_change, panel_config, policy_after, train_within)
from pgcourse.widgets.implementing_policy_gradients import implementing_panel, train_curve


# ---------------------------------------------------------------------------------------------
# checkers


def _stub(*args, **kwargs):
    raise NotImplementedError()


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
    result = check_pseudo_loss(_stub)
    assert not result and "not implemented yet" in result.message


def test_pseudo_loss_reference_matches_pg_pseudo_loss_and_the_step_mean():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, 9.0, 9.0]])
    weights = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    per_traj = pseudo_loss_reference(logp, weights, mask)
    assert per_traj == pytest.approx(pg_pseudo_loss(logp, weights, mask).item())
    assert per_traj == pytest.approx((1 + 4 + 9 + 2) / 2)
    assert pseudo_loss_reference(logp, weights, mask, reduction="steps") == pytest.approx((1 + 4 + 9 + 2) / 4)


def test_seed_pg_loss_checker(capsys):
    assert check_seed_pg_loss(seed_pg_loss_reference)
    broadcast = lambda logits, actions, q: (F.cross_entropy(logits, actions, reduction="none") * q).mean()
    summed = lambda logits, actions, q: (F.cross_entropy(logits, actions, reduction="none") * q[:, 0]).sum()
    positive = lambda logits, actions, q: (-F.cross_entropy(logits, actions, reduction="none") * q[:, 0]).mean()
    for wrong in (broadcast, summed, positive):
        assert not check_seed_pg_loss(wrong)
    assert not check_seed_pg_loss(_stub)
    assert "not implemented yet" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# package functions


def test_train_within_equals_train_with_that_many_iterations():
    config = TrainConfig(seed=3, n_traj=4, iterations=50, target_return=None)
    policy, history = train_within(config, max_env_steps=1500)
    assert not history.solved and history.env_steps[-1] >= 1500 and history.env_steps[-2] < 1500
    direct_policy, direct = train(replace(config, iterations=len(history)), progress=False)
    assert_same_history(history, direct)
    for p, q in zip(policy.parameters(), direct_policy.parameters()):
        assert torch.equal(p, q)


def test_train_within_leaves_a_solved_run_alone():
    config = TrainConfig(seed=0, target_return=60.0, iterations=40)
    _, direct = train(config, progress=False)
    assert direct.solved
    _, history = train_within(config, max_env_steps=direct.env_steps[-1])  # the budget ends where it solves
    assert history.solved
    assert_same_history(history, direct)


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
    g_ref = gradient_samples(policy, ref, ref.reward_to_go(0.99)).double().mean(0)
    assert noise.tr_cov == pytest.approx(float(g_pool.var(0).sum()), rel=1e-6)
    assert noise.mean_length == pytest.approx(float(pool.lengths.double().mean()))
    for k, n in enumerate(sizes):
        m = 2048 // n
        errors = (g_pool.reshape(m, n, -1).mean(1) - g_ref).pow(2).sum(1)        # ‖ĝ_N − g_ref‖², m batches
        assert noise.sq_err[k] == pytest.approx(float(errors.mean()), rel=1e-6)
        # E‖ĝ_N − g_ref‖² = tr Cov / N + tr Cov_ref / n_ref: a z-test over the m disjoint batches, |z| < 4
        # (the errors are skewed: over 8 other seeds the largest |z| was 3.4; this seed gives 0.6 at most)
        z = (float(errors.mean()) - noise.predicted_sq_err[k]) / (float(errors.std()) / math.sqrt(m))
        assert abs(z) < 4, (n, z)
    assert noise.cos_mean[-1] > noise.cos_mean[0] + 0.3   # larger batches point closer to the true gradient


def test_gradient_noise_rejects_a_batch_larger_than_the_pool():
    with pytest.raises(ValueError, match="exceeds n_pool"):
        gradient_noise(policy_after(TrainConfig(), 1), batch_sizes=[64], n_pool=32, n_ref=32)


def test_learning_rate_grid_rows_are_direct_training_runs():
    rows = learning_rate_grid([0.01, 0.1], optimizers=("sgd", "adam"), seeds=(4,), iterations=3)
    assert [(r["optimizer"], r["lr"]) for r in rows] == [("sgd", 0.01), ("sgd", 0.1), ("adam", 0.01), ("adam", 0.1)]
    _, history = train(TrainConfig(optimizer="adam", lr=0.1, seed=4, iterations=3, target_return=475.0), progress=False)
    assert rows[-1]["env_steps"] == history.env_steps[-1] and rows[-1]["final_return"] == history.final_return
    assert rows[-1]["iterations"] == 3 and not rows[-1]["diverged"]


# ---------------------------------------------------------------------------------------------
# panel


def test_panel_trains_redraws_and_matches_a_direct_train_call():
    panel = implementing_panel()
    panel.run()
    first = panel.png
    assert first[:4] == b"\x89PNG"
    direct = train(panel_config(8, TrainConfig().lr, "adam", 0), progress=False)[1]   # the panel starts at the defaults
    assert panel.result.history.solved and direct.solved
    assert_same_history(panel.result.history, direct)

    panel.set(n_traj=4, lr=1.0, optimizer="sgd")   # a bad setting: it must stop quickly too
    panel.button.click()
    assert panel.png != first and len(panel.runs) == 2
    run = panel.result
    assert (run.config.n_traj, run.config.lr, run.config.optimizer) == (4, 1.0, "sgd")
    expected = train_curve(4, 1.0, "sgd", progress=False).history
    assert_same_history(run.history, expected)
    # the budget: stopped by 475, the iteration cap, or the first batch past the env-step budget
    if not run.history.solved and len(run.history) < run.config.iterations:
        assert run.history.env_steps[-1] >= PANEL_ENV_STEPS > run.history.env_steps[-2]
    direct = train(replace(run.config, iterations=len(run.history)), progress=False)[1]
    assert_same_history(run.history, direct)
