"""Static level data: tile geometry, segments, grid edges and entity spawn data (spec §3, §7-§9).

A :class:`Level` is built once per map in plain Python (a few milliseconds) and then packed,
together with other levels, into the arrays of a :class:`~ninjarl.sim.layout.Bank` that the
compiled simulator reads.
"""
from __future__ import annotations

import functools
import hashlib
import math
import warnings
from dataclasses import dataclass

import numpy as np

from .constants import (
    CELL,
    EDGE_H,
    EDGE_W,
    GRID_H,
    GRID_W,
    T_DEATH_BALL,
    T_EXIT_DOOR,
    T_EXIT_SWITCH,
    T_LOCKED_DOOR,
    T_REGULAR_DOOR,
    T_TRAP_DOOR,
)
from .geometry import ORIENT_X, ORIENT_Y
from .layout import (
    ENT_SF_COLS,
    ENT_SI_COLS,
    ES_BALL_POS,
    ES_DOOR_OF,
    ES_DOOR_SEG,
    ES_EDGE_VERT,
    ES_EDGE_X,
    ES_EDGE_Y,
    ES_MODE,
    ES_ORIENT,
    ES_TYPE,
    ESF_X0,
    ESF_Y0,
    SEG_ARC,
    SEG_F_COLS,
    SEG_I_COLS,
    SEG_LINEAR,
    Bank,
)
from .mapfile import MapData, parse_map

# Orthogonal half-edges of each tile id (spec §3.2, literal table). Entries 0-5: horizontal
# half-edges, index 2*row + col; entries 6-11: vertical, index 6 + 2*col + row. -1 = normal
# up/left, +1 = normal down/right.
TILE_ORTHO = (
    ( 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0),  # 0
    (-1, -1,  0,  0,  1,  1, -1, -1,  0,  0,  1,  1),  # 1
    (-1, -1,  1,  1,  0,  0, -1,  0,  0,  0,  1,  0),  # 2
    ( 0, -1,  0,  0,  0,  1,  0,  0, -1, -1,  1,  1),  # 3
    ( 0,  0, -1, -1,  1,  1,  0, -1,  0,  0,  0,  1),  # 4
    (-1,  0,  0,  0,  1,  0, -1, -1,  1,  1,  0,  0),  # 5
    (-1, -1,  0,  0,  0,  0, -1, -1,  0,  0,  0,  0),  # 6
    (-1, -1,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1),  # 7
    ( 0,  0,  0,  0,  1,  1,  0,  0,  0,  0,  1,  1),  # 8
    ( 0,  0,  0,  0,  1,  1, -1, -1,  0,  0,  0,  0),  # 9
    (-1, -1,  0,  0,  0,  0, -1, -1,  0,  0,  0,  0),  # 10
    (-1, -1,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1),  # 11
    ( 0,  0,  0,  0,  1,  1,  0,  0,  0,  0,  1,  1),  # 12
    ( 0,  0,  0,  0,  1,  1, -1, -1,  0,  0,  0,  0),  # 13
    (-1, -1,  0,  0,  0,  0, -1, -1,  0,  0,  0,  0),  # 14
    (-1, -1,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1),  # 15
    ( 0,  0,  0,  0,  1,  1,  0,  0,  0,  0,  1,  1),  # 16
    ( 0,  0,  0,  0,  1,  1, -1, -1,  0,  0,  0,  0),  # 17
    (-1, -1,  0,  0,  0,  0, -1,  0,  0,  0,  0,  0),  # 18
    (-1, -1,  0,  0,  0,  0,  0,  0,  0,  0,  1,  0),  # 19
    ( 0,  0,  0,  0,  1,  1,  0,  0,  0,  0,  0,  1),  # 20
    ( 0,  0,  0,  0,  1,  1,  0, -1,  0,  0,  0,  0),  # 21
    (-1, -1,  0,  0,  0,  0, -1, -1,  0,  0,  1,  0),  # 22
    (-1, -1,  0,  0,  0,  0, -1,  0,  0,  0,  1,  1),  # 23
    ( 0,  0,  0,  0,  1,  1,  0, -1,  0,  0,  1,  1),  # 24
    ( 0,  0,  0,  0,  1,  1, -1, -1,  0,  0,  0,  1),  # 25
    (-1,  0,  0,  0,  0,  0, -1, -1,  0,  0,  0,  0),  # 26
    ( 0, -1,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1),  # 27
    ( 0,  0,  0,  0,  0,  1,  0,  0,  0,  0,  1,  1),  # 28
    ( 0,  0,  0,  0,  1,  0, -1, -1,  0,  0,  0,  0),  # 29
    (-1, -1,  0,  0,  1,  0, -1, -1,  0,  0,  0,  0),  # 30
    (-1, -1,  0,  0,  0,  1,  0,  0,  0,  0,  1,  1),  # 31
    ( 0, -1,  0,  0,  1,  1,  0,  0,  0,  0,  1,  1),  # 32
    (-1,  0,  0,  0,  1,  1, -1, -1,  0,  0,  0,  0),  # 33
    (-1, -1,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0),  # 34
    ( 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1),  # 35
    ( 0,  0,  0,  0,  1,  1,  0,  0,  0,  0,  0,  0),  # 36
    ( 0,  0,  0,  0,  0,  0, -1, -1,  0,  0,  0,  0),  # 37
)

