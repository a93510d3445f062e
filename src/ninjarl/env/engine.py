"""The environment engine shared by NinjaEnv and the vector envs.

One :class:`Engine` owns a :class:`~ninjarl.sim.BatchSimulator` for N environments and does,
in compiled loops over all environments at once: actions → frames (action repeat), episode
ends, rewards (with path-distance shaping), and the vector observations. Images come from
:mod:`ninjarl.env.render`, reachability from :mod:`ninjarl.nav`. Single and vector envs are
thin adapters over this class, so the same level and inputs give identical observations in
both.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from ..nav import analyze_level, build_graph, graph_spec, objective_feature_index, stack_navs
from ..nav.graph import EXIT_DIST_FEATURE
from ..sim import BatchSimulator, Level, build_level
from ..sim._jit import jit
from ..sim.constants import (DEATH_CAUSES, MAX_JUMP_DURATION, ST_CELEBRATING,
                             ST_DEAD, ST_DYING, T_DEATH_BALL, T_EXIT_SWITCH, T_MINE,
                             T_MINI_DRONE, T_SHOVE_THWUMP, T_THWUMP, T_TOGGLE_MINE, T_ZAP_DRONE,
                             WORLD_H, WORLD_W, GRAVITY_JUMP)
from ..sim.core import decode_input, episode_over, reset_env, tick
from ..sim.layout import (AIRBORN, CEIL_NX, CEIL_NY, DEATH_CAUSE, E_ACTIVE, E_STATE, E_X, E_Y,
                          ES_DOOR_OF, ES_TYPE, FLOOR_BUFFER, FLOOR_NX, FLOOR_NY, GRAVITY,
                          JUMP_BUFFER, JUMP_DURATION, JUMP_INPUT_OLD, LP_BUFFER, STATE, V_LEVEL,
                          VX, VY, WALL_BUFFER, WALL_NORMAL, WALLED, X, Y)
from ..sim.replay import ACTION_TO_INPUT_BYTE
from .config import EnvConfig

LevelSource = Level | bytes | str | PathLike
LevelSampler = Callable[[int, np.random.Generator], int]

GAME_STATE_SIZE = 32
REACHABILITY_SIZE = 10
HAZARD_RANGE = 240.0        # px: hazards further away than 10 cells read as "none"
SPEED_NORM = 6.0            # px/frame: faster impacts kill, so this spans the useful range
SUB_CELL = 12.0

# env_f / env_i columns: per-environment episode bookkeeping of the engine
F_PHI, F_ANCHOR_X, F_ANCHOR_Y, F_RETURN = 0, 1, 2, 3
I_FRAMES, I_SWITCH, I_ANCHOR_FRAME, I_STEPS = 0, 1, 2, 3
# lvl_i columns (per level)
L_SWITCH, L_DOOR = 0, 1
# reward parameter vector
R_COMPLETION, R_DEATH, R_SWITCH, R_TIME, R_SCALE, R_MAX_DIST = range(6)

GAME_STATE_DOC = """Index by index, all float32 in [-1, 1]:
 0 x / 1056 * 2 - 1            1 y / 600 * 2 - 1
 2 xspeed / 6 (clipped)        3 yspeed / 6 (clipped)
 4-9 movement state one-hot: immobile, running, ground sliding, jumping, falling, wall sliding
