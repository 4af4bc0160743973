"""Animations of an agent, as an inline GIF made with Pillow (no ffmpeg, no display needed)."""

from __future__ import annotations

import io
import os

import gymnasium as gym
import numpy as np
import torch

__all__ = ["rollout_frames", "gif_bytes", "animate"]


def _offscreen():
    """rgb_array rendering never opens a window: tell SDL so (silences 'XDG_RUNTIME_DIR' noise headless)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@torch.no_grad()
def rollout_frames(env_id: str, policy=None, seed: int = 0, max_steps: int = 500, every: int = 2,
                   greedy: bool = False) -> tuple[list[np.ndarray], float]:
    """RGB frames of one episode (every ``every``-th step) and its return.

    policy: anything with ``sample(obs, generator)`` (and ``mode`` for greedy);
    None takes uniformly random actions from the environment's action space.
    """
    _offscreen()
    env = gym.make(env_id, render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        generator = torch.Generator().manual_seed(seed)
        frames, total = [env.render()], 0.0
        for t in range(max_steps):
            if policy is None:
                act = env.action_space.sample()
            else:
                obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))[None]
                act = (policy.mode(obs_t) if greedy else policy.sample(obs_t, generator))[0].numpy()
                if isinstance(env.action_space, gym.spaces.Discrete):
                    act = int(act)
            obs, rew, term, trunc, _ = env.step(act)
            total += float(rew)
            if (t + 1) % every == 0 or term or trunc:
                frames.append(env.render())
            if term or trunc:
                break
        return frames, total
    finally:
        env.close()


def gif_bytes(frames: list[np.ndarray], fps: int = 25, scale: float = 0.5) -> bytes:
    """Encode frames as an animated GIF (downscaled by ``scale`` to keep stored notebooks small)."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to encode")
    images = [Image.fromarray(f) for f in frames]
    if scale != 1.0:
        size = (max(1, int(images[0].width * scale)), max(1, int(images[0].height * scale)))
        images = [im.resize(size) for im in images]
    images = [im.convert("P", palette=Image.Palette.ADAPTIVE, colors=32) for im in images]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(1000 / fps), loop=0, optimize=True)
    return buffer.getvalue()


def animate(env_id: str, policy=None, seed: int = 0, max_steps: int = 500, every: int = 2, fps: int = 25,
            scale: float = 0.5, greedy: bool = False):
    """An IPython Image (GIF) of one episode; ``.metadata['return']`` holds the episode's return."""
    from IPython.display import Image

    frames, total = rollout_frames(env_id, policy, seed, max_steps, every, greedy)
    image = Image(data=gif_bytes(frames, fps, scale), format="gif")
    image.metadata = {"return": total, "frames": len(frames)}
    return image