# Grid-edge bits of each tile id, same index layout (spec §3.2).
TILE_GRID_EDGES = (
    "000000000000",  # 0
    "110011110011",  # 1
    "111100100010",  # 2
    "010001001111",  # 3
    "001111010001",  # 4
    "100010111100",  # 5
    "110110110110",  # 6
    "111001100111",  # 7
    "011011011011",  # 8
    "100111111001",  # 9
    "110011110011",  # 10
    "110011110011",  # 11
    "110011110011",  # 12
    "110011110011",  # 13
    "110110110110",  # 14
    "111001100111",  # 15
    "011011011011",  # 16
    "100111111001",  # 17
    "111100100010",  # 18
    "111100100010",  # 19
    "001111010001",  # 20
    "001111010001",  # 21
    "110011110011",  # 22
    "110011110011",  # 23
    "110011110011",  # 24
    "110011110011",  # 25
    "100010111100",  # 26
    "010001001111",  # 27
    "010001001111",  # 28
    "100010111100",  # 29
    "110011110011",  # 30
    "110011110011",  # 31
    "110011110011",  # 32
    "110011110011",  # 33
    "110000000000",  # 34
    "000000000011",  # 35
    "000011000000",  # 36
    "000000110000",  # 37
)

# Diagonal segment of sloped tiles: tile-local p1 -> p2 (order matters, spec §3.2).
TILE_DIAGONALS = {
    6: (0, 24, 24, 0), 7: (0, 0, 24, 24), 8: (24, 0, 0, 24), 9: (24, 24, 0, 0),
    18: (0, 12, 24, 0), 19: (0, 0, 24, 12), 20: (24, 12, 0, 24), 21: (24, 24, 0, 12),
    22: (0, 24, 24, 12), 23: (0, 12, 24, 24), 24: (24, 0, 0, 12), 25: (24, 12, 0, 0),
    26: (0, 24, 12, 0), 27: (12, 0, 24, 24), 28: (24, 0, 12, 24), 29: (12, 24, 0, 0),
    30: (12, 24, 24, 0), 31: (0, 0, 12, 24), 32: (12, 0, 0, 24), 33: (24, 24, 12, 0),
}
# Quarter arcs (radius 24): tile-local centre, quadrant signs (hor, ver), convex.
TILE_ARCS = {
    10: (0, 0, 1, 1, True), 11: (24, 0, -1, 1, True), 12: (24, 24, -1, -1, True),
    13: (0, 24, 1, -1, True), 14: (24, 24, -1, -1, False), 15: (0, 24, 1, -1, False),
    16: (0, 0, 1, 1, False), 17: (24, 0, -1, 1, False),
}


