"""Where the ninja should go next, and how far it is, given which locked doors are still closed.

The objective is the exit switch until it is hit, then the exit door. Its path distance comes
from :mod:`ninjarl.nav`'s fields: the ways that keep clear of live mines where the level
allows them (``safe_dist_to_*``), so that the shaping and the observed way lead around mines
rather than through them. A locked door changes the fields: while it is closed, the way
through it is shut, and the honest distance from a point is the shorter of

* the way with the closed doors closed (``closed_dist_to_*``), and
* for each closed locked door: the way to its switch with the doors closed, plus the way on
  from that switch to the objective with the doors open (``door_switch_onward``).

The second term makes a locked door's switch the place to head for while it is closed, and it
is continuous when the switch is touched: at the switch it equals the open-door distance that
takes over. Once every locked door is open the open-door fields hold. A level with several
locked doors is approximated: while any is closed, the doors are taken as all closed, and
touching one switch as opening every door on the way on.

Rewards (path-distance shaping) and the vector observations all read distances through
:func:`objective_distance_at`, so they agree on the way at every point.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..nav import LevelNav
from ..nav._kernels import NX, NY
from ..sim._jit import jit
from ..sim.constants import T_LOCKED_DOOR
from ..sim.layout import E_ACTIVE, ES_TYPE


class ObjectiveFields(NamedTuple):
    """Per-level path-distance fields of the objective, for the compiled kernels.

    ``to_switch`` / ``to_exit`` (float32 [L, 88, 50], as the analysis computes them: 123 MB
    for 3,500 levels, read as float64 by the kernels): distances with every locked door open
    that the level can open, clear of mines where the level allows. Levels with locked doors
    also have a row ``door_row[level]`` (-1 for the others) in: ``door_entity`` (int64
    [Ld, D], the locked doors' entity indices in creation order, -1 padded),
    ``closed_to_switch`` / ``closed_to_exit`` (float32 [Ld, 88, 50]),
    ``closed_to_door_switch`` (float32 [Ld, D, 88, 50]) and ``door_switch_onward`` (float32
    [Ld, D, 2]) as in :class:`~ninjarl.nav.LevelNav`.
    """
    to_switch: np.ndarray
    to_exit: np.ndarray
    door_row: np.ndarray
    door_entity: np.ndarray
    closed_to_switch: np.ndarray
    closed_to_exit: np.ndarray
    closed_to_door_switch: np.ndarray
    door_switch_onward: np.ndarray


def objective_fields(levels: Sequence, navs: Sequence[LevelNav]) -> ObjectiveFields:
    """The :class:`ObjectiveFields` of loaded ``levels`` from their analyses ``navs``."""
    door_levels = [k for k, nav in enumerate(navs) if nav.locked_doors]
    n_doors = max([navs[k].locked_doors for k in door_levels], default=0)
    rows = max(len(door_levels), 1)             # numba wants arrays, even empty-looking ones
    door_row = np.full(len(levels), -1, np.int64)
    door_entity = np.full((rows, max(n_doors, 1)), -1, np.int64)
    closed_to_switch = np.full((rows, NX, NY), np.inf, np.float32)
    closed_to_exit = np.full((rows, NX, NY), np.inf, np.float32)
    closed_to_door_switch = np.full((rows, max(n_doors, 1), NX, NY), np.inf, np.float32)
    onward = np.full((rows, max(n_doors, 1), 2), np.inf, np.float32)
    for row, k in enumerate(door_levels):
        nav = navs[k]
        entities = np.flatnonzero(levels[k].ent_si[:, ES_TYPE] == T_LOCKED_DOOR)
        if len(entities) != nav.locked_doors:
            raise ValueError(f"level {levels[k].name}: {len(entities)} locked door entities, "
                             f"its analysis found {nav.locked_doors}")
        door_row[k] = row
        # the analysis lists locked doors in map order, the simulator's creation order
        door_entity[row, :len(entities)] = entities
        closed_to_switch[row] = nav.closed_dist_to_switch
        closed_to_exit[row] = nav.closed_dist_to_exit
        closed_to_door_switch[row, :len(entities)] = nav.closed_dist_to_door_switch
        onward[row, :len(entities)] = nav.door_switch_onward
    return ObjectiveFields(
        to_switch=np.stack([nav.safe_dist_to_switch for nav in navs]).astype(np.float32),
        to_exit=np.stack([nav.safe_dist_to_exit for nav in navs]).astype(np.float32),
        door_row=door_row, door_entity=door_entity, closed_to_switch=closed_to_switch,
        closed_to_exit=closed_to_exit, closed_to_door_switch=closed_to_door_switch,
        door_switch_onward=onward)


@jit
def objective_route(fields, st, n, lv, to_exit, sx, sy):
    """(distance, door): the path distance in px (inf if unreachable) from sub-cell (sx, sy) to
    the exit door (``to_exit``) or the exit switch of env n's level ``lv``, given which of its
    locked doors are closed now; ``door`` is the entity index of the locked door whose switch
    that way passes first, -1 if it goes straight to the objective."""
    if to_exit:
        straight = float(fields.to_exit[lv, sx, sy])
    else:
        straight = float(fields.to_switch[lv, sx, sy])
    row = fields.door_row[lv]
    if row < 0:
        return straight, -1
    best = math.inf
    via = -1
    any_closed = False
    column = 1 if to_exit else 0
    for j in range(fields.door_entity.shape[1]):
        e = fields.door_entity[row, j]
        if e < 0:
            break
        if st.ent_i[n, e, E_ACTIVE] == 0:        # its switch was touched: the door is open
            continue
        any_closed = True
        d = (float(fields.closed_to_door_switch[row, j, sx, sy])
             + float(fields.door_switch_onward[row, j, column]))
        if d < best:
            best = d
            via = e
    if not any_closed:
        return straight, -1
    if to_exit:
        closed = fields.closed_to_exit[row, sx, sy]
    else:
        closed = fields.closed_to_switch[row, sx, sy]
    if closed <= best:
        return float(closed), -1
    return float(best), via


@jit
def objective_distance_at(fields, st, n, lv, to_exit, sx, sy):
    """The distance of :func:`objective_route`."""
    return objective_route(fields, st, n, lv, to_exit, sx, sy)[0]
