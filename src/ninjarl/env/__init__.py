"""ninjarl.env — Gymnasium environments over the batched simulator.

``NinjaEnv`` (one game), ``NinjaVecEnv`` (an SB3 ``VecEnv``) and ``NinjaGymVectorEnv``
(Gymnasium vector API) share one engine. Importing this package registers the Gymnasium ids of
:mod:`ninjarl.env.registry` (or name the module in the id: ``"ninjarl.env:ninjarl/Ninja-v0"``):
``ninjarl/Ninja-v0`` (the training split of the built-in level set, all categories),
``ninjarl/Ninja-<category>-v0`` (one category) and ``ninjarl/Ninja-real-v0`` (the official
N++ levels, for reporting)::

    env = gymnasium.make("ninjarl/Ninja-v0")                          # training split
    test_env = gymnasium.make("ninjarl/Ninja-v0", split="test")       # unseen levels
    venv = gymnasium.make_vec("ninjarl/Ninja-v0", num_envs=64,
                              vectorization_mode="vector_entry_point", observations="vision")
    env = gymnasium.make("ninjarl/Ninja-v0", levels=[path], config=EnvConfig())
"""
from .config import EnvConfig, RewardConfig
from .engine import Engine
from .make import find_env, make_vec_env, standard_wrappers
from .ninja_env import NinjaEnv
from .registry import (
    CATEGORY_IDS,
    ENV_ID,
    ENV_IDS,
    MAX_EPISODE_STEPS,
    OBSERVATION_PRESETS,
    REAL_ENV_ID,
    level_set,
    register_envs,
)
from .replay_env import ReplayVecEnv
from .vec_env import NinjaGymVectorEnv, NinjaVecEnv
from .wrappers import FrameStack, FrameStackEnv, FrameStackVecEnv

register_envs()

__all__ = ["CATEGORY_IDS", "ENV_ID", "ENV_IDS", "Engine", "EnvConfig", "FrameStack",
           "FrameStackEnv", "FrameStackVecEnv", "MAX_EPISODE_STEPS", "NinjaEnv",
           "NinjaGymVectorEnv", "NinjaVecEnv", "OBSERVATION_PRESETS", "REAL_ENV_ID",
           "ReplayVecEnv", "RewardConfig", "find_env", "level_set", "make_vec_env",
           "register_envs", "standard_wrappers"]
