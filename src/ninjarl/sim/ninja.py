"""The ninja's frame update (spec ``nsim.md`` §6), compiled with numba.

Functions follow the reference's own split: integrate → pre_collision → 4 × (collide_vs_objects,
collide_vs_tiles) → post_collision → think. Operation order is part of the contract: the results
must equal the reference bit for bit, so formulas are written exactly as the spec states them.
"""
import math

from ._jit import jit
from .constants import (
    AIR_ACCEL,
    CAUSE_CRUSH,
    CAUSE_IMPACT_CEILING,
    CAUSE_IMPACT_FLOOR,
    DRAG_REGULAR,
    DRAG_SLOW,
    FOUR_THIRDS,
    FRICTION_GROUND,
    FRICTION_GROUND_SLOW,
    FRICTION_WALL,
    GRAVITY_FALL,
    GRAVITY_JUMP,
    GROUND_ACCEL,
    HALF_GROUND_ACCEL,
    MAX_HOR_SPEED,
    MAX_JUMP_DURATION,
    MAX_SURVIVABLE_IMPACT,
    MIN_SURVIVABLE_CRUSHING,
    NINJA_RADIUS,
    ONE_MINUS_FRICTION_GROUND,
    ST_CELEBRATING,
    ST_DEAD,
    ST_DISABLED,
    ST_DYING,
    ST_FALLING,
    ST_IMMOBILE,
    ST_JUMPING,
    ST_RUNNING,
    ST_SLIDING,
    ST_WALLSLIDING,
    T_BOUNCE_BLOCK,
    T_LAUNCH_PAD,
    T_ONE_WAY,
    T_SHOVE_THWUMP,
    T_THWUMP,
    TWO_THIRDS,
)
from .entities import logical_collision, physical_collision
from .geometry import cell_box, cell_of, closest_in_box, closest_point, segment_active, sweep
from .layout import (
    AIRBORN,
    AIRBORN_OLD,
    CEIL_COUNT,
    CEIL_NX,
    CEIL_NY,
    CEIL_SUM_X,
    CEIL_SUM_Y,
    CRUSH_LEN,
    CRUSHABLE,
    CS_COUNT,
    CS_START,
    DRAG,
    E_ACTIVE,
    E_CELL_X,
    E_CELL_Y,
    E_SEQ,
    ES_TYPE,
    FLOOR_BUFFER,
    FLOOR_COUNT,
    FLOOR_NX,
    FLOOR_NY,
    FLOOR_SUM_X,
    FLOOR_SUM_Y,
    GRAVITY,
    HOR_INPUT,
    JUMP_BUFFER,
    JUMP_DURATION,
    JUMP_INPUT,
    JUMP_INPUT_OLD,
    LP_BUFFER,
    STATE,
    V_LEVEL,
    VX,
    VX_OLD,
    VY,
    VY_OLD,
    WALL_BUFFER,
    WALL_NORMAL,
    WALLED,
    X_CRUSH,
    X_OLD,
    XLP,
    Y_CRUSH,
    Y_OLD,
    YLP,
    X,
    Y,
    kill,
)

# Corner-case patch of the reference's depenetration (spec §6.5, quirk Q12).
_PATCH_X_NEG_A = 50.51197510492316
_PATCH_X_NEG_B = 49.23232124849253
_PATCH_X_POS = 49.153536108584795
_PATCH_DX = 2.0 ** -47


