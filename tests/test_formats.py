"""Map and replay formats (spec §9, §10) checked against the reference's golden data."""

from __future__ import annotations

import json
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ninjarl.sim.errors import FormatError
from ninjarl.sim.mapfile import (
    EntitySpec,
    bundled_map_names,
    bundled_map_path,
    parse_map,
    write_map,
)
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE, decode_inputs, parse_replay, read_replay

from conftest import (
    ATTRACT_REPLAYS,
    BC_REPLAYS,
    DAMAGED_REPLAYS,
    MAP_FILES,
    REPLAYS,
    SCENARIO_MAPS,
    SCENARIOS,
    golden_trace,
)

ALL_REPLAYS = BC_REPLAYS + ATTRACT_REPLAYS


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _empty_map(records: bytes = b"", exits: int = 0) -> bytearray:
    """A minimal valid level: no tiles, spawn at (60, 60), then ``records``."""
    data = bytearray(1230)
    data[1156] = exits
    return data + bytes([0, 10, 10, 0, 0]) + records


def _entity_positions(md) -> tuple[list[int], list[int], list[int]]:
    """Types and load positions as the reference lists them (doors 6/8 at their switch)."""
    types = [e.type for e in md.entities]
    xs = [e.switch_x if e.type in (6, 8) else e.x for e in md.entities]
    ys = [e.switch_y if e.type in (6, 8) else e.y for e in md.entities]
    return types, xs, ys


# --- replays ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_REPLAYS, ids=_ids(ALL_REPLAYS))
def test_replay_map_and_inputs_equal_golden_trace(path: Path) -> None:
    replay = read_replay(path)
    trace = golden_trace(path)
    assert replay.map_bytes == trace["map_data"].tobytes()
    np.testing.assert_array_equal(replay.inputs, trace["inputs_raw"])
    assert replay.inputs.dtype == np.uint8
    hor, jump = decode_inputs(replay.inputs)
    np.testing.assert_array_equal(hor, trace["hor"])
    np.testing.assert_array_equal(jump, trace["jump"])


@pytest.mark.parametrize("path", ALL_REPLAYS, ids=_ids(ALL_REPLAYS))
def test_replay_entities_equal_golden_load_order(path: Path) -> None:
    md = parse_map(read_replay(path).map_bytes, str(path))
    trace = golden_trace(path)
    types, xs, ys = _entity_positions(md)
    assert types == trace["ent_type"].tolist()
    assert xs == trace["ent_x0"].tolist()
    assert ys == trace["ent_y0"].tolist()
    assert (md.spawn_x, md.spawn_y) == (trace["x0"], trace["y0"])


def test_replay_formats_are_detected() -> None:
    formats = Counter(read_replay(p).format for p in BC_REPLAYS)
    assert set(formats) == {"compact-v0", "compact-v1"}
    assert all(read_replay(p).format == "attract" for p in ATTRACT_REPLAYS)
    for p in BC_REPLAYS:
        replay = read_replay(p)
        assert replay.success == (1 if replay.format == "compact-v1" else None)


def test_decoded_example_very_simple_v0() -> None:
    path = REPLAYS / "bc" / "20251022_142001_train_very_simple_100001.replay"
    replay = read_replay(path)
    assert replay.format == "compact-v0"
    assert len(replay.map_bytes) == 1245
    assert replay.inputs.tolist() == [0] * 14 + [4] * 23
    md = parse_map(replay.map_bytes)
    assert (md.spawn_x, md.spawn_y) == (828, 540)
    assert md.entities[:2] == (
        EntitySpec(3, 792, 540, 0, 0),
        EntitySpec(4, 798, 540, 0, 0),
    )


def test_decoded_example_complex_v1() -> None:
    replay = read_replay(REPLAYS / "bc" / "20251023_093546_train_complex_100001.replay")
    assert (replay.format, replay.success) == ("compact-v1", 1)
    assert len(replay.map_bytes) == 1245
    assert len(replay.inputs) == 510
    assert replay.inputs.max() <= 5


def test_decoded_example_attract_0() -> None:
    replay = read_replay(REPLAYS / "attract" / "0")
    assert replay.format == "attract"
    assert replay.success is None
    assert len(replay.map_bytes) == 8 + 1327
    assert replay.map_bytes[:8] == bytes(8)
    assert len(replay.inputs) == 471
    assert Counter(replay.inputs.tolist()) == {4: 207, 2: 94, 0: 82, 3: 79, 5: 8, 1: 1}
    md = parse_map(replay.map_bytes)
    assert (md.spawn_x, md.spawn_y) == (396, 156)


