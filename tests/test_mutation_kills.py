"""Tests written to kill the mutants that survived ``scripts/mutation.py`` (mutmut).

Each test's name starts with the module it covers (``config_``, ``evaluate_``, ``checkpoint_``,
...), which is how the script selects them for that module's run. docs/mutation.md lists the
scores before and after, and the mutants left alive as equivalent, with the reason.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ninjarl.env import make_vec_env
from ninjarl.env.config import GRAPH_KEYS, EnvConfig, RewardConfig, reward_bounds, space_keys
from ninjarl.eval import EpisodeResult, EvalResult, evaluate, wilson_interval
from ninjarl.eval.evaluate import check_observations
from ninjarl.levels import CATEGORIES, build_dataset, generate_level, level_seed
from ninjarl.levels import dataset as dataset_module
from ninjarl.sim import FormatError, build_level
from ninjarl.sim.replay import MAX_MAP_BYTES
from ninjarl.train import PPOConfig, TrainConfig
from ninjarl.train import checkpoint as checkpoint_module
from ninjarl.train.checkpoint import read_checkpoint, save_checkpoint
from ninjarl.train.config import HierarchicalConfig
from ninjarl.train.curriculum import Curriculum, CurriculumConfig
from ninjarl.train.ppo import build_model
from ninjarl.train.transfer import TransferReport, check_compatible, hierarchical_source, transfer_weights, write_report

from conftest import MAPS

# ---- config: src/ninjarl/env/config.py -------------------------------------------------------


def test_config_observations_are_kept_as_a_tuple():
    config = EnvConfig(observations=["game_state", "reachability"])
    assert config.observations == ("game_state", "reachability")


def test_config_observation_errors_name_the_bad_keys():
    with pytest.raises(ValueError, match=r"unknown or empty \['pixels'\]; choose from"):
        EnvConfig(observations=("game_state", "pixels"))
    with pytest.raises(ValueError, match=r"unknown or empty \(\); choose from"):
        EnvConfig(observations=())


@pytest.mark.parametrize("settings, message", [
    ({"action_repeat": 0}, r"^EnvConfig.action_repeat must be >= 1, got 0$"),
    ({"action_repeat": 4, "max_frames": 3},
     r"^EnvConfig.max_frames \(3\) must be at least one step of 4 frames$"),
    ({"stuck_frames": -1}, r"^EnvConfig.stuck_frames must be >= 0, got -1$"),
    ({"gamma": 0.0}, r"^EnvConfig.gamma must be in \(0, 1\], got 0.0$"),
    ({"gamma": 1.01}, r"^EnvConfig.gamma must be in \(0, 1\], got 1.01$"),
    ({"reward": RewardConfig(completion=0.0)},
     r"^EnvConfig.reward: completion must be > 0, switch >= 0, death <= 0, novelty >= 0$"),
    ({"reward": RewardConfig(novelty=-0.001)}, r"^EnvConfig.reward: completion must be > 0"),
    ({"reward": RewardConfig(switch=-0.1)}, r"^EnvConfig.reward: completion must be > 0"),
    ({"reward": RewardConfig(death=0.1)}, r"^EnvConfig.reward: completion must be > 0"),
    # 5000 frames at -0.01: worst win 0.1 + 1 - 50; the shaping scale 0.5 / (0.01 * 1249) gives
    # a drift of 0.5, so the best death is 0.1 - 0.5 - 0.01 + 0.5, the best timeout 0.1 - 50 + 0.5
    ({"reward": RewardConfig(time_per_frame=-0.01)},
     r"^EnvConfig.reward: a win at the time limit would return -48.9000, not more than the "
     r"best death \(0.0900\) or timeout \(-49.4000\); reduce reward.time_per_frame, "
     r"reward.shaping_scale or reward.novelty$"),
    # a novelty bonus for each of the 966 cells inside the border counts to the best death and
    # timeout: the best death 0.1 - 0.5 - 0.0001 + 0.5 + 0.966, the worst win 0.1 + 1 - 0.5
    ({"reward": RewardConfig(novelty=0.001)},
     r"^EnvConfig.reward: a win at the time limit would return 0.6000, not more than the "
     r"best death \(1.0659\) or timeout \(1.0660\)"),
])
def test_config_errors_name_the_setting_and_value(settings, message):
    with pytest.raises(ValueError, match=message):
        EnvConfig(**settings)


def test_config_accepts_the_edges_of_each_range():
    assert EnvConfig(action_repeat=4, max_frames=4).max_steps == 1
    assert EnvConfig(stuck_frames=0, gamma=1.0).gamma == 1.0
    assert EnvConfig(reward=RewardConfig(switch=0.0, death=0.0)).reward.death == 0.0



def test_config_a_win_that_only_ties_the_best_death_is_refused():
    # gamma 1: no shaping drift; 2 frames at -0.5 each: a win at the limit returns
    # 0.5 - 1.0 = -0.5, a death after one frame 0 - 0.5 = -0.5: a tie, not "more than"
    tie = dict(action_repeat=1, max_frames=2, gamma=1.0)
    with pytest.raises(ValueError, match=r"would return -0.5000, not more than the best death "
                                         r"\(-0.5000\) or timeout \(-1.0000\)"):
        EnvConfig(**tie, reward=RewardConfig(completion=0.5, death=0.0, switch=0.0,
                                             time_per_frame=-0.5))
    EnvConfig(**tie, reward=RewardConfig(completion=0.75, death=0.0, switch=0.0,
                                         time_per_frame=-0.5))


def test_config_a_one_step_episode_has_no_shaping_drift():
    # max_frames = action_repeat: one step, so no step after the first adds (1 - gamma) * -phi
    config = EnvConfig(action_repeat=4, max_frames=4, gamma=0.5)
    worst_win, best_death, best_timeout = reward_bounds(config)
    assert worst_win == pytest.approx(0.1 + 1.0 - 0.0004)
    assert best_death == pytest.approx(0.1 - 0.5 - 0.0001)
    assert best_timeout == pytest.approx(0.1 - 0.0004)

def test_config_space_keys_expand_only_the_graph():
    assert space_keys(("game_state",)) == ("game_state",)
    assert space_keys(("player_frame", "graph", "reachability")) == (
        "player_frame", *GRAPH_KEYS, "reachability")
    assert space_keys(()) == ()


def test_config_round_trips_through_its_dict_with_the_resolved_scale():
    config = EnvConfig(observations=("game_state",), action_repeat=2, max_frames=3000,
                       stuck_frames=120, stuck_radius=10.0, gamma=0.95,
                       reward=RewardConfig(completion=2.0, death=-1.0, switch=0.2,
                                           time_per_frame=-0.0002, max_distance=1500.0))
    data = config.to_dict()
    assert data["shaping_scale"] == config.shaping_scale > 0
    assert data["reward"]["shaping_scale"] is None and data["reward"]["completion"] == 2.0
    assert EnvConfig.from_dict(data) == config
    assert EnvConfig.from_dict({}) == EnvConfig()


# ---- evaluate: src/ninjarl/eval/evaluate.py --------------------------------------------------

def _results() -> EvalResult:
    return EvalResult([
        EpisodeResult("a", "x", "won", 100), EpisodeResult("a", "x", "dead", 40, "mine"),
        EpisodeResult("b", "x", "won", 300), EpisodeResult("c", "y", "dead", 20),
        EpisodeResult("d", "y", "timeout", 5000)])


def test_evaluate_table_is_exact():
    assert _results().table().splitlines() == [
        "| category | levels | episodes | success | 95% interval | median frames to win "
        "| deaths | time-outs |",
        "|---|---:|---:|---:|---|---:|---|---:|",
        "| x | 2 | 3 | 66.7% | 20.8%-93.9% | 200 | mine 1 | 0 |",
        "| y | 2 | 2 | 0.0% | 0.0%-65.8% | - | unknown 1 | 1 |",
        "| **all** | 4 | 5 | 40.0% | | | | |"]


def test_evaluate_table_lists_several_death_causes_and_a_dash_for_none():
    table = EvalResult([EpisodeResult("a", "x", "dead", 9, "mine"),
                        EpisodeResult("b", "x", "dead", 7, "impact_floor"),
                        EpisodeResult("c", "z", "won", 50)]).table()
    assert table.splitlines()[2:4] == [
        "| x | 2 | 2 | 0.0% | 0.0%-65.8% | - | impact_floor 1, mine 1 | 0 |",
        "| z | 1 | 1 | 100.0% | 20.7%-100.0% | 50 | - | 0 |"]


def test_evaluate_per_level_counts_every_episode_and_keeps_the_first():
    rows = _results().per_level()
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    assert rows[0] == {"id": "a", "category": "x", "outcome": "won", "frames": 100,
                       "death_cause": "", "successes": 1, "episodes": 2}
    assert (rows[3]["successes"], rows[3]["episodes"]) == (0, 1)


def test_evaluate_json_document():
    doc = _results().to_json(np.int64(123))
    assert type(doc["timesteps"]) is int and doc["timesteps"] == 123
    assert doc["episodes"] == 5 and doc["success_rate"] == pytest.approx(0.4)
    assert doc["per_category"] == {"x": pytest.approx(2 / 3), "y": 0.0}
    x = doc["categories"]["x"]
    assert (x["levels"], x["episodes"], x["median_win_frames"], x["timeouts"]) == (2, 3, 200.0, 0)
    assert (x["wilson_low"], x["wilson_high"]) == wilson_interval(2, 3)
    assert _results().results[0].won and not _results().results[1].won


def test_evaluate_wilson_interval_uses_z():
    wide, narrow = wilson_interval(5, 10, z=2.576), wilson_interval(5, 10)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(0, 10)[0] == 0.0
    # unclamped, rounding puts 5 of 5's upper end at 1.0000000000000002
    assert wilson_interval(5, 5)[1] == 1.0


class _Hold:
    """A policy that holds one action (2 = RIGHT), or samples uniformly under torch's RNG."""

    def __init__(self, observation_space, action=2):
        self.observation_space, self.action = observation_space, action

    def predict(self, obs, deterministic=True):
        n = len(obs["game_state"])
        if deterministic:
            return np.full(n, self.action), None
        return torch.randint(0, 6, (n,)).numpy(), None


