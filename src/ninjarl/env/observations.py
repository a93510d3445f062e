"""The vector observations: ``game_state`` (physics of the ninja and the way to its
objective), ``reachability`` (from the level's navigation analysis), ``surroundings`` (an
egocentric grid of walls, hazards and the way to the objective around the ninja) and
``hazards`` (the nearest deadly entities, one row each), computed for many environments per
compiled call. Index-by-index layouts: :data:`GAME_STATE_DOC`, :data:`REACHABILITY_DOC`,
:data:`SURROUNDINGS_DOC`, :data:`HAZARDS_DOC`. Images come from :mod:`ninjarl.draw.raster`.
"""
from __future__ import annotations

import math

import numpy as np

from ..nav._kernels import NX, NY, SUB, sub_cell
from ..sim._jit import jit
from ..sim.constants import (
    GRAVITY_JUMP,
    MAX_JUMP_DURATION,
    T_DEATH_BALL,
    T_MINE,
    T_MINI_DRONE,
    T_SHOVE_THWUMP,
    T_THWUMP,
    T_TOGGLE_MINE,
    T_ZAP_DRONE,
    WORLD_H,
    WORLD_W,
)
from ..sim.layout import (
    AIRBORN,
    CEIL_NX,
    CEIL_NY,
    E_ACTIVE,
    E_STATE,
    E_X,
    E_Y,
    ES_TYPE,
    ESF_X0,
    ESF_Y0,
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
    X,
    Y,
)
from ..sim.level import Level, tile_solid_masks
from .objective import objective_distance_at, objective_route
from .rewards import I_FRAMES, I_SWITCH, L_DOOR, L_SWITCH

GAME_STATE_SIZE = 32
REACHABILITY_SIZE = 10
HAZARD_RANGE = 240.0        # px: hazards further away than 10 cells read as "none"
SPEED_NORM = 6.0            # px/frame: faster impacts kill, so this spans the useful range
#: the surroundings grid: columns x rows of samples one tile (24 px) apart, centred on the ninja
#: (a 360 x 216 px window: what the ninja can reach in about a second), 3 channels per sample
SURROUNDINGS_W, SURROUNDINGS_H, SURROUNDINGS_CHANNELS = 15, 9, 3
SURROUNDINGS_SIZE = SURROUNDINGS_W * SURROUNDINGS_H * SURROUNDINGS_CHANNELS
SURROUNDINGS_STEP = 24.0    # px between samples
#: px of path distance that read as +-1 in the grid's way channel: four tiles, so that the
#: downhill direction stays visible across the whole window without saturating next to the ninja
WAY_NORM = 96.0
#: the hazards list: the nearest HAZARD_SLOTS hazards within HAZARD_RANGE, HAZARD_FEATURES each
HAZARD_SLOTS, HAZARD_FEATURES = 8, 3
HAZARDS_SIZE = HAZARD_SLOTS * HAZARD_FEATURES

GAME_STATE_DOC = """Index by index, all float32 in [-1, 1]:
 0 x / 1056 * 2 - 1            1 y / 600 * 2 - 1
 2 xspeed / 6 (clipped)        3 yspeed / 6 (clipped)
 4-9 movement state one-hot: immobile, running, ground sliding, jumping, falling, wall sliding
10 airborne                   11 touching a wall
12 last wall normal (-1 left, +1 right, 0 none yet)
13 jump duration / 45         14 jump input held last frame
15 jump buffer, 16 floor buffer, 17 wall buffer ((frames into the 5-frame window + 1) / 5;
   0 idle or expired: an expired buffer acts like an idle one)
18 launch-pad buffer (the same over its 4-frame window)
19-20 floor normal x, y       21-22 ceiling normal x, y
23 jump gravity active (jump held and rising)
24 time remaining (fraction of the limit)
25 exit switch activated
26-27 vector to the current objective (switch, then exit door; the switch of a closed locked
   door while the way leads there first) / (1056, 600)
28 path distance to the objective / max_distance (1 if unreachable)
29-30 vector to the nearest hazard / 240 px (clipped; 0 if none within range)
31 distance to the nearest hazard / 240 px (1 if none within range)
Hazards: deadly or arming mines, drones, death balls, thwumps, shove thwumps."""

