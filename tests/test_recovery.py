"""Recovery demonstrations (``ninjarl.train.recovery``): where the planner takes over from a
losing policy, the replays it writes, and how behaviour cloning labels them."""
from __future__ import annotations

import re

import numpy as np
import pytest

from ninjarl.env import EnvConfig, make_vec_env
from ninjarl.sim import FormatError, build_level, read_replay, simulate_inputs
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE, encode_replay
from ninjarl.solve import PlannerConfig, solve_level
from ninjarl.train import TrainConfig, bc
from ninjarl.train.bc import RECOVERIES_FILE, Recovery, build_bc_dataset, read_recoveries
from ninjarl.train.recovery import (
    add_bundled_recoveries,
    make_recoveries,
    takeover_frame,
    write_recovery_bundle,
)

from conftest import MAPS

PLANNER = PlannerConfig(budget_frames=400_000)
NOOP, RIGHT = 0, 2
SPAWN_X = 396.0         # simple-walk's


def test_takeover_is_back_frames_before_a_death_on_a_step_boundary():
    x = y = np.zeros(100)
    assert takeover_frame(x, y, "dead", 100, 4, 48) == 48          # frame 99 - 48 = 51 -> 48
    assert takeover_frame(x, y, "dead", 100, 1, 48) == 51
    assert takeover_frame(x, y, "dead", 30, 4, 48) == 0
    with pytest.raises(ValueError, match="not lost"):
        takeover_frame(x, y, "won", 100, 4, 48)


def test_a_time_out_is_taken_over_where_its_last_stand_began():
    # walks 2 px a frame for 50 frames, then stands still until the time limit
    x = np.concatenate([np.arange(50) * 2.0, np.full(150, 98.0)])
    y = np.zeros(200)
    first_near = int(np.flatnonzero(np.abs(x - 98.0) <= 24.0)[0])   # frame 37
    assert takeover_frame(x, y, "timeout", 200, 1, 48) == first_near
    assert takeover_frame(x, y, "timeout", 200, 4, 48) == first_near // 4 * 4
    still = np.zeros(200)
    assert takeover_frame(still, still, "timeout", 200, 4, 48) == 0


class _StopShort:
    """Holds RIGHT until 100 px right of simple-walk's spawn, then stands: short of the exit,
    it times out."""
    observation_space = None

    def predict(self, obs, deterministic=True):
        x = (obs["game_state"][:, 0] + 1) / 2 * 1056
        return np.where(x < SPAWN_X + 100, RIGHT, NOOP), None


def test_a_losing_policy_gets_a_recovery_that_wins_from_where_it_stood(tmp_path):
    name = "simple-walk"
    level = build_level((MAPS / "test" / name).read_bytes(), name)
    config = TrainConfig(env=EnvConfig(max_frames=400))
    _StopShort.observation_space = make_vec_env([level], 1, config.env).observation_space
    demos = tmp_path / "demos"
    demos.mkdir()
    plan = solve_level(level, PLANNER).inputs
    (demos / f"{name}.replay").write_bytes(encode_replay(level.map_data.raw, plan, True))

    counts = make_recoveries(_StopShort(), [level], demos, config, PLANNER, back_frames=48,
                             val_fraction=0.0, log=None)
    assert (counts["played"], counts["lost"], counts["searched"], counts["recovered"]) == \
        (1, 1, 1, 1)
    recoveries = read_recoveries(demos)
    ((file, recovery),) = recoveries.items()
    assert recovery.demo == f"{name}.replay"
    frame = recovery.label_from_frame
    assert frame > 0 and frame % config.env.action_repeat == 0 and file == f"{name}+r{frame}.replay"
    inputs = read_replay(demos / file).inputs
    # the policy's own inputs up to the takeover (where it had stopped), then a plan that wins
    # from the start
    assert set(inputs[:frame].tolist()) == {ACTION_TO_INPUT_BYTE[RIGHT], ACTION_TO_INPUT_BYTE[NOOP]}
    walked = simulate_inputs(level, inputs[:frame])
    assert walked["outcome"] == "ongoing" and walked["x"][-1] > SPAWN_X + 76
    assert simulate_inputs(level, inputs)["outcome"] == "won"

    # cloning labels the recovery from the takeover only: every sample is the planner's
    data = build_bc_dataset(sorted(demos.glob("*.replay")), config, None, val_fraction=0.0,
                            recoveries=recoveries)
    assert data.replay_names == [f"{name}.replay", file]
    samples = data.replay(file)
    assert samples.step_index[0] == frame // config.env.action_repeat
    assert samples.actions[0] == RIGHT                   # the planner's, not the stand's noop
    unlabelled = build_bc_dataset(sorted(demos.glob("*.replay")), config, None,
                                  val_fraction=0.0).replay(file)
    assert unlabelled.step_index[0] < samples.step_index[0]

    again = make_recoveries(_StopShort(), [level], demos, config, PLANNER, back_frames=48,
                            val_fraction=0.0, log=None)      # rounds add to the file
    assert again["recovered"] == 0 and read_recoveries(demos) == recoveries


