"""ninjarl.env — Gymnasium environments over the batched simulator.

``NinjaEnv`` (one game), ``NinjaVecEnv`` (an SB3 ``VecEnv``) and ``NinjaGymVectorEnv``
(Gymnasium vector API) share one engine. Importing this package registers
``ninjarl/Ninja-v0`` (or name the module in the id: ``"ninjarl.env:ninjarl/Ninja-v0"``)::

    env = gymnasium.make("ninjarl/Ninja-v0", levels=[path], config=EnvConfig())
    venv = gymnasium.make_vec("ninjarl/Ninja-v0", num_envs=64,
                              vectorization_mode="vector_entry_point")
"""
import gymnasium as gym

from .config import EnvConfig, RewardConfig
from .engine import Engine
from .make import find_env, make_vec_env, standard_wrappers
from .ninja_env import NinjaEnv
from .replay_env import ReplayVecEnv
from .vec_env import NinjaGymVectorEnv, NinjaVecEnv
from .wrappers import FrameStack, FrameStackEnv, FrameStackVecEnv

ENV_ID = "ninjarl/Ninja-v0"
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="ninjarl.env.ninja_env:NinjaEnv",
                 vector_entry_point="ninjarl.env.vec_env:NinjaGymVectorEnv")

__all__ = ["ENV_ID", "Engine", "EnvConfig", "FrameStack", "FrameStackEnv", "FrameStackVecEnv",
           "NinjaEnv", "NinjaGymVectorEnv", "NinjaVecEnv", "ReplayVecEnv", "RewardConfig",
           "find_env", "make_vec_env", "standard_wrappers"]
