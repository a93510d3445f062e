"""How many environments to train with, from measurement: :func:`autotune_envs` times the
rollout (env steps and policy inference) for a few env counts on this machine and takes the
fastest whose rollout buffer fits in memory. An explicit env count never comes here.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ..env import EnvConfig, make_vec_env
from ..sim import LevelSource

AUTOTUNE_CANDIDATES = (16, 32, 64, 128, 256)
AUTOTUNE_SECONDS = 0.5
MEMORY_SHARE = 0.25     # of the available memory, for one rollout buffer


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def apply_torch_threads(torch_threads: int) -> int:
    """Set torch's intra-op thread count to ``torch_threads`` (0: every available core), as
    ``TrainConfig.torch_threads`` asks for PPO and BC alike; returns the count set."""
    import torch

    threads = torch_threads or available_cores()
    torch.set_num_threads(threads)
    return threads


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
    available = available_memory_bytes()
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


def available_memory_bytes() -> int:
    """MemAvailable of /proc/meminfo in bytes (0 where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
