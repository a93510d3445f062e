"""Fuzzing the readers: any bytes either parse or raise FormatError, nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ninjarl.sim.errors import FormatError
from ninjarl.sim.mapfile import IMPLEMENTED_TYPES, EntitySpec, parse_map, write_map
from ninjarl.sim.replay import parse_replay

from conftest import ATTRACT_REPLAYS, BC_REPLAYS, MAPS, REPLAYS, SCENARIOS

FUZZ = settings(max_examples=200, derandomize=True, deadline=None, database=None)

SAMPLE_MAPS = [
    MAPS / "test" / "complex-path-switch-required",  # locked and trap doors, one-ways
    MAPS / "official" / "005_toggley_tutor",
    SCENARIOS / "drone_doors.map",
    SCENARIOS / "deathball_repel.map",
]
SAMPLE_REPLAYS = [
    REPLAYS / "bc" / "20251022_142001_train_very_simple_100001.replay",  # v0
    REPLAYS / "bc" / "20251023_093546_train_complex_100001.replay",  # v1
    REPLAYS / "bc" / "20251023_093619_train_mine_heavy_100008.replay",
    REPLAYS / "bc" / "20251023_113733_train_simple_100004.replay",  # unimplemented type 16
    *ATTRACT_REPLAYS,
]
SAMPLES = [p.read_bytes() for p in SAMPLE_MAPS + SAMPLE_REPLAYS]


def _parses_or_format_error(data: bytes) -> None:
    for parse in (parse_map, parse_replay):
        try:
            parse(data, "fuzz")
        except FormatError as e:
            assert e.path == "fuzz"
            assert "\n" not in str(e)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    _parses_or_format_error(data)


@FUZZ
@given(st.binary(min_size=1233, max_size=1600))
def test_random_map_sized_bytes(data: bytes) -> None:
    _parses_or_format_error(data)


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_truncations(sample: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(sample) - 1))
    _parses_or_format_error(sample[:cut])


@pytest.mark.parametrize("path", SAMPLE_REPLAYS, ids=lambda p: p.name)
def test_every_truncated_replay_is_rejected(path: Path) -> None:
    sample = path.read_bytes()
    for cut in range(len(sample)):
        with pytest.raises(FormatError):
            parse_replay(sample[:cut], "cut")


@pytest.mark.parametrize("path", SAMPLE_MAPS, ids=lambda p: p.name)
def test_every_truncated_map_parses_or_is_rejected(path: Path) -> None:
    sample = path.read_bytes()
    for cut in range(len(sample)):
        _parses_or_format_error(sample[:cut])


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 7)), min_size=1, max_size=8),
)
def test_bit_flips(sample: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(sample)
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    _parses_or_format_error(bytes(data))


@FUZZ
@given(
    st.sampled_from([p.read_bytes() for p in SAMPLE_REPLAYS]),
    st.integers(0, 12),
    st.integers(0, 255),
)
def test_header_byte_changes(sample: bytes, position: int, value: int) -> None:
    data = bytearray(sample)
    data[position] = value
    _parses_or_format_error(bytes(data))


@FUZZ
@given(st.sampled_from([p.read_bytes() for p in BC_REPLAYS]), st.binary(min_size=1, max_size=40))
def test_appended_bytes_are_rejected(sample: bytes, extra: bytes) -> None:
    with pytest.raises(FormatError):
        parse_replay(sample + extra)


_position = st.integers(0, 255).map(lambda b: b * 6)


@st.composite
def _entity(draw: st.DrawFn) -> list[EntitySpec]:
    t = draw(st.sampled_from(sorted(IMPLEMENTED_TYPES)))
    x, y = draw(_position), draw(_position)
    orientation = draw(st.integers(0, 7))
    mode = draw(st.integers(0, 3))
    if t == 3:
        return [EntitySpec(3, x, y, orientation, mode), EntitySpec(4, draw(_position), draw(_position), 0, 0)]
    if t == 5:
        return [EntitySpec(5, x, y, orientation, mode, x, y)]
    if t in (6, 8):
        return [EntitySpec(t, x, y, orientation, mode, draw(_position), draw(_position))]
    return [EntitySpec(t, x, y, orientation, mode)]


@FUZZ
@given(
    st.lists(_entity(), max_size=30),
    _position,
    _position,
    st.binary(min_size=42 * 23, max_size=42 * 23),
)
def test_write_parse_round_trip(groups, spawn_x, spawn_y, tile_bytes) -> None:
    entities = [e for group in groups for e in group]
    tiles = np.frombuffer(tile_bytes, np.uint8).reshape(42, 23)
    md = parse_map(write_map(tiles, spawn_x, spawn_y, entities))
    np.testing.assert_array_equal(md.tiles, tiles)
    assert (md.spawn_x, md.spawn_y) == (spawn_x, spawn_y)
    # The writer groups records by type (stably), keeping each exit with its switch.
    by_type = sorted(groups, key=lambda group: group[0].type)
    assert md.entities == tuple(e for group in by_type for e in group)
    assert md.skipped_types == ()