def test_recoveries_follow_their_demonstrations_split(tmp_path):
    names = [f"walk{i}.replay" for i in range(5)]
    data = (MAPS / "test" / "simple-walk").read_bytes()
    plan = solve_level(data, PLANNER).inputs
    for name in names:
        (tmp_path / name).write_bytes(encode_replay(data, plan, True))
        (tmp_path / name.replace(".replay", "+r8.replay")).write_bytes(
            encode_replay(data, plan, True))
    recoveries = {n.replace(".replay", "+r8.replay"): Recovery(n, 8) for n in names}
    paths = sorted(tmp_path.glob("*.replay"))
    plain = build_bc_dataset([tmp_path / n for n in names], TrainConfig(), None,
                             val_fraction=0.4, seed=3)
    data = build_bc_dataset(paths, TrainConfig(), None, val_fraction=0.4, seed=3,
                            recoveries=recoveries)
    assert data.val_names == plain.val_names and len(plain.val_names) == 2
    kept = [n for n in data.train_names if n in recoveries]
    assert sorted(kept) == sorted(n.replace(".replay", "+r8.replay") for n in plain.train_names)
    with pytest.raises(ValueError, match="must both be among the replays"):
        build_bc_dataset(paths, TrainConfig(), None, recoveries={"nope.replay": Recovery(
            names[0], 8)})


@pytest.mark.parametrize("text, where", [
    ("[1, 2]", "recoveries"), ("{not json", "recoveries"),
    ('{"a+r8.replay": {"demo": "a.replay", "label_from_frame": -4}}', "a+r8.replay"),
    ('{"a+r8.replay": {"label_from_frame": 8}}', "a+r8.replay"),
])
def test_a_malformed_recoveries_file_names_the_file_and_entry(tmp_path, text, where):
    (tmp_path / RECOVERIES_FILE).write_text(text)
    with pytest.raises(FormatError, match=re.escape(f"{RECOVERIES_FILE}: {where}:")):
        read_recoveries(tmp_path)
    assert bc.read_recoveries(tmp_path / "elsewhere") == {}         # no file: no recoveries


def test_bundled_recoveries_are_taken_only_where_they_win(tmp_path):
    name = "simple-walk"
    level = build_level((MAPS / "test" / name).read_bytes(), name)
    config = TrainConfig(env=EnvConfig(max_frames=400))
    _StopShort.observation_space = make_vec_env([level], 1, config.env).observation_space
    demo = encode_replay(level.map_data.raw, solve_level(level, PLANNER).inputs, True)
    made = tmp_path / "made"
    made.mkdir()
    (made / f"{name}.replay").write_bytes(demo)
    make_recoveries(_StopShort(), [level], made, config, PLANNER, 48, val_fraction=0.0, log=None)
    bundle = tmp_path / "recoveries.npz"
    assert write_recovery_bundle(bundle, made, [level]) == {"recoveries": 1}

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / f"{name}.replay").write_bytes(demo)
    assert add_bundled_recoveries([level], fresh, bundle, log=None) == {"offered": 1, "added": 1}
    assert read_recoveries(fresh) == read_recoveries(made)
    ((file, _),) = read_recoveries(fresh).items()
    assert (fresh / file).read_bytes() == (made / file).read_bytes()

    with np.load(bundle) as z:                  # standing still from the takeover: no win
        arrays = dict(z)
    arrays["inputs"][arrays["label_from_frame"][0]:] = 0
    np.savez(tmp_path / "broken.npz", **arrays)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / f"{name}.replay").write_bytes(demo)
    assert add_bundled_recoveries([level], broken, tmp_path / "broken.npz", log=None) == \
        {"offered": 1, "added": 0}
    assert read_recoveries(broken) == {}
    other = build_level((MAPS / "test" / "only-jump").read_bytes(), "only-jump")
    assert add_bundled_recoveries([other], broken, bundle, log=None)["offered"] == 0


def test_the_shipped_recoveries_win_built_in_training_levels_that_have_a_plan():
    """Every shipped recovery is of a built-in training level (as generated now) that the
    bundled plans solve, takes over after frame 0 on a step boundary, and wins."""
    import hashlib

    from ninjarl.levels import default_dataset
    from ninjarl.train.config import curriculum_recipe_path
    from ninjarl.train.demos import BUNDLED
    from ninjarl.train.recovery import BUNDLED_RECOVERIES

    recipe = TrainConfig.load(curriculum_recipe_path())
    with np.load(BUNDLED, allow_pickle=False) as z:
        planned = {k for k, s in zip(z["sha256"].tolist(), z["solved"]) if s}
    train = {hashlib.sha256(e.map_bytes).hexdigest(): e for e in default_dataset().split("train")}
    with np.load(BUNDLED_RECOVERIES, allow_pickle=False) as z:
        keys, frames, offsets, inputs = (z["sha256"].tolist(), z["label_from_frame"],
                                         z["offsets"], z["inputs"])
    assert len(keys) >= 1000 and set(keys) <= planned
    assert (frames > 0).all() and (frames % recipe.env.action_repeat == 0).all()
    for i in range(0, len(keys), 10):          # every tenth: the full check takes a minute
        entry = train[keys[i]]
        level = build_level(entry.map_bytes, entry.level_id)
        assert simulate_inputs(level, inputs[offsets[i]:offsets[i + 1]])["outcome"] == "won"
