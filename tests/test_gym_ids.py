"""The registered Gymnasium ids: which levels they play, fixed subsets, disjoint splits and the
Gymnasium checker (ninjarl.env.registry)."""
from __future__ import annotations

import hashlib
import warnings

import gymnasium as gym
import numpy as np
import pytest

from ninjarl.env import (
    CATEGORY_IDS,
    ENV_ID,
    ENV_IDS,
    MAX_EPISODE_STEPS,
    REAL_ENV_ID,
    EnvConfig,
    NinjaEnv,
    NinjaGymVectorEnv,
    level_set,
)
from ninjarl.env.registry import REAL_LEVELS
from ninjarl.levels import CATEGORIES, GENERATOR_VERSION, default_dataset
from ninjarl.levels.dataset import DEFAULT_TRAIN
from ninjarl.sim import load_map_bytes


@pytest.fixture(scope="module")
def dataset():
    return default_dataset()


@pytest.fixture(scope="module")
def default_env():
    return gym.make(ENV_ID)


def _names(env) -> list[str]:
    return [level.name for level in env.unwrapped.engine.levels]


def _interleaved(entries, categories=CATEGORIES):
    """The documented order: categories round-robin, each in manifest order."""
    columns = [[e for e in entries if e.category == c] for c in categories]
    return [col[k] for k in range(max(map(len, columns))) for col in columns if k < len(col)]


def test_default_id_samples_every_category_of_the_training_split_and_never_the_test_split(
        dataset, default_env):
    train = {e.level_id: e.category for e in dataset.split("train")}
    test = {e.level_id for e in dataset.split("test")}
    assert set(_names(default_env)) == set(train)
    seen = [default_env.reset(seed=seed)[1]["level"] for seed in range(400)]
    assert set(seen) <= set(train) and not set(seen) & test
    assert {train[name] for name in seen} == set(CATEGORIES)
    # the vector entry point plays the same set
    venv = gym.make_vec(ENV_ID, num_envs=16, vectorization_mode="vector_entry_point")
    assert isinstance(venv.unwrapped, NinjaGymVectorEnv)
    assert _names(venv) == _names(default_env)
    venv.reset(seed=0)
    _, _, _, _, infos = venv.step(np.zeros(16, np.int64))
    assert infos == {} or all(info["level"] in train for info in infos["final_info"] if info)


@pytest.mark.parametrize("category", CATEGORIES)
def test_category_ids_play_that_category_of_the_training_split(dataset, category):
    env = gym.make(CATEGORY_IDS[category])
    expected = [e.level_id for e in dataset.by_category("train")[category]]
    assert _names(env) == expected and len(expected) == DEFAULT_TRAIN
    assert env.reset(seed=3)[1]["level"] in expected


def test_num_levels_and_start_level_pick_a_fixed_subset_in_the_splits_order(dataset):
    order = _interleaved(dataset.split("train"))
    ids = [e.level_id for e in order]
    for start, num in ((0, 7), (5, 10), (690, 0), (699, 1)):
        subset = [e.level_id for e in level_set(num_levels=num, start_level=start)]
        assert subset == ids[start:start + num if num else None]
        assert subset == [e.level_id for e in level_set(num_levels=num, start_level=start)]
    # prefixes are balanced across categories: the first 7 levels are one of each
    assert [e.category for e in level_set(num_levels=7)] == list(CATEGORIES)
    if GENERATOR_VERSION == 1:       # the same on every machine (the default set is seeded)
        assert [e.level_id for e in level_set(num_levels=3)] == [
            "simplest-7519213ec8ee", "simpler-a77161b56bff", "simple-73511d34ab9d"]
    env = gym.make(ENV_ID, num_levels=10, start_level=5)
    assert _names(env) == ids[5:15]
    venv = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point",
                        num_levels=10, start_level=5)
    assert _names(venv) == ids[5:15]
    medium = [e.level_id for e in dataset.by_category("train")["medium"]]
    env = gym.make(CATEGORY_IDS["medium"], num_levels=2, start_level=3)
    assert _names(env) == medium[3:5]
    assert [e.level_id for e in level_set(["exploration", "simplest"], num_levels=4)] == [
        dataset.by_category("train")[c][k].level_id
        for k in (0, 1) for c in ("simplest", "exploration")]


