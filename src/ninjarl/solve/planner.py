"""A planner that finds a winning input sequence for a level by searching the simulator itself.

Search
------
Best-first search over **macro-actions**: one of the 6 actions held for ``macro_frames``
frames. Each iteration pops the ``batch`` most promising nodes, loads their saved simulator
states into the rows of one :class:`~ninjarl.sim.BatchSimulator` (6 rows per node), runs every
row through its macro in one compiled call, and saves the children:

* a child that died is a dead end (entity-aware pruning: mines, drones, thwumps, impacts all
  kill in the simulator, so nothing else needs modelling);
* a child whose quantised state was seen before is dropped (de-duplication): position in
  ``position_quantum`` px, velocity in ``velocity_quantum`` px/frame, movement state, the jump
  input of the last frame (it decides whether a new jump can start), and a hash of every
  entity's active flag and state (switches, doors, toggled mines);
* the others are scored ``f = h + frame_weight * frames``, where ``h`` is the path distance
  from :mod:`ninjarl.nav` to the current objective (the exit switch, plus the switch-to-door
  distance; after the switch, the door). Sub-cells the navigation graph cannot reach get the
  distance of their nearest reachable neighbour plus the straight line to it, so a ninja in
  mid-air is never scored as hopeless.

The search starts at the spawn, or where a given ``prefix`` of inputs leaves the ninja
(:func:`solve_level`: to take over from another policy). The first child that wins ends the
search. Its plan (the prefix, then the macros from the root, expanded to
one input byte per frame and cut at the winning frame) counts only if replaying it from the
level's start in a fresh simulator wins. The cost of a search is simulator frames (every row
of every macro counts), bounded by ``budget_frames``. Ties in ``f`` are broken by creation
order, so the same level and budget always give the same plan.

States are stored in a pool of preallocated arrays (one row per node), so saving and
restoring is a copy of array rows; the door-dependent grid edges, 18 KB per state, are stored
once per distinct value, and not at all in levels without doors.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np

from ..nav import analyze_level
from ..nav._kernels import NX, NY, SUB, sub_cells
from ..sim import BatchSimulator, LevelSource, load_level, simulate_inputs
from ..sim.constants import (
    GRAVITY_JUMP,
    ST_CELEBRATING,
    ST_DEAD,
    ST_DYING,
    T_EXIT_DOOR,
    T_EXIT_SWITCH,
    T_LOCKED_DOOR,
    T_REGULAR_DOOR,
    T_TRAP_DOOR,
)
from ..sim.layout import (
    E_ACTIVE,
    E_STATE,
    E_X,
    E_Y,
    ES_TYPE,
    FLOOR_BUFFER,
    GRAVITY,
    JUMP_BUFFER,
    JUMP_INPUT_OLD,
    STATE,
    VX,
    VY,
    WALL_BUFFER,
    X,
    Y,
)
from ..sim.replay import ACTION_TO_INPUT_BYTE

N_ACTIONS = len(ACTION_TO_INPUT_BYTE)
UNREACHABLE_PENALTY = 600.0     # px added where the navigation graph has no path at all


@dataclass(frozen=True)
class PlannerConfig:
    """Search settings (see the module docstring)."""
    budget_frames: int = 3_000_000
    #: an action is held for each of these frame counts (one simulator run: the shorter
    #: macros are snapshots on the way to the longest)
    macro_frames: tuple[int, ...] = (5,)
    batch: int = 32
    frame_weight: float = 0.1
    position_quantum: float = 3.0
    velocity_quantum: float = 0.5
    max_nodes: int = 200_000

    def __post_init__(self):
        object.__setattr__(self, "macro_frames", tuple(sorted(set(self.macro_frames))))
        if not self.macro_frames or self.macro_frames[0] < 1:
            raise ValueError(f"PlannerConfig.macro_frames must be >= 1, got {self.macro_frames}")
        for name in ("budget_frames", "batch", "max_nodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"PlannerConfig.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class SolveResult:
    """The outcome of one search. ``inputs`` (uint8 input bytes, one per frame) is set only
    when ``solved``, i.e. when the plan was replayed from the start and won."""
    name: str
    solved: bool
    inputs: np.ndarray = field(repr=False)
    search_frames: int
    expansions: int
    nodes: int
    seconds: float
    reason: str = ""

    @property
    def plan_frames(self) -> int:
        return len(self.inputs)


class _StatePool:
    """Saved simulator states, one row per node.

    The door-dependent grid edges (18 KB per state) change only when a door opens or
    closes: in a level without doors they are never saved or restored, otherwise each
    distinct value is stored once (keyed by two random-weight checksums) and nodes keep its
    index."""

    def __init__(self, sim: BatchSimulator, capacity: int, has_doors: bool):
        st = sim.state
        self.capacity = capacity
        self.fields = {name: np.zeros((capacity, *getattr(st, name).shape[1:]),
                                      getattr(st, name).dtype)
                       for name in ("env_i", "ninja_f", "ninja_i", "ent_f", "ent_i")}
        self.has_doors = has_doors
        self.edge_of = np.zeros(capacity, np.int64)
        self.hor_edges = np.zeros((0, *st.hor_edge.shape[1:]), st.hor_edge.dtype)
        self.ver_edges = np.zeros((0, *st.ver_edge.shape[1:]), st.ver_edge.dtype)
        self._edge_ids: dict[tuple[int, int], int] = {}
        size = st.hor_edge[0].size + st.ver_edge[0].size
        self._weights = np.random.default_rng(7).integers(1, 2**31, size=(size, 2))
        self.size = 0

    def save(self, sim: BatchSimulator, rows: np.ndarray) -> np.ndarray:
        """Copy the states of sim rows into new pool rows; returns their ids."""
        ids = np.arange(self.size, self.size + len(rows))
        for name, array in self.fields.items():
            array[ids] = getattr(sim.state, name)[rows]
        if self.has_doors:
            self.edge_of[ids] = self._intern_edges(sim, rows)
        self.size += len(rows)
        return ids

    def _intern_edges(self, sim: BatchSimulator, rows: np.ndarray) -> list[int]:
        st = sim.state
        flat = np.concatenate([st.hor_edge[rows].reshape(len(rows), -1),
                               st.ver_edge[rows].reshape(len(rows), -1)], axis=1)
        checksums = flat.astype(np.int64) @ self._weights
        out = []
        for k, key in enumerate(map(tuple, checksums.tolist())):
            edge_id = self._edge_ids.get(key)
            if edge_id is None:
                edge_id = self._edge_ids[key] = len(self.hor_edges)
                self.hor_edges = np.concatenate([self.hor_edges, st.hor_edge[rows[k]][None]])
                self.ver_edges = np.concatenate([self.ver_edges, st.ver_edge[rows[k]][None]])
            out.append(edge_id)
        return out

    def load(self, sim: BatchSimulator, ids: np.ndarray, rows: np.ndarray) -> None:
        """Restore pool states ``ids`` into sim rows ``rows``."""
        for name, array in self.fields.items():
            getattr(sim.state, name)[rows] = array[ids]
        if self.has_doors:
            sim.state.hor_edge[rows] = self.hor_edges[self.edge_of[ids]]
            sim.state.ver_edge[rows] = self.ver_edges[self.edge_of[ids]]


def _filled_distance(dist: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``dist`` with every unreachable (inf) sub-cell given the distance of a reachable one
    plus the straight line to it and :data:`UNREACHABLE_PENALTY` (an 8-neighbour relaxation).
    When the navigation graph reaches the target from nowhere, the straight-line distance to
    the ``target`` sub-cells is used everywhere."""
    out = np.where(np.isfinite(dist), dist, np.inf).astype(np.float64)
    if not np.isfinite(out).any():
        if not target.any():
            return np.zeros(out.shape)
        out = np.where(target, 0.0, np.inf)
    penalised = np.where(np.isfinite(out), out, np.inf)
    moves = [(dx, dy, SUB * np.hypot(dx, dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
             if dx or dy]
    filled = penalised.copy()
    changed = True
    while changed:
        before = filled.copy()
        for dx, dy, cost in moves:
            shifted = np.full_like(filled, np.inf)
            xs = slice(max(dx, 0), NX + min(dx, 0))
            xd = slice(max(-dx, 0), NX + min(-dx, 0))
            ys = slice(max(dy, 0), NY + min(dy, 0))
            yd = slice(max(-dy, 0), NY + min(-dy, 0))
            shifted[xd, yd] = filled[xs, ys] + cost
            filled = np.minimum(filled, shifted)
        changed = not np.array_equal(before, filled)
    return np.where(np.isfinite(out), out, filled + UNREACHABLE_PENALTY)


class _Heuristic:
    """Path distance to the current objective, per simulator row (vectorised)."""

    def __init__(self, level, sim: BatchSimulator):
        nav = analyze_level(level)
        self.to_switch = _filled_distance(np.asarray(nav.dist_to_switch), nav.switch_mask)
        self.to_exit = _filled_distance(np.asarray(nav.dist_to_exit), nav.exit_mask)
        switches = np.flatnonzero(level.ent_si[:, ES_TYPE] == T_EXIT_SWITCH)
        self.switch = int(switches[0]) if len(switches) else -1
        if self.switch >= 0:
            sx, sy = sub_cells(sim.state.ent_f[:1, self.switch, E_X],
                            sim.state.ent_f[:1, self.switch, E_Y])
            self.switch_to_exit = float(self.to_exit[sx[0], sy[0]])
        else:
            self.switch_to_exit = 0.0

    def switched(self, st, rows: np.ndarray) -> np.ndarray:
        if self.switch < 0:
            return np.ones(len(rows), bool)
        return st.ent_i[rows, self.switch, E_ACTIVE] == 0

    def __call__(self, st, rows: np.ndarray) -> np.ndarray:
        sx, sy = sub_cells(st.ninja_f[rows, X], st.ninja_f[rows, Y])
        switched = self.switched(st, rows)
        return np.where(switched, self.to_exit[sx, sy],
                        self.to_switch[sx, sy] + self.switch_to_exit)


def solve_level(source: LevelSource, config: PlannerConfig | None = None,
                name: str | None = None, prefix: np.ndarray | None = None) -> SolveResult:
    """Search for a winning input sequence for one level (see the module docstring).

    With ``prefix`` (input bytes, one per frame) the search starts where those inputs leave
    the ninja instead of at the spawn, and a plan is the prefix followed by what the search
    found (verified from the level's start as always). A prefix that ends the episode (a
    death or a win on one of its frames) is a ``ValueError``."""
    start = time.perf_counter()
    config = config or PlannerConfig()
    level = load_level(source, name)
    c = config
    prefix = np.zeros(0, np.uint8) if prefix is None else np.ascontiguousarray(prefix, np.uint8)
    types = set(level.ent_si[:, ES_TYPE].tolist())
    if T_EXIT_DOOR not in types or T_EXIT_SWITCH not in types:
        return SolveResult(level.name, False, np.zeros(0, np.uint8), 0, 0, 0,
                           time.perf_counter() - start, "the level has no exit door and switch")
    rows_per_batch = c.batch * N_ACTIONS
    sim = BatchSimulator([level], np.zeros(rows_per_batch, np.int64))
    heuristic = _Heuristic(level, sim)
    stages = np.diff((0,) + c.macro_frames)
    has_doors = bool(types & {T_REGULAR_DOOR, T_LOCKED_DOOR, T_TRAP_DOOR})
    pool = _StatePool(sim, c.max_nodes + rows_per_batch * len(stages), has_doors)
    rng = np.random.default_rng(12345)         # fixed: entity hashing weights only
    ent_weights = rng.integers(1, 2**31, size=(sim.state.ent_i.shape[1], 2))
    action_bytes = np.array(ACTION_TO_INPUT_BYTE, np.uint8)
    tapes = [np.repeat(np.tile(action_bytes, c.batch)[:, None], n, axis=1) for n in stages]

    if len(prefix):
        _play_prefix(level, prefix, sim)
    root = pool.save(sim, np.array([0]))[0]
    parent = [-1]
    action = [-1]           # the action held from the parent to the node
    held = [0]              # for how many frames
    frames = [0]
    open_heap = [(float(heuristic(sim.state, np.array([0]))[0]), 0, int(root))]
    seen = {_keys(sim.state, np.array([0]), ent_weights, c)[0]}
    search_frames = expansions = 0

    def _push_children(sim, alive, ids, total) -> bool:
        """Save the fresh children among sim rows ``alive``; False when the pool is full."""
        if len(alive) == 0:
            return True
        keys = _keys(sim.state, alive, ent_weights, c)
        fresh = [row for row, key in zip(alive.tolist(), keys) if key not in seen]
        seen.update(keys)
        if not fresh:
            return True
        if pool.size + len(fresh) > pool.capacity:
            return False
        fresh_rows = np.array(fresh, np.int64)
        child_ids = pool.save(sim, fresh_rows)
        scores = heuristic(sim.state, fresh_rows)
        for child, row, h in zip(child_ids.tolist(), fresh, scores.tolist()):
            node = int(ids[row])
            parent.append(node)
            action.append(row % N_ACTIONS)
            held.append(total)
            frames.append(frames[node] + total)
            heapq.heappush(open_heap, (h + c.frame_weight * frames[-1], child, child))
        return True

    def result(solved, inputs, reason=""):
        return SolveResult(level.name, solved, inputs, search_frames, expansions, pool.size,
                           time.perf_counter() - start, reason)

    while open_heap:
        if search_frames >= c.budget_frames:
            return result(False, np.zeros(0, np.uint8), "budget exhausted")
        popped = [heapq.heappop(open_heap)[2]
                  for _ in range(min(c.batch, len(open_heap)))]
        ids = np.repeat(np.array(popped, np.int64), N_ACTIONS)
        rows = np.arange(len(ids))
        pool.load(sim, ids, rows)
        for tape, total in zip(tapes, c.macro_frames):
            sim.run(tape, auto_reset=False)         # rows past len(ids) hold stale states
            search_frames += tape.size
            state = sim.state.ninja_i[rows, STATE]
            for row in rows[state == ST_CELEBRATING]:
                plan = np.concatenate([prefix, _plan(parent, action, held, int(ids[row]),
                                                     int(row % N_ACTIONS), total)])
                verified = _verified(level, plan)
                if verified is not None:
                    expansions += len(popped)
                    return result(True, verified)
            alive = rows[(state != ST_DEAD) & (state != ST_DYING) & (state != ST_CELEBRATING)]
            if not _push_children(sim, alive, ids, total):
                return result(False, np.zeros(0, np.uint8), "node limit reached")
            rows = alive
        expansions += len(popped)
    return result(False, np.zeros(0, np.uint8), "search space exhausted: no winning plan")


def _play_prefix(level, prefix: np.ndarray, sim: BatchSimulator) -> None:
    """Leave row 0 of ``sim`` where ``prefix`` takes the ninja from the spawn."""
    one = BatchSimulator([level], np.zeros(1, np.int64))
    one.run(prefix[None], auto_reset=False)     # an ended episode stays ended without reset
    state = int(one.state.ninja_i[0, STATE])
    if state in (ST_DEAD, ST_DYING, ST_CELEBRATING):
        raise ValueError(f"{level.name}: the prefix of {len(prefix)} frames ends the episode "
                         f"({'won' if state == ST_CELEBRATING else 'dead'}); the search must "
                         "start from a live ninja")
    sim.load_state_dict(one.state_dict(), np.array([0]))


def _keys(st, rows: np.ndarray, ent_weights: np.ndarray, c: PlannerConfig) -> list[tuple]:
    qx = np.floor(st.ninja_f[rows, X] / c.position_quantum).astype(np.int64)
    qy = np.floor(st.ninja_f[rows, Y] / c.position_quantum).astype(np.int64)
    qvx = np.round(st.ninja_f[rows, VX] / c.velocity_quantum).astype(np.int64)
    qvy = np.round(st.ninja_f[rows, VY] / c.velocity_quantum).astype(np.int64)
    ents = st.ent_i[rows][:, :, [E_ACTIVE, E_STATE]]
    ent_hash = (ents * ent_weights).sum(axis=(1, 2))
    # movement state, jump held last frame, jump gravity (a held jump still rising) and the
    # input buffers decide what the next inputs can do
    ninja = st.ninja_i[rows][:, [STATE, JUMP_INPUT_OLD, JUMP_BUFFER, FLOOR_BUFFER, WALL_BUFFER]]
    ninja_code = (ninja * np.array([1, 16, 128, 2048, 32768])).sum(axis=1)
    rising = st.ninja_f[rows, GRAVITY] == GRAVITY_JUMP
    return list(zip(qx.tolist(), qy.tolist(), qvx.tolist(), qvy.tolist(), ninja_code.tolist(),
                    rising.tolist(), ent_hash.tolist()))


def _plan(parent: list[int], action: list[int], held: list[int], node: int, last_action: int,
          last_frames: int) -> np.ndarray:
    """Input bytes of the macros from the root to ``node``, then ``last_action`` held for
    ``last_frames`` frames."""
    actions, counts = [last_action], [last_frames]
    while parent[node] >= 0:
        actions.append(action[node])
        counts.append(held[node])
        node = parent[node]
    return np.repeat(np.array(ACTION_TO_INPUT_BYTE, np.uint8)[actions[::-1]], counts[::-1])


def _verified(level, plan: np.ndarray) -> np.ndarray | None:
    """The plan cut at its winning frame, if a fresh simulation of it wins."""
    trace = simulate_inputs(level, plan)
    if trace["outcome"] != "won":
        return None
    return plan[:trace["outcome_frame"]].copy()
