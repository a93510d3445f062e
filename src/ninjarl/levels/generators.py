"""Level generators for seven difficulty categories, deterministic from (category, seed).

Every level is drawn on a 42 x 23 grid of playable tiles that starts solid; the generators carve
chambers, corridors, mazes, pits and platforms out of it, shape floors and corners with slopes
(tiles 6-9, 20/21/24/25) and quarter pipes (14-17), and place the spawn, the exit door and its
switch, locked doors with their switches, mines and gold at cell centres (multiples of 6 px).

``generate_level(category, seed)`` draws attempt 0 with ``numpy.random.default_rng([category
index, seed, 0])``, builds it with the simulator's loader and keeps it if
:func:`~ninjarl.levels.solvability.check_solvable` accepts it; otherwise it redraws with attempt
1, 2, ... (deterministic, recorded as ``metadata["attempts"]``).

Layouts per category (``metadata["layout"]``), sizes in cells:

* ``simplest`` (tier 0): ``flat`` - one flat chamber 3-6 wide, 1-2 high; spawn at one end, the
  exit door at the other, the switch between them; no jump needed.
* ``simpler`` (tier 1): ``chamber`` - one flat chamber up to 20 x 5 with 0-2 gold; in about a
  third of the chambers 7+ wide a wall with a locked door whose switch lies on the way.
* ``simple`` (tier 2): ``maze`` (2-3 x 2 cells), ``hills`` (8-16 wide, 45 degree slopes),
  ``vertical`` (a 2-3 wide shaft 2-4 high between two rooms), ``pit`` (one pit 1-2 wide whose
  floor is lined with mines).
* ``medium`` (tier 3): ``maze``, ``chambers`` (two rooms joined by a corridor), ``pit`` (1-2
  mine pits), ``mine_maze``, ``hills`` (45 degree and mild slopes), ``vertical``, ``islands``
  (platforms over a mined floor), ``platforms`` (a staircase of ledges).
* ``complex`` (tier 4): larger versions of the medium layouts; ``chambers`` with 2-4 rooms.
* ``mine_heavy`` (tier 4): ``mine_maze`` (dense mines, some toggle mines) and ``mine_jumps``
  (2-4 pits with mined floors and walls under a mined ceiling).
* ``exploration`` (tier 5): ``maze`` (large) and ``chambers`` (3-4 rooms) with the switch in
  the maze cell / room farthest from the spawn.

``metadata`` holds ``layout``, ``width`` / ``height`` (bounding box of the non-solid tiles),
``n_mines`` (types 1 and 21), ``n_gold``, ``n_locked_doors``, ``n_entities`` (all records but
the ninja), ``attempts`` and the layout's own parameters. :data:`LIMITS` gives the ranges each
category stays inside (tested).
"""
from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ninjarl.sim.mapfile import GRID_H, GRID_W, EntitySpec, write_map

from .common import (
    MAX_ATTEMPTS,
    T_EXIT,
    T_GOLD,
    T_LOCKED,
    T_MINE,
    T_SWITCH,
    T_TOGGLE,
    TIERS,
    GeneratedLevel,
    category_index,
    cell_px,
)

#: bumped whenever a generator's output changes (recorded in manifests and the default cache)
GENERATOR_VERSION = 1

#: per category: (min, max) of width, height, mines, gold, locked doors, entities
LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    "simplest": dict(width=(3, 6), height=(1, 2), mines=(0, 0), gold=(0, 0), locked=(0, 0),
                     entities=(2, 2)),
    "simpler": dict(width=(4, 20), height=(1, 5), mines=(0, 0), gold=(0, 2), locked=(0, 1),
                    entities=(2, 6)),
    "simple": dict(width=(3, 18), height=(2, 12), mines=(0, 4), gold=(0, 2), locked=(0, 0),
                   entities=(2, 8)),
    "medium": dict(width=(5, 42), height=(3, 23), mines=(0, 40), gold=(0, 3), locked=(0, 0),
                   entities=(2, 45)),
    "complex": dict(width=(5, 42), height=(4, 23), mines=(0, 70), gold=(0, 4), locked=(0, 0),
                    entities=(2, 76)),
    "mine_heavy": dict(width=(12, 42), height=(3, 23), mines=(12, 90), gold=(0, 3),
                       locked=(0, 0), entities=(14, 95)),
    "exploration": dict(width=(12, 42), height=(5, 23), mines=(0, 0), gold=(0, 4),
                        locked=(0, 0), entities=(2, 6)),
}

