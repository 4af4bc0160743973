"""Many seeds at once: the K-seed engine (pgcourse.seeds.train_seeds) trains K independent runs, each the
run the readable loop (pgcourse.train) gives for its seed."""

import math
import os
import signal
import threading
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

from helpers import assert_same_history
from pgcourse import Batch, TrainConfig, normalise, train
from pgcourse.baselines import negligible, time_mean_baseline
from pgcourse.policies import make_policy
from pgcourse.runs import batch_seed, single_thread
from pgcourse.seeds import over_seed_groups, train_seeds
from pgcourse.seeds.processes import auto_processes, can_fork, split
from pgcourse.seeds.stack import PolicyStack, StackedOptimizer, UniformStream
from pgcourse.weights import BatchWeights, policy_weights


class ConstantEnv(gym.Env):
    """Every episode lasts LENGTH steps with reward 1 at every step, whatever the actions."""

    LENGTH = 7
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

    def step(self, action):
        self.t += 1
        obs = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return obs, 1.0, self.t >= self.LENGTH, False, {}


CONSTANT_ID = "pgcourse-test/Constant-v0"
if CONSTANT_ID not in gym.registry:
    gym.register(id=CONSTANT_ID, entry_point=ConstantEnv)


def _initial_policy(config, env_id=CONSTANT_ID):
    env = gym.make(env_id)
    torch.manual_seed(config.seed)
    policy = make_policy(env.observation_space, env.action_space, config.policy, config.hidden)
    env.close()
    return policy


# --- the normalisation defect: rounding noise must not become a step --------------------------------------

def test_normalise_returns_zeros_for_constant_weights_and_scales_real_spread():
    w = torch.full((4, 6), 497.3) + torch.randn(4, 6) * 1e-5 * 497.3 * 1e-2  # spread far below float32 rounding
    assert torch.equal(normalise(w), torch.zeros(4, 6))
    real = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    out = normalise(real)
    assert out.mean().abs() < 1e-6 and out.std() == pytest.approx(1.0, abs=1e-6)


def test_a_readers_own_baselined_advantages_are_protected_with_scale():
    """issue 22: normalise(q − time_mean_baseline(q)) on 8 identical 500-step episodes blows float32 noise up to
    entries of size 1.8; with scale=q (what the advantages were computed from) the noise counts as zero, and a
    real spread is still normalised."""
    q = Batch(obs=torch.zeros(8, 500, 4), act=torch.zeros(8, 500, dtype=torch.long), rew=torch.ones(8, 500),
              mask=torch.ones(8, 500, dtype=torch.bool), terminated=torch.zeros(8, dtype=torch.bool),
              truncated=torch.ones(8, dtype=torch.bool)).reward_to_go(0.995)
    adv = q - time_mean_baseline(q)
    assert normalise(adv).abs().max() > 1, "the example must show the noise being blown up"
    assert torch.equal(normalise(adv, scale=q), torch.zeros(8, 500))
    spread = q + torch.arange(8.0)[:, None]
    out = normalise(spread - time_mean_baseline(spread), scale=spread)
    assert out.std() == pytest.approx(1.0, abs=1e-4)


def test_baseline_residuals_of_equal_trajectories_are_exactly_zero():
    # three identical 500-step trajectories: Q̂_t − b_t is 0 in real arithmetic; float32 leaves residuals
    rew = torch.ones(3, 500)
    mask = torch.ones(3, 500, dtype=torch.bool)
    batch = Batch(obs=torch.zeros(3, 500, 4), act=torch.zeros(3, 500, dtype=torch.long), rew=rew, mask=mask,
                  terminated=torch.zeros(3, dtype=torch.bool), truncated=torch.ones(3, dtype=torch.bool))
    q = batch.reward_to_go(0.995)
    b = q.sum(0) / 3
    assert (q - b).abs().max() > 0, "the example must show the float32 residuals the fix is about"
    assert negligible(q - b, q)
    for normalise_ in (True, False):
        for weights in ("reward_to_go", "total_return"):
            cfg = TrainConfig(weights=weights, baseline="mean", normalise=normalise_, gamma=0.995)
            assert torch.equal(policy_weights(batch, cfg), torch.zeros(3, 500)), (weights, normalise_)


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.04), ("sgd", 0.3)])
@pytest.mark.parametrize("weights,baseline,normalise_", [
    ("reward_to_go", "mean", True), ("reward_to_go", "mean", False), ("total_return", "none", True),
    ("total_return", "mean", False)])
