"""Episode kernels of the environment: starting an episode, and one step of every env with
its reward, termination and truncation. Compiled loops over all environments at once.

The per-environment bookkeeping lives in three arrays owned by the :class:`~ninjarl.env.Engine`:
``env_f`` (float columns ``F_*``), ``env_i`` (integer columns ``I_*``) and ``visited`` (per
grid cell, whether the ninja has entered it this episode: the novelty bonus); ``lvl_i`` holds per
level the entity index of the exit switch and its door (``L_*``), ``rew`` the reward
parameters (``R_*``), ``fields`` the objective's path distances
(:class:`~ninjarl.env.objective.ObjectiveFields`). The reward is documented in
:class:`~ninjarl.env.config.RewardConfig`.
"""
from __future__ import annotations

import math

from ..nav._kernels import sub_cell
from ..sim._jit import jit
from ..sim.constants import CELL, GRID_H, GRID_W, ST_CELEBRATING, ST_DEAD, ST_DYING
from ..sim.core import decode_input, episode_over, reset_env, tick
from ..sim.layout import E_ACTIVE, STATE, V_LEVEL, X, Y
from .objective import objective_distance_at

# env_f / env_i columns: per-environment episode bookkeeping of the engine
F_PHI, F_ANCHOR_X, F_ANCHOR_Y, F_RETURN = 0, 1, 2, 3
I_FRAMES, I_SWITCH, I_ANCHOR_FRAME, I_STEPS, I_START_FRAME = 0, 1, 2, 3, 4
ENV_I_COLUMNS = 5
# lvl_i columns (per level)
L_SWITCH, L_DOOR = 0, 1
# reward parameter vector
R_COMPLETION, R_DEATH, R_SWITCH, R_TIME, R_SCALE, R_MAX_DIST, R_NOVELTY = range(7)
#: columns of ``visited``: one per cell of the grid, border included
GRID_CELLS = GRID_W * GRID_H


@jit
def objective_distance(fields, st, n, env_i, max_dist):
    """Path distance from env n's ninja to its current objective, capped at ``max_dist``."""
    lv = st.env_i[n, V_LEVEL]
    sx, sy = sub_cell(st.ninja_f[n, X], st.ninja_f[n, Y])
    d = objective_distance_at(fields, st, n, lv, env_i[n, I_SWITCH] != 0, sx, sy)
    return min(d, max_dist) if math.isfinite(d) else max_dist


@jit
def _potential(st, n, env_i, fields, rew):
    d = objective_distance(fields, st, n, env_i, rew[R_MAX_DIST])
    return -rew[R_SCALE] * d / rew[R_MAX_DIST]


@jit
def _switch_activated(bank, st, n, lvl_i):
    e = lvl_i[st.env_i[n, V_LEVEL], L_SWITCH]
    return e >= 0 and st.ent_i[n, e, E_ACTIVE] == 0


