"""The batched simulator: N environments, each on any level of a bank, advanced by compiled loops.

``run_frames`` is the hot path: it steps every environment through a block of input frames in
one call (one Python→numba transition per block), resetting finished episodes in place. A reset
rebuilds the environment's state from the level's load-time data, so it is exactly a fresh load.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._jit import jit
from .constants import (
    DEATH_CAUSES,
    DRAG_REGULAR,
    EDGE_H,
    EDGE_W,
    GRAVITY_FALL,
    ST_CELEBRATING,
    ST_DEAD,
    ST_DISABLED,
    ST_DYING,
)
from .entities import move_entity, report_state, reset_entity, think_entity
from .layout import (
    CEIL_NY,
    DEATH_CAUSE,
    DRAG,
    E_ACTIVE,
    E_CLOSED,
    E_X,
    E_Y,
    ENT_F_COLS,
    ENT_I_COLS,
    ENV_I_COLS,
    FLOOR_BUFFER,
    FLOOR_NY,
    GOLD,
    GRAVITY,
    HOR_INPUT,
    JUMP_BUFFER,
    JUMP_INPUT,
    LP_BUFFER,
    NINJA_F_COLS,
    NINJA_I_COLS,
    STATE,
    V_EPISODES,
    V_FRAME,
    V_LEVEL,
    V_SEQ,
    VX,
    VY,
    WALL_BUFFER,
    Bank,
    State,
    X,
    Y,
)
from .level import Level, build_level, make_bank
from .ninja import (
    collide_vs_objects,
    collide_vs_tiles,
    integrate,
    post_collision,
    pre_collision,
    think,
)

__all__ = ["BatchSimulator", "Simulator", "simulate_inputs", "build_level", "Level"]


def new_state(n_envs: int, max_entities: int) -> State:
    """Allocate zeroed state arrays for n_envs environments."""
    e = max(1, max_entities)
    return State(
        env_i=np.zeros((n_envs, ENV_I_COLS), np.int64),
        ninja_f=np.zeros((n_envs, NINJA_F_COLS), np.float64),
        ninja_i=np.zeros((n_envs, NINJA_I_COLS), np.int64),
        ent_f=np.zeros((n_envs, e, ENT_F_COLS), np.float64),
        ent_i=np.zeros((n_envs, e, ENT_I_COLS), np.int64),
        hor_edge=np.zeros((n_envs, EDGE_W, EDGE_H), np.int16),
        ver_edge=np.zeros((n_envs, EDGE_W, EDGE_H), np.int16),
    )


@jit
def reset_env(bank, st, n, lv):
    """Put environment n at the start of level lv, exactly as a fresh map load (spec §6.1)."""
    st.env_i[n, V_LEVEL] = lv
    st.env_i[n, V_FRAME] = 0
    # explicit loops: slicing would need numba's reference counting, which we compile without
    for c in range(NINJA_F_COLS):
        st.ninja_f[n, c] = 0.0
    for c in range(NINJA_I_COLS):
        st.ninja_i[n, c] = 0
    st.ninja_f[n, X] = bank.spawn[lv, 0]
    st.ninja_f[n, Y] = bank.spawn[lv, 1]
    st.ninja_f[n, GRAVITY] = GRAVITY_FALL
    st.ninja_f[n, DRAG] = DRAG_REGULAR
    st.ninja_f[n, FLOOR_NY] = -1.0
    st.ninja_f[n, CEIL_NY] = 1.0
    st.ninja_i[n, JUMP_BUFFER] = -1
    st.ninja_i[n, FLOOR_BUFFER] = -1
    st.ninja_i[n, WALL_BUFFER] = -1
    st.ninja_i[n, LP_BUFFER] = -1
    for hx in range(EDGE_W):
        for hy in range(EDGE_H):
            st.hor_edge[n, hx, hy] = bank.hor_edge0[lv, hx, hy]
            st.ver_edge[n, hx, hy] = bank.ver_edge0[lv, hx, hy]
    for e in range(st.ent_f.shape[1]):
        for c in range(ENT_F_COLS):
            st.ent_f[n, e, c] = 0.0
        for c in range(ENT_I_COLS):
            st.ent_i[n, e, c] = 0
    for e in range(bank.n_ent[lv]):
        reset_entity(bank, st, n, e)
    st.env_i[n, V_SEQ] = bank.n_ent[lv]


@jit
def decode_input(byte):
    """Spec §10.1: low three bits; left has priority over right."""
    b = byte & 7
    h = -1 if b & 4 else (1 if b & 2 else 0)
    return h, b & 1


@jit
def tick(bank, st, n, h, j, near):
    """One frame of environment n (spec §5): entities move and think, then the ninja."""
    st.env_i[n, V_FRAME] += 1
    st.ninja_i[n, HOR_INPUT] = h
    st.ninja_i[n, JUMP_INPUT] = j
    lv = st.env_i[n, V_LEVEL]
    for k in range(bank.n_move[lv]):
        e = bank.move_list[lv, k]
        if st.ent_i[n, e, E_ACTIVE] != 0:
            move_entity(bank, st, n, e)
    for k in range(bank.n_think[lv]):
        e = bank.think_list[lv, k]
        if st.ent_i[n, e, E_ACTIVE] != 0:
            think_entity(bank, st, n, e)
    state = st.ninja_i[n, STATE]
    if state == ST_DISABLED:
        return
    if state != ST_DEAD:
        integrate(st, n)
        n_near = pre_collision(bank, st, n, near)
        for _ in range(4):
            collide_vs_objects(bank, st, n, near, n_near)
            collide_vs_tiles(bank, st, n)
        post_collision(bank, st, n, near)
    think(st, n)


@jit
def episode_over(st, n):
    """Won (8) or dead (6, 7): the outcome rule of spec §6.9."""
    s = st.ninja_i[n, STATE]
    return s == ST_DEAD or s == ST_DYING or s == ST_CELEBRATING


@jit
def run_frames(bank, st, inputs, auto_reset, near):
    """Advance every environment through its row of input bytes (shape [N, F]).

    With auto_reset, an environment whose episode ended (won or dead) after a frame is reset to
    its level's start before its next frame, and its episode counter is incremented.
    `near` is scratch space for one entity neighbourhood (length >= max entities).
    """
    for n in range(inputs.shape[0]):
        for f in range(inputs.shape[1]):
            h, j = decode_input(inputs[n, f])
            tick(bank, st, n, h, j, near)
            if auto_reset and episode_over(st, n):
                st.env_i[n, V_EPISODES] += 1
                reset_env(bank, st, n, st.env_i[n, V_LEVEL])


@jit
def run_recorded(bank, st, n, inputs, near, ninja_out, state_out, gold_out, cause_out, ent_x,
                 ent_y, ent_active, ent_state):
    """Advance environment n through `inputs`, recording the state after every frame."""
    lv = st.env_i[n, V_LEVEL]
    for f in range(inputs.shape[0]):
        h, j = decode_input(inputs[f])
        tick(bank, st, n, h, j, near)
        ninja_out[f, 0] = st.ninja_f[n, X]
        ninja_out[f, 1] = st.ninja_f[n, Y]
        ninja_out[f, 2] = st.ninja_f[n, VX]
        ninja_out[f, 3] = st.ninja_f[n, VY]
        state_out[f] = st.ninja_i[n, STATE]
        gold_out[f] = st.ninja_i[n, GOLD]
        cause_out[f] = st.ninja_i[n, DEATH_CAUSE]
        for e in range(bank.n_ent[lv]):
            ent_x[f, e] = st.ent_f[n, e, E_X]
            ent_y[f, e] = st.ent_f[n, e, E_Y]
            ent_active[f, e] = st.ent_i[n, e, E_ACTIVE]
            ent_state[f, e] = report_state(bank, st, n, e)


@jit
def reset_envs(bank, st, env_ids, levels):
    for k in range(env_ids.shape[0]):
        reset_env(bank, st, env_ids[k], levels[k])


class BatchSimulator:
    """N simulations advanced together; environment i plays ``levels[env_level[i]]``.

    State lives in numpy arrays (:attr:`state`, a :class:`~ninjarl.sim.layout.State`) that the
    compiled loops update in place; read them directly for observations.
    """

    def __init__(self, levels: Sequence[Level], env_level: np.ndarray):
        if not levels:
            raise ValueError("BatchSimulator needs at least one level")
        self.levels = list(levels)
        env_level = np.asarray(env_level, np.int64)
        if env_level.ndim != 1 or len(env_level) == 0:
            raise ValueError("env_level must be a non-empty 1-D array of level indices")
        if env_level.min() < 0 or env_level.max() >= len(self.levels):
            raise ValueError(f"env_level values must lie in [0, {len(self.levels) - 1}]")
        self.bank: Bank = make_bank(self.levels)
        self.state: State = new_state(len(env_level), self.bank.ent_si.shape[1])
        self._near = np.empty(self.bank.ent_si.shape[1], np.int64)
        self.reset(env_level=env_level)

    @property
    def n_envs(self) -> int:
        return self.state.env_i.shape[0]

    def reset(self, env_ids: np.ndarray | None = None, env_level: np.ndarray | None = None):
        """Reset the given environments (all by default), optionally onto other levels."""
        ids = np.arange(self.n_envs) if env_ids is None else np.asarray(env_ids, np.int64)
        lv = self.state.env_i[ids, V_LEVEL] if env_level is None else np.asarray(env_level, np.int64)
        reset_envs(self.bank, self.state, ids, np.broadcast_to(lv, ids.shape).copy())

    def run(self, inputs: np.ndarray, auto_reset: bool = True) -> None:
        """Advance all environments through ``inputs`` (uint8 input bytes, shape [N, F])."""
        inputs = np.ascontiguousarray(inputs, np.uint8)
        if inputs.ndim != 2 or inputs.shape[0] != self.n_envs:
            raise ValueError(f"inputs must have shape ({self.n_envs}, frames), got {inputs.shape}")
        run_frames(self.bank, self.state, inputs, auto_reset, self._near)

    def state_dict(self, env_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """A copy of the state of the given environments (all by default): one array per
        :class:`~ninjarl.sim.layout.State` field, rows in ``env_ids`` order. Saving is a copy of
        array rows, so a search can afford one per node."""
        rows = slice(None) if env_ids is None else np.asarray(env_ids, np.int64)
        return {name: array[rows].copy() for name, array in self.state._asdict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray],
                        env_ids: np.ndarray | None = None) -> None:
        """Restore a :meth:`state_dict` into the given environments (all by default) of a
        simulator over the same levels; the next frames are then exactly those that followed
        the saved state. A missing field or mismatched shape is an error naming it."""
        rows = slice(None) if env_ids is None else np.asarray(env_ids, np.int64)
        for name, array in self.state._asdict().items():
            if name not in state:
                raise ValueError(f"simulator state: missing {name!r}")
            value = np.asarray(state[name])
            if value.shape != array[rows].shape:
                raise ValueError(f"simulator state {name}: shape {value.shape}, expected "
                                 f"{array[rows].shape}")
            array[rows] = value

    @property
    def episodes(self) -> np.ndarray:
        """Episodes finished per environment (counted by auto-reset)."""
        return self.state.env_i[:, V_EPISODES]


class Simulator:
    """A single simulation: a thin facade over a one-environment :class:`BatchSimulator`."""

    def __init__(self, level: Level):
        self.level = level
        self._batch = BatchSimulator([level], np.zeros(1, np.int64))

    def reset(self) -> None:
        self._batch.reset()

    def tick(self, hor: int, jump: int) -> None:
        """Advance one frame with horizontal input -1/0/+1 and jump 0/1."""
        tick(self._batch.bank, self._batch.state, 0, int(hor), int(jump), self._batch._near)

    @property
    def _f(self):
        return self._batch.state.ninja_f[0]

    x = property(lambda self: float(self._f[X]))
    y = property(lambda self: float(self._f[Y]))
    xspeed = property(lambda self: float(self._f[VX]))
    yspeed = property(lambda self: float(self._f[VY]))
    state = property(lambda self: int(self._batch.state.ninja_i[0, STATE]))
    gold = property(lambda self: int(self._batch.state.ninja_i[0, GOLD]))
    frame = property(lambda self: int(self._batch.state.env_i[0, V_FRAME]))

    def door_closed(self, entity: int) -> bool:
        """Whether door entity `entity` (creation order) is closed, i.e. its segment is solid."""
        return bool(self._batch.state.ent_i[0, entity, E_CLOSED])


def simulate_inputs(level: Level, raw_inputs: np.ndarray) -> dict:
    """Simulate input bytes on a fresh load of `level` and return the per-frame trace.

    Keys match the golden traces: ``x, y, xspeed, yspeed`` (float64), ``state`` (int8), ``gold``,
    ``ent_type``, ``ent_x``, ``ent_y``, ``ent_active``, ``ent_state``, ``outcome`` /
    ``outcome_frame`` (1-based frame of the first win or death, -1 if none) and ``death_cause``
    (``""`` unless dead; the names of the scenario traces, e.g. ``"mine"``, ``"impact_floor"``).
    """
    inputs = np.ascontiguousarray(raw_inputs, np.uint8).reshape(-1)
    sim = BatchSimulator([level], np.zeros(1, np.int64))
    frames, n_ent = len(inputs), level.n_entities
    ninja = np.zeros((frames, 4))
    state = np.zeros(frames, np.int8)
    gold = np.zeros(frames, np.int16)
    cause = np.zeros(frames, np.int64)
    ent_x = np.zeros((frames, n_ent))
    ent_y = np.zeros((frames, n_ent))
    ent_active = np.zeros((frames, n_ent), np.uint8)
    ent_state = np.zeros((frames, n_ent), np.int16)
    run_recorded(sim.bank, sim.state, 0, inputs, sim._near, ninja, state, gold, cause, ent_x,
                 ent_y, ent_active, ent_state)
    finished = np.flatnonzero((state == ST_DEAD) | (state == ST_DYING) | (state == ST_CELEBRATING))
    outcome, outcome_frame, death_cause = "ongoing", -1, ""
    if len(finished):
        outcome_frame = int(finished[0]) + 1
        outcome = "won" if state[finished[0]] == ST_CELEBRATING else "dead"
        if outcome == "dead":
            death_cause = DEATH_CAUSES[int(cause[finished[0]])]
    return {
        "x": ninja[:, 0].copy(), "y": ninja[:, 1].copy(), "xspeed": ninja[:, 2].copy(),
        "yspeed": ninja[:, 3].copy(), "state": state, "gold": gold,
        "ent_type": level.entity_types, "ent_x": ent_x, "ent_y": ent_y,
        "ent_active": ent_active, "ent_state": ent_state,
        "outcome": outcome, "outcome_frame": outcome_frame, "death_cause": death_cause,
    }