def test_constant_reward_batches_give_zero_weights_and_no_parameter_change(optimizer, lr, weights, baseline,
                                                                            normalise_):
    config = TrainConfig(env_id=CONSTANT_ID, n_traj=3, iterations=4, gamma=0.995, optimizer=optimizer, lr=lr,
                         weights=weights, baseline=baseline, normalise=normalise_, seed=2)
    policy, history = train(config, progress=False)
    before = _initial_policy(config)
    for p, q in zip(policy.parameters(), before.parameters()):
        assert torch.equal(p, q)
    assert history.grad_norm == [0.0] * 4


# --- the vectorised trainer --------------------------------------------------------------------------------

class Doubled(BatchWeights):
    """A weighting of the reader's kind: pgcourse's weights, doubled, with a loss of its own."""

    def weights(self, step, batch, logp, logp_old, values):
        return 2 * super().weights(step, batch, logp, logp_old, values)

    def loss(self, logp, weights, mask):
        return -(torch.where(mask, logp * weights, torch.zeros(())).sum(1)).mean()


ORACLE_CASES = {
    "defaults": (dict(target_return=475, iterations=40), None),
    "value baseline": (dict(baseline="value", iterations=12), None),
    "total return": (dict(weights="total_return", baseline="none", normalise=False, iterations=12), None),
    "gamma 1": (dict(gamma=1.0, iterations=12), None),
    "no normalisation": (dict(normalise=False, iterations=12), None),
    "sgd": (dict(optimizer="sgd", lr=0.01, iterations=12), None),
    "Pendulum": (dict(env_id="Pendulum-v1", iterations=6, n_traj=4), None),
    "steps_per_batch 3": (dict(steps_per_batch=3, iterations=8), None),
    "budget": (dict(max_env_steps=1500, iterations=100), None),
    "custom BatchWeights": (dict(iterations=12), Doubled),
}


@pytest.mark.parametrize("case", ORACLE_CASES)
@pytest.mark.parametrize("seed", [0, 3])
def test_train_seeds_reproduces_the_readable_loop_exactly(case, seed):
    """The oracle: the K-seed engine with one seed is pgcourse.train (pgcourse/reinforce.py), bit for bit.

    Exact, not approximately: with one seed the engine runs each layer as F.linear on the seed's own
    batch (what nn.Linear computes), steps with torch.optim's Adam/SGD arithmetic (StackedOptimizer),
    fits V_φ as ValueBaseline.fit does and draws the same uniforms, so both paths do the same float
    operations in the same order on any CPU. The defaults case solves (40 iterations are enough on
    seeds 0 and 3), so the stop rule is compared too."""
    overrides, weighting = ORACLE_CASES[case]
    config = TrainConfig(seed=seed, **overrides)
    policy, history = train(config, progress=False, weighting=None if weighting is None else weighting(config))
    policies, histories = train_seeds(config, [seed], progress=False,
                                      weighting=None if weighting is None else weighting(config))
    assert len(history) >= 2, "the run must take several steps to compare"
    assert_same_history(history, histories[0])
    for p, q in zip(policy.state_dict().values(), policies[0].state_dict().values()):
        assert torch.equal(p, q)
    if case == "defaults":
        assert history.solved
    if case == "budget":
        assert history.env_steps[-1] >= 1500 > history.env_steps[-2]


def _batched_product_is_per_slice_linear(rows: int, sizes) -> bool:
    """Does this CPU round torch.baddbmm's slice k exactly as F.linear on slice k alone, for a policy's own layer
    sizes and a block of ``rows`` observations? (The K-seed rollout computes the K policies' actions with one
    baddbmm per layer; the update runs each seed alone.)"""
    g = torch.Generator().manual_seed(0)
    with single_thread():
        for k in (2, 3, 4):
            for d_in, d_out in zip(sizes, sizes[1:]):
                x, w, b = (torch.randn(k, rows, d_in, generator=g), torch.randn(k, d_out, d_in, generator=g),
                           torch.randn(k, d_out, generator=g))
                y = torch.baddbmm(b[:, None, :], x, w.transpose(1, 2))
                if not all(torch.equal(y[j], torch.nn.functional.linear(x[j], w[j], b[j])) for j in range(k)):
                    return False
    return True