@functools.lru_cache(maxsize=1)
def tile_solid_masks() -> np.ndarray:
    """bool [256, 24, 24]: the solid pixels of every tile id, indexed [id, local y, local x].

    A pixel is solid when its centre is: the full tile 1, the half tiles 2-5, the slopes of
    :data:`TILE_DIAGONALS` (a centre exactly on the line counts as empty: the front side of
    spec §3.2 is where (P - p1) x (p2 - p1) >= 0) and the quarter circles of :data:`TILE_ARCS`
    (radius 24). The glitch tiles 34-37 and unused ids have no solid pixels. Computed once; the
    array is read-only.
    """
    c = np.arange(CELL) + 0.5
    ly, lx = np.meshgrid(c, c, indexing="ij")
    solid = np.zeros((256, CELL, CELL), bool)
    solid[1] = True
    solid[2] = ly < 12
    solid[3] = lx >= 12
    solid[4] = ly >= 12
    solid[5] = lx < 12
    for tid, (x1, y1, x2, y2) in TILE_DIAGONALS.items():
        solid[tid] = (ly - y1) * (x2 - x1) - (lx - x1) * (y2 - y1) < 0
    for tid, (ax, ay, _, _, convex) in TILE_ARCS.items():
        inside = (lx - ax) ** 2 + (ly - ay) ** 2 < CELL * CELL
        solid[tid] = inside if convex else ~inside
    solid.flags.writeable = False
    return solid


MOVABLE_TYPES = (14, 17, 20, 24, 26)            # spec §7 class flags
THINKABLE_TYPES = (1, 5, 20, 21, 25, 28)
NINJA_COLLIDABLE_TYPES = (1, 2, 3, 4, 5, 6, 8, 10, 11, 14, 17, 20, 21, 25, 26, 28)


def _tile_cell_order():
    """Insertion order of the reference's tile table (spec §9.1); fixes segment order per cell."""
    order = [(x, y) for x in range(1, GRID_W - 1) for y in range(1, GRID_H - 1)]
    seen = set(order)
    border = [c for x in range(GRID_W) for c in ((x, 0), (x, GRID_H - 1))]
    border += [c for y in range(GRID_H) for c in ((0, y), (GRID_W - 1, y))]
    for c in border:
        if c not in seen:
            seen.add(c)
            order.append(c)
    return order


_CELL_ORDER = _tile_cell_order()
#: TILE_ORTHO and TILE_GRID_EDGES as arrays indexed [tile id, edge]
_ORTHO = np.array(TILE_ORTHO, np.int64)
_EDGE_BITS = np.array([[int(bit) for bit in bits] for bits in TILE_GRID_EDGES], np.int64)


@dataclass
class Level:
    """One map, compiled into flat arrays (segments in the reference's per-cell order).

    Segment rows hold level-local door entity indices; :func:`make_bank` concatenates levels.
    """
    name: str
    map_data: MapData
    tiles: np.ndarray          # uint8 [44, 25], border included
    seg_f: np.ndarray          # float64 [S, SEG_F_COLS]
    seg_i: np.ndarray          # int64 [S, SEG_I_COLS]
    cell_seg: np.ndarray       # int64 [45, 26, 2] start/count into this level's segments
    hor_edge0: np.ndarray      # int16 [89, 51]
    ver_edge0: np.ndarray      # int16 [89, 51]
    ent_si: np.ndarray         # int64 [E, ENT_SI_COLS]
    ent_sf: np.ndarray         # float64 [E, ENT_SF_COLS]
    move_list: np.ndarray      # entity indices in entity_dic order, per flag
    think_list: np.ndarray
    collide_list: np.ndarray
    ball_list: np.ndarray
    spawn: tuple[float, float]

    @property
    def n_entities(self) -> int:
        return len(self.ent_si)

    @property
    def entity_types(self) -> np.ndarray:
        return self.ent_si[:, ES_TYPE].astype(np.int16)

    @property
    def content_hash(self) -> str:
        """The sha256 of the map bytes (hex): the level's identity, whatever its name."""
        return hashlib.sha256(self.map_data.raw).hexdigest()


