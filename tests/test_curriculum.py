"""Curriculum manager: advancing on a synthetic result stream, counting each episode once under
the stage of the level played, replay share, exact restore after resume, config validation."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ninjarl.levels import CATEGORIES
from ninjarl.train.curriculum import Curriculum, CurriculumConfig

STAGES = ("simplest", "simpler", "simple")
# Level list: 3 levels per stage, interleaved, plus a level of a category that is no stage.
LEVELS = ["simplest", "simpler", "simple"] * 3 + ["medium"]


def first_level(curriculum: Curriculum, stage: int) -> int:
    return int(curriculum.stage_levels[stage][0])


def make(**kw) -> Curriculum:
    config = CurriculumConfig(**{"stages": STAGES, "window": 10, "threshold": 0.8,
                                 "min_episodes": 20, "replay_share": 0.25, **kw})
    return Curriculum(config, LEVELS)


def test_default_config_covers_all_categories():
    assert CurriculumConfig().stages == tuple(CATEGORIES)
    c = Curriculum(CurriculumConfig(), list(CATEGORIES))
    assert c.stage == 0 and c.stage_name == "simplest"


def test_advances_only_after_min_episodes_and_threshold():
    c = make()
    level = first_level(c, 0)
    for n in range(1, 20):                     # window full and all successes, but < 20 episodes
        assert c.record(level, True) is False
        assert c.stage == 0, n
    assert c.record(level, True) is True       # 20th episode
    assert (c.stage, c.stage_name) == (1, "simpler")


def test_does_not_advance_below_threshold():
    c = make()
    level = first_level(c, 0)
    for n in range(100):                       # F F F T T T T T T T ...: 7/10 in every window
        assert c.record(level, n % 10 >= 3) is False
    assert c.stage == 0
    # One more success pushes out the oldest failure: 8/10 meets the threshold.
    assert c.record(level, True) is True
    assert c.stage == 1


def test_window_forgets_old_results():
    c = make(min_episodes=1)
    level = first_level(c, 0)
    for _ in range(50):
        c.record(level, False)
    # Only the last 10 count: 8 successes in a row are enough despite 50 earlier failures.
    results = [c.record(level, True) for _ in range(8)]
    assert results == [False] * 7 + [True]


def test_never_past_last_stage():
    c = make(min_episodes=1, window=1, threshold=0.0)
    for stage in range(len(STAGES)):
        c.record(first_level(c, stage), True)
    assert c.stage == len(STAGES) - 1
    for _ in range(10):
        assert c.record(first_level(c, c.stage), True) is False
    assert c.stage == len(STAGES) - 1 and c.is_last_stage


def test_replayed_episodes_count_under_their_own_stage():
    c = make(min_episodes=1, window=1, threshold=1.0)
    c.record(first_level(c, 0), True)
    assert c.stage == 1
    for _ in range(5):                         # replays of stage 0 while on stage 1
        assert c.record(first_level(c, 0), True) is False
    assert c.stage == 1                        # stage 1 has no episodes of its own yet
    stats = c.stats()
    assert stats["curriculum/episodes/simplest"] == 6
    assert stats["curriculum/episodes/simpler"] == 0
    assert stats["curriculum/success/simpler"] == 0.0
    c.record(first_level(c, 1), False)
    assert c.stats()["curriculum/episodes/simpler"] == 1 and c.stage == 1


def test_each_episode_counted_once():
    c = make()
    rng = np.random.default_rng(0)
    result_rng = np.random.default_rng(1)
    n_records = 0
    for step in range(3000):
        level = c.sample(step % 8, rng)
        c.record(level, bool(result_rng.random() < 0.9))
        n_records += 1
    stats = c.stats()
    total = sum(stats[f"curriculum/episodes/{s}"] for s in STAGES)
    assert total == n_records == sum(c.episodes)
    assert c.stage == len(STAGES) - 1          # 90% success passes every stage
    for s in range(len(STAGES)):
        assert len(c.windows[s]) == min(c.episodes[s], 10)


def test_levels_outside_the_stages_are_not_counted():
    c = make()
    assert c.record(LEVELS.index("medium"), True) is False
    assert sum(c.episodes) == 0
    with pytest.raises(IndexError):
        c.record(len(LEVELS), True)


def test_sample_returns_levels_of_current_stage_at_stage_zero():
    c = make(replay_share=1.0)
    rng = np.random.default_rng(0)
    samples = [c.sample(0, rng) for _ in range(500)]
    assert all(LEVELS[i] == "simplest" for i in samples)   # no replay at stage 0
    assert set(samples) == set(c.stage_levels[0].tolist())   # uniform over the stage's levels


def test_replay_share_matches_config():
    c = make(replay_share=0.25)
    c._stage = 2
    rng = np.random.default_rng(123)
    n = 20_000
    stages = np.array([c.level_stage[c.sample(0, rng)] for _ in range(n)])
    assert abs(np.mean(stages < 2) - 0.25) < 0.015
    # Replays are spread uniformly over the earlier stages.
    assert abs(np.mean(stages == 0) - 0.125) < 0.015
    assert abs(np.mean(stages == 1) - 0.125) < 0.015


def test_replay_by_failure_favours_the_stage_failed_more():
    """Stage 0 won every time (weight 0 + 0.05), stage 1 won 4 times in 10 (0.6 + 0.05): replays
    split 0.05 : 0.65, where the uniform rule splits them evenly."""
    c = make(replay_share=1.0, replay_by_failure=True)
    c._stage = 2
    for _ in range(10):
        c.record(first_level(c, 0), True)
    for k in range(10):
        c.record(first_level(c, 1), k < 4)
    assert c.stage == 2
    rng = np.random.default_rng(5)
    stages = np.array([c.level_stage[c.sample(0, rng)] for _ in range(20_000)])
    assert abs(np.mean(stages == 0) - 0.05 / 0.70) < 0.01
    assert abs(np.mean(stages == 1) - 0.65 / 0.70) < 0.01


def test_sample_is_deterministic_given_rng():
    c = make()
    c._stage = 1
    a = [c.sample(i, np.random.default_rng(7)) for i in range(3)]
    b = [c.sample(i, np.random.default_rng(7)) for i in range(3)]
    assert a == b


@pytest.mark.parametrize("level_priority", [0.0, 0.5])
def test_state_dict_roundtrip_through_json_is_exact(level_priority):
    c = make(level_priority=level_priority)
    rng = np.random.default_rng(3)
    result_rng = np.random.default_rng(4)
    for step in range(137):
        c.record(c.sample(step, rng), bool(result_rng.random() < 0.85))
    assert c.stage >= 1
    state = json.loads(json.dumps(c.state_dict()))

    restored = make(level_priority=level_priority)
    restored.load_state_dict(state)
    assert restored.stage == c.stage and restored.stage_name == c.stage_name
    every_level = np.arange(len(LEVELS))
    np.testing.assert_array_equal(restored.level_scores(every_level), c.level_scores(every_level))
    assert c.level_scores(every_level).min() < 0.25      # some levels have outcomes to restore
    assert restored.stats() == c.stats()
    assert restored.state_dict() == c.state_dict()

    # Both continue identically given identically seeded generators.
    rng_a, rng_b = np.random.default_rng(99), np.random.default_rng(99)
    res_a, res_b = np.random.default_rng(5), np.random.default_rng(5)
    for step in range(500):
        la, lb = c.sample(step, rng_a), restored.sample(step, rng_b)
        assert la == lb
        success_a, success_b = bool(res_a.random() < 0.7), bool(res_b.random() < 0.7)
        assert c.record(la, success_a) == restored.record(lb, success_b)
    assert restored.state_dict() == c.state_dict()


def test_load_state_dict_rejects_other_config():
    state = make().state_dict()
    with pytest.raises(ValueError, match="different config"):
        make(threshold=0.5).load_state_dict(state)
    with pytest.raises(ValueError, match="different config"):
        Curriculum(CurriculumConfig(stages=("simplest", "simpler"), window=10, threshold=0.8,
                                    min_episodes=20, replay_share=0.25),
                   LEVELS).load_state_dict(state)


@pytest.mark.parametrize("kwargs, field", [
    ({"stages": ()}, "stages"),
    ({"stages": ("simplest", "simplest")}, "stages"),
    ({"window": 0}, "window"),
    ({"min_episodes": 0}, "min_episodes"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": -0.1}, "threshold"),
    ({"replay_share": -0.01}, "replay_share"),
    ({"replay_share": 2.0}, "replay_share"),
    ({"level_priority": 1.01}, "level_priority"),
    ({"level_priority": -0.5}, "level_priority"),
])
def test_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        CurriculumConfig(**kwargs)


def test_stage_without_levels_is_an_error():
    with pytest.raises(ValueError, match="'simple'"):
        Curriculum(CurriculumConfig(stages=STAGES), ["simplest", "simpler"])


def test_preview_share_plays_later_stages_uniformly():
    c = make(replay_share=0.25, preview_share=0.4)
    c._stage = 1
    rng = np.random.default_rng(5)
    n = 20_000
    stages = np.array([c.level_stage[c.sample(0, rng)] for _ in range(n)])
    assert abs(np.mean(stages == 0) - 0.25) < 0.015                 # replays
    assert abs(np.mean(stages == 2) - 0.75 * 0.4) < 0.015           # previews of the others
    assert abs(np.mean(stages == 1) - 0.75 * 0.6) < 0.015
    c._stage = 2                                                      # the last stage: nothing later
    assert not any(c.level_stage[c.sample(0, rng)] > 2 for _ in range(2_000))


def test_without_previews_sampling_draws_what_it_drew_before():
    """preview_share 0 takes no extra random draws: existing runs sample the same levels as
    the sampler before previews existed (written out here)."""
    def sampler_before_previews(c, rng):
        stage = c.stage
        if stage > 0 and rng.random() < c.config.replay_share:
            stage = int(rng.integers(stage))
        levels = c.stage_levels[stage]
        return int(levels[rng.integers(len(levels))])

    c = make(preview_share=0.0)
    for stage in range(3):
        c._stage = stage
        a, b = np.random.default_rng(3), np.random.default_rng(3)
        assert [c.sample(0, a) for _ in range(200)] == [sampler_before_previews(c, b)
                                                        for _ in range(200)]
        assert a.random() == b.random()


def test_a_stage_mastered_in_previews_is_passed_at_once():
    c = make(preview_share=0.5)
    for _ in range(20):                              # stage 1 mastered through previews
        c.record(first_level(c, 1), True)
    assert c.stage == 0
    for _ in range(20):
        advanced = c.record(first_level(c, 0), True)
    assert advanced and c.stage == 2                 # 0 -> 1 -> 2 on the same episode


def test_level_scores_are_the_learning_potential_of_the_last_outcomes():
    c = make(level_priority=1.0)
    always, never, half = (int(level) for level in c.stage_levels[0])
    for won in [True] * 8:
        c.record(always, won)
    for won in [True] * 30 + [False] * 8:        # only the last 8 outcomes count
        c.record(never, won)
    for won in [True, False] * 4:
        c.record(half, won)
    medium = LEVELS.index("medium")             # not a stage: never recorded
    c.record(medium, True)
    scores = c.level_scores(np.array([always, never, half, first_level(c, 1), medium]))
    np.testing.assert_allclose(scores, [0.0, 0.0, 0.25, 0.25, 0.25])


def test_level_priority_draws_levels_in_proportion_to_their_scores():
    # stage 0's three levels get the scores 0, 1/4 and 3/16 from their outcomes
    c = make(level_priority=1.0, replay_share=0.0)
    a, b, d = (int(level) for level in c.stage_levels[0])
    for won in [True] * 8:
        c.record(a, won)                            # p = 1: score 0
    for won in [True, True, False, False]:
        c.record(b, won)                            # p = 1/2: score 1/4
    for won in [True, False, False, False]:
        c.record(d, won)                            # p = 1/4: score 3/16
    assert c.stage == 0
    weights = np.array([0.0, 0.25, 0.1875]) + 0.01
    rng = np.random.default_rng(0)
    draws = [c.sample(0, rng) for _ in range(20_000)]
    frequencies = np.array([draws.count(level) for level in (a, b, d)]) / len(draws)
    np.testing.assert_allclose(frequencies, weights / weights.sum(), atol=0.01)

    # level_priority 0.5: half of the draws are uniform
    c_half = make(level_priority=0.5, replay_share=0.0)
    c_half.level_results = c.level_results
    draws = [c_half.sample(0, rng) for _ in range(20_000)]
    frequencies = np.array([draws.count(level) for level in (a, b, d)]) / len(draws)
    np.testing.assert_allclose(frequencies, 0.5 * weights / weights.sum() + 0.5 / 3, atol=0.01)


def test_episodes_started_along_a_plan_are_counted_apart_from_the_curriculum():
    from ninjarl.train.callbacks import MetricsCallback
    curriculum = Curriculum(CurriculumConfig(stages=("simplest", "simpler"), window=4,
                                             min_episodes=1, threshold=0.5),
                            ["simplest", "simpler"])
    metrics = MetricsCallback(["simplest", "simpler"], 100, curriculum=curriculum)
    metrics.locals = {"dones": np.array([True, True, False]), "infos": [
        {"is_success": True, "level_index": 0, "start_frame": 40},     # along a plan: a win
        {"is_success": False, "level_index": 0, "start_frame": 0},     # from the spawn
        {}]}
    metrics._on_step()
    assert list(curriculum.windows[0]) == [False] and curriculum.stage == 0
    assert list(metrics.results["simplest"]) == [False] and metrics.episodes == 1
    assert metrics.plan_start_episodes == 1 and list(metrics.plan_start_results) == [True]
    restored = MetricsCallback(["simplest", "simpler"], 100)
    restored.load_state(metrics.state())
    assert restored.state() == metrics.state()
