"""Compiled geometric primitives and broad-phase queries (spec ``nsim.md`` §4).

Every formula keeps the reference's operation order: the simulator must match the reference
bit for bit, and floating-point results depend on that order. Squares are written ``a*a``
(spec §0 and §11.2 show this is bit-identical on the whole corpus).
"""
import math

import numpy as np

from ._jit import jit
from .constants import CELL, SQRT2_HALF
from .layout import (
    CS_COUNT,
    CS_START,
    E_CELL_X,
    E_CELL_Y,
    E_CLOSED,
    E_SEQ,
    E_X,
    E_Y,
    SEG_ARC,
    SG_CX,
    SG_CY,
    SG_DOOR,
    SG_FLAG,
    SG_HOR,
    SG_KIND,
    SG_LENSQ,
    SG_PX,
    SG_PY,
    SG_VER,
    SG_X1,
    SG_X2,
    SG_Y1,
    SG_Y2,
    V_LEVEL,
    V_SEQ,
)

# Orientation byte -> unit vector (spec §4.5).
ORIENT_X = np.array([1.0, SQRT2_HALF, 0.0, -SQRT2_HALF, -1.0, -SQRT2_HALF, 0.0, SQRT2_HALF])
ORIENT_Y = np.array([0.0, SQRT2_HALF, 1.0, SQRT2_HALF, 0.0, -SQRT2_HALF, -1.0, -SQRT2_HALF])


@jit
def clamp_cell(cx, cy):
    """Clamp a cell to the 44x25 grid (spec §2.1)."""
    return min(max(cx, 0), 43), min(max(cy, 0), 24)


@jit
def cell_of(x, y):
    """Cell of a point, clamped (spec §2.1)."""
    return clamp_cell(int(math.floor(x / CELL)), int(math.floor(y / CELL)))


@jit
def grid_move(st, n, e):
    """Re-register an entity in the cell of its current position (spec §7 grid_move).

    A moved entity is appended to the end of its new cell's list; the append number E_SEQ
    reproduces that order in neighbourhood queries.
    """
    cx, cy = cell_of(st.ent_f[n, e, E_X], st.ent_f[n, e, E_Y])
    if cx != st.ent_i[n, e, E_CELL_X] or cy != st.ent_i[n, e, E_CELL_Y]:
        st.ent_i[n, e, E_CELL_X] = cx
        st.ent_i[n, e, E_CELL_Y] = cy
        st.ent_i[n, e, E_SEQ] = st.env_i[n, V_SEQ]
        st.env_i[n, V_SEQ] += 1


@jit
def overlap_circles(x1, y1, r1, x2, y2, r2):
    """Spec §4.5: strict circle overlap, computed with a square root as the reference does."""
    dx = x1 - x2
    dy = y1 - y2
    return math.sqrt(dx * dx + dy * dy) < r1 + r2


@jit
def square_vs_point(sx, sy, semi, x, y):
    """Spec §4.5 square-vs-point penetration: (hit, nx, ny, pen, pen_other)."""
    dx = x - sx
    dy = y - sy
    penx = semi - abs(dx)
    peny = semi - abs(dy)
    if penx > 0 and peny > 0:
        if peny <= penx:
            return True, 0.0, (-1.0 if dy < 0 else 1.0), peny, penx
        return True, (-1.0 if dx < 0 else 1.0), 0.0, penx, peny
    return False, 0.0, 0.0, 0.0, 0.0


@jit
def overlap_circle_segment(x, y, r, x1, y1, x2, y2):
    """Spec §4.5 circle vs segment overlap (thwump lethal face)."""
    px = x2 - x1
    py = y2 - y1
    u = ((x - x1) * px + (y - y1) * py) / (px * px + py * py)
    if u < 0.0:
        u = 0.0
    if u > 1.0:
        u = 1.0
    a = x1 + u * px
    b = y1 + u * py
    dx = x - a
    dy = y - b
    return dx * dx + dy * dy < r * r


# ---- grid edges (half-cell occupancy used by drones and thwumps) ----------------------------------

@jit
def _half(hx, hy):
    return min(max(hx, 0), 87), min(max(hy, 0), 49)


