"""Observation rasters: grey-level level pictures, per-step crops and global views.

Two layers of work, from slow to hot:

* :func:`static_layers` rasterises a level's tiles once (vectorised numpy, a few ms): a
  1-px-per-world-pixel picture ``full`` [600, 1056] and a reduced one ``small``, by default
  6x [100, 176] (block **mean** of the 6x6 world pixels, rounded; 24-px cells map to exact 4x4
  blocks, so a full tile stays exactly :data:`WALL`, while slopes and arcs get intermediate
  greys). Any scale that divides the 24-px cell works the same way (12: [50, 88], 2x2 pixels
  per cell).
* :func:`render_player_frames` and :func:`render_global_views` render a whole batch (or the
  envs ``ids``) per step: they check their arguments (cheap, once per batch; the compiled
  kernels index without bounds checks) and run :func:`player_frames_kernel` /
  :func:`global_views_kernel`, which copy the static picture and draw the dynamic things on
  top: entities with their state-dependent grey, then the ninja. The kernels allocate nothing;
  callers pass the output buffers. Measured (one core, 256 envs after 200 random frames):
  player view ~0.8 us/env on ordinary maps and ~1.6 us/env on the 100+-mine benchmark maps,
  global view ~1 and ~3.5 us/env respectively.

:func:`render_grey` draws one environment's whole level at full size (the grey levels of
:mod:`ninjarl.draw.palette`); :mod:`ninjarl.draw.picture` colours it for people.

Conventions (all pictures): row index = world y (growing downward), column index = world x.
A picture pixel is "inside" a shape when its *centre* is. At scale ``s`` (1 for the player view
and ``full``, 6 by default for the global view) picture pixel (r, c) has its centre at world
``(ox + (c + 0.5) * s, oy + (r + 0.5) * s)``, where (ox, oy) is the world position of the
picture's top-left corner.

Player view of env n: ``out[n, r, c, 0]`` shows world pixel
``(x, y) = (floor(ninja_x) - 42 + c, floor(ninja_y) - 42 + r)``; the ninja's centre is at
``out[n, 42, 42, 0]``. World pixels outside 0 <= x < 1056, 0 <= y < 600 are :data:`WALL`.

What is drawn for each entity (in creation order, after the tiles, before the ninja):

* circles of the entity's radius: mines (1, 21; radius by state 4.0 / 3.5 / 4.5), gold (6),
  exit door (12), exit switch (6), locked/trap door switches (5), launch pad (6), boost pad
  (6), zap drone (7.5), mini drone (4), death ball (5);
* axis-aligned squares of the semi-side: bounce block (9), thwump (9), shove thwump (12);
* segments about 2-3 px thick: closed doors (5, 6, 8; their 24-px segment, drawn whenever the
  door is closed, even after its switch entity was deactivated, e.g. a triggered trap door) and
  one-way platforms (11; the 24-px face through the centre, perpendicular to the normal).

Inactive entities (collected gold, taken exit switch, used door switches) are not drawn; open
doors are not drawn. Every shape also covers the picture pixel containing its centre (segment:
its midpoint), so that at 1/6 scale nothing disappears.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from ninjarl.sim._jit import jit, jit_inline
from ninjarl.sim.constants import CELL, CELL_DIVISORS, NINJA_RADIUS, WORLD_H, WORLD_W
from ninjarl.sim.layout import (
    E_ACTIVE,
    E_CLOSED,
    E_FLAG,
    E_STATE,
    E_X,
    E_Y,
    ES_DOOR_SEG,
    ES_ORIENT,
    ES_TYPE,
    SG_X1,
    SG_X2,
    SG_Y1,
    SG_Y2,
    V_LEVEL,
    X,
    Y,
)
from ninjarl.sim.level import tile_solid_masks

from .palette import (
    BOOST_PAD,
    BOUNCE_BLOCK,
    DEATH_BALL,
    DOOR_CLOSED,
    DOOR_SWITCH,
    EMPTY,
    EXIT_DOOR_CLOSED,
    EXIT_DOOR_OPEN,
    EXIT_SWITCH,
    GOLD,
    LAUNCH_PAD,
    MINE_DEADLY,
    MINE_SAFE,
    MINE_TOGGLING,
    MINI_DRONE,
    NINJA,
    ONE_WAY,
    SHOVE_THWUMP,
    THWUMP,
    TRAP_SWITCH,
    WALL,
    ZAP_DRONE,
)

SMALL_SCALE = 6
SMALL_W, SMALL_H = WORLD_W // SMALL_SCALE, WORLD_H // SMALL_SCALE    # 176 x 100
VIEW = 84                       # player view side
VIEW_HALF = 42                  # ninja centre pixel in the player view

# ---- static tile layers -------------------------------------------------------------------
GLITCH_EDGE_PX = 2      # thickness of the drawn edge of glitch tiles 34-37


def _tile_templates() -> np.ndarray:
    """uint8 [256, 24, 24] grey picture of every tile id, indexed [id, local y, local x].

    The solid pixels of :func:`~ninjarl.sim.level.tile_solid_masks` (sampled at pixel centres;
    a centre exactly on a slope's line counts as empty), plus a drawn edge for the glitch tiles
    34-37, which have no solid pixels in the simulator.
    """
    solid = tile_solid_masks().copy()
    g = GLITCH_EDGE_PX
    solid[34, :g, :] = True          # top edge (normal up)
    solid[35, :, CELL - g:] = True   # right edge (normal right)
    solid[36, CELL - g:, :] = True   # bottom edge (normal down)
    solid[37, :, :g] = True          # left edge (normal left)
    return np.where(solid, np.uint8(WALL), np.uint8(EMPTY))


_TEMPLATES = _tile_templates()


#: a global view's height -> its scale (one scale per height)
_SCALE_OF_HEIGHT = {WORLD_H // s: s for s in CELL_DIVISORS}


def small_shape(scale: int) -> tuple[int, int]:
    """(height, width) of the global view at ``scale`` world pixels per pixel, a divisor of
    the 24-px cell (6: (100, 176); 12: (50, 88))."""
    if not (isinstance(scale, (int, np.integer)) and scale in CELL_DIVISORS):
        raise ValueError(f"global view scale must divide the {CELL}-px cell, got {scale!r}")
    return WORLD_H // int(scale), WORLD_W // int(scale)


def static_layers(level, small_scale: int = SMALL_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """The tiles of `level` (a :class:`~ninjarl.sim.level.Level`, or a uint8 [44, 25] tile grid
    indexed [cx, cy]) as pictures: ``full`` uint8 [600, 1056] (1 px per world pixel) and
    ``small`` uint8 :func:`small_shape` (``small_scale``), the rounded mean of each
    ``small_scale`` x ``small_scale`` block of ``full``."""
    small_h, small_w = small_shape(small_scale)
    tiles = np.asarray(getattr(level, "tiles", level))
    if tiles.shape != (WORLD_W // CELL, WORLD_H // CELL):
        raise ValueError(f"tile grid must have shape (44, 25), got {tiles.shape}")
    pics = _TEMPLATES[tiles.T.astype(np.intp)]            # [25, 44, 24(y), 24(x)]
    full = np.ascontiguousarray(pics.transpose(0, 2, 1, 3).reshape(WORLD_H, WORLD_W))
    s = int(small_scale)
    sums = full.reshape(small_h, s, small_w, s).sum(axis=(1, 3), dtype=np.uint32)
    small = ((sums + (s * s) // 2) // (s * s)).astype(np.uint8)
    return full, small


def stack_static_layers(levels, small_scale: int = SMALL_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """:func:`static_layers` of several levels stacked: ([L, 600, 1056], [L, *small_shape]), in
    the order of the simulator's bank (``BatchSimulator.levels``)."""
    pairs = [static_layers(lv, small_scale) for lv in levels]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


# ---- compiled drawing primitives ----------------------------------------------------------
# `out` is [N, H, W, 1] uint8; picture k's pixel (r, c) has its centre at world
# (ox + (c + .5) s, oy + (r + .5) s). Hot loops index through flat views with unsigned indices:
# with signed ones numba adds a negative-index check to every access, which stops LLVM from
# vectorising (a crop copy went from ~10 us to ~0.4 us per env).

@jit_inline
def _px_range(lo, hi, o, inv_s, size):
    """Picture indices i in [0, size) whose centre o + (i + .5) s lies in [lo, hi]."""
    a = (lo - o) * inv_s - 0.5
    b = (hi - o) * inv_s - 0.5
    if b < 0.0 or a > size - 1:
        return 0, -1
    i0 = math.ceil(a) if a > 0.0 else 0
    i1 = min(math.floor(b), size - 1)
    return i0, i1


@jit_inline
def _centre_px(flat, base, h, w, ox, oy, inv_s, x, y, val):
    """The pixel containing world point (x, y), if inside the picture."""
    c = math.floor((x - ox) * inv_s)
    r = math.floor((y - oy) * inv_s)
    if 0 <= r < h and 0 <= c < w:
        flat[base + np.uint64(r * w + c)] = val


@jit
def _circle(flat, base, h, w, ox, oy, s, inv_s, x, y, rad, val):
    """Pixels whose centre is within `rad` of (x, y), plus the pixel containing (x, y)."""
    c0, c1 = _px_range(x - rad, x + rad, ox, inv_s, w)
    r0, r1 = _px_range(y - rad, y + rad, oy, inv_s, h)
    rr = rad * rad
    for r in range(r0, r1 + 1):
        dy = oy + (r + 0.5) * s - y
        dy2 = dy * dy
        row = base + np.uint64(r * w)
        for c in range(c0, c1 + 1):
            dx = ox + (c + 0.5) * s - x
            if dx * dx + dy2 <= rr:
                flat[row + np.uint64(c)] = val
    _centre_px(flat, base, h, w, ox, oy, inv_s, x, y, val)


@jit
def _square(flat, base, h, w, ox, oy, inv_s, x, y, semi, val):
    """Pixels whose centre is within the axis-aligned square of semi-side `semi` at (x, y)."""
    c0, c1 = _px_range(x - semi, x + semi, ox, inv_s, w)
    r0, r1 = _px_range(y - semi, y + semi, oy, inv_s, h)
    for r in range(r0, r1 + 1):
        row = base + np.uint64(r * w)
        for c in range(c0, c1 + 1):
            flat[row + np.uint64(c)] = val
    _centre_px(flat, base, h, w, ox, oy, inv_s, x, y, val)


@jit
def _segment(flat, base, h, w, ox, oy, s, inv_s, x1, y1, x2, y2, val):
    """Pixels whose centre is closer than max(1.5, s/2 + .01) to the segment (2-3 px thick at
    scale 1, 1-2 px at scale 6), plus the pixel containing its midpoint."""
    hw = max(1.5, 0.5 * s + 0.01)
    c0, c1 = _px_range(min(x1, x2) - hw, max(x1, x2) + hw, ox, inv_s, w)
    r0, r1 = _px_range(min(y1, y2) - hw, max(y1, y2) + hw, oy, inv_s, h)
    px = x2 - x1
    py = y2 - y1
    lensq = px * px + py * py
    hw2 = hw * hw
    for r in range(r0, r1 + 1):
        wy = oy + (r + 0.5) * s
        row = base + np.uint64(r * w)
        for c in range(c0, c1 + 1):
            wx = ox + (c + 0.5) * s
            t = 0.0
            if lensq > 0.0:
                t = ((wx - x1) * px + (wy - y1) * py) / lensq
                t = min(max(t, 0.0), 1.0)
            dx = wx - (x1 + t * px)
            dy = wy - (y1 + t * py)
            if dx * dx + dy * dy < hw2:
                flat[row + np.uint64(c)] = val
    _centre_px(flat, base, h, w, ox, oy, inv_s, 0.5 * (x1 + x2), 0.5 * (y1 + y2), val)


@jit_inline
def _orient_vec(o):
    """Orientation byte -> unit vector (spec §4.5)."""
    o = o & 7
    if o == 0:
        return 1.0, 0.0
    if o == 2:
        return 0.0, 1.0
    if o == 4:
        return -1.0, 0.0
    if o == 6:
        return 0.0, -1.0
    d = 0.7071067811865476
    if o == 1:
        return d, d
    if o == 3:
        return -d, d
    if o == 5:
        return -d, -d
    return d, -d


_SHAPE_NONE, _SHAPE_CIRCLE, _SHAPE_SQUARE, _SHAPE_SEGMENT = 0, 1, 2, 3
_MAX_EXTENT = 17.0      # largest distance of a drawn pixel from an entity's position (+ margin)


@jit
def _draw_dynamic(bank, st, n, flat, base, h, w, ox, oy, s):
    """Entities of env n (creation order), then the ninja, into the picture that starts at
    flat[base] (h rows of w pixels, top-left world corner (ox, oy), scale s)."""
    inv_s = 1.0 / s
    lo_x = ox - _MAX_EXTENT
    hi_x = ox + w * s + _MAX_EXTENT
    lo_y = oy - _MAX_EXTENT
    hi_y = oy + h * s + _MAX_EXTENT
    lv = st.env_i[n, V_LEVEL]
    for e in range(bank.n_ent[lv]):
        x = st.ent_f[n, e, E_X]
        y = st.ent_f[n, e, E_Y]
        t = bank.ent_si[lv, e, ES_TYPE]
        active = st.ent_i[n, e, E_ACTIVE] != 0
        if t == 5 or t == 6 or t == 8:
            # the door segment is drawn while closed, whether or not the switch is still active
            if st.ent_i[n, e, E_CLOSED] != 0:
                sg = bank.ent_si[lv, e, ES_DOOR_SEG]
                if sg >= 0:
                    x1 = bank.seg_f[sg, SG_X1]
                    y1 = bank.seg_f[sg, SG_Y1]
                    x2 = bank.seg_f[sg, SG_X2]
                    y2 = bank.seg_f[sg, SG_Y2]
                    if (max(x1, x2) > lo_x and min(x1, x2) < hi_x and max(y1, y2) > lo_y
                            and min(y1, y2) < hi_y):
                        _segment(flat, base, h, w, ox, oy, s, inv_s, x1, y1, x2, y2,
                                 DOOR_CLOSED)
            if t == 5 or not active:
                continue
        elif not active:
            continue
        if x < lo_x or x > hi_x or y < lo_y or y > hi_y:
            continue
        shape = _SHAPE_CIRCLE
        size = 0.0
        val = 0
        if t == 1 or t == 21:
            m = st.ent_i[n, e, E_STATE]
            if m == 0:
                size, val = 4.0, MINE_DEADLY
            elif m == 1:
                size, val = 3.5, MINE_SAFE
            else:
                size, val = 4.5, MINE_TOGGLING
        elif t == 2:
            size, val = 6.0, GOLD
        elif t == 3:
            size = 12.0
            val = EXIT_DOOR_OPEN if st.ent_i[n, e, E_FLAG] != 0 else EXIT_DOOR_CLOSED
        elif t == 4:
            size, val = 6.0, EXIT_SWITCH
        elif t == 6:
            size, val = 5.0, DOOR_SWITCH
        elif t == 8:
            size, val = 5.0, TRAP_SWITCH
        elif t == 10:
            size, val = 6.0, LAUNCH_PAD
        elif t == 11:
            shape, size, val = _SHAPE_SEGMENT, 12.0, ONE_WAY
        elif t == 14:
            size, val = 7.5, ZAP_DRONE
        elif t == 17:
            shape, size, val = _SHAPE_SQUARE, 9.0, BOUNCE_BLOCK
        elif t == 20:
            shape, size, val = _SHAPE_SQUARE, 9.0, THWUMP
        elif t == 24:
            size, val = 6.0, BOOST_PAD
        elif t == 25:
            size, val = 5.0, DEATH_BALL
        elif t == 26:
            size, val = 4.0, MINI_DRONE
        elif t == 28:
            shape, size, val = _SHAPE_SQUARE, 12.0, SHOVE_THWUMP
        else:
            shape = _SHAPE_NONE
        if shape == _SHAPE_CIRCLE:
            _circle(flat, base, h, w, ox, oy, s, inv_s, x, y, size, val)
        elif shape == _SHAPE_SQUARE:
            _square(flat, base, h, w, ox, oy, inv_s, x, y, size, val)
        elif shape == _SHAPE_SEGMENT:
            # one-way platform: its face through the centre, perpendicular to the normal
            nx, ny = _orient_vec(bank.ent_si[lv, e, ES_ORIENT])
            _segment(flat, base, h, w, ox, oy, s, inv_s, x + size * ny, y - size * nx,
                     x - size * ny, y + size * nx, val)
    _circle(flat, base, h, w, ox, oy, s, inv_s, st.ninja_f[n, X], st.ninja_f[n, Y], NINJA_RADIUS,
            NINJA)


@jit
def _copy_window(src, li, x0, y0, flat, base, h, w):
    """Picture at flat[base] (h x w) := src[li, y0 + r, x0 + c], WALL outside src."""
    hh = src.shape[1]
    ww = src.shape[2]
    fs = src.reshape(src.size)
    sbase = li * hh * ww
    ca = min(max(-x0, 0), w)
    cb = max(min(ww - x0, w), ca)
    for r in range(h):
        y = y0 + r
        row = base + np.uint64(r * w)
        if y < 0 or y >= hh:
            for c in range(np.uint64(w)):
                flat[row + c] = WALL
            continue
        for c in range(np.uint64(ca)):
            flat[row + c] = WALL
        srow = np.uint64(sbase + y * ww + x0)
        for c in range(np.uint64(ca), np.uint64(cb)):
            flat[row + c] = fs[srow + c]
        for c in range(np.uint64(cb), np.uint64(w)):
            flat[row + c] = WALL


@jit_inline
def _window_origin(v, half):
    # clamp: a non-finite or absurd position gives an all-wall crop instead of an overflow
    if not (v > -1e4 and v < 1e4):
        v = -1e4
    return math.floor(v) - half


@jit
def player_frames_kernel(static_full, bank, st, ids, out):
    """Compiled core of :func:`render_player_frames` (no checks): env ids[k] -> out[ids[k]]."""
    h = out.shape[1]
    w = out.shape[2]
    flat = out.reshape(out.size)
    for k in range(ids.shape[0]):
        n = ids[k]
        base = np.uint64(n * h * w)
        x0 = _window_origin(st.ninja_f[n, X], w // 2)
        y0 = _window_origin(st.ninja_f[n, Y], h // 2)
        _copy_window(static_full, st.env_i[n, V_LEVEL], x0, y0, flat, base, h, w)
        _draw_dynamic(bank, st, n, flat, base, h, w, float(x0), float(y0), 1.0)


@jit
def global_views_kernel(static_small, bank, st, ids, out):
    """Compiled core of :func:`render_global_views` (no checks): env ids[k] -> out[ids[k]]."""
    h = out.shape[1]
    w = out.shape[2]
    size = np.uint64(h * w)
    flat = out.reshape(out.size)
    fs = static_small.reshape(static_small.size)
    for k in range(ids.shape[0]):
        n = ids[k]
        base = np.uint64(n) * size
        sbase = np.uint64(st.env_i[n, V_LEVEL]) * size
        for i in range(size):
            flat[base + i] = fs[sbase + i]
        _draw_dynamic(bank, st, n, flat, base, h, w, 0.0, 0.0, float(WORLD_W // w))


def _check(static, layer_shape, bank, st, args, view_shape, name):
    """Validate the arguments of a render call (the kernels index without bounds checks);
    returns (ids, out)."""
    if len(args) == 1:
        ids, out = None, args[0]
    elif len(args) == 2:
        ids, out = args
    else:
        raise TypeError(f"{name}(static, bank, st, [ids,] out) takes 4 or 5 arguments")
    n_envs = st.env_i.shape[0]
    if not (isinstance(static, np.ndarray) and static.dtype == np.uint8 and static.ndim == 3
            and static.shape[1:] == layer_shape and static.flags.c_contiguous
            and static.shape[0] >= len(bank.n_ent)):
        raise ValueError(f"{name}: static layers must be C-contiguous uint8 "
                         f"[levels >= {len(bank.n_ent)}, {layer_shape[0]}, {layer_shape[1]}]")
    if not (isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.ndim == 4
            and out.shape[3] == 1 and out.flags.c_contiguous and out.flags.writeable
            and (view_shape is None or out.shape[1:3] == view_shape)):
        shape = ("[N, H, W, 1]" if view_shape is None
                 else f"[N, {view_shape[0]}, {view_shape[1]}, 1]")
        raise ValueError(f"{name}: out must be a writeable C-contiguous uint8 {shape} array")
    if ids is None:
        if out.shape[0] != n_envs:
            raise ValueError(f"{name}: out has {out.shape[0]} rows for {n_envs} envs")
        return _arange(n_envs), out
    ids = np.ascontiguousarray(ids, np.int64)
    if ids.ndim != 1:
        raise ValueError(f"{name}: ids must be 1-D")
    if len(ids) and (ids.min() < 0 or ids.max() >= min(n_envs, out.shape[0])):
        raise ValueError(f"{name}: ids must lie in 0..{min(n_envs, out.shape[0]) - 1}")
    return ids, out


_ARANGE = np.arange(0, dtype=np.int64)


def _arange(n):
    global _ARANGE
    if len(_ARANGE) < n:
        _ARANGE = np.arange(n, dtype=np.int64)
    return _ARANGE[:n]


def render_player_frames(static_full, bank, st, *ids_out) -> None:
    """Player views: ``render_player_frames(static_full, bank, st, [ids,] out)``.

    `static_full` uint8 [L, 600, 1056] (the levels of the bank, stacked); `out` uint8
    [N, 84, 84, 1] (any H, W work; the ninja is at [H // 2, W // 2]). Without `ids` every env n
    is drawn into out[n]; with `ids` (int array) only those envs, env n again into out[n].
    Pixel (r, c) of env n shows world pixel (floor(x) - 42 + c, floor(y) - 42 + r), x, y the
    ninja position; outside the world is WALL. Arguments are checked (cheap), then
    :func:`player_frames_kernel` runs.
    """
    ids, out = _check(static_full, (WORLD_H, WORLD_W), bank, st, ids_out, None,
                      "render_player_frames")
    player_frames_kernel(static_full, bank, st, ids, out)


def render_global_views(static_small, bank, st, *ids_out) -> None:
    """Whole-level views: ``render_global_views(static_small, bank, st, [ids,] out)``,
    `static_small` uint8 [L, h, w] (:func:`static_layers`' ``small`` at some scale, by default
    [L, 100, 176] at 1/6), `out` uint8 [N, h, w, 1]; `ids` as in :func:`render_player_frames`.
    The static small layer, then entities and the ninja, each at least one pixel."""
    scale = (_SCALE_OF_HEIGHT.get(static_small.shape[1])
             if isinstance(static_small, np.ndarray) and static_small.ndim == 3 else None)
    layer_shape = small_shape(scale) if scale else (SMALL_H, SMALL_W)   # else _check refuses
    ids, out = _check(static_small, layer_shape, bank, st, ids_out, layer_shape,
                      "render_global_views")
    global_views_kernel(static_small, bank, st, ids, out)


@jit
def _render_full(static_full, li, bank, st, n, out):
    h = out.shape[1]
    w = out.shape[2]
    flat = out.reshape(out.size)
    _copy_window(static_full, li, 0, 0, flat, np.uint64(0), h, w)
    _draw_dynamic(bank, st, n, flat, np.uint64(0), h, w, 0.0, 0.0, 1.0)


_FULL_CACHE: dict[int, tuple] = {}      # id(level) -> (weakref to level, full layer)


def _cached_full_layer(level) -> np.ndarray:
    """static_layers(level)[0], remembered for the last few levels (videos render every frame)."""
    hit = _FULL_CACHE.get(id(level))
    if hit is not None and hit[0]() is level:
        return hit[1]
    full = static_layers(level)[0]
    try:
        ref = weakref.ref(level)
    except TypeError:               # a plain tile array: not cached
        return full
    if len(_FULL_CACHE) >= 8:
        _FULL_CACHE.pop(next(iter(_FULL_CACHE)))
    _FULL_CACHE[id(level)] = (ref, full)
    return full


def render_grey(level, bank, st, n: int, static_full: np.ndarray | None = None) -> np.ndarray:
    """The whole level of env n in grey, uint8 [600, 1056] (the palette's grey levels).

    `level` is the env's :class:`~ninjarl.sim.level.Level` (its tiles are rasterised unless
    `static_full` [600, 1056] is given)."""
    n = int(n)
    if not 0 <= n < st.env_i.shape[0]:
        raise IndexError(f"env {n} is not in 0..{st.env_i.shape[0] - 1}")
    if static_full is None:
        static_full = _cached_full_layer(level)
    src = np.ascontiguousarray(static_full, np.uint8).reshape(1, WORLD_H, WORLD_W)
    out = np.empty((1, WORLD_H, WORLD_W, 1), np.uint8)
    _render_full(src, 0, bank, st, n, out)
    return out[0, :, :, 0]


__all__ = ["CELL", "SMALL_H", "SMALL_SCALE", "SMALL_W", "small_shape", "VIEW", "VIEW_HALF", "WORLD_H", "WORLD_W",
           "global_views_kernel", "player_frames_kernel", "render_global_views", "render_grey",
           "render_player_frames", "stack_static_layers", "static_layers"]