@jit
def gather_entities(bank, st, n, x, y, out):
    """Active ninja-collidable entities of the 3x3 cells around (x, y), in reference order.

    The reference concatenates the cells' entity lists x-major (spec §4.6); inside a cell the
    order is the append order, which E_SEQ records. Returns the count written to `out`.
    """
    lv = st.env_i[n, V_LEVEL]
    cx, cy = cell_of(x, y)
    x0 = max(cx - 1, 0)
    x1 = min(cx + 1, 43)
    y0 = max(cy - 1, 0)
    y1 = min(cy + 1, 24)
    count = 0
    for k in range(bank.n_collide[lv]):
        e = bank.collide_list[lv, k]
        if st.ent_i[n, e, E_ACTIVE] == 0:
            continue
        ex = st.ent_i[n, e, E_CELL_X]
        ey = st.ent_i[n, e, E_CELL_Y]
        if ex < x0 or ex > x1 or ey < y0 or ey > y1:
            continue
        key = ((ex - x0) * 3 + (ey - y0)) * 4294967296 + st.ent_i[n, e, E_SEQ]
        # insertion sort: neighbourhoods hold a handful of entities
        j = count
        while j > 0 and _order_key(st, n, out[j - 1], x0, y0) > key:
            out[j] = out[j - 1]
            j -= 1
        out[j] = e
        count += 1
    return count


@jit
def _order_key(st, n, e, x0, y0):
    return ((st.ent_i[n, e, E_CELL_X] - x0) * 3 + (st.ent_i[n, e, E_CELL_Y] - y0)) * 4294967296 \
        + st.ent_i[n, e, E_SEQ]


@jit
def integrate(st, n):
    """Spec §6.2: drag on both axes, then gravity, then move."""
    f = st.ninja_f
    f[n, VX] = f[n, VX] * f[n, DRAG]
    f[n, VY] = f[n, VY] * f[n, DRAG]
    f[n, VY] = f[n, VY] + f[n, GRAVITY]
    f[n, X_OLD] = f[n, X]
    f[n, Y_OLD] = f[n, Y]
    f[n, X] = f[n, X] + f[n, VX]
    f[n, Y] = f[n, Y] + f[n, VY]


@jit
def pre_collision(bank, st, n, near):
    """Spec §6.3: reset per-frame contact sums; gather the entity neighbourhood once."""
    f = st.ninja_f
    i = st.ninja_i
    f[n, VX_OLD] = f[n, VX]
    f[n, VY_OLD] = f[n, VY]
    i[n, FLOOR_COUNT] = 0
    i[n, CEIL_COUNT] = 0
    f[n, FLOOR_SUM_X] = 0.0
    f[n, FLOOR_SUM_Y] = 0.0
    f[n, CEIL_SUM_X] = 0.0
    f[n, CEIL_SUM_Y] = 0.0
    i[n, CRUSHABLE] = 0
    f[n, X_CRUSH] = 0.0
    f[n, Y_CRUSH] = 0.0
    f[n, CRUSH_LEN] = 0.0
    return gather_entities(bank, st, n, f[n, X], f[n, Y], near)


@jit
def _count_contact(st, n, side, nx, ny):
    """Spec §6.4/6.5: a contact whose `side` (normal y) points up counts as floor; walls and
    everything else count as ceiling. The normal (nx, ny) is added to that side's sum."""
    f = st.ninja_f
    if side >= -0.0001:
        st.ninja_i[n, CEIL_COUNT] += 1
        f[n, CEIL_SUM_X] += nx
        f[n, CEIL_SUM_Y] += ny
    else:
        st.ninja_i[n, FLOOR_COUNT] += 1
        f[n, FLOOR_SUM_X] += nx
        f[n, FLOOR_SUM_Y] += ny


