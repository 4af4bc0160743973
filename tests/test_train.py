"""The trainer: learns CartPole with a fixed seed, is deterministic, and refuses bad input clearly."""

import math

import pytest
import torch

from pgcourse import TrainConfig, train
from pgcourse.weights import policy_weights
from pgcourse.batch import Batch


def test_default_config_learns_cartpole_to_475():
    policy, history = train(TrainConfig(seed=0, target_return=475, iterations=200), progress=False)
    assert history.solved, history.summary()
    # the last 16 finished episodes (two batches of N = 8) reached the target
    assert history.final_return >= 475
    assert (history.mean_return[-1] + history.mean_return[-2]) / 2 == pytest.approx(history.final_return)
    assert history.env_steps[-1] <= 150_000
    # the stop is honest: the kept policy is the one whose episodes reached the target
    assert math.isnan(history.grad_norm[-1])


def test_same_seed_same_history():
    a = train(TrainConfig(seed=5, iterations=4), progress=False)[1]
    b = train(TrainConfig(seed=5, iterations=4), progress=False)[1]
    c = train(TrainConfig(seed=6, iterations=4), progress=False)[1]
    assert a.mean_return == b.mean_return and a.loss == b.loss and a.env_steps == b.env_steps
    assert a.mean_return != c.mean_return


def test_history_columns_and_csv(tmp_path):
    _, history = train(TrainConfig(iterations=3, n_traj=4), progress=False)
    assert len(history) == 3 and history.iteration == [0, 1, 2]
    assert all(s > 0 for s in history.stderr_return) and all(e > 0 for e in history.entropy)
    assert history.env_steps == sorted(history.env_steps) and history.wall_s == sorted(history.wall_s)
    text = history.to_csv(tmp_path / "h.csv").read_text().splitlines()
    assert text[0] == "iteration,mean_return,stderr_return,recent_return,env_steps,wall_s,loss,grad_norm,entropy"
    assert len(text) == 4


@pytest.mark.parametrize("weights,baseline,normalise,optimizer", [
    ("total_return", "none", False, "sgd"),
    ("total_return", "mean", True, "adam"),
    ("reward_to_go", "value", False, "adam"),
])
def test_every_option_runs(weights, baseline, normalise, optimizer):
    cfg = TrainConfig(weights=weights, baseline=baseline, normalise=normalise, optimizer=optimizer,
                      iterations=3, n_traj=4, lr=1e-3)
    _, history = train(cfg, progress=False)
    assert len(history) == 3 and all(math.isfinite(x) for x in history.loss)


def test_continuous_env_gets_a_gaussian_policy():
    policy, history = train(TrainConfig(env_id="Pendulum-v1", iterations=2, n_traj=3), progress=False)
    assert type(policy).__name__ == "GaussianPolicy"
    assert history.env_steps == [600, 1200]


def _toy_batch():
    rew = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    z = torch.zeros(2, 3)
    return Batch(obs=z[..., None], act=z.long(), rew=rew, mask=mask,
                 terminated=torch.tensor([True, True]), truncated=torch.tensor([False, False]))


def test_policy_weights_by_hand():
    batch = _toy_batch()
    cfg = TrainConfig(weights="total_return", baseline="none", normalise=False, gamma=1.0)
    assert torch.equal(policy_weights(batch, cfg), torch.tensor([[3.0, 3.0, 3.0], [1.0, 0.0, 0.0]]))
    cfg = TrainConfig(weights="total_return", baseline="mean", normalise=False, gamma=1.0)
    assert torch.equal(policy_weights(batch, cfg), torch.tensor([[1.0, 1.0, 1.0], [-1.0, 0.0, 0.0]]))
    cfg = TrainConfig(weights="reward_to_go", baseline="none", normalise=False, gamma=1.0)
    assert torch.equal(policy_weights(batch, cfg), torch.tensor([[3.0, 2.0, 1.0], [1.0, 0.0, 0.0]]))
    # time-dependent mean: b_1 = (3 + 1)/2, b_2 = 2, b_3 = 1 (only trajectory 1 still running)
    cfg = TrainConfig(weights="reward_to_go", baseline="mean", normalise=False, gamma=1.0)
    assert torch.equal(policy_weights(batch, cfg), torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]))
    cfg = TrainConfig(weights="reward_to_go", baseline="none", normalise=True, gamma=1.0)
    w = policy_weights(batch, cfg)
    assert w[batch.mask].mean().abs() < 1e-6 and w[batch.mask].std().item() == pytest.approx(1.0, abs=1e-4)
    assert torch.all(w[~batch.mask] == 0)


