"""The one way training, evaluation and behaviour cloning build their environments.

:func:`make_vec_env` applies the same wrappers in the same order everywhere (frame stacking,
then SB3's channels-first image transpose), so a policy always sees observations built by the
same code path. :func:`autotune_envs` picks the number of environments from measurement.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv, VecTransposeImage

from ..env import EnvConfig, FrameStackVecEnv, NinjaVecEnv
from ..env.config import IMAGE_KEYS
from ..env.engine import LevelSampler, LevelSource

AUTOTUNE_CANDIDATES = (16, 32, 64, 128, 256)
AUTOTUNE_SECONDS = 0.5
MEMORY_SHARE = 0.25     # of the available memory, for one rollout buffer


def make_vec_env(levels: Sequence[LevelSource], num_envs: int, env_config: EnvConfig,
                 frame_stack: int = 1, level_sampler: LevelSampler | None = None,
                 seed: int | None = None) -> VecEnv:
    """A NinjaVecEnv with the :func:`standard_wrappers`."""
    return standard_wrappers(NinjaVecEnv(levels, num_envs=num_envs, config=env_config,
                                         level_sampler=level_sampler, seed=seed), frame_stack)


def standard_wrappers(venv: VecEnv, frame_stack: int) -> VecEnv:
    """The wrappers every policy's observations go through, in this order: frame stacking of
    every observation key (when ``frame_stack > 1``, zero padding), then images transposed to
    channels-first."""
    if frame_stack > 1:
        venv = FrameStackVecEnv(venv, list(venv.observation_space.spaces), frame_stack)
    if any(is_image_space(venv.observation_space[k], check_channels=False)
           for k in IMAGE_KEYS if k in venv.observation_space.spaces):
        venv = VecTransposeImage(venv)
    return venv


def ninja_env(venv: VecEnv) -> NinjaVecEnv:
    """The NinjaVecEnv inside the standard wrappers."""
    while not isinstance(venv, NinjaVecEnv):
        venv = venv.venv
    return venv


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def autotune_envs(levels: Sequence[LevelSource], env_config: EnvConfig, policy,
                  n_steps: int, frame_stack: int = 1,
                  candidates: Sequence[int] = AUTOTUNE_CANDIDATES,
                  seconds: float = AUTOTUNE_SECONDS) -> tuple[int, dict[int, float]]:
    """Measure rollout throughput (env steps + policy inference, after a warm-up) for each
    candidate env count and return the fastest with all measurements (steps/s).
    ``policy(obs) -> actions``.

    A candidate is skipped, not guessed at, when its PPO rollout buffer (``n_steps`` x envs
    observations, stored as float32, measured from a real observation) would exceed a quarter
    of the memory available now.
    """
    measurements: dict[int, float] = {}
    available = _available_memory_bytes()
    for n in candidates:
        venv = make_vec_env(levels, n, env_config, frame_stack, seed=0)
        obs = venv.reset()
        floats_per_step = sum(v.size for v in obs.values())
        if available and floats_per_step * 4 * n_steps > MEMORY_SHARE * available:
            continue
        for _ in range(3):                      # warm-up: first calls compile and allocate
            obs, *_ = venv.step(policy(obs))
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            obs, *_ = venv.step(policy(obs))
            steps += n
        measurements[n] = steps / (time.perf_counter() - start)
    if not measurements:
        raise ValueError("envs auto: not even the smallest env count fits in memory")
    best = max(measurements, key=measurements.get)
    return best, measurements


def _available_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def random_policy(action_space, seed: int = 0):
    rng = np.random.default_rng(seed)

    def act(obs):
        n = len(next(iter(obs.values())))
        return rng.integers(action_space.n, size=n)
    return act
