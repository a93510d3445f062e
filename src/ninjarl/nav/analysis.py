"""Physics-aware reachability and path distances of one level on a 12-px sub-cell grid."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ninjarl.sim.level import Level, tile_solid_masks

from . import _kernels as K
from ._kernels import NX, NY, SUB, sub_cell
from .envelope import FALL_DEPTH, KIND_BIG, KIND_NORMAL, KIND_PAD, ROW_OFF, measure_envelopes

NINJA_R = 10.0
#: a sub-cell is a node if one of its 4x4 sample centres (spacing 3 px, so any point of the
#: sub-cell is within 2.2 px of a sample) is outside solid tiles and at least this far from every
#: tile surface: permissive by the sampling gap plus 0.3 px.
CLEAR_THR = NINJA_R - 2.5
#: a tile surface within this distance of a free sample counts as a contact (floor below / wall
#: beside) for take-off classification.
CONTACT_THR = NINJA_R + 3.5

T_MINE, T_EXIT, T_SWITCH, T_DOOR, T_LOCKED, T_TRAP = 1, 3, 4, 5, 6, 8
T_PAD, T_ONEWAY, T_BOUNCE, T_THWUMP, T_TOGGLE, T_BOOST, T_SHOVE = 10, 11, 17, 20, 21, 24, 28
#: px between the ninja's centre and a mine's at which they touch: radius 10 + a deadly mine's 4
MINE_CLEARANCE = NINJA_R + 4.0
#: mines a way should keep clear of: mines (1) and toggle mines (21), which arm when touched
MINE_TYPES = (T_MINE, T_TOGGLE)


@dataclass
class LevelNav:
    """Navigation analysis of one level. Arrays are indexed ``[sx, sy]`` on the 88 x 50 grid of
    12-px sub-cells (centre ``(12*sx + 6, 12*sy + 6)`` px).

    Fields:
      node: bool — a ninja centre fits somewhere in the sub-cell (tiles only; doors ignored).
      ground: bool — node with a tile surface below within contact range (floor take-off).
      wall: int8 — wall contact side bits: 1 = wall on the left, 2 = wall on the right.
      launch_kind: int8 — take-off envelope used from this sub-cell: 0 none (air), 1 normal
        (flat floor, wall, entity platform), 2 big (floor near slopes/curves, bounce block),
        3 launch/boost pad.
      reachable: bool — reachable from the spawn with every locked door the level can open.
      dist_to_switch, dist_to_exit: float32 — path length in px over the movement graph to the
        exit switch / exit door trigger (``inf`` where the target cannot be reached).
      switch_mask, exit_mask: bool — sub-cells from which the ninja touches the switch / door.
      switch_reachable: bool — the exit switch is reachable from the spawn.
      exit_reachable: bool — the exit door is reachable from the switch.
      reachable_fraction: float — reachable nodes / nodes.
      mine_dist: float32 — px from the sub-cell centre to the nearest (toggle) mine, capped at 600.
      locked_doors: int — number of locked doors in the level; doors_opened: how many of them
        the analysis could open (their switch is reachable).
      door_open: bool [n_locked] — per locked door (creation order) whether it can be opened.
      dist_to_door_switch: float32 [n_locked, 88, 50] — path length in px to each locked
        door's switch (creation order; ``inf`` where it cannot be reached).
      closed_dist_to_switch, closed_dist_to_exit: float32 — as ``dist_to_switch`` /
        ``dist_to_exit`` while every locked door is still closed, as at the spawn (the same
        arrays in a level without locked doors).
      closed_dist_to_door_switch: float32 [n_locked, 88, 50] — as ``dist_to_door_switch``
        while every locked door is closed.
      safe_dist_to_switch, safe_dist_to_exit: float32 — as ``dist_to_switch`` /
        ``dist_to_exit`` by ways that keep clear of mines (:func:`mine_danger`), where the leg
        can be done so: from the spawn to the switch, from the switch to the exit. A sub-cell
        next to a mine reads the largest value around it (being there gains nothing); a leg
        that cannot keep clear has the plain field.
      door_switch_onward: float32 [n_locked, 2] — path length in px from each locked door's
        switch, once touched, on to the exit switch (column 0) and to the exit door (column 1),
        the doors open as in ``dist_to_switch`` (``inf`` where it cannot be reached).
      spawn_cell: (sx, sy) of the spawn.
      n_nodes, n_reachable: counts.
    """
    node: np.ndarray
    ground: np.ndarray
    wall: np.ndarray
    launch_kind: np.ndarray
    reachable: np.ndarray
    dist_to_switch: np.ndarray
    dist_to_exit: np.ndarray
    switch_mask: np.ndarray
    exit_mask: np.ndarray
    switch_reachable: bool
    exit_reachable: bool
    reachable_fraction: float
    mine_dist: np.ndarray
    locked_doors: int
    doors_opened: int
    door_open: np.ndarray
    dist_to_door_switch: np.ndarray
    closed_dist_to_switch: np.ndarray
    closed_dist_to_exit: np.ndarray
    closed_dist_to_door_switch: np.ndarray
    door_switch_onward: np.ndarray
    safe_dist_to_switch: np.ndarray
    safe_dist_to_exit: np.ndarray
    spawn_cell: tuple[int, int]
    n_nodes: int
    n_reachable: int


def _solid_raster(tiles: np.ndarray) -> np.ndarray:
    """bool [1056, 600] indexed [x, y]: the solid world pixels of a [44, 25] tile grid."""
    masks = tile_solid_masks()[tiles.astype(np.int64)]     # [44, 25, 24(y), 24(x)]
    return np.ascontiguousarray(masks.transpose(0, 3, 1, 2).reshape(44 * 24, 25 * 24))


def _touch_mask(node, x, y, radius):
    """Nodes whose sub-cell rectangle comes closer than `radius` px to (x, y)."""
    xs = np.arange(NX) * SUB
    ys = np.arange(NY) * SUB
    dx = np.maximum(np.maximum(xs - x, x - xs - SUB), 0.0)
    dy = np.maximum(np.maximum(ys - y, y - ys - SUB), 0.0)
    return node & ((dx[:, None] ** 2 + dy[None, :] ** 2) < radius * radius)


def mine_danger(mines) -> np.ndarray:
    """bool [NX, NY]: the sub-cells in which a ninja centre could touch one of ``mines`` (x, y
    of the :data:`MINE_TYPES` entities): their rectangle comes closer than
    :data:`MINE_CLEARANCE` px to the mine's centre."""
    everywhere = np.ones((NX, NY), bool)
    danger = np.zeros((NX, NY), bool)
    for x, y in mines:
        danger |= _touch_mask(everywhere, x, y, MINE_CLEARANCE)
    return danger