@jit
def is_empty_row(st, n, x1, x2, y, direction):
    """Spec §4.5: no horizontal grid edge on the row boundary crossed when moving in `direction`."""
    row = y + 1 if direction == 1 else y
    for x in range(x1, x2 + 1):
        hx, hy = _half(x, row)
        if st.hor_edge[n, hx, hy] != 0:
            return False
    return True


@jit
def is_empty_column(st, n, x, y1, y2, direction):
    """Spec §4.5: vertical counterpart of is_empty_row."""
    col = x + 1 if direction == 1 else x
    for y in range(y1, y2 + 1):
        hx, hy = _half(col, y)
        if st.ver_edge[n, hx, hy] != 0:
            return False
    return True


# ---- segments ---------------------------------------------------------------------------------------

@jit
def segment_active(bank, st, n, s):
    """Tile segments are always active; a door's segment only while the door is closed."""
    door = bank.seg_i[s, SG_DOOR]
    return door < 0 or st.ent_i[n, door, E_CLOSED] != 0


@jit
def cell_box(x1, y1, x2, y2):
    """Cell range of a pixel rectangle for segment queries (spec §4.6)."""
    cx0 = min(max(int(math.floor(x1 / CELL)), 0), 43)
    cx1 = min(max(int(math.floor(x2 / CELL)), 0), 43)
    cy0 = min(max(int(math.floor(y1 / CELL)), 0), 24)
    cy1 = min(max(int(math.floor(y2 / CELL)), 0), 24)
    return cx0, cx1, cy0, cy1


@jit
def closest_point(bank, s, x, y):
    """Closest point of segment s to (x, y) and its back-facing flag (spec §4.1, §4.2)."""
    f = bank.seg_f
    if bank.seg_i[s, SG_KIND] == SEG_ARC:
        cx = f[s, SG_CX]
        cy = f[s, SG_CY]
        hor = f[s, SG_HOR]
        ver = f[s, SG_VER]
        dx = x - cx
        dy = y - cy
        if dx * hor > 0 and dy * ver > 0:
            d = math.sqrt(dx * dx + dy * dy)
            if d != 0:
                a = cx + (24 * dx) / d
                b = cy + (24 * dy) / d
                if bank.seg_i[s, SG_FLAG] != 0:
                    return d < 24, a, b
                return d > 24, a, b
        if dx * hor > dy * ver:
            return False, cx + 24 * hor, cy
        return False, cx, cy + 24 * ver
    x1 = f[s, SG_X1]
    y1 = f[s, SG_Y1]
    px = f[s, SG_PX]
    py = f[s, SG_PY]
    dx = x - x1
    dy = y - y1
    u = (dx * px + dy * py) / f[s, SG_LENSQ]
    if u < 0.0:
        u = 0.0
    if u > 1.0:
        u = 1.0
    a = x1 + u * px
    b = y1 + u * py
    back = dy * px - dx * py < 0 and bank.seg_i[s, SG_FLAG] != 0
    return back, a, b


@jit
def closest_in_box(bank, st, n, cx0, cx1, cy0, cy1, x, y):
    """Spec §4.4 get_single_closest_point over the active segments of a cell box.

    Returns (result, a, b): result -1 back-facing, +1 front-facing, 0 no segment.
    """
    lv = st.env_i[n, V_LEVEL]
    best = math.inf
    result = 0
    ba = 0.0
    bb = 0.0
    for cx in range(cx0, cx1 + 1):
        for cy in range(cy0, cy1 + 1):
            start = bank.cell_seg[lv, cx, cy, CS_START]
            for s in range(start, start + bank.cell_seg[lv, cx, cy, CS_COUNT]):
                if not segment_active(bank, st, n, s):
                    continue
                back, a, b = closest_point(bank, s, x, y)
                ex = x - a
                ey = y - b
                dsq = ex * ex + ey * ey
                if not back:
                    dsq -= 0.1
                if dsq < best:
                    best = dsq
                    ba = a
                    bb = b
                    result = -1 if back else 1
    return result, ba, bb


