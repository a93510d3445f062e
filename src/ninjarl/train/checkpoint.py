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

Tensors are read with ``torch.load(weights_only=True)``; nothing is unpickled. Every file is
checked before it is used: a truncated, foreign or edited file is a one-line ValueError naming
the file and the field, never a traceback or a silently different run.

A checkpoint replaces the previous one crash-safely (:func:`ninjarl.atomic.replace_dir`): a
kill between its two renames leaves the previous checkpoint as ``.<name>.old``, which readers
use and ``--resume`` renames back; temporary folders of a killed save are removed by the next.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from collections import deque
from pathlib import Path

import numpy as np
import torch

from ..atomic import current_dir, remove_stale_temps, replace_dir, temp_dir
from ..env import FrameStackVecEnv, NinjaVecEnv, find_env
from .config import TrainConfig

CHECKPOINT_FILES = ("config.json", "policy.pt", "optimizer.pt", "trainer.json", "rng.pt")


def save_checkpoint(path: str | Path, model, config: TrainConfig, extra: dict | None = None,
                    with_env_state: bool = True, documents: dict[str, object] | None = None
                    ) -> Path:
    """Write a checkpoint of `model` (an SB3 PPO) to directory `path`, atomically, with the
    JSON ``documents`` (file name -> content) in it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = temp_dir(path.parent, prefix=f".{path.name}.")
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
            arrays["engine_visited"] = env_state["visited"]
            for key, value in (model._last_obs or {}).items():
                arrays[f"last_obs_{key}"] = value
            arrays["last_episode_starts"] = model._last_episode_starts
            stack = find_env(model.env, FrameStackVecEnv)
            if stack is not None:
                for key, history in stack.state_dict().items():
                    arrays[f"stack_{key}"] = history
        (tmp / "trainer.json").write_text(json.dumps(trainer, default=_json_default))
        np.savez(tmp / "env_state.npz", **arrays)
        for name, document in (documents or {}).items():
            (tmp / name).write_text(json.dumps(document, indent=2) + "\n")
        replace_dir(tmp, path)
    except OSError as error:        # a full disk, say: name the checkpoint, not the temporary
        shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(error.errno, f"cannot save the checkpoint: {error.strerror or error}",
                      str(path)) from None
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
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path / 'trainer.json'}: corrupt: {e}") from None
    _check_trainer(trainer, config, path / "trainer.json")
    return config, trainer


def _check_trainer(trainer, config: TrainConfig, file: Path) -> None:
    """A one-line ValueError naming ``file`` and the field unless ``trainer`` holds every
    counter, buffer and RNG state :func:`restore_training` reads, of the right type and range."""
    if not isinstance(trainer, dict):
        raise ValueError(f"{file}: expected a JSON object, got {type(trainer).__name__}")
    envs = config.envs if isinstance(config.envs, int) else 1
    # a rollout is never cut short, so a run may pass its target by less than one rollout
    most = config.timesteps + config.ppo.n_steps * envs
    counters = {"num_timesteps": most, "n_updates": None, "episode_num": None}
    for name, high in counters.items():
        value = trainer.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0 \
                or (high is not None and value > high):
            bound = f"0..{high}" if high is not None else ">= 0"
            raise ValueError(f"{file}: {name}: expected an integer {bound}, got {value!r}")
    episodes = trainer.get("ep_info_buffer")
    if not isinstance(episodes, list) or not all(
            isinstance(e, dict) and all(isinstance(e.get(k), (int, float)) for k in "rlt")
            for e in episodes):
        raise ValueError(f"{file}: ep_info_buffer: expected a list of episodes {{r, l, t}}")
    successes = trainer.get("ep_success_buffer")
    if not isinstance(successes, list) or not all(isinstance(b, bool) for b in successes):
        raise ValueError(f"{file}: ep_success_buffer: expected a list of true/false")
    rng = trainer.get("numpy_rng")
    if not (isinstance(rng, list) and len(rng) == 4 and rng[0] == "MT19937"
            and all(isinstance(v, int) and not isinstance(v, bool) for v in rng[1:3])
            and isinstance(rng[3], (int, float))):
        raise ValueError(f"{file}: numpy_rng: expected [\"MT19937\", pos, has_gauss, cached], "
                         f"got {rng!r}")
    if not isinstance(trainer.get("extra"), dict):
        raise ValueError(f"{file}: extra: expected an object")
    if "env_rng" in trainer:
        try:
            np.random.PCG64().state = trainer["env_rng"]
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"{file}: env_rng: not a PCG64 state ({e})") from None


def _read_arrays(file: Path) -> dict[str, np.ndarray]:
    """Every array of ``env_state.npz`` (no pickles); a truncated or foreign file is one line."""
    try:
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{file}: cannot read the arrays: {e}") from None


def _array(arrays: dict, name: str, file: Path, shape: tuple | None = None) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"{file}: missing array {name!r}")
    if shape is not None and arrays[name].shape != shape:
        raise ValueError(f"{file}: {name}: shape {arrays[name].shape}, expected {shape}")
    return arrays[name]


def load_policy(path: Path, policy) -> None:
    """Load ``policy.pt`` of checkpoint ``path`` into ``policy`` strictly; weights of another
    architecture or size are a one-line error listing what differs."""
    weights = load_weights(path, "policy.pt")
    own = policy.state_dict()
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor)
                                                for v in weights.values()):
        raise ValueError(f"{path / 'policy.pt'}: expected a state dict of tensors")
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    resized = sorted(k for k in set(own) & set(weights) if own[k].shape != weights[k].shape)
    if missing or unexpected or resized:
        shown = ", ".join((missing + unexpected + resized)[:3])
        raise ValueError(f"{path / 'policy.pt'}: not the weights of this policy: {len(missing)} "
                         f"missing, {len(unexpected)} unexpected, {len(resized)} of another "
                         f"shape (e.g. {shown})")
    policy.load_state_dict(weights, strict=True)


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
    load_policy(path, model.policy)
    try:
        model.policy.optimizer.load_state_dict(load_weights(path, "optimizer.pt"))
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as e:
        raise ValueError(f"{path / 'optimizer.pt'}: not this policy's optimizer state: "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    model.num_timesteps = trainer["num_timesteps"]
    model._n_updates = trainer["n_updates"]
    model._episode_num = trainer["episode_num"]
    model.ep_info_buffer = deque(trainer["ep_info_buffer"], maxlen=model._stats_window_size)
    model.ep_success_buffer = deque(trainer["ep_success_buffer"],
                                    maxlen=model._stats_window_size)
    file = path / "env_state.npz"
    arrays = _read_arrays(file)
    name, pos, has_gauss, cached = trainer["numpy_rng"]
    np.random.set_state((name, _array(arrays, "numpy_rng_keys", file, (624,)).astype(np.uint32),
                         pos, has_gauss, cached))
    rng = load_weights(path, "rng.pt")
    try:
        torch.set_rng_state(rng["torch"])
    except (TypeError, KeyError, IndexError, RuntimeError) as e:
        raise ValueError(f"{path / 'rng.pt'}: torch: not a torch RNG state ({e})") from None
    if "env_rng" in trainer and model.env is not None:
        _restore_envs(model, arrays, trainer["env_rng"], file)
    return trainer["extra"]


def _restore_envs(model, arrays: dict[str, np.ndarray], env_rng: dict, file: Path) -> None:
    """The environments' saved state into ``model``'s envs; a missing array or one of another
    shape than these envs have is an error naming ``file`` and the array."""
    n = model.env.num_envs
    last_obs = {key: _array(arrays, f"last_obs_{key}", file, (n, *space.shape))
                for key, space in model.observation_space.spaces.items()}
    env_f, env_i = _array(arrays, "engine_env_f", file), _array(arrays, "engine_env_i", file)
    visited = _array(arrays, "engine_visited", file)
    try:
        find_env(model.env, NinjaVecEnv).load_state_dict({
            "sim": {k.removeprefix("sim_"): v for k, v in arrays.items() if k.startswith("sim_")},
            "env_f": env_f, "env_i": env_i, "visited": visited, "rng": env_rng})
        stack = find_env(model.env, FrameStackVecEnv)
        if stack is not None:
            stack.load_state_dict({k.removeprefix("stack_"): v for k, v in arrays.items()
                                   if k.startswith("stack_")})
    except ValueError as e:
        raise ValueError(f"{file}: {e}") from None
    model._last_obs = last_obs
    model._last_episode_starts = _array(arrays, "last_episode_starts", file, (n,))