def _levels(*names):
    return [build_level((MAPS / "test" / n).read_bytes(), n) for n in names]


def test_evaluate_refuses_bad_arguments_with_the_reason():
    config = EnvConfig(max_frames=200)
    levels = _levels("simple-walk")
    policy = _Hold(make_vec_env(levels, 1, config).observation_space)
    with pytest.raises(ValueError, match="^evaluate: no levels to evaluate on$"):
        evaluate(policy, [], [], config)
    with pytest.raises(ValueError, match="^evaluate: 1 levels but 2 categories$"):
        evaluate(policy, levels, ["a", "b"], config)
    with pytest.raises(ValueError, match="episodes_per_level must be >= 1, got 0"):
        evaluate(policy, levels, ["a"], config, episodes_per_level=0)


def test_evaluate_plays_each_level_its_episodes_in_order_across_batches(monkeypatch):
    evaluate_module = importlib.import_module("ninjarl.eval.evaluate")
    monkeypatch.setattr(evaluate_module, "MAX_PARALLEL", 3)     # 2 levels x 2 episodes: 2 batches
    config = EnvConfig(max_frames=400)
    levels = _levels("simple-walk", "minefield")
    policy = _Hold(make_vec_env(levels, 1, config).observation_space)
    result = evaluate(policy, levels, ["a", "b"], config, episodes_per_level=2)
    assert [(r.level_id, r.category, r.outcome) for r in result.results] == [
        ("simple-walk", "a", "won"), ("simple-walk", "a", "won"),
        ("minefield", "b", "dead"), ("minefield", "b", "dead")]


def test_evaluate_sampling_follows_its_seed_and_leaves_the_global_rng_alone():
    config = EnvConfig(max_frames=120)
    levels = _levels("simple-walk", "minefield")
    policy = _Hold(make_vec_env(levels, 1, config).observation_space)

    def actions(seed):
        torch.manual_seed(99)
        before = torch.get_rng_state()
        result = evaluate(policy, levels, ["a", "b"], config, deterministic=False, seed=seed)
        assert torch.equal(torch.get_rng_state(), before)
        return [r.actions.tolist() for r in result.results]

    assert actions(1) == actions(1) != actions(2)
    torch.manual_seed(1)
    first = torch.randint(0, 6, (2,)).tolist()
    assert [a[0] for a in actions(1)] == first


def test_evaluate_forks_the_generator_of_every_cuda_device_it_reseeds(monkeypatch):
    """torch.manual_seed also reseeds every CUDA device: evaluate must restore all of them (a
    GPU run samples PPO's actions there), not only the CPU's. Checked here by the devices it
    asks fork_rng for; tests/test_device.py checks the GPU's state itself where there is one."""
    config = EnvConfig(max_frames=120)
    levels = _levels("simple-walk")
    policy = _Hold(make_vec_env(levels, 1, config).observation_space)
    forked, real_fork = [], torch.random.fork_rng

    def recording_fork(devices=None, **kwargs):
        forked.append(list(devices))
        return real_fork(devices=[], **kwargs)          # no GPU here to fork

    monkeypatch.setattr(torch.random, "fork_rng", recording_fork)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: None)
    evaluate(policy, levels, ["a"], config, deterministic=False)
    assert forked == [[0, 1]]


def _spaces(**shapes_and_dtypes):
    """An object with ``observation_space.spaces``: key -> (shape, dtype), in the given order."""
    spaces = {k: SimpleNamespace(shape=shape, dtype=np.dtype(dtype))
              for k, (shape, dtype) in shapes_and_dtypes.items()}
    return SimpleNamespace(observation_space=SimpleNamespace(spaces=spaces))


@pytest.mark.parametrize("env, differ", [
    (_spaces(game_state=((32,), "float32")), "reachability"),                 # only the agent's
    (_spaces(game_state=((32,), "float32"), reachability=((10,), "float32"),
             graph=((3,), "float32")), "graph"),                               # only the env's
    (_spaces(reachability=((9,), "float32"), game_state=((32,), "float32")), "reachability"),
    (_spaces(reachability=((10,), "float64"), game_state=((32,), "float32")), "reachability"),
], ids=["agent-only key", "env-only key", "shape", "dtype"])
def test_evaluate_refuses_an_agent_whose_observations_differ_naming_both(env, differ):
    agent = _spaces(reachability=((10,), "float32"), game_state=((32,), "float32"))
    shown = lambda space: str({k: v.shape for k, v in sorted(space.observation_space.spaces.items())})  # noqa: E731
    with pytest.raises(ValueError) as error:
        check_observations(agent, env)
    assert str(error.value) == (f"the agent reads observations {shown(agent)} but these levels "
                                f"and settings give {shown(env)} (differ: {differ})")


def test_evaluate_accepts_an_agent_reading_the_same_observations_and_lists_every_difference():
    same = _spaces(reachability=((10,), "float32"), game_state=((32,), "float32"))
    check_observations(same, _spaces(game_state=((32,), "float32"),
                                     reachability=((10,), "float32")))
    other = _spaces(reachability=((10,), "float32"), game_state=((32,), "float64"),
                    zeta=((1,), "float32"), alpha=((1,), "float32"))
    with pytest.raises(ValueError, match=r"\(differ: alpha, game_state, zeta\)$"):
        check_observations(same, other)


class _Stateful(_Hold):
    """A policy with SB3's recurrent ``predict`` signature: records each call's state,
    episode starts and ``deterministic``, and returns the call's number as the next state."""

    def __init__(self, observation_space):
        super().__init__(observation_space)
        self.calls = []

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        self.calls.append((state, episode_start.copy(), deterministic))
        return np.full(len(obs["game_state"]), self.action), len(self.calls)


def test_evaluate_gives_a_stateful_policy_its_state_and_the_episode_starts():
    config = EnvConfig(max_frames=400)
    levels = _levels("simple-walk", "minefield")
    policy = _Stateful(make_vec_env(levels, 1, config).observation_space)
    result = evaluate(policy, levels, ["a", "b"], config, deterministic=False)
    won, dead = result.results
    assert (won.outcome, dead.outcome) == ("won", "dead") and len(dead.actions) < len(won.actions)
    states, starts, deterministic = zip(*policy.calls)
    assert states == (None, *range(1, len(policy.calls)))
    assert starts[0].dtype == bool and starts[0].tolist() == [True, True]
    # each death ends a minefield episode (replayed from its start, it dies the same way
    # again): the call after it starts a new one
    assert [s.tolist() for s in starts[1:]] == [
        [False, step % len(dead.actions) == 0] for step in range(1, len(policy.calls))]
    assert set(deterministic) == {False}
    # playing stops once every episode has ended: one call per action of the longest episode
    assert len(policy.calls) == len(won.actions)


def test_evaluate_results_are_plain_python_and_the_env_is_closed(monkeypatch):
    evaluate_module = importlib.import_module("ninjarl.eval.evaluate")
    made = []

    def recording_make_vec_env(*args, **kwargs):
        made.append(make_vec_env(*args, **kwargs))
        close = made[-1].close
        made[-1].closed = False

        def closing():
            made[-1].closed = True
            close()
        made[-1].close = closing
        return made[-1]
    monkeypatch.setattr(evaluate_module, "make_vec_env", recording_make_vec_env)
    config = EnvConfig(max_frames=400)
    levels = _levels("simple-walk", "minefield")
    policy = _Hold(make_vec_env(levels, 1, config).observation_space)
    result = evaluate(policy, levels, ["a", "b"], config)
    assert [venv.closed for venv in made] == [True]
    assert all(type(r.frames) is int and r.actions.dtype == np.int64 for r in result.results)
    json.dumps(result.to_json(1))                 # eval.json holds no numpy scalars


def test_evaluate_plays_with_the_frame_stack_it_is_given():
    config = EnvConfig(max_frames=400)
    levels = _levels("simple-walk")
    policy = _Hold(make_vec_env(levels, 1, config, frame_stack=2).observation_space)
    result = evaluate(policy, levels, ["a"], config, frame_stack=2)
    assert [r.outcome for r in result.results] == ["won"]


def test_evaluate_samples_under_seed_zero_by_default():
    config = EnvConfig(max_frames=120)
    levels = _levels("simple-walk")
    policy = _Hold(make_vec_env(levels, 1, config).observation_space)

    def actions(**seed):
        result = evaluate(policy, levels, ["a"], config, deterministic=False, **seed)
        return result.results[0].actions.tolist()
    assert actions() == actions(seed=0) != actions(seed=1)


# ---- curriculum: src/ninjarl/train/curriculum.py ---------------------------------------------

STAGES = ("simplest", "simpler", "simple")


def _curriculum(**settings) -> Curriculum:
    config = CurriculumConfig(**{"stages": STAGES, "window": 10, "threshold": 0.8,
                                 "min_episodes": 2, "replay_share": 0.25, **settings})
    return Curriculum(config, list(STAGES))          # level i is of stage i


class _FixedRng:
    """A generator whose draws are given: ``random()`` returns ``u``, ``integers`` its lowest
    value (0 for ``integers(n)``, ``low`` for ``integers(low, high)``)."""

    def __init__(self, u: float):
        self.u = u

    def random(self) -> float:
        return self.u

    def integers(self, low, high=None) -> int:
        return 0 if high is None else low


def _advance_to(curriculum: Curriculum, stage: int) -> None:
    while curriculum.stage < stage:
        curriculum.record(curriculum.stage, True)


