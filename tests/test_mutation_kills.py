"""Tests written to kill the mutants that survived ``scripts/mutation.py`` (mutmut).

Each test's name starts with the module it covers (``config_``, ``evaluate_``, ``checkpoint_``,
...), which is how the script selects them for that module's run. docs/mutation.md lists the
scores before and after, and the mutants left alive as equivalent, with the reason.
"""
from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ninjarl.env import make_vec_env
from ninjarl.env.config import GRAPH_KEYS, EnvConfig, RewardConfig, reward_bounds, space_keys
from ninjarl.eval import EpisodeResult, EvalResult, evaluate, wilson_interval
from ninjarl.levels import CATEGORIES, build_dataset, generate_level, level_seed
from ninjarl.levels import dataset as dataset_module
from ninjarl.sim import build_level
from ninjarl.train import PPOConfig, TrainConfig
from ninjarl.train import checkpoint as checkpoint_module
from ninjarl.train.checkpoint import read_checkpoint, save_checkpoint
from ninjarl.train.config import HierarchicalConfig
from ninjarl.train.curriculum import Curriculum, CurriculumConfig
from ninjarl.train.ppo import build_model
from ninjarl.train.transfer import check_compatible, transfer_weights

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
     r"^EnvConfig.reward: completion must be > 0, switch >= 0, death <= 0$"),
    ({"reward": RewardConfig(switch=-0.1)}, r"^EnvConfig.reward: completion must be > 0"),
    ({"reward": RewardConfig(death=0.1)}, r"^EnvConfig.reward: completion must be > 0"),
    # 5000 frames at -0.01: worst win 0.1 + 1 - 50; the shaping scale 0.5 / (0.01 * 1249) gives
    # a drift of 0.5, so the best death is 0.1 - 0.5 - 0.01 + 0.5, the best timeout 0.1 - 50 + 0.5
    ({"reward": RewardConfig(time_per_frame=-0.01)},
     r"^EnvConfig.reward: a win at the time limit would return -48.9000, not more than the "
     r"best death \(0.0900\) or timeout \(-49.4000\); reduce reward.time_per_frame or "
     r"reward.shaping_scale$"),
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
