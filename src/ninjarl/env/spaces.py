"""Gymnasium spaces of the ninjarl environments."""
from __future__ import annotations

import numpy as np
from gymnasium import spaces

from .engine import Engine

ACTION_MEANINGS = ("NOOP", "LEFT", "RIGHT", "JUMP", "JUMP+LEFT", "JUMP+RIGHT")


def observation_space(engine: Engine) -> spaces.Dict:
    """A Dict of Boxes, one per computed observation key, for a single environment."""
    return spaces.Dict({
        key: spaces.Box(low=low, high=high, shape=shape, dtype=dtype)
        for key, (shape, dtype, low, high) in engine.observation_shapes().items()})


def action_space() -> spaces.Discrete:
    """Discrete(6): 0 noop, 1 left, 2 right, 3 jump, 4 jump+left, 5 jump+right."""
    return spaces.Discrete(len(ACTION_MEANINGS))


def env_slice(obs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """A copy of env n's observation from a batched observation dict."""
    return {key: value[n].copy() for key, value in obs.items()}