@jit
def collide_vs_objects(bank, st, n, near, n_near):
    """Spec §6.4: depenetration from one-ways, bounce blocks, thwumps and shove thwumps."""
    lv = st.env_i[n, V_LEVEL]
    f = st.ninja_f
    for k in range(n_near):
        e = near[k]
        etype = bank.ent_si[lv, e, ES_TYPE]
        if not (etype == T_ONE_WAY or etype == T_BOUNCE_BLOCK or etype == T_THWUMP
                or etype == T_SHOVE_THWUMP):
            continue
        hit, nx, ny, length, _ = physical_collision(bank, st, n, e)
        if not hit:
            continue
        popx = nx * length
        popy = ny * length
        f[n, X] += popx
        f[n, Y] += popy
        if etype != T_BOUNCE_BLOCK:
            f[n, X_CRUSH] += popx
            f[n, Y_CRUSH] += popy
            f[n, CRUSH_LEN] += length
        if etype == T_THWUMP:
            st.ninja_i[n, CRUSHABLE] = 1
        if etype == T_BOUNCE_BLOCK or etype == T_THWUMP or etype == T_SHOVE_THWUMP:
            f[n, VX] += popx
            f[n, VY] += popy
        if etype == T_ONE_WAY:
            c = f[n, VX] * ny - f[n, VY] * nx
            f[n, VX] = c * ny
            f[n, VY] = c * (0.0 - nx)
        _count_contact(st, n, ny, nx, ny)


@jit
def collide_vs_tiles(bank, st, n):
    """Spec §6.5: anti-tunnelling sweep, then up to 32 depenetration steps against segments."""
    f = st.ninja_f
    xold = f[n, X_OLD]
    yold = f[n, Y_OLD]
    dx = f[n, X] - xold
    dy = f[n, Y] - yold
    t = sweep(bank, st, n, xold, yold, dx, dy, NINJA_RADIUS * 0.5)
    x = xold + t * dx
    y = yold + t * dy
    cx0, cx1, cy0, cy1 = cell_box(x - NINJA_RADIUS, y - NINJA_RADIUS,
                                  x + NINJA_RADIUS, y + NINJA_RADIUS)
    for _ in range(32):
        result, a, b = closest_in_box(bank, st, n, cx0, cx1, cy0, cy1, x, y)
        if result == 0:
            break
        dx = x - a
        dy = y - b
        if abs(dx) <= 1e-7:
            dx = 0.0
            if x == _PATCH_X_NEG_A or x == _PATCH_X_NEG_B:
                dx = -_PATCH_DX
            if x == _PATCH_X_POS:
                dx = _PATCH_DX
        dist = math.sqrt(dx * dx + dy * dy)
        depen_len = NINJA_RADIUS - dist * result
        if dist == 0 or depen_len < 1e-7:
            break
        inv = 1.0 / dist
        px = dx * inv * depen_len
        py = dy * inv * depen_len
        x += px
        y += py
        f[n, X_CRUSH] += px
        f[n, Y_CRUSH] += py
        f[n, CRUSH_LEN] += depen_len
        vx = f[n, VX]
        vy = f[n, VY]
        if vx * dx + vy * dy < 0:
            c = vx * dy - vy * dx
            k = inv * inv
            f[n, VX] = c * k * dy
            # the reference negates an int 0 when dx was patched to 0, giving +0.0
            f[n, VY] = c * k * (0.0 - dx)
        # floor or ceiling is decided on the raw dy (spec §6.5), the sums get the unit normal
        _count_contact(st, n, dy, dx * inv, dy * inv)
    f[n, X] = x
    f[n, Y] = y


