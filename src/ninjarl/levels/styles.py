"""A second, independently drawn level style ("open") for the seven categories.

The classic style (:mod:`.generators`) carves one kind of room per category from a solid grid.
The open style draws other layout families, so that training can mix styles and a policy can be
tested on a generator family it never saw (train on one style, test on the other):

* ``nook`` (simplest): a tiny flat room 3-7 x 1-2 anywhere in the grid; spawn, switch and exit
  in any order along its floor (walk past the exit, or back past the spawn); no jump needed.
* ``hall`` (simpler): one room whose floor rolls with gentle slopes and half tiles (tiles 20/21/
  24/25, 4), walkable without jumping.
* ``hills`` (simple and up): rolling hills built from the simulator's floor tiles - 45 degree
  slopes (8/9), gentle slopes (20/21/24/25), steep slopes (28/29/32/33), convex curves (12/13),
  quarter pipes (16/17) and half tiles (4) - under a ceiling with stalactites.
* ``shaft``: vertical corridors 1-2 wide between stacked rooms that need wall jumps (two legs
  with a landing from tier 4 on).
* ``blocks``: islands of floating tile blocks; from tier 3 on over a floor of mines.
* ``stilts``: pillars rising from a floor whose gaps are mined (jump from pillar to pillar).
* ``vault``: a row of chambers separated by walls, each doorway closed by a locked door (6)
  whose switch lies in the chamber before it (a switch chain); from tier 3 on one doorway may
  hold a trap door (8) that closes behind the ninja.
* ``caves``: cellular-automaton caves.
* ``warren``: rooms scattered over the grid, joined by a tree of corridors and shafts.
* ``minefield`` (mine_heavy): hills with mines on the ground, in the air and on the ceiling.

Every level then gets *decoys* (mines, toggle mines and gold sealed inside solid rock, never
reachable) and *noise tiles* (random half tiles, slopes and curves inside solid regions and on
walls and ceilings), and, at random, corners rounded or bevelled with slopes and curves. The
spawn, switch and exit are placed on the layout's standing cells by walking distance (the
switch far from the spawn in exploration).

:func:`generate_open_level` draws attempt 0, 1, ... with ``numpy.random.default_rng([STYLE_KEY,
category index, seed, attempt])`` until :func:`~ninjarl.levels.solvability.check_solvable`
accepts the draw; a level with a trap door must pass two checks: the trap's switch is reachable
from the spawn with the door open, and the level can be finished from that switch with the
doorway blocked. ``metadata`` holds ``style`` = "open", ``style_version``, ``layout``,
``width`` / ``height`` (bounding box of the cells the layout opened), ``n_mines`` / ``n_gold``
(in the playspace),
``n_locked_doors``, ``n_trap_doors``, ``n_decoys``, ``n_noise_tiles``, ``n_entities`` (all
records but the ninja), ``attempts`` and the layout's parameters. :data:`OPEN_LIMITS` gives the
ranges each category stays inside (tested).
"""
from __future__ import annotations

import hashlib
from collections import deque

import numpy as np

from ninjarl.sim.mapfile import GRID_H, GRID_W, EntitySpec, write_map

from .common import (
    CATEGORIES,
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

STYLES: tuple[str, ...] = ("classic", "open")
#: bumped whenever the open style's output changes
OPEN_STYLE_VERSION = 1
#: first element of the open style's rng seed sequence (keeps its streams apart from classic's)
STYLE_KEY = 0x0BE4
T_TRAP = 8

# Floor tiles by the height of their surface at the left and right edge, in half cells
# (0 = empty, 1 = half, 2 = full); derived from the tile shapes in ninjarl.sim.level.
RISE_FULL = {"slope": 8, "convex": 12, "pipe": 16, "steep": 28, "steep_early": 32}
FALL_FULL = {"slope": 9, "convex": 13, "pipe": 17, "steep": 29, "steep_early": 33}
RISE_LOW, RISE_HIGH, FALL_HIGH, FALL_LOW, HALF_FLOOR = 20, 24, 25, 21, 4
#: tiles whose solid part hangs from the top (ceiling shapes) and all shapes used as noise
CEILING_TILES = (2, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31)
NOISE_TILES = tuple(range(2, 34))

#: layouts per category; the layout depends on (category, seed) only
OPEN_LAYOUTS: dict[str, tuple[str, ...]] = {
    "simplest": ("nook",),
    "simpler": ("hall", "hall", "vault"),
    "simple": ("hills", "shaft", "blocks", "stilts"),
    "medium": ("hills", "shaft", "blocks", "stilts", "vault", "caves"),
    "complex": ("hills", "shaft", "blocks", "stilts", "vault", "caves", "warren"),
    "mine_heavy": ("minefield", "stilts", "blocks"),
    "exploration": ("warren", "warren", "caves"),
}

#: per category: (min, max) of width, height, mines, gold, locked doors, entities (decoys
#: included), decoys
OPEN_LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    "simplest": dict(width=(3, 7), height=(1, 2), mines=(0, 0), gold=(0, 0), locked=(0, 0),
                     entities=(2, 2), decoys=(0, 0)),
    "simpler": dict(width=(5, 22), height=(2, 6), mines=(0, 0), gold=(0, 2), locked=(0, 1),
                    entities=(2, 12), decoys=(0, 6)),
    "simple": dict(width=(3, 26), height=(3, 14), mines=(0, 4), gold=(0, 2), locked=(0, 0),
                   entities=(2, 20), decoys=(0, 10)),
    "medium": dict(width=(3, 42), height=(3, 23), mines=(0, 30), gold=(0, 3), locked=(0, 3),
                   entities=(2, 50), decoys=(0, 14)),
    "complex": dict(width=(3, 42), height=(3, 23), mines=(0, 40), gold=(0, 4), locked=(0, 3),
                    entities=(2, 70), decoys=(0, 18)),
    "mine_heavy": dict(width=(18, 42), height=(4, 23), mines=(12, 60), gold=(0, 3),
                       locked=(0, 0), entities=(14, 85), decoys=(0, 18)),
    "exploration": dict(width=(18, 42), height=(6, 23), mines=(0, 0), gold=(0, 4),
                        locked=(0, 0), entities=(2, 30), decoys=(0, 22)),
}