def test_test_split_and_real_levels_never_overlap_the_training_split(dataset):
    train = {e.content_hash for e in dataset.split("train")}
    test = level_set(split="test")
    assert len(test) == 175 and not {e.content_hash for e in test} & train
    env = gym.make(ENV_ID, split="test")
    assert _names(env) == [e.level_id for e in _interleaved(dataset.split("test"))]
    for category, env_id in CATEGORY_IDS.items():
        test_c = level_set(category, split="test")
        assert {e.category for e in test_c} == {category}
        assert _names(gym.make(env_id, split="test")) == [e.level_id for e in test_c]
        assert not {e.content_hash for e in test_c} & train
    real = gym.make(REAL_ENV_ID)
    assert _names(real) == list(REAL_LEVELS) and len(REAL_LEVELS) == 5
    real_hashes = {hashlib.sha256(load_map_bytes(n)).hexdigest() for n in REAL_LEVELS}
    assert len(real_hashes) == 5 and not real_hashes & train
    assert not real_hashes & {e.content_hash for e in test}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes_for_every_registered_id(env_id, default_env):
    from gymnasium.utils.env_checker import check_env
    env = default_env if env_id == ENV_ID else gym.make(env_id)
    assert isinstance(env.unwrapped, NinjaEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # the checker's warnings are failures here
        check_env(env.unwrapped, skip_render_check=True)
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    obs, _ = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    obs, rewards, terminated, truncated, _ = venv.step(venv.action_space.sample())
    assert venv.observation_space.contains(obs) and rewards.shape == (3,)


def test_the_env_truncates_itself_and_no_time_limit_is_registered():
    assert MAX_EPISODE_STEPS == EnvConfig().max_steps == 1250
    for env_id in ENV_IDS:
        assert gym.spec(env_id).max_episode_steps is None
    env = gym.make(CATEGORY_IDS["simplest"], config=EnvConfig(max_frames=40))
    assert not isinstance(env, gym.wrappers.TimeLimit)
    wrapper = env
    while isinstance(wrapper, gym.Wrapper):
        assert not isinstance(wrapper, gym.wrappers.TimeLimit)
        wrapper = wrapper.env
    env.reset(seed=0)
    for step in range(1, 11):       # noop from rest on a flat level: neither win nor death
        _, _, terminated, truncated, _ = env.step(0)
        assert not terminated and truncated == (step == 10)
    # a vector env asked for a different limit than its config says is an error
    with pytest.raises(ValueError, match="max_episode_steps"):
        gym.make_vec(REAL_ENV_ID, num_envs=2, vectorization_mode="vector_entry_point",
                     max_episode_steps=100)


def test_observations_take_key_lists_and_presets():
    env = gym.make(REAL_ENV_ID, observations="vision")
    assert set(env.observation_space.spaces) == {"player_frame", "global_view", "game_state",
                                                 "reachability"}
    env = gym.make(REAL_ENV_ID, observations=["game_state"], config=EnvConfig(max_frames=400))
    assert set(env.observation_space.spaces) == {"game_state"}
    assert env.unwrapped.config.max_frames == 400
    env = gym.make(REAL_ENV_ID, observations="graph")
    assert "graph_node_features" in env.observation_space.spaces
    assert set(gym.make(REAL_ENV_ID).observation_space.spaces) == {"game_state",
                                                                   "reachability"}


@pytest.mark.parametrize("kwargs, name", [
    (dict(categories=["simplest", "hardest"]), "categories"),
    (dict(categories=[]), "categories"),
    (dict(split="validation"), "split"),
    (dict(num_levels=-1), "num_levels"),
    (dict(num_levels=DEFAULT_TRAIN * len(CATEGORIES) + 1), "num_levels"),
    (dict(start_level=-2), "start_level"),
    (dict(start_level=DEFAULT_TRAIN * len(CATEGORIES)), "start_level"),
    (dict(categories="simplest", start_level=DEFAULT_TRAIN), "start_level"),
    (dict(dataset=42), "dataset"),
    (dict(levels=["official/000_the_basics"], split="test"), "levels"),
    (dict(observations="pixels"), "observations"),
    (dict(observations=["game_state", "rgb"]), "observations"),
])
def test_bad_arguments_raise_value_errors_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        gym.make(ENV_ID, **kwargs)


def test_a_dataset_directory_replaces_the_built_in_set(tmp_path):
    from ninjarl.levels import build_dataset
    build_dataset(tmp_path / "ds", 3, 2, categories=("simplest", "simpler"), seed=7)
    env = gym.make(ENV_ID, dataset=str(tmp_path / "ds"))
    assert [n.split("-")[0] for n in _names(env)] == ["simplest", "simpler"] * 3
    env = gym.make(ENV_ID, dataset=tmp_path / "ds", split="test", categories="simpler")
    assert len(_names(env)) == 2 and env.reset(seed=0)[1]["level"].startswith("simpler-")
    with pytest.raises(ValueError, match="^categories"):
        gym.make(ENV_ID, dataset=tmp_path / "ds", categories="medium")
    obs, _ = gym.make(ENV_ID, levels=[load_map_bytes("official/000_the_basics")]).reset(seed=0)
    assert np.all(np.isfinite(obs["game_state"]))


def test_render_mode_passes_through():
    env = gym.make(REAL_ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape == (600, 1056, 3)
