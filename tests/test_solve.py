"""The planner: verified winning plans, determinism, impossible levels, the solve command."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ninjarl.cli import main
from ninjarl.sim import FormatError, build_level, simulate_inputs
from ninjarl.sim.mapfile import EntitySpec, parse_map, write_map
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE, encode_replay, parse_replay, read_replay
from ninjarl.solve import PlannerConfig, solve_level

from conftest import MAPS

SMALL = PlannerConfig(budget_frames=400_000)


@pytest.mark.parametrize("name", ["simple-walk", "only-jump", "jump-then-fall", "switch-simple"])
def test_a_plan_wins_when_replayed_from_the_start(name):
    level = build_level((MAPS / "test" / name).read_bytes(), name)
    result = solve_level(level, SMALL)
    assert result.solved, result.reason
    trace = simulate_inputs(level, result.inputs)
    assert trace["outcome"] == "won" and trace["outcome_frame"] == result.plan_frames
    assert 0 < result.plan_frames <= result.search_frames <= SMALL.budget_frames + 10_000


def test_same_level_and_budget_give_the_same_plan():
    level = (MAPS / "official" / "001_walljumptroduction").read_bytes()
    first, second = solve_level(level, SMALL), solve_level(level, SMALL)
    assert first.solved
    np.testing.assert_array_equal(first.inputs, second.inputs)
    assert first.search_frames == second.search_frames


def test_a_search_from_a_prefix_keeps_the_prefix_and_wins_from_the_start():
    level = build_level((MAPS / "test" / "simple-walk").read_bytes(), "simple-walk")
    plain = solve_level(level, SMALL)
    right = np.full(40, ACTION_TO_INPUT_BYTE[2], np.uint8)        # half way to the exit
    result = solve_level(level, SMALL, prefix=right)
    assert result.solved, result.reason
    np.testing.assert_array_equal(result.inputs[:40], right)
    assert simulate_inputs(level, result.inputs)["outcome"] == "won"
    # the search went on from where the prefix left the ninja, half way: its part is short,
    # and not the plain plan (what a search from the spawn would have appended)
    found = result.inputs[40:]
    assert len(found) < plain.plan_frames - 20
    assert not np.array_equal(found, plain.inputs[:len(found)])


def test_a_prefix_that_ends_the_episode_is_refused():
    level = build_level((MAPS / "test" / "simple-walk").read_bytes(), "simple-walk")
    plan = solve_level(level, SMALL).inputs
    with pytest.raises(ValueError, match="prefix of .* frames ends the episode"):
        solve_level(level, SMALL, prefix=np.concatenate([plan, plan[-1:]]))


def _sealed_exit() -> bytes:
    """simple-walk with its exit door walled in: the switch is reachable, the door is not."""
    data = parse_map((MAPS / "test" / "simple-walk").read_bytes())
    door = next(e for e in data.entities if e.type == 3)
    tiles = data.tiles.copy()
    cx, cy = door.x // 24 - 1, door.y // 24 - 1      # playable cell of the door
    for x in range(cx - 1, cx + 2):
        for y in range(cy - 1, cy + 2):
            if 0 <= x < tiles.shape[0] and 0 <= y < tiles.shape[1]:
                tiles[x, y] = 1
    switch = next(e for e in data.entities if e.type == 4)
    return write_map(tiles, data.spawn_x, data.spawn_y,
                     [EntitySpec(3, door.x, door.y, 0, 0), EntitySpec(4, switch.x, switch.y, 0, 0)])


def test_a_level_without_a_win_is_reported_unsolved_within_its_budget():
    result = solve_level(_sealed_exit(), PlannerConfig(budget_frames=200_000))
    assert not result.solved and result.plan_frames == 0
    assert result.reason in ("budget exhausted", "search space exhausted: no winning plan")
    assert result.search_frames <= 200_000 + 10_000
    slopes = solve_level(MAPS / "test" / "slopes")                  # no exit at all
    assert not slopes.solved and slopes.reason == "the level has no exit door and switch"
    assert slopes.search_frames == 0


def test_bad_input_is_a_format_error():
    with pytest.raises(FormatError):
        solve_level(b"not a map")
    with pytest.raises(ValueError, match="macro_frames"):
        PlannerConfig(macro_frames=(0,))


def test_encoded_replays_read_back():
    level = (MAPS / "test" / "simple-walk").read_bytes()
    inputs = np.array([0, 2, 2, 3, 1], np.uint8)
    replay = parse_replay(encode_replay(level, inputs, True), "x")
    assert replay.format == "compact-v1" and replay.success == 1
    assert replay.map_bytes == level and replay.inputs.tolist() == inputs.tolist()


def test_solve_command_writes_replays_that_replay_to_a_win_and_feed_bc(tmp_path, capsys):
    from ninjarl.train import TrainConfig
    from ninjarl.train.bc import build_bc_dataset

    out = tmp_path / "plans"
    specs = [str(MAPS / "test" / n) for n in ("simple-walk", "only-jump", "long-walk")]
    assert main(["solve", *specs, "--budget-frames", "400000", "--out", str(out)]) == 0
    document = json.loads((out / "solve.json").read_text())
    assert document["categories"]["custom"]["solved"] == 3
    replays = sorted(out.rglob("*.replay"))
    assert [p.stem for p in replays] == ["long-walk", "only-jump", "simple-walk"]
    capsys.readouterr()
    for path in replays:
        assert main(["replay", str(path)]) == 0
        assert "outcome: won\n" in capsys.readouterr().out
        row = next(r for r in document["levels"] if r["id"] == path.stem)
        assert len(read_replay(path).inputs) == row["plan_frames"]
    dataset = build_bc_dataset(replays, TrainConfig(), cache_dir=None, val_fraction=0.34)
    assert len(dataset) > 0 and len(dataset.replay_names) == 3
    assert main(["solve", "nowhere", "--out", str(tmp_path / "x")]) == 2


def test_a_proven_dataset_stores_a_winning_demo_per_level(tmp_path):
    from ninjarl.levels import build_dataset, load_dataset

    unsolved = []
    ds = build_dataset(tmp_path / "ds", 2, 1, categories=("simplest", "simple"), seed=3,
                       solve_budget=400_000, unsolved=unsolved)
    manifest = json.loads((tmp_path / "ds" / "train" / "manifest.json").read_text())
    assert all(r["proven"] for r in manifest["levels"]) and len(manifest["levels"]) == 4
    for record, entry in zip(manifest["levels"], ds.split("train")):
        demo = read_replay(tmp_path / "ds" / "train" / record["demo"])
        assert demo.map_bytes == entry.map_bytes
        trace = simulate_inputs(build_level(entry.map_bytes), demo.inputs)
        assert trace["outcome"] == "won"
    assert len(load_dataset(tmp_path / "ds").split("test")) == 2
    assert all(set(row) == {"split", "category", "id", "seed", "reason"} for row in unsolved)
