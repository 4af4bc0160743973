"""Saving and loading trained policies: a folder with config.json and policy.pt (a state dict).

Every file is written to a temporary name in the same folder and then moved into place with
``os.replace`` (atomic on one file system), config.json last: a full disk or a crash while writing
leaves the folder's previous files untouched, and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import gymnasium as gym
import torch
from torch import nn

from ._validate import first_line
from .batch import env_errors
from .policies import make_policy
from .config import TrainConfig

__all__ = ["prepare_out_dir", "atomic_write", "save_policy", "save_run", "load_policy"]

CONFIG_FILE, POLICY_FILE = "config.json", "policy.pt"


def prepare_out_dir(out_dir) -> Path:
    """Create ``out_dir`` (and its parents) and prove it writable, or raise one clear ValueError.

    Called before training, so that a bad ``--out`` costs nothing."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {str(out_dir)!r} is a file, not a folder; name a new or existing folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        raise ValueError(f"--out {str(out_dir)!r} cannot be written: {err.strerror or err}") from None
    return out_dir


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", exclusive: bool = False):
    """Yield a file open at a temporary name beside ``path``; on success move it onto ``path``.

    If the block raises (a full disk, an interrupt), ``path`` keeps its old content and the temporary
    file is deleted. exclusive: never replace a file: the finished file is hard-linked to ``path``,
    which raises FileExistsError (``path`` untouched) if it exists by then."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_policy(policy: nn.Module, config: TrainConfig, out_dir) -> Path:
    """Write out_dir/policy.pt (state dict), then out_dir/config.json, each atomically; returns out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / POLICY_FILE) as f:
        torch.save(policy.state_dict(), f)
    with atomic_write(out_dir / CONFIG_FILE, "w") as f:
        f.write(config.to_json() + "\n")
    return out_dir


def save_run(out_dir, policy: nn.Module, config: TrainConfig, history) -> Path:
    """A run's folder: history.csv, learning_curve.png, policy.pt and config.json (last), each atomic.

    Every file is first written completely under a temporary name; only then are they moved into
    place, so a failure while writing (a full disk) leaves the previous run complete."""
    from .plots import save_learning_curve

    out_dir = prepare_out_dir(out_dir)
    title = f"REINFORCE on {config.env_id} (seed {config.seed})"
    staged = []
    try:
        for name, write in (("history.csv", lambda f: history.write_csv(f)),
                            ("learning_curve.png", lambda f: save_learning_curve(history, f, title=title,
                                                                                 target=config.target_return)),
                            (POLICY_FILE, lambda f: torch.save(policy.state_dict(), f)),
                            (CONFIG_FILE, lambda f: f.write((config.to_json() + "\n").encode()))):
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
            staged.append((tmp, out_dir / name))
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        for tmp, final in staged:  # config.json last: it names the run the other files belong to
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return out_dir


def load_policy(policy_dir) -> tuple[nn.Module, TrainConfig]:
    """Rebuild the policy saved by ``save_policy``; ValueError with one clear line if anything is off.

    The weights are read with ``torch.load(..., weights_only=True)``: no pickled code runs.
    """
    policy_dir = Path(policy_dir)
    if not policy_dir.is_dir():
        raise ValueError(f"policy folder {str(policy_dir)!r} does not exist (expected a folder written by "
                         f"'pgcourse train --out DIR')")
    for name in (CONFIG_FILE, POLICY_FILE):
        if not (policy_dir / name).is_file():
            raise ValueError(f"{str(policy_dir / name)!r} is missing; a policy folder holds {CONFIG_FILE} and {POLICY_FILE}")
    try:
        config = TrainConfig.from_dict(json.loads((policy_dir / CONFIG_FILE).read_text()))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"{str(policy_dir / CONFIG_FILE)!r} is not a valid config: {err}") from None
    try:
        state = torch.load(policy_dir / POLICY_FILE, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds (UnpicklingError, IndexError, RuntimeError …)
        first = first_line(err)
        raise ValueError(f"{str(policy_dir / POLICY_FILE)!r} is not a readable state dict: {first}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{str(policy_dir / POLICY_FILE)!r} holds a {type(state).__name__}, not a state dict")
    with env_errors(config.env_id):
        env = gym.make(config.env_id)
    try:
        policy = make_policy(env.observation_space, env.action_space, config.policy, config.hidden,
                             log_std_init=config.log_std_init)
    finally:
        env.close()
    try:
        policy.load_state_dict(state)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise ValueError(f"{str(policy_dir / POLICY_FILE)!r} does not match the policy in {CONFIG_FILE} "
                         f"(env {config.env_id}, hidden {list(config.hidden)}): {detail}") from None
    policy.eval()
    return policy, config