def build_level(map_bytes: bytes, name: str | None = None) -> Level:
    """Parse map bytes and build everything the simulator needs (spec §3.3, §8, §9).

    Raises :class:`~ninjarl.sim.errors.FormatError` for a malformed map. Entity types the
    reference does not implement are skipped with one warning per map, as the reference does.
    """
    md = parse_map(bytes(map_bytes), path=name)
    if md.skipped_types:
        warnings.warn(f"{name or 'map'}: skipping entity types not simulated by the reference: "
                      f"{', '.join(map(str, md.skipped_types))}", stacklevel=2)

    tiles = np.ones((GRID_W, GRID_H), np.uint8)
    tiles[1:GRID_W - 1, 1:GRID_H - 1] = md.tiles

    # Per-cell segment lists as Python lists of (kind, flag, door, floats); flattened below.
    cells = [[[] for _ in range(GRID_H + 1)] for _ in range(GRID_W + 1)]
    hor_edge = np.zeros((EDGE_W, EDGE_H), np.int16)
    ver_edge = np.zeros((EDGE_W, EDGE_H), np.int16)
    hor_edge[:, 0] = hor_edge[:, EDGE_H - 1] = 1
    ver_edge[0, :] = ver_edge[EDGE_W - 1, :] = 1
    hor_acc = np.zeros((EDGE_W, EDGE_H), np.int64)
    ver_acc = np.zeros((EDGE_W, EDGE_H), np.int64)

    # Each tile toggles its grid edges (a parity) and adds its orthogonal-face signs; both are
    # sums, so all tiles are added at once (np.add.at adds repeated indices one by one).
    cx, cy = np.nonzero((tiles > 0) & (tiles <= 37))
    tid = tiles[cx, cy]
    hor_bits = np.zeros((EDGE_W, EDGE_H), np.int64)
    ver_bits = np.zeros((EDGE_W, EDGE_H), np.int64)
    for i in range(6):
        row, col = divmod(i, 2)
        key = (2 * cx + col, 2 * cy + row)
        np.add.at(hor_bits, key, _EDGE_BITS[tid, i])
        np.add.at(hor_acc, key, _ORTHO[tid, i])
        key = (2 * cx + row, 2 * cy + col)
        np.add.at(ver_bits, key, _EDGE_BITS[tid, 6 + i])
        np.add.at(ver_acc, key, _ORTHO[tid, 6 + i])
    hor_edge = ((hor_edge + hor_bits) % 2).astype(np.int16)
    ver_edge = ((ver_edge + ver_bits) % 2).astype(np.int16)

    for cx, cy in _CELL_ORDER:
        tid = int(tiles[cx, cy])
        if tid not in TILE_DIAGONALS and tid not in TILE_ARCS:
            continue
        ox, oy = 24 * cx, 24 * cy
        if tid in TILE_DIAGONALS:
            x1, y1, x2, y2 = TILE_DIAGONALS[tid]
            cells[cx][cy].append(_linear(ox + x1, oy + y1, ox + x2, oy + y2, oriented=True))
        if tid in TILE_ARCS:
            ax, ay, hor, ver, convex = TILE_ARCS[tid]
            cells[cx][cy].append((SEG_ARC, int(convex), -1, (ox + ax, oy + ay, hor, ver, 0, 0, 0)))

    for hx, hy in np.argwhere(hor_acc).tolist():         # in (x, y) order, as the reference
        s = int(hor_acc[hx, hy])
        p = (12 * hx, 12 * hy, 12 * hx + 12, 12 * hy)
        x1, y1, x2, y2 = p if s == 1 else (p[2], p[3], p[0], p[1])
        cells[hx // 2][math.floor((hy - 0.1 * s) / 2)].append(
            _linear(x1, y1, x2, y2, oriented=True))
    for vx, vy in np.argwhere(ver_acc).tolist():
        s = int(ver_acc[vx, vy])
        p = (12 * vx, 12 * vy + 12, 12 * vx, 12 * vy)
        x1, y1, x2, y2 = p if s == 1 else (p[2], p[3], p[0], p[1])
        cells[math.floor((vx - 0.1 * s) / 2)][vy // 2].append(
            _linear(x1, y1, x2, y2, oriented=True))

    ent_si, ent_sf, dic_keys = _build_entities(md, cells, hor_edge, ver_edge)

    seg_rows = []
    cell_seg = np.zeros((GRID_W + 1, GRID_H + 1, 2), np.int64)
    for cx in range(GRID_W + 1):
        for cy in range(GRID_H + 1):
            cell_seg[cx, cy] = (len(seg_rows), len(cells[cx][cy]))
            seg_rows.extend(cells[cx][cy])
    seg_f = np.zeros((len(seg_rows), SEG_F_COLS), np.float64)
    seg_i = np.zeros((len(seg_rows), SEG_I_COLS), np.int64)
    for s, (kind, flag, door, floats) in enumerate(seg_rows):
        seg_i[s] = (kind, flag, door)
        seg_f[s] = floats
        if door >= 0:
            ent_si[door, ES_DOOR_SEG] = s

    dic_order = sorted(range(len(dic_keys)), key=lambda e: (dic_keys[e], e))
    types = ent_si[:, ES_TYPE] if len(ent_si) else np.zeros(0, np.int64)

    def pick(allowed, order):
        return np.array([e for e in order if types[e] in allowed], np.int64)

    ball_list = pick((T_DEATH_BALL,), dic_order)
    for k, e in enumerate(ball_list):
        ent_si[e, ES_BALL_POS] = k
    return Level(
        name=name or "<map>", map_data=md, tiles=tiles, seg_f=seg_f, seg_i=seg_i,
        cell_seg=cell_seg, hor_edge0=hor_edge, ver_edge0=ver_edge, ent_si=ent_si, ent_sf=ent_sf,
        move_list=pick(MOVABLE_TYPES, dic_order), think_list=pick(THINKABLE_TYPES, dic_order),
        collide_list=pick(NINJA_COLLIDABLE_TYPES, range(len(types))), ball_list=ball_list,
        spawn=(float(md.spawn_x), float(md.spawn_y)))


