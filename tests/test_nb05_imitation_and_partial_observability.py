"""Notebook 05: behaviour cloning vs the policy gradient, partially observed CartPole, observation policies."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgcourse.partial_observability as po
from helpers import rerun_with
from pgcourse import (TabularMDP, TabularSoftmaxPolicy, TrainConfig, compare_to_exact, gradient_samples,
                      make_vector_env, pg_pseudo_loss, sample_batch, train, trajectory_scores)
from pgcourse.checks.imitation_and_partial_observability import (check_bc_loss, check_hide_velocities,
                                                                 check_stack_two_frames)
from pgcourse.imitation import bc_loss, behaviour_cloning, imitation_vs_pg, log_likelihood_change
from pgcourse.widgets.imitation_and_partial_observability import compute_imitation_vs_pg, imitation_panel


@pytest.fixture(scope="module")
def expert():
    policy, history = train(TrainConfig(target_return=475), progress=False)
    assert history.solved
    return policy


def _stub(*args, **kwargs):
    raise NotImplementedError()


# ---------------------------------------------------------------- checkers

def test_check_hide_velocities():
    assert check_hide_velocities(lambda obs: obs[..., [0, 2]], verbose=False)
    assert not check_hide_velocities(lambda obs: obs[..., [1, 3]], verbose=False)       # the velocities
    assert not check_hide_velocities(lambda obs: obs[..., :2], verbose=False)           # x and ẋ
    assert not check_hide_velocities(lambda obs: obs[:, [0, 2]], verbose=False)         # only batched input
    result = check_hide_velocities(_stub, verbose=False)
    assert not result and "not implemented" in result.message


def test_check_stack_two_frames():
    def ref(obs):
        return np.concatenate([np.concatenate([obs[:1], obs[:-1]]), obs], -1)

    assert check_stack_two_frames(ref, verbose=False)
    assert not check_stack_two_frames(lambda obs: np.concatenate([np.roll(obs, 1, 0), obs], -1), verbose=False)
    assert not check_stack_two_frames(lambda obs: np.concatenate([obs, ref(obs)[:, :obs.shape[1]]], -1),
                                      verbose=False)                                   # (o_t, o_{t-1}) swapped
    assert not check_stack_two_frames(
        lambda obs: np.concatenate([np.concatenate([np.zeros_like(obs[:1]), obs[:-1]]), obs], -1),
        verbose=False)                                                                 # zero padding at t = 0
    assert not check_stack_two_frames(_stub, verbose=False)


def test_check_bc_loss():
    assert check_bc_loss(lambda logp, mask: -(logp * mask).sum() / logp.shape[0], verbose=False)
    assert not check_bc_loss(lambda logp, mask: -logp[mask].mean(), verbose=False)       # mean over steps
    assert not check_bc_loss(lambda logp, mask: -logp.sum() / logp.shape[0], verbose=False)  # ignores the mask
    assert not check_bc_loss(lambda logp, mask: (logp * mask).sum() / logp.shape[0], verbose=False)  # sign
    assert not check_bc_loss(_stub, verbose=False)


# ---------------------------------------------------------------- observation functions and environments

def test_hide_velocities_and_frames_numpy_and_torch_agree():
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    assert np.array_equal(po.hide_velocities(obs), obs[:, [0, 2]])
    assert torch.equal(po.hide_velocities(torch.from_numpy(obs)), torch.from_numpy(obs[:, [0, 2]]))
    stacked = po.stack_two_frames(obs[:, :2])
    assert stacked.shape == (5, 4)
    assert np.array_equal(stacked[0], np.concatenate([obs[0, :2], obs[0, :2]]))
    assert np.array_equal(stacked[3], np.concatenate([obs[2, :2], obs[3, :2]]))
    assert torch.equal(po.stack_two_frames(torch.from_numpy(obs[:, :2])), torch.from_numpy(stacked))
    diff = po.frame_difference(stacked, tau=0.5)                   # invertible: recover both frames
    assert np.allclose(diff[:, :2], obs[:, :2]) and np.allclose(diff[:, :2] - 0.5 * diff[:, 2:], stacked[:, :2])


def test_environments_are_registered_and_use_a_sync_vector_env():
    for env_id, dim in ((po.NO_VELOCITY_ID, 2), (po.FRAME_STACK_ID, 4), (po.FRAME_DIFF_ID, 4)):
        assert env_id in gym.registry and gym.spec(env_id).vector_entry_point is None
        assert gym.spec(env_id).max_episode_steps == 500
        envs = make_vector_env(env_id, 3)
        assert type(envs.unwrapped).__name__ == "SyncVectorEnv"
        assert envs.single_observation_space.shape == (dim,)
        envs.close()
    po.register()  # idempotent


def test_partial_observations_are_functions_of_cartpole_states():
    """Same seed, same actions: each wrapper's observation is the promised function of CartPole-v1's."""
    envs = {env_id: gym.make(env_id) for env_id in ("CartPole-v1", *po.ENV_IDS.values())}
    obs = {k: [e.reset(seed=3)[0]] for k, e in envs.items()}
    for t in range(50):
        s = obs["CartPole-v1"][-1]
        action = int(s[2] + 0.5 * s[3] > 0)  # a balancing controller, so that the episode lasts
        for k, e in envs.items():
            o, _, terminated, truncated, _ = e.step(action)
            obs[k].append(o)
        assert not terminated
    full = np.array(obs["CartPole-v1"])
    pos = full[:, [0, 2]]
    assert np.allclose(np.array(obs[po.NO_VELOCITY_ID]), pos)
    stack = np.array(obs[po.FRAME_STACK_ID])
    assert np.allclose(stack, po.stack_two_frames(pos))
    diff = np.array(obs[po.FRAME_DIFF_ID])
    assert np.allclose(diff[:, :2], pos)
    # Euler integration: (x_t − x_{t-1})/τ is exactly the previous step's velocity
    assert np.allclose(diff[1:, 2:], full[:-1][:, [1, 3]], atol=1e-4)
    assert np.allclose(diff[0, 2:], 0)


def test_train_accepts_the_partially_observed_ids():
    for env_id in po.ENV_IDS.values():
        policy, history = train(TrainConfig(env_id=env_id, iterations=2, n_traj=4), progress=False)
        assert len(history) == 2 and policy.obs_dim == gym.spec(env_id).make().observation_space.shape[0]
    curves = po.learning_curves([po.NO_VELOCITY_ID], seeds=(0, 1), iterations=2)
    assert [len(h) for h in curves[po.NO_VELOCITY_ID]] == [2, 2]
    again = po.learning_curves([po.NO_VELOCITY_ID], seeds=(0,), iterations=2)
    assert again[po.NO_VELOCITY_ID][0].mean_return == curves[po.NO_VELOCITY_ID][0].mean_return


def test_stepping_cost_names_the_vectorization():
    assert po.stepping_cost("CartPole-v1", 4, n_steps=10, repeats=1)["vectorization"] == "CartPoleVectorEnv"
    cost = po.stepping_cost(po.NO_VELOCITY_ID, 4, n_steps=10, repeats=1)
    assert cost["vectorization"] == "SyncVectorEnv" and cost["us_per_step"] > 0


# ---------------------------------------------------------------- observation policies on a tabular MDP

def test_observed_gradient_is_exact():
    mdp = TabularMDP.random(6, 2, 4, seed=1)
    obs_of_state = torch.tensor([0, 0, 1, 1, 2, 2])
    theta = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    grad = po.observed_gradient(mdp, obs_of_state, theta)
    eps = 1e-6
    for o in range(3):
        for a in range(2):
            e = torch.zeros_like(theta)
            e[o, a] = eps
            fd = (mdp.objective((theta + e)[obs_of_state]) - mdp.objective((theta - e)[obs_of_state])) / (2 * eps)
            assert float(grad[o, a]) == pytest.approx(float(fd), abs=1e-8)
    # with every state observed, it is the ordinary exact gradient
    full = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(po.observed_gradient(mdp, torch.arange(6), full), mdp.gradient(full))


def test_reinforce_on_observations_is_unbiased():
    """z-test, N = 20 000: max |z| over 6 parameters < 4.5 (a false alarm has probability < 1e-4)."""
    mdp = TabularMDP.random(6, 2, 6, seed=3)
    obs_of_state = torch.tensor([0, 0, 1, 1, 2, 2])
    theta = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    samples = po.observed_gradient_samples(mdp, obs_of_state, theta, n_traj=20_000, seed=11)
    summary = compare_to_exact(samples, po.observed_gradient(mdp, obs_of_state, theta))
    assert summary.max_abs_z < 4.5
    again = po.observed_gradient_samples(mdp, obs_of_state, theta, n_traj=20_000, seed=11)
    assert torch.equal(samples, again)


# ---------------------------------------------------------------- imitation

def test_bc_loss_is_the_pseudo_loss_with_unit_weights_and_the_nll():
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(3, 5, generator=g)
    mask = torch.rand(3, 5, generator=g) > 0.3
    assert torch.allclose(bc_loss(logp, mask), pg_pseudo_loss(logp, torch.ones_like(logp), mask))
    assert torch.allclose(bc_loss(logp, mask), -logp[mask].sum() / 3)


def test_log_likelihood_change_is_first_order_alpha_score_dot_gradient():
    """Δ_i ≈ α ∇log p(τ_i)·ĝ for a small step (float64 tabular policy), and the policy is left untouched."""
    mdp = TabularMDP.random(4, 3, 6, seed=0)
    theta = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    policy = TabularSoftmaxPolicy.from_logits(theta)
    batch = mdp.sample(theta, 32, seed=2)
    rets = batch.rew.sum(1).double()
    lr = 1e-4
    delta = log_likelihood_change(policy, batch, rets, lr=lr)
    g_hat = gradient_samples(policy, batch, rets).mean(0)
    predicted = lr * trajectory_scores(policy, batch) @ g_hat
    assert torch.allclose(delta, predicted, rtol=1e-3, atol=1e-9)
    assert torch.equal(policy.logits.detach(), theta)


def test_behaviour_cloning_learns_from_two_expert_trajectories(expert):
    data = sample_batch("CartPole-v1", expert, n_traj=2, seed=5)
    assert float(data.returns().mean()) > 450
    policy, curve = behaviour_cloning(data, steps=15, lr=0.06, seed=0)
    assert len(curve.steps) == 16 and curve.mean_return[0] < 100
    assert curve.mean_return[-3:].max() > 300
    assert (curve.env_steps == data.n_steps).all()


def test_imitation_vs_pg_is_pure(expert):
    a = imitation_vs_pg(expert, n_traj=2, lr=0.06, steps=3, seed=1)
    b = imitation_vs_pg(expert, n_traj=2, lr=0.06, steps=3, seed=1)
    for key in ("bc", "pg"):
        assert np.array_equal(a[key].mean_return, b[key].mean_return) and len(a[key].steps) == 4
    assert a["pg"].env_steps[0] == 0 and np.all(np.diff(a["pg"].env_steps) > 0)


def test_panel_redraws_and_equals_a_direct_call(expert):
    panel = imitation_panel(expert, steps=4)
    panel.run()
    rerun_with(panel, n_traj=2, lr=0.03)
    direct = compute_imitation_vs_pg(expert, n_traj=2, lr=0.03, steps=4, seed=0)
    for key in ("bc", "pg"):
        assert np.array_equal(panel.result[key].mean_return, direct[key].mean_return)
    assert panel.result["expert_return"] == direct["expert_return"]
