"""The vector observations, rewards and episode ends checked against values this file computes
itself, from the simulator's raw state arrays (``engine.sim.state`` through the column names of
``ninjarl.sim.layout``) and the navigation arrays of ``ninjarl.nav`` (``engine.navs[level]``),
following GAME_STATE_DOC / REACHABILITY_DOC and RewardConfig's docstring. Nothing here calls the
kernels' helpers (``objective_distance``, ``sub_cell``, ``_potential`` ...).

Mutations these tests were seen to catch. Each was applied to a byte-identical copy of the
package (PYTHONPATH pointing at the copy, its own numba cache), this whole file was run and the
listed tests FAILED, and with the original text back all 55 passed; tests/test_mutants.py (slow)
re-checks the same list. "recorded[...]" = test_observations_match_raw_state_on_recorded_frames,
"rewards[...]" = test_rewards_and_episode_ends_match_raw_state_on_recorded_frames.

observations.py, game_state_kernel
  M1 ``o[3] = _clip1(f[n, VY] / SPEED_NORM)`` -> ``... f[n, VX] ...`` (yspeed reads xspeed):
     recorded[all 19 runs], test_hand_built_ninja_physics
  M2 ``o[25] = 1.0 if switched else 0.0`` -> ``o[25] = 0.0`` (switch flag never set):
     recorded[the 5 bc replays, win_celebrate],
     test_hand_built_objective_before_and_after_the_switch
  M3 ``o[29] = hx / ...`` and ``o[30] = hy / ...`` swapped (hazard x and y):
     recorded[16 runs: all but exploration_100065 and the two launch-pad scenarios],
     test_hand_built_nearest_mine, test_hand_built_hazard_of_each_type[the 7 hazard types],
     test_hand_built_ninja_physics, test_hand_built_objective_before_and_after_the_switch
  M9 ``if st.ent_i[n, e, E_STATE] == 1: return False`` -> ``...: pass`` (safe mines are hazards):
     recorded[bc mine_heavy_100002, mine_heavy_100008, simple_100004, death_freeze,
     mine_edge_kill, random_official_000/005, random_test_minefield, toggle_mine_kill],
     test_hand_built_nearest_mine, test_hand_built_hazard_of_each_type[toggle_mine_kill]
observations.py, reachability_kernel
  M4 ``o[7] = bx / norm ...`` and ``o[8] = by / norm ...`` swapped (direction x and y):
     recorded[the 5 bc replays, random_official_000/005, random_test_minefield,
     win_celebrate], test_hand_built_reachability
  M5 ``o[6] = fraction[lv]`` -> ``o[6] = 0.0`` (reachable fraction dropped):
     recorded[all 19 runs], test_hand_built_reachability,
     test_hand_built_objective_before_and_after_the_switch
rewards.py, step_kernel
  M6 ``r += rew[R_SWITCH]`` -> ``r += 0.0`` (switch bonus not paid):
     rewards[the 5 bc replays, win_celebrate],
     test_every_death_and_timeout_returns_less_than_every_win (a win falls below worst_win)
  M7 ``env_i[n, I_FRAMES] >= max_frames`` -> ``> max_frames`` (time limit one step late):
     test_time_limit_truncates_exactly_at_max_frames,
     test_every_death_and_timeout_returns_less_than_every_win
  M8 ``r += rew[R_DEATH]`` -> ``r += 0.0`` (death penalty not paid):
     rewards[the 11 runs that die]
Tried and not catchable (an equivalent mutant): ``dead = state == ST_DEAD or state == ST_DYING``
-> ``dead = state == ST_DEAD``. A kill sets state 7 (dying) and the ninja's think() turns it into
6 (dead) in the same frame, so no step ends in state 7 (none of the recorded deaths does).

Note: the bc replays are all human wins; the recorded deaths (mine, drone, thwump, death ball)
come from the scenario input traces of tests/data/scenarios (README.md there).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest

from ninjarl.env import Engine, EnvConfig, NinjaEnv, NinjaVecEnv
from ninjarl.env.config import reward_bounds
from ninjarl.sim import build_level, read_replay
from ninjarl.sim.constants import (
    GRAVITY_JUMP,
    T_DEATH_BALL,
    T_EXIT_DOOR,
    T_EXIT_SWITCH,
    T_LOCKED_DOOR,
    T_MINE,
    T_MINI_DRONE,
    T_SHOVE_THWUMP,
    T_THWUMP,
    T_TOGGLE_MINE,
    T_ZAP_DRONE,
)
from ninjarl.sim.layout import (
    AIRBORN,
    CEIL_NX,
    CEIL_NY,
    E_ACTIVE,
    E_STATE,
    E_X,
    E_Y,
    ES_DOOR_OF,
    ES_TYPE,
    FLOOR_BUFFER,
    FLOOR_NX,
    FLOOR_NY,
    GRAVITY,
    JUMP_BUFFER,
    JUMP_DURATION,
    JUMP_INPUT_OLD,
    LP_BUFFER,
    STATE,
    V_LEVEL,
    VX,
    VY,
    WALL_BUFFER,
    WALL_NORMAL,
    WALLED,
    X_OLD,
    Y_OLD,
    X,
    Y,
)
from ninjarl.sim.replay import input_actions

from conftest import BC_REPLAYS, MAPS, SCENARIOS

ATOL = 2e-6                   # the observations are float32, the values here float64
W, H = 1056.0, 600.0          # world size, px
HAZARD_RANGE = 240.0          # px (GAME_STATE_DOC 29-31)
SPEED_NORM = 6.0              # px/frame (GAME_STATE_DOC 2-3)
SUB = 12.0                    # nav sub-cell, px; grid 88 x 50
HAZARDS = (T_MINE, T_TOGGLE_MINE, T_ZAP_DRONE, T_MINI_DRONE, T_DEATH_BALL, T_THWUMP, T_SHOVE_THWUMP)
MINES = (T_MINE, T_TOGGLE_MINE)
# ninja states (sim.constants): 0-5 movement, 6 dead, 7 dying, 8 celebrating, 9 disabled
DEAD_STATES = (6, 7)
WON_STATE = 8
NOOP, LEFT, RIGHT, JUMP, JUMP_LEFT, JUMP_RIGHT = range(6)

GAME_STATE_NAMES = (
    ["x", "y", "xspeed", "yspeed", "immobile", "running", "ground sliding", "jumping", "falling",
     "wall sliding", "airborne", "walled", "wall normal", "jump duration", "jump input old",
     "jump buffer", "floor buffer", "wall buffer", "launch-pad buffer", "floor nx", "floor ny",
     "ceiling nx", "ceiling ny", "jump gravity", "time remaining", "switch activated",
     "objective dx", "objective dy", "objective path distance", "hazard dx", "hazard dy",
     "hazard distance"])
REACHABILITY_NAMES = (
    ["switch distance", "exit distance", "objective distance", "switch reachable",
     "exit reachable", "sub-cell reachable", "reachable fraction", "direction x", "direction y",
     "objective reachable"])


# ---- the independent reference ------------------------------------------------------------------

def _clip(v: float) -> float:
    return min(max(v, -1.0), 1.0)


def _sub_cell(x: float, y: float) -> tuple[int, int]:
    return min(max(math.floor(x / SUB), 0), 87), min(max(math.floor(y / SUB), 0), 49)


def _dist_feature(d: float, max_dist: float) -> float:
    return min(float(d), max_dist) / max_dist if math.isfinite(d) else 1.0


def _switch_and_door(level) -> tuple[int | None, int | None]:
    """Entity indices of the level's (first) exit switch and its exit door."""
    switches = np.flatnonzero(level.ent_si[:, ES_TYPE] == T_EXIT_SWITCH)
    if not len(switches):
        return None, None
    door = int(level.ent_si[switches[0], ES_DOOR_OF])
    assert level.ent_si[door, ES_TYPE] == T_EXIT_DOOR
    return int(switches[0]), door


