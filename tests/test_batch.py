"""The sampler: seeded, vectorised, and exact about where each trajectory ends."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgcourse import CategoricalPolicy, GaussianPolicy, make_vector_env, sample_batch


@pytest.fixture
def policy():
    torch.manual_seed(0)
    return CategoricalPolicy(4, 2, hidden=(16,), out_scale=1.0)


def test_same_seed_same_batch_and_other_seed_differs(policy):
    a = sample_batch("CartPole-v1", policy, n_traj=8, seed=3)
    b = sample_batch("CartPole-v1", policy, n_traj=8, seed=3)
    c = sample_batch("CartPole-v1", policy, n_traj=8, seed=4)
    for name in ("obs", "act", "rew", "mask", "terminated", "truncated"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.lengths, c.lengths) or not torch.equal(a.act, c.act)


def test_shapes_mask_and_padding(policy):
    batch = sample_batch("CartPole-v1", policy, n_traj=6, seed=0)
    n, t = batch.rew.shape
    assert (n, t) == (6, batch.lengths.max().item())
    assert batch.obs.shape == (6, t, 4) and batch.act.shape == (6, t)
    assert batch.obs.dtype == torch.float32 and batch.act.dtype == torch.int64 and batch.rew.dtype == torch.float32
    # the mask is a prefix: True for t < length, False after
    assert torch.equal(batch.mask, torch.arange(t)[None, :] < batch.lengths[:, None])
    assert torch.all(batch.rew[~batch.mask] == 0) and torch.all(batch.obs[~batch.mask] == 0)
    # CartPole pays +1 per real step, so R(τ_i) is the episode's length
    assert torch.equal(batch.returns(), batch.lengths.float())
    assert batch.n_steps == int(batch.lengths.sum())
    assert not torch.any(batch.terminated & batch.truncated)
    assert torch.all(batch.terminated | batch.truncated)


def test_each_row_is_the_first_episode_of_its_subenv(policy):
    """Oracle: replay row i's actions in a single CartPole started from row i's first state."""
    batch = sample_batch("CartPole-v1", policy, n_traj=5, seed=11)
    for i in range(5):
        env = gym.make("CartPole-v1")
        env.reset(seed=0)
        env.unwrapped.state = batch.obs[i, 0].double().numpy()
        obs = batch.obs[i, 0].numpy()
        for t in range(int(batch.lengths[i])):
            assert np.allclose(obs, batch.obs[i, t].numpy(), atol=1e-4)
            obs, rew, term, trunc, _ = env.step(int(batch.act[i, t]))
            assert rew == batch.rew[i, t].item()
        # the episode ends exactly where the mask ends, and how it ended is recorded
        assert term == bool(batch.terminated[i]) and trunc == bool(batch.truncated[i])
        env.close()


def test_time_limit_is_truncation_not_termination():
    # a policy that balances well enough meets CartPole's 500-step limit: truncated, not terminated
    class Balance(torch.nn.Module):
        def sample(self, obs, generator=None):
            return (obs[:, 2] + 0.5 * obs[:, 3] > 0).long()

    batch = sample_batch("CartPole-v1", Balance(), n_traj=4, seed=0)
    assert torch.all(batch.lengths == 500)
    assert torch.all(batch.truncated) and not torch.any(batch.terminated)


def test_max_steps_cuts_and_marks_truncated(policy):
    batch = sample_batch("CartPole-v1", policy, n_traj=4, seed=0, max_steps=5)
    assert batch.horizon == 5 and torch.all(batch.truncated | batch.terminated)


def test_continuous_actions_are_stored_unclipped_and_vector_env_reused():
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 1, hidden=(8,), log_std_init=1.5)
    envs = make_vector_env("Pendulum-v1", 3)
    batch = sample_batch(envs, policy, seed=0)
    envs.close()
    assert batch.act.shape == (3, 200, 1) and batch.obs.shape == (3, 200, 3)
    assert batch.act.abs().max() > 2.0  # actions beyond the bounds are clipped for the env only
    assert torch.all(batch.truncated) and batch.n_steps == 600


def test_bad_arguments():
    policy = CategoricalPolicy(4, 2)
    with pytest.raises(ValueError, match="unknown environment id 'NoSuchEnv-v0'"):
        sample_batch("NoSuchEnv-v0", policy, n_traj=2)
    with pytest.raises(ValueError, match="n_traj must be ≥ 1, got 0"):
        sample_batch("CartPole-v1", policy, n_traj=0)