def _linear(x1, y1, x2, y2, oriented):
    px, py = x2 - x1, y2 - y1
    lensq = px * px + py * py
    return (SEG_LINEAR, int(oriented), -1, (x1, y1, x2, y2, px, py, lensq if lensq else 1e-9))


def _build_entities(md: MapData, cells, hor_edge, ver_edge):
    """Entity spawn table in creation order; door segments and grid edges (spec §8.2, §8.4)."""
    n = len(md.entities)
    ent_si = np.full((n, ENT_SI_COLS), -1, np.int64)
    ent_sf = np.zeros((n, ENT_SF_COLS), np.float64)
    dic_keys = []
    last_exit_door = -1
    for e, spec in enumerate(md.entities):
        ent_si[e, ES_TYPE] = spec.type
        ent_si[e, ES_ORIENT] = spec.orientation
        ent_si[e, ES_MODE] = spec.mode
        ent_si[e, ES_EDGE_VERT] = 0
        ent_sf[e, ESF_X0] = spec.x
        ent_sf[e, ESF_Y0] = spec.y
        # The exit switch lives in entity_dic[3], right after its door (spec §8.2).
        dic_keys.append(T_EXIT_DOOR if spec.type == T_EXIT_SWITCH else spec.type)
        if spec.type == T_EXIT_DOOR:
            last_exit_door = e
        elif spec.type == T_EXIT_SWITCH:
            ent_si[e, ES_DOOR_OF] = last_exit_door
        elif spec.type in (T_REGULAR_DOOR, T_LOCKED_DOOR, T_TRAP_DOOR):
            vx, vy = ORIENT_X[spec.orientation], ORIENT_Y[spec.orientation]
            cx = min(max(math.floor((spec.x - 12 * vx) / 24), 0), GRID_W - 1)
            cy = min(max(math.floor((spec.y - 12 * vy) / 24), 0), GRID_H - 1)
            vertical = spec.orientation in (0, 4)
            if vertical:
                seg = _linear(spec.x, spec.y - 12, spec.x, spec.y + 12, oriented=False)
            else:
                seg = _linear(spec.x - 12, spec.y, spec.x + 12, spec.y, oriented=False)
            cells[cx][cy].append((seg[0], seg[1], e, seg[3]))
            hx, hy = 2 * (cx + 1), 2 * (cy + 1)
            if vertical:
                ent_si[e, ES_EDGE_VERT], ent_si[e, ES_EDGE_X], ent_si[e, ES_EDGE_Y] = 1, hx, hy - 2
            else:
                ent_si[e, ES_EDGE_X], ent_si[e, ES_EDGE_Y] = hx - 2, hy
            if spec.type != T_TRAP_DOOR:   # a trap door is created closed and opened at once
                edges = ver_edge if vertical else hor_edge
                ex, ey = int(ent_si[e, ES_EDGE_X]), int(ent_si[e, ES_EDGE_Y])
                for k in range(2):
                    key = (ex, ey + k) if vertical else (ex + k, ey)
                    if 0 <= key[0] < EDGE_W and 0 <= key[1] < EDGE_H:
                        edges[key] += 1
            ent_sf[e, ESF_X0] = spec.switch_x
            ent_sf[e, ESF_Y0] = spec.switch_y
    return ent_si, ent_sf, dic_keys