@jit
def post_collision(bank, st, n, near):
    """Spec §6.6: logical entity contacts, wall detection, impact and crush deaths."""
    f = st.ninja_f
    i = st.ninja_i
    lv = st.env_i[n, V_LEVEL]
    wall_sum = 0.0
    n_near = gather_entities(bank, st, n, f[n, X], f[n, Y], near)
    for k in range(n_near):
        e = near[k]
        kind, a, b = logical_collision(bank, st, n, e)
        if kind == 2 and bank.ent_si[lv, e, ES_TYPE] == T_LAUNCH_PAD:
            xboost = a * 2 / 3
            yboost = b * 2 / 3
            f[n, X] += xboost
            f[n, Y] += yboost
            f[n, VX] = xboost
            f[n, VY] = yboost
            i[n, FLOOR_COUNT] = 0
            i[n, FLOOR_BUFFER] = -1
            s = math.sqrt(xboost * xboost + yboost * yboost)
            f[n, XLP] = xboost / s
            f[n, YLP] = yboost / s
            i[n, LP_BUFFER] = 0
            if i[n, STATE] == ST_JUMPING:
                f[n, GRAVITY] = GRAVITY_FALL
            i[n, STATE] = ST_FALLING
        elif kind == 1:
            wall_sum += a

    x = f[n, X]
    y = f[n, Y]
    r = NINJA_RADIUS + 0.1
    cx0, cx1, cy0, cy1 = cell_box(x - r, y - r, x + r, y + r)
    for cx in range(cx0, cx1 + 1):
        for cy in range(cy0, cy1 + 1):
            start = bank.cell_seg[lv, cx, cy, CS_START]
            for s in range(start, start + bank.cell_seg[lv, cx, cy, CS_COUNT]):
                if not segment_active(bank, st, n, s):
                    continue
                _, a, b = closest_point(bank, s, x, y)
                dx = x - a
                dy = y - b
                dist = math.sqrt(dx * dx + dy * dy)
                if abs(dy) < 0.00001 and 0 < dist <= r:
                    wall_sum += dx / dist

    i[n, AIRBORN_OLD] = i[n, AIRBORN]
    i[n, AIRBORN] = 1
    i[n, WALLED] = 0
    if wall_sum != 0:
        i[n, WALLED] = 1
        f[n, WALL_NORMAL] = wall_sum / abs(wall_sum)

    if i[n, FLOOR_COUNT] > 0:
        i[n, AIRBORN] = 0
        sx = f[n, FLOOR_SUM_X]
        sy = f[n, FLOOR_SUM_Y]
        s = math.sqrt(sx * sx + sy * sy)
        if s == 0:
            f[n, FLOOR_NX] = 0.0
            f[n, FLOOR_NY] = -1.0
        else:
            f[n, FLOOR_NX] = sx / s
            f[n, FLOOR_NY] = sy / s
        if i[n, STATE] != ST_CELEBRATING and i[n, AIRBORN_OLD] != 0:
            _impact(st, n, f[n, FLOOR_NX], f[n, FLOOR_NY], CAUSE_IMPACT_FLOOR)

    if i[n, CEIL_COUNT] > 0:
        sx = f[n, CEIL_SUM_X]
        sy = f[n, CEIL_SUM_Y]
        s = math.sqrt(sx * sx + sy * sy)
        if s == 0:
            f[n, CEIL_NX] = 0.0
            f[n, CEIL_NY] = 1.0
        else:
            f[n, CEIL_NX] = sx / s
            f[n, CEIL_NY] = sy / s
        if i[n, STATE] != ST_CELEBRATING:
            _impact(st, n, f[n, CEIL_NX], f[n, CEIL_NY], CAUSE_IMPACT_CEILING)

    if i[n, CRUSHABLE] != 0 and f[n, CRUSH_LEN] > 0:
        xc = f[n, X_CRUSH]
        yc = f[n, Y_CRUSH]
        if math.sqrt(xc * xc + yc * yc) / f[n, CRUSH_LEN] < MIN_SURVIVABLE_CRUSHING:
            kill(st, n, CAUSE_CRUSH)


@jit
def _impact(st, n, nx, ny, cause):
    """Spec §6.6 steps 4-5: too fast into a surface restores the pre-collision speed and kills."""
    f = st.ninja_f
    impact = -(nx * f[n, VX_OLD] + ny * f[n, VY_OLD])
    if impact > MAX_SURVIVABLE_IMPACT - FOUR_THIRDS * abs(ny):
        f[n, VX] = f[n, VX_OLD]
        f[n, VY] = f[n, VY_OLD]
        kill(st, n, cause)


@jit
def _advance_buffer(i, n, col, run_limit, window):
    """Spec §6.7: advance a buffer (it counts up while below run_limit, else idles at -1) and
    return whether it is inside its window."""
    if -1 < i[n, col] < run_limit:
        i[n, col] += 1
    else:
        i[n, col] = -1
    return -1 < i[n, col] < window


