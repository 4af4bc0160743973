"""Saving and loading trained policies: a folder with config.json and policy.pt (a state dict)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import torch
from torch import nn

from .policies import make_policy
from .train import TrainConfig

__all__ = ["save_policy", "load_policy"]

CONFIG_FILE, POLICY_FILE = "config.json", "policy.pt"


def save_policy(policy: nn.Module, config: TrainConfig, out_dir) -> Path:
    """Write out_dir/policy.pt (state dict) and out_dir/config.json; returns out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(policy.state_dict(), out_dir / POLICY_FILE)
    (out_dir / CONFIG_FILE).write_text(config.to_json() + "\n")
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
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{str(policy_dir / POLICY_FILE)!r} is not a readable state dict: {first}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{str(policy_dir / POLICY_FILE)!r} holds a {type(state).__name__}, not a state dict")
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
