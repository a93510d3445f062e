"""The replay-driven environment of behaviour cloning: a recorded run played step by step
through the training env's own engine.

A recording holds one input per frame, while an env step holds one action for
``action_repeat`` frames. :class:`ReplayVecEnv` is a one-env :class:`NinjaVecEnv` whose
``step`` takes the per-frame actions of one step's block instead (1 to ``action_repeat`` of
them; the last block of a recording may be shorter). The engine plays them frame by frame
through the same compiled step kernel as every other env
(:meth:`~ninjarl.env.Engine.step_frames`), so rewards, ``terminated``/``truncated``, infos,
observations and auto-reset are exactly those of :class:`NinjaVecEnv`: a block whose frames
all hold one action is, step for step, that action in the training env.

One setting differs on purpose: the env plays by :meth:`EnvConfig.game_rules` (no
``stuck_frames`` cut), because a human pausing to look is not a failure.
"""
from __future__ import annotations

import numpy as np

from ..sim import LevelSource
from .config import EnvConfig
from .vec_env import NinjaVecEnv


class ReplayVecEnv(NinjaVecEnv):
    """One environment on ``level`` whose steps play recorded per-frame actions (0..5)."""

    def __init__(self, level: LevelSource, config: EnvConfig):
        super().__init__([level], num_envs=1, config=config.game_rules(),
                         level_sampler=lambda env_index, rng: 0, seed=0)
        self._block = np.zeros((1, 1), np.int64)

    def step_async(self, frame_actions: np.ndarray) -> None:
        """``frame_actions``: the actions of this step's frames, 1 to ``action_repeat`` of
        them (shape [F] or [1, F])."""
        block = np.asarray(frame_actions, np.int64).reshape(1, -1)
        if not 1 <= block.shape[1] <= self.config.action_repeat:
            raise ValueError(f"ReplayVecEnv: a step plays 1 to {self.config.action_repeat} "
                             f"frames, got {block.shape[1]}")
        self._block = block

    def _advance(self) -> None:
        self.engine.step_frames(self._block)