@jit
def think(st, n):
    """Spec §6.7: input buffers and the movement state machine."""
    f = st.ninja_f
    i = st.ninja_i
    h = i[n, HOR_INPUT]
    jump = i[n, JUMP_INPUT]
    new_jump = jump != 0 and i[n, JUMP_INPUT_OLD] == 0
    i[n, JUMP_INPUT_OLD] = jump

    in_lp = _advance_buffer(i, n, LP_BUFFER, 3, 4)
    in_jump = _advance_buffer(i, n, JUMP_BUFFER, 5, 5)
    in_wall = _advance_buffer(i, n, WALL_BUFFER, 5, 5)
    in_floor = _advance_buffer(i, n, FLOOR_BUFFER, 5, 5)

    airborn = i[n, AIRBORN] != 0
    if new_jump and airborn:
        i[n, JUMP_BUFFER] = 0
    if i[n, WALLED] != 0:
        i[n, WALL_BUFFER] = 0
    if not airborn:
        i[n, FLOOR_BUFFER] = 0

    state = i[n, STATE]
    if state == ST_DEAD or state == ST_DISABLED:
        return
    if state == ST_DYING:
        i[n, STATE] = ST_DEAD
        return
    if state == ST_CELEBRATING:
        f[n, DRAG] = DRAG_REGULAR if airborn else DRAG_SLOW
        return

    if not airborn:
        xnew = f[n, VX] + GROUND_ACCEL * h
        if abs(xnew) < MAX_HOR_SPEED:
            f[n, VX] = xnew
        if state > ST_SLIDING:
            if state == ST_JUMPING:
                f[n, GRAVITY] = GRAVITY_FALL
            state = ST_SLIDING if f[n, VX] * h <= 0 else ST_RUNNING
            i[n, STATE] = state
        if in_jump or new_jump:
            floor_jump(st, n)
            return
        fnx = f[n, FLOOR_NX]
        fny = f[n, FLOOR_NY]
        xs = f[n, VX]
        ys = f[n, VY]
        proj = abs(ys * fnx - xs * fny)
        if state == ST_SLIDING:
            if h * proj * xs > 0:
                i[n, STATE] = ST_RUNNING
                return
            if proj < 0.1 and fnx == 0:
                i[n, STATE] = ST_IMMOBILE
                return
            if ys < 0 and fnx != 0:
                speed = math.sqrt(xs * xs + ys * ys)
                f1 = abs(xs * ONE_MINUS_FRICTION_GROUND * fny)
                f2 = speed - f1 * (fny * fny)
                f[n, VX] = xs / speed * f2
                f[n, VY] = ys / speed * f2
                return
            f[n, VX] = xs * FRICTION_GROUND
            return
        if state == ST_RUNNING:
            if h * proj * xs > 0:
                if h * fnx >= 0:
                    return
                if abs(xnew) < MAX_HOR_SPEED:
                    boost = HALF_GROUND_ACCEL * h
                    f[n, VX] = xs + boost * fny * fny
                    f[n, VY] = ys + boost * fny * (0.0 - fnx)
                return
            i[n, STATE] = ST_SLIDING
            return
        if h != 0:
            i[n, STATE] = ST_RUNNING
            return
        if proj < 0.1:
            f[n, VX] = xs * FRICTION_GROUND_SLOW
            return
        i[n, STATE] = ST_SLIDING
        return

    xnew = f[n, VX] + AIR_ACCEL * h
    if abs(xnew) < MAX_HOR_SPEED:
        f[n, VX] = xnew
    if state < ST_JUMPING:
        i[n, STATE] = ST_FALLING
        return
    if state == ST_JUMPING:
        i[n, JUMP_DURATION] += 1
        if jump == 0 or i[n, JUMP_DURATION] > MAX_JUMP_DURATION:
            f[n, GRAVITY] = GRAVITY_FALL
            i[n, STATE] = ST_FALLING
            return
    walled = i[n, WALLED] != 0
    if in_jump or new_jump:
        if walled or in_wall:
            wall_jump(st, n)
            return
        if in_floor:
            floor_jump(st, n)
            return
        if in_lp and new_jump:
            lp_jump(st, n)
            return
    wall_normal = f[n, WALL_NORMAL]
    if not walled:
        if state == ST_WALLSLIDING:
            i[n, STATE] = ST_FALLING
    elif state == ST_WALLSLIDING:
        if h * wall_normal <= 0:
            f[n, VY] = f[n, VY] * FRICTION_WALL
        else:
            i[n, STATE] = ST_FALLING
    elif f[n, VY] > 0 and h * wall_normal < 0:
        if state == ST_JUMPING:
            f[n, GRAVITY] = GRAVITY_FALL
        i[n, STATE] = ST_WALLSLIDING


