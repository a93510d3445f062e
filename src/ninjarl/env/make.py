"""The one way training, evaluation and behaviour cloning build their environments.

:func:`make_vec_env` builds a :class:`~ninjarl.env.NinjaVecEnv` inside the
:func:`standard_wrappers` (frame stacking, then SB3's channels-first image transpose), so a
policy always sees observations built by the same code path; the replay env of behaviour
cloning goes through the same wrappers. :func:`find_env` reaches an env inside them.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv, VecTransposeImage

from ..sim import LevelSource
from .config import IMAGE_KEYS, EnvConfig
from .engine import LevelSampler
from .vec_env import NinjaVecEnv
from .wrappers import FrameStackVecEnv

EnvType = TypeVar("EnvType")


def make_vec_env(levels: Sequence[LevelSource], num_envs: int, env_config: EnvConfig,
                 frame_stack: int = 1, level_sampler: LevelSampler | None = None,
                 seed: int | None = None) -> VecEnv:
    """A :class:`NinjaVecEnv` of ``num_envs`` envs over ``levels`` with the
    :func:`standard_wrappers`."""
    return standard_wrappers(NinjaVecEnv(levels, num_envs=num_envs, config=env_config,
                                         level_sampler=level_sampler, seed=seed), frame_stack)


def standard_wrappers(venv: VecEnv, frame_stack: int) -> VecEnv:
    """The wrappers every policy's observations go through, in this order: frame stacking of
    every observation key (when ``frame_stack > 1``, zero padding), then images transposed to
    channels-first."""
    if frame_stack > 1:
        venv = FrameStackVecEnv(venv, list(venv.observation_space.spaces), frame_stack)
    if any(is_image_space(venv.observation_space[k], check_channels=False)
           for k in IMAGE_KEYS if k in venv.observation_space.spaces):
        venv = VecTransposeImage(venv)
    return venv


def find_env(venv: VecEnv, kind: type[EnvType]) -> EnvType | None:
    """The env of type ``kind`` among ``venv`` and the envs it wraps (None if there is none),
    e.g. ``find_env(venv, NinjaVecEnv).engine``."""
    while venv is not None:
        if isinstance(venv, kind):
            return venv
        venv = getattr(venv, "venv", None)
    return None