def test_curriculum_config_from_a_dict_without_stages_takes_every_category():
    assert CurriculumConfig.from_dict({"window": 10}).stages == tuple(CATEGORIES)


def test_curriculum_replays_an_earlier_stage_from_stage_one_with_probability_replay_share():
    c = _curriculum(replay_share=0.25)
    assert c.sample(0, _FixedRng(0.0)) == 0                     # stage 0 has nothing to replay
    _advance_to(c, 1)
    assert c.sample(0, _FixedRng(0.2499)) == 0                  # u < share: replay stage 0
    assert c.sample(0, _FixedRng(0.25)) == 1                    # u >= share: the current stage



def test_curriculum_previews_a_later_stage_with_probability_preview_share():
    c = _curriculum(replay_share=0.0, preview_share=0.25)
    assert c.sample(0, _FixedRng(0.2499)) == 1                  # u < share: the next stage
    assert c.sample(0, _FixedRng(0.25)) == 0                    # u >= share: the current stage

def test_curriculum_record_names_the_valid_level_range():
    c = _curriculum()
    with pytest.raises(IndexError, match=r"^level index 3 out of range \(0\.\.2\)$"):
        c.record(3, True)
    with pytest.raises(IndexError, match=r"^level index -1 out of range \(0\.\.2\)$"):
        c.record(-1, True)


def test_curriculum_stats_keys():
    c = _curriculum()
    c.record(0, True)
    assert c.stats() == {
        "curriculum/stage": 0.0,
        "curriculum/success/simplest": 1.0, "curriculum/episodes/simplest": 1.0,
        "curriculum/success/simpler": 0.0, "curriculum/episodes/simpler": 0.0,
        "curriculum/success/simple": 0.0, "curriculum/episodes/simple": 0.0}


def test_curriculum_state_at_the_first_and_last_stage_loads_and_past_it_is_refused():
    for stage in (0, 2):
        c = _curriculum()
        _advance_to(c, stage)
        restored = _curriculum()
        restored.load_state_dict(c.state_dict())
        assert restored.state_dict() == c.state_dict() and restored.stage == stage
    state = _curriculum().state_dict() | {"stage": 3}
    with pytest.raises(ValueError, match="^curriculum state: stage 3 out of range$"):
        _curriculum().load_state_dict(state)


def test_curriculum_state_errors_name_what_is_wrong():
    state = _curriculum().state_dict()
    with pytest.raises(ValueError, match=r"^curriculum state: unreadable config \("):
        _curriculum().load_state_dict({k: v for k, v in state.items() if k != "config"})
    message = "^curriculum state: windows/episodes do not name the config's stages$"
    for key in ("windows", "episodes"):
        bad = state | {key: {"simplest": state[key]["simplest"]}}
        with pytest.raises(ValueError, match=message):
            _curriculum().load_state_dict(bad)


def test_curriculum_config_keeps_stages_as_a_tuple_and_names_an_empty_list():
    assert CurriculumConfig(stages=["simplest", "simple"]).stages == ("simplest", "simple")
    with pytest.raises(ValueError, match="^CurriculumConfig.stages must name at least one stage$"):
        CurriculumConfig(stages=[])


def test_curriculum_maps_each_level_to_its_stage_and_other_categories_to_minus_one():
    c = Curriculum(CurriculumConfig(stages=("simplest", "simpler")),
                   ["simpler", "medium", "simplest", "simpler"])
    assert c.level_stage == [1, -1, 0, 1]
    assert [s.tolist() for s in c.stage_levels] == [[2], [0, 3]]


# ---- checkpoint: src/ninjarl/train/checkpoint.py ---------------------------------------------

def _checkpoint_config(envs: int | str = 2) -> TrainConfig:
    """100 steps in rollouts of 16 steps per env: a run may end at 100 + 16 * envs steps."""
    return TrainConfig(levels="simplest", timesteps=100, envs=envs,
                       ppo=PPOConfig(n_steps=16, batch_size=16, n_epochs=1))


def _trainer(**fields) -> dict:
    """A trainer.json document as save_checkpoint writes it, with ``fields`` replaced."""
    np_state = np.random.RandomState(0).get_state()
    return {"num_timesteps": 32, "n_updates": 2, "episode_num": 1,
            "ep_info_buffer": [{"r": 1.5, "l": 40, "t": 0.25}], "ep_success_buffer": [True],
            "numpy_rng": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "extra": {}, "env_rng": np.random.PCG64(0).state} | fields


