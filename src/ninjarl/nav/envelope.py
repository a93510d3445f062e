"""Jump envelopes measured with the simulator itself.

An *envelope* is the set of 12-px sub-cell offsets ``(dx, dy)`` (``dy`` > 0 is downward) that the
ninja's centre can occupy during one airborne phase, relative to the sub-cell of its last contact
frame (floor or wall) before that phase.  It is stored per relative row ``dy`` as a half width:
``|dx| <= half_width[dy]`` (mirror-symmetric), ``-1`` where the row cannot be reached.

:func:`measure_envelopes` runs :func:`ninjarl.sim.simulate_inputs` on small synthetic maps built
with :func:`ninjarl.sim.write_map` (open pit below a ledge, a tall wall, long slopes, a launch
pad) under families of input policies and records every airborne position.  The result is
cached per process (about a second, once).

Measured numbers (px, reference simulator, documented in ``ninjarl.nav``):

* flat ground, jump held to the 45-frame limit: rise 75.6 px standing, 76.9 px at run speed;
  a 1-frame tap rises 27.5 px;
* running jump landing back on the take-off height: 367.8 px of horizontal travel (112 frames);
* running up a 45 deg / mild slope and jumping: up to ~156 px of rise (the uphill velocity is
  kept and the slope jump adds to it);
* an upward launch pad: see :data:`ENVELOPE_NOTES` after measurement.
"""
from __future__ import annotations

import functools

import numpy as np

SUB = 12                    # sub-cell size in px
ROW_OFF = 64                # half_width index of relative row 0
N_ROWS = 2 * ROW_OFF
KIND_NONE, KIND_NORMAL, KIND_BIG, KIND_PAD = 0, 1, 2, 3
N_KINDS = 4
#: relative rows below the take-off row covered by the measured envelope; further down the
#: search continues with pure falls (one sub-cell down, at most one sideways per row).
FALL_DEPTH = 10
#: sub-cells of slack added to every measured envelope (start position inside the sub-cell,
#: coyote-time jumps up to 4 frames after leaving a ledge, sampling gaps between policies).
MARGIN_X = 2
MARGIN_Y = 1

ENVELOPE_NOTES: dict[str, float] = {}


def _lvl(tiles, spawn, ents=()):
    from ninjarl.sim import build_level, write_map
    return build_level(write_map(tiles, spawn[0], spawn[1], list(ents)))


def _air_offsets(tr, contact):
    """(dx, dy) px of airborne frames relative to the last contact frame before them."""
    x, y, st = tr["x"], tr["y"], tr["state"]
    out = []
    last = -1
    for f in range(len(st)):
        if st[f] >= 6:
            break
        if contact[f]:
            last = f
        elif last >= 0:
            out.append((x[f] - x[last], y[f] - y[last]))
    return out


def _run(level, inp):
    from ninjarl.sim import simulate_inputs
    return simulate_inputs(level, np.asarray(inp, np.uint8))


def _ground_samples():
    """Take-offs from a flat ledge above a deep pit (stand, run, walk off, hop, full jump)."""
    t = np.zeros((42, 23), np.uint8)
    t[:, 22] = 1
    t[0:12, 6] = 1                    # ledge, top at y = 168, right end at x = 312
    pts = []
    for start in (66, 150, 234, 282, 300):
        lv = _lvl(t, (start, 156))
        for run in (0, 4, 10, 20, 40, 70, 110):
            for hold in (0, 1, 4, 10, 20, 46, 80):
                for after in (2, 0, 4):
                    inp = [0] * 4 + [2] * run + [3] * hold + [after] * 150
                    tr = _run(lv, inp)
                    pts += _air_offsets(tr, np.isin(tr["state"], (0, 1, 2)))
    return pts


def _wall_samples():
    """Wall slides and wall jumps off a tall wall to the left of open space."""
    t = np.zeros((42, 23), np.uint8)
    t[:, 22] = 1
    t[0:10, :] = 1                    # wall face at x = 264 (full-grid column 11)
    face = 24 * 11
    pts = []
    lv = _lvl(t, (282, 300))
    for pre in (10, 30, 60):
        for period in (4, 8, 12, 16, 24, 40, 60):
            for hold in (1, 3, 8, 14, 30, 46):
                for mode in (0, 1, 2):
                    inp = [4] * pre
                    for f in range(240):
                        j = 1 if (f % period) < hold else 0
                        h = (4, 2, 0)[mode] if f % period >= 2 else 4
                        inp.append(h | j)
                    tr = _run(lv, inp)
                    near = np.abs(tr["x"] - face) <= 10.5
                    ground = np.isin(tr["state"], (0, 1, 2))
                    pts += _air_offsets(tr, near | ground)
    return pts