10 airborne                   11 touching a wall
12 last wall normal (-1 left, +1 right, 0 none yet)
13 jump duration / 45         14 jump input held last frame
15 jump buffer, 16 floor buffer, 17 wall buffer (frames into the 5-frame window / 5, 0 idle)
18 launch-pad buffer (/ 4, 0 idle)
19-20 floor normal x, y       21-22 ceiling normal x, y
23 jump gravity active (jump held and rising)
24 time remaining (fraction of the limit)
25 exit switch activated
26-27 vector to the current objective (switch, then exit door) / (1056, 600)
28 path distance to the objective / max_distance (1 if unreachable)
29-30 vector to the nearest hazard / 240 px (clipped; 0 if none within range)
31 distance to the nearest hazard / 240 px (1 if none within range)
Hazards: deadly or arming mines, drones, death balls, thwumps, shove thwumps."""

REACHABILITY_DOC = """Index by index, all float32 in [-1, 1], from ninjarl.nav's analysis of the level:
0 path distance to the exit switch / max_distance (1 if unreachable)
1 path distance to the exit door / max_distance (1 if unreachable)
2 path distance to the current objective / max_distance
3 the switch is reachable from the spawn      4 the exit is reachable from the switch
5 the ninja's sub-cell is reachable           6 reachable fraction of the level
7-8 unit direction to the neighbouring sub-cell closest to the objective (0 if none closer)
9 the objective is reachable from here"""


def load_level(source: LevelSource, name: str | None = None) -> Level:
    """A Level from a Level, raw map bytes or a path to a map file."""
    if isinstance(source, Level):
        return source
    if isinstance(source, (bytes, bytearray)):
        return build_level(bytes(source), name)
    path = Path(source)
    return build_level(path.read_bytes(), name or str(path))


@jit
def _sub_cell(x, y):
    sx = min(max(int(math.floor(x / SUB_CELL)), 0), 87)
    sy = min(max(int(math.floor(y / SUB_CELL)), 0), 49)
    return sx, sy


@jit
def _objective_distance(st, n, env_i, dist_switch, dist_exit, max_dist):
    lv = st.env_i[n, V_LEVEL]
    sx, sy = _sub_cell(st.ninja_f[n, X], st.ninja_f[n, Y])
    d = dist_exit[lv, sx, sy] if env_i[n, I_SWITCH] != 0 else dist_switch[lv, sx, sy]
    return min(d, max_dist) if math.isfinite(d) else max_dist


@jit
def _potential(st, n, env_i, dist_switch, dist_exit, rew):
    d = _objective_distance(st, n, env_i, dist_switch, dist_exit, rew[R_MAX_DIST])
    return -rew[R_SCALE] * d / rew[R_MAX_DIST]


@jit
def _switch_activated(bank, st, n, lvl_i):
    e = lvl_i[st.env_i[n, V_LEVEL], L_SWITCH]
    return e >= 0 and st.ent_i[n, e, E_ACTIVE] == 0


@jit
def _start_episode(bank, st, n, level, lvl_i, env_f, env_i, dist_switch, dist_exit, rew):
    reset_env(bank, st, n, level)
    env_i[n, I_FRAMES] = 0
    env_i[n, I_STEPS] = 0
    env_i[n, I_SWITCH] = 0
    env_i[n, I_ANCHOR_FRAME] = 0
    env_f[n, F_ANCHOR_X] = st.ninja_f[n, X]
    env_f[n, F_ANCHOR_Y] = st.ninja_f[n, Y]
    env_f[n, F_RETURN] = 0.0
    env_f[n, F_PHI] = _potential(st, n, env_i, dist_switch, dist_exit, rew)


@jit
def reset_kernel(bank, st, ids, levels, lvl_i, env_f, env_i, dist_switch, dist_exit, rew):
    for k in range(ids.shape[0]):
        _start_episode(bank, st, ids[k], levels[k], lvl_i, env_f, env_i, dist_switch,
                       dist_exit, rew)


@jit
def step_kernel(bank, st, actions, action_bytes, repeat, max_frames, stuck_frames, stuck_radius,
                gamma, rew, lvl_i, env_f, env_i, dist_switch, dist_exit, near,
                rewards, terminated, truncated):
    """Advance every env by one step of `repeat` frames; write reward and episode flags."""
    for n in range(actions.shape[0]):
        h, j = decode_input(action_bytes[actions[n]])
        frames = 0
        for _ in range(repeat):
            tick(bank, st, n, h, j, near)
            frames += 1
            if episode_over(st, n):
                break
        env_i[n, I_FRAMES] += frames
        env_i[n, I_STEPS] += 1
        state = st.ninja_i[n, STATE]
        won = state == ST_CELEBRATING
        dead = state == ST_DEAD or state == ST_DYING
        r = rew[R_TIME] * frames
        if env_i[n, I_SWITCH] == 0 and _switch_activated(bank, st, n, lvl_i):
            env_i[n, I_SWITCH] = 1
            r += rew[R_SWITCH]
        if won:
            r += rew[R_COMPLETION]
        if dead:
            r += rew[R_DEATH]
        phi = 0.0 if (won or dead) else _potential(st, n, env_i, dist_switch, dist_exit, rew)
        r += gamma * phi - env_f[n, F_PHI]
        env_f[n, F_PHI] = phi
        env_f[n, F_RETURN] += r
        rewards[n] = r
        terminated[n] = won or dead
        stuck = False
        if stuck_frames > 0:
            dx = st.ninja_f[n, X] - env_f[n, F_ANCHOR_X]
            dy = st.ninja_f[n, Y] - env_f[n, F_ANCHOR_Y]
            if dx * dx + dy * dy > stuck_radius * stuck_radius:
                env_f[n, F_ANCHOR_X] = st.ninja_f[n, X]
                env_f[n, F_ANCHOR_Y] = st.ninja_f[n, Y]
                env_i[n, I_ANCHOR_FRAME] = env_i[n, I_FRAMES]
            stuck = env_i[n, I_FRAMES] - env_i[n, I_ANCHOR_FRAME] >= stuck_frames
        truncated[n] = not terminated[n] and (env_i[n, I_FRAMES] >= max_frames or stuck)


@jit
def _clip1(v):
    return min(max(v, -1.0), 1.0)


@jit
def _buffer_feature(value, window):
    return 0.0 if value < 0 else (value + 1) / window


@jit
def game_state_kernel(bank, st, ids, lvl_i, env_i, dist_switch, dist_exit, max_frames,
                      max_dist, out):
    """Fill out[k] with the game_state vector of env ids[k] (layout: GAME_STATE_DOC)."""
    for k in range(ids.shape[0]):
        n = ids[k]
        lv = st.env_i[n, V_LEVEL]
        f = st.ninja_f
        i = st.ninja_i
        o = out[k]
        x = f[n, X]
        y = f[n, Y]
        o[0] = _clip1(x / WORLD_W * 2 - 1)
        o[1] = _clip1(y / WORLD_H * 2 - 1)
        o[2] = _clip1(f[n, VX] / SPEED_NORM)
        o[3] = _clip1(f[n, VY] / SPEED_NORM)
        for s in range(6):
            o[4 + s] = 1.0 if i[n, STATE] == s else 0.0
        o[10] = float(i[n, AIRBORN])
        o[11] = float(i[n, WALLED])
        o[12] = f[n, WALL_NORMAL]
        o[13] = min(i[n, JUMP_DURATION] / MAX_JUMP_DURATION, 1.0)
        o[14] = float(i[n, JUMP_INPUT_OLD])
        o[15] = _buffer_feature(i[n, JUMP_BUFFER], 5.0)
        o[16] = _buffer_feature(i[n, FLOOR_BUFFER], 5.0)
        o[17] = _buffer_feature(i[n, WALL_BUFFER], 5.0)
        o[18] = _buffer_feature(i[n, LP_BUFFER], 4.0)
        o[19] = f[n, FLOOR_NX]
        o[20] = f[n, FLOOR_NY]
        o[21] = f[n, CEIL_NX]
        o[22] = f[n, CEIL_NY]
        o[23] = 1.0 if f[n, GRAVITY] == GRAVITY_JUMP else 0.0
        o[24] = max(1.0 - env_i[n, I_FRAMES] / max_frames, 0.0)
        switched = env_i[n, I_SWITCH] != 0
        o[25] = 1.0 if switched else 0.0
        target = lvl_i[lv, L_DOOR] if switched else lvl_i[lv, L_SWITCH]
        if target >= 0:
            o[26] = _clip1((st.ent_f[n, target, E_X] - x) / WORLD_W)
            o[27] = _clip1((st.ent_f[n, target, E_Y] - y) / WORLD_H)
        else:
            o[26] = 0.0
            o[27] = 0.0
        o[28] = _objective_distance(st, n, env_i, dist_switch, dist_exit, max_dist) / max_dist
        best = HAZARD_RANGE * HAZARD_RANGE
        hx = 0.0
        hy = 0.0
        for e in range(bank.n_ent[lv]):
            if st.ent_i[n, e, E_ACTIVE] == 0:
                continue
            t = bank.ent_si[lv, e, ES_TYPE]
            if t == T_MINE or t == T_TOGGLE_MINE:
                if st.ent_i[n, e, E_STATE] == 1:          # safe toggle mine
                    continue
            elif not (t == T_ZAP_DRONE or t == T_MINI_DRONE or t == T_DEATH_BALL
                      or t == T_THWUMP or t == T_SHOVE_THWUMP):
                continue
            dx = st.ent_f[n, e, E_X] - x
            dy = st.ent_f[n, e, E_Y] - y
            d2 = dx * dx + dy * dy
            if d2 < best:
                best = d2
                hx = dx
                hy = dy
        o[29] = hx / HAZARD_RANGE
        o[30] = hy / HAZARD_RANGE
        o[31] = math.sqrt(best) / HAZARD_RANGE


@jit
def reachability_kernel(st, ids, env_i, reachable, dist_switch, dist_exit, switch_ok, exit_ok,
                        fraction, max_dist, out):
    """Fill out[k] with the reachability features of env ids[k] (layout: REACHABILITY_DOC)."""
    for k in range(ids.shape[0]):
        n = ids[k]
        lv = st.env_i[n, V_LEVEL]
        sx, sy = _sub_cell(st.ninja_f[n, X], st.ninja_f[n, Y])
        o = out[k]
        ds = dist_switch[lv, sx, sy]
        de = dist_exit[lv, sx, sy]
        o[0] = min(ds, max_dist) / max_dist if math.isfinite(ds) else 1.0
        o[1] = min(de, max_dist) / max_dist if math.isfinite(de) else 1.0
        field = dist_exit if env_i[n, I_SWITCH] != 0 else dist_switch
        here = field[lv, sx, sy]
        o[2] = min(here, max_dist) / max_dist if math.isfinite(here) else 1.0
        o[3] = 1.0 if switch_ok[lv] else 0.0
        o[4] = 1.0 if exit_ok[lv] else 0.0
        o[5] = 1.0 if reachable[lv, sx, sy] else 0.0
        o[6] = fraction[lv]
        best = here
        bx = 0
        by = 0
        for ox in range(-1, 2):
            for oy in range(-1, 2):
                nx = sx + ox
                ny = sy + oy
                if 0 <= nx < 88 and 0 <= ny < 50 and field[lv, nx, ny] < best:
                    best = field[lv, nx, ny]
                    bx = ox
                    by = oy
        norm = math.sqrt(bx * bx + by * by)
        o[7] = bx / norm if norm > 0 else 0.0
        o[8] = by / norm if norm > 0 else 0.0
        o[9] = 1.0 if math.isfinite(here) else 0.0


def uniform_sampler(env_index: int, rng: np.random.Generator, n_levels: int) -> int:
    return int(rng.integers(n_levels))


class Engine:
    """N environments over a fixed list of levels; which level each episode plays is decided
    by ``level_sampler(env_index, rng) -> level index`` (uniform by default) or explicitly by
    :meth:`reset`. Observations are written into preallocated arrays ``self.obs[key]`` of shape
    [N, ...]; only the keys in ``config.observations`` are computed.
    """

    def __init__(self, levels: Sequence[LevelSource], num_envs: int, config: EnvConfig,
                 level_sampler: LevelSampler | None = None, seed: int | None = None):
        if not levels:
            raise ValueError("Engine needs at least one level")
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.config = config
        self.levels = [load_level(src) for src in levels]
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        self.level_sampler = level_sampler
        self.sim = BatchSimulator(self.levels, np.zeros(num_envs, np.int64))
        self._near = self.sim._near

        navs = [analyze_level(level) for level in self.levels]
        nav = stack_navs(navs)
        self.navs = navs
        self._reachable = nav["reachable"]
        self._dist_switch = nav["dist_to_switch"].astype(np.float64)
        self._dist_exit = nav["dist_to_exit"].astype(np.float64)
        self._switch_ok = nav["switch_reachable"]
        self._exit_ok = nav["exit_reachable"]
        self._fraction = nav["reachable_fraction"].astype(np.float64)

        self._lvl_i = np.full((len(self.levels), 2), -1, np.int64)
        for k, level in enumerate(self.levels):
            switches = np.flatnonzero(level.ent_si[:, ES_TYPE] == T_EXIT_SWITCH)
            if len(switches):
                self._lvl_i[k] = (switches[0], level.ent_si[switches[0], ES_DOOR_OF])

        r = config.reward
        self._rew = np.array([r.completion, r.death, r.switch, r.time_per_frame,
                              config.shaping_scale, r.max_distance], np.float64)
        self._action_bytes = np.array(ACTION_TO_INPUT_BYTE, np.uint8)
        self.env_f = np.zeros((num_envs, 4))
        self.env_i = np.zeros((num_envs, 4), np.int64)
        self.rewards = np.zeros(num_envs, np.float32)
        self.terminated = np.zeros(num_envs, bool)
        self.truncated = np.zeros(num_envs, bool)
        self._all = np.arange(num_envs, dtype=np.int64)

        self.obs = self._allocate_observations()
        self._renderer = None
        if any(k in config.observations for k in ("player_frame", "global_view")):
            from ninjarl.draw import raster
            layers = [raster.static_layers(level) for level in self.levels]
            self._renderer = raster
            self._static_full = np.stack([full for full, _ in layers])
            self._static_small = np.stack([small for _, small in layers])
        self._graph = None
        if "graph" in config.observations:
            self._graph = [build_graph(nv, level) for nv, level in zip(navs, self.levels)]

    # ---- spaces ---------------------------------------------------------------------------------
    def observation_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype, float, float]]:
        """key -> (shape, dtype, low, high) of one environment's observation."""
        shapes = {
            "player_frame": ((84, 84, 1), np.uint8, 0, 255),
            "global_view": ((100, 176, 1), np.uint8, 0, 255),
            "game_state": ((GAME_STATE_SIZE,), np.float32, -1.0, 1.0),
            "reachability": ((REACHABILITY_SIZE,), np.float32, -1.0, 1.0),
        }
        if "graph" in self.config.observations:
            spec = graph_spec()
            bounds = {"node_features": (-1.0, 1.0), "node_mask": (0, 1),
                      "edge_index": (0, spec["node_features"]["shape"][0] - 1),
                      "edge_mask": (0, 1), "edge_features": (-1.0, 1.0)}
            for key, (low, high) in bounds.items():
                shapes[f"graph_{key}"] = (tuple(spec[key]["shape"]), np.dtype(spec[key]["dtype"]),
                                          low, high)
        return {k: v for k, v in shapes.items()
                if k in self.config.observations or (k.startswith("graph_")
                                                      and "graph" in self.config.observations)}

    def _allocate_observations(self):
        return {key: np.zeros((self.num_envs, *shape), dtype)
                for key, (shape, dtype, _, _) in self.observation_shapes().items()}

    # ---- episodes -------------------------------------------------------------------------------
    def reset(self, ids: np.ndarray | None = None, levels: np.ndarray | None = None) -> None:
        """Start new episodes in envs `ids` (all by default) on `levels` (sampled if None)."""
        ids = self._all if ids is None else np.asarray(ids, np.int64)
        if levels is None:
            levels = np.array([self._sample_level(int(n)) for n in ids], np.int64)
        levels = np.broadcast_to(np.asarray(levels, np.int64), ids.shape).copy()
        if len(levels) and (levels.min() < 0 or levels.max() >= len(self.levels)):
            raise ValueError(f"level index out of range 0..{len(self.levels) - 1}: {levels}")
        reset_kernel(self.sim.bank, self.sim.state, ids, levels, self._lvl_i, self.env_f,
                     self.env_i, self._dist_switch, self._dist_exit, self._rew)

    def _sample_level(self, env_index: int) -> int:
        if self.level_sampler is None:
            return uniform_sampler(env_index, self.rng, len(self.levels))
        return int(self.level_sampler(env_index, self.rng))

    def step(self, actions: np.ndarray) -> None:
        """Advance all envs one step; fills self.rewards / terminated / truncated."""
        actions = np.asarray(actions, np.int64).reshape(self.num_envs)
        if actions.min() < 0 or actions.max() > 5:
            raise ValueError(f"actions must be in 0..5, got {actions}")
        c = self.config
        step_kernel(self.sim.bank, self.sim.state, actions, self._action_bytes,
                    c.action_repeat, c.max_frames, c.stuck_frames, c.stuck_radius, c.gamma,
                    self._rew, self._lvl_i, self.env_f, self.env_i, self._dist_switch,
                    self._dist_exit, self._near, self.rewards, self.terminated, self.truncated)

    # ---- observations and infos -----------------------------------------------------------------
    def observe(self, ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Compute the observations of envs `ids` (all by default) into self.obs."""
        ids = self._all if ids is None else np.asarray(ids, np.int64)
        bank, st, c = self.sim.bank, self.sim.state, self.config
        max_dist = c.reward.max_distance
        if "game_state" in self.obs:
            out = self.obs["game_state"]
            buf = out if ids is self._all else np.empty((len(ids), GAME_STATE_SIZE), np.float32)
            game_state_kernel(bank, st, ids, self._lvl_i, self.env_i,
                              self._dist_switch, self._dist_exit, c.max_frames, max_dist, buf)
            if buf is not out:
                out[ids] = buf
        if "reachability" in self.obs:
            out = self.obs["reachability"]
            buf = out if ids is self._all else np.empty((len(ids), REACHABILITY_SIZE), np.float32)
            reachability_kernel(st, ids, self.env_i, self._reachable, self._dist_switch,
                                self._dist_exit, self._switch_ok, self._exit_ok, self._fraction,
                                max_dist, buf)
            if buf is not out:
                out[ids] = buf
        if "player_frame" in self.obs:
            self._renderer.render_player_frames(self._static_full, bank, st, ids,
                                                self.obs["player_frame"])
        if "global_view" in self.obs:
            self._renderer.render_global_views(self._static_small, bank, st, ids,
                                               self.obs["global_view"])
        if self._graph is not None:
            for n in ids:
                graph = self._graph[int(st.env_i[n, V_LEVEL])]
                for key, value in graph.items():
                    self.obs[f"graph_{key}"][n] = value
                if self.env_i[n, I_SWITCH]:
                    features = self.obs["graph_node_features"][n]
                    features[:, objective_feature_index] = features[:, EXIT_DIST_FEATURE]
        return self.obs

    def info(self, n: int) -> dict:
        """The info dict of env n (SB3's Monitor/evaluation keys included)."""
        st = self.sim.state
        state = int(st.ninja_i[n, STATE])
        dead = state in (ST_DEAD, ST_DYING)
        cause = int(st.ninja_i[n, DEATH_CAUSE])
        lv = int(st.env_i[n, V_LEVEL])
        return {
            "is_success": state == ST_CELEBRATING,
            "level": self.levels[lv].name,
            "level_index": lv,
            "frames": int(self.env_i[n, I_FRAMES]),
            "death_cause": DEATH_CAUSES.get(cause, "") if dead else "",
            "switch_activated": bool(self.env_i[n, I_SWITCH]),
        }

    def episode_summary(self, n: int) -> dict:
        """SB3 Monitor-style episode statistics: return, length in steps, frames."""
        return {"r": float(self.env_f[n, F_RETURN]), "l": int(self.env_i[n, I_STEPS]),
                "t": float(self.env_i[n, I_FRAMES]) / 60.0}