def _write_checkpoint(path: Path, trainer: dict, config: TrainConfig | None = None) -> Path:
    """A checkpoint directory as read_checkpoint sees it (the tensor files only present)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps((config or _checkpoint_config()).to_dict()))
    (path / "trainer.json").write_text(json.dumps(trainer))
    for name in ("policy.pt", "optimizer.pt", "rng.pt"):
        (path / name).write_bytes(b"")
    return path


def test_checkpoint_reads_a_complete_checkpoint(tmp_path):
    trainer = _trainer()
    config, read = read_checkpoint(_write_checkpoint(tmp_path / "c", trainer))
    assert read == trainer and config == _checkpoint_config()
    # without environment state (a checkpoint saved with with_env_state=False)
    read_checkpoint(_write_checkpoint(tmp_path / "d", {k: v for k, v in trainer.items()
                                                      if k != "env_rng"}))


def test_checkpoint_refuses_a_missing_directory_file_or_document(tmp_path):
    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path / 'none'))}: not a "
                                         "checkpoint directory$"):
        read_checkpoint(tmp_path / "none")
    path = _write_checkpoint(tmp_path / "c", _trainer())
    (path / "rng.pt").unlink()
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: incomplete checkpoint, "
                                         r"missing \['rng.pt'\]$"):
        read_checkpoint(path)
    path = _write_checkpoint(tmp_path / "d", _trainer())
    (path / "trainer.json").write_text("{")
    with pytest.raises(ValueError, match=f"^{re.escape(str(path / 'trainer.json'))}: corrupt: "):
        read_checkpoint(path)


@pytest.mark.parametrize("envs, most", [(2, 132), ("auto", 116)])
def test_checkpoint_step_counter_may_pass_the_target_by_one_rollout(envs, most, tmp_path):
    config = _checkpoint_config(envs)
    trainer = _trainer(num_timesteps=most, n_updates=0, episode_num=0)
    assert read_checkpoint(_write_checkpoint(tmp_path / "c", trainer, config))[1] == trainer
    file = tmp_path / "d" / "trainer.json"
    with pytest.raises(ValueError, match=f"^{re.escape(str(file))}: num_timesteps: expected "
                                         f"an integer 0..{most}, got {most + 1}$"):
        read_checkpoint(_write_checkpoint(file.parent, _trainer(num_timesteps=most + 1), config))


BAD_TRAINER_FIELDS = [      # (field, value, the message after "<file>: ")
    ("num_timesteps", -1, "num_timesteps: expected an integer 0..132, got -1"),
    ("num_timesteps", True, "num_timesteps: expected an integer 0..132, got True"),
    ("num_timesteps", "32", "num_timesteps: expected an integer 0..132, got '32'"),
    ("n_updates", -1, "n_updates: expected an integer >= 0, got -1"),
    ("episode_num", None, "episode_num: expected an integer >= 0, got None"),
    ("ep_info_buffer", [{"r": 1.0, "l": 40}], "ep_info_buffer: expected a list of episodes "
                                              "{r, l, t}"),
    ("ep_info_buffer", {"r": 1.0}, "ep_info_buffer: expected a list of episodes {r, l, t}"),
    ("ep_success_buffer", [1], "ep_success_buffer: expected a list of true/false"),
    ("ep_success_buffer", "yes", "ep_success_buffer: expected a list of true/false"),
    ("numpy_rng", ["PCG64", 0, 0, 0.0],
     "numpy_rng: expected [\"MT19937\", pos, has_gauss, cached], got ['PCG64', 0, 0, 0.0]"),
    ("numpy_rng", ["MT19937", "x", 0, 0.0], "numpy_rng: expected"),
    ("numpy_rng", ["MT19937", 0, True, 0.0], "numpy_rng: expected"),
    ("numpy_rng", ["MT19937", 0, 0], "numpy_rng: expected"),
    ("numpy_rng", ["MT19937", 0, 0, "0"], "numpy_rng: expected"),
    ("extra", [], "extra: expected an object"),
    ("env_rng", {"bit_generator": "MT19937"}, "env_rng: not a PCG64 state ("),
]


@pytest.mark.parametrize("name, value, message", BAD_TRAINER_FIELDS,
                         ids=[f"{name}={value!r}" for name, value, _ in BAD_TRAINER_FIELDS])
def test_checkpoint_names_the_file_and_field_of_a_bad_trainer_document(name, value, message,
                                                                       tmp_path):
    path = _write_checkpoint(tmp_path / "c", _trainer(**{name: value}))
    with pytest.raises(ValueError) as error:
        read_checkpoint(path)
    assert str(error.value).startswith(f"{path / 'trainer.json'}: {message}"), str(error.value)


def test_checkpoint_refuses_a_trainer_document_that_is_not_an_object(tmp_path):
    path = _write_checkpoint(tmp_path / "c", [1, 2])
    with pytest.raises(ValueError, match=f"^{re.escape(str(path / 'trainer.json'))}: expected a "
                                         "JSON object, got list$"):
        read_checkpoint(path)


def test_checkpoint_trainer_json_stores_numpy_values_and_refuses_others():
    values = [np.int64(3), np.float32(0.5), np.arange(2)]
    assert json.dumps(values, default=checkpoint_module._json_default) == "[3, 0.5, [0, 1]]"
    with pytest.raises(TypeError, match="^cannot store set in trainer.json$"):
        json.dumps({1}, default=checkpoint_module._json_default)


def test_checkpoint_arrays_are_read_without_unpickling(tmp_path):
    arrays = {"keys": np.arange(624, dtype=np.uint32), "objects": np.array([{}], dtype=object)}
    np.savez(tmp_path / "env_state.npz", **arrays)
    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path / 'env_state.npz'))}: "
                                         "cannot read the arrays: .*allow_pickle"):
        checkpoint_module._read_arrays(tmp_path / "env_state.npz")
    np.savez(tmp_path / "plain.npz", keys=arrays["keys"])
    read = checkpoint_module._read_arrays(tmp_path / "plain.npz")
    np.testing.assert_array_equal(read["keys"], arrays["keys"])


def test_checkpoint_array_checks_presence_and_shape():
    arrays, file = {"keys": np.zeros(4)}, Path("env_state.npz")
    take = checkpoint_module._array
    assert take(arrays, "keys", file) is arrays["keys"]
    assert take(arrays, "keys", file, (4,)) is arrays["keys"]
    with pytest.raises(ValueError, match=r"^env_state.npz: keys: shape \(4,\), expected \(5,\)$"):
        take(arrays, "keys", file, (5,))
    with pytest.raises(ValueError, match=r"^env_state.npz: missing array 'sim_x'$"):
        take(arrays, "sim_x", file)


class _TwoLayers(torch.nn.Module):
    def __init__(self, width: int = 3):
        super().__init__()
        self.first, self.second = torch.nn.Linear(2, width), torch.nn.Linear(width, 1)


def test_checkpoint_policy_weights_load_exactly(tmp_path):
    torch.manual_seed(0)
    saved = _TwoLayers()
    torch.save(saved.state_dict(), tmp_path / "policy.pt")
    policy = _TwoLayers()
    checkpoint_module.load_policy(tmp_path, policy)
    for name, value in saved.state_dict().items():
        assert torch.equal(policy.state_dict()[name], value), name


@pytest.mark.parametrize("change, counts, shown", [
    (lambda w: w.pop("second.bias"), "1 missing, 0 unexpected, 0 of another shape",
     "second.bias"),
    (lambda w: w.update(extra=torch.zeros(1)), "0 missing, 1 unexpected, 0 of another shape",
     "extra"),
    (lambda w: w.update({"first.bias": torch.zeros(4)}),
     "0 missing, 0 unexpected, 1 of another shape", "first.bias"),
    # four differences: the message shows the first three (missing, unexpected, resized)
    (lambda w: [w.pop("second.bias"), w.pop("second.weight"), w.update(extra=torch.zeros(1)),
                w.update({"first.bias": torch.zeros(4)})],
     "2 missing, 1 unexpected, 1 of another shape", "second.bias, second.weight, extra"),
], ids=["missing", "unexpected", "resized", "four"])
def test_checkpoint_policy_of_another_shape_is_one_line_naming_what_differs(change, counts,
                                                                            shown, tmp_path):
    weights = _TwoLayers().state_dict()
    change(weights)
    torch.save(weights, tmp_path / "policy.pt")
    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path / 'policy.pt'))}: not the "
                                         f"weights of this policy: {counts} "
                                         rf"\(e.g. {re.escape(shown)}\)$"):
        checkpoint_module.load_policy(tmp_path, _TwoLayers())


def test_checkpoint_policy_file_must_hold_tensors(tmp_path):
    torch.save({"first.weight": 1, "first.bias": 2}, tmp_path / "policy.pt")
    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path / 'policy.pt'))}: expected "
                                         "a state dict of tensors$"):
        checkpoint_module.load_policy(tmp_path, _TwoLayers())


@pytest.mark.parametrize("environment", [{}, {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}],
                         ids=["default", "torch told to unpickle"])
def test_checkpoint_weights_never_unpickle_other_objects(environment, tmp_path, monkeypatch):
    for name, value in environment.items():     # torch's own default yields to this variable
        monkeypatch.setenv(name, value)
    torch.save({"when": datetime.date(2026, 1, 1)}, tmp_path / "policy.pt")
    with pytest.raises(ValueError, match=f"^{re.escape(str(tmp_path / 'policy.pt'))}: cannot "
                                         "load tensors: "):
        checkpoint_module.load_weights(tmp_path, "policy.pt")


class _GpuTag:
    """A torch.save location tagger: while ``active``, every storage is recorded as saved on
    cuda:0 (how a checkpoint written by a GPU run looks), whatever this machine has."""

    active = False

    def __call__(self, storage):
        return "cuda:0" if self.active else None          # None: torch's own taggers decide


_GPU_TAG = _GpuTag()
torch.serialization.register_package(1, _GPU_TAG, lambda obj, location: None)


def test_checkpoint_weights_of_a_gpu_run_load_onto_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(_GPU_TAG, "active", True)
    torch.save({"w": torch.ones(2)}, tmp_path / "policy.pt")
    monkeypatch.undo()
    weights = checkpoint_module.load_weights(tmp_path, "policy.pt")
    assert weights["w"].device.type == "cpu" and torch.equal(weights["w"], torch.ones(2))


# ---- dataset: src/ninjarl/levels/dataset.py (the split generation) ---------------------------

def _candidates(split: str, category: str, n: int, seed: int = 0) -> list[int]:
    """The generator seeds of the first ``n`` candidates of (split, category)."""
    return [level_seed(seed, split, category, k) for k in range(n)]


def test_dataset_styles_rotate_by_candidate_and_category(tmp_path):
    # the k-th candidate of the category with index c uses styles[(k + c) % len(styles)]
    styles = ("classic", "open", "open")
    ds = build_dataset(tmp_path / "ds", 3, 0, categories=("simplest", "simpler"), seed=4,
                       styles=styles)
    for category in ("simplest", "simpler"):
        seeds = _candidates("train", category, 20, seed=4)
        c = CATEGORIES.index(category)
        for entry in ds.by_category("train")[category]:
            k = seeds.index(entry.seed)
            assert entry.style == styles[(k + c) % 3], (category, k)
            assert entry.map_bytes == generate_level(category, entry.seed, entry.style).map_bytes


def test_dataset_reports_progress_per_category_until_each_is_complete(tmp_path):
    calls = []
    build_dataset(tmp_path / "ds", 2, 0, categories=("simplest", "simpler"),
                  progress=lambda *args: calls.append(args))
    order = ["simplest", "simpler"]
    assert [c[1] for c in calls] == sorted((c[1] for c in calls), key=order.index)
    assert all(split == "train" and total == 2 for split, _, _, total in calls), calls
    for category in order:
        done = [d for _, cat, d, _ in calls if cat == category]
        assert done and done == sorted(done) and done[-1] == 2, calls


def _planner_solves_even_seeds(args):
    """Stands in for the planner: a candidate with an even generator seed is solved (a short
    demo), one with an odd seed is not."""
    category, seed, solve_budget, style = args
    level = generate_level(category, seed, style)
    if not solve_budget:
        return level, None, ""
    if seed % 2:
        return level, None, "no win within the budget"
    return level, np.full(5, 2, np.uint8), ""


def test_dataset_unsolved_candidates_are_replaced_by_the_next_and_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(dataset_module, "_generate", _planner_solves_even_seeds)
    unsolved = []
    ds = build_dataset(tmp_path / "ds", 3, 0, categories=("simplest",), seed=2, solve_budget=50,
                       unsolved=unsolved)
    seeds = _candidates("train", "simplest", 40, seed=2)
    solved = [s for s in seeds if s % 2 == 0][:3]
    last = seeds.index(solved[-1])
    assert [e.seed for e in ds.split("train")] == solved
    assert unsolved == [{"split": "train", "category": "simplest",
                         "id": generate_level("simplest", s).level_id, "seed": s,
                         "reason": "no win within the budget"}
                        for s in seeds[:last] if s % 2]
    manifest = json.loads((tmp_path / "ds" / "train" / "manifest.json").read_text())
    assert all(r["proven"] and (tmp_path / "ds" / "train" / r["demo"]).is_file()
               for r in manifest["levels"])
    # without a list to report them in, unsolved candidates are still skipped
    again = build_dataset(tmp_path / "again", 3, 0, categories=("simplest",), seed=2,
                          solve_budget=50)
    assert [e.seed for e in again.split("train")] == solved


def test_dataset_a_level_drawn_twice_in_one_split_is_kept_once(tmp_path, monkeypatch):
    seeds = _candidates("train", "simplest", 2)

    def second_candidate_repeats_the_first(args):
        category, seed, solve_budget, style = args
        return generate_level(category, seeds[0] if seed == seeds[1] else seed, style), None, ""
    monkeypatch.setattr(dataset_module, "_generate", second_candidate_repeats_the_first)
    ds = build_dataset(tmp_path / "ds", 3, 0, categories=("simplest",))
    assert [e.seed for e in ds.split("train")] == [seeds[0], *_candidates("train", "simplest",
                                                                         4)[2:]]


def test_dataset_draws_each_candidate_once_in_order_however_many_are_skipped(tmp_path,
                                                                          monkeypatch):
    seeds = _candidates("train", "simplest", 6)
    drawn = []

    def generate_once(args):
        category, seed, solve_budget, style = args
        assert seed not in drawn, f"candidate {seeds.index(seed)} drawn twice"
        drawn.append(seed)
        return generate_level(category, seed, style), None, ""
    monkeypatch.setattr(dataset_module, "_generate", generate_once)
    excluded = {generate_level("simplest", seeds[k]).content_hash for k in (0, 1, 3)}
    ds = build_dataset(tmp_path / "ds", 3, 0, categories=("simplest",), exclude_hashes=excluded)
    assert drawn == seeds                       # three draws: candidates 0-2, 3-4, then 5
    assert [e.seed for e in ds.split("train")] == [seeds[2], seeds[4], seeds[5]]


class _InProcessPool:
    """A worker pool that maps in this process, recording its size and that it was used."""

    def __init__(self, jobs: int):
        self.jobs, self.maps = jobs, 0

    def map(self, function, items, chunksize=1):
        self.maps += 1
        return [function(item) for item in items]


def test_dataset_jobs_above_one_generate_in_a_pool_of_that_size_with_the_same_result(
        tmp_path, monkeypatch):
    pools = []

    @contextlib.contextmanager
    def worker_pool(jobs):
        pools.append(_InProcessPool(jobs))
        yield pools[-1]
    monkeypatch.setattr(dataset_module, "worker_pool", worker_pool)
    alone = build_dataset(tmp_path / "one", 2, 1, categories=("simplest",), seed=6)
    assert not pools                                  # jobs=1 (the default): no pool
    pooled = build_dataset(tmp_path / "two", 2, 1, categories=("simplest",), seed=6, jobs=2)
    assert [(p.jobs, p.maps > 0) for p in pools] == [(2, True)]
    for split in ("train", "test"):
        assert [e.content_hash for e in pooled.split(split)] == [
            e.content_hash for e in alone.split(split)]


# ---- dataset_reading: src/ninjarl/levels/dataset.py (load_dataset and what it checks) --------

def _map_record(split_dir: Path, name: str, **fields) -> dict:
    """A manifest record of the bundled test map ``name``, copied into ``split_dir``."""
    data = (MAPS / "test" / name).read_bytes()
    (split_dir / "maps").mkdir(parents=True, exist_ok=True)
    (split_dir / "maps" / f"{name}.map").write_bytes(data)
    return {"id": name, "category": "simplest", "seed": 1, "tier": 0,
            "hash": hashlib.sha256(data).hexdigest(), "file": f"maps/{name}.map", **fields}


def _write_split(root: Path, split: str, records: list, **manifest) -> Path:
    """``root/split/manifest.json`` listing ``records``; its path."""
    path = root / split / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": "ninjarl-levels", "version": 1, "split": split,
                                "levels": records} | manifest))
    return path


def test_dataset_reading_a_written_dataset_reads_back_field_by_field(tmp_path):
    train = [_map_record(tmp_path / "train", "simple-walk", category="medium", seed=7, tier=3,
                         metadata={"rooms": 2}, style="open"),
             _map_record(tmp_path / "train", "minefield", category="zeta"),
             _map_record(tmp_path / "train", "slopes", category="alpha"),
             _map_record(tmp_path / "train", "only-jump")]
    _write_split(tmp_path, "train", train, seed=11)
    _write_split(tmp_path, "test", [_map_record(tmp_path / "test", "long-walk")])   # no seed
    ds = dataset_module.load_dataset(tmp_path)
    assert ds.path == tmp_path and ds.seeds == {"train": 11, "test": 0}
    assert ds.split_names == ["train", "test"]
    walk = ds.split("train")[0]
    assert (walk.level_id, walk.category, walk.seed, walk.tier, walk.content_hash, walk.metadata,
            walk.style) == ("simple-walk", "medium", 7, 3, train[0]["hash"], {"rooms": 2}, "open")
    assert walk.map_bytes == (MAPS / "test" / "simple-walk").read_bytes()
    mines = ds.split("train")[1]
    assert (mines.metadata, mines.style) == ({}, "classic")
    # the known categories in their order, then the others by name
    assert ds.categories("train") == ["simplest", "medium", "alpha", "zeta"]
    assert {c: [e.level_id for e in es] for c, es in ds.by_category("train").items()} == {
        "simplest": ["only-jump"], "medium": ["simple-walk"], "alpha": ["slopes"],
        "zeta": ["minefield"]}
    assert list(ds.by_category("train")) == ds.categories("train")
    assert ds.hashes() == {r["hash"] for r in train} | {ds.split("test")[0].content_hash}
    assert ds.find("long-walk") == ("test", ds.split("test")[0])
    assert ds.find("slopes") == ("train", ds.split("train")[2])
    assert repr(ds) == f"Dataset({str(tmp_path)!r}, train=4, test=1)"


def test_dataset_reading_a_split_that_is_not_there_is_named(tmp_path):
    _write_split(tmp_path, "test", [_map_record(tmp_path / "test", "long-walk")])
    ds = dataset_module.load_dataset(tmp_path)
    assert ds.split_names == ["test"] and ds.seeds == {"test": 0}
    with pytest.raises(FormatError) as error:
        ds.split("train")
    assert str(error.value) == f"{tmp_path / 'train' / 'manifest.json'}: manifest: this " \
                               "dataset has no train split"
    with pytest.raises(ValueError, match=r"^unknown split 'valid'; expected one of train, test$"):
        ds.split("valid")
    with pytest.raises(FormatError) as error:
        ds.find("nothing")
    assert str(error.value) == f"{tmp_path}: level id: no level 'nothing' in this dataset"


def _load_error(root: Path) -> str:
    with pytest.raises(FormatError) as error:
        dataset_module.load_dataset(root)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_dataset_reading_no_dataset_is_named(tmp_path):
    assert _load_error(tmp_path / "nowhere") == f"{tmp_path / 'nowhere'}: dataset: not a directory"
    assert _load_error(tmp_path) == (f"{tmp_path / 'train' / 'manifest.json'}: manifest: missing: "
                                     "not a level dataset (no train/ or test/ manifest.json)")


@pytest.mark.parametrize("text, field, problem", [
    (b"\xff{}", "manifest", "not UTF-8 text (invalid start byte)"),
    (b'{"levels":\n [', "manifest", "not valid JSON: Expecting value at line 2 column 3"),
    (b"[]", "manifest", "top level is not a JSON object"),
    (b'{"version": 1, "levels": []}', "format", "expected 'ninjarl-levels', got None"),
    (b'{"format": "other", "version": 1, "levels": []}', "format",
     "expected 'ninjarl-levels', got 'other'"),
    (b'{"format": "ninjarl-levels", "levels": []}', "version",
     "unsupported version None (this ninjarl reads 1)"),
    (b'{"format": "ninjarl-levels", "version": 2, "levels": []}', "version",
     "unsupported version 2 (this ninjarl reads 1)"),
    (b'{"format": "ninjarl-levels", "version": 1}', "levels", "missing or not a list"),
    (b'{"format": "ninjarl-levels", "version": 1, "levels": {}}', "levels",
     "missing or not a list"),
], ids=["utf8", "json", "list", "no format", "format", "no version", "version", "no levels",
        "levels dict"])
def test_dataset_reading_a_bad_manifest_is_one_line_naming_it(text, field, problem, tmp_path):
    path = tmp_path / "test" / "manifest.json"
    path.parent.mkdir()
    path.write_bytes(text)
    assert _load_error(tmp_path) == f"{path}: {field}: {problem}"


def test_dataset_reading_an_empty_split_reads_as_no_levels(tmp_path):
    _write_split(tmp_path, "train", [], seed=3)
    ds = dataset_module.load_dataset(tmp_path)
    assert ds.split("train") == [] and ds.seeds == {"train": 3}


@pytest.mark.parametrize("edit, field, problem", [
    (lambda r: "x", "levels[1]", "not a JSON object"),
    *[(lambda r, key=key: {k: v for k, v in r.items() if k != key}, f"levels[1].{key}", "missing")
      for key in ("id", "category", "seed", "tier", "hash", "file")],
    (lambda r: r | {"id": 5}, "levels[1].id", "expected str, got int"),
    (lambda r: r | {"category": None}, "levels[1].category", "expected str, got NoneType"),
    (lambda r: r | {"seed": "1"}, "levels[1].seed", "expected int, got str"),
    (lambda r: r | {"seed": True}, "levels[1].seed", "expected int, got bool"),
    (lambda r: r | {"tier": 1.0}, "levels[1].tier", "expected int, got float"),
    (lambda r: r | {"hash": ["a"]}, "levels[1].hash", "expected str, got list"),
    (lambda r: r | {"file": 3}, "levels[1].file", "expected str, got int"),
    (lambda r: r | {"style": 1}, "levels[1].style", "expected str, got int"),
    (lambda r: r | {"file": "/etc/passwd"}, "levels[1].file", "'/etc/passwd' leaves the split"),
    (lambda r: r | {"file": "maps/../../x.map"}, "levels[1].file",
     "'maps/../../x.map' leaves the split"),
    (lambda r: r | {"hash": r["hash"][:63]}, "levels[1].hash", "not a sha256 hex digest"),
    (lambda r: r | {"hash": r["hash"] + "0"}, "levels[1].hash", "not a sha256 hex digest"),
], ids=["not object", *[f"no {k}" for k in ("id", "category", "seed", "tier", "hash", "file")],
        "id", "category", "seed", "seed bool", "tier", "hash", "file", "style", "absolute",
        "dotdot", "short hash", "long hash"])
def test_dataset_reading_a_bad_record_names_its_index_and_field(edit, field, problem, tmp_path):
    good = _map_record(tmp_path / "train", "simple-walk")
    path = _write_split(tmp_path, "train", [good, edit(_map_record(tmp_path / "train",
                                                                   "minefield"))])
    assert _load_error(tmp_path) == f"{path}: {field}: {problem}"


def test_dataset_reading_a_record_keeps_the_bool_rule_for_ints_only(tmp_path):
    # a style, tier 0 and seed 0 are fine; the check of a record returns it unchanged
    record = _map_record(tmp_path / "train", "simple-walk", seed=0, tier=0, style="classic")
    assert dataset_module._check_record(dict(record), tmp_path / "m.json", 0) == record


def test_dataset_reading_each_level_once_with_its_own_intact_file(tmp_path):
    split = tmp_path / "train"
    walk, mines = _map_record(split, "simple-walk"), _map_record(split, "minefield")
    path = _write_split(tmp_path, "train", [walk, mines | {"id": "simple-walk"}])
    assert _load_error(tmp_path) == f"{path}: levels[1].id: 'simple-walk' listed twice"
    _write_split(tmp_path, "train", [walk, walk | {"id": "again"}])
    assert _load_error(tmp_path) == (f"{path}: levels[1].hash: the content of level "
                                     "'simple-walk' again")
    _write_split(tmp_path, "train", [walk, mines | {"file": "maps/none.map"}])
    assert _load_error(tmp_path) == (f"{split / 'maps' / 'none.map'}: file: missing or not a file "
                                     f"(listed in {path} as level 'minefield')")
    _write_split(tmp_path, "train", [walk, mines | {"file": "maps"}])         # a folder
    assert _load_error(tmp_path).startswith(f"{split / 'maps'}: file: missing or not a file")
    outside = tmp_path / "outside.map"
    outside.write_bytes((split / mines["file"]).read_bytes())
    (split / "link.map").symlink_to(outside)
    _write_split(tmp_path, "train", [walk, mines | {"file": "link.map"}])
    assert _load_error(tmp_path) == (f"{split / 'link.map'}: file: a link to outside the split; "
                                     "a dataset holds its own files")
    (split / "inside.map").symlink_to(split / mines["file"])       # a link inside is fine
    _write_split(tmp_path, "train", [walk, mines | {"file": "inside.map"}])
    assert [e.level_id for e in dataset_module.load_dataset(tmp_path).split("train")] == [
        "simple-walk", "minefield"]


def test_dataset_reading_a_changed_or_broken_map_is_named(tmp_path):
    split = tmp_path / "train"
    walk = _map_record(split, "simple-walk")
    data = bytearray((split / walk["file"]).read_bytes())
    data[300] ^= 1
    (split / walk["file"]).write_bytes(bytes(data))
    _write_split(tmp_path, "train", [walk])
    digest = hashlib.sha256(bytes(data)).hexdigest()
    assert _load_error(tmp_path) == (
        f"{split / walk['file']}: content hash: sha256 {digest[:16]}... does not match the "
        f"manifest's {walk['hash'][:16]}... (file corrupt?)")
    short = bytes(data[:100])
    (split / walk["file"]).write_bytes(short)
    _write_split(tmp_path, "train", [walk | {"hash": hashlib.sha256(short).hexdigest()}])
    assert _load_error(tmp_path).startswith(f"{split / walk['file']}: length: ")
    huge = bytes(MAX_MAP_BYTES + 1)
    (split / walk["file"]).write_bytes(huge)
    _write_split(tmp_path, "train", [walk | {"hash": hashlib.sha256(huge).hexdigest()}])
    assert _load_error(tmp_path) == (f"{split / walk['file']}: size: more than "
                                     f"{MAX_MAP_BYTES:,} bytes, larger than any map")


def test_dataset_reading_a_level_in_both_splits_is_refused(tmp_path):
    _write_split(tmp_path, "train", [_map_record(tmp_path / "train", "simple-walk"),
                                     _map_record(tmp_path / "train", "minefield")])
    test = _write_split(tmp_path, "test", [_map_record(tmp_path / "test", "simple-walk"),
                                           _map_record(tmp_path / "test", "minefield"),
                                           _map_record(tmp_path / "test", "slopes")])
    assert _load_error(tmp_path) == f"{test}: levels: 2 level(s) also in the train split"


# ---- transfer: src/ninjarl/train/transfer.py -------------------------------------------------

def _transfer_config(**overrides) -> TrainConfig:
    settings = dict(arch="vision_free", levels=str(MAPS / "test" / "simple-walk"), envs=2,
                    ppo=PPOConfig(n_steps=16, batch_size=16, n_epochs=1),
                    env={"max_frames": 40})
    return TrainConfig(**(settings | overrides))


def test_transfer_names_every_setting_the_checkpoint_differs_in():
    saved = _transfer_config()
    run = _transfer_config(arch="local_view", frame_stack=2, env={"max_frames": 40,
                                                                   "action_repeat": 2})
    with pytest.raises(ValueError) as error:
        check_compatible(saved, run, "ckpt")
    assert str(error.value) == (
        "ckpt: the checkpoint does not match this run: "
        f"observation keys {list(saved.env.observations)} vs {list(run.env.observations)}; "
        f"frame stack 1 vs 2; action repeat {saved.env.action_repeat} vs 2; "
        "architecture vision_free vs local_view")
    check_compatible(saved, _transfer_config(timesteps=5), "ckpt")   # other settings may differ


@pytest.fixture(scope="module")
def transfer_source(tmp_path_factory) -> Path:
    """An untrained policy's checkpoint (weights only)."""
    config = _transfer_config()
    venv = make_vec_env([config.levels], 2, config.env, seed=0)
    path = tmp_path_factory.mktemp("transfer") / "source"
    return save_checkpoint(path, build_model(config, venv), config, with_env_state=False)