def _switched(engine, n: int) -> bool:
    """The exit switch has been touched: the simulator deactivates it."""
    st = engine.sim.state
    switch, _ = _switch_and_door(engine.levels[int(st.env_i[n, V_LEVEL])])
    return switch is not None and st.ent_i[n, switch, E_ACTIVE] == 0


def _locked_doors(level) -> list[tuple[int, float, float]]:
    """(entity index, switch x, switch y) of each locked door, in creation (= map) order."""
    entities = np.flatnonzero(level.ent_si[:, ES_TYPE] == T_LOCKED_DOOR)
    records = [e for e in level.map_data.entities if e.type == T_LOCKED_DOOR]
    assert len(entities) == len(records)
    return [(int(k), r.switch_x, r.switch_y) for k, r in zip(entities, records)]


def objective_route(engine, n: int, to_exit: bool, cell) -> tuple[float, tuple | None]:
    """Path distance from sub-cell ``cell`` to the exit door (``to_exit``) or the exit switch
    through the locked doors as they are now (ninjarl.env.objective's docstring): the shorter of
    the way with the closed doors closed and, per closed door, the way to its switch plus the
    way on from there with the doors open; and the door switch's (x, y) when that way passes it
    first (None otherwise)."""
    st = engine.sim.state
    lv = int(st.env_i[n, V_LEVEL])
    nav = engine.navs[lv]
    straight = float((nav.safe_dist_to_exit if to_exit else nav.safe_dist_to_switch)[cell])
    closed = [(j, x, y) for j, (e, x, y) in enumerate(_locked_doors(engine.levels[lv]))
              if st.ent_i[n, e, E_ACTIVE] != 0]
    if not closed:
        return straight, None
    best = float((nav.closed_dist_to_exit if to_exit else nav.closed_dist_to_switch)[cell]), None
    for j, x, y in closed:
        via = (float(nav.closed_dist_to_door_switch[j][cell])
               + float(nav.door_switch_onward[j, int(to_exit)]))
        if via < best[0]:
            best = via, (x, y)
    return best


def objective_distance(engine, n: int, cell) -> float:
    """:func:`objective_route`'s distance to the current objective (switch, then door)."""
    return objective_route(engine, n, _switched(engine, n), cell)[0]


def nearest_hazard(engine, n: int) -> tuple[float, float, float]:
    """(dx, dy, distance) in px to the nearest active hazard within HAZARD_RANGE (strictly
    closer), or (0, 0, HAZARD_RANGE) if none. Safe (state 1) mines do not count."""
    st = engine.sim.state
    level = engine.levels[int(st.env_i[n, V_LEVEL])]
    x, y = st.ninja_f[n, X], st.ninja_f[n, Y]
    best = (0.0, 0.0, HAZARD_RANGE)
    for e in range(level.n_entities):
        t = int(level.ent_si[e, ES_TYPE])
        if t not in HAZARDS or st.ent_i[n, e, E_ACTIVE] == 0:
            continue
        if t in MINES and st.ent_i[n, e, E_STATE] == 1:
            continue
        dx, dy = st.ent_f[n, e, E_X] - x, st.ent_f[n, e, E_Y] - y
        d = math.hypot(dx, dy)
        if d < best[2]:
            best = (dx, dy, d)
    return best


