"""Vector environments: N games stepped by one compiled call.

* :class:`NinjaVecEnv` is a Stable-Baselines3 ``VecEnv`` (pass it straight to ``PPO``); finished
  episodes reset automatically, the last observation is in ``info["terminal_observation"]``,
  timeouts carry ``info["TimeLimit.truncated"] = True`` and every finished episode reports
  ``info["episode"] = {"r", "l", "t"}`` and ``info["is_success"]``, so SB3 logs episode
  reward, length and success rate without a Monitor wrapper.
* :class:`NinjaGymVectorEnv` is the same engine behind Gymnasium's vector API
  (``gymnasium.make_vec("ninjarl/Ninja-v0", num_envs=N)``), with same-step autoreset.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from ..sim import LevelSource
from .config import EnvConfig
from .engine import Engine, LevelSampler
from .ninja_env import default_levels
from .spaces import action_space, env_slice, observation_space


class NinjaVecEnv(VecEnv):
    """``num_envs`` environments on ``levels`` (each episode's level chosen by
    ``level_sampler(env_index, rng) -> level index``, uniform by default)."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, levels: Sequence[LevelSource] | None = None, num_envs: int = 8,
                 config: EnvConfig | None = None, level_sampler: LevelSampler | None = None,
                 seed: int | None = None, render_mode: str | None = None):
        self.engine = Engine(levels or default_levels(), num_envs, config or EnvConfig(),
                             level_sampler, seed)
        self.render_mode = render_mode
        super().__init__(num_envs, observation_space(self.engine), action_space())
        self._actions = np.zeros(num_envs, np.int64)

    @property
    def config(self) -> EnvConfig:
        return self.engine.config

    def reset(self):
        if any(s is not None for s in self._seeds):
            self.engine.rng = np.random.default_rng(self._seeds[0])
        levels = [o.get("level") for o in self._options]
        if all(lv is not None for lv in levels):
            self.engine.reset(levels=np.array(levels))
        else:
            self.engine.reset()
        self._reset_seeds()
        self._reset_options()
        return {k: v.copy() for k, v in self.engine.observe().items()}

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, np.int64).reshape(self.num_envs)

    def step_wait(self):
        engine = self.engine
        self._advance()
        obs = engine.observe()
        dones = engine.terminated | engine.truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        done_ids = np.flatnonzero(dones)
        for n in done_ids:
            info = engine.info(n)
            info["terminal_observation"] = env_slice(obs, n)
            info["TimeLimit.truncated"] = bool(engine.truncated[n] and not engine.terminated[n])
            info["episode"] = engine.episode_summary(n)
            infos[n] = info
        if len(done_ids):
            engine.reset(done_ids)
            engine.observe(done_ids)
        return ({k: v.copy() for k, v in obs.items()}, engine.rewards.copy(), dones, infos)

    def _advance(self) -> None:
        """Run the engine for one step of the actions given to :meth:`step_async`."""
        self.engine.step(self._actions)

    def state_dict(self) -> dict:
        """The engine's :meth:`~ninjarl.env.Engine.state_dict` (what checkpoints save)."""
        return self.engine.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.engine.load_state_dict(state)

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list[Any]:
        return [getattr(self, method_name)(*args, **kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices):
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else indices

    def get_images(self) -> Sequence[np.ndarray]:
        from ninjarl.draw.picture import render_rgb
        sim = self.engine.sim
        return [render_rgb(sim.levels[int(sim.state.env_i[n, 0])], sim.bank, sim.state, n)
                for n in range(self.num_envs)]


class NinjaGymVectorEnv(gym.vector.VectorEnv):
    """The engine behind Gymnasium's vector API (same-step autoreset: a finished env's last
    observation and info are in ``infos["final_obs"]`` / ``infos["final_info"]``)."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 8, levels: Sequence[LevelSource] | None = None,
                 config: EnvConfig | None = None, level_sampler: LevelSampler | None = None,
                 seed: int | None = None, render_mode: str | None = None):
        self.engine = Engine(levels or default_levels(), num_envs, config or EnvConfig(),
                             level_sampler, seed)
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.single_observation_space = observation_space(self.engine)
        self.single_action_space = action_space()
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space,
                                                              num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.engine.rng = np.random.default_rng(seed)
        levels = (options or {}).get("levels")
        self.engine.reset(levels=None if levels is None else np.asarray(levels))
        obs = {k: v.copy() for k, v in self.engine.observe().items()}
        return obs, {}

    def step(self, actions):
        engine = self.engine
        engine.step(actions)
        obs = engine.observe()
        dones = engine.terminated | engine.truncated
        done_ids = np.flatnonzero(dones)
        infos: dict[str, Any] = {}
        if len(done_ids):
            final_obs = np.empty(self.num_envs, object)
            final_info = np.empty(self.num_envs, object)
            for n in done_ids:
                final_obs[n] = env_slice(obs, n)
                final_info[n] = engine.info(n) | {"episode": engine.episode_summary(n)}
            infos = {"final_obs": final_obs, "_final_obs": dones.copy(),
                     "final_info": final_info, "_final_info": dones.copy()}
            engine.reset(done_ids)
            engine.observe(done_ids)
        return ({k: v.copy() for k, v in obs.items()}, engine.rewards.astype(np.float64),
                engine.terminated.copy(), engine.truncated.copy(), infos)