@dataclass
class Canvas:
    """A level being drawn: tiles[x, y] of the playable grid (1 = solid) and entities."""

    tiles: np.ndarray = field(default_factory=lambda: np.ones((GRID_W, GRID_H), np.uint8))
    spawn: tuple[int, int] | None = None
    switch: tuple[int, int] | None = None
    exit: tuple[int, int] | None = None
    ents: list = field(default_factory=list)         # (type, cx, cy, extra)
    used: set = field(default_factory=set)

    def carve(self, x0: int, y0: int, w: int, h: int, tile: int = 0) -> None:
        xa, xb = max(x0, 0), min(x0 + w, GRID_W)
        ya, yb = max(y0, 0), min(y0 + h, GRID_H)
        if xa < xb and ya < yb:
            self.tiles[xa:xb, ya:yb] = tile

    def free(self, x: int, y: int) -> bool:
        return 0 <= x < GRID_W and 0 <= y < GRID_H and self.tiles[x, y] == 0

    def solid(self, x: int, y: int) -> bool:
        return not (0 <= x < GRID_W and 0 <= y < GRID_H) or self.tiles[x, y] == 1

    def put(self, t: int, x: int, y: int) -> None:
        self.ents.append((t, x, y))
        self.used.add((x, y))

    def to_bytes(self, locked: list | None = None) -> bytes:
        ents = [EntitySpec(T_EXIT, cell_px(self.exit[0]), cell_px(self.exit[1]), 0, 0),
                EntitySpec(T_SWITCH, cell_px(self.switch[0]), cell_px(self.switch[1]), 0, 0)]
        for (dx, dy), (sx, sy) in locked or []:
            ents.append(EntitySpec(T_LOCKED, cell_px(dx), cell_px(dy), 0, 0,
                                   cell_px(sx), cell_px(sy)))
        for t, x, y in self.ents:
            ents.append(EntitySpec(t, cell_px(x), cell_px(y), 0, 0))
        sx, sy = self.spawn
        return write_map(self.tiles, cell_px(sx), cell_px(sy), ents)