REACHABILITY_DOC = """Index by index, all float32 in [-1, 1], from ninjarl.nav's analysis of the level
(path distances along the objective's way of ninjarl.env.objective: clear of mines where the
level allows, through the locked doors as they are now):
0 path distance to the exit switch / max_distance (1 if unreachable)
1 path distance to the exit door / max_distance (1 if unreachable)
2 path distance to the current objective / max_distance
3 the switch is reachable from the spawn      4 the exit is reachable from the switch
5 the ninja's sub-cell is reachable           6 reachable fraction of the level
7-8 unit direction to the neighbouring sub-cell closest to the objective (0 if none closer)
9 the objective is reachable from here"""

SURROUNDINGS_DOC = """A 15 x 9 grid of samples 24 px (one tile) apart centred on the ninja, row by row from
the top-left, 3 float32 channels per sample (index (row * 15 + column) * 3 + channel); the
ninja's own sample is row 4, column 7:
0 solid: the solid fraction of the 12-px square under the sample (1 outside the level)
1 hazard: 1 if an entity that kills on contact now (as in game_state 29-31) lies nearest to
  this sample, else 0
2 way: (path distance to the current objective from the sample - from the ninja) / 96 px,
  clipped to [-1, 1]; 1 where the objective is unreachable from the sample (walls, outside),
  -1 where it is reachable from the sample but not from the ninja's own square
The way channel is a local map of the shortest path: walking downhill leads to the objective,
around walls and mines, whatever the level's size."""

HAZARDS_DOC = f"""The {HAZARD_SLOTS} hazards (as in game_state 29-31) nearest to the ninja within
{HAZARD_RANGE:.0f} px, nearest first, {HAZARD_FEATURES} float32 each (index slot * {HAZARD_FEATURES} + feature):
0-1 vector from the ninja to the hazard / {HAZARD_RANGE:.0f} px, in [-1, 1]
2 1 for a hazard, 0 for an empty slot (fewer hazards in range; its vector reads 0)
Ties in distance keep the entity order. Where game_state shows one hazard, this shows a
minefield: the mines beside an airborne arc as well as the one under it."""


@jit
def _clip1(v):
    return min(max(v, -1.0), 1.0)


@jit
def _buffer_feature(value, window):
    # the sim keeps an expired buffer at `window` for one frame before idling it at -1; both
    # are out of the window (ninja.think), so both read 0 and the feature stays in (0, 1]
    return (value + 1) / window if 0 <= value < window else 0.0


@jit
def _is_hazard(bank, st, n, lv, e):
    """Whether entity e of env n kills on contact now: an active deadly or arming mine, a
    drone, a death ball, a thwump or a shove thwump."""
    if st.ent_i[n, e, E_ACTIVE] == 0:
        return False
    t = bank.ent_si[lv, e, ES_TYPE]
    if t == T_MINE or t == T_TOGGLE_MINE:
        if st.ent_i[n, e, E_STATE] == 1:          # safe toggle mine
            return False
        return True
    return (t == T_ZAP_DRONE or t == T_MINI_DRONE or t == T_DEATH_BALL
            or t == T_THWUMP or t == T_SHOVE_THWUMP)


@jit
def _hazard_offset(bank, st, n, lv, e, x, y):
    """(dx, dy, squared distance) from (x, y) to entity e of env n if it is a hazard
    (:func:`_is_hazard`), else (0, 0, inf)."""
    if not _is_hazard(bank, st, n, lv, e):
        return 0.0, 0.0, math.inf
    dx = st.ent_f[n, e, E_X] - x
    dy = st.ent_f[n, e, E_Y] - y
    return dx, dy, dx * dx + dy * dy


