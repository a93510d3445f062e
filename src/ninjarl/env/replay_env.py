"""The replay-driven environment of behaviour cloning: recorded runs played step by step
through the training env's own engine.

A recording holds one input per frame, while an env step holds one action for
``action_repeat`` frames. :class:`ReplayVecEnv` is a :class:`NinjaVecEnv` with one env per
recorded level whose ``step`` takes the per-frame actions of each env's block instead (1 to
``action_repeat`` of them; the last block of a recording may be shorter). The engine plays them
frame by frame through the same compiled step kernel as every other env
(:meth:`~ninjarl.env.Engine.step_frames`), so rewards, ``terminated``/``truncated``, infos,
observations and auto-reset are exactly those of :class:`NinjaVecEnv`: a block whose frames
all hold one action is, step for step, that action in the training env. Many recordings
play side by side in one compiled call; each env's steps are those it would take alone.

One setting differs on purpose: the env plays by :meth:`EnvConfig.game_rules` (no
``stuck_frames`` cut), because a human pausing to look is not a failure.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..sim import Level, LevelSource
from .config import EnvConfig
from .vec_env import NinjaVecEnv

#: marks the frames after a shorter block's last one in :meth:`ReplayVecEnv.step_async`
NO_FRAME = -1


class ReplayVecEnv(NinjaVecEnv):
    """Env k on ``levels[k]`` (one level: one env), each step playing recorded per-frame
    actions (0..5)."""

    def __init__(self, levels: LevelSource | Sequence[LevelSource], config: EnvConfig):
        if isinstance(levels, (Level, bytes, str)) or not isinstance(levels, Sequence):
            levels = [levels]
        super().__init__(list(levels), num_envs=len(levels), config=config.game_rules(),
                         level_sampler=lambda env_index, rng: env_index, seed=0)
        self._block = np.zeros((self.num_envs, 1), np.int64)
        self._frames = np.ones(self.num_envs, np.int64)

    def step_async(self, frame_actions: np.ndarray) -> None:
        """``frame_actions``: each env's actions for this step's frames, shape [N, F] with
        1 <= F <= ``action_repeat`` (one env: [F] as well); an env whose block is shorter pads
        it with :data:`NO_FRAME` after at least one frame."""
        block = np.asarray(frame_actions, np.int64).reshape(self.num_envs, -1)
        if not 1 <= block.shape[1] <= self.config.action_repeat:
            raise ValueError(f"ReplayVecEnv: a step plays 1 to {self.config.action_repeat} "
                             f"frames, got {block.shape[1]}")
        played = block != NO_FRAME
        frames = played.sum(axis=1)
        if not (played[:, 0].all() and (played == (np.arange(block.shape[1]) < frames[:, None])).all()):
            raise ValueError("ReplayVecEnv: every env's block needs a first frame, and NO_FRAME "
                             "only after its last one")
        self._block = np.where(played, block, 0)
        self._frames = frames

    def _advance(self) -> None:
        self.engine.step_frames(self._block, self._frames)
