"""SB3 callbacks of a training run: per-category metrics with a progress bar, and periodic
work (checkpoints, held-out evaluation) between updates."""
from __future__ import annotations

import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm

WINDOW = 100


class MetricsCallback(BaseCallback):
    """Counts every finished episode once, under the category of the level it played (and
    reports it to the curriculum, if any), logs
    ``rollout/success_rate/<category>``, ``rollout/episodes`` and ``time/update_seconds`` (the
    previous PPO update), and shows a progress bar (steps of the run's total, steps/s,
    episodes, recent success). The last rollout may overshoot the total by part of a rollout;
    the bar stops at 100% and the final log line gives the exact step count.

    An episode that started along a plan (``info["start_frame"] > 0``, ``planner_bc.
    plan_starts``) skipped part of its level: it is counted apart
    (``rollout/plan_start_episodes``, ``rollout/plan_start_success_rate``), neither in the
    success rates above nor by the curriculum. SB3's own ``rollout/success_rate`` and
    ``rollout/ep_rew_mean`` take every episode."""

    def __init__(self, categories: Sequence[str], total_timesteps: int, stream=None,
                 curriculum=None):
        super().__init__()
        self.curriculum = curriculum
        self.categories = list(categories)
        self.total = total_timesteps
        self.stream = stream
        self.results: dict[str, deque] = defaultdict(lambda: deque(maxlen=WINDOW))
        self.recent: deque = deque(maxlen=WINDOW)
        self.plan_start_results: deque = deque(maxlen=WINDOW)
        self.episodes = 0
        self.plan_start_episodes = 0
        self._rollout_end = None
        self.update_seconds: list[float] = []
        self._bar: tqdm | None = None

    def _on_training_start(self) -> None:
        self._bar = tqdm(total=self.total, initial=min(self.num_timesteps, self.total),
                         unit="step", unit_scale=True, file=self.stream or sys.stderr, dynamic_ncols=True,
                         mininterval=1.0)

    def _on_rollout_start(self) -> None:
        if self._rollout_end is not None:         # an update ran since the last rollout
            self.update_seconds.append(time.perf_counter() - self._rollout_end)
            self.logger.record("time/update_seconds", self.update_seconds[-1])

    def _on_step(self) -> bool:
        for n in np.flatnonzero(self.locals["dones"]):
            info = self.locals["infos"][n]
            success = bool(info["is_success"])
            if info.get("start_frame", 0) > 0:
                self.plan_start_results.append(success)
                self.plan_start_episodes += 1
                continue
            self.results[self.categories[info["level_index"]]].append(success)
            self.recent.append(success)
            self.episodes += 1
            if self.curriculum is not None:
                self.curriculum.record(info["level_index"], success)
        return True

    def _on_rollout_end(self) -> None:
        for category, results in self.results.items():
            self.logger.record(f"rollout/success_rate/{category}", float(np.mean(results)))
        self.logger.record("rollout/episodes", self.episodes)
        if self.plan_start_episodes:
            self.logger.record("rollout/plan_start_episodes", self.plan_start_episodes)
            self.logger.record("rollout/plan_start_success_rate",
                               float(np.mean(self.plan_start_results)))
        if self.curriculum is not None:
            for key, value in self.curriculum.stats().items():
                self.logger.record(key, value)
        success = float(np.mean(self.recent)) if self.recent else 0.0
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.episodes:,} episodes, success {success:.2f}",
                                      refresh=False)
            self._bar.update(min(self.num_timesteps, self.total) - self._bar.n)
        self._rollout_end = time.perf_counter()

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def state(self) -> dict:
        return {"episodes": self.episodes, "results": {k: list(v) for k, v in self.results.items()},
                "recent": list(self.recent), "plan_start_episodes": self.plan_start_episodes,
                "plan_start_results": list(self.plan_start_results)}

    def load_state(self, state: dict) -> None:
        self.episodes = state.get("episodes", 0)
        for k, v in state.get("results", {}).items():
            self.results[k].extend(v)
        self.recent.extend(state.get("recent", []))
        self.plan_start_episodes = state.get("plan_start_episodes", 0)
        self.plan_start_results.extend(state.get("plan_start_results", []))


class BetweenUpdates(BaseCallback):
    """Calls ``action()`` every ``every`` steps (0 = never), at the start of a rollout, i.e.
    between two updates: a checkpoint taken there resumes into exactly what the uninterrupted
    run does next, and an evaluation there sees the policy of a completed update."""

    def __init__(self, every: int, action: Callable[[], None]):
        super().__init__()
        self.every = every
        self.action = action
        self.last = 0

    def _on_training_start(self) -> None:
        self.last = self.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.every > 0 and self.num_timesteps - self.last >= self.every:
            self.action()
            self.last = self.num_timesteps

    def _on_step(self) -> bool:
        return True
