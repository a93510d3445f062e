"""Environment throughput: steps per second of :class:`~ninjarl.env.NinjaVecEnv`.

Each measurement steps ``N`` environments of one level through a sticky-random action tape
(one of the 6 actions held 1–30 steps per environment) with the SB3 ``VecEnv`` API, so the
figure includes observation building, rewards, info dicts and automatic resets. Single thread;
the median of three timed runs after a warm-up (which also compiles).
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ninjarl.sim import load_map_bytes

OBS_SETS = {
    "state": ("game_state", "reachability"),
    "vision": ("player_frame", "global_view", "game_state", "reachability"),
    "all": ("player_frame", "global_view", "game_state", "reachability", "graph"),
}
DEFAULT_OBS = ("state", "vision")
DEFAULT_MAPS = ("test/simple-walk", "bench/mine_heavy")
DEFAULT_ENVS = (256,)
DEFAULT_ACTION_REPEATS = (1, 4)
TARGET_SECONDS = 1.0
MIN_STEPS = 50
REPEATS = 3


@dataclass(frozen=True)
class EnvBenchResult:
    obs: str
    map: str
    envs: int
    action_repeat: int
    steps: int
    seconds: float
    steps_per_s: float


def sticky_random_actions(n_envs: int, n_steps: int, seed: int) -> np.ndarray:
    """Action tape (n_steps, n_envs): each env holds a random action for 1–30 steps."""
    rng = np.random.default_rng(seed)
    tape = np.empty((n_steps, n_envs), np.int64)
    for env in range(n_envs):
        filled = 0
        while filled < n_steps:
            hold = int(rng.integers(1, 31))
            tape[filled:filled + hold, env] = rng.integers(6)
            filled += hold
    return tape


def run_env_bench(obs_sets: Sequence[str] = DEFAULT_OBS, map_specs: Sequence[str] = DEFAULT_MAPS,
                  env_counts: Sequence[int] = DEFAULT_ENVS,
                  action_repeats: Sequence[int] = DEFAULT_ACTION_REPEATS,
                  steps: int | None = None, seed: int = 0) -> Iterator[EnvBenchResult]:
    """Measure every observation set x map x batch size x action repeat."""
    maps = [(spec, load_map_bytes(spec)) for spec in map_specs]
    from ninjarl.env import EnvConfig, NinjaVecEnv
    from ninjarl.sim import build_level

    for obs_name in obs_sets:
        for spec, map_bytes in maps:
            level = build_level(map_bytes, name=spec)
            for n in env_counts:
                for repeat in action_repeats:
                    config = EnvConfig(observations=OBS_SETS[obs_name], action_repeat=repeat)
                    venv = NinjaVecEnv([level], num_envs=n, config=config, seed=seed)
                    venv.reset()
                    _timed(venv, sticky_random_actions(n, 5, seed))
                    n_steps = steps or _calibrated_steps(venv, n, seed)
                    tape = sticky_random_actions(n, n_steps, seed)
                    seconds = statistics.median(_timed(venv, tape) for _ in range(REPEATS))
                    yield EnvBenchResult(obs_name, spec, n, repeat, n_steps, seconds,
                                         n * n_steps / seconds)


def _timed(venv, tape: np.ndarray) -> float:
    venv.reset()
    start = time.perf_counter()
    for actions in tape:
        venv.step(actions)
    return time.perf_counter() - start


def _calibrated_steps(venv, n_envs: int, seed: int) -> int:
    pilot = _timed(venv, sticky_random_actions(n_envs, MIN_STEPS, seed))
    return max(MIN_STEPS, int(TARGET_SECONDS * MIN_STEPS / max(pilot, 1e-9)))
