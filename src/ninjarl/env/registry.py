"""The Gymnasium ids of ninjarl and the level sets they play.

``import ninjarl.env`` registers (:func:`register_envs`):

* ``ninjarl/Ninja-v0``: the **training** split of the built-in level set
  (:func:`ninjarl.levels.default_dataset`, 500 train + 25 test levels of each of the seven
  categories), all categories;
* ``ninjarl/Ninja-<category>-v0`` for each of :data:`~ninjarl.levels.CATEGORIES`
  (``simplest`` ... ``exploration``): that category's training split;
* ``ninjarl/Ninja-real-v0``: the five bundled official N++ levels (``official/*``), for
  reporting only: never train on them.

Every id makes a :class:`~ninjarl.env.NinjaEnv` with ``gymnasium.make`` (:func:`make_env`)
and a :class:`~ninjarl.env.NinjaGymVectorEnv` (one engine stepping all games) with
``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``
(:func:`make_vector_env`). Keyword arguments (all optional):

* ``categories``: a category name or a list of them (default: all; the per-category ids set it);
* ``split``: ``"train"`` (default) or ``"test"``;
* ``num_levels`` / ``start_level``: Procgen-style fixed subset: the levels at positions
  ``start_level .. start_level + num_levels - 1`` of the split's deterministic order
  (:func:`level_set`); ``num_levels=0`` (default) means all from ``start_level``;
* ``dataset``: a dataset directory (``ninjarl levels build``) or
  :class:`~ninjarl.levels.Dataset` instead of the built-in set;
* ``levels``: explicit levels (map/replay paths, bundled map names, map bytes or
  :class:`~ninjarl.sim.level.Level`) instead of a level set; not combinable with the five above;
* ``observations``: a list of observation keys (``EnvConfig.observations`` names), or a preset
  of :data:`OBSERVATION_PRESETS`: ``"state"`` (game_state, reachability; the default),
  ``"vision"`` (player_frame, global_view, game_state, reachability), ``"graph"`` (graph,
  game_state, reachability). For a policy architecture of ``ninjarl.models`` pass its keys:
  ``observations=get_architecture("gat").observation_keys`` (the environment layer never
  imports ``ninjarl.models``, so it takes no architecture names);
* ``config``: an :class:`~ninjarl.env.EnvConfig` (``observations`` replaces its observation
  keys);
* ``level_sampler``, ``render_mode``; and for the vector env ``seed``.

Episode length. The ids register **no** ``max_episode_steps`` (``spec.max_episode_steps`` is
None, so no ``TimeLimit`` wrapper): the env truncates itself after ``config.max_frames``
frames, i.e. ``config.max_steps`` steps (:data:`MAX_EPISODE_STEPS` = 1,250 with the default
``EnvConfig``), and sets ``truncated`` only when the episode did not also terminate. A
registered ``TimeLimit`` of 1,250 steps would cut any config with a longer limit (e.g.
``action_repeat=1``) short while its ``game_state`` still counts down to ``max_frames``, and
would mark an episode ending in death or success on the last step as both terminated and
truncated; so the limit lives in one place, the config. ``gymnasium.make(id,
max_episode_steps=k)`` still adds a ``TimeLimit`` if you want one on top.

The protocol: train on ``ninjarl/Ninja-v0`` (training split), report success on the same
levels, on ``split="test"`` (unseen levels of the same categories) and on
``ninjarl/Ninja-real-v0`` (the official levels). The splits are disjoint by content hash
(see :mod:`ninjarl.levels.dataset`).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence

import gymnasium as gym

from ..levels import CATEGORIES, Dataset, LevelEntry, default_dataset, load_dataset
from ..levels.dataset import SPLITS
from ..sim import Level, LevelSource, load_level
from ..sim.mapfile import bundled_map_names
from .config import OBSERVATION_KEYS, EnvConfig
from .engine import LevelSampler
from .ninja_env import NinjaEnv
from .vec_env import NinjaGymVectorEnv

ENV_ID = "ninjarl/Ninja-v0"
#: ``ninjarl/Ninja-<category>-v0`` for every level category
CATEGORY_IDS: dict[str, str] = {c: f"ninjarl/Ninja-{c}-v0" for c in CATEGORIES}
REAL_ENV_ID = "ninjarl/Ninja-real-v0"
ENV_IDS: tuple[str, ...] = (ENV_ID, *CATEGORY_IDS.values(), REAL_ENV_ID)
#: the bundled official N++ levels that ``ninjarl/Ninja-real-v0`` plays
REAL_LEVELS: tuple[str, ...] = tuple(n for n in bundled_map_names() if n.startswith("official/"))
#: steps after which every id's episode is truncated with the default config (by the env itself)
MAX_EPISODE_STEPS = EnvConfig().max_steps

#: observation presets accepted by ``observations=``
OBSERVATION_PRESETS: dict[str, tuple[str, ...]] = {
    "state": ("game_state", "reachability"),
    "vision": ("player_frame", "global_view", "game_state", "reachability"),
    "graph": ("graph", "game_state", "reachability"),
}

_LEVEL_SET_ARGS = ("categories", "split", "num_levels", "start_level", "dataset")


def level_set(categories: str | Sequence[str] | None = None, split: str = "train",
              num_levels: int = 0, start_level: int = 0,
              dataset: str | os.PathLike | Dataset | None = None) -> list[LevelEntry]:
    """The levels an id plays, in their deterministic order.

    The order of a split: its categories (those asked for, default all the dataset has, in
    :data:`CATEGORIES` order) interleaved round-robin - the first level of each category, then the second of each, ... -
    each category's levels in manifest order. So any prefix (``num_levels``) is balanced across
    categories, and the result depends only on the dataset, never on the machine or the call.
    ``num_levels`` levels from position ``start_level`` are returned (``num_levels=0``: all
    from ``start_level``). ``dataset`` defaults to the built-in set (:func:`default_dataset`).
    A bad argument raises ``ValueError`` naming it.
    """
    if split not in SPLITS:
        raise ValueError(f"split: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    cats = None if categories is None else _categories(categories)
    for name, value in (("num_levels", num_levels), ("start_level", start_level)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
    ds = _dataset(dataset)
    if split not in ds.split_names:
        raise ValueError(f"split: dataset {ds.path} has no {split} split "
                         f"(it has {', '.join(ds.split_names)})")
    by_cat = ds.by_category(split)
    cats = list(by_cat) if cats is None else cats
    missing = [c for c in cats if c not in by_cat]
    if missing:
        raise ValueError(f"categories: dataset {ds.path} has no {', '.join(missing)} levels in "
                         f"its {split} split (it has {', '.join(by_cat)})")
    columns = [by_cat[c] for c in by_cat if c in cats]
    order = [col[k] for k in range(max(len(col) for col in columns))
             for col in columns if k < len(col)]
    if start_level >= len(order):
        raise ValueError(f"start_level: {start_level} is past the end of the {len(order)} "
                         f"levels of the {split} split of {', '.join(cats)}")
    if num_levels == 0:
        return order[start_level:]
    if start_level + num_levels > len(order):
        raise ValueError(f"num_levels: {num_levels} levels from start_level {start_level} "
                         f"exceed the {len(order)} levels of the {split} split")
    return order[start_level:start_level + num_levels]


def _categories(categories) -> list[str]:
    if isinstance(categories, str):
        categories = [categories]
    cats = list(categories)
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown or not cats:
        raise ValueError(f"categories: unknown or empty {unknown or '[]'}; choose from "
                         f"{', '.join(CATEGORIES)}")
    return [c for c in CATEGORIES if c in cats]


def _dataset(dataset) -> Dataset:
    if dataset is None:
        return default_dataset()
    if isinstance(dataset, Dataset):
        return dataset
    if not isinstance(dataset, (str, os.PathLike)):
        raise ValueError(f"dataset: expected a dataset directory or a Dataset, got "
                         f"{type(dataset).__name__}")
    return load_dataset(dataset)


def observation_keys(observations: str | Sequence[str]) -> tuple[str, ...]:
    """``observations=`` as ``EnvConfig.observations`` names: a preset name of
    :data:`OBSERVATION_PRESETS`, or a list of keys (checked)."""
    if isinstance(observations, str):
        if observations not in OBSERVATION_PRESETS:
            raise ValueError(f"observations: unknown preset {observations!r}; use one of "
                             f"{', '.join(OBSERVATION_PRESETS)} or a list of keys from "
                             f"{', '.join(OBSERVATION_KEYS)}")
        return OBSERVATION_PRESETS[observations]
    keys = tuple(observations)
    unknown = [k for k in keys if k not in OBSERVATION_KEYS]
    if unknown or not keys:
        raise ValueError(f"observations: unknown or empty {unknown or '()'}; choose from "
                         f"{', '.join(OBSERVATION_KEYS)} (or a preset: "
                         f"{', '.join(OBSERVATION_PRESETS)})")
    return keys


@functools.lru_cache(maxsize=4096)
def _load(map_bytes: bytes, name: str) -> Level:
    """A level built once per process (building is ~10 ms of Python per level; the engine only
    reads a Level, packing copies of its arrays)."""
    return load_level(map_bytes, name=name)


def _resolve(levels, categories, split, num_levels, start_level, dataset, observations,
             config) -> tuple[list[LevelSource], EnvConfig]:
    """The keyword arguments shared by both entry points -> (levels, config)."""
    given = {k: v for k, v in zip(_LEVEL_SET_ARGS, (categories, split, num_levels,
                                                       start_level, dataset)) if v is not None}
    if levels is not None:
        if given:
            raise ValueError(f"levels: explicit levels cannot be combined with "
                             f"{', '.join(given)} (those choose a level set instead)")
        if isinstance(levels, (str, bytes, os.PathLike)):
            levels = [levels]
        sources = list(levels)
        if not sources:
            raise ValueError("levels: empty list")
    else:
        entries = level_set(categories, split if split is not None else "train",
                            num_levels or 0, start_level or 0, dataset)
        sources = [_load(e.map_bytes, e.level_id) for e in entries]
    if config is not None and not isinstance(config, EnvConfig):
        raise ValueError(f"config: expected an EnvConfig, got {type(config).__name__}")
    config = config or EnvConfig()
    if observations is not None:
        config = dataclasses.replace(config, observations=observation_keys(observations))
    return sources, config


def make_env(*, categories: str | Sequence[str] | None = None, split: str | None = None,
             num_levels: int | None = None, start_level: int | None = None,
             dataset: str | os.PathLike | Dataset | None = None,
             levels: Sequence[LevelSource] | None = None,
             observations: str | Sequence[str] | None = None, config: EnvConfig | None = None,
             level_sampler: LevelSampler | None = None,
             render_mode: str | None = None) -> NinjaEnv:
    """The ``gymnasium.make`` entry point of every ninjarl id (arguments: module docstring)."""
    sources, config = _resolve(levels, categories, split, num_levels, start_level, dataset,
                               observations, config)
    return NinjaEnv(sources, config, level_sampler, render_mode)


make_env.metadata = NinjaEnv.metadata       # gymnasium.make checks render_mode against it


def make_vector_env(num_envs: int = 8, *, categories: str | Sequence[str] | None = None,
                    split: str | None = None, num_levels: int | None = None,
                    start_level: int | None = None,
                    dataset: str | os.PathLike | Dataset | None = None,
                    levels: Sequence[LevelSource] | None = None,
                    observations: str | Sequence[str] | None = None,
                    config: EnvConfig | None = None, level_sampler: LevelSampler | None = None,
                    seed: int | None = None, render_mode: str | None = None,
                    max_episode_steps: int | None = None) -> NinjaGymVectorEnv:
    """The ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` entry point:
    one :class:`NinjaGymVectorEnv` of ``num_envs`` games (arguments: module docstring)."""
    sources, config = _resolve(levels, categories, split, num_levels, start_level, dataset,
                               observations, config)
    if max_episode_steps is not None and max_episode_steps != config.max_steps:
        raise ValueError(f"max_episode_steps: the vector env truncates itself after "
                         f"config.max_steps = {config.max_steps} steps; set "
                         f"EnvConfig(max_frames=...) instead of max_episode_steps="
                         f"{max_episode_steps}")
    return NinjaGymVectorEnv(num_envs, sources, config, level_sampler, seed, render_mode)


def register_envs() -> None:
    """Register :data:`ENV_IDS` with Gymnasium (idempotent; ``import ninjarl.env`` calls it)."""
    kwargs: dict[str, dict] = {ENV_ID: {}, REAL_ENV_ID: {"levels": REAL_LEVELS}}
    kwargs |= {env_id: {"categories": (c,)} for c, env_id in CATEGORY_IDS.items()}
    for env_id in ENV_IDS:
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="ninjarl.env.registry:make_env",
                         vector_entry_point="ninjarl.env.registry:make_vector_env",
                         max_episode_steps=None, kwargs=kwargs[env_id])