@pytest.mark.parametrize("path", DAMAGED_REPLAYS, ids=_ids(DAMAGED_REPLAYS))
def test_damaged_replay_is_rejected_for_its_size(path: Path) -> None:
    with pytest.raises(FormatError) as info:
        read_replay(path)
    assert info.value.field == "size"
    assert info.value.path == str(path)
    assert "size mismatch" in str(info.value)
    assert str(info.value).startswith(f"{path}: size: ")


def _v1(map_bytes: bytes, inputs: bytes, version: int = 1) -> bytes:
    return struct.pack("<IIIB", version, len(map_bytes), len(inputs), 1) + map_bytes + inputs


@pytest.mark.parametrize(
    "data, field",
    [
        (b"", "header"),
        (b"\x01\x00\x00\x00\x05", "header"),
        (struct.pack("<II", 1, 5), "header"),
        (_v1(bytes(_empty_map()), b"\x00", version=2), "version"),
        (_v1(bytes(_empty_map()), b"\x00")[:-1], "size"),
        (_v1(bytes(_empty_map()), b"\x00") + b"\x00", "size"),
        (struct.pack("<II", 1300, 0) + bytes(1299), "size"),
        (_v1(bytes(1000), b""), "map: length"),
        (_v1(bytes(_empty_map(bytes([10, 1, 1, 9, 0]))), b""), "map: record at byte 1235 (type 10)"),
    ],
)
def test_malformed_replay_bytes(data: bytes, field: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_replay(data, "x.replay")
    assert info.value.field == field
    assert info.value.path == "x.replay"


def test_attract_and_v0_share_the_size_rule() -> None:
    level = bytes(_empty_map())[8:]
    frames = bytes([2, 2, 3, 9])
    demo = bytes([0]) + struct.pack("<II", 34, 1) + struct.pack("<I", 4) + bytes(17) + frames
    attract = struct.pack("<II", len(level), len(demo)) + level + demo
    replay = parse_replay(attract)
    assert replay.format == "attract"
    assert replay.inputs.tolist() == list(frames)
    assert replay.map_bytes == bytes(8) + level

    # An inconsistent frame count means the bytes after the map are plain v0 inputs.
    not_demo = demo[:9] + struct.pack("<I", 5) + demo[13:]
    level = bytes(_empty_map())
    v0 = struct.pack("<II", len(level), len(not_demo)) + level + not_demo
    replay = parse_replay(v0)
    assert replay.format == "compact-v0"
    assert replay.inputs.tobytes() == not_demo


def test_decode_inputs_low_three_bits_left_priority() -> None:
    hor, jump = decode_inputs(np.arange(10, dtype=np.uint8))
    assert hor.dtype == np.int8 and jump.dtype == np.uint8
    assert list(zip(hor.tolist(), jump.tolist())) == [
        (0, 0), (0, 1), (1, 0), (1, 1), (-1, 0), (-1, 1), (-1, 0), (-1, 1), (0, 0), (0, 1),
    ]


def test_action_table() -> None:
    hor, jump = decode_inputs(np.array(ACTION_TO_INPUT_BYTE, dtype=np.uint8))
    assert list(zip(hor.tolist(), jump.tolist())) == [
        (0, 0), (-1, 0), (1, 0), (0, 1), (-1, 1), (1, 1),
    ]


# --- maps ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MAP_FILES + SCENARIO_MAPS, ids=_ids(MAP_FILES + SCENARIO_MAPS))
def test_every_map_file_parses(path: Path) -> None:
    md = parse_map(path.read_bytes(), str(path))
    assert md.tiles.shape == (42, 23) and md.tiles.dtype == np.uint8
    assert md.raw == path.read_bytes()


@pytest.mark.parametrize(
    "path", [p for p in SCENARIO_MAPS if p.with_suffix(".npz").exists()],
    ids=_ids([p for p in SCENARIO_MAPS if p.with_suffix(".npz").exists()]),
)
def test_scenario_entities_equal_golden_load_order(path: Path) -> None:
    md = parse_map(path.read_bytes(), str(path))
    with np.load(path.with_suffix(".npz")) as z:
        types, xs, ys = _entity_positions(md)
        assert types == z["ent_type"].tolist()
        assert xs == z["ent_x0"].tolist()
        assert ys == z["ent_y0"].tolist()
        assert (md.spawn_x, md.spawn_y) == (z["x0"], z["y0"])
        assert z["map_data"].tobytes() == path.read_bytes()


def _load_examples() -> list[dict]:
    return json.loads((SCENARIOS / "load_examples.json").read_text())["examples"]


@pytest.mark.parametrize("example", _load_examples(), ids=lambda e: e["name"])
def test_load_examples(example: dict) -> None:
    data = bytes.fromhex(example["map_hex"])
    md = parse_map(data)
    assert [md.spawn_x, md.spawn_y] == example["spawn"]

    # tiles_not_full lists full-grid cells (x+1, y+1) whose tile is not 1.
    expected = np.ones((42, 23), dtype=np.uint8)
    for gx, gy, tile in example["tiles_not_full"]:
        if 1 <= gx <= 42 and 1 <= gy <= 23:
            expected[gx - 1, gy - 1] = tile
    np.testing.assert_array_equal(md.tiles, expected)

    types, xs, ys = _entity_positions(md)
    assert types == [e["type"] for e in example["entities"]]
    assert xs == [e["x"] for e in example["entities"]]
    assert ys == [e["y"] for e in example["entities"]]
    for spec, ent in zip(md.entities, example["entities"]):
        if "orientation" in ent:
            assert spec.orientation == ent["orientation"]


def test_load_example_doors() -> None:
    md = parse_map((SCENARIOS / "load_example.map").read_bytes())
    locked, trap = md.entities
    # Locked door at the cell edge x=168 (segment 120..144), its switch at (84, 84).
    assert (locked.type, locked.x, locked.y, locked.orientation) == (6, 168, 132, 0)
    assert (locked.switch_x, locked.switch_y) == (84, 84)
    # Trap door centred at (132, 84), orientation 2, switch at (204, 156).
    assert (trap.type, trap.x, trap.y, trap.orientation) == (8, 132, 84, 2)
    assert (trap.switch_x, trap.switch_y) == (204, 156)


def test_regular_door_is_its_own_switch() -> None:
    md = parse_map((SCENARIOS / "drone_doors.map").read_bytes())
    door = next(e for e in md.entities if e.type == 5)
    assert (door.switch_x, door.switch_y) == (door.x, door.y)


def test_tiles_are_indexed_x_then_y() -> None:
    data = _empty_map()
    data[184 + 5 + 42 * 7] = 33
    md = parse_map(bytes(data))
    assert md.tiles[5, 7] == 33
    assert md.tiles.sum() == 33


def test_counts_and_skipped_types() -> None:
    replay = read_replay(REPLAYS / "bc" / "20251023_113733_train_simple_100004.replay")
    assert parse_map(replay.map_bytes).skipped_types == (16,)

    records = bytes([16, 1, 1, 0, 0, 12, 1, 1, 0, 0, 16, 2, 2, 0, 0, 7, 1, 1, 0, 0, 1, 3, 3, 0, 0])
    data = _empty_map(records)
    data[1200] = 4
    md = parse_map(bytes(data))
    assert md.skipped_types == (12, 16)
    assert md.entities == (EntitySpec(1, 18, 18, 0, 0),)
    assert (md.exit_door_count, md.deathball_count) == (0, 4)


def test_door_record_length_heuristic() -> None:
    # Official 10-byte form, then generator 9-byte form (switch y = 0 forces 9).
    records = bytes([6, 10, 10, 0, 0, 7, 20, 21, 0, 0])
    records += bytes([8, 11, 11, 2, 0, 2, 30, 0, 2])
    records += bytes([2, 5, 5, 0, 0])
    md = parse_map(bytes(_empty_map(records)))
    assert md.entities == (
        EntitySpec(6, 60, 60, 0, 0, 120, 126),
        EntitySpec(8, 66, 66, 2, 0, 180, 0),
        EntitySpec(2, 30, 30, 0, 0),
    )


def test_exit_switch_is_read_five_n_bytes_further() -> None:
    records = bytes([3, 1, 1, 0, 0, 3, 2, 2, 0, 0, 4, 11, 11, 0, 0, 4, 12, 12, 0, 0])
    md = parse_map(bytes(_empty_map(records, exits=2)))
    assert md.entities == (
        EntitySpec(3, 6, 6, 0, 0),
        EntitySpec(4, 66, 66, 0, 0),
        EntitySpec(3, 12, 12, 0, 0),
        EntitySpec(4, 72, 72, 0, 0),
    )


@pytest.mark.parametrize(
    "data, field, problem",
    [
        (bytes(1232), "length", "1232 bytes"),
        (bytes(_empty_map(bytes([3, 1, 1, 0, 0]), exits=1)), "record at byte 1235 (type 3)", "past the end"),
        (bytes(_empty_map(bytes([6, 1, 1, 0, 0, 7, 2]))), "record at byte 1235 (type 6)", "past the end"),
        (bytes(_empty_map(bytes([8, 1, 1, 8, 0, 9, 2, 2, 0, 0]))), "record at byte 1235 (type 8)", "orientation 8"),
        (bytes(_empty_map(bytes([26, 1, 1, 0, 4]))), "record at byte 1235 (type 26)", "mode 4"),
        (bytes(_empty_map(bytes([14, 1, 1, 255, 0]))), "record at byte 1235 (type 14)", "orientation 255"),
    ],
)
def test_malformed_map_bytes(data: bytes, field: str, problem: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_map(data, "bad.map")
    assert info.value.field == field
    assert problem in info.value.problem
    assert str(info.value) == f"bad.map: {field}: {info.value.problem}"
    assert "\n" not in str(info.value)


def test_positions_outside_the_world_are_kept() -> None:
    md = parse_map(bytes(_empty_map(bytes([1, 255, 255, 0, 0]))))
    assert md.entities == (EntitySpec(1, 1530, 1530, 0, 0),)


def test_trailing_partial_record_is_ignored() -> None:
    md = parse_map(bytes(_empty_map(bytes([1, 2, 2, 0]))))
    assert md.entities == ()


# --- writer ----------------------------------------------------------------------------


def _round_trip(md):
    return parse_map(write_map(md.tiles, md.spawn_x, md.spawn_y, md.entities))


@pytest.mark.parametrize("path", MAP_FILES + SCENARIO_MAPS, ids=_ids(MAP_FILES + SCENARIO_MAPS))
def test_write_parse_round_trip_official_layout(path: Path) -> None:
    md = parse_map(path.read_bytes())
    again = _round_trip(md)
    np.testing.assert_array_equal(again.tiles, md.tiles)
    assert (again.spawn_x, again.spawn_y) == (md.spawn_x, md.spawn_y)
    # These files already use the official layout, so even the order is kept.
    assert again.entities == md.entities
    assert again.deathball_count == sum(e.type == 25 for e in md.entities)


@pytest.mark.parametrize("path", ALL_REPLAYS, ids=_ids(ALL_REPLAYS))
def test_write_parse_round_trip_replay_maps(path: Path) -> None:
    md = parse_map(read_replay(path).map_bytes)
    again = _round_trip(md)
    np.testing.assert_array_equal(again.tiles, md.tiles)
    assert (again.spawn_x, again.spawn_y) == (md.spawn_x, md.spawn_y)
    # Generator maps put each switch right after its exit, so only the order may change.
    assert Counter(again.entities) == Counter(md.entities)
    assert _round_trip(again).entities == again.entities


def test_write_map_layout() -> None:
    tiles = np.zeros((42, 23), dtype=np.uint8)
    tiles[0, 0], tiles[41, 22] = 1, 37
    entities = [
        EntitySpec(6, 60, 60, 2, 0, 120, 126),
        EntitySpec(3, 12, 12, 0, 0),
        EntitySpec(4, 18, 18, 0, 0),
        EntitySpec(1, 30, 30, 0, 0),
        EntitySpec(25, 36, 36, 0, 0),
    ]
    data = write_map(tiles, 96, 102, entities)
    assert data[:184] == bytes(184)
    assert data[184] == 1 and data[1149] == 37
    counts = struct.unpack_from("<40H", data, 1150)
    assert {t: n for t, n in enumerate(counts) if n} == {0: 1, 1: 1, 3: 1, 4: 1, 6: 1, 7: 1, 25: 1}
    assert data[1156] == 1 and data[1200] == 1
    assert data[1230:] == bytes(
        [0, 16, 17, 0, 0, 1, 5, 5, 0, 0, 3, 2, 2, 0, 0, 4, 3, 3, 0, 0,
         6, 10, 10, 2, 0, 7, 20, 21, 0, 0, 25, 6, 6, 0, 0]
    )


def test_write_map_door_switch_at_y_zero_uses_nine_bytes() -> None:
    entities = [EntitySpec(2, 6, 6, 0, 0), EntitySpec(8, 60, 60, 2, 0, 120, 0), EntitySpec(10, 6, 6, 0, 0)]
    md = parse_map(write_map(np.zeros((42, 23), np.uint8), 6, 6, entities))
    assert md.entities == tuple(entities)


@pytest.mark.parametrize(
    "entities, spawn, field",
    [
        ([], (7, 6), "spawn_x"),
        ([], (6, 1536), "spawn_y"),
        ([EntitySpec(1, 5, 6, 0, 0)], (6, 6), "x"),
        ([EntitySpec(6, 6, 6, 0, 0, 6, 1)], (6, 6), "switch_y"),
        ([EntitySpec(3, 6, 6, 0, 0)], (6, 6), "entities[0]"),
        ([EntitySpec(4, 6, 6, 0, 0)], (6, 6), "entities[0]"),
        ([EntitySpec(16, 6, 6, 0, 0)], (6, 6), "entities[0]"),
        ([EntitySpec(10, 6, 6, 8, 0)], (6, 6), "entities[0]"),
        ([EntitySpec(14, 6, 6, 0, 4)], (6, 6), "entities[0]"),
        ([EntitySpec(2, 6, 6, 256, 0)], (6, 6), "orientation"),
    ],
)
def test_write_map_rejects_unrepresentable_input(entities, spawn, field) -> None:
    with pytest.raises(FormatError) as info:
        write_map(np.zeros((42, 23), np.uint8), *spawn, entities)
    assert field in info.value.field or field in info.value.problem


def test_write_map_rejects_bad_tiles() -> None:
    with pytest.raises(FormatError, match="tiles"):
        write_map(np.zeros((23, 42), np.uint8), 6, 6)
    with pytest.raises(FormatError, match="tiles"):
        write_map(np.full((42, 23), 256), 6, 6)


# --- bundled data ----------------------------------------------------------------------


def test_bundled_maps() -> None:
    names = bundled_map_names()
    assert len(names) == 16 + 5 + 3
    for name in names:
        parse_map(bundled_map_path(name).read_bytes(), name)
    for name in ("test/simple-walk", "official/000_the_basics", "bench/mine_heavy"):
        assert bundled_map_path(name).is_file()


def test_bundled_maps_match_their_sources() -> None:
    assert bundled_map_path("test/simple-walk").read_bytes() == (
        SCENARIOS.parent / "maps" / "test" / "simple-walk"
    ).read_bytes()
    sources = {
        "bench/simple_99_mines": "20251023_113733_train_simple_100004.replay",
        "bench/mine_heavy": "20251023_093619_train_mine_heavy_100008.replay",
    }
    for name, replay in sources.items():
        assert bundled_map_path(name).read_bytes() == read_replay(REPLAYS / "bc" / replay).map_bytes
    mines = parse_map(bundled_map_path("bench/simple_99_mines").read_bytes())
    assert sum(e.type in (1, 21) for e in mines.entities) == 99


def test_bundled_empty_map() -> None:
    md = parse_map(bundled_map_path("bench/empty").read_bytes())
    assert not md.tiles.any()
    assert md.entities == ()
    assert (md.spawn_x, md.spawn_y) == (528, 552)


def test_bundled_replay() -> None:
    import ninjarl

    bundled = Path(ninjarl.__file__).parent / "data" / "replays" / "very_simple_100001.replay"
    source = REPLAYS / "bc" / "20251022_142001_train_very_simple_100001.replay"
    assert bundled.read_bytes() == source.read_bytes()


def test_unknown_bundled_map_lists_the_names() -> None:
    with pytest.raises(FormatError) as info:
        bundled_map_path("test/no-such-map")
    assert "test/simple-walk" in str(info.value)
    assert "test/no-such-map" in str(info.value)
