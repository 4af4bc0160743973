"""What every training run needs besides the algorithm: the seed of each batch, one thread, the
optimizer by name, a memory check before allocating, a progress bar, and Ctrl-C/SIGTERM handling.

``pgcourse.reinforce.train`` (the readable loop) and ``pgcourse.seeds.train_seeds`` (the K-seed
engine) both use these, so that a run means the same thing in both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import numpy as np
import torch

from ._validate import check_choice
from .config import OPTIMIZERS, TrainConfig

__all__ = ["batch_seed", "single_thread", "make_optimizer", "memory_estimate", "check_memory", "progress_bar",
           "Interrupt"]


def batch_seed(seed: int, iteration: int) -> int:
    """The seed of batch ``iteration`` of a run with ``seed``: made when needed, never a list up front."""
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(iteration),)).generate_state(1)[0])


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread inside the block, then restore the previous setting.

    The course's networks are tiny: one thread is faster (no synchronisation, and no slowdown when
    other processes share the cores), and a run does not depend on how many cores a machine has
    (it still depends on the CPU's instruction set: see notebooks/00_welcome.ipynb).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def make_optimizer(params, name: str, lr: float) -> torch.optim.Optimizer:
    """torch.optim.Adam (name "adam") or torch.optim.SGD (name "sgd") with learning rate lr."""
    check_choice("optimizer", name, OPTIMIZERS)
    return torch.optim.Adam(params, lr=lr) if name == "adam" else torch.optim.SGD(params, lr=lr)


def memory_estimate(config: TrainConfig, n_seeds: int, envs) -> int:
    """Bytes a run needs, roughly, before anything is allocated: K copies of the weights with their
    gradients and Adam moments, and one padded batch with the activations its backward pass keeps."""
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    space = envs.single_action_space
    n_out = int(space.n) if hasattr(space, "n") else 2 * int(np.prod(space.shape))
    sizes = (obs_dim, *config.hidden, n_out)
    n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if config.baseline == "value":
        n_params += sum((a + 1) * b for a, b in zip((obs_dim, *config.hidden, 1), (*config.hidden, 1)))
    spec = envs.spec
    horizon = (spec.max_episode_steps if spec is not None and spec.max_episode_steps else None) or 1000
    per_step = obs_dim + 3 * sum(config.hidden) + 4 * n_out + 8  # obs, activations, logits, rewards, masks
    floats = n_seeds * (4 * n_params + config.n_traj * horizon * per_step)
    return 4 * floats


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # pragma: no cover (not on every platform)
        return None


def check_memory(config: TrainConfig, n_seeds: int, envs) -> None:
    """ValueError, before allocating, when the run would need more than half of this machine's memory."""
    need, have = memory_estimate(config, n_seeds, envs), _physical_memory()
    if have is not None and need > have // 2:
        raise ValueError(f"this run needs about {need / 2**30:.1f} GiB (n_traj={config.n_traj}, "
                         f"hidden={list(config.hidden)}, {n_seeds} seed(s)), more than half of this machine's "
                         f"{have / 2**30:.1f} GiB; lower n_traj or hidden")


class _NoBar:
    """Stands in for a tqdm bar when progress is off."""

    def update(self, n=1):
        pass

    def set_postfix(self, **values):
        pass

    def close(self):
        pass


def progress_bar(total: int, enabled):
    """A tqdm bar over ``total`` iterations (enabled None: auto, shown in notebooks and terminals).

    When training stops early, ``close()`` shows the bar complete rather than failed."""
    if enabled is False:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return _NoBar()

    class _Bar(tqdm):
        def close(self):
            if not self.disable and self.n < self.total:  # finished early: complete, not failed
                self.total = self.n
                self.refresh()
            super().close()

    return _Bar(total=total, desc="train", leave=False, disable=None if enabled is None else not enabled)


class Interrupt:
    """While training, SIGINT (Ctrl-C, a notebook's interrupt) and SIGTERM ask the loop to stop after the
    iteration it is in, so the policy and the history agree; a second Ctrl-C stops at once
    (KeyboardInterrupt). Off the main thread, where Python cannot install handlers, nothing changes.
    ``signal`` names the signal received (None: none)."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self):
        self.signal: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if self.signal == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                number = getattr(signal, name)
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        return False