def _keep_clear(safe, plain, near, start) -> np.ndarray:
    """The field of ways that keep clear of mines (``safe``) if the leg can start at sub-cell
    ``start`` and keep clear, else ``plain``. Sub-cells next to mines (``near``), off limits in
    ``safe``, take the largest finite value among their 8 neighbours (repeatedly, for
    clusters); those still without one, and places the clear ways do not reach, keep ``plain``.
    """
    if not np.isfinite(safe[start]):
        return plain
    out = safe.copy()
    for _ in range(4):
        todo = near & ~np.isfinite(out) & np.isfinite(plain)
        if not todo.any():
            break
        padded = np.pad(np.where(np.isfinite(out), out, -np.inf), 1, constant_values=-np.inf)
        largest = np.max([padded[1 + dx:1 + dx + NX, 1 + dy:1 + dy + NY]
                          for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy], axis=0)
        fill = todo & np.isfinite(largest)
        out[fill] = largest[fill]
    rest = ~np.isfinite(out) & np.isfinite(plain)
    out[rest] = plain[rest]
    return out


def _box_mask(x0, y0, x1, y1):
    """Sub-cells whose rectangle intersects the box [x0, x1] x [y0, y1] (px)."""
    out = np.zeros((NX, NY), bool)
    a, b = max(int(x0 // SUB), 0), min(int(x1 // SUB), NX - 1)
    c, d = max(int(y0 // SUB), 0), min(int(y1 // SUB), NY - 1)
    if a <= b and c <= d:
        out[a:b + 1, c:d + 1] = True
    return out


def _thwump_path(solid, x, y, o, reach):
    """Box covering a thwump's travel from its origin to the first solid pixel along its axis."""
    vx, vy = {0: (1, 0), 2: (0, 1), 4: (-1, 0), 6: (0, -1)}.get(o, (0, 0))
    ex, ey = x, y
    if vx or vy:
        for _ in range(1200):
            nx, ny = ex + vx, ey + vy
            if not (0 <= nx < solid.shape[0] and 0 <= ny < solid.shape[1]) or solid[int(nx), int(ny)]:
                break
            ex, ey = nx, ny
    return (min(x, ex) - reach, min(y, ey) - reach, max(x, ex) + reach, max(y, ey) + reach)


def locked_door_segment(e) -> tuple[float, float, float, float]:
    """The segment (x1, y1, x2, y2) a locked door entity blocks: vertical for orientations 0
    and 4, horizontal otherwise, 24 px long."""
    if e.orientation in (0, 4):
        return (e.x, e.y - 12.0, e.x, e.y + 12.0)
    return (e.x - 12.0, e.y, e.x + 12.0, e.y)


def open_reachable_doors(reach_from, sx: int, sy: int, switch_masks: list[np.ndarray]):
    """Search from ``(sx, sy)`` and open every locked door whose switch (its mask in
    ``switch_masks``) the search reaches, then search again, until no more doors open.

    ``reach_from(sx, sy, door_open)`` is a search whose result's first item is the reachable
    mask. Returns (the search's result with every door closed, its result with the final doors,
    the final ``door_open``); a door opened stays open.
    """
    door_open = np.zeros(len(switch_masks), np.bool_)
    closed = result = reach_from(sx, sy, door_open)
    while True:
        opened = door_open | np.array([(m & result[0]).any() for m in switch_masks], np.bool_)
        if (opened == door_open).all():
            return closed, result, door_open
        door_open = opened
        result = reach_from(sx, sy, door_open)


def exit_reachable_from(reach_from, starts: np.ndarray, door_open: np.ndarray,
                        exit_mask: np.ndarray) -> bool:
    """Whether a search from any of the sub-cells ``starts`` (the switch's, as reached from the
    spawn), with the doors ``door_open``, reaches ``exit_mask``."""
    return any((reach_from(int(sx), int(sy), door_open)[0] & exit_mask).any()
               for sx, sy in starts)


def analyze_level(level: Level) -> LevelNav:
    """Analyse one level (see the package docstring for the movement model)."""
    env = measure_envelopes()
    solid = _solid_raster(level.tiles)
    node, ground, wall_l, wall_r, curved = K.classify(solid, level.seg_f, level.seg_i,
                                                      level.cell_seg, CLEAR_THR, CONTACT_THR)
    wall = (wall_l.astype(np.int8) | (wall_r.astype(np.int8) << 1))
    kind = np.zeros((NX, NY), np.int8)
    kind[(ground | wall_l | wall_r) & node] = KIND_NORMAL
    kind[ground & curved] = KIND_BIG

    ents = level.map_data.entities
    locked = []            # door segments (x1, y1, x2, y2) and switch positions of locked doors
    switch_xy = exit_xy = None
    mines = []
    for e in ents:
        t = e.type
        if t == T_SWITCH and switch_xy is None:
            switch_xy = (e.x, e.y)
        elif t == T_EXIT and exit_xy is None:
            exit_xy = (e.x, e.y)
        elif t in MINE_TYPES:
            mines.append((e.x, e.y))
        elif t == T_LOCKED:
            locked.append((locked_door_segment(e), (e.switch_x, e.switch_y)))
        # Entities the ninja can stand on, push against or be thrown by: permissive take-offs.
        support = None
        if t in (T_ONEWAY, T_DOOR, T_LOCKED, T_TRAP):
            support = (e.x - 12 - 14, e.y - 12 - 14, e.x + 12 + 14, e.y + 12 + 14), KIND_NORMAL
        elif t == T_BOUNCE:
            support = (e.x - 9 - 24, e.y - 9 - 24, e.x + 9 + 24, e.y + 9 + 24), KIND_BIG
        elif t == T_THWUMP:
            support = _thwump_path(solid, e.x, e.y, e.orientation, 9 + 14), KIND_BIG
        elif t == T_SHOVE:
            a = _thwump_path(solid, e.x, e.y, 0, 26)
            b = _thwump_path(solid, e.x, e.y, 2, 26)
            c = _thwump_path(solid, e.x, e.y, 4, 26)
            d = _thwump_path(solid, e.x, e.y, 6, 26)
            support = (min(c[0], a[0]), min(d[1], b[1]), max(a[2], c[2]), max(b[3], d[3])), KIND_BIG
        elif t in (T_PAD, T_BOOST):
            support = (e.x - 18, e.y - 18, e.x + 18, e.y + 18), KIND_PAD
        if support is not None:
            box, k = support
            m = _box_mask(*box) & node
            kind[m] = np.maximum(kind[m], k)

    doors = np.array([s for s, _ in locked], np.float64).reshape(-1, 4)
    blocked = K.door_blocks(doors, K.MOVE_DX, K.MOVE_DY)
    launch_ids = np.argwhere(kind > 0).astype(np.int64)
    kind64 = kind.astype(np.int64)
    env64 = env.astype(np.int64)

    sx0, sy0 = sub_cell(*level.spawn)
    if not node[sx0, sy0]:
        cand = np.argwhere(node)
        if len(cand):
            d2 = (cand[:, 0] - sx0) ** 2 + (cand[:, 1] - sy0) ** 2
            sx0, sy0 = (int(v) for v in cand[np.argmin(d2)])
    node_s = node.copy()
    node_s[sx0, sy0] = True

    def reach_from(sx, sy, door_open):
        r, em, *_ = K.launch_graph(node_s, kind64, blocked, door_open, env64, ROW_OFF, FALL_DEPTH,
                                   launch_ids, K.MOVE_DX, K.MOVE_DY, K.MOVE_COST, True, sx, sy)
        return r, em

    sw_masks = [_touch_mask(node_s, sx, sy, 15.0) for _, (sx, sy) in locked]
    (_, closed_emask), (reach, emask), door_open = open_reachable_doors(reach_from, sx0, sy0,
                                                                        sw_masks)

    switch_mask = (_touch_mask(node_s, *switch_xy, 16.0) if switch_xy is not None
                   else np.zeros((NX, NY), bool))
    exit_mask = (_touch_mask(node_s, *exit_xy, 22.0) if exit_xy is not None
                 else np.zeros((NX, NY), bool))
    switch_reachable = bool((switch_mask & reach).any())
    exit_reachable = bool(switch_reachable and exit_mask.any() and exit_reachable_from(
        reach_from, np.argwhere(switch_mask & reach), door_open, exit_mask))

    def distances(doors_open, moves, nodes=node_s, kinds=kind64, launches=launch_ids):
        """A function target mask -> path distances with the locked doors ``doors_open``, over
        the moves recorded by the spawn search with those doors (``moves``)."""
        _, _, cx, cy, cd, offs = K.launch_graph(nodes, kinds, blocked, doors_open, env64,
                                               ROW_OFF, FALL_DEPTH, launches, K.MOVE_DX,
                                               K.MOVE_DY, K.MOVE_COST, False, sx0, sy0)

        def dist_to(target):
            target = target & nodes
            if not target.any():
                return np.full((NX, NY), np.inf, np.float32)
            D = K.launch_distances(launches, cx, cy, cd, offs, target)
            d = K.grid_distances(launches, D, target, moves, K.MOVE_DX, K.MOVE_DY,
                                 K.MOVE_COST)
            d[~nodes] = np.inf
            return d.astype(np.float32)
        return dist_to

    def door_switch_fields(dist_to):
        return (np.stack([dist_to(m) for m in sw_masks]) if locked
                else np.zeros((0, NX, NY), np.float32))

    dist_to = distances(door_open, emask)
    dist_sw = dist_to(switch_mask)
    dist_ex = dist_to(exit_mask)
    dist_door_sw = door_switch_fields(dist_to)
    if locked:
        closed_to = distances(np.zeros(len(locked), np.bool_), closed_emask)
        closed_sw, closed_ex = closed_to(switch_mask), closed_to(exit_mask)
        closed_door_sw = door_switch_fields(closed_to)
    else:
        closed_sw, closed_ex, closed_door_sw = dist_sw, dist_ex, dist_door_sw
    if switch_xy is None or exit_xy is None:
        for field in (dist_sw, dist_ex, closed_sw, closed_ex):
            field[:] = np.inf
        switch_reachable = exit_reachable = False
    safe_sw, safe_ex = dist_sw, dist_ex
    if mines and switch_reachable:
        near = mine_danger(mines)
        near[sx0, sy0] = False
        safe_nodes = node_s & ~near
        safe_kind = np.where(safe_nodes, kind64, 0)
        safe_launches = np.argwhere(safe_kind > 0).astype(np.int64)
        _, safe_moves, *_ = K.launch_graph(safe_nodes, safe_kind, blocked, door_open, env64,
                                           ROW_OFF, FALL_DEPTH, safe_launches, K.MOVE_DX,
                                           K.MOVE_DY, K.MOVE_COST, True, sx0, sy0)
        safe_to = distances(door_open, safe_moves, safe_nodes, safe_kind, safe_launches)
        safe_sw = _keep_clear(safe_to(switch_mask), dist_sw, near, (sx0, sy0))
        on_switch = switch_mask & reach
        if on_switch.any():
            sw_cell = tuple(np.argwhere(on_switch)[np.argmin(dist_ex[on_switch])])
            safe_ex = _keep_clear(safe_to(exit_mask), dist_ex, near, sw_cell)
    onward = np.full((len(locked), 2), np.inf, np.float32)
    for j, m in enumerate(sw_masks):
        if m.any():
            onward[j] = dist_sw[m].min(), dist_ex[m].min()

    if mines:
        cxs = np.arange(NX) * SUB + 6.0
        cys = np.arange(NY) * SUB + 6.0
        md = np.full((NX, NY), 600.0)
        for mx, my in mines:
            md = np.minimum(md, np.hypot(cxs[:, None] - mx, cys[None, :] - my))
        mine_dist = md.astype(np.float32)
    else:
        mine_dist = np.full((NX, NY), 600.0, np.float32)

    n_nodes = int(node.sum())
    n_reach = int((reach & node).sum())
    return LevelNav(
        node=node, ground=ground & node, wall=wall * node, launch_kind=kind, reachable=reach,
        dist_to_switch=dist_sw, dist_to_exit=dist_ex, switch_mask=switch_mask,
        exit_mask=exit_mask, switch_reachable=switch_reachable, exit_reachable=exit_reachable,
        reachable_fraction=n_reach / n_nodes if n_nodes else 0.0, mine_dist=mine_dist,
        locked_doors=len(locked), doors_opened=int(door_open.sum()), door_open=door_open,
        dist_to_door_switch=dist_door_sw, closed_dist_to_switch=closed_sw,
        closed_dist_to_exit=closed_ex, closed_dist_to_door_switch=closed_door_sw,
        door_switch_onward=onward, safe_dist_to_switch=safe_sw, safe_dist_to_exit=safe_ex,
        spawn_cell=(sx0, sy0), n_nodes=n_nodes, n_reachable=n_reach)


#: how many analyses :func:`level_analysis` keeps (about 90 KB each): more than the levels of the
#: built-in level set (3,675), so that building its environments again never analyses anew
ANALYSIS_CACHE_SIZE = 4096
_analyses: OrderedDict[bytes, LevelNav] = OrderedDict()


def level_analysis(level: Level) -> LevelNav:
    """:func:`analyze_level` of ``level``, computed once per process for the same map content.

    A training run builds environments over the same levels several times (behaviour cloning,
    the training envs, every held-out evaluation), and the analysis is the slow part of that
    (about 0.1 s a level). The most recently used :data:`ANALYSIS_CACHE_SIZE` analyses are
    kept; their arrays are read-only, because every environment of those levels shares them.
    """
    key = level.map_data.raw
    nav = _analyses.get(key)
    if nav is None:
        nav = _share_equal_arrays(analyze_level(level))
        _analyses[key] = nav
        if len(_analyses) > ANALYSIS_CACHE_SIZE:
            _analyses.popitem(last=False)
    else:
        _analyses.move_to_end(key)
    return nav


#: per-level arrays stacked by :func:`stack_navs` ([L, 88, 50]) and scalars ([L]).
STACK_GRIDS = ("node", "reachable", "dist_to_switch", "dist_to_exit", "switch_mask", "exit_mask",
               "mine_dist", "launch_kind")
STACK_SCALARS = ("switch_reachable", "exit_reachable", "reachable_fraction", "locked_doors")


def stack_navs(navs: list[LevelNav]) -> dict[str, np.ndarray]:
    """Stack per-level results for a compiled environment kernel: grids as ``[L, 88, 50]``
    (``dist_to_switch[level, sx, sy]``), scalars as ``[L]``. Distances stay float32 with inf."""
    out = {}
    for k in STACK_GRIDS:
        out[k] = np.ascontiguousarray(np.stack([getattr(n, k) for n in navs]))
    for k in STACK_SCALARS:
        out[k] = np.array([getattr(n, k) for n in navs])
    return out


def _share_equal_arrays(nav: LevelNav) -> LevelNav:
    """``nav`` with its arrays read-only and equal ones replaced by one shared object.

    Without locked doors the closed-door distances equal the plain ones, and without mines the
    safe ones do too: sharing them keeps about 40% of a cached analysis's bytes out of memory.
    """
    kept: list[np.ndarray] = []
    for name, value in vars(nav).items():
        if not isinstance(value, np.ndarray):
            continue
        same = next((a for a in kept if a.dtype == value.dtype and a.shape == value.shape
                     and np.array_equal(a, value, equal_nan=value.dtype.kind == "f")), None)
        if same is None:
            value.flags.writeable = False
            kept.append(value)
        else:
            setattr(nav, name, same)
    return nav