def _transfer_into_fresh_model(source: Path):
    config = _transfer_config()
    torch.manual_seed(1)                  # other initial weights than the source's
    model = build_model(config, make_vec_env([config.levels], 2, config.env, seed=0))
    return model, transfer_weights(model, source, config)


def test_transfer_loads_every_tensor_of_a_matching_checkpoint(transfer_source):
    model, report = _transfer_into_fresh_model(transfer_source)
    saved = torch.load(transfer_source / "policy.pt", weights_only=True)
    assert report.loaded == list(model.policy.state_dict()) == list(saved)
    assert not (report.missing or report.mismatched or report.unexpected)
    for name, value in model.policy.state_dict().items():
        assert torch.equal(value, saved[name]), name


def _edited_source(source: Path, tmp_path: Path, edit) -> Path:
    copy = tmp_path / "source"
    shutil.copytree(source, copy)
    weights = torch.load(copy / "policy.pt", weights_only=True)
    edit(weights)
    torch.save(weights, copy / "policy.pt")
    return copy


@pytest.mark.parametrize("edit, loaded_less, counts, listed", [
    (lambda w: w.pop("action_net.bias"), 1, "1 missing, 0 mismatched, 0 unexpected",
     "MISSING    action_net.bias"),
    (lambda w: w.update({"action_net.bias": torch.zeros(7)}), 1,
     "0 missing, 1 mismatched, 0 unexpected", "MISMATCHED action_net.bias"),
    (lambda w: w.update({"extra.weight": torch.zeros(1)}), 0,
     "0 missing, 0 mismatched, 1 unexpected", "UNEXPECTED extra.weight"),
], ids=["missing", "mismatched", "unexpected"])
def test_transfer_refuses_a_policy_that_does_not_match_exactly(edit, loaded_less, counts, listed,
                                                               transfer_source, tmp_path):
    tensors = len(torch.load(transfer_source / "policy.pt", weights_only=True))
    source = _edited_source(transfer_source, tmp_path, edit)
    with pytest.raises(ValueError) as error:
        _transfer_into_fresh_model(source)
    lines = str(error.value).splitlines()
    assert lines[:2] == [f"{source}: the policy does not match exactly:",
                         f"transfer: {tensors - loaded_less} tensors loaded, {counts}"]
    assert lines[-1] == f"  {listed}"