@jit
def toi_point(x, y, vx, vy, a, b, r):
    """Spec §4.3 circle vs point time of impact (may exceed 1)."""
    dx = x - a
    dy = y - b
    d = dx * dx + dy * dy
    v = vx * vx + vy * vy
    k = dx * vx + dy * vy
    if d - r * r > 0:
        rad = k * k - v * (d - r * r)
        if v > 0.0001 and k < 0 and rad >= 0:
            return (-k - math.sqrt(rad)) / v
        return 1.0
    return 0.0


@jit
def toi_line(x, y, vx, vy, a1, b1, a2, b2, r):
    """Spec §4.3 circle vs line segment time of impact."""
    wx = a2 - a1
    wy = b2 - b1
    seg_len = math.sqrt(wx * wx + wy * wy)
    nx = wx / seg_len
    ny = wy / seg_len
    normal_proj = (x - a1) * ny - (y - b1) * nx
    hor_proj = (x - a1) * nx + (y - b1) * ny
    if abs(normal_proj) >= r:
        direction = vx * ny - vy * nx
        if direction * normal_proj < 0:
            t = (abs(normal_proj) - r) / abs(direction)
            if t > 1.0:
                t = 1.0
            hor_proj2 = hor_proj + t * (vx * nx + vy * ny)
            if 0 <= hor_proj2 <= seg_len:
                return t
    elif 0 <= hor_proj <= seg_len:
        return 0.0
    return 1.0


@jit
def toi_arc(x, y, vx, vy, a, b, hor, ver, r):
    """Spec §4.3 circle vs quarter arc (radius 24) time of impact."""
    dx = x - a
    dy = y - b
    d = dx * dx + dy * dy
    v = vx * vx + vy * vy
    k = dx * vx + dy * vy
    r1 = 24 + r
    r2 = 24 - r
    t = 1.0
    if d > r1 * r1:
        rad = k * k - v * (d - r1 * r1)
        if v > 0.0001 and k < 0 and rad >= 0:
            t = (-k - math.sqrt(rad)) / v
    elif d < r2 * r2:
        rad = k * k - v * (d - r2 * r2)
        if v > 0.0001:
            t = (-k + math.sqrt(rad)) / v
            if t > 1.0:
                t = 1.0
    else:
        t = 0.0
    if (dx + t * vx) * hor > 0 and (dy + t * vy) * ver > 0:
        return t
    return 1.0


@jit
def segment_toi(bank, s, x, y, vx, vy, r):
    """Spec §4.3 segment TOI: the earliest of both end points and the segment body."""
    f = bank.seg_f
    if bank.seg_i[s, SG_KIND] == SEG_ARC:
        cx = f[s, SG_CX]
        cy = f[s, SG_CY]
        hor = f[s, SG_HOR]
        ver = f[s, SG_VER]
        t = toi_point(x, y, vx, vy, cx + 24 * hor, cy, r)
        t = min(t, toi_point(x, y, vx, vy, cx, cy + 24 * ver, r))
        return min(t, toi_arc(x, y, vx, vy, cx, cy, hor, ver, r))
    x1 = f[s, SG_X1]
    y1 = f[s, SG_Y1]
    x2 = f[s, SG_X2]
    y2 = f[s, SG_Y2]
    t = toi_point(x, y, vx, vy, x1, y1, r)
    t = min(t, toi_point(x, y, vx, vy, x2, y2, r))
    return min(t, toi_line(x, y, vx, vy, x1, y1, x2, y2, r))


@jit
def sweep(bank, st, n, x, y, dx, dy, r):
    """Spec §4.6 sweep of a circle of radius r from (x, y) by (dx, dy): the fraction t in [0, 1]."""
    xe = x + dx
    ye = y + dy
    m = r + 1
    cx0, cx1, cy0, cy1 = cell_box(min(x, xe) - m, min(y, ye) - m, max(x, xe) + m, max(y, ye) + m)
    lv = st.env_i[n, V_LEVEL]
    t = 1.0
    for cx in range(cx0, cx1 + 1):
        for cy in range(cy0, cy1 + 1):
            start = bank.cell_seg[lv, cx, cy, CS_START]
            for s in range(start, start + bank.cell_seg[lv, cx, cy, CS_COUNT]):
                if segment_active(bank, st, n, s):
                    t = min(t, segment_toi(bank, s, x, y, dx, dy, r))
    return t
