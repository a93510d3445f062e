"""The ``surroundings`` observation checked against values this file computes itself, following
SURROUNDINGS_DOC: solid fractions counted pixel by pixel from the level's tile ids and the
simulator's tile masks, hazards from the raw entity arrays, the way channel from the
``ninjarl.nav`` distance fields. Nothing here calls the kernel's helpers (``solid_fraction``,
``sub_cell``, ``_is_hazard``).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from ninjarl.env import Engine, EnvConfig, NinjaEnv
from ninjarl.env.rewards import I_SWITCH
from ninjarl.sim.constants import (
    T_DEATH_BALL,
    T_MINE,
    T_MINI_DRONE,
    T_SHOVE_THWUMP,
    T_THWUMP,
    T_TOGGLE_MINE,
    T_ZAP_DRONE,
)
from ninjarl.sim.layout import E_ACTIVE, E_STATE, E_X, E_Y, ES_TYPE, X_OLD, Y_OLD, X, Y
from ninjarl.sim.level import tile_solid_masks
from test_observations import objective_route

from conftest import MAPS

COLS, ROWS, STEP = 15, 9, 24.0
W, H = 1056.0, 600.0
WAY_NORM = 96.0
HAZARDS = (T_MINE, T_TOGGLE_MINE, T_ZAP_DRONE, T_MINI_DRONE, T_DEATH_BALL, T_THWUMP, T_SHOVE_THWUMP)
MINEFIELD = MAPS / "test" / "minefield"
CONFIG = EnvConfig(observations=("game_state", "reachability", "surroundings"))


def _engine(source, config: EnvConfig = CONFIG) -> Engine:
    engine = Engine([source], 1, config)
    engine.reset()
    return engine


def _place(engine, x, y):
    f = engine.sim.state.ninja_f
    f[0, X], f[0, Y], f[0, X_OLD], f[0, Y_OLD] = x, y, x, y


def _grid(engine) -> np.ndarray:
    """[row, column, channel] of env 0's surroundings."""
    return engine.observe()["surroundings"][0].astype(np.float64).reshape(ROWS, COLS, 3)


@functools.lru_cache(maxsize=8)
def _solid_squares_of(tiles: bytes) -> np.ndarray:
    return _solid_squares(np.frombuffer(tiles, np.uint8).reshape(44, 25))


def _solid_squares(tiles) -> np.ndarray:
    """[88, 50]: the solid share of each 12-px square, from the tile masks quadrant by quadrant
    (a 24-px tile holds four 12-px squares)."""
    masks = tile_solid_masks()
    out = np.zeros((88, 50))
    for cx in range(44):
        for cy in range(25):
            mask = masks[tiles[cx, cy]]                  # [local y, local x]
            for qx in range(2):
                for qy in range(2):
                    quadrant = mask[12 * qy:12 * qy + 12, 12 * qx:12 * qx + 12]
                    out[2 * cx + qx, 2 * cy + qy] = quadrant.sum() / 144
    return out


def _is_hazard(engine, e) -> bool:
    st, level = engine.sim.state, engine.levels[0]
    t = level.ent_si[e, ES_TYPE]
    if not st.ent_i[0, e, E_ACTIVE] or t not in HAZARDS:
        return False
    return not (t in (T_MINE, T_TOGGLE_MINE) and st.ent_i[0, e, E_STATE] == 1)