@pytest.mark.parametrize("overrides", [dict(target_return=475, iterations=60),
                                       dict(env_id="Pendulum-v1", n_traj=3, iterations=4, baseline="value")],
                         ids=["CartPole defaults", "Pendulum, value baseline"])
def test_a_seed_among_others_runs_as_it_does_alone(overrides):
    """Seed s inside a K-seed call takes the same steps as train(seed=s) alone: each seed's update runs on its
    own batch through its own copy, never padded to the others' episodes. Exactly so where this CPU's
    batched product rounds each slice as a lone product does for the policy's layer sizes (CartPole's on AVX2
    and the plain path; not Pendulum's 64 → 1 mean layer on this machine); where it does not (torch's plain kernels under ATEN_CPU_CAPABILITY=default, some AVX-512
    kernels), the K policies' actions round differently in the last bits: a Gaussian action, or a
    categorical one on a near-tie of two logits, and the runs agree to rounding in their first batch only."""
    config = TrainConfig(**overrides)
    seeds = [3, 11, 0, 1]
    _, together = train_seeds(config, seeds, progress=False, processes=1)
    _, reversed_ = train_seeds(config, seeds[::-1], progress=False, processes=1)
    env = gym.make(config.env_id)
    sizes = (env.observation_space.shape[0], *config.hidden,
             env.action_space.n if hasattr(env.action_space, "n") else env.action_space.shape[0])
    env.close()
    exact = _batched_product_is_per_slice_linear(config.n_traj, sizes)
    if config.env_id == "CartPole-v1":
        assert exact, "the course's CartPole policy shapes are exact on the CPUs tried (AVX2 and the plain path)"
    for k, seed in enumerate(seeds):
        _, alone = train(config, seed=seed, progress=False)
        if exact:
            assert_same_history(together[k], alone)
            assert_same_history(reversed_[len(seeds) - 1 - k], alone)
        else:
            np.testing.assert_allclose(together[k].mean_return[0], alone.mean_return[0], rtol=1e-5)
    assert len({h.mean_return[0] for h in together}) == len(seeds), "different seeds, different batches"


# --- groups of seeds in processes of their own (pgcourse/seeds/processes.py) -------------------------------

def _same_runs(a, b):
    (pa, ha), (pb, hb) = a, b
    assert len(ha) == len(hb) == len(pa) == len(pb)
    for x, y in zip(ha, hb):
        assert_same_history(x, y)
    for x, y in zip(pa, pb):
        assert all(torch.equal(u, v) for u, v in zip(x.state_dict().values(), y.state_dict().values()))


@pytest.mark.skipif(not can_fork(), reason="forking is used on Linux only")
@pytest.mark.parametrize("overrides", [dict(target_return=300, iterations=12),
                                       dict(env_id="Pendulum-v1", n_traj=3, iterations=3, baseline="value")],
                         ids=["CartPole", "Pendulum, value baseline"])
def test_forked_groups_are_the_groups_trained_here(overrides):
    """processes=n trains split(seeds, n) in n processes; each group's runs are the runs that group gives in
    one process, bit for bit, on any CPU (a different grouping may round differently: see the test above)."""
    config = TrainConfig(**overrides)
    seeds = [3, 11, 0, 1, 7]
    forked = train_seeds(config, seeds, progress=False, processes=2)
    here = [train_seeds(config, group, progress=False, processes=1) for group in split(seeds, 2)]
    _same_runs(forked, ([p for ps, _ in here for p in ps], [h for _, hs in here for h in hs]))
    assert split(seeds, 2) == [[3, 11, 0], [1, 7]]
    pids = over_seed_groups(lambda group: os.getpid(), seeds, processes=2)   # it does fork: two processes
    assert pids[0] == os.getpid() and pids[1] != os.getpid()