def expected_game_state(engine, n: int, frames: int) -> np.ndarray:
    """GAME_STATE_DOC, index by index, from the raw state; ``frames`` = frames played."""
    st, config = engine.sim.state, engine.config
    max_dist = config.reward.max_distance
    level = engine.levels[int(st.env_i[n, V_LEVEL])]
    f, i = st.ninja_f[n], st.ninja_i[n]
    x, y = f[X], f[Y]
    o = np.zeros(32)
    o[0], o[1] = _clip(x / W * 2 - 1), _clip(y / H * 2 - 1)
    o[2], o[3] = _clip(f[VX] / SPEED_NORM), _clip(f[VY] / SPEED_NORM)
    if 0 <= i[STATE] <= 5:
        o[4 + i[STATE]] = 1.0
    o[10], o[11], o[12] = i[AIRBORN], i[WALLED], f[WALL_NORMAL]
    o[13] = min(i[JUMP_DURATION] / 45.0, 1.0)
    o[14] = i[JUMP_INPUT_OLD]
    for k, col, window in ((15, JUMP_BUFFER, 5), (16, FLOOR_BUFFER, 5), (17, WALL_BUFFER, 5),
                           (18, LP_BUFFER, 4)):
        o[k] = (i[col] + 1) / window if 0 <= i[col] < window else 0.0     # expired = idle
    o[19:23] = f[FLOOR_NX], f[FLOOR_NY], f[CEIL_NX], f[CEIL_NY]
    o[23] = f[GRAVITY] == GRAVITY_JUMP
    o[24] = max(1.0 - frames / config.max_frames, 0.0)
    switched = _switched(engine, n)
    o[25] = switched
    switch, door = _switch_and_door(level)
    target = door if switched else switch
    distance, door_switch = objective_route(engine, n, switched, _sub_cell(x, y))
    if door_switch is not None:
        o[26] = _clip((door_switch[0] - x) / W)
        o[27] = _clip((door_switch[1] - y) / H)
    elif target is not None:
        o[26] = _clip((st.ent_f[n, target, E_X] - x) / W)
        o[27] = _clip((st.ent_f[n, target, E_Y] - y) / H)
    o[28] = _dist_feature(distance, max_dist)
    dx, dy, d = nearest_hazard(engine, n)
    o[29], o[30], o[31] = dx / HAZARD_RANGE, dy / HAZARD_RANGE, d / HAZARD_RANGE
    return o


