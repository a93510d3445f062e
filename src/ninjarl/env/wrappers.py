"""Frame stacking: one implementation (:class:`FrameStack`) behind the single-env and the
vector-env wrappers, used alike by training, behaviour cloning and evaluation.

Images (H, W, C) stack along the channel axis to (H, W, C*k), oldest first; vectors (D,) stack
to (k, D), oldest first. At the start of an episode the history is padded with zeros or with
copies of the first observation.
"""
from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvWrapper

PADDINGS = ("zero", "repeat")


class FrameStack:
    """The last ``k`` observations of ``keys`` for ``num_envs`` environments."""

    def __init__(self, observation_space: spaces.Dict, keys: Sequence[str], k: int,
                 num_envs: int, padding: str = "zero"):
        if k < 1:
            raise ValueError(f"frame stack k must be >= 1, got {k}")
        if padding not in PADDINGS:
            raise ValueError(f"frame stack padding must be one of {PADDINGS}, got {padding!r}")
        missing = [key for key in keys if key not in observation_space.spaces]
        if missing:
            raise ValueError(f"cannot stack {missing}: not in the observation space "
                             f"{list(observation_space.spaces)}")
        self.keys, self.k, self.padding = tuple(keys), k, padding
        self.single_space = observation_space
        self.history = {key: np.zeros((num_envs, k, *observation_space[key].shape),
                                      observation_space[key].dtype) for key in self.keys}

    @property
    def observation_space(self) -> spaces.Dict:
        out = dict(self.single_space.spaces)
        for key in self.keys:
            box = out[key]
            out[key] = spaces.Box(low=self._stack(np.broadcast_to(box.low, (1, self.k, *box.shape)))[0],
                                  high=self._stack(np.broadcast_to(box.high, (1, self.k, *box.shape)))[0],
                                  dtype=box.dtype)
        return spaces.Dict(out)

    def _stack(self, history: np.ndarray) -> np.ndarray:
        """[N, k, ...] history -> [N, stacked shape]."""
        if history.ndim == 5:                          # images [N, k, H, W, C]
            n, k, h, w, c = history.shape
            return np.ascontiguousarray(history.transpose(0, 2, 3, 1, 4)).reshape(n, h, w, k * c)
        return history.copy()

    def reset(self, obs: dict[str, np.ndarray], ids: np.ndarray) -> None:
        """Start the history of envs `ids` from their first observation (rows of `obs`)."""
        for key in self.keys:
            hist = self.history[key]
            if self.padding == "zero":
                hist[ids] = 0
                hist[ids, -1] = obs[key][ids]
            else:
                hist[ids] = obs[key][ids][:, None]

    def push(self, obs: dict[str, np.ndarray], ids: np.ndarray | None = None) -> None:
        """Append the newest observation of envs `ids` (all by default)."""
        for key in self.keys:
            hist = self.history[key]
            if ids is None:
                hist[:, :-1] = hist[:, 1:]
                hist[:, -1] = obs[key]
            else:
                hist[ids, :-1] = hist[ids, 1:]
                hist[ids, -1] = obs[key][ids]

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the history of every stacked key ([N, k, ...] per key)."""
        return {key: history.copy() for key, history in self.history.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a :meth:`state_dict` saved with the same keys, k and env count; anything
        else is an error naming the key and both shapes."""
        if set(state) != set(self.history):
            raise ValueError(f"frame stack state: keys {sorted(state)}, this stack has "
                             f"{sorted(self.history)}")
        for key, history in self.history.items():
            value = np.asarray(state[key])
            if value.shape != history.shape:
                raise ValueError(f"frame stack state {key!r}: shape {value.shape}, this stack "
                                 f"has {history.shape} (envs, k, ...)")
            history[...] = value

    def observation(self, obs: dict[str, np.ndarray], ids: np.ndarray | None = None) -> dict:
        """`obs` with the stacked keys replaced by their histories (envs `ids`, all by default)."""
        out = {key: (value if ids is None else value[ids]).copy() for key, value in obs.items()}
        for key in self.keys:
            out[key] = self._stack(self.history[key] if ids is None else self.history[key][ids])
        return out


class FrameStackEnv(gym.ObservationWrapper):
    """Frame stacking for a single Gymnasium env (``NinjaEnv``)."""

    def __init__(self, env: gym.Env, keys: Sequence[str], k: int, padding: str = "zero"):
        super().__init__(env)
        self.stack = FrameStack(env.observation_space, keys, k, 1, padding)
        self.observation_space = self.stack.observation_space

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        batched = {key: value[None] for key, value in obs.items()}
        self.stack.reset(batched, np.array([0]))
        return self._unbatch(self.stack.observation(batched)), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        batched = {key: value[None] for key, value in obs.items()}
        self.stack.push(batched)
        return self._unbatch(self.stack.observation(batched)), reward, terminated, truncated, info

    def observation(self, observation):
        raise NotImplementedError("FrameStackEnv overrides reset and step")

    @staticmethod
    def _unbatch(obs):
        return {key: value[0] for key, value in obs.items()}


class FrameStackVecEnv(VecEnvWrapper):
    """Frame stacking for an SB3 ``VecEnv`` (``NinjaVecEnv``); terminal observations in
    ``info["terminal_observation"]`` are stacked too."""

    def __init__(self, venv: VecEnv, keys: Sequence[str], k: int, padding: str = "zero"):
        self.stack = FrameStack(venv.observation_space, keys, k, venv.num_envs, padding)
        super().__init__(venv, observation_space=self.stack.observation_space)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The frame histories (:meth:`FrameStack.state_dict`)."""
        return self.stack.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.stack.load_state_dict(state)

    def reset(self):
        obs = self.venv.reset()
        self.stack.reset(obs, np.arange(self.num_envs))
        return self.stack.observation(obs)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        done_ids = np.flatnonzero(dones)
        batch = obs
        if len(done_ids):
            # a finished env's newest frame is its terminal observation, not the reset one
            batch = {key: value.copy() for key, value in obs.items()}
            for n in done_ids:
                for key, value in infos[n]["terminal_observation"].items():
                    batch[key][n] = value
        self.stack.push(batch)
        if len(done_ids):
            stacked = self.stack.observation(batch, done_ids)
            for j, n in enumerate(done_ids):
                infos[n]["terminal_observation"] = {key: v[j] for key, v in stacked.items()}
            self.stack.reset(obs, done_ids)
        return self.stack.observation(obs), rewards, dones, infos