@pytest.mark.skipif(not can_fork(), reason="forking is used on Linux only")
def test_a_signal_stops_every_process_after_its_iteration():
    """Ctrl-C reaches this process only (a child has its own process group); the engine's answer, stop after
    the current iteration, is passed on, so every seed comes back marked interrupted and no child is left."""
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        _, histories = train_seeds(TrainConfig(iterations=100_000), range(4), progress=False, processes=2)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < 30
    assert all(h.interrupted and h.interrupt_signal == "SIGINT" for h in histories)
    assert all(0 < len(h) < 100_000 for h in histories)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def _fails_for_seven(group):
    if 7 in group:
        raise ValueError("seed 7 cannot")
    return group


def _fails_unpicklably(group):
    if 7 in group:
        class Local(Exception):
            pass
        raise Local("a local exception class")
    return group


class NeedsTwo(Exception):
    """Pickles, but does not unpickle: pickle calls NeedsTwo(a) with the one argument it kept."""

    def __init__(self, a, b):
        super().__init__(a)


def _fails_with_needs_two(group):
    if 7 in group:
        raise NeedsTwo("two arguments", "needed")
    return group


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not can_fork(), reason="forking is used on Linux only")
def test_a_child_error_is_raised_here_and_the_results_come_in_order():
    fds = _open_fds()
    assert over_seed_groups(lambda g: g, [1, 2, 3, 4, 5], processes=3) == [[1, 2], [3, 4], [5]]
    with pytest.raises(ValueError, match="seed 7 cannot") as raised:
        over_seed_groups(_fails_for_seven, [1, 2, 7], processes=2)
    assert "in the process that trained these seeds" in raised.value.__notes__[0]
    assert "_fails_for_seven" in raised.value.__notes__[0]          # the child's traceback comes with it
    with pytest.raises(RuntimeError, match="Local: a local exception class"):
        over_seed_groups(_fails_unpicklably, [1, 2, 7], processes=2)
    with pytest.raises(RuntimeError, match="NeedsTwo: two arguments"):
        over_seed_groups(_fails_with_needs_two, [1, 2, 7], processes=2)
    assert _open_fds() == fds
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.skipif(not can_fork(), reason="forking is used on Linux only")
def test_groups_do_not_fork_again_and_nothing_is_printed_twice(capfd, monkeypatch):
    """Inside a group (a child's, or this process's own) a train_seeds call stays in its process; text printed
    before the fork is printed once, not once more by each child."""
    monkeypatch.setenv("PGCOURSE_PROCESSES", "4")
    assert auto_processes(10) == 4
    print("printed before the fork", end="")
    inside = over_seed_groups(lambda group: (auto_processes(10), over_seed_groups(lambda g: os.getpid(), [0, 1], processes=2)),
                              [1, 2, 3, 4], processes=2)
    assert [n for n, _ in inside] == [1, 1]
    assert all(len(pids) == 1 for _, pids in inside)  # an explicit count inside a group stays in one group too
    print()
    assert capfd.readouterr().out.count("printed before the fork") == 1


def test_bad_process_counts_are_refused(monkeypatch):
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="processes must be a whole number"):
            train_seeds(TrainConfig(iterations=1), [0, 1], progress=False, processes=bad)
    with pytest.raises(ValueError, match="needs progress=False and no callback"):
        train_seeds(TrainConfig(iterations=1), [0, 1], processes=2, callback=lambda *a: None)
    monkeypatch.setenv("PGCOURSE_PROCESSES", "two")
    with pytest.raises(ValueError, match="PGCOURSE_PROCESSES must be a whole number"):
        train_seeds(TrainConfig(iterations=1), [0, 1], progress=False)


def test_seeds_stop_on_their_own_and_are_dropped_from_sampling():
    config = TrainConfig(iterations=60, target_return=200.0)
    _, histories = train_seeds(config, range(4), progress=False)
    lengths = [len(h) for h in histories]
    assert all(h.solved for h in histories), [h.summary() for h in histories]
    assert len(set(lengths)) > 1, "the seeds should need different numbers of iterations"
    for h in histories:
        assert math.isnan(h.grad_norm[-1])  # the kept policy is the one that reached the target
        assert h.final_return >= 200.0
        steps = np.diff([0, *h.env_steps])
        assert (steps >= config.n_traj).all()  # a seed counts only its own N episodes per batch