@jit
def game_state_kernel(bank, st, ids, lvl_i, env_i, fields, max_frames, max_dist, out):
    """Fill out[k] with the game_state vector of env ids[k] (layout: GAME_STATE_DOC)."""
    for k in range(ids.shape[0]):
        n = ids[k]
        lv = st.env_i[n, V_LEVEL]
        f = st.ninja_f
        i = st.ninja_i
        o = out[k]
        x = f[n, X]
        y = f[n, Y]
        o[0] = _clip1(x / WORLD_W * 2 - 1)
        o[1] = _clip1(y / WORLD_H * 2 - 1)
        o[2] = _clip1(f[n, VX] / SPEED_NORM)
        o[3] = _clip1(f[n, VY] / SPEED_NORM)
        for s in range(6):
            o[4 + s] = 1.0 if i[n, STATE] == s else 0.0
        o[10] = float(i[n, AIRBORN])
        o[11] = float(i[n, WALLED])
        o[12] = f[n, WALL_NORMAL]
        o[13] = min(i[n, JUMP_DURATION] / MAX_JUMP_DURATION, 1.0)
        o[14] = float(i[n, JUMP_INPUT_OLD])
        o[15] = _buffer_feature(i[n, JUMP_BUFFER], 5.0)
        o[16] = _buffer_feature(i[n, FLOOR_BUFFER], 5.0)
        o[17] = _buffer_feature(i[n, WALL_BUFFER], 5.0)
        o[18] = _buffer_feature(i[n, LP_BUFFER], 4.0)
        o[19] = f[n, FLOOR_NX]
        o[20] = f[n, FLOOR_NY]
        o[21] = f[n, CEIL_NX]
        o[22] = f[n, CEIL_NY]
        o[23] = 1.0 if f[n, GRAVITY] == GRAVITY_JUMP else 0.0
        o[24] = max(1.0 - env_i[n, I_FRAMES] / max_frames, 0.0)
        switched = env_i[n, I_SWITCH] != 0
        o[25] = 1.0 if switched else 0.0
        sx, sy = sub_cell(x, y)
        distance, door = objective_route(fields, st, n, lv, switched, sx, sy)
        target = lvl_i[lv, L_DOOR] if switched else lvl_i[lv, L_SWITCH]
        if door >= 0:
            o[26] = _clip1((bank.ent_sf[lv, door, ESF_X0] - x) / WORLD_W)
            o[27] = _clip1((bank.ent_sf[lv, door, ESF_Y0] - y) / WORLD_H)
        elif target >= 0:
            o[26] = _clip1((st.ent_f[n, target, E_X] - x) / WORLD_W)
            o[27] = _clip1((st.ent_f[n, target, E_Y] - y) / WORLD_H)
        else:
            o[26] = 0.0
            o[27] = 0.0
        o[28] = min(distance, max_dist) / max_dist if math.isfinite(distance) else 1.0
        best = HAZARD_RANGE * HAZARD_RANGE
        hx = 0.0
        hy = 0.0
        for e in range(bank.n_ent[lv]):
            dx, dy, d2 = _hazard_offset(bank, st, n, lv, e, x, y)
            if d2 < best:
                best = d2
                hx = dx
                hy = dy
        o[29] = hx / HAZARD_RANGE
        o[30] = hy / HAZARD_RANGE
        o[31] = math.sqrt(best) / HAZARD_RANGE


@jit
def reachability_kernel(st, ids, env_i, reachable, fields, switch_ok, exit_ok, fraction,
                        max_dist, out):
    """Fill out[k] with the reachability features of env ids[k] (layout: REACHABILITY_DOC)."""
    for k in range(ids.shape[0]):
        n = ids[k]
        lv = st.env_i[n, V_LEVEL]
        sx, sy = sub_cell(st.ninja_f[n, X], st.ninja_f[n, Y])
        o = out[k]
        ds = objective_distance_at(fields, st, n, lv, False, sx, sy)
        de = objective_distance_at(fields, st, n, lv, True, sx, sy)
        o[0] = min(ds, max_dist) / max_dist if math.isfinite(ds) else 1.0
        o[1] = min(de, max_dist) / max_dist if math.isfinite(de) else 1.0
        switched = env_i[n, I_SWITCH] != 0
        here = de if switched else ds
        o[2] = min(here, max_dist) / max_dist if math.isfinite(here) else 1.0
        o[3] = 1.0 if switch_ok[lv] else 0.0
        o[4] = 1.0 if exit_ok[lv] else 0.0
        o[5] = 1.0 if reachable[lv, sx, sy] else 0.0
        o[6] = fraction[lv]
        best = here
        bx = 0
        by = 0
        for ox in range(-1, 2):
            for oy in range(-1, 2):
                nx = sx + ox
                ny = sy + oy
                if not (0 <= nx < NX and 0 <= ny < NY):
                    continue
                there = objective_distance_at(fields, st, n, lv, switched, nx, ny)
                if there < best:
                    best = there
                    bx = ox
                    by = oy
        norm = math.sqrt(bx * bx + by * by)
        o[7] = bx / norm if norm > 0 else 0.0
        o[8] = by / norm if norm > 0 else 0.0
        o[9] = 1.0 if math.isfinite(here) else 0.0


