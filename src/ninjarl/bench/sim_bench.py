"""Raw physics throughput: simulated frames per second of ``BatchSimulator``.

Each measurement steps ``N`` environments of one level through a fixed
sticky-random input tape of ``F`` frames with automatic resets on death or win
(resets happen inside the timed call and are included), single-threaded.  A short
warm-up run keeps compilation out of the timing; the reported figure is
``N * F / t`` for the median ``t`` of three runs.  Unless ``F`` is given, a pilot
run of 1000 frames picks ``F`` so that one run lasts about a second, whatever the
speed of the simulator and the map.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ninjarl.env.config import MAX_ENVS
from ninjarl.sim import load_map_bytes
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE

DEFAULT_MAPS = (
    "bench/empty",
    "test/simple-walk",
    "official/000_the_basics",
    "bench/simple_99_mines",
    "bench/mine_heavy",
)
DEFAULT_ENVS = (1, 64, 1024)
TARGET_SECONDS = 1.0  # per timed run: long enough to be stable, short enough to sweep
MIN_FRAMES = 1000
WARMUP_FRAMES = 16
REPEATS = 3
MAX_HOLD = 30  # frames an action is held at most in the sticky-random tape
HOLDS_PER_DRAW = 256
MAX_TAPE_BYTES = 1 << 28  # one byte per env and frame: a limit on what a typo can allocate
CHUNK_FRAMES = 1 << 20    # env-frames per compiled call (about 0.5 s): Ctrl-C and
                          # the interpreter get control back between calls


@dataclass(frozen=True)
class SimBenchResult:
    """One measurement: ``envs`` environments of ``map`` for ``frames`` frames each."""

    map: str
    envs: int
    frames: int
    seconds: float
    frames_per_s: float


def sticky_random_inputs(n_envs: int, n_frames: int, seed: int) -> np.ndarray:
    """Input tape of shape ``(n_envs, n_frames)``: random RL actions held 1–30 frames.

    Every environment draws from its own generator seeded with ``(seed, env)`` in
    fixed-size batches, so a row depends only on ``seed`` and its index: a shorter
    or narrower tape is a prefix of a longer or wider one.
    """
    action_bytes = np.array(ACTION_TO_INPUT_BYTE, dtype=np.uint8)
    tape = np.empty((n_envs, n_frames), dtype=np.uint8)
    for env in range(n_envs):
        rng = np.random.default_rng([seed, env])
        filled = 0
        while filled < n_frames:
            actions = rng.integers(0, len(action_bytes), HOLDS_PER_DRAW)
            holds = rng.integers(1, MAX_HOLD + 1, HOLDS_PER_DRAW)
            run = np.repeat(action_bytes[actions], holds)[: n_frames - filled]
            tape[env, filled : filled + len(run)] = run
            filled += len(run)
    return tape


def run_sim_bench(
    map_specs: Sequence[str] = DEFAULT_MAPS,
    env_counts: Sequence[int] = DEFAULT_ENVS,
    frames: int | None = None,
    seed: int = 0,
) -> Iterator[SimBenchResult]:
    """Measure every map × batch size, yielding each result as soon as it is known.

    ``frames`` is the tape length per environment; ``None`` calibrates it (at least
    1000) so that one timed run lasts about :data:`TARGET_SECONDS`.
    """
    for n in env_counts:
        if not 1 <= n <= MAX_ENVS:
            raise ValueError(f"--envs: must be in 1..{MAX_ENVS:,}, got {n:,}")
        if frames is not None and n * frames > MAX_TAPE_BYTES:
            raise ValueError(f"--envs {n:,} x --frames {frames:,}: an input tape of "
                             f"{n * frames / 2**20:,.0f} MiB, above {MAX_TAPE_BYTES // 2**20} MiB; "
                             "give fewer frames")
    # Read every map first so that a bad name fails before minutes of benchmarking.
    maps = [(spec, load_map_bytes(spec)) for spec in map_specs]
    from ninjarl.sim import BatchSimulator, build_level

    for spec, map_bytes in maps:
        level = build_level(map_bytes, name=spec)
        for n in env_counts:
            sim = BatchSimulator([level], np.zeros(n, dtype=np.int64))
            sim.run(sticky_random_inputs(n, WARMUP_FRAMES, seed), auto_reset=True)
            n_frames = frames if frames is not None else _calibrated_frames(sim, n, seed)
            tape = sticky_random_inputs(n, n_frames, seed)
            seconds = statistics.median([_timed_run(sim, tape) for _ in range(REPEATS)])
            yield SimBenchResult(spec, n, n_frames, seconds, n * n_frames / seconds)


def _timed_run(sim, tape: np.ndarray) -> float:
    step = max(1, CHUNK_FRAMES // tape.shape[0])
    chunks = [np.ascontiguousarray(tape[:, f:f + step]) for f in range(0, tape.shape[1], step)]
    sim.reset()
    start = time.perf_counter()
    for chunk in chunks:          # envs are independent: frames in column order are the same run
        sim.run(chunk, auto_reset=True)
    return time.perf_counter() - start


def _calibrated_frames(sim, n_envs: int, seed: int) -> int:
    pilot_seconds = _timed_run(sim, sticky_random_inputs(n_envs, MIN_FRAMES, seed))
    frames_per_s = n_envs * MIN_FRAMES / max(pilot_seconds, 1e-9)
    return max(MIN_FRAMES, int(TARGET_SECONDS * frames_per_s / n_envs))