def test_budget_per_seed():
    _, histories = train_seeds(TrainConfig(max_env_steps=600), [0, 1], progress=False)
    for h in histories:
        assert h.env_steps[-1] >= 600 and (len(h) == 1 or h.env_steps[-2] < 600)


class PoisonedEnv(ConstantEnv):
    """ConstantEnv whose reward is NaN in the one sub-environment reset with POISON."""

    POISON = None

    def reset(self, *, seed=None, options=None):
        self.poisoned = seed is not None and seed == PoisonedEnv.POISON
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, rew, term, trunc, info = super().step(action)
        return obs, math.nan if self.poisoned else rew + float(obs[0]), term, trunc, info


POISONED_ID = "pgcourse-test/Poisoned-v0"
if POISONED_ID not in gym.registry:
    gym.register(id=POISONED_ID, entry_point=PoisonedEnv)


def test_a_diverging_seed_stops_alone_and_train_raises():
    PoisonedEnv.POISON = batch_seed(1, 2)  # seed 1's third batch, its first sub-environment
    config = TrainConfig(env_id=POISONED_ID, n_traj=3, iterations=5)
    _, histories = train_seeds(config, [0, 1, 2], progress=False)
    assert [bool(h.diverged) for h in histories] == [False, True, False]
    assert "training diverged: the loss became nan at iteration 2" in histories[1].diverged
    assert [len(h) for h in histories] == [5, 3, 5]
    with pytest.raises(ValueError, match="training diverged: the loss became nan at iteration 2"):
        train(config, seed=1, progress=False)


def test_bad_seeds_are_refused():
    for bad in ([], [-1], [2**63], [1.5], ["3"]):
        with pytest.raises(ValueError, match="seed"):
            train_seeds(TrainConfig(iterations=1), bad, progress=False)


def test_batch_seeds_are_made_lazily_and_differ():
    assert batch_seed(0, 0) != batch_seed(0, 1) != batch_seed(1, 0)
    assert batch_seed(0, 10**9) == batch_seed(0, 10**9)  # no list of a billion seeds is built


# --- the pieces: stacked optimizer, stacked policy, uniform stream -------------------------------------------

@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_stacked_optimizer_is_torch_optimizer_per_copy_and_freezes_the_others(name):
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(3, 5, 4, generator=gen).requires_grad_(), torch.randn(3, 4, generator=gen).requires_grad_()]
    ref = [p[1].detach().clone().requires_grad_() for p in params]
    frozen = [p[2].detach().clone() for p in params]
    ours = StackedOptimizer(params, name, lr=0.05)
    theirs = torch.optim.Adam(ref, lr=0.05) if name == "adam" else torch.optim.SGD(ref, lr=0.05)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=gen) for p in params]
        for p, g in zip(params, grads):
            p.grad = g
        for r, g in zip(ref, grads):
            r.grad = g[1].clone()
        ours.step(torch.tensor([True, True, False]))
        theirs.step()
    for p, r, f in zip(params, ref, frozen):
        assert torch.equal(p[1], r)  # bit for bit
        assert torch.equal(p[2], f)


