"""Evaluate a policy on exactly the given levels (each played from its start, deterministic
actions), through the same environment code path as training."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..env import EnvConfig, make_vec_env
from ..sim import Level

MAX_PARALLEL = 64


@dataclass
class EvalResult:
    episodes: int
    success_rate: float
    per_category: dict[str, float]
    per_level: dict[str, bool]

    def to_json(self, timesteps: int) -> dict:
        """The ``eval.json`` document."""
        return {"timesteps": int(timesteps), "episodes": self.episodes,
                "success_rate": self.success_rate, "per_category": self.per_category}


def evaluate(model, levels: Sequence[Level], categories: Sequence[str], env_config: EnvConfig,
             frame_stack: int = 1, deterministic: bool = True) -> EvalResult:
    """Play one episode on every level (level i in env i of a batch) and report success."""
    if not levels:
        raise ValueError("evaluate: no levels to evaluate on")
    per_level: dict[str, bool] = {}
    by_category: dict[str, list[bool]] = defaultdict(list)
    for start in range(0, len(levels), MAX_PARALLEL):
        batch = list(levels[start:start + MAX_PARALLEL])
        venv = make_vec_env(batch, len(batch), env_config, frame_stack,
                            level_sampler=lambda n, rng: n, seed=0)
        obs = venv.reset()
        outcome: list[bool | None] = [None] * len(batch)
        for _ in range(env_config.max_steps + 1):
            actions, _ = model.predict(obs, deterministic=deterministic)
            obs, _, dones, infos = venv.step(actions)
            for n in np.flatnonzero(dones):
                if outcome[n] is None:
                    outcome[n] = bool(infos[n]["is_success"])
            if all(o is not None for o in outcome):
                break
        venv.close()
        for k, ok in enumerate(outcome):
            per_level[batch[k].name] = bool(ok)
            by_category[categories[start + k]].append(bool(ok))
    results = list(per_level.values())
    return EvalResult(
        episodes=len(results), success_rate=float(np.mean(results)),
        per_category={c: float(np.mean(v)) for c, v in sorted(by_category.items())},
        per_level=per_level)