def expected_reachability(engine, n: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """REACHABILITY_DOC from the nav arrays; also every direction 7-8 may take (the doc does not
    rank equally close neighbours)."""
    st = engine.sim.state
    nav = engine.navs[int(st.env_i[n, V_LEVEL])]
    max_dist = engine.config.reward.max_distance
    sx, sy = _sub_cell(st.ninja_f[n, X], st.ninja_f[n, Y])
    here = objective_distance(engine, n, (sx, sy))
    o = np.zeros(10)
    o[0] = _dist_feature(objective_route(engine, n, False, (sx, sy))[0], max_dist)
    o[1] = _dist_feature(objective_route(engine, n, True, (sx, sy))[0], max_dist)
    o[2] = _dist_feature(here, max_dist)
    o[3], o[4] = nav.switch_reachable, nav.exit_reachable
    o[5] = nav.reachable[sx, sy]
    o[6] = nav.reachable_fraction
    neighbours = {(ox, oy): objective_distance(engine, n, (sx + ox, sy + oy))
                  for ox in (-1, 0, 1) for oy in (-1, 0, 1)
                  if (ox, oy) != (0, 0) and 0 <= sx + ox < 88 and 0 <= sy + oy < 50}
    closest = min(neighbours.values())
    if closest < here:
        directions = [(ox / math.hypot(ox, oy), oy / math.hypot(ox, oy))
                      for (ox, oy), d in neighbours.items() if d == closest]
    else:
        directions = [(0.0, 0.0)]
    o[7:9] = directions[0]
    o[9] = math.isfinite(here)
    return o, directions


def _mismatch(names, got, want, where) -> str:
    bad = np.flatnonzero(np.abs(np.asarray(got, np.float64) - want) > ATOL)
    return f"{where}: " + "; ".join(f"[{k}] {names[k]}: got {got[k]:.7g}, expected {want[k]:.7g}"
                                    for k in bad)


def check_game_state(got, engine, n, frames, where=""):
    want = expected_game_state(engine, n, frames)
    assert np.abs(np.asarray(got, np.float64) - want).max() <= ATOL, \
        _mismatch(GAME_STATE_NAMES, got, want, where)
    return want


def check_reachability(got, engine, n, where=""):
    want, directions = expected_reachability(engine, n)
    got = np.asarray(got, np.float64)
    for d in directions:       # any equally close neighbour is a right answer
        if abs(got[7] - d[0]) <= ATOL and abs(got[8] - d[1]) <= ATOL:
            want[7:9] = d
    assert np.abs(got - want).max() <= ATOL, _mismatch(REACHABILITY_NAMES, got, want, where)
    return want


# ---- recorded runs through NinjaVecEnv ----------------------------------------------------------

@dataclass
class Snapshot:
    """What this file expects after a step, read from the raw state."""
    game_state: np.ndarray
    reachability: tuple[np.ndarray, list]
    switched: bool
    won: bool
    dead: bool
    objective_px: float       # path distance to the objective, capped at max_distance


def snapshot(engine, n, frames) -> Snapshot:
    st = engine.sim.state
    x, y = st.ninja_f[n, X], st.ninja_f[n, Y]
    d = objective_distance(engine, n, _sub_cell(x, y))
    max_dist = engine.config.reward.max_distance
    state = int(st.ninja_i[n, STATE])
    return Snapshot(expected_game_state(engine, n, frames), expected_reachability(engine, n),
                    _switched(engine, n), state == WON_STATE, state in DEAD_STATES,
                    min(d, max_dist) if math.isfinite(d) else max_dist)


@dataclass
class Run:
    """Observed and expected values of every step of one recorded run."""
    name: str
    observed_gs: list = field(default_factory=list)
    observed_re: list = field(default_factory=list)
    expected: list = field(default_factory=list)        # Snapshot per observation
    rewards: list = field(default_factory=list)         # (got, expected) per step
    ends: list = field(default_factory=list)            # (terminated, truncated, expected term.)
    states: set = field(default_factory=set)
    outcome: str = "ongoing"


def play(name, level, actions) -> Run:
    """Play per-frame actions through NinjaVecEnv with action_repeat=1 until the episode ends,
    recording every observation (the terminal one included) next to the independent values."""
    config = EnvConfig(action_repeat=1)
    venv = NinjaVecEnv([level], num_envs=1, config=config, seed=0)
    engine = venv.engine
    run = Run(name)
    obs = venv.reset()
    frames = 0
    prev = snapshot(engine, 0, 0)
    run.observed_gs.append(obs["game_state"][0].copy())
    run.observed_re.append(obs["reachability"][0].copy())
    run.expected.append(prev)

    terminal = {}
    original_reset = engine.reset

    def reset_hook(ids=None, levels=None):          # the raw state just before auto-reset
        terminal["snapshot"] = snapshot(engine, 0, frames + 1)
        terminal["state"] = int(engine.sim.state.ninja_i[0, STATE])
        original_reset(ids, levels)

    engine.reset = reset_hook
    scale, r = config.shaping_scale, config.reward
    for action in actions:
        obs, rewards, dones, infos = venv.step(np.array([action]))
        frames += 1
        if dones[0]:
            now = terminal["snapshot"]
            got_gs = infos[0]["terminal_observation"]["game_state"]
            got_re = infos[0]["terminal_observation"]["reachability"]
            run.states.add(terminal["state"])
        else:
            now = snapshot(engine, 0, frames)
            got_gs, got_re = obs["game_state"][0].copy(), obs["reachability"][0].copy()
            run.states.add(int(engine.sim.state.ninja_i[0, STATE]))
        run.observed_gs.append(got_gs)
        run.observed_re.append(got_re)
        run.expected.append(now)
        # RewardConfig: time per frame, switch bonus once, completion / death, shaping
        # gamma * phi(s') - phi(s) with phi = -scale * d / max_distance, 0 when terminal
        phi = lambda s: -scale * s.objective_px / r.max_distance  # noqa: E731
        end = now.won or now.dead
        want = (r.time_per_frame + (r.switch if now.switched and not prev.switched else 0.0)
                + (r.completion if now.won else 0.0) + (r.death if now.dead else 0.0)
                + config.gamma * (0.0 if end else phi(now)) - phi(prev))
        run.rewards.append((float(rewards[0]), want))
        run.ends.append((bool(engine.terminated[0]), bool(engine.truncated[0]), end))
        prev = now
        if dones[0]:
            run.outcome = "won" if now.won else "dead" if now.dead else "truncated"
            break
    engine.reset = original_reset
    return run


#: bc replays (all human wins): close to mines, drones, thwumps and death balls (the two
#: mine_heavy ones), wall slides (medium_100033, exploration_100065, simple_100004)
RECORDED_BC = ("20251022_142003_train_mine_heavy_100002", "20251022_142128_train_medium_100033",
               "20251022_142237_train_exploration_100065", "20251023_093619_train_mine_heavy_100008",
               "20251023_113733_train_simple_100004")
#: scenario input traces: deaths by mine, toggle mine, drones, thwumps, death ball; a win;
#: launch-pad jumps
RECORDED_SCENARIOS = ("random_official_000_the_basics", "random_official_005_toggley_tutor",
                      "random_test_minefield", "toggle_mine_kill", "mine_edge_kill",
                      "zap_drone_kill", "mini_drone_kill", "death_freeze", "thwump_face_kill",
                      "shove_thwump_core_kill", "deathball_chase", "win_celebrate",
                      "launchpad_up_lpjump", "launchpad_diag_lpjump")
#: scenarios whose inputs end before the episode does (the launch-pad jumps)
ONGOING = ("launchpad_up_lpjump", "launchpad_diag_lpjump")


def _bc_paths():
    paths = [p for p in BC_REPLAYS if p.stem in RECORDED_BC]
    assert len(paths) == len(RECORDED_BC)
    return paths


RUN_NAMES = [f"bc-{p.stem}" for p in _bc_paths()] + list(RECORDED_SCENARIOS)


@pytest.fixture(scope="module")
def recorded_runs() -> dict[str, Run]:
    runs = {}
    for path in _bc_paths():
        replay = read_replay(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            level = build_level(replay.map_bytes, path.name)
        runs[f"bc-{path.stem}"] = play(f"bc-{path.stem}", level, input_actions(replay.inputs))
    for name in RECORDED_SCENARIOS:
        data = np.load(SCENARIOS / f"{name}.npz")
        level = build_level(data["map_data"].tobytes(), name)
        runs[name] = play(name, level, input_actions(data["inputs_raw"]))
    return runs


@pytest.mark.parametrize("name", RUN_NAMES)
def test_observations_match_raw_state_on_recorded_frames(recorded_runs, name):
    run = recorded_runs[name]
    assert run.outcome == ("ongoing" if name in ONGOING else "won" if "win" in name or "bc-" in name
                           else "dead")
    for k, (gs, re, want) in enumerate(zip(run.observed_gs, run.observed_re, run.expected)):
        where = f"{name} frame {k}"
        assert np.abs(gs - want.game_state).max() <= ATOL, \
            _mismatch(GAME_STATE_NAMES, gs, want.game_state, where)
        expected, directions = want.reachability
        ok_dir = any(abs(re[7] - d[0]) <= ATOL and abs(re[8] - d[1]) <= ATOL for d in directions)
        assert ok_dir, f"{where}: direction {re[7:9]} not one of {directions}"
        assert np.abs(re[:7] - expected[:7]).max() <= ATOL and abs(re[9] - expected[9]) <= ATOL, \
            _mismatch(REACHABILITY_NAMES, re, expected, where)


@pytest.mark.parametrize("name", RUN_NAMES)
def test_rewards_and_episode_ends_match_raw_state_on_recorded_frames(recorded_runs, name):
    run = recorded_runs[name]
    for k, ((got, want), (terminated, truncated, end)) in enumerate(zip(run.rewards, run.ends)):
        assert got == pytest.approx(want, abs=ATOL), f"{name} step {k}: reward"
        assert terminated == end and not truncated, f"{name} step {k}: episode flags"
    assert run.ends[-1][0] == (name not in ONGOING), f"{name}: the episode's end"


def test_recorded_runs_exercise_every_feature(recorded_runs):
    """The recorded runs reach the situations the features describe, so a feature that is
    wrong only in them (a swapped axis, a flag stuck at 0) cannot pass unnoticed."""
    runs = recorded_runs.values()
    gs = np.concatenate([[s.game_state for s in run.expected] for run in runs])
    re = np.concatenate([[s.reachability[0] for s in run.expected] for run in runs])
    for k in range(32):
        assert len(np.unique(gs[:, k])) > 1, f"game_state[{k}] {GAME_STATE_NAMES[k]} never varies"
    for k in (0, 1, 2, 3, 4, 6, 7, 8, 9):  # 5: the ninja is always somewhere reachable
        assert len(np.unique(re[:, k])) > 1, f"reachability[{k}] never varies"
    states = set().union(*(run.states for run in runs))
    assert set(range(6)) <= states and WON_STATE in states and states & set(DEAD_STATES)
    assert {run.outcome for run in runs} == {"won", "dead", "ongoing"}
    # the axes differ where a swap would go unseen otherwise
    assert (np.abs(gs[:, 2] - gs[:, 3]) > 0.1).sum() > 100                  # xspeed vs yspeed
    near = gs[:, 31] < 1
    assert near.sum() > 100 and (np.abs(gs[near, 29] - gs[near, 30]) > 0.05).sum() > 100
    assert (np.abs(re[:, 7] - re[:, 8]) > 0.5).sum() > 100                  # direction x vs y
    assert (gs[:, 25] == 1).sum() > 100 and (gs[:, 25] == 0).sum() > 100   # switch flag
    deaths = [run for run in runs if run.outcome == "dead"]
    assert any(run.expected[-1].game_state[31] < 0.1 for run in deaths)     # died at a hazard


# ---- hand-built situations ----------------------------------------------------------------------

MINEFIELD = MAPS / "test" / "minefield"
MF_SWITCH, MF_DOOR = (420.0, 564.0), (492.0, 564.0)


def _engine(source, config=None) -> Engine:
    engine = Engine([source], 1, config or EnvConfig())
    engine.reset()
    return engine


def _place(engine, x, y, vx=0.0, vy=0.0):
    f = engine.sim.state.ninja_f
    f[0, X], f[0, Y], f[0, X_OLD], f[0, Y_OLD], f[0, VX], f[0, VY] = x, y, x, y, vx, vy


def _observe(engine):
    obs = engine.observe()
    return obs["game_state"][0].astype(np.float64), obs["reachability"][0].astype(np.float64)


def test_hand_built_ninja_physics():
    engine = _engine(MINEFIELD)
    st = engine.sim.state
    _place(engine, 354.0, 428.0, vx=3.0, vy=-1.5)
    st.ninja_i[0, STATE], st.ninja_i[0, AIRBORN], st.ninja_i[0, WALLED] = 5, 1, 1
    st.ninja_f[0, WALL_NORMAL] = -1.0
    st.ninja_i[0, JUMP_DURATION], st.ninja_i[0, JUMP_INPUT_OLD] = 9, 1
    st.ninja_i[0, JUMP_BUFFER], st.ninja_i[0, FLOOR_BUFFER] = -1, 0
    st.ninja_i[0, WALL_BUFFER], st.ninja_i[0, LP_BUFFER] = 4, 2
    st.ninja_f[0, FLOOR_NX], st.ninja_f[0, FLOOR_NY] = 0.6, -0.8
    st.ninja_f[0, CEIL_NX], st.ninja_f[0, CEIL_NY] = -0.28, 0.96
    st.ninja_f[0, GRAVITY] = GRAVITY_JUMP
    gs, _ = _observe(engine)
    want = {0: 354 / 1056 * 2 - 1, 1: 428 / 600 * 2 - 1, 2: 0.5, 3: -0.25,
            4: 0, 5: 0, 6: 0, 7: 0, 8: 0, 9: 1, 10: 1, 11: 1, 12: -1, 13: 9 / 45, 14: 1,
            15: 0, 16: 0.2, 17: 1.0, 18: 0.75, 19: 0.6, 20: -0.8, 21: -0.28, 22: 0.96, 23: 1,
            24: 1.0, 25: 0}
    for k, v in want.items():
        assert gs[k] == pytest.approx(v, abs=ATOL), f"[{k}] {GAME_STATE_NAMES[k]}"
    check_game_state(gs, engine, 0, 0)

    # clipping, and the fall gravity / idle buffers
    _place(engine, -30.0, 700.0, vx=-9.0, vy=7.0)
    st.ninja_i[0, JUMP_DURATION] = 60
    st.ninja_i[0, WALL_BUFFER] = st.ninja_i[0, LP_BUFFER] = -1
    st.ninja_f[0, GRAVITY] = 0.06666666666666665
    gs, _ = _observe(engine)
    assert gs[[0, 1, 2, 3, 13, 17, 18, 23]] == pytest.approx([-1, 1, -1, 1, 1, 0, 0, 0], abs=ATOL)
    check_game_state(gs, engine, 0, 0)


def test_hand_built_movement_state_one_hot():
    engine = _engine(MINEFIELD)
    for s in range(10):
        engine.sim.state.ninja_i[0, STATE] = s
        gs, _ = _observe(engine)
        want = np.zeros(6)
        if s < 6:
            want[s] = 1
        assert gs[4:10] == pytest.approx(want), f"state {s}"


def _activate_switch(engine):
    """Put the ninja on the exit switch and play one frame: the simulator takes the switch."""
    _place(engine, MF_SWITCH[0], 566.0)
    engine.step_frames(np.zeros((1, 1), np.int64))
    assert not engine.terminated[0] and _switched(engine, 0)


def test_hand_built_objective_before_and_after_the_switch():
    engine = _engine(MINEFIELD)
    nav = engine.navs[0]
    for switched in (False, True):
        if switched:
            _activate_switch(engine)
        _place(engine, 354.0, 428.0)                     # sub-cell (29, 35)
        gs, re = _observe(engine)
        target = MF_DOOR if switched else MF_SWITCH
        field_ = nav.safe_dist_to_exit if switched else nav.safe_dist_to_switch
        assert np.isfinite(field_[29, 35])
        assert gs[25] == float(switched)
        assert gs[24] == pytest.approx(1 - (1 / 5000 if switched else 0), abs=ATOL)
        assert gs[26] == pytest.approx((target[0] - 354) / 1056, abs=ATOL)
        assert gs[27] == pytest.approx((target[1] - 428) / 600, abs=ATOL)
        assert gs[28] == pytest.approx(min(field_[29, 35], 2000) / 2000, abs=ATOL)
        assert re[2] == gs[28] and re[9] == 1
        assert re[0] == pytest.approx(min(nav.safe_dist_to_switch[29, 35], 2000) / 2000, abs=ATOL)
        assert re[1] == pytest.approx(min(nav.safe_dist_to_exit[29, 35], 2000) / 2000, abs=ATOL)
        check_game_state(gs, engine, 0, int(switched))
        check_reachability(re, engine, 0)


def test_hand_built_objective_through_a_closed_locked_door():
    """005_toggley_tutor: the exit switch lies just behind a locked door next to the spawn, and
    the door's switch is on the far side of the level. While the door is closed the objective is
    the way round by the door switch, not the 48 px through the door; touching the door switch
    opens the door without a jump in the distance (the shaping stays smooth)."""
    engine = _engine(MAPS / "official" / "005_toggley_tutor")
    nav, level = engine.navs[0], engine.levels[0]
    (door, switch_x, switch_y), = _locked_doors(level)
    spawn = _sub_cell(*engine.sim.state.ninja_f[0, [X, Y]])
    assert nav.dist_to_switch[spawn] < 50 and nav.closed_dist_to_switch[spawn] == np.inf
    around = float(nav.closed_dist_to_door_switch[0][spawn]) + float(nav.door_switch_onward[0, 0])
    assert 400 < around < 2000
    gs, re = _observe(engine)
    x, y = engine.sim.state.ninja_f[0, [X, Y]]
    assert gs[26] == pytest.approx((switch_x - x) / 1056, abs=ATOL)       # towards the door
    assert gs[27] == pytest.approx((switch_y - y) / 600, abs=ATOL)        # switch, not the exit
    assert gs[28] == pytest.approx(around / 2000, abs=ATOL)               # switch behind the door
    assert re[0] == re[2] == gs[28]

    _place(engine, switch_x - 14, switch_y)             # beside the door switch, door closed
    before, _ = _observe(engine)
    engine.step_frames(np.zeros((1, 1), np.int64))
    assert engine.sim.state.ent_i[0, door, E_ACTIVE] == 0        # touched: the door opened
    after, _ = _observe(engine)
    assert abs(after[28] - before[28]) * 2000 < 24
    here = _sub_cell(*engine.sim.state.ninja_f[0, [X, Y]])
    assert after[28] == pytest.approx(min(nav.safe_dist_to_switch[here], 2000) / 2000, abs=ATOL)
    switch, _ = _switch_and_door(level)
    assert after[26] == pytest.approx(
        (engine.sim.state.ent_f[0, switch, E_X] - engine.sim.state.ninja_f[0, X]) / 1056, abs=ATOL)


def test_hand_built_nearest_mine():
    engine = _engine(MINEFIELD)
    st, level = engine.sim.state, engine.levels[0]
    mine = {(float(x), float(y)): e for e, (x, y) in enumerate(level.ent_sf)
            if level.ent_si[e, ES_TYPE] == T_MINE}
    _place(engine, 354.0, 428.0)
    gs, _ = _observe(engine)                                    # mine (324, 468): 30-40-50
    assert gs[29:32] == pytest.approx([-30 / 240, 40 / 240, 50 / 240], abs=ATOL)
    st.ent_i[0, mine[(324.0, 468.0)], E_ACTIVE] = 0             # gone: next is (324, 492)
    gs, _ = _observe(engine)
    assert gs[29:32] == pytest.approx([-30 / 240, 64 / 240, math.hypot(30, 64) / 240], abs=ATOL)
    st.ent_i[0, mine[(324.0, 492.0)], E_STATE] = 1              # safe: skipped
    gs, _ = _observe(engine)
    dx, dy, d = nearest_hazard(engine, 0)
    assert (dx, dy) != (-30.0, 64.0) and gs[29:32] == pytest.approx([dx / 240, dy / 240, d / 240],
                                                                    abs=ATOL)
    st.ent_i[0, mine[(324.0, 492.0)], E_STATE] = 2              # toggling: a hazard again
    gs, _ = _observe(engine)
    assert gs[29:32] == pytest.approx([-30 / 240, 64 / 240, math.hypot(30, 64) / 240], abs=ATOL)
    # the range is strict: the right-most mine (408, 552) exactly 240 px away is "none"
    _place(engine, 648.0, 552.0)
    gs, _ = _observe(engine)
    assert gs[29:32] == pytest.approx([0, 0, 1], abs=ATOL)
    _place(engine, 647.0, 552.0)
    gs, _ = _observe(engine)
    assert gs[29:32] == pytest.approx([-239 / 240, 0, 239 / 240], abs=ATOL)
    _place(engine, 600.0, 300.0)
    gs, _ = _observe(engine)
    assert gs[29:32] == pytest.approx([0, 0, 1], abs=ATOL)


@pytest.mark.parametrize("scenario,entity_type,hazard", [
    ("mine_edge_kill", T_MINE, True), ("toggle_mine_kill", T_TOGGLE_MINE, True),
    ("zap_drone_kill", T_ZAP_DRONE, True), ("mini_drone_kill", T_MINI_DRONE, True),
    ("deathball_chase", T_DEATH_BALL, True), ("thwump_face_kill", T_THWUMP, True),
    ("shove_thwump", T_SHOVE_THWUMP, True), ("boost_pad", 24, False),
    ("bounce_block_land", 17, False)])
def test_hand_built_hazard_of_each_type(scenario, entity_type, hazard):
    engine = _engine(SCENARIOS / f"{scenario}.map")
    st, level = engine.sim.state, engine.levels[0]
    e = int(np.flatnonzero(level.ent_si[:, ES_TYPE] == entity_type)[0])
    ex, ey = st.ent_f[0, e, E_X], st.ent_f[0, e, E_Y]
    _place(engine, ex + 25.0, ey - 60.0)                         # the entity is at (-25, +60)
    if entity_type == T_TOGGLE_MINE:
        assert st.ent_i[0, e, E_STATE] == 1                      # toggle mines start safe
        gs, _ = _observe(engine)
        assert gs[29:32] == pytest.approx([0, 0, 1], abs=ATOL)
        st.ent_i[0, e, E_STATE] = 0                              # deadly
    gs, _ = _observe(engine)
    want = [-25 / 240, 60 / 240, 65 / 240] if hazard else [0, 0, 1]
    assert gs[29:32] == pytest.approx(want, abs=ATOL)
    check_game_state(gs, engine, 0, 0)
    # a moved hazard is read where it is now
    st.ent_f[0, e, E_X], st.ent_f[0, e, E_Y] = ex + 25.0 + 100.0, ey - 60.0 - 10.0
    gs, _ = _observe(engine)
    want = [100 / 240, -10 / 240, math.hypot(100, 10) / 240] if hazard else [0, 0, 1]
    assert gs[29:32] == pytest.approx(want, abs=ATOL)
    st.ent_i[0, e, E_ACTIVE] = 0                                 # inactive: not a hazard
    gs, _ = _observe(engine)
    assert gs[29:32] == pytest.approx([0, 0, 1], abs=ATOL)


def test_hand_built_reachability():
    engine = _engine(MINEFIELD)
    nav = engine.navs[0]
    cases = [(354.0, 428.0, (29, 35)), (348.0, 566.0, (29, 47)), (347.999, 566.0, (28, 47)),
             (6.0, 6.0, (0, 0)), (-40.0, 900.0, (0, 49)), (2000.0, -5.0, (87, 0))]
    seen = set()
    for switched in (False, True):
        if switched:
            _activate_switch(engine)
        field_ = nav.safe_dist_to_exit if switched else nav.safe_dist_to_switch
        for x, y, (sx, sy) in cases:
            _place(engine, x, y)
            _, re = _observe(engine)
            here = field_[sx, sy]
            assert re[5] == nav.reachable[sx, sy] and re[9] == np.isfinite(here), (x, y)
            assert re[3] == nav.switch_reachable and re[4] == nav.exit_reachable
            assert re[6] == pytest.approx(nav.reachable_fraction, abs=ATOL)
            assert re[2] == pytest.approx(_dist_feature(here, 2000.0), abs=ATOL)
            check_reachability(re, engine, 0, f"({x}, {y}) switched={switched}")
            seen.add((bool(re[5]), round(float(re[7]), 3), round(float(re[8]), 3)))
    assert (False, 0.0, 0.0) in seen                       # inside the border wall
    assert any(a != b for _, a, b in seen)    # a direction that a swap of x and y changes

    # a level with open space the ninja cannot reach: sub-cells (14, 20..22)
    engine = _engine(MAPS / "test" / "complex-path-switch-required")
    nav = engine.navs[0]
    assert nav.reachable_fraction == pytest.approx(0.9754, abs=1e-4)
    for x, y, (sx, sy) in ((174.0, 258.0, (14, 21)), (174.0, 246.0, (14, 20))):
        assert nav.node[sx, sy] and not nav.reachable[sx, sy]
        _place(engine, x, y)
        _, re = _observe(engine)
        assert re[5] == 0 and re[6] == pytest.approx(nav.reachable_fraction, abs=ATOL)
        check_reachability(re, engine, 0, f"({x}, {y})")
    _place(engine, *engine.levels[0].spawn)
    _, re = _observe(engine)
    assert re[5] == 1 and re[9] == 1
    check_reachability(re, engine, 0, "spawn")


# ---- episode ends and reward honesty ------------------------------------------------------------

def test_time_limit_truncates_exactly_at_max_frames():
    for repeat, max_frames in ((1, 30), (4, 40), (3, 40)):
        env = NinjaEnv([MINEFIELD], EnvConfig(action_repeat=repeat, max_frames=max_frames))
        env.reset()
        frames = 0
        while True:
            _, _, terminated, truncated, info = env.step(NOOP)
            frames += repeat
            assert not terminated
            assert info["frames"] == frames
            assert truncated == (frames >= max_frames), (repeat, frames)
            if truncated:
                break
        assert frames - repeat < max_frames <= frames


#: a win on the minefield with the default action_repeat (4): found by ninjarl.solve's planner
#: with 4-frame macros, stored as (action, steps) runs; it takes the switch on step 104 (the
#: 104th action) and wins on step 110
MINEFIELD_WIN = [(2, 8), (3, 1), (5, 1), (3, 1), (4, 1), (3, 1), (0, 4), (1, 3), (0, 1), (2, 1),
                 (0, 2), (2, 2), (0, 2), (2, 1), (5, 1), (4, 3), (1, 6), (0, 1), (2, 9), (5, 2),
                 (3, 1), (5, 1), (0, 2), (1, 4), (0, 4), (1, 5), (4, 2), (3, 1), (5, 7), (2, 6),
                 (0, 2), (1, 5), (2, 9), (0, 1), (2, 4), (0, 1), (2, 3), (0, 1)]


def _expand(runs):
    return [a for a, k in runs for _ in range(k)]


def _episode(actions, fill):
    """Play actions, then ``fill`` until the episode ends: (undiscounted return, last info)."""
    env = NinjaEnv([MINEFIELD], EnvConfig())
    env.reset()
    total, k = 0.0, 0
    while True:
        _, reward, terminated, truncated, info = env.step(actions[k] if k < len(actions) else fill)
        total += reward
        k += 1
        if terminated or truncated:
            return total, info


def test_every_death_and_timeout_returns_less_than_every_win():
    """A real death and a real time-out, early and late, before and after the switch, return
    less than a win, early or at the time limit, on the same level with the default EnvConfig,
    and every return lies within the bounds of reward_bounds."""
    config = EnvConfig()
    win = _expand(MINEFIELD_WIN)
    assert len(win) == 110 and config.max_steps == 1250
    episodes = {   # name: (actions, then held until the end, outcome, switch taken)
        "early win": (win, NOOP, "won", True),
        # stop beside the open door, wait until the last steps of the time limit, walk in
        "win at the time limit": (win[:105] + [NOOP] * (1247 - 105), RIGHT, "won", True),
        "death at the first mine": ([], RIGHT, "mine", False),
        "late death at the first mine": ([NOOP] * 1200, RIGHT, "mine", False),
        "death after the switch": (win[:104] + [JUMP], NOOP, "mine", True),
        "timeout at the spawn": ([], NOOP, "timeout", False),
        "timeout beside the open door": (win[:105], NOOP, "timeout", True),
    }
    returns = {}
    for name, (actions, fill, outcome, switched) in episodes.items():
        total, info = _episode(actions, fill)
        assert info["switch_activated"] == switched, name
        if outcome == "won":
            assert info["is_success"], name
        elif outcome == "mine":
            assert info["death_cause"] == "mine" and not info["is_success"], name
        else:
            assert info["frames"] == config.max_frames and not info["is_success"], name
        returns[name] = (outcome, total, info["frames"])
    assert returns["win at the time limit"][2] == config.max_frames      # on the last step
    assert returns["late death at the first mine"][2] > 4800
    wins = [r for outcome, r, _ in returns.values() if outcome == "won"]
    failures = [r for outcome, r, _ in returns.values() if outcome != "won"]
    assert max(failures) < min(wins), returns
    # within the promised bounds, relative to -phi(s0) = scale * d(spawn) / max_distance
    nav = Engine([MINEFIELD], 1, config).navs[0]
    d0 = float(nav.safe_dist_to_switch[_sub_cell(36.0, 564.0)])
    phi0 = -config.shaping_scale * min(d0, 2000.0) / 2000.0
    worst_win, best_death, best_timeout = reward_bounds(config)
    for name, (outcome, r, _) in returns.items():
        if outcome == "won":
            assert r + phi0 >= worst_win - 1e-5, (name, r + phi0, worst_win)
        else:
            bound = best_death if outcome == "mine" else best_timeout
            assert r + phi0 <= bound + 1e-5, (name, r + phi0, bound)