def test_policy_stack_slices_are_the_single_policies():
    from pgcourse import CategoricalPolicy, GaussianPolicy
    obs = torch.randn(3, 5, 4)
    for cls, act in ((CategoricalPolicy, torch.randint(0, 2, (3, 5))), (GaussianPolicy, torch.randn(3, 5, 2))):
        policies = []
        for seed in range(3):
            torch.manual_seed(seed)
            policies.append(cls(4, 2, (16,)))
        stack = PolicyStack(policies)
        logp = stack.log_prob(obs, act)
        ent = stack.entropy(obs)
        for k, pol in enumerate(policies):
            torch.testing.assert_close(logp[k], pol.log_prob(obs[k], act[k]), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(ent[k], pol.entropy(obs[k]), rtol=1e-5, atol=1e-6)
            for p, q in zip(stack.module(k).parameters(), pol.parameters()):
                assert torch.equal(p, q)
        # the trainer's one-pass version gives exactly the two calls' numbers
        logp_one, ent_one = stack.log_prob_and_entropy(obs, act)
        assert torch.equal(logp_one, logp) and torch.equal(ent_one, ent)
        assert logp_one.requires_grad and not ent_one.requires_grad


def test_uniform_stream_gives_the_per_call_draws():
    a = torch.Generator().manual_seed(4)
    b = UniformStream(torch.Generator().manual_seed(4), chunk=5)
    for _ in range(12):
        assert torch.equal(torch.rand((8, 2), generator=a), b.rand((8, 2)))


def test_stacked_uniform_gives_each_streams_per_call_draws():
    from pgcourse.seeds.stack import StackedUniform
    alone = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    stacked = StackedUniform([torch.Generator().manual_seed(s) for s in (1, 2, 3)], (8, 2), chunk=5)
    for t in range(12):
        want = torch.stack([torch.rand((8, 2), generator=g) for g in alone])
        got = stacked.rand() if t % 2 else stacked.rand(torch.tensor([0, 1, 2]))
        assert torch.equal(got, want)

    floor = StackedUniform([torch.Generator().manual_seed(s) for s in (1, 2)], (8, 2), chunk=5, low=0.5)
    alone = [torch.Generator().manual_seed(s) for s in (1, 2)]
    for t in range(7):   # low= clamps the draws from below, as the Gumbel-max sampler clamps them at 1e-12
        want = torch.stack([torch.rand((8, 2), generator=g) for g in alone])
        assert torch.equal(floor.rand(), want.clamp(0.5, 1.0)) and (want < 0.5).any()


def test_cartpole_action_check_is_the_same_check():
    from pgcourse import make_vector_env
    env = make_vector_env("CartPole-v1", 4)
    env.reset(seed=0)
    space = env.unwrapped.action_space
    assert space.contains(np.array([0, 1, 1, 0]))
    for bad in (np.array([0, 1, 2, 0]), np.array([0, 1, 1]), np.array([0.0, 1.0, 1.0, 0.0]), [0, 1, 1, 0]):
        assert not space.contains(bad)
    with pytest.raises(AssertionError):
        env.step(np.array([0, 1, 2, 0]))
    env.close()


def test_weighting_is_the_loops_extension_point():
    """train_seeds asks its BatchWeights for every step's weights: the default is batch_weights(config),
    and a weighting of its own changes what the loop does without any flag in the loop."""
    from pgcourse.weights import BatchWeights, ReuseWeights, batch_weights

    config = TrainConfig(iterations=3, n_traj=4)
    assert type(batch_weights(config)) is BatchWeights and batch_weights(config).steps == 1
    reuse = batch_weights(TrainConfig(steps_per_batch=3))
    assert isinstance(reuse, ReuseWeights) and reuse.steps == 3

    _, default = train_seeds(config, [0, 1], progress=False)
    _, explicit = train_seeds(config, [0, 1], progress=False, weighting=batch_weights(config))
    for a, b in zip(default, explicit):
        assert_same_history(a, b)

    calls = []

    class Silent(BatchWeights):
        """Two steps per batch, both with zero weights: no signal, so no step is taken."""
        steps = 2

        def weights(self, step, batch, logp, logp_old, values):
            calls.append(step)
            return torch.zeros_like(batch.rew)

    policies, histories = train_seeds(config, [0, 1], progress=False, weighting=Silent(config))
    from pgcourse.seeds.engine import _initial_stacks

    start_stack, _ = _initial_stacks(config, [0, 1])      # the weights each seed starts from
    initial = [start_stack.module(k) for k in range(2)]
    assert calls == [0, 0] * 3                       # step 0 only: a silent batch ends the batch's steps
    assert all(h.grad_norm == [0.0, 0.0, 0.0] for h in histories)
    for trained, start in zip(policies, initial):
        for p, q in zip(trained.parameters(), start.parameters()):
            assert torch.equal(p, q)