def test_transfer_refuses_a_feature_extractor_that_did_not_load(transfer_source, tmp_path):
    first = next(n for n in torch.load(transfer_source / "policy.pt", weights_only=True)
                 if n.startswith("features_extractor."))
    source = _edited_source(transfer_source, tmp_path, lambda w: w.pop(first))
    with pytest.raises(ValueError, match=f"^{re.escape(str(source))}: feature-extractor tensors "
                                         rf"missing or mismatched: \['{re.escape(first)}'\]$"):
        _transfer_into_fresh_model(source)


def test_transfer_into_a_hierarchical_run_maps_the_flat_policy_by_name(transfer_source):
    config = _transfer_config(hierarchical=HierarchicalConfig())
    model = build_model(config, make_vec_env([config.levels], 2, config.env, seed=0))
    report = transfer_weights(model, transfer_source, config)
    assert report.sources["low_level.action.weight"] == "action_net.weight"
    assert report.initialised and all(name.startswith(("high_level.", "low_level."))
                                      for name in report.initialised)


def test_transfer_refusal_names_the_checkpoint(transfer_source):
    config = _transfer_config(env={"max_frames": 40, "action_repeat": 2})
    model = build_model(config, make_vec_env([config.levels], 2, config.env, seed=0))
    saved = _transfer_config().env.action_repeat
    with pytest.raises(ValueError, match=f"^{re.escape(str(transfer_source))}: the checkpoint "
                                         f"does not match this run: action repeat {saved} vs 2$"):
        transfer_weights(model, transfer_source, config)


def test_transfer_hierarchical_source_of_each_tensor():
    assert {name: hierarchical_source(name) for name in (
        "features.branches.game_state.mlp.0.weight", "low_level.pi.input.weight",
        "low_level.vf.input.bias", "low_level.action.weight", "low_level.value.bias",
        "low_level.pi.rest.0.weight", "low_level.vf.rest.3.bias", "low_level.pi.rest.12.weight",
    )} == {
        "features.branches.game_state.mlp.0.weight":
            "features_extractor.branches.game_state.mlp.0.weight",
        "low_level.pi.input.weight": "mlp_extractor.policy_net.0.weight",
        "low_level.vf.input.bias": "mlp_extractor.value_net.0.bias",
        "low_level.action.weight": "action_net.weight",
        "low_level.value.bias": "value_net.bias",
        "low_level.pi.rest.0.weight": "mlp_extractor.policy_net.2.weight",
        "low_level.vf.rest.3.bias": "mlp_extractor.value_net.5.bias",
        "low_level.pi.rest.12.weight": "mlp_extractor.policy_net.14.weight"}
    for name in ("high_level.logits.weight", "low_level.embedding.weight",
                 "low_level.pi.condition.weight", "low_level.pi.rest.x.weight",
                 "low_level.action", "xfeatures.a", "low_level.qf.rest.0.weight"):
        assert hierarchical_source(name) is None, name


def _hierarchical_model(**overrides):
    config = _transfer_config(hierarchical=HierarchicalConfig(), **overrides)
    torch.manual_seed(1)                  # other initial weights than the source's
    return config, build_model(config, make_vec_env([config.levels], 2, config.env, seed=0))


