"""Solvability check of a level: physics-aware reachability that also avoids mines.

:func:`ninjarl.nav.analyze_level` answers "is the switch reachable from the spawn, and the exit
door from the switch, with every locked door the level can open?" but, being an observation
feature, it lets the ninja pass through mines. A generated level must also be finishable
*without touching a mine*, so :func:`check_solvable` runs the same search (the same sub-cell
nodes, take-off kinds, simulator-measured jump envelopes and locked-door fixpoint, through the
``ninjarl.nav`` kernels) on a node grid from which every sub-cell that comes closer than 14 px
to a mine (type 1) or toggle mine (type 21, counted as deadly because it arms when touched)
has been removed (:func:`ninjarl.nav.analysis.mine_danger`, whose mine-avoiding distances
also guide the environment's objective). Removing nodes can only
remove paths, so a level this check accepts is also accepted by
:func:`~ninjarl.nav.analyze_level` (tested).

The analysis is a model, permissive where the measured envelope is (see ``ninjarl.nav``); it is
not a proof that an input sequence exists.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ninjarl.nav import _kernels as K
from ninjarl.nav import analysis as A
from ninjarl.nav.envelope import FALL_DEPTH, KIND_BIG, KIND_NORMAL, ROW_OFF, measure_envelopes
from ninjarl.sim.level import Level, build_level


@dataclass(frozen=True)
class Solvability:
    """Result of :func:`check_solvable`.

    ``ok`` = ``switch_reachable and exit_reachable``; ``locked_doors`` / ``doors_opened`` count
    the level's locked doors and those whose switch the search reached.
    """

    ok: bool
    switch_reachable: bool
    exit_reachable: bool
    locked_doors: int
    doors_opened: int
    reason: str = ""


def check_solvable(level: Level | bytes) -> Solvability:
    """Mine-avoiding reachability check of one level (a built Level or raw map bytes)."""
    if not isinstance(level, Level):
        level = build_level(bytes(level), name="generated")
    env = measure_envelopes()
    solid = A._solid_raster(level.tiles)
    node, ground, wall_l, wall_r, curved = K.classify(solid, level.seg_f, level.seg_i,
                                                      level.cell_seg, A.CLEAR_THR, A.CONTACT_THR)
    kind = np.zeros((A.NX, A.NY), np.int8)
    kind[(ground | wall_l | wall_r) & node] = KIND_NORMAL
    kind[ground & curved] = KIND_BIG

    switch_xy = exit_xy = None
    locked = []
    mines = []
    for e in level.map_data.entities:
        if e.type == A.T_SWITCH and switch_xy is None:
            switch_xy = (e.x, e.y)
        elif e.type == A.T_EXIT and exit_xy is None:
            exit_xy = (e.x, e.y)
        elif e.type in A.MINE_TYPES:
            mines.append((e.x, e.y))
        elif e.type == A.T_LOCKED:
            locked.append((A.locked_door_segment(e), (e.switch_x, e.switch_y)))
            m = A._box_mask(e.x - 26, e.y - 26, e.x + 26, e.y + 26) & node
            kind[m] = np.maximum(kind[m], KIND_NORMAL)
        elif e.type not in (2,):
            # Generated levels hold only exits, switches, mines, gold and locked doors; for other
            # maps defer to the full analysis (which knows every entity's platforms).
            return _from_nav(level)
    n_locked = len(locked)
    if switch_xy is None or exit_xy is None:
        return Solvability(False, False, False, n_locked, 0, "no exit door or switch")

    danger = A.mine_danger(mines)
    sx0, sy0 = A.sub_cell(*level.spawn)
    if not node[sx0, sy0] or danger[sx0, sy0]:
        return Solvability(False, False, False, n_locked, 0, "spawn is not a free, safe cell")
    node = node & ~danger
    kind[~node] = 0
    doors = np.array([s for s, _ in locked], np.float64).reshape(-1, 4)
    blocked = K.door_blocks(doors, K.MOVE_DX, K.MOVE_DY)
    launch_ids = np.argwhere(kind > 0).astype(np.int64)
    kind64 = kind.astype(np.int64)
    env64 = env.astype(np.int64)

    def reach_from(sx, sy, door_open):
        return K.launch_graph(node, kind64, blocked, door_open, env64, ROW_OFF, FALL_DEPTH,
                              launch_ids, K.MOVE_DX, K.MOVE_DY, K.MOVE_COST, True, sx, sy)

    sw_masks = [A._touch_mask(node, x, y, 15.0) for _, (x, y) in locked]
    _, (reach, *_), door_open = A.open_reachable_doors(reach_from, sx0, sy0, sw_masks)
    opened = int(door_open.sum())
    switch_mask = A._touch_mask(node, *switch_xy, 16.0)
    exit_mask = A._touch_mask(node, *exit_xy, 22.0)
    starts = np.argwhere(switch_mask & reach)
    if not len(starts):
        return Solvability(False, False, False, n_locked, opened, "switch not reachable")
    if A.exit_reachable_from(reach_from, starts, door_open, exit_mask):
        return Solvability(True, True, True, n_locked, opened)
    return Solvability(False, True, False, n_locked, opened, "exit not reachable from the switch")


def _from_nav(level: Level) -> Solvability:
    nav = A.analyze_level(level)
    ok = bool(nav.switch_reachable and nav.exit_reachable)
    return Solvability(ok, bool(nav.switch_reachable), bool(nav.exit_reachable),
                       int(nav.locked_doors), int(nav.doors_opened),
                       "" if ok else "not reachable (nav analysis; mines not avoided)")
