"""Left↔right mirror images of levels: the tile table matches the geometry, mirroring twice
gives the level back, and every bundled human run replayed mirrored follows the reflected
trajectory to the same outcome on the same frame."""
from __future__ import annotations

import numpy as np
import pytest

from ninjarl.sim import build_level, parse_map, read_replay, simulate_inputs, write_map
from ninjarl.sim.constants import WORLD_W
from ninjarl.sim.errors import FormatError
from ninjarl.sim.mapfile import EntitySpec
from ninjarl.sim.mirror import (
    MIRRORED_ACTION,
    MIRRORED_TILE,
    mirror_actions,
    mirror_entity,
    mirror_map,
)
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE

from conftest import BC_REPLAYS, MAP_FILES

DRONE_DIR_MIRROR = np.array([2, 1, 0, 3])    # right <-> left, down and up stay


def mirrored_input_bytes(raw: np.ndarray) -> np.ndarray:
    """Input bytes with the left (4) and right (2) bits swapped."""
    raw = np.asarray(raw, np.uint8)
    return (raw & 0b001) | ((raw & 0b010) << 1) | ((raw & 0b100) >> 1)


def entities_at(trace: dict, frame: int, reflect: bool) -> list[tuple]:
    """(type, x, y) of every entity on ``frame``, sorted; x reflected when asked."""
    x = trace["ent_x"][frame]
    return sorted(zip(trace["ent_type"].tolist(),
                      np.round(WORLD_W - x if reflect else x, 6).tolist(),
                      np.round(trace["ent_y"][frame], 6).tolist()))


def test_tile_table_pairs_reflected_shapes():
    np.testing.assert_array_equal(MIRRORED_TILE[MIRRORED_TILE], np.arange(256))
    # full, empty, top/bottom halves and out-of-table ids are their own mirror images
    for tile in (0, 1, 2, 4, 34, 36, 38, 255):
        assert MIRRORED_TILE[tile] == tile
    # right/left half, 45° slopes, quarter moons and pipes, mild and steep slopes, edges
    for a, b in ((3, 5), (6, 7), (8, 9), (10, 11), (12, 13), (14, 15), (16, 17), (18, 19),
                 (22, 23), (26, 27), (30, 31), (35, 37)):
        assert MIRRORED_TILE[a] == b and MIRRORED_TILE[b] == a


def test_actions_swap_left_and_right():
    np.testing.assert_array_equal(mirror_actions(np.arange(6)), [0, 2, 1, 3, 5, 4])
    mirrored_bytes = mirrored_input_bytes(np.array(ACTION_TO_INPUT_BYTE, np.uint8))
    np.testing.assert_array_equal(mirrored_bytes,
                                  np.array(ACTION_TO_INPUT_BYTE)[MIRRORED_ACTION])


def test_oriented_entities_and_drones():
    pad = mirror_entity(EntitySpec(10, 120, 300, orientation=1, mode=0))
    assert (pad.x, pad.y, pad.orientation) == (WORLD_W - 120, 300, 3)    # down-right -> down-left
    thwump = mirror_entity(EntitySpec(20, 96, 96, orientation=0, mode=0))
    assert thwump.orientation == 4                                      # charges left, not right
    assert mirror_entity(EntitySpec(11, 96, 96, orientation=6, mode=0)).orientation == 6
    drone = mirror_entity(EntitySpec(14, 96, 96, orientation=1, mode=2))
    assert (drone.orientation // 2, drone.mode) == (2, 3)     # starts left, wanders the other way
    door = mirror_entity(EntitySpec(6, 96, 96, orientation=0, mode=0, switch_x=300, switch_y=60))
    assert (door.x, door.orientation, door.switch_x, door.switch_y) == (WORLD_W - 96, 4,
                                                                        WORLD_W - 300, 60)


@pytest.mark.parametrize("source", [*MAP_FILES[:4], BC_REPLAYS[0], BC_REPLAYS[57]],
                         ids=lambda p: p.name)
def test_mirroring_twice_gives_the_level_back(source):
    data = read_replay(source).map_bytes if source.suffix == ".replay" else source.read_bytes()
    original = parse_map(data)
    twice = parse_map(mirror_map(mirror_map(data)))
    np.testing.assert_array_equal(twice.tiles, original.tiles)
    assert (twice.spawn_x, twice.spawn_y) == (original.spawn_x, original.spawn_y)
    assert sorted(twice.entities, key=repr) == sorted(original.entities, key=repr)
    once = parse_map(mirror_map(data))
    np.testing.assert_array_equal(once.tiles, MIRRORED_TILE[original.tiles[::-1]])


def test_every_human_run_mirrored_follows_the_reflected_trajectory():
    # The physics is symmetric up to floating-point rounding: measured, the largest deviation
    # over all 130 runs is 2.3e-9 px (median 5e-13 px).
    for path in BC_REPLAYS:
        replay = read_replay(path)
        run = simulate_inputs(build_level(replay.map_bytes, "original"), replay.inputs)
        image = simulate_inputs(build_level(mirror_map(replay.map_bytes), "mirrored"),
                                mirrored_input_bytes(replay.inputs))
        assert (image["outcome"], image["outcome_frame"]) == (run["outcome"],
                                                              run["outcome_frame"]), path.name
        end = len(run["x"]) if run["outcome_frame"] < 0 else run["outcome_frame"]
        np.testing.assert_allclose(WORLD_W - image["x"][:end], run["x"][:end], atol=1e-6,
                                   rtol=0, err_msg=path.name)
        np.testing.assert_allclose(image["y"][:end], run["y"][:end], atol=1e-6, rtol=0,
                                   err_msg=path.name)
        np.testing.assert_allclose(-image["xspeed"][:end], run["xspeed"][:end], atol=1e-6,
                                   rtol=0, err_msg=path.name)
        assert (entities_at(image, end - 1, reflect=True)
                == entities_at(run, end - 1, reflect=False)), path.name


def test_an_entity_beyond_the_world_cannot_be_mirrored():
    tiles = np.zeros((42, 23), np.uint8)
    data = write_map(tiles, 120, 120, [EntitySpec(1, 1200, 60, 0, 0)])
    with pytest.raises(FormatError) as info:
        mirror_map(data, "far.map")
    assert "far.map" in str(info.value) and "x" in info.value.field
