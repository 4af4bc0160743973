"""The course's vector environments: gymnasium's dynamics exactly, and resets in independent blocks."""

import gymnasium as gym
import numpy as np
import pytest

from pgcourse import make_vector_env
from pgcourse.batch import reset_blocks
from pgcourse.envs import AcrobotVectorEnv, CourseCartPoleVectorEnv, PendulumVectorEnv


def test_pendulum_vector_env_steps_as_gymnasium_pendulum():
    n, steps = 5, 200
    vec = make_vector_env("Pendulum-v1", n)
    assert isinstance(vec.unwrapped, PendulumVectorEnv)
    obs, _ = vec.reset(seed=3)
    singles = [gym.make("Pendulum-v1").unwrapped for _ in range(n)]
    for j, env in enumerate(singles):
        env.reset(seed=0)
        env.state = vec.unwrapped.state[:, j].copy()  # same start, then the same actions
        np.testing.assert_array_equal(env._get_obs(), obs[j])
    rng = np.random.default_rng(0)
    for t in range(steps):
        act = rng.uniform(-3, 3, size=(n, 1)).astype(np.float32)  # beyond ±2: both clip
        obs, rew, term, trunc, _ = vec.step(act)
        for j, env in enumerate(singles):
            o, r, te, _, _ = env.step(act[j])
            np.testing.assert_allclose(obs[j], o, rtol=0, atol=1e-6)
            assert rew[j] == pytest.approx(r, rel=1e-6, abs=1e-9)  # NumPy's vectorised sin differs by an ulp
            assert not term[j] and not te
        assert trunc.all() == (t == steps - 1)
    vec.close()


def test_pendulum_starts_uniformly_in_the_documented_box():
    vec = PendulumVectorEnv(num_envs=4000)
    vec.reset(seed=1)
    th, thdot = vec.state
    assert th.min() >= -np.pi and th.max() <= np.pi and abs(thdot).max() <= 1.0
    assert abs(th.mean()) < 0.1 and th.std() == pytest.approx(2 * np.pi / np.sqrt(12), rel=0.05)


def test_acrobot_vector_env_steps_as_gymnasium_acrobot():
    n = 6
    vec = make_vector_env("Acrobot-v1", n)
    assert isinstance(vec.unwrapped, AcrobotVectorEnv) and vec.unwrapped.max_episode_steps == 500
    single = gym.make("Acrobot-v1").unwrapped
    single.reset(seed=0)
    rng = np.random.default_rng(0)
    obs, _ = vec.reset(seed=3)
    starts = vec.unwrapped.state
    assert abs(starts).max() <= 0.1 and np.array_equal(starts, starts.astype(np.float32))   # U(−0.1, 0.1), float32
    terminal = 0
    for t in range(520):
        if t % 40 == 39:   # now and then anywhere in the state space, so that some steps reach the bar
            vec.unwrapped.state = rng.uniform(-1, 1, (4, n)) * np.array([[np.pi], [np.pi], [12.0], [28.0]])
        state, restarting = vec.unwrapped.state.copy(), vec.unwrapped.prev_done.copy()
        act = rng.integers(0, 3, size=n)
        obs, rew, term, trunc, _ = vec.step(act)
        for j in range(n):
            if restarting[j]:   # next-step autoreset: a fresh start, reward 0
                assert rew[j] == 0 and not term[j] and not trunc[j] and abs(vec.unwrapped.state[:, j]).max() <= 0.1
                continue
            single.state = state[:, j].copy()   # the same state and action, one step of gymnasium's acrobot
            o, r, te, _, _ = single.step(int(act[j]))
            np.testing.assert_array_equal(obs[j], o)
            assert (rew[j], bool(term[j])) == (r, te)
            terminal += te
    assert terminal > 0
    vec.reset(seed=1)
    for t in range(500):
        _, _, term, trunc, _ = vec.step(np.ones(n, dtype=int))   # no torque: hangs, never reaches the bar
        assert not term.any() and trunc.all() == (t == 499)
    vec.close()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Acrobot-v1"])
def test_a_block_starts_as_a_vector_env_of_its_own(env_id):
    n = 4
    big = make_vector_env(env_id, 3 * n)
    obs = reset_blocks(big, [11, 22, 33], n)
    for k, seed in enumerate([11, 22, 33]):
        small = make_vector_env(env_id, n)
        alone, _ = small.reset(seed=seed)
        np.testing.assert_array_equal(obs[k * n:(k + 1) * n], alone)
        small.close()
    assert isinstance(big.unwrapped, (CourseCartPoleVectorEnv, PendulumVectorEnv, AcrobotVectorEnv))
    big.close()


def test_block_seeds_must_divide_the_envs():
    env = make_vector_env("CartPole-v1", 6)
    with pytest.raises(ValueError, match="blocks"):
        reset_blocks(env, [1, 2, 3, 4], 2)
    env.close()


@pytest.mark.parametrize("integrator", ["euler", "semi-implicit euler"])
def test_cartpole_vector_env_steps_exactly_as_gymnasiums(integrator):
    """CourseCartPoleVectorEnv.step is gymnasium's CartPoleVectorEnv.step with less overhead: the same
    observations, rewards, flags and states, bit for bit, through episodes ending and autoresets."""
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    n = 12
    ours = CourseCartPoleVectorEnv(num_envs=n, max_episode_steps=25)
    theirs = CartPoleVectorEnv(num_envs=n, max_episode_steps=25)
    ours.kinematics_integrator = theirs.kinematics_integrator = integrator
    for env in (ours, theirs):
        env.reset(seed=5)
    rng = np.random.default_rng(0)
    fell = cut = 0
    for t in range(700):   # episodes end by falling and by the time limit (25 steps here), then restart
        act = rng.integers(0, 2, size=n) if t % 3 else np.ones(n, dtype=np.int64)
        a, b = ours.step(act), theirs.step(act.copy())
        for mine, gym_value in zip(a[:4], b[:4]):
            assert mine.dtype == gym_value.dtype and np.array_equal(mine, gym_value)
        assert np.array_equal(ours.state, theirs.state) and np.array_equal(ours.steps, theirs.steps)
        fell, cut = fell + int(a[2].sum()), cut + int(a[3].sum())
    assert fell > n and cut > n
    with pytest.raises(AssertionError, match="invalid"):
        ours.step(np.full(n, 2))
