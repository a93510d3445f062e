"""An evaluation run: an agent on named level sets, written as ``eval.json``, ``eval.md`` and
videos. Used by ``ninjarl eval``, by training's held-out evaluation and by ``ninjarl compare``.

Output directory::

    OUT/eval.json                       EvalResult.to_json(timesteps) + the settings
    OUT/eval.md                         the per-category table
    OUT/videos/<category>/<won|failed>-<level id>.mp4   K successes and K failures per category
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..atomic import safe_name, write_json, write_text
from ..env import EnvConfig
from ..sim import build_level
from .evaluate import EpisodeResult, EvalResult, evaluate
from .levels import EvalLevel, resolve_specs

DEFAULT_FPS = 60


def level_set_name(specs: Sequence[str]) -> str:
    """A file-name-safe name for a list of level specs (``official``, ``simplest+simpler``,
    a path's last component)."""
    parts = [Path(s.rstrip("/").split(":")[0]).name or s for s in specs]
    return safe_name("+".join(parts))[:80] or "levels"


def evaluate_levels(model, levels: Sequence[EvalLevel], env_config: EnvConfig,
                    frame_stack: int = 1, deterministic: bool = True,
                    episodes_per_level: int = 1, seed: int = 0) -> EvalResult:
    """:func:`~ninjarl.eval.evaluate` on resolved :class:`EvalLevel` s."""
    built = [build_level(level.map_bytes, level.level_id) for level in levels]
    return evaluate(model, built, [level.category for level in levels], env_config,
                    frame_stack, deterministic, episodes_per_level, seed)


def write_evaluation(out_dir: str | Path, result: EvalResult, timesteps: int,
                     settings: dict | None = None) -> dict:
    """Write ``eval.json`` (with ``settings``) and ``eval.md`` into ``out_dir``; returns the
    JSON document."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    document = result.to_json(timesteps) | ({"settings": settings} if settings else {})
    write_json(out_dir / "eval.json", document)
    heading = f"# Evaluation: {settings.get('levels', '')}\n\n" if settings else ""
    write_text(out_dir / "eval.md", heading + result.table() + "\n")
    return document


def pick_videos(result: EvalResult, per_category: int) -> list[EpisodeResult]:
    """The first ``per_category`` won and the first ``per_category`` failed episodes of every
    category, in level order."""
    chosen = []
    for category in result.categories():
        episodes = [r for r in result.results if r.category == category]
        chosen += [r for r in episodes if r.won][:per_category]
        chosen += [r for r in episodes if not r.won][:per_category]
    return chosen


def write_videos(out_dir: str | Path, result: EvalResult, levels: Sequence[EvalLevel],
                 action_repeat: int, per_category: int, fps: int = DEFAULT_FPS) -> list[Path]:
    """Videos of :func:`pick_videos` episodes as ``out_dir/<category>/<won|failed>-<id>.mp4``,
    each replayed frame by frame from its recorded actions."""
    from .video import write_episode_video

    by_id = {(level.category, level.level_id): level for level in levels}
    paths = []
    for episode in pick_videos(result, per_category):
        name = safe_name(episode.level_id)
        path = (Path(out_dir) / episode.category
                / f"{'won' if episode.won else 'failed'}-{name}.mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        outcome = episode.outcome + (f": {episode.death_cause}" if episode.death_cause else "")
        write_episode_video(path, by_id[(episode.category, episode.level_id)].map_bytes,
                            episode.actions, action_repeat, fps=fps, outcome=outcome)
        paths.append(path)
    return paths


def run_evaluation(model, specs: Sequence[str], env_config: EnvConfig, out_dir: str | Path,
                   frame_stack: int = 1, deterministic: bool = True,
                   episodes_per_level: int = 1, videos: int = 0, fps: int = DEFAULT_FPS,
                   timesteps: int = 0, seed: int = 0,
                   log: Callable[[str], None] | None = print) -> EvalResult:
    """Resolve ``specs``, play them, write the outputs (see the module docstring)."""
    levels = resolve_specs(specs)
    result = evaluate_levels(model, levels, env_config, frame_stack, deterministic,
                             episodes_per_level, seed)
    settings = {"levels": list(specs), "deterministic": deterministic,
                "episodes_per_level": episodes_per_level, "seed": seed}
    write_evaluation(out_dir, result, timesteps, settings)
    if videos:
        written = write_videos(Path(out_dir) / "videos", result, levels,
                               env_config.action_repeat, videos, fps)
        if log:
            log(f"wrote {len(written)} videos under {Path(out_dir) / 'videos'}")
    if log:
        log(result.table())
    return result


def watch_agent(model, level: EvalLevel, env_config: EnvConfig, path: str | Path,
                frame_stack: int = 1, deterministic: bool = True, fps: int = DEFAULT_FPS,
                seed: int = 0) -> EpisodeResult:
    """Play one episode of ``model`` on ``level`` and write it as a video (``.mp4``/``.gif``)."""
    from .video import write_episode_video

    (episode,) = evaluate_levels(model, [level], env_config, frame_stack, deterministic,
                                 seed=seed).results
    outcome = episode.outcome + (f": {episode.death_cause}" if episode.death_cause else "")
    write_episode_video(path, level.map_bytes, episode.actions, env_config.action_repeat,
                        fps=fps, outcome=outcome)
    return episode
