"""The ``hazards`` observation checked against lists this file builds itself from the raw
entity arrays, following HAZARDS_DOC (the kernel's helpers are not called)."""
from __future__ import annotations

import numpy as np
import pytest

from ninjarl.env import Engine, EnvConfig, NinjaEnv
from ninjarl.sim.constants import T_MINE
from ninjarl.sim.layout import E_ACTIVE, E_X, E_Y, ES_TYPE, X, Y
from test_surroundings import MINEFIELD, _is_hazard, _place
from test_surroundings import _engine as _engine_with

from conftest import MAPS

SLOTS, FEATURES, RANGE = 8, 3, 240.0
CONFIG = EnvConfig(observations=("game_state", "reachability", "hazards"))


def _engine(source) -> Engine:
    return _engine_with(source, CONFIG)


def _slots(engine) -> np.ndarray:
    """[slot, feature] of env 0's hazards list."""
    return engine.observe()["hazards"][0].astype(np.float64).reshape(SLOTS, FEATURES)


def expected_slots(engine) -> np.ndarray:
    st, level = engine.sim.state, engine.levels[0]
    x, y = float(st.ninja_f[0, X]), float(st.ninja_f[0, Y])
    near = []
    for e in range(len(level.ent_si)):
        if not _is_hazard(engine, e):
            continue
        dx, dy = float(st.ent_f[0, e, E_X]) - x, float(st.ent_f[0, e, E_Y]) - y
        if dx * dx + dy * dy < RANGE * RANGE:
            near.append((dx * dx + dy * dy, e, dx, dy))
    out = np.zeros((SLOTS, FEATURES))
    for slot, (_, _, dx, dy) in enumerate(sorted(near)[:SLOTS]):
        out[slot] = (dx / RANGE, dy / RANGE, 1.0)
    return out


def test_hand_built_hazards_on_the_minefield():
    engine = _engine(MINEFIELD)
    level = engine.levels[0]
    mine = {(float(x), float(y)): e for e, (x, y) in enumerate(level.ent_sf)
            if level.ent_si[e, ES_TYPE] == T_MINE}
    _place(engine, 354.0, 428.0)
    slots = _slots(engine)
    np.testing.assert_allclose(slots, expected_slots(engine), atol=1e-6)
    # the nearest mine, (324, 468), is 30 px left and 40 px down: 50 px away
    np.testing.assert_allclose(slots[0], (-30 / RANGE, 40 / RANGE, 1.0), atol=1e-6)
    assert (np.diff(np.hypot(slots[:, 0], slots[:, 1])[slots[:, 2] == 1]) >= -1e-6).all()
    # a mine switched off leaves the list: the next one moves up
    engine.sim.state.ent_i[0, mine[(324.0, 468.0)], E_ACTIVE] = 0
    np.testing.assert_allclose(_slots(engine)[0], slots[1], atol=1e-6)


def test_with_fewer_hazards_than_slots_the_rest_are_empty():
    engine = _engine(MINEFIELD)
    st, level = engine.sim.state, engine.levels[0]
    _place(engine, 354.0, 428.0)
    x, y = st.ninja_f[0, X], st.ninja_f[0, Y]
    hazards = [e for e in range(len(level.ent_si)) if _is_hazard(engine, e)]
    kept = sorted(hazards, key=lambda e: np.hypot(st.ent_f[0, e, E_X] - x,
                                                  st.ent_f[0, e, E_Y] - y))[:3]
    for e in range(len(level.ent_si)):
        st.ent_i[0, e, E_ACTIVE] = int(e in kept)
    slots = _slots(engine)
    assert slots[:, 2].tolist() == [1.0] * 3 + [0.0] * 5 and (slots[3:] == 0.0).all()
    np.testing.assert_allclose(slots, expected_slots(engine), atol=1e-6)
    for e in kept:
        st.ent_i[0, e, E_ACTIVE] = 0
    assert (_slots(engine) == 0.0).all()


@pytest.mark.parametrize("source", [MINEFIELD, MAPS / "official" / "005_toggley_tutor"])
def test_hazards_along_random_play_match_the_independent_values(source):
    """Toggle mines changing state as the ninja plays: every step of a seeded random run
    matches."""
    engine = _engine(source)
    rng = np.random.default_rng(3)
    for _ in range(150):
        engine.step(rng.integers(0, 6, size=1))
        if engine.terminated[0] or engine.truncated[0]:
            engine.reset()
        slots = _slots(engine)
        np.testing.assert_allclose(slots, expected_slots(engine), atol=1e-6)


def test_hazards_is_in_its_declared_space():
    env = NinjaEnv([MINEFIELD], CONFIG)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(6)))
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            env.reset()
