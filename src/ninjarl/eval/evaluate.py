"""Evaluate a policy on exactly the given levels, each played from its start, through the same
environment code path as training (:func:`ninjarl.env.make_vec_env`).

Every level gets ``episodes_per_level`` episodes (level i of a batch in env i, one batch after
another); each episode records its outcome (``won``, ``dead`` or ``timeout``), frames, death
cause and the actions played, enough to replay it frame for frame in a video. Per category the
result gives the success rate with its 95% Wilson score interval, the median frames of a win,
deaths by cause and time-outs. Actions are the argmax of the policy (``deterministic=True``,
what training reports) or sampled from it under a fixed torch seed.
"""
from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..env import EnvConfig, make_vec_env
from ..sim import Level

MAX_PARALLEL = 64
WON, DEAD, TIMEOUT = "won", "dead", "timeout"


@dataclass
class EpisodeResult:
    """One episode on one level."""
    level_id: str
    category: str
    outcome: str                    # WON, DEAD or TIMEOUT
    frames: int
    death_cause: str = ""
    actions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    @property
    def won(self) -> bool:
        return self.outcome == WON


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success proportion (``(0, 1)`` when ``n == 0``)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EvalResult:
    """All episodes of an evaluation, in level order (all episodes of level 0 first)."""
    results: list[EpisodeResult]

    @property
    def episodes(self) -> int:
        return len(self.results)

    @property
    def success_rate(self) -> float:
        return float(np.mean([r.won for r in self.results]))

    @property
    def per_category(self) -> dict[str, float]:
        """Success rate per category (sorted by name)."""
        return {c: s["success_rate"] for c, s in self.categories().items()}

    def categories(self) -> dict[str, dict]:
        """Per category (sorted by name): levels, episodes, success rate and its Wilson
        interval, median frames of a win (None without a win), deaths by cause, time-outs."""
        out = {}
        for category in sorted({r.category for r in self.results}):
            rs = [r for r in self.results if r.category == category]
            wins = [r.frames for r in rs if r.won]
            low, high = wilson_interval(len(wins), len(rs))
            out[category] = {
                "levels": len({r.level_id for r in rs}), "episodes": len(rs),
                "success_rate": len(wins) / len(rs), "wilson_low": low, "wilson_high": high,
                "median_win_frames": float(np.median(wins)) if wins else None,
                "deaths": dict(sorted(Counter(r.death_cause or "unknown" for r in rs
                                              if r.outcome == DEAD).items())),
                "timeouts": sum(r.outcome == TIMEOUT for r in rs)}
        return out

    def per_level(self) -> list[dict]:
        """One row per level: its first episode's outcome, frames and death cause, and the
        number of successes over its episodes."""
        rows: dict[tuple[str, str], dict] = {}
        for r in self.results:
            row = rows.setdefault((r.category, r.level_id), {
                "id": r.level_id, "category": r.category, "outcome": r.outcome,
                "frames": r.frames, "death_cause": r.death_cause, "successes": 0,
                "episodes": 0})
            row["successes"] += int(r.won)
            row["episodes"] += 1
        return list(rows.values())

    def to_json(self, timesteps: int) -> dict:
        """The ``eval.json`` document."""
        return {"timesteps": int(timesteps), "episodes": self.episodes,
                "success_rate": self.success_rate, "per_category": self.per_category,
                "categories": self.categories(), "per_level": self.per_level()}

    def table(self) -> str:
        """The per-category results as a Markdown table."""
        lines = ["| category | levels | episodes | success | 95% interval | median frames to win "
                 "| deaths | time-outs |", "|---|---:|---:|---:|---|---:|---|---:|"]
        for category, s in self.categories().items():
            deaths = ", ".join(f"{cause} {n}" for cause, n in s["deaths"].items()) or "-"
            median = "-" if s["median_win_frames"] is None else f"{s['median_win_frames']:.0f}"
            lines.append(f"| {category} | {s['levels']} | {s['episodes']} | "
                         f"{s['success_rate']:.1%} | {s['wilson_low']:.1%}-{s['wilson_high']:.1%}"
                         f" | {median} | {deaths} | {s['timeouts']} |")
        lines.append(f"| **all** | {len({(r.category, r.level_id) for r in self.results})} | "
                     f"{self.episodes} | {self.success_rate:.1%} | | | | |")
        return "\n".join(lines)