class Redraw(Exception):
    """The draw cannot be completed (no room for the goals): try the next attempt."""


class _Sketch:
    """A level being drawn in the open style: tiles, the playspace and the entities."""

    def __init__(self, rng: np.random.Generator, tier: int):
        self.rng, self.tier = rng, tier
        self.tiles = np.ones((GRID_W, GRID_H), np.uint8)
        self.space = np.zeros((GRID_W, GRID_H), bool)     # cells the layout opened
        self.spawn = self.switch = self.exit = None
        self.live: list = []          # (type, x, y): mines and gold in the playspace
        self.decoys: list = []        # (type, x, y) sealed in rock
        self.locked: list = []        # ((door x, y), (switch x, y))
        self.trap = None              # ((door x, y), (switch x, y)) or None
        self.taken: set = set()       # cells holding an entity
        self.keep: set = set()        # cells the finishing passes must leave as they are
        self.info: dict = {}
        self.noise = 0
        self.heavy = False            # mine_heavy: the layouts add more mines

    # ---- random helpers ----
    def ri(self, a: int, b: int) -> int:
        return int(self.rng.integers(a, b + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, seq):
        if not seq:
            raise Redraw
        return seq[int(self.rng.integers(len(seq)))]

    def shuffled(self, seq) -> list:
        return [seq[int(i)] for i in self.rng.permutation(len(seq))]

    # ---- drawing ----
    def open(self, x: int, y: int, w: int, h: int) -> None:
        xa, xb, ya, yb = max(x, 0), min(x + w, GRID_W), max(y, 0), min(y + h, GRID_H)
        if xa < xb and ya < yb:
            self.tiles[xa:xb, ya:yb] = 0
            self.space[xa:xb, ya:yb] = True

    def fill(self, x: int, y: int, w: int = 1, h: int = 1, tile: int = 1) -> None:
        xa, xb, ya, yb = max(x, 0), min(x + w, GRID_W), max(y, 0), min(y + h, GRID_H)
        if xa < xb and ya < yb:
            self.tiles[xa:xb, ya:yb] = tile

    def rock(self, x: int, y: int) -> bool:
        return not (0 <= x < GRID_W and 0 <= y < GRID_H) or self.tiles[x, y] == 1

    def empty(self, x: int, y: int) -> bool:
        return 0 <= x < GRID_W and 0 <= y < GRID_H and self.tiles[x, y] == 0

    def stand_cells(self, x0=0, x1=GRID_W - 1, y0=0, y1=GRID_H - 1) -> list:
        """Empty playspace cells in the box standing on a full tile and holding no entity."""
        return [(x, y) for x in range(max(x0, 0), min(x1, GRID_W - 1) + 1)
                for y in range(max(y0, 0), min(y1, GRID_H - 1) + 1)
                if self.empty(x, y) and self.space[x, y] and self.rock(x, y + 1)
                and (x, y) not in self.taken]

    def occupy(self, x: int, y: int) -> None:
        self.taken.add((x, y))
        self.keep.update((x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1, 2))

    def put(self, t: int, x: int, y: int) -> None:
        self.live.append((t, x, y))
        self.occupy(x, y)

    def walk_dist(self, start) -> dict:
        """4-neighbour steps over non-full cells from ``start`` (a rough walking distance)."""
        dist = {start: 0}
        q = deque([start])
        while q:
            x, y = q.popleft()
            for n in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if n not in dist and not self.rock(*n):
                    dist[n] = dist[(x, y)] + 1
                    q.append(n)
        return dist

    def goals(self, cells: list, far: float = 0.0, spawn=None, switch_from=None,
              exit_from=None) -> None:
        """Spawn, switch and exit on distinct cells: the switch among ``switch_from`` (default:
        ``cells``), from the farthest ``far`` fraction by walking distance when far > 0."""
        cells = [c for c in dict.fromkeys(cells) if c not in self.taken]
        spawn = spawn or self.pick(cells)
        dist = self.walk_dist(spawn)
        sw = [c for c in (switch_from or cells) if c != spawn and c in dist
              and c not in self.taken]
        if not sw:
            raise Redraw
        if far > 0:
            sw.sort(key=lambda c: (dist[c], c))
            sw = sw[int(len(sw) * (1 - far)):] or sw[-1:]
        switch = self.pick(sw)
        ex = [c for c in (exit_from or cells) if c not in (spawn, switch) and c in dist
              and c not in self.taken]
        exit_ = self.pick(ex)
        self.spawn, self.switch, self.exit = spawn, switch, exit_
        for c in (spawn, switch, exit_):
            self.occupy(*c)

    def gold(self, cells: list, n: int) -> None:
        for c in self.shuffled([c for c in cells if c not in self.taken])[:n]:
            self.put(T_GOLD, *c)

    # ---- terrain ----
    def profile(self, w: int, top: int, gentle: bool) -> list:
        """Surface heights (half cells, 0..top) at the w + 1 column edges of a floor whose first
        and last columns are flat whole cells: a walk that keeps climbing or descending for a
        while (hills, not noise), by half cells (gentle) or by up to one cell per column."""
        h = [2 * self.ri(0, top // 2)] * 2
        trend = self.pick([1, -1])
        while len(h) < w:
            cur = h[-1]
            if len(h) == w - 1 and cur % 2:
                step = self.pick([d for d in (1, -1) if 0 <= cur + d <= top])
            else:
                r = self.rng.random()
                if r < 0.12 or not 0 <= cur + trend <= top:
                    trend = -trend
                if r < 0.3:
                    step = 0
                else:
                    big = not gentle and cur % 2 == 0 and self.chance(0.5)
                    step = trend * (2 if big and 0 <= cur + 2 * trend <= top else 1)
                    if not 0 <= cur + step <= top:
                        step = 0
            h.append(cur + step)
        return h + [h[-1]]

    def terrain(self, x0: int, yb: int, heights: list, kinds=("slope",)) -> list:
        """Raise the floor of columns x0.. (bottom free row yb) to ``heights`` (half cells at
        the column edges); return the columns' standing cells (flat, whole-cell surfaces)."""
        stands = []
        for c in range(len(heights) - 1):
            x, a, b = x0 + c, heights[c], heights[c + 1]
            lo = min(a, b)
            full = lo // 2
            self.fill(x, yb - full + 1, 1, full)
            row = yb - full
            if a == b:
                if a % 2:
                    self.tiles[x, row] = HALF_FLOOR
                else:
                    stands.append((x, row))
            elif abs(a - b) == 1:
                up = b > a
                if lo % 2 == 0:
                    self.tiles[x, row] = RISE_LOW if up else FALL_LOW
                else:
                    self.tiles[x, row] = RISE_HIGH if up else FALL_HIGH
            else:
                kind = self.pick(list(kinds))
                self.tiles[x, row] = RISE_FULL[kind] if b > a else FALL_FULL[kind]
        return stands

    # ---- finishing passes ----
    def shape_corners(self, p: float) -> None:
        """Round or bevel inner corners of the playspace with slopes and curves."""
        for x in range(GRID_W):
            for y in range(GRID_H):
                if self.tiles[x, y] != 1 or (x, y) in self.keep or not self.chance(p):
                    continue
                for side in (-1, 1):
                    if not (self.empty(x - side, y) and self.space[x - side, y]
                            and self.rock(x + side, y)):
                        continue
                    if self.empty(x, y - 1) and self.space[x, y - 1] and self.rock(x, y + 1):
                        # a floor corner: free above and towards -side
                        table = RISE_FULL if side == 1 else FALL_FULL
                        self.tiles[x, y] = table[self.pick(["slope", "convex", "pipe"])]
                        break
                    if self.empty(x, y + 1) and self.space[x, y + 1] and self.rock(x, y - 1):
                        ceil = (6, 10, 14) if side == -1 else (7, 11, 15)
                        self.tiles[x, y] = self.pick(list(ceil))
                        break

    def sealed_mask(self, r: int) -> np.ndarray:
        """Cells whose (2r + 1)-square neighbourhood is all full tiles (outside counts as rock)."""
        rock = np.pad(self.tiles == 1, r, constant_values=True)
        out = np.ones((GRID_W, GRID_H), bool)
        for dx in range(2 * r + 1):
            for dy in range(2 * r + 1):
                out &= rock[dx:dx + GRID_W, dy:dy + GRID_H]
        return out

    def keep_mask(self) -> np.ndarray:
        mask = np.zeros((GRID_W, GRID_H), bool)
        for x, y in self.keep:
            if 0 <= x < GRID_W and 0 <= y < GRID_H:
                mask[x, y] = True
        return mask

    def add_decoys(self, n: int) -> None:
        """Mines, toggle mines and gold inside solid rock, two cells from any opening."""
        cells = [(int(x), int(y)) for x, y in np.argwhere(self.sealed_mask(2))]
        for x, y in self.shuffled(cells)[:n]:
            self.decoys.append((self.pick([T_MINE, T_MINE, T_TOGGLE, T_GOLD]), x, y))
            self.keep.update((x + dx, y + dy) for dx in range(-2, 3) for dy in range(-2, 3))

    def add_noise(self, inner: float, wall: float) -> None:
        """Random shapes on the walls and ceilings of the playspace (floors stay as drawn) and,
        never two side by side, inside solid regions."""
        open_ = np.pad((self.tiles == 0) & self.space, 1)
        above, below = open_[1:-1, :-2], open_[1:-1, 2:]
        side = open_[:-2, 1:-1] | open_[2:, 1:-1]
        cand = (self.tiles == 1) & ~self.keep_mask() & ~above
        draw = self.rng.random((GRID_W, GRID_H))
        walls = cand & (below | side) & (draw < wall)
        inner_cells = cand & ~(below | side) & self.sealed_mask(1) & (draw < inner)
        for x, y in np.argwhere(walls):
            self.tiles[x, y] = self.pick(CEILING_TILES if below[x, y] else NOISE_TILES)
        placed = np.zeros((GRID_W + 2, GRID_H + 2), bool)
        for x, y in np.argwhere(inner_cells):
            if not placed[x:x + 3, y:y + 3].any():
                self.tiles[x, y] = self.pick(NOISE_TILES)
                placed[x + 1, y + 1] = True
        self.noise += int(walls.sum() + placed.sum())

    def to_bytes(self, trap_as: str = "door") -> bytes:
        ents = [EntitySpec(T_EXIT, cell_px(self.exit[0]), cell_px(self.exit[1]), 0, 0),
                EntitySpec(T_SWITCH, cell_px(self.switch[0]), cell_px(self.switch[1]), 0, 0)]
        for (dx, dy), (sx, sy) in self.locked:
            ents.append(EntitySpec(T_LOCKED, cell_px(dx), cell_px(dy), 0, 0,
                                   cell_px(sx), cell_px(sy)))
        if self.trap is not None and trap_as == "door":
            (dx, dy), (sx, sy) = self.trap
            ents.append(EntitySpec(T_TRAP, cell_px(dx), cell_px(dy), 0, 0,
                                   cell_px(sx), cell_px(sy)))
        for t, x, y in self.live + self.decoys:
            ents.append(EntitySpec(t, cell_px(x), cell_px(y), 0, 0))
        return write_map(self.tiles, cell_px(self.spawn[0]), cell_px(self.spawn[1]), ents)


# ---- layouts ---------------------------------------------------------------------------------

def _place(s: _Sketch, w: int, h: int) -> tuple[int, int]:
    """A random top-left corner for a w x h box anywhere in the grid."""
    w, h = min(w, GRID_W), min(h, GRID_H)
    return s.ri(0, GRID_W - w), s.ri(0, GRID_H - h)


def _nook(s: _Sketch) -> None:
    w, h = s.ri(3, 7), s.ri(1, 2)
    x0, y0 = _place(s, w, h)
    s.open(x0, y0, w, h)
    row = [(x, y0 + h - 1) for x in range(x0, x0 + w)]
    spawn, switch, exit_ = s.shuffled(row)[:3]
    s.spawn, s.switch, s.exit = spawn, switch, exit_
    for c in (spawn, switch, exit_):
        s.occupy(*c)
    s.info.update(room=[w, h])


def _hall(s: _Sketch) -> None:
    w, air = s.ri(6, 20), s.ri(2, 3)
    top = s.ri(2, 4)
    h = air + 1
    x0, y0 = _place(s, w + 2, h)
    x0 += 1
    s.open(x0, y0, w, h)
    stands = s.terrain(x0, y0 + h - 1, s.profile(w, top, gentle=True))
    s.goals(stands)
    s.gold(stands, s.ri(0, 2))
    s.info.update(room=[w, h], rise=top)


def _hills(s: _Sketch, minefield: bool = False) -> None:
    t = s.tier
    w = s.ri(18 if minefield else 8 + 2 * t, min(40, 14 + 6 * t))
    top = s.ri(4, min(12, 2 + 2 * t))
    air = s.ri(3, 5)
    h = (top + 1) // 2 + 1 + air
    x0, y0 = _place(s, w, h)
    s.open(x0, y0, w, h)
    kinds = ["slope", "slope", "convex", "pipe"] + (["steep", "steep_early"] if t >= 3 else [])
    heights = s.profile(w, top, gentle=False)
    stands = s.terrain(x0, y0 + h - 1, heights, kinds)
    for _ in range(s.ri(0, t)):             # stalactites from the ceiling
        s.fill(s.ri(x0 + 1, x0 + w - 2), y0, 1, s.ri(1, 2))
    stands = [c for c in stands if s.empty(*c)]
    s.goals(stands, far=0.4 if t >= 3 else 0.0)
    if minefield:
        _scatter_mines(s, x0, y0, w, h, stands)
    s.gold([(x, y - 1) for x, y in stands if s.empty(x, y - 1)], s.ri(0, min(3, t)))
    s.info.update(room=[w, h], rise=top, kinds=sorted(set(kinds)))


def _scatter_mines(s: _Sketch, x0: int, y0: int, w: int, h: int, stands: list) -> None:
    """mine_heavy hills: isolated ground mines, mines in the air and hanging from the ceiling."""
    ground = [c for c in stands if c not in s.keep]
    used_x: set = set()
    for x, y in s.shuffled(ground):
        if used_x & {x - 2, x - 1, x, x + 1, x + 2}:
            continue                    # a single ground mine can be jumped, a run cannot
        s.put(T_TOGGLE if s.chance(0.2) else T_MINE, x, y)
        used_x.add(x)
    air = [(x, y) for x in range(x0, x0 + w) for y in range(y0, y0 + h)
           if s.empty(x, y) and (x, y) not in s.keep and not s.rock(x, y + 1)]
    for x, y in s.shuffled(air)[:s.ri(6, max(6, len(air) // 4))]:
        if (x, y) not in s.keep:
            s.put(T_MINE, x, y)


def _shaft(s: _Sketch) -> None:
    t = s.tier
    legs = 2 if t >= 4 and s.chance(0.6) else 1
    rooms = []
    heights = [s.ri(2, 3) for _ in range(legs + 1)]
    shafts = [s.ri(3, min(10, 2 + 2 * t)) for _ in range(legs)]
    total = sum(heights) + sum(shafts)
    if total > GRID_H:
        raise Redraw
    y = s.ri(0, GRID_H - total) + total          # bottom edge, drawn upwards
    x = s.ri(3, GRID_W - 6)
    widths = []
    for k in range(legs + 1):
        rw = s.ri(3, 9)
        rx = min(max(x - s.ri(0, rw - 1), 0), GRID_W - rw)
        rh = heights[k]
        s.open(rx, y - rh, rw, rh)
        rooms.append((rx, y - rh, rw, rh))
        y -= rh
        if k < legs:
            sw = s.pick([1, 2, 2]) if t <= 2 else s.ri(1, 2)
            sx = min(max(s.ri(rx, rx + rw - sw), 0), GRID_W - sw)
            sh = shafts[k]
            s.open(sx, y - sh, sw, sh)
            if sw == 2 and t >= 3:               # ledges that narrow a wide shaft
                for ly in range(y - sh + 1, y - 1, 3):
                    if s.chance(0.5):
                        s.fill(sx + s.ri(0, 1), ly)
            widths.append(sw)
            y -= sh
            x = sx
    floors = [s.stand_cells(rx, rx + rw - 1, ry + rh - 1, ry + rh - 1) for rx, ry, rw, rh in rooms]
    if sum(len(f) > 0 for f in floors) < 2:
        raise Redraw
    ends = [floors[0], floors[-1]]
    if s.chance(0.5):
        ends.reverse()
    s.goals([c for f in floors for c in f], spawn=s.pick(ends[0]), switch_from=ends[1])
    s.gold([c for f in floors for c in f], s.ri(0, 1 + t // 3))
    s.info.update(legs=legs, shaft_heights=shafts, shaft_widths=widths)


def _blocks(s: _Sketch, mined: bool | None = None) -> None:
    t = s.tier
    w = s.ri(16 if s.heavy else 10, min(40, 14 + 5 * t))
    h = s.ri(6, min(20, 7 + 2 * t))
    x0, y0 = _place(s, w, h)
    s.open(x0, y0, w, h)
    fy = y0 + h - 1
    if mined is None:
        mined = t >= 3 and s.chance(0.6)
    x = x0 + s.ri(0, 2)
    row = fy - s.ri(2, max(2, min(4, h - 3)))
    tops = []
    while x < x0 + w - 1:
        bw, th = s.ri(1, 3), s.ri(1, 2)
        bw = min(bw, x0 + w - x)
        s.fill(x, row, bw, th)
        tops.append([(xx, row - 1) for xx in range(x, x + bw)])
        x += bw + s.ri(1, 2 if t <= 2 else 3)
        row = min(max(row + s.ri(-2, 2), y0 + 2), fy - 2)
    for _ in range(s.ri(0, t)):                 # loose blocks off the chain
        s.fill(s.ri(x0, x0 + w - 2), s.ri(y0 + 2, fy - 2), s.ri(1, 2), 1)
    tops = [[c for c in top if s.empty(*c) and s.rock(c[0], c[1] + 1)] for top in tops]
    tops = [top for top in tops if top]
    if len(tops) < 2:
        raise Redraw
    floor = [(xx, fy) for xx in range(x0, x0 + w) if s.empty(xx, fy)]
    ends = [tops[0], tops[-1]]
    if s.chance(0.5):
        ends.reverse()
    block_cells = [c for top in tops for c in top]
    s.goals(block_cells + ([] if mined else floor), spawn=s.pick(ends[0]),
            switch_from=ends[1] + (block_cells if t <= 2 else []))
    if mined:
        for c in floor:
            if c not in s.taken:
                s.put(T_MINE, *c)
    if s.heavy:                                  # mines hanging from the ceiling
        for x, y in s.shuffled([(x, y0) for x in range(x0, x0 + w)])[:s.ri(3, w // 3)]:
            if s.empty(x, y) and (x, y) not in s.keep:
                s.put(T_TOGGLE if s.chance(0.3) else T_MINE, x, y)
    s.gold(block_cells, s.ri(0, min(3, t)))
    s.info.update(room=[w, h], blocks=len(tops), mined_floor=mined)


def _stilts(s: _Sketch, heavy: bool = False) -> None:
    t = s.tier
    w = s.ri(10, min(40, 14 + 5 * t))
    h = s.ri(5, 7) + (1 if heavy else 0)
    x0, y0 = _place(s, w, h)
    s.open(x0, y0, w, h)
    fy = y0 + h - 1
    x = x0
    tops, gaps = [], []
    while x < x0 + w:
        pw, ph = s.ri(1, 3), s.ri(1, min(3, h - 3))
        pw = min(pw, x0 + w - x)
        s.fill(x, fy - ph + 1, pw, ph)
        tops.append([(xx, fy - ph) for xx in range(x, x + pw)])
        x += pw
        gw = min(s.ri(1, 2 if t <= 2 else 3), x0 + w - x)
        if gw > 0 and x + gw < x0 + w:
            gaps.append((x, gw))
            x += gw
    if len(tops) < 2 or not gaps:
        raise Redraw
    first, last = tops[0], tops[-1]
    if s.chance(0.5):
        first, last = last, first
    cells = [c for top in tops for c in top]
    s.goals(cells, spawn=s.pick(first), switch_from=last if t >= 3 or heavy else None)
    budget = 4 if t <= 2 else 90
    mines = []
    for gx, gw in gaps:
        mines += [(xx, fy) for xx in range(gx, gx + gw)]
        if heavy:
            mines += [(xx, y0) for xx in range(gx, gx + gw)]          # a mined ceiling
            if gw >= 2 and s.chance(0.5):                              # and a pillar's side
                mines.append((gx if s.chance(0.5) else gx + gw - 1, fy - 1))
    for c in mines[:budget] if t <= 2 else mines:
        if c not in s.taken:
            s.put(T_TOGGLE if heavy and s.chance(0.2) else T_MINE, *c)
    s.gold(cells, s.ri(0, min(3, t)))
    s.info.update(room=[w, h], pillars=len(tops), gaps=[g for _, g in gaps])


def _vault(s: _Sketch) -> None:
    t = s.tier
    n = 2 if t <= 2 else s.ri(2, 3 if t == 3 else 4)
    widths = [s.ri(4, 9 if t >= 3 else 7) for _ in range(n)]
    while sum(widths) + n - 1 > GRID_W:
        widths = [max(4, w - 1) for w in widths]
    heights = [s.ri(2, 3 + min(t, 3)) for _ in range(n)]
    total_w, total_h = sum(widths) + n - 1, max(heights)
    x0, y0 = _place(s, total_w, total_h)
    fy = y0 + total_h - 1
    rooms, x = [], x0
    for k, (w, h) in enumerate(zip(widths, heights)):
        s.open(x, fy - h + 1, w, h)
        rooms.append((x, w, h))
        x += w
        if k < n - 1:
            s.open(x, fy, 1, 1)                  # the doorway
            x += 1
    if t >= 3:                                   # a ledge to climb in some chambers
        for rx, w, h in rooms:
            if h >= 4 and s.chance(0.5):
                s.fill(s.ri(rx + 1, rx + w - 3), fy - 2, 2, 1)
    order = list(range(n)) if s.chance(0.5) else list(range(n))[::-1]
    walls = [rooms[k][0] + rooms[k][1] for k in range(n - 1)]   # doorway x between k, k+1
    trap_wall = s.ri(0, n - 2) if t >= 3 and s.chance(0.4) else None
    cells = {k: s.stand_cells(rx, rx + w - 1, fy - h + 1, fy) for k, (rx, w, h) in
             enumerate(rooms)}
    for c in [(wx, fy) for wx in walls]:
        s.occupy(*c)
    step = 1 if order[0] == 0 else -1
    # walls in the order the ninja meets them, each with the chamber before and after it
    passages = [(walls[min(a, b)], a, b) for a, b in zip(order, order[1:])]
    for i, (wx, before, after) in enumerate(passages):
        if trap_wall is not None and i == trap_wall:
            sx = wx + 2 * step
            if (sx, fy) not in cells[after] or (sx, fy) in s.taken:
                raise Redraw
            s.trap = ((wx, fy), (sx, fy))
            s.occupy(sx, fy)
        else:
            sw = s.pick([c for c in cells[before] if c not in s.taken and abs(c[0] - wx) > 1])
            s.locked.append(((wx, fy), sw))
            s.occupy(*sw)
    last = order[-1]
    after_trap = order[trap_wall + 1:] if trap_wall is not None else order
    s.goals([c for k in order for c in cells[k]],
            spawn=s.pick([c for c in cells[order[0]] if c not in s.taken]),
            switch_from=cells[last],
            exit_from=[c for k in after_trap for c in cells[k]])
    s.gold([c for k in order for c in cells[k]], s.ri(0, min(2, t)))
    s.info.update(chambers=n, trap_door=trap_wall is not None)


def _caves(s: _Sketch, far: float = 0.3) -> None:
    t = s.tier
    w = s.ri(14, 40 if t >= 4 else 26)
    h = s.ri(8, 21 if t >= 4 else 14)
    x0, y0 = _place(s, w, h)
    cave = s.rng.random((w, h)) < 0.56          # True = open
    for _ in range(4):
        padded = np.pad(cave, 1, constant_values=False)
        n = sum(np.roll(np.roll(padded, dx, 0), dy, 1)[1:-1, 1:-1]
                for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy)
        cave = np.where(cave, n >= 4, n >= 5)
    cave[[0, -1], :] = False
    cave[:, [0, -1]] = False
    # keep the largest 4-connected region
    best: set = set()
    seen = np.zeros_like(cave)
    for i, j in zip(*np.nonzero(cave)):
        if seen[i, j]:
            continue
        region, q = [], deque([(int(i), int(j))])
        seen[i, j] = True
        while q:
            a, b = q.popleft()
            region.append((a, b))
            for c, d in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                if 0 <= c < w and 0 <= d < h and cave[c, d] and not seen[c, d]:
                    seen[c, d] = True
                    q.append((c, d))
        if len(region) > len(best):
            best = set(region)
    if len(best) < 20:
        raise Redraw
    for a, b in best:
        s.open(x0 + a, y0 + b, 1, 1)
    s.goals(s.stand_cells(x0, x0 + w - 1, y0, y0 + h - 1), far=far)
    s.gold(s.stand_cells(x0, x0 + w - 1, y0, y0 + h - 1), s.ri(0, min(4, t)))
    s.info.update(region=[w, h], open_cells=len(best))


def _warren(s: _Sketch, far: float = 0.25) -> None:
    t = s.tier
    cols, rows = s.ri(3, 4), s.ri(2, 3)
    cw, ch = GRID_W // cols, GRID_H // rows
    rooms = {}
    for i in range(cols):
        for j in range(rows):
            if s.chance(0.8):
                w, h = s.ri(3, cw - 3), s.ri(2, min(5, ch - 3))
                rooms[(i, j)] = (i * cw + s.ri(1, cw - w - 1), j * ch + s.ri(1, ch - h - 1), w, h)
    if len(rooms) < 3:
        raise Redraw
    for x, y, w, h in rooms.values():
        s.open(x, y, w, h)
    # a random spanning tree over the rooms (Prim's, nearest slot first)
    slots = list(rooms)
    tree = {s.pick(slots)}
    links = []
    while len(tree) < len(slots):
        pairs = [(abs(a[0] - b[0]) + abs(a[1] - b[1]), a, b) for a in tree for b in slots
                 if b not in tree]
        d0 = min(p[0] for p in pairs)
        _, a, b = s.pick([p for p in pairs if p[0] == d0])
        tree.add(b)
        links.append((a, b))
    for a, b in links:
        ax, ay, aw, ah = rooms[a]
        bx, by, bw, bh = rooms[b]
        if ay + ah < by + bh or (ay + ah == by + bh and ax > bx):
            (ax, ay, aw, ah), (bx, by, bw, bh) = (bx, by, bw, bh), (ax, ay, aw, ah)
        # a: the room with the lower floor; corridor along a's floor, shaft up to b's floor
        fy_a, fy_b = ay + ah - 1, by + bh - 1
        px = s.ri(bx, bx + bw - 1)
        sw = s.ri(1, 2)
        px = min(px, GRID_W - sw)
        lo, hi = min(ax + aw // 2, px), max(ax + aw // 2, px + sw - 1)
        tall = s.ri(1, 2)
        s.open(lo, fy_a - tall + 1, hi - lo + 1, tall)
        s.open(px, fy_b, sw, fy_a - fy_b + 1)
    cells = [c for x, y, w, h in rooms.values() for c in s.stand_cells(x, x + w - 1, y, y + h - 1)]
    s.goals(cells, far=far)
    s.gold(cells, s.ri(0, min(4, t)))
    s.info.update(rooms=len(rooms), links=len(links))


def _draw_layout(s: _Sketch, category: str, layout: str) -> None:
    if layout == "nook":
        _nook(s)
    elif layout == "hall":
        _hall(s)
    elif layout == "hills":
        _hills(s)
    elif layout == "minefield":
        _hills(s, minefield=True)
    elif layout == "shaft":
        _shaft(s)
    elif layout == "blocks":
        _blocks(s, mined=True if s.heavy else None)
    elif layout == "stilts":
        _stilts(s, heavy=s.heavy)
    elif layout == "vault":
        _vault(s)
    elif layout == "caves":
        _caves(s, far=0.2 if category == "exploration" else 0.0)
    else:
        _warren(s, far=0.2 if category == "exploration" else 0.0)


def _finish(s: _Sketch, category: str) -> None:
    """Decoys, noise and shaped corners; none in the simplest category's walls."""
    t = s.tier
    if t == 0:
        return
    if s.chance(0.6):
        s.add_decoys(s.ri(1, OPEN_LIMITS[category]["decoys"][1]))
    s.shape_corners(0.1 + 0.05 * t)
    s.add_noise(inner=s.rng.uniform(0.0, 0.15), wall=s.rng.uniform(0.0, 0.04 * t))


def open_layout(category: str, seed: int) -> str:
    """The layout of ``(category, seed)`` (the same for every attempt, so rejected draws do not
    skew the mix of layouts)."""
    options = OPEN_LAYOUTS[category]
    rng = np.random.default_rng([STYLE_KEY, category_index(category), int(seed)])
    return options[int(rng.integers(len(options)))]


def draw_open_level(category: str, seed: int, attempt: int = 0) -> tuple[_Sketch, str]:
    """One unchecked open-style draw of ``(category, seed, attempt)``: the sketch and layout."""
    ci = category_index(category)
    layout = open_layout(category, seed)
    s = _Sketch(np.random.default_rng([STYLE_KEY, ci, int(seed), int(attempt)]), TIERS[category])
    s.heavy = category == "mine_heavy"
    _draw_layout(s, category, layout)
    lim = OPEN_LIMITS[category]
    width, height = _extent(s)
    if (sum(1 for t, *_ in s.live if t in (T_MINE, T_TOGGLE)) < lim["mines"][0]
            or width < lim["width"][0] or height < lim["height"][0]):
        raise Redraw                # too few mines for mine_heavy, too small for exploration
    _finish(s, category)
    return s, layout


def _extent(s: _Sketch) -> tuple[int, int]:
    """Width and height of the bounding box of the cells the layout opened."""
    xs = np.flatnonzero(s.space.any(axis=1))
    ys = np.flatnonzero(s.space.any(axis=0))
    return int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)


def _describe(s: _Sketch, layout: str) -> dict:
    width, height = _extent(s)
    return dict(style="open", style_version=OPEN_STYLE_VERSION, layout=layout,
                width=width, height=height,
                n_mines=sum(1 for t, *_ in s.live if t in (T_MINE, T_TOGGLE)),
                n_gold=sum(1 for t, *_ in s.live if t == T_GOLD),
                n_locked_doors=len(s.locked), n_trap_doors=int(s.trap is not None),
                n_decoys=len(s.decoys), n_noise_tiles=s.noise,
                n_entities=2 + len(s.locked) + (s.trap is not None) + len(s.live)
                + len(s.decoys), **s.info)


def _solvable(s: _Sketch, data: bytes) -> bool:
    from ninjarl.levels.solvability import check_solvable
    from ninjarl.sim.level import build_level

    if s.trap is None:
        return check_solvable(build_level(data, name="open")).ok
    # The trap door closes for good once its switch is touched: the switch must be reachable
    # from the spawn (door open), and the level finishable from there with the doorway shut.
    (dx, dy), trap_switch = s.trap
    spawn, switch, exit_, tiles = s.spawn, s.switch, s.exit, s.tiles.copy()
    try:
        s.switch = s.exit = trap_switch
        if not check_solvable(s.to_bytes(trap_as="none")).ok:
            return False
        s.switch, s.exit, s.spawn = switch, exit_, trap_switch
        s.tiles[dx, dy] = 1
        return check_solvable(s.to_bytes(trap_as="none")).ok
    finally:
        s.spawn, s.switch, s.exit, s.tiles = spawn, switch, exit_, tiles


def generate_open_level(category: str, seed: int) -> GeneratedLevel:
    """The open-style level of ``(category, seed)``: the first draw that passes the check."""
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    category_index(category)
    for attempt in range(MAX_ATTEMPTS):
        try:
            s, layout = draw_open_level(category, seed, attempt)
        except Redraw:
            continue
        data = s.to_bytes()
        if _solvable(s, data):
            meta = _describe(s, layout)
            meta["attempts"] = attempt + 1
            return GeneratedLevel(map_bytes=data, category=category, seed=seed,
                                  tier=TIERS[category], metadata=meta,
                                  level_id=f"{category}-open-{seed:012x}",
                                  content_hash=hashlib.sha256(data).hexdigest(), style="open")
    raise RuntimeError(f"no solvable open {category} level in {MAX_ATTEMPTS} draws of seed {seed}")


def check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown level style {style!r}; expected one of {', '.join(STYLES)}")
    return style


__all__ = ["CATEGORIES", "OPEN_LAYOUTS", "OPEN_LIMITS", "OPEN_STYLE_VERSION", "STYLES",
           "check_style", "draw_open_level", "generate_open_level", "open_layout"]