def _slope_samples():
    """Run up long 45 deg, mild and steep slopes and jump (the uphill speed is kept)."""
    pts = []
    for kind in ("45", "mild", "steep"):
        t = np.zeros((42, 23), np.uint8)
        t[:, 22] = 1
        if kind == "45":
            for i in range(18):
                c, r = 6 + i, 21 - i
                t[c, r] = 8
                t[c, r + 1:22] = 1
        elif kind == "mild":
            r, c = 21, 6
            while c < 40 and r > 1:
                t[c, r] = 20
                t[c, r + 1:22] = 1
                t[c + 1, r] = 24
                t[c + 1, r + 1:22] = 1
                c, r = c + 2, r - 1
        else:
            r, c = 21, 6
            while r > 2:
                t[c, r] = 32
                t[c, r + 1:22] = 1
                t[c, r - 1] = 28
                c, r = c + 1, r - 2
        lv = _lvl(t, (60, 540))
        for run in range(10, 170, 6):
            for jb in (1, 3, 5):
                for after in (0, 2, 4):
                    tr = _run(lv, [2] * run + [jb] * 60 + [after] * 80)
                    pts += _air_offsets(tr, np.isin(tr["state"], (0, 1, 2)))
    return pts


def _pad_samples():
    """Launch pads of every orientation in the middle of an open room."""
    from ninjarl.sim.mapfile import EntitySpec
    pts = []
    t = np.zeros((42, 23), np.uint8)
    t[:, 22] = 1
    for o in range(8):
        # pad on the floor for the upward orientations, free-floating otherwise
        px, py = 528, 546 if o in (5, 6, 7) else 480
        lv = _lvl(t, (480 if o != 2 else 528, 540 if o in (5, 6, 7) else 462),
                  [EntitySpec(10, px, py, o, 0)])
        for pre in ((2,) * 30, (4,) * 30, (0,) * 30, (2,) * 10):
            for jb in (0, 1, 3, 5):
                for after in (0, 2, 4):
                    inp = list(pre) + [jb] * 50 + [after] * 200
                    tr = _run(lv, inp)
                    x, y = tr["x"], tr["y"]
                    d = np.hypot(x - px, y - py)
                    touch = d < 16.5
                    pts += _air_offsets(tr, touch)
    return pts


def _half_widths(points, margin_x=MARGIN_X, margin_y=MARGIN_Y, full_below=None):
    """Per relative row, the largest |dx| in sub-cells (dilated by the margins)."""
    hw = np.full(N_ROWS, -1, np.int32)
    if not points:
        return hw
    p = np.asarray(points, np.float64)
    # the take-off centre may lie anywhere in its sub-cell: offsets shift by up to one cell
    rows = np.floor(p[:, 1] / SUB).astype(int)
    cols = np.ceil(np.abs(p[:, 0]) / SUB).astype(int)
    for r, c in zip(rows, cols):
        for rr in range(r - margin_y, r + margin_y + 2):
            k = rr + ROW_OFF
            if 0 <= k < N_ROWS:
                hw[k] = max(hw[k], c + margin_x)
    # fill holes between the top row and the fall depth: the region is vertically convex
    ks = np.flatnonzero(hw >= 0)
    top = ks.min()
    for k in range(top + 1, N_ROWS):
        if hw[k] < 0 and k <= ROW_OFF + FALL_DEPTH:
            hw[k] = hw[k - 1]
    # widths never shrink below the take-off row (falling only adds air time)
    for k in range(ROW_OFF + 1, N_ROWS):
        hw[k] = max(hw[k], hw[k - 1])
    if full_below is not None:
        hw[ROW_OFF + full_below:] = 88
    hw[ROW_OFF + FALL_DEPTH + 1:] = np.minimum(hw[ROW_OFF + FALL_DEPTH + 1:], 88)
    return hw


@functools.lru_cache(maxsize=1)
def measure_envelopes() -> np.ndarray:
    """``int32 [N_KINDS, N_ROWS]`` half widths per launch kind and relative row.

    Kinds: ``KIND_NORMAL`` (flat floors, walls, entity platforms), ``KIND_BIG`` (floors next to
    slopes or curves, bounce blocks; union with normal), ``KIND_PAD`` (launch / boost pads;
    unbounded width, height limited by the measured pad rise).
    """
    ground, wall, slope, pad = _ground_samples(), _wall_samples(), _slope_samples(), _pad_samples()
    out = np.full((N_KINDS, N_ROWS), -1, np.int32)
    out[KIND_NORMAL] = _half_widths(ground + wall)
    out[KIND_BIG] = np.maximum(out[KIND_NORMAL], _half_widths(slope + ground + wall))
    hw_pad = _half_widths(pad + slope + ground + wall)
    top = np.flatnonzero(hw_pad >= 0).min()
    hw_pad[top:] = 88
    out[KIND_PAD] = hw_pad
    for name, pts in (("ground", ground), ("wall", wall), ("slope", slope), ("pad", pad)):
        a = np.asarray(pts)
        ENVELOPE_NOTES[f"{name}_max_rise_px"] = float(-a[:, 1].min())
        ENVELOPE_NOTES[f"{name}_max_dx_at_takeoff_height_px"] = float(
            np.abs(a[np.abs(a[:, 1]) < 6, 0]).max()) if np.any(np.abs(a[:, 1]) < 6) else 0.0
    for k, name in ((KIND_NORMAL, "normal"), (KIND_BIG, "big"), (KIND_PAD, "pad")):
        ENVELOPE_NOTES[f"{name}_rows_up"] = float(ROW_OFF - np.flatnonzero(out[k] >= 0).min())
    return out