def expected_grid(engine, switched: bool = False) -> np.ndarray:
    st, level = engine.sim.state, engine.levels[0]
    x, y = float(st.ninja_f[0, X]), float(st.ninja_f[0, Y])
    solid = _solid_squares_of(np.ascontiguousarray(level.tiles, np.uint8).tobytes())
    def field(cell):
        return objective_route(engine, 0, switched, cell)[0]
    here = field((min(max(int(x // 12), 0), 87), min(max(int(y // 12), 0), 49)))
    out = np.zeros((ROWS, COLS, 3))
    for row in range(ROWS):
        for col in range(COLS):
            px, py = x + (col - 7) * STEP, y + (row - 4) * STEP
            if not (0 <= px < W and 0 <= py < H):
                out[row, col] = (1.0, 0.0, 1.0)
                continue
            out[row, col, 0] = solid[int(px // 12), int(py // 12)]
            there = field((int(px // 12), int(py // 12)))
            if not np.isfinite(there):
                out[row, col, 2] = 1.0
            elif not np.isfinite(here):
                out[row, col, 2] = -1.0
            else:
                out[row, col, 2] = np.clip((there - here) / WAY_NORM, -1, 1)
    for e in range(len(level.ent_si)):
        if _is_hazard(engine, e):
            col = math.floor((st.ent_f[0, e, E_X] - x) / STEP + 0.5) + 7
            row = math.floor((st.ent_f[0, e, E_Y] - y) / STEP + 0.5) + 4
            if 0 <= col < COLS and 0 <= row < ROWS:
                out[row, col, 1] = 1.0
    return out


def test_hand_built_surroundings_on_the_minefield():
    engine = _engine(MINEFIELD)
    st, level = engine.sim.state, engine.levels[0]
    mine = {(float(x), float(y)): e for e, (x, y) in enumerate(level.ent_sf)
            if level.ent_si[e, ES_TYPE] == T_MINE}
    _place(engine, 354.0, 428.0)
    grid = _grid(engine)
    np.testing.assert_allclose(grid, expected_grid(engine), atol=2e-6)
    # the mine at (324, 468) is 30 px left and 40 px down: column 7 - 1, row 4 + 2
    assert grid[6, 6, 1] == 1.0
    assert grid[4, 7, 2] == 0.0 and grid[4, 7, 0] == 0.0          # the ninja's own free square
    st.ent_i[0, mine[(324.0, 468.0)], E_ACTIVE] = 0
    assert _grid(engine)[6, 6, 1] == 0.0
    # the way channel: downhill leads to the switch (420, 564), lower right of the ninja
    assert grid[5, 8, 2] < 0 or grid[4, 8, 2] < 0
    # near the level's corner, samples outside the world read solid and unreachable
    _place(engine, 30.0, 30.0)
    grid = _grid(engine)
    assert (grid[0, 0] == (1.0, 0.0, 1.0)).all() and (grid[:2, :, 0] == 1.0).all()
    np.testing.assert_allclose(grid, expected_grid(engine), atol=2e-6)


@pytest.mark.parametrize("source", [MINEFIELD, MAPS / "test" / "slopes",
                                    MAPS / "official" / "005_toggley_tutor"])
def test_surroundings_along_random_play_match_the_independent_values(source):
    """Slopes and quarter pipes (fractional solid squares), toggle mines changing state, the
    switch taken or not (on the minefield the ninja is put on the switch half-way): every step
    of a seeded random run matches."""
    engine = _engine(source)
    rng = np.random.default_rng(7)
    checked = 0
    for step in range(120):
        if step == 60 and source == MINEFIELD:                 # take the switch: way to the door
            _place(engine, 420.0, 566.0)
        engine.step(rng.integers(0, 6, size=1))
        if engine.terminated[0] or engine.truncated[0]:
            engine.reset()
        switched = bool(engine.env_i[0, I_SWITCH])
        np.testing.assert_allclose(_grid(engine), expected_grid(engine, switched), atol=2e-6)
        checked += switched
    assert checked > 0 or source != MINEFIELD


def test_surroundings_sees_fractional_tiles():
    """A slope is neither wall nor air: some square of the slopes map is partly solid."""
    engine = _engine(MAPS / "test" / "slopes")
    values = set()
    for x in np.arange(36.0, 1020.0, 48.0):
        for y in np.arange(36.0, 564.0, 48.0):
            _place(engine, x, y)
            values.update(np.round(_grid(engine)[:, :, 0].ravel(), 3))
    assert any(0.0 < v < 1.0 for v in values)


def test_surroundings_is_in_its_declared_space():
    env = NinjaEnv([MINEFIELD], CONFIG)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            obs, _ = env.reset()