@jit
def floor_jump(st, n):
    """Spec §6.8 floor_jump(): flat, slope, uphill and perpendicular jumps."""
    f = st.ninja_f
    i = st.ninja_i
    i[n, JUMP_BUFFER] = -1
    i[n, FLOOR_BUFFER] = -1
    i[n, LP_BUFFER] = -1
    i[n, STATE] = ST_JUMPING
    f[n, GRAVITY] = GRAVITY_JUMP
    nx = f[n, FLOOR_NX]
    ny = f[n, FLOOR_NY]
    h = i[n, HOR_INPUT]
    if nx == 0:
        jx = 0.0
        jy = -2.0
    elif f[n, VX] * nx >= 0:
        if f[n, VX] * h >= 0:
            jx = TWO_THIRDS * nx
            jy = 2 * ny
        else:
            jx = 0.0
            jy = -1.4
    elif f[n, VX] * h > 0:
        jx = 0.0
        jy = -1.4
    else:
        f[n, VX] = 0.0
        jx = TWO_THIRDS * nx
        jy = 2 * ny
    if f[n, VY] > 0:
        f[n, VY] = 0.0
    f[n, VX] += jx
    f[n, VY] += jy
    f[n, X] += jx
    f[n, Y] += jy
    i[n, JUMP_DURATION] = 0


@jit
def wall_jump(st, n):
    """Spec §6.8 wall_jump(): regular or wall-slide jump away from the last wall."""
    f = st.ninja_f
    i = st.ninja_i
    wall_normal = f[n, WALL_NORMAL]
    if i[n, HOR_INPUT] * wall_normal < 0 and i[n, STATE] == ST_WALLSLIDING:
        jx = TWO_THIRDS
        jy = -1.0
    else:
        jx = 1.0
        jy = -1.4
    i[n, STATE] = ST_JUMPING
    f[n, GRAVITY] = GRAVITY_JUMP
    if f[n, VX] * wall_normal < 0:
        f[n, VX] = 0.0
    if f[n, VY] > 0:
        f[n, VY] = 0.0
    f[n, VX] += jx * wall_normal
    f[n, VY] += jy
    f[n, X] += jx * wall_normal
    f[n, Y] += jy
    i[n, JUMP_BUFFER] = -1
    i[n, WALL_BUFFER] = -1
    i[n, LP_BUFFER] = -1
    i[n, JUMP_DURATION] = 0


@jit
def lp_jump(st, n):
    """Spec §6.8 lp_jump(): extra boost along the last launch-pad direction."""
    f = st.ninja_f
    i = st.ninja_i
    i[n, JUMP_BUFFER] = -1
    i[n, FLOOR_BUFFER] = -1
    i[n, WALL_BUFFER] = -1
    i[n, LP_BUFFER] = -1
    scale = 2 * abs(f[n, XLP]) + 2
    if scale == 2:
        scale = 1.7
    f[n, VX] += f[n, XLP] * scale * TWO_THIRDS
    f[n, VY] += f[n, YLP] * scale * TWO_THIRDS