@jit
def hazards_kernel(bank, st, ids, dist2, out):
    """Fill out[k] with the nearest-hazards list of env ids[k] (layout: HAZARDS_DOC);
    dist2 is float64 scratch of HAZARD_SLOTS (the slots' squared distances)."""
    limit = HAZARD_RANGE * HAZARD_RANGE
    for k in range(ids.shape[0]):
        n = ids[k]
        lv = st.env_i[n, V_LEVEL]
        x = st.ninja_f[n, X]
        y = st.ninja_f[n, Y]
        o = out[k]
        o[:] = 0.0
        filled = 0
        for e in range(bank.n_ent[lv]):
            dx, dy, d2 = _hazard_offset(bank, st, n, lv, e, x, y)
            if d2 >= limit or (filled == HAZARD_SLOTS and d2 >= dist2[HAZARD_SLOTS - 1]):
                continue
            # insertion into the sorted slots; a strict comparison keeps ties in entity order
            slot = min(filled, HAZARD_SLOTS - 1)
            while slot > 0 and dist2[slot - 1] > d2:
                dist2[slot] = dist2[slot - 1]
                base = slot * HAZARD_FEATURES
                for j in range(HAZARD_FEATURES):
                    o[base + j] = o[base - HAZARD_FEATURES + j]
                slot -= 1
            dist2[slot] = d2
            base = slot * HAZARD_FEATURES
            o[base] = dx / HAZARD_RANGE
            o[base + 1] = dy / HAZARD_RANGE
            o[base + 2] = 1.0
            filled = min(filled + 1, HAZARD_SLOTS)


def solid_fraction(level: Level) -> np.ndarray:
    """float64 [NX, NY]: the solid fraction of each 12-px square of the level's world (the
    surroundings' solid channel)."""
    masks = tile_solid_masks()[level.tiles.astype(np.int64)]        # [44, 25, 24(y), 24(x)]
    world = masks.transpose(0, 3, 1, 2).reshape(44 * 24, 25 * 24)    # [x, y]
    cell = int(SUB)
    return world.reshape(NX, cell, NY, cell).mean(axis=(1, 3))


@jit
def surroundings_kernel(bank, st, ids, env_i, solid, fields, out):
    """Fill out[k] with the surroundings grid of env ids[k] (layout: SURROUNDINGS_DOC)."""
    half_w = SURROUNDINGS_W // 2
    half_h = SURROUNDINGS_H // 2
    for k in range(ids.shape[0]):
        n = ids[k]
        lv = st.env_i[n, V_LEVEL]
        x = st.ninja_f[n, X]
        y = st.ninja_f[n, Y]
        switched = env_i[n, I_SWITCH] != 0
        hx, hy = sub_cell(x, y)
        here = objective_distance_at(fields, st, n, lv, switched, hx, hy)
        o = out[k]
        for row in range(SURROUNDINGS_H):
            for col in range(SURROUNDINGS_W):
                base = (row * SURROUNDINGS_W + col) * SURROUNDINGS_CHANNELS
                px = x + (col - half_w) * SURROUNDINGS_STEP
                py = y + (row - half_h) * SURROUNDINGS_STEP
                o[base + 1] = 0.0
                if not (0.0 <= px < WORLD_W and 0.0 <= py < WORLD_H):
                    o[base] = 1.0
                    o[base + 2] = 1.0
                    continue
                sx, sy = sub_cell(px, py)
                o[base] = solid[lv, sx, sy]
                there = objective_distance_at(fields, st, n, lv, switched, sx, sy)
                if not math.isfinite(there):
                    o[base + 2] = 1.0
                elif not math.isfinite(here):
                    o[base + 2] = -1.0
                else:
                    o[base + 2] = _clip1((there - here) / WAY_NORM)
        for e in range(bank.n_ent[lv]):
            if not _is_hazard(bank, st, n, lv, e):
                continue
            col = int(math.floor((st.ent_f[n, e, E_X] - x) / SURROUNDINGS_STEP + 0.5)) + half_w
            row = int(math.floor((st.ent_f[n, e, E_Y] - y) / SURROUNDINGS_STEP + 0.5)) + half_h
            if 0 <= col < SURROUNDINGS_W and 0 <= row < SURROUNDINGS_H:
                o[(row * SURROUNDINGS_W + col) * SURROUNDINGS_CHANNELS + 1] = 1.0
