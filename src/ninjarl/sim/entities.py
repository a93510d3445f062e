"""Entity behaviour: move(), think(), physical and logical collisions (spec ``nsim.md`` §7, §8).

Every function works on one entity ``e`` of environment ``n`` and reads/writes the arrays of
:class:`~ninjarl.sim.layout.State` in place. Entities read and modify the ninja's fields live
(spec §6.6), so the caller's ordering (spec §5, §6.4, §6.6) decides what each one sees.

Formulas keep the reference's operation order (left-to-right products, true divisions), because
the golden traces are bit-exact. Squares are written ``a*a`` (spec §0, §11.2).
"""
import math

import numpy as np

from ._jit import jit_inline
from .constants import (
    BOOST_PAD_RADIUS,
    BOUNCE_BLOCK_DAMPENING,
    BOUNCE_BLOCK_SEMI_SIDE,
    BOUNCE_BLOCK_STIFFNESS,
    BOUNCE_BLOCK_STRENGTH,
    DEATH_BALL_RADIUS,
    DEATH_BALL_TILE_RADIUS,
    DOOR_SWITCH_RADIUS,
    EXIT_DOOR_RADIUS,
    EXIT_SWITCH_RADIUS,
    GOLD_RADIUS,
    LAUNCH_PAD_BOOST,
    LAUNCH_PAD_RADIUS,
    MINE_RADIUS_DEADLY,
    MINE_RADIUS_SAFE,
    MINE_RADIUS_TOGGLING,
    MINI_DRONE_GRID,
    MINI_DRONE_RADIUS,
    MINI_DRONE_SPEED,
    NINJA_RADIUS,
    ONE_WAY_SEMI_SIDE,
    REGULAR_DOOR_RADIUS,
    SHOVE_THWUMP_CORE_RADIUS,
    SHOVE_THWUMP_SEMI_SIDE,
    ST_CELEBRATING,
    ST_DEAD,
    T_BOOST_PAD,
    T_BOUNCE_BLOCK,
    T_DEATH_BALL,
    T_EXIT_DOOR,
    T_EXIT_SWITCH,
    T_GOLD,
    T_LAUNCH_PAD,
    T_LOCKED_DOOR,
    T_MINE,
    T_MINI_DRONE,
    T_ONE_WAY,
    T_REGULAR_DOOR,
    T_SHOVE_THWUMP,
    T_THWUMP,
    T_TOGGLE_MINE,
    T_TRAP_DOOR,
    T_ZAP_DRONE,
    THWUMP_BACKWARD_SPEED,
    THWUMP_FORWARD_SPEED,
    THWUMP_SEMI_SIDE,
    ZAP_DRONE_GRID,
    ZAP_DRONE_RADIUS,
    ZAP_DRONE_SPEED,
)
from .geometry import (
    ORIENT_X,
    ORIENT_Y,
    cell_box,
    cell_of,
    closest_in_box,
    grid_move,
    is_empty_column,
    is_empty_row,
    overlap_circle_segment,
    overlap_circles,
    square_vs_point,
    sweep,
)
from .layout import (
    DOORS_OPENED,
    E_ACTIVE,
    E_CELL_X,
    E_CELL_Y,
    E_CLOSED,
    E_DIR,
    E_FLAG,
    E_SEQ,
    E_STATE,
    E_TIMER,
    E_TX,
    E_TY,
    E_VX,
    E_VY,
    E_X,
    E_XDIR,
    E_Y,
    E_YDIR,
    ES_BALL_POS,
    ES_DOOR_OF,
    ES_EDGE_VERT,
    ES_EDGE_X,
    ES_EDGE_Y,
    ES_MODE,
    ES_ORIENT,
    ES_TYPE,
    ESF_X0,
    ESF_Y0,
    GOLD,
    STATE,
    V_LEVEL,
    V_SEQ,
    VX,
    VY,
    X_OLD,
    Y_OLD,
    X,
    Y,
    kill,
    valid_target,
    win,
)

# Drone directions 0 right, 1 down, 2 left, 3 up (spec §8.11).
DRONE_DX = np.array([1, 0, -1, 0], np.int64)
DRONE_DY = np.array([0, 1, 0, -1], np.int64)
# Turn preferences per patrol mode, added to the current direction modulo 4 (spec §8.11).
DRONE_TURNS = np.array([[1, 0, 3, 2], [3, 0, 1, 2], [0, 1, 3, 2], [0, 3, 1, 2]], np.int64)

# Death ball (spec §1.2, §8.12)
BALL_ACCEL = 0.04
BALL_MAX_SPEED = 0.85
BALL_DRAG_MAX_SPEED = 0.9
BALL_DRAG_NO_TARGET = 0.95

# Shove thwump speeds (spec §8.9)
SHOVE_LAUNCH_SPEED = 4
SHOVE_RETREAT_SPEED = 1

NONE_PHYS = (False, 0.0, 0.0, 0.0, 0.0)


