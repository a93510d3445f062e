"""The ``subtasks`` observation: per environment and per subtask, where its target is.

A hierarchical agent (:mod:`ninjarl.train.hierarchical`) picks one of these subtasks and a
controller pursues it; this module is the environment's side of that: for every env and every
subtask in :data:`SUBTASKS` one row of :data:`SUBTASK_FEATURES`, computed in one compiled loop
from the simulator state and the objective's path-distance fields (:mod:`.objective`):

* ``exit_switch`` — the exit switch; available until it is hit; achieved = it is hit.
* ``exit_door`` — the exit door; available once the switch is hit. Reaching it wins the
  episode (the episode end tells; ``achieved`` stays 0).
* ``door_switch`` — the nearest (by path, with the locked doors closed) switch of a locked
  door that is still closed; available while one exists and is reachable; achieved = locked
  doors opened so far.
* ``evade_mine`` — get at least :data:`SAFE_DISTANCE` px away from the nearest deadly mine;
  available while one is closer; achieved = none is that close.

Columns: ``dir_x, dir_y`` — unit vector from the ninja towards the target (away from the mine
for ``evade_mine``; 0 without a target); ``distance`` — distance still to go, in [0, 1]: path
length / ``max_distance`` (1 when unreachable) or, for ``evade_mine``, the missing clearance /
:data:`SAFE_DISTANCE`; ``available`` — 1 or 0; ``achieved`` — a counter that grows when the
subtask is achieved (a subtask chosen at achieved = a is complete once it exceeds a).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..nav._kernels import sub_cell
from ..sim._jit import jit
from ..sim.constants import T_MINE, T_TOGGLE_MINE
from ..sim.layout import E_ACTIVE, E_STATE, E_X, E_Y, ES_TYPE, ESF_X0, ESF_Y0, V_LEVEL, X, Y
from .rewards import I_SWITCH, L_DOOR, L_SWITCH

SUBTASKS = ("exit_switch", "exit_door", "door_switch", "evade_mine")
EXIT_SWITCH, EXIT_DOOR, DOOR_SWITCH, EVADE_MINE = range(len(SUBTASKS))
SUBTASK_FEATURES = ("dir_x", "dir_y", "distance", "available", "achieved")
DIR_X, DIR_Y, DISTANCE, AVAILABLE, ACHIEVED = range(len(SUBTASK_FEATURES))
#: clearance (px, ninja centre to mine centre) at which ``evade_mine`` is achieved: the ninja's
#: radius 10 + a toggled mine's 4, with room for about two steps of running
SAFE_DISTANCE = 48.0
#: a mine in this state (0 toggled, 2 toggling) kills on contact; 1 (untoggled) does not
MINE_SAFE_STATE = 1


def subtask_index(name: str) -> int:
    """The column of subtask ``name`` in the observation (a ValueError naming the valid ones)."""
    if name not in SUBTASKS:
        raise ValueError(f"unknown subtask {name!r}; valid: {', '.join(SUBTASKS)}")
    return SUBTASKS.index(name)


def mine_entities(levels: Sequence) -> np.ndarray:
    """The kernel's per-level mine table: int64 [levels, most mines], each level's mine and
    toggle mine entity indices, padded with -1."""
    types = [level.ent_si[:, ES_TYPE] for level in levels]
    mines = [np.flatnonzero((t == T_MINE) | (t == T_TOGGLE_MINE)) for t in types]
    table = np.full((len(levels), max(max(len(m) for m in mines), 1)), -1, np.int64)
    for k, entities in enumerate(mines):
        table[k, :len(entities)] = entities
    return table


@jit
def _toward(out, x, y, tx, ty):
    dx = tx - x
    dy = ty - y
    norm = math.sqrt(dx * dx + dy * dy)
    if norm > 1e-6:
        out[DIR_X] = dx / norm
        out[DIR_Y] = dy / norm


@jit
def _path(d, max_dist):
    return min(d, max_dist) / max_dist if math.isfinite(d) else 1.0


@jit
def subtask_kernel(bank, st, ids, lvl_i, env_i, fields, mine_entity, max_dist, out):
    """Fill ``out[k]`` ([subtasks, features]) for env ``ids[k]`` (layout: module docstring;
    ``fields``: the :class:`~.objective.ObjectiveFields`; ``mine_entity``:
    :func:`mine_entities`)."""
    for k in range(ids.shape[0]):
        n = ids[k]
        o = out[k]
        o[:, :] = 0.0
        lv = st.env_i[n, V_LEVEL]
        x = st.ninja_f[n, X]
        y = st.ninja_f[n, Y]
        sx, sy = sub_cell(x, y)
        hit = env_i[n, I_SWITCH] != 0

        switch = lvl_i[lv, L_SWITCH]
        door = lvl_i[lv, L_DOOR]
        if switch >= 0:
            _toward(o[EXIT_SWITCH], x, y, st.ent_f[n, switch, E_X], st.ent_f[n, switch, E_Y])
            _toward(o[EXIT_DOOR], x, y, st.ent_f[n, door, E_X], st.ent_f[n, door, E_Y])
        o[EXIT_SWITCH, DISTANCE] = 0.0 if hit else _path(fields.to_switch[lv, sx, sy], max_dist)
        o[EXIT_SWITCH, AVAILABLE] = 0.0 if hit else 1.0
        o[EXIT_SWITCH, ACHIEVED] = 1.0 if hit else 0.0
        o[EXIT_DOOR, DISTANCE] = _path(fields.to_exit[lv, sx, sy], max_dist)
        o[EXIT_DOOR, AVAILABLE] = 1.0 if hit else 0.0

        best = math.inf
        best_e = -1
        opened = 0
        row = fields.door_row[lv]
        for j in range(fields.door_entity.shape[1] if row >= 0 else 0):
            e = fields.door_entity[row, j]
            if e < 0:
                break
            if st.ent_i[n, e, E_ACTIVE] == 0:          # its switch was touched: the door is open
                opened += 1
            elif fields.closed_to_door_switch[row, j, sx, sy] < best:
                best = fields.closed_to_door_switch[row, j, sx, sy]
                best_e = e
        o[DOOR_SWITCH, ACHIEVED] = opened
        o[DOOR_SWITCH, DISTANCE] = _path(best, max_dist)
        if best_e >= 0:
            o[DOOR_SWITCH, AVAILABLE] = 1.0
            _toward(o[DOOR_SWITCH], x, y, bank.ent_sf[lv, best_e, ESF_X0],
                    bank.ent_sf[lv, best_e, ESF_Y0])

        nearest = math.inf
        mx = 0.0
        my = 0.0
        for j in range(mine_entity.shape[1]):
            e = mine_entity[lv, j]
            if e < 0:
                break
            if st.ent_i[n, e, E_ACTIVE] == 0 or st.ent_i[n, e, E_STATE] == MINE_SAFE_STATE:
                continue
            d = math.hypot(st.ent_f[n, e, E_X] - x, st.ent_f[n, e, E_Y] - y)
            if d < nearest:
                nearest = d
                mx = st.ent_f[n, e, E_X]
                my = st.ent_f[n, e, E_Y]
        if nearest < SAFE_DISTANCE:
            o[EVADE_MINE, AVAILABLE] = 1.0
            o[EVADE_MINE, DISTANCE] = (SAFE_DISTANCE - nearest) / SAFE_DISTANCE
            _toward(o[EVADE_MINE], mx, my, x, y)          # away from the mine
        else:
            o[EVADE_MINE, ACHIEVED] = 1.0
