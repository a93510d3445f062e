"""Video cost: how fast episode videos are drawn and written, as training's evaluations write them.

One episode of a level is played from a seeded sticky-random action tape (each of the six
actions held for 1-30 frames, as ``bench env``'s), up to ``frames`` frames or the frame that
ends it. Two things are timed, each ``repeats`` times after one warm-up (compilation, the
encoder's start), and the medians are reported:

* ``draw_fps``: video frames per second produced by :func:`ninjarl.eval.video.episode_frames`
  (simulation, colour picture, info bar), nothing written;
* ``write_fps``: video frames per second of :func:`ninjarl.eval.video.write_episode_video`
  to an MP4 in a temporary directory: drawing and encoding together, what one video of a
  training run's evaluation costs. The encoder (ffmpeg) runs in its own process, in parallel
  with the drawing, so ``write_fps`` is limited by the slower of the two.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ninjarl.eval.video import episode_frames, step_actions_to_frames, write_episode_video
from ninjarl.sim.source import load_map_bytes

from .env_bench import sticky_random_actions

DEFAULT_MAPS = ("official/000_the_basics", "bench/mine_heavy")
DEFAULT_FRAMES = 1200          # 20 s of game at 60 fps
REPEATS = 3


@dataclass(frozen=True)
class VideoBenchResult:
    map: str
    frames: int              # video frames of the episode (its start frame included)
    draw_fps: float
    write_fps: float
    mp4_bytes: int


def run_video_bench(map_specs: Sequence[str] = DEFAULT_MAPS, frames: int = DEFAULT_FRAMES,
                    repeats: int = REPEATS, seed: int = 0) -> Iterator[VideoBenchResult]:
    """Measure every map, yielding each result as soon as it is known."""
    if frames < 1 or repeats < 1:
        raise ValueError(f"frames and repeats must be >= 1, got {frames} and {repeats}")
    maps = [(spec, load_map_bytes(spec)) for spec in map_specs]  # a bad name fails first
    actions = sticky_random_actions(1, frames, seed)[:, 0]
    frame_actions = step_actions_to_frames(actions, 1)
    with tempfile.TemporaryDirectory(prefix="ninjarl-video-bench-") as tmp:
        path = Path(tmp) / "episode.mp4"
        for spec, map_bytes in maps:
            count, draw_s = _median_seconds(
                lambda level=map_bytes: sum(1 for _ in episode_frames(level, frame_actions)),
                repeats)
            _, write_s = _median_seconds(
                lambda level=map_bytes: write_episode_video(path, level, actions, 1), repeats)
            yield VideoBenchResult(spec, count, count / draw_s, count / write_s,
                                   path.stat().st_size)


def _median_seconds(work, repeats: int) -> tuple[int, float]:
    """What ``work()`` returns and the median of ``repeats`` timed calls after a warm-up."""
    result = work()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return result, statistics.median(seconds)