@jit_inline
def _orient(bank, lv, e):
    # The map parser rejects orientations >= 8; the mask only keeps table reads in bounds.
    return bank.ent_si[lv, e, ES_ORIENT] & 7


@jit_inline
def _floor(v):
    return int(math.floor(v))


@jit_inline
def _ninja_overlaps(st, n, e, r):
    """Strict circle overlap of entity e (radius r) with the ninja (spec §4.5)."""
    return overlap_circles(st.ent_f[n, e, E_X], st.ent_f[n, e, E_Y], r,
                           st.ninja_f[n, X], st.ninja_f[n, Y], NINJA_RADIUS)


# ---- reset -------------------------------------------------------------------------------------

@jit_inline
def reset_entity(bank, st, n, e):
    """State of entity e right after a fresh map load (spec §7 creation, §8 constructors).

    E_SEQ = e reproduces the creation-order appends to the grid lists; the exit door is not in
    the grid until its switch is hit (spec §8.2).
    """
    lv = st.env_i[n, V_LEVEL]
    t = bank.ent_si[lv, e, ES_TYPE]
    x = bank.ent_sf[lv, e, ESF_X0]
    y = bank.ent_sf[lv, e, ESF_Y0]
    for k in range(st.ent_f.shape[2]):
        st.ent_f[n, e, k] = 0.0
    for k in range(st.ent_i.shape[2]):
        st.ent_i[n, e, k] = 0
    st.ent_f[n, e, E_X] = x
    st.ent_f[n, e, E_Y] = y
    st.ent_i[n, e, E_ACTIVE] = 1
    st.ent_i[n, e, E_SEQ] = e
    if t == T_EXIT_DOOR:
        st.ent_i[n, e, E_CELL_X] = -1
        st.ent_i[n, e, E_CELL_Y] = -1
    else:
        cx, cy = cell_of(x, y)
        st.ent_i[n, e, E_CELL_X] = cx
        st.ent_i[n, e, E_CELL_Y] = cy
    if t == T_MINE:
        st.ent_i[n, e, E_STATE] = 0
    elif t == T_TOGGLE_MINE:
        st.ent_i[n, e, E_STATE] = 1
    elif t == T_ZAP_DRONE or t == T_MINI_DRONE:
        st.ent_i[n, e, E_DIR] = (_orient(bank, lv, e) // 2) & 3
        st.ent_f[n, e, E_TX] = x
        st.ent_f[n, e, E_TY] = y
    elif t == T_REGULAR_DOOR or t == T_LOCKED_DOOR:
        st.ent_i[n, e, E_CLOSED] = 1
    # A trap door is created closed and opened at once: E_CLOSED stays 0 and the bank's edges
    # already hold the net contribution 0.


# ---- doors --------------------------------------------------------------------------------------

@jit_inline
def set_door_closed(bank, st, n, e, closed):
    """Spec §8.4 change_state: segment active flag and +-1 on the door's two grid edges.

    Not idempotent, as in the reference: opening an open regular door subtracts again.
    """
    lv = st.env_i[n, V_LEVEL]
    st.ent_i[n, e, E_CLOSED] = 1 if closed else 0
    step = 1 if closed else -1
    ex = bank.ent_si[lv, e, ES_EDGE_X]
    ey = bank.ent_si[lv, e, ES_EDGE_Y]
    if bank.ent_si[lv, e, ES_EDGE_VERT] == 1:
        edges = st.ver_edge
        ex1, ey1 = ex, ey + 1
    else:
        edges = st.hor_edge
        ex1, ey1 = ex + 1, ey
    w = edges.shape[1]
    h = edges.shape[2]
    # Door cells are clamped at load, so the keys are always in range; the guard is for safety.
    if 0 <= ex < w and 0 <= ey < h:
        edges[n, ex, ey] += step
    if 0 <= ex1 < w and 0 <= ey1 < h:
        edges[n, ex1, ey1] += step


# ---- drones (14, 26) ----------------------------------------------------------------------------

@jit_inline
def _drone_try_direction(st, n, e, d, r, grid):
    """Spec §8.11 direction test from the drone's (snapped) position; sets the target if free."""
    px = st.ent_f[n, e, E_X]
    py = st.ent_f[n, e, E_Y]
    ex = DRONE_DX[d]
    ey = DRONE_DY[d]
    tx = px + grid * ex
    ty = py + grid * ey
    if ey == 0:
        c = _floor((px + ex * r) / 12)
        ct = _floor((tx + ex * r) / 12)
        y1 = _floor((py - r) / 12)
        y2 = _floor((py + r) / 12)
        while c != ct:
            if not is_empty_column(st, n, c, y1, y2, ex):
                return False
            c += ex
    else:
        c = _floor((py + ey * r) / 12)
        ct = _floor((ty + ey * r) / 12)
        x1 = _floor((px - r) / 12)
        x2 = _floor((px + r) / 12)
        while c != ct:
            if not is_empty_row(st, n, x1, x2, c, ey):
                return False
            c += ey
    st.ent_f[n, e, E_TX] = tx
    st.ent_f[n, e, E_TY] = ty
    return True


@jit_inline
def _drone_move(bank, st, n, e, lv, speed, r, grid):
    """Spec §8.11 move(): walk to the target cell centre, then pick the next direction."""
    d = st.ent_i[n, e, E_DIR]
    vx = speed * DRONE_DX[d]
    vy = speed * DRONE_DY[d]
    px = st.ent_f[n, e, E_X]
    py = st.ent_f[n, e, E_Y]
    tx = st.ent_f[n, e, E_TX]
    ty = st.ent_f[n, e, E_TY]
    dx = tx - px
    dy = ty - py
    dist = math.sqrt(dx * dx + dy * dy)
    if dist < 0.000001 or (dx * (tx - (px + vx)) + dy * (ty - (py + vy))) < 0:
        st.ent_f[n, e, E_X] = tx
        st.ent_f[n, e, E_Y] = ty
        mode = bank.ent_si[lv, e, ES_MODE] & 3
        for i in range(4):
            nd = (d + DRONE_TURNS[mode, i]) % 4
            if _drone_try_direction(st, n, e, nd, r, grid):
                st.ent_i[n, e, E_DIR] = nd
                disp = speed - dist
                # The leftover step is applied without grid_move (quirk Q11).
                st.ent_f[n, e, E_X] = st.ent_f[n, e, E_X] + disp * DRONE_DX[nd]
                st.ent_f[n, e, E_Y] = st.ent_f[n, e, E_Y] + disp * DRONE_DY[nd]
                break
    else:
        st.ent_f[n, e, E_X] = px + vx
        st.ent_f[n, e, E_Y] = py + vy
        grid_move(st, n, e)


# ---- bounce block (17) --------------------------------------------------------------------------

@jit_inline
def _bounce_block_move(bank, st, n, e, lv):
    """Spec §8.7 move(): damped spring towards the origin."""
    f = st.ent_f
    f[n, e, E_VX] *= BOUNCE_BLOCK_DAMPENING
    f[n, e, E_VY] *= BOUNCE_BLOCK_DAMPENING
    f[n, e, E_X] += f[n, e, E_VX]
    f[n, e, E_Y] += f[n, e, E_VY]
    fx = BOUNCE_BLOCK_STIFFNESS * (bank.ent_sf[lv, e, ESF_X0] - f[n, e, E_X])
    fy = BOUNCE_BLOCK_STIFFNESS * (bank.ent_sf[lv, e, ESF_Y0] - f[n, e, E_Y])
    f[n, e, E_X] += fx
    f[n, e, E_Y] += fy
    f[n, e, E_VX] += fx
    f[n, e, E_VY] += fy
    grid_move(st, n, e)


# ---- thwump (20) --------------------------------------------------------------------------------

@jit_inline
def _thwump_axes(bank, lv, e):
    """(horizontal, direction) of a thwump from its orientation (spec §8.8)."""
    o = _orient(bank, lv, e)
    horizontal = o == 0 or o == 4
    direction = 1 if (o == 0 or o == 2) else -1
    return horizontal, direction


@jit_inline
def _thwump_move(bank, st, n, e, lv):
    """Spec §8.8 move(): charge or retreat one step; a wall ahead turns it into a retreat."""
    state = st.ent_i[n, e, E_STATE]
    if state == 0:
        return
    horizontal, direction = _thwump_axes(bank, lv, e)
    speed = THWUMP_FORWARD_SPEED if state == 1 else THWUMP_BACKWARD_SPEED
    sd = direction * state
    # Work on the moving axis ("a") with the other axis ("b") fixed.
    if horizontal:
        ka, kb = E_X, E_Y
        origin = bank.ent_sf[lv, e, ESF_X0]
    else:
        ka, kb = E_Y, E_X
        origin = bank.ent_sf[lv, e, ESF_Y0]
    a = st.ent_f[n, e, ka]
    b = st.ent_f[n, e, kb]
    a_new = a + speed * sd
    if state == -1 and (a_new - origin) * (a - origin) < 0:
        # Strict test: a step landing exactly on the origin keeps retreating (quirk Q3).
        st.ent_f[n, e, ka] = origin
        st.ent_i[n, e, E_STATE] = 0
        return
    c = _floor((a + sd * 11) / 12)
    c_new = _floor((a_new + sd * 11) / 12)
    if c != c_new:
        b1 = _floor((b - 11) / 12)
        b2 = _floor((b + 11) / 12)
        if horizontal:
            free = is_empty_column(st, n, c, b1, b2, sd)
        else:
            free = is_empty_row(st, n, b1, b2, c, sd)
        if not free:
            st.ent_i[n, e, E_STATE] = -1
            return
    st.ent_f[n, e, ka] = a_new
    grid_move(st, n, e)


@jit_inline
def _thwump_think(bank, st, n, e, lv):
    """Spec §8.8 think(): an idle thwump charges when it has line of sight to the ninja."""
    if st.ent_i[n, e, E_STATE] != 0 or not valid_target(st, n):
        return
    horizontal, direction = _thwump_axes(bank, lv, e)
    activation_range = 2 * (THWUMP_SEMI_SIDE + NINJA_RADIUS)
    if horizontal:
        a = st.ent_f[n, e, E_X]
        b = st.ent_f[n, e, E_Y]
        ninja_a = st.ninja_f[n, X]
        ninja_b = st.ninja_f[n, Y]
    else:
        a = st.ent_f[n, e, E_Y]
        b = st.ent_f[n, e, E_X]
        ninja_a = st.ninja_f[n, Y]
        ninja_b = st.ninja_f[n, X]
    if not abs(b - ninja_b) < activation_range:
        return
    ninja_cell = _floor(ninja_a / 12)
    cell = _floor((a - direction * 11) / 12)
    b1 = _floor((b - 11) / 12)
    b2 = _floor((b + 11) / 12)
    d = ninja_cell - cell
    if d * direction >= 0:
        # Python's for/break leaves the loop variable at 99 when the loop never breaks.
        i = 0
        while True:
            if horizontal:
                free = is_empty_column(st, n, cell, b1, b2, direction)
            else:
                free = is_empty_row(st, n, b1, b2, cell, direction)
            if not free:
                d = ninja_cell - cell
                break
            cell += direction
            if i == 99:
                break
            i += 1
        if i > 0 and d * direction <= 0:
            st.ent_i[n, e, E_STATE] = 1


# ---- shove thwump (28) --------------------------------------------------------------------------

@jit_inline
def _shove_move(st, n, e, mx, my, speed):
    """Spec §8.9 move_if_possible(): one step along the stored axis; a wall starts the retreat."""
    px = st.ent_f[n, e, E_X]
    py = st.ent_f[n, e, E_Y]
    if st.ent_f[n, e, E_YDIR] == 0:
        xn = px + mx * speed
        c = _floor(px / 12)
        if c != _floor(xn / 12):
            y1 = _floor((py - 8) / 12)
            y2 = _floor((py + 8) / 12)
            if not is_empty_column(st, n, c, y1, y2, mx):
                st.ent_i[n, e, E_STATE] = 3
                return
        st.ent_f[n, e, E_X] = xn
    else:
        yn = py + my * speed
        c = _floor(py / 12)
        if c != _floor(yn / 12):
            x1 = _floor((px - 8) / 12)
            x2 = _floor((px + 8) / 12)
            if not is_empty_row(st, n, x1, x2, c, my):
                st.ent_i[n, e, E_STATE] = 3
                return
        st.ent_f[n, e, E_Y] = yn
    grid_move(st, n, e)


@jit_inline
def _shove_think(bank, st, n, e, lv):
    """Spec §8.9 think(): armed -> launch once untouched; launch until a wall; retreat home."""
    if st.ent_i[n, e, E_STATE] == 1:
        if st.ent_i[n, e, E_FLAG] != 0:
            st.ent_i[n, e, E_FLAG] = 0
            return
        st.ent_i[n, e, E_STATE] = 2
    state = st.ent_i[n, e, E_STATE]
    xdir = st.ent_f[n, e, E_XDIR]
    ydir = st.ent_f[n, e, E_YDIR]
    if state == 3:
        x0 = bank.ent_sf[lv, e, ESF_X0]
        y0 = bank.ent_sf[lv, e, ESF_Y0]
        od = abs(st.ent_f[n, e, E_X] - x0) + abs(st.ent_f[n, e, E_Y] - y0)
        if od >= 1:
            _shove_move(st, n, e, xdir, ydir, SHOVE_RETREAT_SPEED)
        else:
            # The snap home calls no grid_move (spec §8.9 clarified).
            st.ent_f[n, e, E_X] = x0
            st.ent_f[n, e, E_Y] = y0
            st.ent_i[n, e, E_STATE] = 0
    elif state == 2:
        _shove_move(st, n, e, -xdir, -ydir, SHOVE_LAUNCH_SPEED)


# ---- death ball (25) ----------------------------------------------------------------------------

@jit_inline
def _death_ball_think(bank, st, n, e, lv):
    """Spec §8.12 think(): home in on the ninja, sweep and depenetrate vs tiles, bounce off the
    tiles, repel later balls, grid_move."""
    f = st.ent_f
    bx = f[n, e, E_X]
    by = f[n, e, E_Y]
    vx = f[n, e, E_VX]
    vy = f[n, e, E_VY]
    if not valid_target(st, n):
        vx *= BALL_DRAG_NO_TARGET
        vy *= BALL_DRAG_NO_TARGET
    else:
        ux = st.ninja_f[n, X] - bx
        uy = st.ninja_f[n, Y] - by
        dist = math.sqrt(ux * ux + uy * uy)
        if dist > 0:
            ux /= dist
            uy /= dist
        vx += ux * BALL_ACCEL
        vy += uy * BALL_ACCEL
        s = math.sqrt(vx * vx + vy * vy)
        if s > BALL_MAX_SPEED:
            ns = (s - BALL_MAX_SPEED) * BALL_DRAG_MAX_SPEED
            if ns <= 0.01:
                ns = 0.0
            ns += BALL_MAX_SPEED
            vx = vx / s * ns
            vy = vy / s * ns

    x_old = bx
    y_old = by
    t = sweep(bank, st, n, x_old, y_old, vx, vy, DEATH_BALL_TILE_RADIUS * 0.5)
    bx = x_old + t * vx
    by = y_old + t * vy

    r = DEATH_BALL_TILE_RADIUS
    nsum_x = 0.0
    nsum_y = 0.0
    for _ in range(16):
        # The reference re-gathers the segments around the moved ball on every iteration.
        cx0, cx1, cy0, cy1 = cell_box(bx - r, by - r, bx + r, by + r)
        res, a, b = closest_in_box(bank, st, n, cx0, cx1, cy0, cy1, bx, by)
        if res == 0:
            break
        dx = bx - a
        dy = by - b
        dist = math.sqrt(dx * dx + dy * dy)
        depen = r - dist * res
        if depen < 0.0000001:
            break
        if dist == 0:
            # The reference returns here: no bounce, no ball-ball push, no grid_move this frame.
            f[n, e, E_X] = bx
            f[n, e, E_Y] = by
            f[n, e, E_VX] = vx
            f[n, e, E_VY] = vy
            return
        xn = dx / dist
        yn = dy / dist
        bx += xn * depen
        by += yn * depen
        nsum_x += xn
        nsum_y += yn

    nlen = math.sqrt(nsum_x * nsum_x + nsum_y * nsum_y)
    if nlen > 0:
        nx = nsum_x / nlen
        ny = nsum_y / nlen
        k = vx * nx + vy * ny
        if k < 0:
            s = math.sqrt(vx * vx + vy * vy)
            strength = 1 if s <= 1.35 else 2
            vx -= nx * k * strength
            vy -= ny * k * strength

    # Ball-ball repulsion: only balls later in entity_dic[25], gated by map byte 1200 (quirk Q6).
    pos = bank.ent_si[lv, e, ES_BALL_POS]
    if pos + 1 < bank.ball_count_byte[lv]:
        for j in range(pos + 1, bank.n_balls[lv]):
            o = bank.ball_list[lv, j]
            dx = bx - f[n, o, E_X]
            dy = by - f[n, o, E_Y]
            dist = math.sqrt(dx * dx + dy * dy)
            # dist == 0 divides by zero in the reference (fatal there); skip that pair instead.
            if dist < 16 and dist > 0:
                px = dx / dist * 4
                py = dy / dist * 4
                vx += px
                vy += py
                f[n, o, E_VX] -= px
                f[n, o, E_VY] -= py

    f[n, e, E_X] = bx
    f[n, e, E_Y] = by
    f[n, e, E_VX] = vx
    f[n, e, E_VY] = vy
    grid_move(st, n, e)


# ---- mines (1, 21) ------------------------------------------------------------------------------

@jit_inline
def _mine_radius(state):
    if state == 0:
        return MINE_RADIUS_DEADLY
    if state == 1:
        return MINE_RADIUS_SAFE
    return MINE_RADIUS_TOGGLING


@jit_inline
def _mine_think(st, n, e):
    """Spec §8.1 think(): safe -> toggling on contact, toggling -> deadly once left."""
    state = st.ent_i[n, e, E_STATE]
    if valid_target(st, n):
        if state == 1:
            if _ninja_overlaps(st, n, e, MINE_RADIUS_SAFE):
                st.ent_i[n, e, E_STATE] = 2
        elif state == 2:
            if not _ninja_overlaps(st, n, e, MINE_RADIUS_TOGGLING):
                st.ent_i[n, e, E_STATE] = 0
    elif state == 2 and st.ninja_i[n, STATE] == ST_DEAD:
        st.ent_i[n, e, E_STATE] = 1


# ---- public dispatch ----------------------------------------------------------------------------

@jit_inline
def move_entity(bank, st, n, e):
    """move() of types 14, 17, 20, 24, 26 (spec §5, §8.7, §8.8, §8.10, §8.11)."""
    lv = st.env_i[n, V_LEVEL]
    t = bank.ent_si[lv, e, ES_TYPE]
    if t == T_ZAP_DRONE:
        _drone_move(bank, st, n, e, lv, ZAP_DRONE_SPEED, ZAP_DRONE_RADIUS, ZAP_DRONE_GRID)
    elif t == T_MINI_DRONE:
        _drone_move(bank, st, n, e, lv, MINI_DRONE_SPEED, MINI_DRONE_RADIUS, MINI_DRONE_GRID)
    elif t == T_BOUNCE_BLOCK:
        _bounce_block_move(bank, st, n, e, lv)
    elif t == T_THWUMP:
        _thwump_move(bank, st, n, e, lv)
    elif t == T_BOOST_PAD:
        # Spec §8.10: +2 px/frame along the ninja's velocity, once per contact.
        if not valid_target(st, n):
            st.ent_i[n, e, E_FLAG] = 0
            return
        if _ninja_overlaps(st, n, e, BOOST_PAD_RADIUS):
            if st.ent_i[n, e, E_FLAG] == 0:
                xs = st.ninja_f[n, VX]
                ys = st.ninja_f[n, VY]
                v = math.sqrt(xs * xs + ys * ys)
                if v > 0:
                    bx = 2 * xs / v
                    by = 2 * ys / v
                    st.ninja_f[n, VX] = xs + bx
                    st.ninja_f[n, VY] = ys + by
                st.ent_i[n, e, E_FLAG] = 1
        else:
            st.ent_i[n, e, E_FLAG] = 0


@jit_inline
def think_entity(bank, st, n, e):
    """think() of types 1, 5, 20, 21, 25, 28 (spec §5, §8.1, §8.4, §8.8, §8.9, §8.12)."""
    lv = st.env_i[n, V_LEVEL]
    t = bank.ent_si[lv, e, ES_TYPE]
    if t == T_MINE or t == T_TOGGLE_MINE:
        _mine_think(st, n, e)
    elif t == T_REGULAR_DOOR:
        # Spec §8.4: an open regular door closes after more than 5 untouched frames.
        if st.ent_i[n, e, E_CLOSED] == 0:
            st.ent_i[n, e, E_TIMER] += 1
            if st.ent_i[n, e, E_TIMER] > 5:
                set_door_closed(bank, st, n, e, True)
    elif t == T_THWUMP:
        _thwump_think(bank, st, n, e, lv)
    elif t == T_DEATH_BALL:
        _death_ball_think(bank, st, n, e, lv)
    elif t == T_SHOVE_THWUMP:
        _shove_think(bank, st, n, e, lv)


@jit_inline
def _one_way_depen(bank, st, n, e, lv):
    """Spec §8.6 depenetration of the ninja by a one-way platform: (hit, nx, ny, length)."""
    o = _orient(bank, lv, e)
    nx = ORIENT_X[o]
    ny = ORIENT_Y[o]
    ox = st.ent_f[n, e, E_X]
    oy = st.ent_f[n, e, E_Y]
    xs = st.ninja_f[n, VX]
    ys = st.ninja_f[n, VY]
    dx = st.ninja_f[n, X] - ox
    dy = st.ninja_f[n, Y] - oy
    lat = dy * nx - dx * ny
    dirn = (ys * nx - xs * ny) * lat
    wide = 0.91 if dirn < 0 else 0.51
    if abs(lat) < wide * NINJA_RADIUS + ONE_WAY_SEMI_SIDE:
        nd = dx * nx + dy * ny
        if 0 < nd <= NINJA_RADIUS:
            if xs * nx + ys * ny <= 0:
                dx_old = st.ninja_f[n, X_OLD] - ox
                dy_old = st.ninja_f[n, Y_OLD] - oy
                nd_old = dx_old * nx + dy_old * ny
                if NINJA_RADIUS - nd_old <= 1.1:
                    return True, nx, ny, NINJA_RADIUS - nd
    return False, 0.0, 0.0, 0.0


@jit_inline
def physical_collision(bank, st, n, e):
    """Physical collision of types 11, 17, 20, 28 (spec §6.4, §8.6-§8.9).

    Returns (hit, nx, ny, length, length2); the caller applies the push to the ninja.
    """
    lv = st.env_i[n, V_LEVEL]
    t = bank.ent_si[lv, e, ES_TYPE]
    x = st.ninja_f[n, X]
    y = st.ninja_f[n, Y]
    if t == T_ONE_WAY:
        hit, nx, ny, ln = _one_way_depen(bank, st, n, e, lv)
        if hit:
            return True, nx, ny, ln, 0.0
    elif t == T_BOUNCE_BLOCK:
        hit, nx, ny, ln, ln2 = square_vs_point(st.ent_f[n, e, E_X], st.ent_f[n, e, E_Y],
                                               BOUNCE_BLOCK_SEMI_SIDE + NINJA_RADIUS, x, y)
        if hit:
            # The block takes 80 % of the push, the ninja 20 % (no grid_move here, quirk Q11).
            k = 1 - BOUNCE_BLOCK_STRENGTH
            st.ent_f[n, e, E_X] -= nx * ln * k
            st.ent_f[n, e, E_Y] -= ny * ln * k
            st.ent_f[n, e, E_VX] -= nx * ln * k
            st.ent_f[n, e, E_VY] -= ny * ln * k
            return True, nx, ny, ln * BOUNCE_BLOCK_STRENGTH, ln2
    elif t == T_THWUMP:
        hit, nx, ny, ln, ln2 = square_vs_point(st.ent_f[n, e, E_X], st.ent_f[n, e, E_Y],
                                               THWUMP_SEMI_SIDE + NINJA_RADIUS, x, y)
        if hit:
            return True, nx, ny, ln, ln2
    elif t == T_SHOVE_THWUMP:
        state = st.ent_i[n, e, E_STATE]
        if state <= 1:
            hit, nx, ny, ln, ln2 = square_vs_point(st.ent_f[n, e, E_X], st.ent_f[n, e, E_Y],
                                                   SHOVE_THWUMP_SEMI_SIDE + NINJA_RADIUS, x, y)
            if hit and (state == 0 or st.ent_f[n, e, E_XDIR] * nx
                        + st.ent_f[n, e, E_YDIR] * ny >= 0.01):
                return True, nx, ny, ln, ln2
    return NONE_PHYS


@jit_inline
def _wall_normal(value):
    """Logical result of kind 1 when the reference's return value is truthy (non-zero)."""
    if value != 0:
        return 1, value, 0.0
    return 0, 0.0, 0.0


@jit_inline
def logical_collision(bank, st, n, e):
    """Logical collision of every ninja-touchable type (spec §6.6 step 1, §8).

    Returns (kind, a, b): 0 nothing; 1 wall normal a; 2 launch-pad boost (a, b) before the
    ninja's x2/3. Kills, wins, pickups and switches are applied here.
    """
    lv = st.env_i[n, V_LEVEL]
    t = bank.ent_si[lv, e, ES_TYPE]
    x = st.ninja_f[n, X]
    y = st.ninja_f[n, Y]
    ex = st.ent_f[n, e, E_X]
    ey = st.ent_f[n, e, E_Y]

    if t == T_MINE or t == T_TOGGLE_MINE:
        # Spec §8.1: only a deadly mine kills, and it turns safe when it does.
        if valid_target(st, n) and st.ent_i[n, e, E_STATE] == 0:
            if _ninja_overlaps(st, n, e, MINE_RADIUS_DEADLY):
                st.ent_i[n, e, E_STATE] = 1
                kill(st, n, t)
    elif t == T_GOLD:
        if st.ninja_i[n, STATE] != ST_CELEBRATING and _ninja_overlaps(st, n, e, GOLD_RADIUS):
            st.ninja_i[n, GOLD] += 1
            st.ent_i[n, e, E_ACTIVE] = 0
    elif t == T_EXIT_DOOR:
        # No validity check (quirk Q14); win() itself ignores a dead or won ninja.
        if _ninja_overlaps(st, n, e, EXIT_DOOR_RADIUS):
            win(st, n)
    elif t == T_EXIT_SWITCH:
        if _ninja_overlaps(st, n, e, EXIT_SWITCH_RADIUS):
            st.ent_i[n, e, E_ACTIVE] = 0
            door = bank.ent_si[lv, e, ES_DOOR_OF]
            if door >= 0:
                # The door joins the grid now, at the end of its cell's list (spec §8.2).
                cx, cy = cell_of(st.ent_f[n, door, E_X], st.ent_f[n, door, E_Y])
                st.ent_i[n, door, E_CELL_X] = cx
                st.ent_i[n, door, E_CELL_Y] = cy
                st.ent_i[n, door, E_SEQ] = st.env_i[n, V_SEQ]
                st.env_i[n, V_SEQ] += 1
                st.ent_i[n, door, E_FLAG] = 1
    elif t == T_REGULAR_DOOR:
        # Opens (again) on every frame of overlap, see set_door_closed (spec §8.4).
        if _ninja_overlaps(st, n, e, REGULAR_DOOR_RADIUS):
            set_door_closed(bank, st, n, e, False)
            st.ent_i[n, e, E_TIMER] = 0
    elif t == T_LOCKED_DOOR:
        if _ninja_overlaps(st, n, e, DOOR_SWITCH_RADIUS):
            st.ninja_i[n, DOORS_OPENED] += 1
            set_door_closed(bank, st, n, e, False)
            st.ent_i[n, e, E_ACTIVE] = 0
    elif t == T_TRAP_DOOR:
        if _ninja_overlaps(st, n, e, DOOR_SWITCH_RADIUS):
            set_door_closed(bank, st, n, e, True)
            st.ent_i[n, e, E_ACTIVE] = 0
    elif t == T_LAUNCH_PAD:
        if valid_target(st, n) and _ninja_overlaps(st, n, e, LAUNCH_PAD_RADIUS):
            o = _orient(bank, lv, e)
            nx = ORIENT_X[o]
            ny = ORIENT_Y[o]
            # Quirk Q1: a dot product with the pad normal.
            if ((ex - (x - NINJA_RADIUS * nx)) * nx
                    + (ey - (y - NINJA_RADIUS * ny)) * ny) >= -0.1:
                yscale = 1 - ny if ny < 0 else 1.0
                return 2, nx * LAUNCH_PAD_BOOST, ny * LAUNCH_PAD_BOOST * yscale
    elif t == T_ONE_WAY:
        hit, nx, ny, ln = _one_way_depen(bank, st, n, e, lv)
        if hit and abs(nx) == 1:
            return 1, nx, 0.0
    elif t == T_ZAP_DRONE:
        if valid_target(st, n) and _ninja_overlaps(st, n, e, ZAP_DRONE_RADIUS):
            kill(st, n, t)
    elif t == T_MINI_DRONE:
        if valid_target(st, n) and _ninja_overlaps(st, n, e, MINI_DRONE_RADIUS):
            kill(st, n, t)
    elif t == T_BOUNCE_BLOCK:
        hit, nx, ny, ln, ln2 = square_vs_point(ex, ey,
                                               BOUNCE_BLOCK_SEMI_SIDE + NINJA_RADIUS + 0.1, x, y)
        if hit:
            return _wall_normal(nx)
    elif t == T_THWUMP:
        if valid_target(st, n):
            hit, nx, ny, ln, ln2 = square_vs_point(ex, ey,
                                                   THWUMP_SEMI_SIDE + NINJA_RADIUS + 0.1, x, y)
            if hit:
                # Quirk Q2: the lethal face kills in any state, idle included.
                horizontal, direction = _thwump_axes(bank, lv, e)
                if horizontal:
                    fx = (THWUMP_SEMI_SIDE + 2) * direction
                    fy = THWUMP_SEMI_SIDE - 2
                    x1, y1, x2, y2 = ex + fx, ey - fy, ex + fx, ey + fy
                else:
                    fx = THWUMP_SEMI_SIDE - 2
                    fy = (THWUMP_SEMI_SIDE + 2) * direction
                    x1, y1, x2, y2 = ex - fx, ey + fy, ex + fx, ey + fy
                if overlap_circle_segment(x, y, NINJA_RADIUS + 2, x1, y1, x2, y2):
                    kill(st, n, t)
                return _wall_normal(nx)
    elif t == T_DEATH_BALL:
        if valid_target(st, n) and _ninja_overlaps(st, n, e, DEATH_BALL_RADIUS):
            dx = ex - x
            dy = ey - y
            dist = math.sqrt(dx * dx + dy * dy)
            # dist == 0 divides by zero in the reference (fatal there); skip the knock-back.
            if dist > 0:
                st.ent_f[n, e, E_VX] += dx / dist * 10
                st.ent_f[n, e, E_VY] += dy / dist * 10
            kill(st, n, t)
    elif t == T_SHOVE_THWUMP:
        state = st.ent_i[n, e, E_STATE]
        hit, nx, ny, ln, ln2 = square_vs_point(ex, ey,
                                               SHOVE_THWUMP_SEMI_SIDE + NINJA_RADIUS + 0.1, x, y)
        if hit and state <= 1:
            if state == 0:
                st.ent_i[n, e, E_FLAG] = 1
                if ln2 > 0.2:
                    st.ent_f[n, e, E_XDIR] = nx
                    st.ent_f[n, e, E_YDIR] = ny
                    st.ent_i[n, e, E_STATE] = 1
            else:
                if st.ent_f[n, e, E_XDIR] * nx + st.ent_f[n, e, E_YDIR] * ny >= 0.01:
                    st.ent_i[n, e, E_FLAG] = 1
                else:
                    return 0, 0.0, 0.0
            return _wall_normal(nx)
        # Quirk Q14: the core kills without a validity check (kill() ignores a dead ninja).
        if overlap_circles(x, y, NINJA_RADIUS, ex, ey, SHOVE_THWUMP_CORE_RADIUS):
            kill(st, n, t)
    return 0, 0.0, 0.0


@jit_inline
def report_state(bank, st, n, e):
    """The `ent_state` value of the golden traces (scenarios README, entity state table)."""
    lv = st.env_i[n, V_LEVEL]
    t = bank.ent_si[lv, e, ES_TYPE]
    if t == T_MINE or t == T_TOGGLE_MINE or t == T_THWUMP or t == T_SHOVE_THWUMP:
        return st.ent_i[n, e, E_STATE]
    if t == T_EXIT_DOOR or t == T_BOOST_PAD:
        return st.ent_i[n, e, E_FLAG]
    if t == T_EXIT_SWITCH:
        return 1 - st.ent_i[n, e, E_ACTIVE]
    if t == T_REGULAR_DOOR or t == T_LOCKED_DOOR or t == T_TRAP_DOOR:
        return 1 - st.ent_i[n, e, E_CLOSED]
    if t == T_ZAP_DRONE or t == T_MINI_DRONE:
        return st.ent_i[n, e, E_DIR]
    return 0