class _Draw:
    """Helpers shared by the layouts: an rng and a canvas."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.cv = Canvas()
        self.locked: list = []
        self.info: dict = {}

    def ri(self, a: int, b: int) -> int:
        """Uniform integer in [a, b]."""
        return int(self.rng.integers(a, b + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def set_goals(self, spawn, switch, exit_) -> None:
        cv = self.cv
        cv.spawn, cv.switch, cv.exit = spawn, switch, exit_
        cv.used.update((spawn, switch, exit_))

    def floor_cells(self, x0, x1, y) -> list:
        """Free cells of row y in [x0, x1] standing on something solid, not yet used."""
        cv = self.cv
        return [(x, y) for x in range(x0, x1 + 1)
                if cv.free(x, y) and cv.solid(x, y + 1) and (x, y) not in cv.used]

    def add_gold(self, cells: list, n: int) -> None:
        cells = [c for c in cells if c not in self.cv.used]
        for i in self.rng.permutation(len(cells))[:n]:
            self.cv.put(T_GOLD, *cells[int(i)])

    def corners(self, x0, y0, w, h, bottom: bool = False) -> None:
        """Round or bevel the top (and optionally bottom) corners of a chamber."""
        cv = self.cv
        if h < 3 or w < 4:
            return
        pipe = self.chance(0.5)
        spots = [(x0, y0, 14 if pipe else 6, (-1, 0), (0, -1)),
                 (x0 + w - 1, y0, 15 if pipe else 7, (1, 0), (0, -1))]
        if bottom:
            spots += [(x0, y0 + h - 1, 17, (-1, 0), (0, 1)),
                      (x0 + w - 1, y0 + h - 1, 16, (1, 0), (0, 1))]
        for x, y, tile, (ax, ay), (bx, by) in spots:
            if (cv.free(x, y) and (x, y) not in cv.used and cv.solid(x + ax, y + ay)
                    and cv.solid(x + bx, y + by) and self.chance(0.6)):
                cv.tiles[x, y] = tile

    # ---- layouts -------------------------------------------------------------------------

    def flat(self, wr=(3, 6), hr=(1, 2)) -> None:
        w, h = self.ri(*wr), self.ri(*hr)
        x0, y0 = self.ri(0, GRID_W - w), self.ri(0, GRID_H - h)
        self.cv.carve(x0, y0, w, h)
        fy = y0 + h - 1
        xs = list(range(x0, x0 + w))
        if self.chance(0.5):
            xs.reverse()
        self.set_goals((xs[0], fy), (xs[self.ri(1, w - 2)], fy), (xs[-1], fy))
        self.info.update(chamber=[w, h])

    def chamber(self, wr=(4, 20), hr=(1, 5), locked_p=0.35, gold=(0, 2)) -> None:
        w, h = self.ri(*wr), self.ri(*hr)
        x0, y0 = self.ri(0, GRID_W - w), self.ri(0, GRID_H - h)
        cv = self.cv
        cv.carve(x0, y0, w, h)
        fy = y0 + h - 1
        xs = list(range(x0, x0 + w))
        if self.chance(0.5):
            xs.reverse()
        if w >= 7 and self.chance(locked_p):
            k = self.ri(3, w - 4)
            wx = xs[k]
            cv.carve(wx, y0, 1, h - 1, tile=1)          # a wall with a one-cell gap at the floor
            door_switch = (xs[self.ri(1, k - 1)], fy)
            self.locked.append(((wx, fy), door_switch))
            cv.used.update({(wx, fy), door_switch})
            self.set_goals((xs[0], fy), (xs[self.ri(k + 1, w - 2)], fy), (xs[-1], fy))
        elif w >= 4 and self.chance(0.3):
            # the door lies between the spawn and the switch: walk past it and come back
            self.set_goals((xs[0], fy), (xs[-1], fy), (xs[self.ri(1, w - 2)], fy))
        else:
            self.set_goals((xs[0], fy), (xs[self.ri(1, w - 2)], fy), (xs[-1], fy))
        self.corners(x0, y0, w, h)
        cells = [(x, y) for x in xs for y in range(y0, fy + 1) if cv.free(x, y)]
        self.add_gold(cells, self.ri(*gold))
        self.info.update(chamber=[w, h])

    def maze(self, mwr, mhr, cw=1, far=False, gold=(0, 2)) -> None:
        cv = self.cv
        pitch = cw + 1
        mw = min(self.ri(*mwr), (GRID_W + 1) // pitch)
        mh = min(self.ri(*mhr), (GRID_H + 1) // pitch)
        W, H = mw * pitch - 1, mh * pitch - 1
        x0, y0 = self.ri(0, GRID_W - W), self.ri(0, GRID_H - H)
        for i in range(mw):
            for j in range(mh):
                cv.carve(x0 + i * pitch, y0 + j * pitch, cw, cw)
        adj: dict = {(i, j): [] for i in range(mw) for j in range(mh)}

        def link(a, b):
            adj[a].append(b)
            adj[b].append(a)
            (i, j), (k, l) = sorted((a, b))
            if k > i:       # horizontal neighbour: open the wall column between them
                cv.carve(x0 + i * pitch + cw, y0 + j * pitch, 1, cw)
            else:
                cv.carve(x0 + i * pitch, y0 + j * pitch + cw, cw, 1)

        start = (self.ri(0, mw - 1), self.ri(0, mh - 1))
        seen, stack = {start}, [start]
        while stack:
            i, j = stack[-1]
            nbrs = [(i + di, j + dj) for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1))
                    if (i + di, j + dj) in adj and (i + di, j + dj) not in seen]
            if not nbrs:
                stack.pop()
                continue
            n = self.pick(nbrs)
            link((i, j), n)
            seen.add(n)
            stack.append(n)
        # a few extra openings (loops), mostly horizontal: friendlier to a platformer
        for (i, j) in list(adj):
            if i + 1 < mw and (i + 1, j) not in adj[(i, j)] and self.chance(0.15):
                link((i, j), (i + 1, j))
        cells = list(adj)
        dist = _bfs(adj, start) if far else None
        spawn_c = self.pick(cells) if not far else start
        if far:
            far_c = max(cells, key=lambda c: (dist[c], c))
            others = [c for c in cells if c not in (spawn_c, far_c)]
            switch_c, exit_c = far_c, self.pick(others)
        else:
            order = self.rng.permutation(len(cells))
            spawn_c, switch_c, exit_c = (cells[int(order[0])], cells[int(order[1])],
                                         cells[int(order[2 % len(cells)])])

        def spot(c):
            i, j = c
            return (x0 + i * pitch + self.ri(0, cw - 1), y0 + j * pitch + cw - 1)

        self.set_goals(spot(spawn_c), spot(switch_c), spot(exit_c))
        free = [(x, y) for x in range(x0, x0 + W) for y in range(y0, y0 + H) if cv.free(x, y)]
        self.add_gold(free, self.ri(*gold))
        self.info.update(maze=[mw, mh], corridor=cw)

    def hills(self, wr, max_rise=(1, 2), mild=False, gold=(0, 2)) -> None:
        cv = self.cv
        w = self.ri(*wr)
        G = self.ri(*max_rise)
        head = self.ri(3, 4)
        h = G + head
        x0, y0 = self.ri(0, GRID_W - w), self.ri(0, GRID_H - h)
        yb = y0 + h - 1
        cv.carve(x0, y0, w, h)
        cols: list = []           # (kind, g_left) per column
        g = 0
        run = self.ri(2, 3)
        cols += [("flat", g)] * run
        while len(cols) < w - 2:
            ops = ["flat", "flat"]
            if g < G:
                ops += ["up"] + (["mup"] if mild else [])
            if g > 0:
                ops += ["down"] + (["mdown"] if mild else [])
            op = self.pick(ops)
            if op == "flat":
                cols += [("flat", g)] * self.ri(1, 3)
            elif op == "up":
                cols.append(("up", g))
                g += 1
            elif op == "down":
                cols.append(("down", g))
                g -= 1
            elif op == "mup":
                cols += [("mup1", g), ("mup2", g)]
                g += 1
            else:
                cols += [("mdown1", g), ("mdown2", g)]
                g -= 1
        while g > 0 and len(cols) < w + 4:       # come back down so both ends are flat
            cols.append(("down", g))
            g -= 1
        cols += [("flat", g)] * 2
        cols = cols[:w] if len(cols) >= w else cols
        w = len(cols)
        if x0 + w > GRID_W:
            x0 = GRID_W - w
        cv.tiles[:, :] = 1
        cv.carve(x0, y0, w, h)
        tops = []
        for c, (kind, a) in enumerate(cols):
            x = x0 + c
            base = a if kind not in ("down", "mdown1", "mdown2") else a - 1
            cv.carve(x, yb - base + 1, 1, base, tile=1)
            top_row = yb - base           # first free row above the column's solid part
            tile = {"up": 8, "down": 9, "mup1": 20, "mup2": 24, "mdown1": 25, "mdown2": 21}.get(kind)
            if tile is not None:
                cv.tiles[x, top_row] = tile
            else:
                tops.append((x, top_row))
        # flat columns at both ends carry spawn and exit; switch on a flat column in between
        left, right = tops[0], tops[-1]
        if self.chance(0.5):
            left, right = right, left
        middle = [t for t in tops[1:-1]]
        sw = self.pick(middle) if middle else tops[len(tops) // 2]
        self.set_goals(left, sw, right)
        self.corners(x0, y0, w, h)
        self.add_gold([(x, y - 1) for x, y in tops], self.ri(*gold))
        self.info.update(hill_width=w, max_rise=G, mild=mild)

    def vertical(self, shaft_h, shaft_w=(1, 3), gold=(0, 1)) -> None:
        cv = self.cv
        sh, sw = self.ri(*shaft_h), self.ri(*shaft_w)
        th, bh = self.ri(2, 3), self.ri(2, 3)
        tw, bw = self.ri(sw + 2, sw + 6), self.ri(max(3, sw), sw + 6)
        total = th + sh + bh
        ty = self.ri(0, GRID_H - total)
        sx = self.ri(2, GRID_W - sw - 2)
        # top room extends to one side of the shaft so that it has a floor
        if self.chance(0.5):
            tx = sx - (tw - sw)
        else:
            tx = sx
        tx = min(max(tx, 0), GRID_W - tw)
        bx = min(max(sx - self.ri(0, bw - sw), 0), GRID_W - bw)
        by = ty + th + sh
        cv.carve(tx, ty, tw, th)
        cv.carve(sx, ty + th, sw, sh)
        cv.carve(bx, by, bw, bh)
        top = self.floor_cells(tx, tx + tw - 1, ty + th - 1)
        bottom = self.floor_cells(bx, bx + bw - 1, by + bh - 1)
        if len(top) < 2 or len(bottom) < 2:
            top = top or [(tx, ty + th - 1)]
            bottom = bottom or [(bx, by + bh - 1)]
        up = self.chance(0.5)
        a, b = (bottom, top) if up else (top, bottom)
        oa = [a[int(i)] for i in self.rng.permutation(len(a))]
        ob = [b[int(i)] for i in self.rng.permutation(len(b))]
        spawn, switch = oa[0], ob[0]
        exit_ = oa[1] if (self.chance(0.5) and len(oa) > 1) else (ob[1] if len(ob) > 1 else oa[-1])
        self.set_goals(spawn, switch, exit_)
        self.add_gold(top + bottom, self.ri(*gold))
        self.info.update(shaft=[sw, sh], climb=up)

    def pits(self, n_pits, pit_w, depth, head=(3, 5), ceiling=False, walls=False,
             gold=(0, 2)) -> None:
        cv = self.cv
        n = self.ri(*n_pits)
        segs = [self.ri(2, 4)]
        widths = []
        for _ in range(n):
            widths.append(self.ri(*pit_w))
            segs.append(self.ri(2, 4))
        w = sum(segs) + sum(widths)
        while w > GRID_W:
            segs = [max(2, s - 1) for s in segs]
            w = sum(segs) + sum(widths)
        h = self.ri(*head)
        d = self.ri(*depth)
        x0 = self.ri(0, GRID_W - w)
        y0 = self.ri(0, GRID_H - h - d)
        fy = y0 + h - 1
        cv.carve(x0, y0, w, h)
        x = x0
        lands = []
        mines = []
        for k, s in enumerate(segs):
            lands.append([(xx, fy) for xx in range(x, x + s)])
            x += s
            if k < n:
                pw = widths[k]
                cv.carve(x, fy + 1, pw, d)
                mines += [(xx, fy + d) for xx in range(x, x + pw)]
                if walls and d >= 3:
                    mines += [(x, fy + d - 1), (x + pw - 1, fy + d - 1)] if pw >= 3 else []
                if ceiling and h >= 5:
                    mines += [(xx, y0) for xx in range(x, x + pw)]
                x += pw
        for c in dict.fromkeys(mines):
            cv.put(T_MINE, *c)
        first, last = lands[0], lands[-1]
        if self.chance(0.5):
            first, last = [list(reversed(l)) for l in (last, first)]
        spawn = first[0]
        r = self.rng.random()
        if r < 0.4:
            switch, exit_ = last[-1], first[-1]            # jump there and back
        elif r < 0.7 or len(last) < 2:
            switch, exit_ = last[0], last[-1]
        else:
            mid = lands[self.ri(0, len(lands) - 1)]
            switch, exit_ = last[-1], self.pick([c for c in mid if c != spawn] or last[:1])
        if exit_ == switch:
            exit_ = first[-1]
        self.set_goals(spawn, switch, exit_)
        air = [(xx, y) for xx in range(x0, x0 + w) for y in range(y0 + 1, fy - 1)
               if cv.free(xx, y)]
        self.add_gold(air, self.ri(*gold))
        self.info.update(pits=n, pit_widths=widths, depth=d)

    def mine_maze(self, wr, hr, density, toggle_p=0.0, blocks=(0, 3), gold=(0, 2), min_mines=0) -> None:
        cv = self.cv
        w, h = self.ri(*wr), self.ri(*hr)
        x0, y0 = self.ri(0, GRID_W - w), self.ri(0, GRID_H - h)
        fy = y0 + h - 1
        cv.carve(x0, y0, w, h)
        for _ in range(self.ri(*blocks)):      # a few ledges to climb over or under
            bw = self.ri(1, 3)
            bx, by = self.ri(x0 + 2, x0 + w - 3 - bw), self.ri(y0 + 1, fy - 1)
            if bx > x0 + 1:
                cv.carve(bx, by, bw, 1, tile=1)
        xs = list(range(x0, x0 + w))
        if self.chance(0.5):
            xs.reverse()
        spawn = (xs[0], fy)
        switch = (xs[-1], fy) if self.chance(0.6) else (xs[self.ri(w // 2, w - 2)], fy)
        exit_ = self.pick([c for c in self.floor_cells(x0, x0 + w - 1, fy)
                           if c not in (spawn, switch)])
        self.set_goals(spawn, switch, exit_)
        protect = {(x + dx, y + dy) for x, y in (spawn, switch, exit_)
                   for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
        cand = [(x, y) for x in xs for y in range(y0, fy + 1)
                if cv.free(x, y) and (x, y) not in protect]
        m = min(max(int(round(density * len(cand))), min_mines), len(cand))
        # floor mines must stay isolated (a single mine can be jumped, a run of them not)
        floor_used: set = set()
        placed = 0
        for i in self.rng.permutation(len(cand)):
            if placed == m:
                break
            x, y = cand[int(i)]
            if y == fy:
                if any((x + d) in floor_used for d in (-2, -1, 1, 2)):
                    continue
                floor_used.add(x)
            cv.put(T_TOGGLE if self.chance(toggle_p) else T_MINE, x, y)
            placed += 1
        free = [c for c in cand if c not in cv.used]
        self.add_gold(free, self.ri(*gold))
        self.info.update(chamber=[w, h], density=round(float(density), 3))

    def islands(self, n_isl, wr, hr, gold=(0, 2)) -> None:
        cv = self.cv
        n = self.ri(*n_isl)
        h = self.ri(*hr)
        widths = [self.ri(2, 4) for _ in range(n)]
        gaps = [self.ri(2, 3) for _ in range(n - 1)]
        w = sum(widths) + sum(gaps)
        w = max(w, wr[0])
        if w > GRID_W:
            return self.islands((n - 1, n - 1), wr, hr, gold)
        x0, y0 = self.ri(0, GRID_W - w), self.ri(0, GRID_H - h)
        fy = y0 + h - 1
        cv.carve(x0, y0, w, h)
        for x in range(x0, x0 + w):
            cv.put(T_MINE, x, fy)                  # a mined floor
        x = x0
        level = self.ri(2, min(4, h - 3))
        tops = []
        for k in range(n):
            if k:
                x += gaps[k - 1]
                level = min(max(level + self.ri(-2, 2), 2), h - 3)
            iw = widths[k] if k < n - 1 else x0 + w - x
            row = fy - level
            cv.carve(x, row, iw, 1, tile=1)
            tops.append([(xx, row - 1) for xx in range(x, x + iw)])
            x += iw
        order = list(range(n))
        if self.chance(0.5):
            order.reverse()
        first, last = tops[order[0]], tops[order[-1]]
        spawn = first[len(first) // 2]
        switch = last[len(last) // 2]
        mid = [tops[i] for i in order[1:-1]]
        exit_isl = self.pick(mid) if mid and self.chance(0.6) else first
        exit_ = self.pick([c for c in exit_isl if c != spawn])
        self.set_goals(spawn, switch, exit_)
        self.add_gold([c for t in tops for c in t], self.ri(*gold))
        self.info.update(islands=n, chamber=[w, h])

    def platforms(self, n_pl, wr, gold=(0, 2)) -> None:
        cv = self.cv
        n = self.ri(*n_pl)
        steps = [self.ri(2, 3) for _ in range(n)]
        h = sum(steps) + 3
        if h > GRID_H:
            return self.platforms((n - 1, n - 1), wr, gold)
        w = self.ri(*wr)
        x0, y0 = self.ri(0, GRID_W - w), self.ri(0, GRID_H - h)
        fy = y0 + h - 1
        cv.carve(x0, y0, w, h)
        row = fy
        side = self.chance(0.5)
        tops = []
        for s in steps:
            row -= s
            pw = self.ri(2, max(2, min(4, w - 3)))
            px = x0 if side else x0 + w - pw
            if self.chance(0.3):                        # a free-floating ledge in the middle
                px = self.ri(x0 + 1, x0 + w - pw - 1)
            cv.carve(px, row, pw, 1, tile=1)
            tops.append([(xx, row - 1) for xx in range(px, px + pw)])
            side = not side
        ground = self.floor_cells(x0, x0 + w - 1, fy)
        spawn = self.pick(ground)
        switch = self.pick(tops[-1])
        if self.chance(0.5):
            exit_ = self.pick([c for c in ground if c != spawn])
        else:
            exit_ = self.pick([c for c in tops[-1] if c != switch] or tops[-2])
        self.set_goals(spawn, switch, exit_)
        self.add_gold([c for t in tops for c in t], self.ri(*gold))
        self.info.update(platforms=n, chamber=[w, h])

    def chambers(self, n_rooms, rw=(4, 9), rh=(2, 5), far=False, gold=(0, 2)) -> None:
        cv = self.cv
        n = self.ri(*n_rooms)
        rooms: list = []
        for _ in range(60 * n):
            if len(rooms) == n:
                break
            w, h = self.ri(*rw), self.ri(*rh)
            x, y = self.ri(0, GRID_W - w), self.ri(0, GRID_H - h)
            if all(x + w + 2 <= a or a + c + 2 <= x or y + h + 2 <= b or b + d + 2 <= y
                   for a, b, c, d in rooms):
                rooms.append((x, y, w, h))
        if len(rooms) < 2:
            rooms = [(1, 2, 6, 3), (30, 15, 6, 3)]
        rooms.sort()
        for x, y, w, h in rooms:
            cv.carve(x, y, w, h)
        for (ax, ay, aw, ah), (bx, by, bw, bh) in zip(rooms, rooms[1:]):
            # from a floor cell of room a: along a's floor row, then a 2-wide shaft to b's floor
            px = self.ri(ax, ax + aw - 1)
            py = ay + ah - 1
            qx = self.ri(bx, bx + bw - 2)
            qy = by + bh - 1
            ch = self.ri(1, 2)
            lo, hi = min(px, qx), max(px, qx) + 1
            cv.carve(lo, py - ch + 1, hi - lo + 1, ch)
            cv.carve(qx, min(py, qy) - (ch - 1 if qy > py else 0), 2, abs(qy - py) + ch)
        for x, y, w, h in rooms:
            self.corners(x, y, w, h)
        floors = [self.floor_cells(x, x + w - 1, y + h - 1) or [(x, y + h - 1)]
                  for x, y, w, h in rooms]
        first = 0 if self.chance(0.5) else len(rooms) - 1
        spawn = self.pick(floors[first])
        if far:
            centres = [(x + w / 2, y + h / 2) for x, y, w, h in rooms]
            sx, sy = centres[first]
            k = max(range(len(rooms)), key=lambda i: (centres[i][0] - sx) ** 2 +
                    (centres[i][1] - sy) ** 2)
        else:
            k = len(rooms) - 1 - first
        switch = self.pick(floors[k])
        e = self.ri(0, len(rooms) - 1)
        cands = [c for c in floors[e] if c not in (spawn, switch)] or \
                [c for c in floors[first] if c not in (spawn, switch)] or floors[first]
        exit_ = self.pick(cands)
        self.set_goals(spawn, switch, exit_)
        self.add_gold([c for f in floors for c in f], self.ri(*gold))
        self.info.update(rooms=len(rooms))


def _bfs(adj: dict, start) -> dict:
    dist = {start: 0}
    q = deque([start])
    while q:
        c = q.popleft()
        for n in adj[c]:
            if n not in dist:
                dist[n] = dist[c] + 1
                q.append(n)
    return dist


# ---- categories ----------------------------------------------------------------------------

#: layouts per category; a level's layout depends on (category, seed) only, so a rejected draw
#: is redrawn with the same layout and rejections do not skew the mix
LAYOUTS: dict[str, tuple[str, ...]] = {
    "simplest": ("flat",),
    "simpler": ("chamber",),
    "simple": ("maze", "hills", "vertical", "pit"),
    "medium": ("maze", "chambers", "pit", "mine_maze", "hills", "vertical", "islands",
               "platforms"),
    "complex": ("maze", "chambers", "chambers", "pit", "mine_maze", "hills", "vertical",
                "islands", "platforms"),
    "mine_heavy": ("mine_maze", "mine_jumps"),
    "exploration": ("maze", "chambers"),
}


def _simplest(d: _Draw, layout: str) -> None:
    d.flat()


def _simpler(d: _Draw, layout: str) -> None:
    d.chamber()


def _simple(d: _Draw, layout: str) -> None:
    if layout == "maze":
        d.maze((2, 3), (2, 2), cw=d.ri(1, 2), gold=(0, 1))
    elif layout == "hills":
        d.hills((8, 16), max_rise=(1, 2), mild=False, gold=(0, 1))
    elif layout == "vertical":
        d.vertical((2, 4), shaft_w=(2, 3))
    else:
        d.pits((1, 1), (1, 2), (1, 2), head=(3, 4), gold=(0, 1))


def _medium(d: _Draw, layout: str) -> None:
    if layout == "maze":
        d.maze((3, 5), (2, 3), cw=d.ri(1, 2))
    elif layout == "chambers":
        d.chambers((2, 2))
    elif layout == "pit":
        d.pits((1, 2), (2, 3), (2, 3), head=(3, 5))
    elif layout == "mine_maze":
        d.mine_maze((10, 16), (3, 5), density=d.rng.uniform(0.08, 0.18))
    elif layout == "hills":
        d.hills((12, 24), max_rise=(1, 3), mild=True)
    elif layout == "vertical":
        d.vertical((4, 8))
    elif layout == "islands":
        d.islands((3, 4), (12, 30), (6, 9))
    else:
        d.platforms((3, 5), (6, 12))


def _complex(d: _Draw, layout: str) -> None:
    if layout == "maze":
        d.maze((5, 9), (3, 5), cw=d.ri(1, 2), gold=(0, 3))
    elif layout == "chambers":
        d.chambers((2, 4), rw=(4, 10), rh=(2, 6), gold=(0, 3))
    elif layout == "pit":
        d.pits((2, 3), (2, 4), (2, 4), head=(4, 6), walls=True, gold=(0, 3))
    elif layout == "mine_maze":
        d.mine_maze((16, 30), (4, 8), density=d.rng.uniform(0.1, 0.2), blocks=(2, 5), gold=(0, 3))
    elif layout == "hills":
        d.hills((20, 38), max_rise=(2, 4), mild=True, gold=(0, 3))
    elif layout == "vertical":
        d.vertical((8, 14), gold=(0, 2))
    elif layout == "islands":
        d.islands((4, 6), (20, 40), (7, 12), gold=(0, 3))
    else:
        d.platforms((5, 7), (8, 14), gold=(0, 3))


def _mine_heavy(d: _Draw, layout: str) -> None:
    if layout == "mine_maze":
        d.mine_maze((14, 30), (3, 7), density=d.rng.uniform(0.18, 0.3), toggle_p=0.2,
                    blocks=(0, 4), min_mines=12)
    else:
        d.pits((2, 4), (2, 4), (2, 4), head=(5, 6), ceiling=True, walls=True, gold=(0, 3))


def _exploration(d: _Draw, layout: str) -> None:
    if layout == "maze":
        cw = d.ri(1, 2)
        d.maze((7, 14) if cw == 1 else (6, 10), (4, 8) if cw == 1 else (4, 6), cw=cw, far=True,
               gold=(0, 4))
    else:
        d.chambers((3, 4), rw=(4, 9), rh=(2, 5), far=True, gold=(0, 4))


_DRAW = {"simplest": _simplest, "simpler": _simpler, "simple": _simple, "medium": _medium,
         "complex": _complex, "mine_heavy": _mine_heavy, "exploration": _exploration}


def draw_level(category: str, seed: int, attempt: int = 0) -> tuple[bytes, dict]:
    """One unchecked draw: map bytes and metadata of ``(category, seed, attempt)``."""
    ci = category_index(category)
    options = LAYOUTS[category]
    layout = options[int(np.random.default_rng([ci, int(seed)]).integers(len(options)))]
    d = _Draw(np.random.default_rng([ci, int(seed), int(attempt)]))
    _DRAW[category](d, layout)
    data = d.cv.to_bytes(d.locked)
    return data, describe(d.cv.tiles, d.cv.ents, len(d.locked), layout, d.info)


def describe(tiles: np.ndarray, ents: list, n_locked: int, layout: str, info: dict) -> dict:
    open_ = tiles != 1
    xs = np.flatnonzero(open_.any(axis=1))
    ys = np.flatnonzero(open_.any(axis=0))
    n_mines = sum(1 for t, *_ in ents if t in (T_MINE, T_TOGGLE))
    n_gold = sum(1 for t, *_ in ents if t == T_GOLD)
    return dict(layout=layout, width=int(xs[-1] - xs[0] + 1), height=int(ys[-1] - ys[0] + 1),
                n_mines=n_mines, n_gold=n_gold, n_locked_doors=n_locked,
                n_entities=2 + n_locked + len(ents), **info)


def generate_level(category: str, seed: int, style: str = "classic") -> GeneratedLevel:
    """The level of ``(category, seed)``: the first draw that passes the solvability check.

    Deterministic: the same arguments give byte-identical maps on every run and machine.
    ``style`` "open" draws the independently written second style (:mod:`.styles`) instead.
    """
    from ninjarl.levels.solvability import check_solvable
    from ninjarl.sim.level import build_level

    if style != "classic":
        from .styles import check_style, generate_open_level

        check_style(style)
        return generate_open_level(category, seed)
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    for attempt in range(MAX_ATTEMPTS):
        data, meta = draw_level(category, seed, attempt)
        if check_solvable(build_level(data, name=f"{category}/{seed}")).ok:
            meta["attempts"] = attempt + 1
            return GeneratedLevel(map_bytes=data, category=category, seed=seed,
                                  tier=TIERS[category], metadata=meta,
                                  level_id=level_id(category, seed),
                                  content_hash=hashlib.sha256(data).hexdigest())
    raise RuntimeError(f"no solvable {category} level in {MAX_ATTEMPTS} draws of seed {seed}")


def level_id(category: str, seed: int) -> str:
    return f"{category}-{int(seed):012x}"
