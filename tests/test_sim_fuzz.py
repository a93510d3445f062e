"""Fuzzing the simulator: damaged maps either fail with FormatError or simulate cleanly.

A map that parses may still be strange (spawn inside a wall, entities outside the world,
overlapping death balls, random tile ids); the compiled simulator must neither crash nor
produce non-finite positions on it. The slow variant re-runs the fuzz in a subprocess with
numba's bounds checking on, which turns any out-of-range array access into an error.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ninjarl.sim import FormatError, build_level, read_replay, simulate_inputs
from ninjarl.sim.mapfile import EntitySpec, write_map

from conftest import MAPS, REPLAYS, SCENARIOS

FUZZ = settings(max_examples=150, derandomize=True, deadline=None, database=None)
SEED_MAPS = [
    (MAPS / "official" / "005_toggley_tutor").read_bytes(),
    (SCENARIOS / "drone_doors.map").read_bytes(),
    (SCENARIOS / "deathball_repel.map").read_bytes(),
    (SCENARIOS / "shove_thwump.map").read_bytes(),
    (SCENARIOS / "tile_gallery_floor.map").read_bytes(),
    read_replay(REPLAYS / "bc" / "20251023_093619_train_mine_heavy_100008.replay").map_bytes,
]


def simulate_damaged_map(data: bytes, inputs: np.ndarray) -> None:
    """The property: FormatError, or a level that simulates with finite state."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            level = build_level(data, "fuzz")
    except FormatError as e:
        assert e.path == "fuzz"
        return
    trace = simulate_inputs(level, inputs)
    for key in ("x", "y", "xspeed", "yspeed", "ent_x", "ent_y"):
        assert np.isfinite(trace[key]).all(), key


@st.composite
def damaged_maps(draw):
    data = bytearray(draw(st.sampled_from(SEED_MAPS)))
    for _ in range(draw(st.integers(1, 8))):
        # damage the tiles, the count block, the spawn and the entity records alike
        i = draw(st.integers(184, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    cut = draw(st.integers(1180, len(data) + 30))
    tail = draw(st.binary(max_size=60))
    return bytes(data[:cut]) + tail


ENTITY_TYPES = (1, 2, 3, 5, 6, 8, 10, 11, 14, 17, 20, 21, 24, 25, 26, 28)


@st.composite
def random_levels(draw):
    """Valid maps with random tiles and random entities anywhere, including off-world."""
    tiles = np.array(draw(st.lists(st.integers(0, 40), min_size=42 * 23, max_size=42 * 23)),
                     np.uint8).reshape(42, 23)
    tiles[draw(st.integers(0, 41)):, draw(st.integers(0, 22)):] = 0    # an open region
    pos = st.integers(0, 255).map(lambda u: 6 * u)
    entities = []
    for _ in range(draw(st.integers(0, 30))):
        t = draw(st.sampled_from(ENTITY_TYPES))
        spec = EntitySpec(type=t, x=draw(pos), y=draw(pos), orientation=draw(st.integers(0, 7)),
                          mode=draw(st.integers(0, 3)), switch_x=draw(pos), switch_y=draw(pos))
        entities.append(spec)
        if t == 3:
            entities.append(EntitySpec(type=4, x=draw(pos), y=draw(pos), orientation=0, mode=0))
    data = bytearray(write_map(tiles, draw(pos), draw(pos), entities))
    data[1200] = draw(st.integers(0, 12))        # death-ball count byte: enables repulsion
    return bytes(data)


inputs_strategy = st.binary(min_size=50, max_size=400).map(lambda b: np.frombuffer(b, np.uint8))


@FUZZ
@given(damaged_maps(), inputs_strategy)
def test_damaged_maps_fail_cleanly_or_simulate(data, inputs):
    simulate_damaged_map(data, inputs)


@FUZZ
@given(random_levels(), inputs_strategy)
def test_random_levels_simulate(data, inputs):
    simulate_damaged_map(data, inputs)


@FUZZ
@given(st.binary(min_size=0, max_size=2000), inputs_strategy)
def test_random_bytes_fail_cleanly_or_simulate(data, inputs):
    simulate_damaged_map(data, inputs)


@pytest.mark.slow
def test_fuzz_with_numba_bounds_checking(tmp_path):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1")
    # a fresh cache: bounds-checked code must not mix with (or reuse) the normal build
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba-cache")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "damaged_maps or random_bytes or random_levels", "-m", "not slow"],
        env=env, capture_output=True, text=True, cwd=os.path.dirname(__file__))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