def check_observations(model, venv) -> None:
    """Refuse to evaluate ``model`` on an env whose observations differ from the ones it was
    built for (keys, shapes or dtypes), naming both."""
    mine, theirs = venv.observation_space.spaces, model.observation_space.spaces
    differ = sorted(k for k in set(mine) | set(theirs)
                    if k not in mine or k not in theirs or mine[k].shape != theirs[k].shape
                    or mine[k].dtype != theirs[k].dtype)
    if differ:
        show = lambda spaces: {k: tuple(spaces[k].shape) for k in sorted(spaces)}  # noqa: E731
        raise ValueError(f"the agent reads observations {show(theirs)} but these levels and "
                         f"settings give {show(mine)} (differ: {', '.join(differ)})")


def evaluate(model, levels: Sequence[Level], categories: Sequence[str], env_config: EnvConfig,
             frame_stack: int = 1, deterministic: bool = True, episodes_per_level: int = 1,
             seed: int = 0) -> EvalResult:
    """Play ``episodes_per_level`` episodes on every level and report them (level names are
    the ids). ``model`` is anything with SB3's ``predict(obs, deterministic)`` and an
    ``observation_space``; a ``predict`` that also takes SB3's ``state`` and ``episode_start``
    gets them (the state carries a hierarchical agent's subtasks; flat SB3 policies return
    None). Sampled actions use a torch generator seeded with ``seed``, leaving the global torch
    RNG as it was. Episodes play by ``env_config.game_rules()``: a training run's stuck cut
    does not end them."""
    if not levels:
        raise ValueError("evaluate: no levels to evaluate on")
    if len(categories) != len(levels):
        raise ValueError(f"evaluate: {len(levels)} levels but {len(categories)} categories")
    if episodes_per_level < 1:
        raise ValueError(f"evaluate: episodes_per_level must be >= 1, got {episodes_per_level}")
    env_config = env_config.game_rules()
    order = [i for i in range(len(levels)) for _ in range(episodes_per_level)]
    results: list[EpisodeResult] = []
    # torch.manual_seed reseeds every CUDA device as well: fork them all, so that an evaluation
    # during training leaves PPO's sampling generator, on the CPU or a GPU, as it was
    with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
        torch.manual_seed(seed)
        for start in range(0, len(order), MAX_PARALLEL):
            batch = order[start:start + MAX_PARALLEL]
            results += _play_batch(model, [levels[i] for i in batch],
                                   [categories[i] for i in batch], env_config, frame_stack,
                                   deterministic)
    return EvalResult(results)


def _play_batch(model, levels, categories, env_config, frame_stack, deterministic):
    """One episode per level, level k in env k; the episodes' results in that order."""
    venv = make_vec_env(levels, len(levels), env_config, frame_stack,
                        level_sampler=lambda n, rng: n, seed=0)
    check_observations(model, venv)
    obs = venv.reset()
    done: list[EpisodeResult | None] = [None] * len(levels)
    actions: list[list[int]] = [[] for _ in levels]
    stateful = "episode_start" in inspect.signature(model.predict).parameters
    state, starts = None, np.ones(len(levels), bool)
    for _ in range(env_config.max_steps + 1):
        if stateful:
            chosen, state = model.predict(obs, state=state, episode_start=starts,
                                          deterministic=deterministic)
        else:
            chosen, _ = model.predict(obs, deterministic=deterministic)
        for k, a in enumerate(chosen):
            if done[k] is None:
                actions[k].append(int(a))
        obs, _, starts, infos = venv.step(chosen)
        for k in np.flatnonzero(starts):
            if done[k] is None:
                info = infos[k]
                outcome = (WON if info["is_success"] else
                           TIMEOUT if info["TimeLimit.truncated"] else DEAD)
                done[k] = EpisodeResult(levels[k].name, categories[k], outcome,
                                        int(info["frames"]), info["death_cause"],
                                        np.array(actions[k], np.int64))
        if all(d is not None for d in done):
            break
    venv.close()
    return done