@jit
def _cell(st, n):
    """The grid cell (column of ``visited``) of env n's ninja centre."""
    cx = min(max(int(st.ninja_f[n, X] // CELL), 0), GRID_W - 1)
    cy = min(max(int(st.ninja_f[n, Y] // CELL), 0), GRID_H - 1)
    return cy * GRID_W + cx


@jit
def _enter_cell(st, n, visited):
    """Mark env n's ninja's cell visited; whether it was new this episode."""
    c = _cell(st, n)
    if visited[n, c]:
        return False
    visited[n, c] = 1
    return True


@jit
def _start_episode(bank, st, n, level, lvl_i, env_f, env_i, visited, fields, rew):
    reset_env(bank, st, n, level)
    env_i[n, I_STEPS] = 0
    env_f[n, F_RETURN] = 0.0
    _count_from_here(bank, st, n, 0, lvl_i, env_f, env_i, visited, fields, rew)


@jit
def _count_from_here(bank, st, n, frames, lvl_i, env_f, env_i, visited, fields, rew):
    """Env n's episode counts from the ninja's state now, ``frames`` into it: its clock, its
    switch, the stuck cut's anchor, the shaping potential and the cells visited (the one it
    is in)."""
    visited[n, :] = 0
    _enter_cell(st, n, visited)
    env_i[n, I_FRAMES] = frames
    env_i[n, I_START_FRAME] = frames
    env_i[n, I_ANCHOR_FRAME] = frames
    env_i[n, I_SWITCH] = 1 if _switch_activated(bank, st, n, lvl_i) else 0
    env_f[n, F_ANCHOR_X] = st.ninja_f[n, X]
    env_f[n, F_ANCHOR_Y] = st.ninja_f[n, Y]
    env_f[n, F_PHI] = _potential(st, n, env_i, fields, rew)


@jit
def stuck(env_i, n, stuck_frames):
    """Whether env n has stayed within the stuck radius of its anchor for ``stuck_frames``
    frames (never with ``stuck_frames`` 0): the stuck cut, read by the step kernel and by
    the info dict."""
    return stuck_frames > 0 and env_i[n, I_FRAMES] - env_i[n, I_ANCHOR_FRAME] >= stuck_frames


@jit
def reset_kernel(bank, st, ids, levels, lvl_i, env_f, env_i, visited, fields, rew):
    for k in range(ids.shape[0]):
        _start_episode(bank, st, ids[k], levels[k], lvl_i, env_f, env_i, visited, fields, rew)


@jit
def start_from_plan(bank, st, n, inputs, frames, lvl_i, env_f, env_i, visited, fields, rew,
                    near):
    """Move env n, whose episode has just started, along the first ``frames`` input bytes of
    a plan of its level; the episode goes on from there as if it had played them (its clock,
    switch and shaping potential included), without their rewards. Returns False, with env
    n left where it stopped, if those frames end the episode."""
    for f in range(frames):
        h, j = decode_input(inputs[f])
        tick(bank, st, n, h, j, near)
        if episode_over(st, n):
            return False
    _count_from_here(bank, st, n, frames, lvl_i, env_f, env_i, visited, fields, rew)
    return True


@jit
def step_kernel(bank, st, frame_actions, n_frames, action_bytes, max_frames, stuck_frames,
                stuck_radius, stuck_fails, gamma, rew, lvl_i, env_f, env_i, visited, fields,
                near, rewards, terminated, truncated):
    """Advance every env n by one step of ``n_frames[n]`` frames, frame f playing action
    ``frame_actions[n, min(f, last column)]`` (a one-column array holds each env's action for
    the whole step), stopping after a frame that ends the episode; write the step's reward and
    episode flags.

    This is the only place where rewards, termination and truncation are computed: the
    training env (an action held for ``action_repeat`` frames) and the replay env (a human's
    per-frame inputs) both step through it.
    """
    last = frame_actions.shape[1] - 1
    for n in range(frame_actions.shape[0]):
        frames = 0
        for f in range(n_frames[n]):
            h, j = decode_input(action_bytes[frame_actions[n, min(f, last)]])
            tick(bank, st, n, h, j, near)
            frames += 1
            if episode_over(st, n):
                break
        env_i[n, I_FRAMES] += frames
        env_i[n, I_STEPS] += 1
        state = st.ninja_i[n, STATE]
        won = state == ST_CELEBRATING
        dead = state == ST_DEAD or state == ST_DYING
        in_place = False
        if stuck_frames > 0 and not (won or dead):
            dx = st.ninja_f[n, X] - env_f[n, F_ANCHOR_X]
            dy = st.ninja_f[n, Y] - env_f[n, F_ANCHOR_Y]
            if dx * dx + dy * dy > stuck_radius * stuck_radius:
                env_f[n, F_ANCHOR_X] = st.ninja_f[n, X]
                env_f[n, F_ANCHOR_Y] = st.ninja_f[n, Y]
                env_i[n, I_ANCHOR_FRAME] = env_i[n, I_FRAMES]
            in_place = stuck(env_i, n, stuck_frames)
        failed = dead or (in_place and stuck_fails)
        r = rew[R_TIME] * frames
        if env_i[n, I_SWITCH] == 0 and _switch_activated(bank, st, n, lvl_i):
            env_i[n, I_SWITCH] = 1
            r += rew[R_SWITCH]
        if won:
            r += rew[R_COMPLETION]
        if failed:
            r += rew[R_DEATH]
        if _enter_cell(st, n, visited):
            r += rew[R_NOVELTY]
        phi = 0.0 if (won or failed) else _potential(st, n, env_i, fields, rew)
        r += gamma * phi - env_f[n, F_PHI]
        env_f[n, F_PHI] = phi
        env_f[n, F_RETURN] += r
        rewards[n] = r
        terminated[n] = won or failed
        truncated[n] = not terminated[n] and (env_i[n, I_FRAMES] >= max_frames or in_place)