def make_bank(levels: list[Level]) -> Bank:
    """Pack levels into one :class:`Bank` (segments concatenated, entity tables padded)."""
    n_lv = len(levels)
    e_max = max(1, max(lv.n_entities for lv in levels))
    seg_off = np.cumsum([0] + [len(lv.seg_f) for lv in levels])
    seg_f = np.concatenate([lv.seg_f for lv in levels]) if levels else np.zeros((0, SEG_F_COLS))
    seg_i = np.concatenate([lv.seg_i for lv in levels])
    cell_seg = np.stack([lv.cell_seg for lv in levels]).copy()
    ent_si = np.full((n_lv, e_max, ENT_SI_COLS), -1, np.int64)
    ent_sf = np.zeros((n_lv, e_max, ENT_SF_COLS), np.float64)

    def padded(attr):
        out = np.full((n_lv, e_max), -1, np.int64)
        for k, lv in enumerate(levels):
            lst = getattr(lv, attr)
            out[k, :len(lst)] = lst
        return out, np.array([len(getattr(lv, attr)) for lv in levels], np.int64)

    for k, lv in enumerate(levels):
        cell_seg[k, :, :, 0] += seg_off[k]
        ent_si[k, :lv.n_entities] = lv.ent_si
        ent_sf[k, :lv.n_entities] = lv.ent_sf
        doors = ent_si[k, :lv.n_entities, ES_DOOR_SEG]
        doors[doors >= 0] += seg_off[k]
    # seg_i door column stays level-local (an entity index of the segment's own level)
    move_list, n_move = padded("move_list")
    think_list, n_think = padded("think_list")
    collide_list, n_collide = padded("collide_list")
    ball_list, n_balls = padded("ball_list")
    return Bank(
        seg_f=seg_f, seg_i=seg_i, cell_seg=cell_seg,
        hor_edge0=np.stack([lv.hor_edge0 for lv in levels]),
        ver_edge0=np.stack([lv.ver_edge0 for lv in levels]),
        n_ent=np.array([lv.n_entities for lv in levels], np.int64), ent_si=ent_si, ent_sf=ent_sf,
        move_list=move_list, n_move=n_move, think_list=think_list, n_think=n_think,
        collide_list=collide_list, n_collide=n_collide, ball_list=ball_list, n_balls=n_balls,
        ball_count_byte=np.array([lv.map_data.deathball_count for lv in levels], np.int64),
        spawn=np.array([lv.spawn for lv in levels], np.float64))