@pytest.mark.parametrize("overrides,message", [
    ({"env_id": "NoSuchEnv-v9"}, "unknown environment id 'NoSuchEnv-v9'"),
    ({"n_traj": 0}, "n_traj must be ≥ 1, got 0"),
    ({"n_traj": 2.5}, "n_traj must be a whole number ≥ 1, got 2.5"),
    ({"lr": 0.0}, r"lr must be a finite number in \(0, 1000\], got 0.0"),
    ({"lr": -0.1}, r"lr must be a finite number in \(0, 1000\], got -0.1"),
    ({"lr": float("inf")}, r"lr must be a finite number in \(0, 1000\], got inf"),
    ({"lr": float("nan")}, r"lr must be a finite number in \(0, 1000\], got nan"),
    ({"gamma": 1.01}, r"gamma must be in \[0, 1\], got 1.01"),
    ({"gamma": -0.5}, r"gamma must be in \[0, 1\], got -0.5"),
    ({"weights": "returns"}, "weights must be one of 'total_return', 'reward_to_go'; got 'returns'"),
    ({"baseline": "median"}, "baseline must be one of 'none', 'mean', 'value'; got 'median'"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of 'sgd', 'adam'; got 'rmsprop'"),
    ({"iterations": 0}, "iterations must be ≥ 1, got 0"),
])
def test_bad_config_is_a_clear_value_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


def test_continuous_env_with_discrete_only_policy():
    with pytest.raises(ValueError, match=r"policy='categorical' needs discrete actions.*continuous"):
        train(TrainConfig(env_id="Pendulum-v1", policy="categorical", iterations=1), progress=False)


def test_nan_loss_is_a_clear_error():
    # the largest step allowed, on Pendulum's returns of about −1000 unnormalised, drives log σ to
    # −∞ or the mean to ±∞ within two steps; the next loss is NaN
    cfg = TrainConfig(env_id="Pendulum-v1", lr=1e3, optimizer="sgd", normalise=False, baseline="none",
                      weights="total_return", iterations=20, n_traj=4)
    with pytest.raises(ValueError, match=r"training diverged: the (loss|gradient norm) became (nan|inf).*use a smaller lr"):
        train(cfg, progress=False)


def test_env_step_budget_stops_after_the_batch_that_spends_it():
    _, history = train(TrainConfig(seed=1, iterations=100, max_env_steps=1000), progress=False)
    assert history.env_steps[-1] >= 1000 > history.env_steps[-2]
    again = train(TrainConfig(seed=1, iterations=len(history)), progress=False)[1]
    assert again.mean_return == history.mean_return and again.loss == history.loss


def test_steps_per_batch_one_is_plain_reinforce_and_more_reuses_the_batch():
    plain = train(TrainConfig(seed=2, iterations=3), progress=False)[1]
    k1 = train(TrainConfig(seed=2, iterations=3, steps_per_batch=1), progress=False)[1]
    assert plain.loss == k1.loss
    seen = []
    train(TrainConfig(seed=2, iterations=2, steps_per_batch=3), progress=False,
          on_step=lambda it, k, batch, logp, logp_old: seen.append((it, k, bool(torch.equal(logp, logp_old)))))
    # step 0 is on-policy (ratios exactly 1); steps 1 and 2 see a policy that has moved
    assert [(it, k) for it, k, _ in seen] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert [same for _, k, same in seen if k == 0] == [True, True]
    assert not any(same for _, k, same in seen if k > 0)


@pytest.mark.parametrize("overrides,message", [
    ({"steps_per_batch": 0}, "steps_per_batch must be ≥ 1, got 0"),
    ({"steps_per_batch": 2, "weights": "total_return"}, "need weights='reward_to_go'"),
    ({"importance_weights": "trajectory"}, "importance_weights must be one of 'per_decision', 'first_order'"),
    ({"max_env_steps": 0}, "max_env_steps must be ≥ 1, got 0"),
])
def test_bad_reuse_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)