def test_transfer_hierarchical_loads_each_mapped_tensor_and_initialises_the_rest(transfer_source):
    config, model = _hierarchical_model()
    fresh = {name: tensor.clone() for name, tensor in model.policy.state_dict().items()}
    report = transfer_weights(model, transfer_source, config)
    saved = torch.load(transfer_source / "policy.pt", weights_only=True)
    state = model.policy.state_dict()
    mapped = [name for name in state if hierarchical_source(name)]
    assert report.loaded == mapped and len(mapped) == 24
    assert report.sources == {name: hierarchical_source(name) for name in mapped}
    assert not (report.missing or report.mismatched or report.unexpected)
    for name in mapped:
        assert torch.equal(state[name], saved[report.sources[name]]), name
    assert list(report.initialised) == [name for name in state if name not in mapped]
    high = "the high level's initialisation: orthogonal hidden layers, logit layer with gain " \
           "0.01 (near-uniform over the available subtasks)"
    condition = "orthogonal on the embedding's columns, zero on direction, distance and steps: "
    assert report.initialised == {
        **{name: high for name in state if name.startswith("high_level.")},
        "low_level.embedding.weight": "zero (the cloned policy for every subtask until it learns)",
        "low_level.pi.condition.weight": condition + "the controller starts as the cloned policy",
        "low_level.vf.condition.weight": condition + "the low value starts as the cloned value"}
    for name in state:
        if name.startswith("high_level."):                 # its own initialisation, kept
            assert torch.equal(state[name], fresh[name]), name
    assert not state["low_level.embedding.weight"].any()
    embedding = state["low_level.embedding.weight"].shape[1]
    for name in ("low_level.pi.condition.weight", "low_level.vf.condition.weight"):
        assert fresh[name][:, embedding:].any()           # so zero below is the transfer's doing
        assert torch.equal(state[name][:, :embedding], fresh[name][:, :embedding]), name
        assert not state[name][:, embedding:].any(), name


_ALIAS = "pi_features_extractor.branches.game_state.mlp.0.bias"
_VF_ALIAS = "vf" + _ALIAS.removeprefix("pi")


@pytest.mark.parametrize("edit, counts, listed", [
    (lambda w: w.pop("action_net.bias"), "23 tensors loaded, 1 missing, 0 mismatched, "
     "0 unexpected", ["  MISSING    low_level.action.bias"]),
    # a resized tensor is not used either: every checkpoint tensor must be
    (lambda w: w.update({"action_net.bias": torch.zeros(7)}), "23 tensors loaded, 0 missing, "
     "1 mismatched, 1 unexpected", ["  MISMATCHED low_level.action.bias",
                                    "  UNEXPECTED action_net.bias"]),
    (lambda w: w.update({"z.extra": torch.zeros(1), "a.extra": torch.zeros(1)}),
     "24 tensors loaded, 0 missing, 0 mismatched, 2 unexpected",
     ["  UNEXPECTED a.extra", "  UNEXPECTED z.extra"]),
    (lambda w: w.update({_ALIAS: w[_ALIAS] + 1}), "24 tensors loaded, 0 missing, 0 mismatched, "
     "1 unexpected", [f"  UNEXPECTED {_ALIAS}"]),
    (lambda w: w.update({_VF_ALIAS: w[_ALIAS] + 1}), "24 tensors loaded, 0 missing, "
     "0 mismatched, 1 unexpected", [f"  UNEXPECTED {_VF_ALIAS}"]),
    # the extractor's own tensor gone: its aliases have nothing to equal
    (lambda w: w.pop(_ALIAS.removeprefix("pi_")), "23 tensors loaded, 1 missing, 0 mismatched, "
     "2 unexpected", ["  MISSING    features.branches.game_state.mlp.0.bias",
                      f"  UNEXPECTED {_ALIAS}", f"  UNEXPECTED {_VF_ALIAS}"]),
], ids=["missing", "mismatched", "unexpected", "pi alias differs", "vf alias differs",
        "aliased tensor missing"])
def test_transfer_hierarchical_refuses_a_policy_that_does_not_map(edit, counts, listed,
                                                                  transfer_source, tmp_path):
    source = _edited_source(transfer_source, tmp_path, edit)
    config, model = _hierarchical_model()
    with pytest.raises(ValueError) as error:
        transfer_weights(model, source, config)
    lines = str(error.value).splitlines()
    assert lines[:2] == [f"{source}: the policy does not match the hierarchical one:",
                         f"transfer: {counts}"]
    assert [line for line in lines if not line.startswith(("  loaded", "  INITIALISED"))][2:] \
        == listed


def test_transfer_hierarchical_compares_the_runs_own_env_settings(tmp_path):
    # both with action repeat 2: the run's env settings, not the defaults, meet the checkpoint's
    env = {"max_frames": 40, "action_repeat": 2}
    flat = _transfer_config(env=env)
    venv = make_vec_env([flat.levels], 2, flat.env, seed=0)
    source = save_checkpoint(tmp_path / "source", build_model(flat, venv), flat,
                             with_env_state=False)
    config, model = _hierarchical_model(env=env)
    assert len(transfer_weights(model, source, config).loaded) == 24


def test_transfer_hierarchical_refuses_other_observation_settings(transfer_source):
    config, model = _hierarchical_model(frame_stack=2)
    with pytest.raises(ValueError, match=f"^{re.escape(str(transfer_source))}: the checkpoint "
                                         "does not match this run: frame stack 1 vs 2$"):
        transfer_weights(model, transfer_source, config)


def test_transfer_hierarchical_report_lists_sources_and_initialisations(tmp_path):
    report = TransferReport(loaded=["a", "b"], missing=["m"], mismatched=["x"],
                            unexpected=["u"], sources={"a": "flat.a"}, initialised={"i": "zero"})
    assert report.summary().splitlines() == [
        "transfer: 2 tensors loaded, 1 missing, 1 mismatched, 1 unexpected",
        "  loaded     a <- flat.a", "  loaded     b", "  INITIALISED i: zero",
        "  MISSING    m", "  MISMATCHED x", "  UNEXPECTED u"]
    flat = {"loaded": ["a", "b"], "missing": ["m"], "mismatched": ["x"], "unexpected": ["u"]}
    assert report.to_json() == flat | {"sources": {"a": "flat.a"}, "initialised": {"i": "zero"}}
    assert TransferReport(**flat).to_json() == flat
    assert TransferReport(**flat, sources={"a": "flat.a"}).to_json() == flat | {
        "sources": {"a": "flat.a"}, "initialised": {}}
    assert TransferReport(**flat, initialised={"i": "zero"}).to_json() == flat | {
        "sources": {}, "initialised": {"i": "zero"}}
    write_report(report, tmp_path / "transfer_report.json")
    assert json.loads((tmp_path / "transfer_report.json").read_text()) == report.to_json()


# ---- dataset (level sources): load_level_source, _raw_entry, _is_split --------------------------

def test_dataset_level_source_of_a_category_and_of_default_follows_the_split():
    test_simplest = dataset_module.load_level_source("simplest", split="test")
    default = dataset_module.default_dataset()
    assert [e.content_hash for e in test_simplest] == [
        e.content_hash for e in default.by_category("test")["simplest"]]
    assert [e.content_hash for e in dataset_module.load_level_source("default", split="test")] \
        == [e.content_hash for e in default.split("test")]
    assert len(dataset_module.load_level_source("default")) == len(default.split("train"))


def test_dataset_level_source_bundled_maps_are_raw_entries():
    official = dataset_module.load_level_source("official")
    assert official and {e.category for e in official} == {"official"}
    walk = dataset_module.load_level_source("test/simple-walk")
    data = (MAPS / "test" / "simple-walk").read_bytes()
    assert [(e.level_id, e.category, e.seed, e.tier, e.content_hash, e.map_bytes)
            for e in walk] == [("simple-walk", "test", 0, -1, hashlib.sha256(data).hexdigest(),
                                data)]


def test_dataset_level_source_directory_of_maps_skips_hidden_json_and_folders(tmp_path):
    maps = tmp_path / "mine"
    maps.mkdir()
    for name in ("b-level.map", "a-level"):
        (maps / name).write_bytes((MAPS / "test" / "simple-walk").read_bytes())
    (maps / ".hidden").write_bytes((MAPS / "test" / "only-jump").read_bytes())
    (maps / "notes.json").write_text("{}")
    (maps / "sub").mkdir()
    entries = dataset_module.load_level_source(str(maps))
    assert [(e.level_id, e.category) for e in entries] == [("a-level", "mine"),
                                                           ("b-level", "mine")]
    assert [e.level_id for e in dataset_module.load_level_source(str(maps / "b-level.map"))] \
        == ["b-level"]


def test_dataset_level_source_errors_name_the_spec_and_what_it_may_be(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".hidden").write_text("x")
    (empty / "a.json").write_text("{}")
    with pytest.raises(FormatError) as caught:
        dataset_module.load_level_source(str(empty))
    assert str(caught.value) == f"{empty}: level source: directory holds no map files"
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FormatError) as caught:
        dataset_module.load_level_source(missing)
    assert str(caught.value) == (
        f"{missing}: level source: not a category, bundled map or existing path "
        f"(categories: {', '.join(CATEGORIES)}; bundled groups: official, test, bench)")


def test_dataset_level_source_of_a_split_directory_reads_that_split(tmp_path):
    _write_split(tmp_path, "train", [_map_record(tmp_path / "train", "simple-walk")])
    _write_split(tmp_path, "test", [_map_record(tmp_path / "test", "only-jump")])
    assert [e.level_id for e in dataset_module.load_level_source(str(tmp_path / "test"))] == [
        "only-jump"]
    assert [e.level_id for e in dataset_module.load_level_source(str(tmp_path), "test")] == [
        "only-jump"]
    assert [e.level_id for e in dataset_module.load_level_source(str(tmp_path))] == [
        "simple-walk"]


