"""Checkpoints: a directory of plain files, written atomically, loaded without unpickling.

Layout of a checkpoint directory:

* ``config.json`` — the run's TrainConfig (everything needed to rebuild model and envs);
* ``policy.pt`` — the policy's state dict (extractor, heads and normalisation statistics);
* ``optimizer.pt`` — the optimizer's state dict;
* ``trainer.json`` and ``rng.pt`` — step and update counters, episode statistics, the
  numpy / torch / environment random-number-generator states;
* ``env_state.npz`` — every environment's full simulator and episode state, the last
  observation and the frame-stack history, so that ``--resume`` continues the very same
  episodes and reproduces the uninterrupted run.

Tensors are read with ``torch.load(weights_only=True)``; nothing is unpickled.

A checkpoint replaces the previous one crash-safely (:func:`ninjarl.atomic.replace_dir`): a
kill between its two renames leaves the previous checkpoint as ``.<name>.old``, which readers
use and ``--resume`` renames back; temporary folders of a killed save are removed by the next.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import deque
from pathlib import Path

import numpy as np
import torch

from ..atomic import current_dir, remove_stale_temps, replace_dir
from ..env import FrameStackVecEnv, NinjaVecEnv, find_env
from .config import TrainConfig

CHECKPOINT_FILES = ("config.json", "policy.pt", "optimizer.pt", "trainer.json", "rng.pt")


def save_checkpoint(path: str | Path, model, config: TrainConfig, extra: dict | None = None,
                    with_env_state: bool = True) -> Path:
    """Write a checkpoint of `model` (an SB3 PPO) to directory `path`, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        torch.save(model.policy.state_dict(), tmp / "policy.pt")
        torch.save(model.policy.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
        np_state = np.random.get_state()
        trainer = {
            "num_timesteps": int(model.num_timesteps),
            "n_updates": int(model._n_updates),
            "episode_num": int(model._episode_num),
            "ep_info_buffer": list(model.ep_info_buffer or []),
            "ep_success_buffer": [bool(s) for s in (model.ep_success_buffer or [])],
            "numpy_rng": [np_state[0], np_state[2], np_state[3], np_state[4]],
            "extra": extra or {},
        }
        arrays = {"numpy_rng_keys": np_state[1]}
        if with_env_state and model.env is not None:
            env_state = find_env(model.env, NinjaVecEnv).state_dict()
            trainer["env_rng"] = env_state["rng"]
            for name, array in env_state["sim"].items():
                arrays[f"sim_{name}"] = array
            arrays["engine_env_f"] = env_state["env_f"]
            arrays["engine_env_i"] = env_state["env_i"]
            for key, value in (model._last_obs or {}).items():
                arrays[f"last_obs_{key}"] = value
            arrays["last_episode_starts"] = model._last_episode_starts
            stack = find_env(model.env, FrameStackVecEnv)
            if stack is not None:
                for key, history in stack.state_dict().items():
                    arrays[f"stack_{key}"] = history
        (tmp / "trainer.json").write_text(json.dumps(trainer, default=_json_default))
        np.savez(tmp / "env_state.npz", **arrays)
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in trainer.json")


def read_checkpoint(path: str | Path) -> tuple[TrainConfig, dict]:
    """The config and trainer state of a checkpoint; clear errors for missing/corrupt files."""
    path = current_dir(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a checkpoint directory")
    missing = [f for f in CHECKPOINT_FILES if not (path / f).is_file()]
    if missing:
        raise ValueError(f"{path}: incomplete checkpoint, missing {missing}")
    config = TrainConfig.load(path / "config.json")
    try:
        trainer = json.loads((path / "trainer.json").read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path / 'trainer.json'}: corrupt: {e}") from None
    return config, trainer


def load_weights(path: Path, name: str) -> dict:
    try:
        return torch.load(path / name, map_location="cpu", weights_only=True)
    except Exception as e:   # torch raises several types for corrupt or foreign files
        raise ValueError(f"{path / name}: cannot load tensors: {e}") from None


def restore_training(path: str | Path, model) -> dict:
    """Load weights, optimizer, counters, RNG states and (if saved) the environments' state
    into `model` (built from the checkpoint's config). Returns the saved ``extra`` dict."""
    path = current_dir(path)
    _, trainer = read_checkpoint(path)
    model.policy.load_state_dict(load_weights(path, "policy.pt"), strict=True)
    model.policy.optimizer.load_state_dict(load_weights(path, "optimizer.pt"))
    model.num_timesteps = trainer["num_timesteps"]
    model._n_updates = trainer["n_updates"]
    model._episode_num = trainer["episode_num"]
    model.ep_info_buffer = deque(trainer["ep_info_buffer"], maxlen=model._stats_window_size)
    model.ep_success_buffer = deque(trainer["ep_success_buffer"],
                                    maxlen=model._stats_window_size)
    with np.load(path / "env_state.npz") as z:
        arrays = {k: z[k] for k in z.files}
    name, pos, has_gauss, cached = trainer["numpy_rng"]
    np.random.set_state((name, arrays["numpy_rng_keys"], pos, has_gauss, cached))
    torch.set_rng_state(load_weights(path, "rng.pt")["torch"])
    if "env_rng" in trainer and model.env is not None:
        find_env(model.env, NinjaVecEnv).load_state_dict({
            "sim": {k.removeprefix("sim_"): v for k, v in arrays.items() if k.startswith("sim_")},
            "env_f": arrays["engine_env_f"], "env_i": arrays["engine_env_i"],
            "rng": trainer["env_rng"]})
        model._last_obs = {k.removeprefix("last_obs_"): v for k, v in arrays.items()
                           if k.startswith("last_obs_")}
        model._last_episode_starts = arrays["last_episode_starts"]
        stack = find_env(model.env, FrameStackVecEnv)
        if stack is not None:
            stack.load_state_dict({k.removeprefix("stack_"): v for k, v in arrays.items()
                                   if k.startswith("stack_")})
    return trainer["extra"]
