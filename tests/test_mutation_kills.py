"""Tests written to kill the mutants that survived ``scripts/mutation.py`` (mutmut).

Each test's name starts with the module it covers (``config_``, ``evaluate_``, ``checkpoint_``,
...), which is how the script selects them for that module's run. docs/mutation.md lists the
scores before and after, and the mutants left alive as equivalent, with the reason.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from ninjarl.env import make_vec_env
from ninjarl.env.config import GRAPH_KEYS, EnvConfig, RewardConfig, reward_bounds, space_keys
from ninjarl.eval import EpisodeResult, EvalResult, evaluate, wilson_interval
from ninjarl.levels import CATEGORIES
from ninjarl.sim import build_level
from ninjarl.train.curriculum import Curriculum, CurriculumConfig

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