def test_dataset_is_split_only_for_a_manifest_of_this_format(tmp_path):
    assert not dataset_module._is_split(tmp_path / "absent")
    (tmp_path / "manifest.json").write_text("[1]")
    assert not dataset_module._is_split(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "other"}')
    assert not dataset_module._is_split(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    assert not dataset_module._is_split(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": dataset_module.FORMAT}))
    assert dataset_module._is_split(tmp_path)


def test_dataset_raw_entry_keeps_a_name_whose_suffix_is_not_map(tmp_path):
    (tmp_path / "c.level").write_bytes((MAPS / "test" / "simple-walk").read_bytes())
    assert [e.level_id for e in dataset_module.load_level_source(str(tmp_path))] == ["c.level"]


DEFAULT_MAPS = ("simple-walk", "only-jump", "slopes", "minefield", "long-walk", "fall-required",
                "jump-then-fall", "long-jump-reachable")


def _fake_default_build(calls: list, train_maps: int, test_maps: int):
    """A build_dataset that records its arguments and writes a small dataset by hand."""
    def build(out, train, test, categories, seed, jobs):
        calls.append({"out": Path(out), "counts": (train, test), "categories": categories,
                      "seed": seed, "jobs": jobs})
        out = Path(out)
        _write_split(out, "train", [_map_record(out / "train", n)
                                    for n in DEFAULT_MAPS[:train_maps]])
        _write_split(out, "test", [_map_record(out / "test", n)
                                   for n in DEFAULT_MAPS[train_maps:train_maps + test_maps]])
    return build


def _small_default(monkeypatch, cache: Path) -> list:
    """The built-in dataset cached in ``cache``, 1 train and 0 test levels per category, built
    by :func:`_fake_default_build`; returns the list its calls are recorded in."""
    monkeypatch.setattr(dataset_module, "cache_dir", lambda: cache)
    monkeypatch.setattr(dataset_module, "DEFAULT_TRAIN", 1)
    monkeypatch.setattr(dataset_module, "DEFAULT_TEST", 0)
    calls = []
    monkeypatch.setattr(dataset_module, "build_dataset", _fake_default_build(calls, 7, 0))
    return calls


def test_dataset_default_is_built_in_a_temporary_sibling_and_moved_into_place(tmp_path,
                                                                             monkeypatch):
    import os
    cache = tmp_path / "cache" / "levels"
    calls = _small_default(monkeypatch, cache)
    built = dataset_module.default_dataset()
    (call,) = calls
    assert call["out"].parent == cache and call["out"].name.startswith(
        f".{dataset_module.DEFAULT_NAME}.") and call["out"].name.endswith(".tmp")
    assert call["counts"] == (1, 0) and call["categories"] == CATEGORIES and call["seed"] == 0
    assert call["jobs"] == min(os.cpu_count() or 1, 4)
    assert len(built.split("train")) == 7
    assert sorted(p.name for p in cache.iterdir()) == [dataset_module.DEFAULT_NAME]

    # complete: read back, not built again
    dataset_module.default_dataset()
    assert len(calls) == 1

    # the train count right but the test count wrong: rebuilt, with the jobs asked for
    monkeypatch.setattr(dataset_module, "DEFAULT_TEST", 1)
    dataset_module.default_dataset(jobs=3)
    assert len(calls) == 2 and calls[1]["jobs"] == 3
    assert sorted(p.name for p in cache.iterdir()) == [dataset_module.DEFAULT_NAME]


def test_dataset_default_build_that_fails_leaves_no_temporary_folder(tmp_path, monkeypatch):
    cache = tmp_path / "levels"
    monkeypatch.setattr(dataset_module, "cache_dir", lambda: cache)

    def broken(out, *args, **kwargs):
        (Path(out) / "partial").write_text("x")
        raise RuntimeError("generator failed")

    monkeypatch.setattr(dataset_module, "build_dataset", broken)
    with pytest.raises(RuntimeError, match="generator failed"):
        dataset_module.default_dataset(jobs=1)
    assert list(cache.iterdir()) == []


# ---- dataset (building): build_dataset's checks, defaults and exclusions ------------------------

def test_dataset_build_refusals_are_exact(tmp_path):
    with pytest.raises(ValueError) as caught:
        build_dataset(tmp_path / "a", 1, 0, ("simplest",), styles=())
    assert str(caught.value) == "styles must name at least one generator style"
    for counts in ((-1, 0), (0, -1)):
        with pytest.raises(ValueError) as caught:
            build_dataset(tmp_path / "a", *counts, ("simplest",))
        assert str(caught.value) == "level counts must be non-negative"
    (tmp_path / "b" / "test").mkdir(parents=True)
    with pytest.raises(ValueError) as caught:
        build_dataset(tmp_path / "b", 0, 1, ("simplest",))
    assert str(caught.value) == (
        f"{tmp_path / 'b' / 'test'}: exists and is not a ninjarl level split (no ninjarl "
        "manifest.json); refusing to replace it: move it away or choose another OUT")


def test_dataset_build_defaults_and_a_nested_new_folder(tmp_path, monkeypatch):
    explicit = build_dataset(tmp_path / "explicit", 1, 1, ("simplest",), seed=0, jobs=1,
                             solve_budget=0)

    def no_pool(jobs):
        raise AssertionError("a pool for the default jobs")

    monkeypatch.setattr(dataset_module, "worker_pool", no_pool)
    default = build_dataset(tmp_path / "new" / "nested" / "out", 1, 1, ("simplest",))
    for split in ("train", "test"):
        assert [e.content_hash for e in default.split(split)] == [
            e.content_hash for e in explicit.split(split)]
    manifest = json.loads((tmp_path / "new" / "nested" / "out" / "train" / "manifest.json")
                          .read_text())
    assert manifest["split"] == "train" and manifest["seed"] == 0
    assert not any("demo" in record for record in manifest["levels"])


def test_dataset_build_keeps_excluded_hashes_when_another_split_is_kept(tmp_path):
    alone = build_dataset(tmp_path / "alone", 0, 1, ("simplest",))
    first = alone.split("test")[0].content_hash
    out = tmp_path / "out"
    build_dataset(out, 1, 0, ("simplest",))                 # a train split to keep
    rebuilt = build_dataset(out, 0, 1, ("simplest",), exclude_hashes=[first])
    assert first not in {e.content_hash for e in rebuilt.split("test")}
    assert len(rebuilt.split("train")) == 1


def test_dataset_build_writes_each_split_in_a_hidden_temporary_sibling(tmp_path, monkeypatch):
    made = []
    real = dataset_module.temp_dir

    def recorded(parent, prefix, suffix=""):
        made.append((Path(parent), prefix, suffix))
        return real(parent, prefix, suffix)

    monkeypatch.setattr(dataset_module, "temp_dir", recorded)
    build_dataset(tmp_path / "out", 1, 1, ("simplest",))
    assert made == [(tmp_path / "out", ".train.", ".tmp"), (tmp_path / "out", ".test.", ".tmp")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test", "train"]


def test_dataset_build_manifest_records_every_field_and_the_demo(tmp_path, monkeypatch):
    from ninjarl.levels.generators import GENERATOR_VERSION
    from ninjarl.sim import read_replay

    monkeypatch.setattr(dataset_module, "_generate", _planner_solves_even_seeds)
    build_dataset(tmp_path / "ds", 2, 0, categories=("simplest",), seed=2, solve_budget=50)
    split = tmp_path / "ds" / "train"
    text = (split / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(text)
    assert text.endswith("}\n")
    assert {k: v for k, v in manifest.items() if k != "levels"} == {
        "format": "ninjarl-levels", "version": 1, "generator_version": GENERATOR_VERSION,
        "split": "train", "seed": 2}
    for record in manifest["levels"]:
        level = generate_level("simplest", record["seed"])
        assert record == {"id": level.level_id, "category": "simplest", "seed": record["seed"],
                          "tier": level.tier, "hash": level.content_hash,
                          "file": f"simplest/{level.level_id}.map", "style": level.style,
                          "metadata": level.metadata, "proven": True,
                          "demo": f"simplest/{level.level_id}.replay"}
        assert (split / record["file"]).read_bytes() == level.map_bytes
        demo = read_replay(split / record["demo"])
        assert demo.map_bytes == level.map_bytes and list(demo.inputs) == [2] * 5
        assert demo.success == 1


def test_dataset_build_a_failed_split_write_leaves_no_temporary_folder(tmp_path, monkeypatch):
    def refuse(tmp, final):
        raise OSError("disk full")

    monkeypatch.setattr(dataset_module, "replace_dir", refuse)
    with pytest.raises(OSError, match="disk full"):
        build_dataset(tmp_path / "out", 1, 0, ("simplest",))
    assert list((tmp_path / "out").iterdir()) == []


def test_dataset_default_build_jobs_follow_the_cpu_count_up_to_4(tmp_path, monkeypatch):
    import os
    calls = _small_default(monkeypatch, tmp_path / "levels")
    for cores, jobs in ((None, 1), (16, 4)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        shutil.rmtree(tmp_path / "levels", ignore_errors=True)
        dataset_module.default_dataset()
        assert calls[-1]["jobs"] == jobs


def test_dataset_level_source_of_a_split_folder_named_otherwise_reads_the_split_asked(tmp_path):
    _write_split(tmp_path, "train", [_map_record(tmp_path / "train", "simple-walk")])
    _write_split(tmp_path, "test", [_map_record(tmp_path / "test", "only-jump")])
    _write_split(tmp_path, "extra", [_map_record(tmp_path / "extra", "slopes")])
    assert [e.level_id for e in dataset_module.load_level_source(str(tmp_path / "extra"),
                                                                 "test")] == ["only-jump"]
