"""The environment engine shared by NinjaEnv and the vector envs.

One :class:`Engine` owns a :class:`~ninjarl.sim.BatchSimulator` for N environments and does,
in compiled loops over all environments at once: actions → frames (action repeat), episode
ends, rewards (with path-distance shaping) in :mod:`ninjarl.env.rewards`, the vector
observations in :mod:`ninjarl.env.observations`, images in :mod:`ninjarl.draw.raster`,
reachability from :mod:`ninjarl.nav`. Single, vector and replay envs are thin adapters over
this class, so the same level and inputs give identical observations in all of them.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..nav import build_graph, graph_spec, level_analysis, objective_feature_index
from ..nav.graph import EXIT_DIST_FEATURE
from ..sim import BatchSimulator, LevelSource, load_level
from ..sim.constants import (
    DEATH_CAUSES,
    ST_CELEBRATING,
    ST_DEAD,
    ST_DYING,
    T_EXIT_SWITCH,
)
from ..sim.layout import DEATH_CAUSE, ES_DOOR_OF, ES_TYPE, STATE, V_LEVEL
from ..sim.replay import ACTION_TO_INPUT_BYTE
from .config import MAX_ENVS, SUBTASK_KEY, EnvConfig, global_view_shape
from .objective import objective_fields
from .observations import (
    GAME_STATE_SIZE,
    HAZARD_SLOTS,
    HAZARDS_SIZE,
    REACHABILITY_SIZE,
    SURROUNDINGS_SIZE,
    game_state_kernel,
    hazards_kernel,
    reachability_kernel,
    solid_fraction,
    surroundings_kernel,
)
from .rewards import (
    ENV_I_COLUMNS,
    F_RETURN,
    GRID_CELLS,
    I_FRAMES,
    I_START_FRAME,
    I_STEPS,
    I_SWITCH,
    reset_kernel,
    start_from_plan,
    step_kernel,
    stuck,
)
from .subtasks import SUBTASK_FEATURES, SUBTASKS, mine_entities, subtask_kernel

LevelSampler = Callable[[int, np.random.Generator], int]


def uniform_sampler(env_index: int, rng: np.random.Generator, n_levels: int) -> int:
    return int(rng.integers(n_levels))


def observation_shapes(config: EnvConfig) -> dict[str, tuple[tuple[int, ...], np.dtype, float, float]]:
    """key -> (shape, dtype, low, high) of one environment's observation under ``config``
    (known without building an engine: the shapes depend on the observation keys and the
    global view's scale only)."""
    view_h, view_w = global_view_shape(config.global_view_scale)
    shapes = {
        "player_frame": ((84, 84, 1), np.uint8, 0, 255),
        "global_view": ((view_h, view_w, 1), np.uint8, 0, 255),
        "game_state": ((GAME_STATE_SIZE,), np.float32, -1.0, 1.0),
        "reachability": ((REACHABILITY_SIZE,), np.float32, -1.0, 1.0),
        "surroundings": ((SURROUNDINGS_SIZE,), np.float32, -1.0, 1.0),
        "hazards": ((HAZARDS_SIZE,), np.float32, -1.0, 1.0),
        # the last column counts achievements (locked doors opened): no upper bound
        SUBTASK_KEY: ((len(SUBTASKS), len(SUBTASK_FEATURES)), np.float32, -1.0, np.inf),
    }
    if "graph" in config.observations:
        spec = graph_spec()
        bounds = {"node_features": (-1.0, 1.0), "node_mask": (0, 1),
                  "edge_index": (0, spec["node_features"]["shape"][0] - 1),
                  "edge_mask": (0, 1), "edge_features": (-1.0, 1.0)}
        for key, (low, high) in bounds.items():
            shapes[f"graph_{key}"] = (tuple(spec[key]["shape"]), np.dtype(spec[key]["dtype"]),
                                      low, high)
    return {k: v for k, v in shapes.items()
            if k in config.observations or (k.startswith("graph_") and "graph" in config.observations)}


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
        if not 1 <= num_envs <= MAX_ENVS:
            raise ValueError(f"envs: must be in 1..{MAX_ENVS:,}, got {num_envs:,}")
        self.config = config
        self.levels = [load_level(src) for src in levels]
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        self.level_sampler = level_sampler
        self.sim = BatchSimulator(self.levels, np.zeros(num_envs, np.int64))
        self._near = self.sim._near

        navs = [level_analysis(level) for level in self.levels]
        self.navs = navs
        # only what the kernels read: every level's grids together are large (3,500 levels)
        self._reachable = np.stack([nav.reachable for nav in navs])
        self._objective = objective_fields(self.levels, navs)
        self._switch_ok = np.array([nav.switch_reachable for nav in navs])
        self._exit_ok = np.array([nav.exit_reachable for nav in navs])
        self._fraction = np.array([nav.reachable_fraction for nav in navs], np.float64)

        self._lvl_i = np.full((len(self.levels), 2), -1, np.int64)
        for k, level in enumerate(self.levels):
            switches = np.flatnonzero(level.ent_si[:, ES_TYPE] == T_EXIT_SWITCH)
            if len(switches):
                self._lvl_i[k] = (switches[0], level.ent_si[switches[0], ES_DOOR_OF])

        r = config.reward
        self._rew = np.array([r.completion, r.death, r.switch, r.time_per_frame,
                              config.shaping_scale, r.max_distance, r.novelty], np.float64)
        self._action_bytes = np.array(ACTION_TO_INPUT_BYTE, np.uint8)
        self.env_f = np.zeros((num_envs, 4))
        self.env_i = np.zeros((num_envs, ENV_I_COLUMNS), np.int64)
        self.visited = np.zeros((num_envs, GRID_CELLS), np.uint8)
        self._repeat_frames = np.full(num_envs, config.action_repeat, np.int64)
        self.rewards = np.zeros(num_envs, np.float32)
        self.terminated = np.zeros(num_envs, bool)
        self.truncated = np.zeros(num_envs, bool)
        self._all = np.arange(num_envs, dtype=np.int64)

        self.obs = self._allocate_observations()
        self._plans: list[np.ndarray | None] | None = None
        self._plan_share = 0.0
        self._renderer = None
        if any(k in config.observations for k in ("player_frame", "global_view")):
            from ninjarl.draw import raster
            layers = [raster.static_layers(level, config.global_view_scale)
                      for level in self.levels]
            self._renderer = raster
            self._static_full = np.stack([full for full, _ in layers])
            self._static_small = np.stack([small for _, small in layers])
        self._solid = None
        if "surroundings" in config.observations:
            self._solid = np.stack([solid_fraction(level) for level in self.levels])
        self._graph = None
        if "graph" in config.observations:
            self._graph = [build_graph(nv, level) for nv, level in zip(navs, self.levels)]
        self._mine_entity = None
        if SUBTASK_KEY in config.observations:
            self._mine_entity = mine_entities(self.levels)

    # ---- spaces ---------------------------------------------------------------------------------
    def observation_shapes(self) -> dict[str, tuple[tuple[int, ...], np.dtype, float, float]]:
        """key -> (shape, dtype, low, high) of one environment's observation."""
        return observation_shapes(self.config)

    def _allocate_observations(self):
        return {key: np.zeros((self.num_envs, *shape), dtype)
                for key, (shape, dtype, _, _) in self.observation_shapes().items()}

    # ---- episodes -------------------------------------------------------------------------------
    def reset(self, ids: np.ndarray | None = None, levels: np.ndarray | None = None) -> None:
        """Start new episodes in envs `ids` (all by default) on `levels` (sampled if None)."""
        ids = self._all if ids is None else np.asarray(ids, np.int64)
        sampled = levels is None
        if sampled:
            levels = np.array([self._sample_level(int(n)) for n in ids], np.int64)
        levels = np.broadcast_to(np.asarray(levels, np.int64), ids.shape).copy()
        if len(levels) and (levels.min() < 0 or levels.max() >= len(self.levels)):
            raise ValueError(f"level index out of range 0..{len(self.levels) - 1}: {levels}")
        reset_kernel(self.sim.bank, self.sim.state, ids, levels, self._lvl_i, self.env_f,
                     self.env_i, self.visited, self._objective, self._rew)
        if sampled and self._plans is not None:
            self._start_along_plans(ids, levels)

    def set_start_plans(self, plans: Sequence[np.ndarray | None], share: float) -> None:
        """Start a ``share`` of the episodes whose level :meth:`reset` samples at a state of
        that level's plan (``plans[level]``: the input bytes, one per frame, of a winning run
        of it; None for a level without one), reached by playing a uniformly drawn number of
        whole steps of it, short of its last frame. ``info["start_frame"]`` says how many
        frames an episode started with (0: at the spawn). Episodes on levels given to
        :meth:`reset` start at the spawn. ``share`` 0 or no plans: every episode does."""
        if len(plans) != len(self.levels):
            raise ValueError(f"start plans: {len(plans)} for {len(self.levels)} levels")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"start plans: share must be in [0, 1], got {share!r}")
        self._plans = [None if plan is None else np.ascontiguousarray(plan, np.uint8)
                       for plan in plans]
        self._plan_share = float(share)
        if share == 0.0 or all(plan is None for plan in self._plans):
            self._plans = None

    def _start_along_plans(self, ids: np.ndarray, levels: np.ndarray) -> None:
        step = self.config.action_repeat
        for n, level in zip(ids.tolist(), levels.tolist()):
            plan = self._plans[level]
            if plan is None or self.rng.random() >= self._plan_share:
                continue
            frames = int(self.rng.integers((len(plan) - 1) // step + 1)) * step
            if frames and not start_from_plan(
                    self.sim.bank, self.sim.state, n, plan, frames, self._lvl_i, self.env_f,
                    self.env_i, self.visited, self._objective, self._rew, self._near):
                raise ValueError(f"start plans: the plan of level {self.levels[level].name} "
                                 f"ends the episode within its first {frames} frames: it is "
                                 "not a winning run of this level")

    def _sample_level(self, env_index: int) -> int:
        if self.level_sampler is None:
            return uniform_sampler(env_index, self.rng, len(self.levels))
        return int(self.level_sampler(env_index, self.rng))

    def step(self, actions: np.ndarray) -> None:
        """Advance all envs one step: each holds its action (0..5) for ``action_repeat``
        frames. Fills self.rewards / terminated / truncated."""
        actions = np.asarray(actions, np.int64).reshape(self.num_envs, 1)
        self._step(actions, self._repeat_frames)

    def step_frames(self, frame_actions: np.ndarray, n_frames: np.ndarray | None = None) -> None:
        """Advance all envs one step whose frames play given actions: env n plays
        ``frame_actions[n, f]`` on its frame f (shape [N, F]), for ``n_frames[n]`` frames
        (default F; the last column is held beyond F). Rewards, episode ends and counters are
        those of one :meth:`step`, through the same compiled kernel."""
        frame_actions = np.ascontiguousarray(frame_actions, np.int64)
        if frame_actions.ndim != 2 or frame_actions.shape[0] != self.num_envs \
                or frame_actions.shape[1] == 0:
            raise ValueError(f"frame_actions must have shape ({self.num_envs}, frames >= 1), "
                             f"got {frame_actions.shape}")
        if n_frames is None:
            n_frames = np.full(self.num_envs, frame_actions.shape[1], np.int64)
        n_frames = np.asarray(n_frames, np.int64).reshape(self.num_envs)
        if n_frames.min() < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self._step(frame_actions, n_frames)

    def _step(self, frame_actions: np.ndarray, n_frames: np.ndarray) -> None:
        if frame_actions.min() < 0 or frame_actions.max() > 5:
            raise ValueError(f"actions must be in 0..5, got {frame_actions}")
        c = self.config
        step_kernel(self.sim.bank, self.sim.state, frame_actions, n_frames, self._action_bytes,
                    c.max_frames, c.stuck_frames, c.stuck_radius, c.stuck_fails, c.gamma, self._rew,
                    self._lvl_i, self.env_f, self.env_i, self.visited, self._objective,
                    self._near, self.rewards, self.terminated, self.truncated)

    # ---- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray | dict]:
        """A copy of everything that decides what the envs do next: the simulator state, the
        episode bookkeeping and the level-sampling RNG. :meth:`load_state_dict` restores it
        into an engine built with the same levels, env count and config."""
        return {"sim": self.sim.state_dict(), "env_f": self.env_f.copy(),
                "env_i": self.env_i.copy(), "visited": self.visited.copy(),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`; a mismatched shape is an error naming the array."""
        self.sim.load_state_dict(state["sim"])
        for name in ("env_f", "env_i", "visited"):
            target, value = getattr(self, name), np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(f"engine state {name}: shape {value.shape}, this engine has "
                                 f"{target.shape}")
            target[...] = value
        self.rng.bit_generator.state = state["rng"]

    # ---- observations and infos -----------------------------------------------------------------
    def observe(self, ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Compute the observations of envs `ids` (all by default) into self.obs."""
        ids = self._all if ids is None else np.asarray(ids, np.int64)
        bank, st, c = self.sim.bank, self.sim.state, self.config
        max_dist = c.reward.max_distance
        if "game_state" in self.obs:
            out = self.obs["game_state"]
            buf = out if ids is self._all else np.empty((len(ids), GAME_STATE_SIZE), np.float32)
            game_state_kernel(bank, st, ids, self._lvl_i, self.env_i, self._objective,
                              c.max_frames, max_dist, buf)
            if buf is not out:
                out[ids] = buf
        if "reachability" in self.obs:
            out = self.obs["reachability"]
            buf = out if ids is self._all else np.empty((len(ids), REACHABILITY_SIZE), np.float32)
            reachability_kernel(st, ids, self.env_i, self._reachable, self._objective,
                                self._switch_ok, self._exit_ok, self._fraction, max_dist, buf)
            if buf is not out:
                out[ids] = buf
        if "surroundings" in self.obs:
            out = self.obs["surroundings"]
            buf = out if ids is self._all else np.empty((len(ids), SURROUNDINGS_SIZE), np.float32)
            surroundings_kernel(bank, st, ids, self.env_i, self._solid, self._objective, buf)
            if buf is not out:
                out[ids] = buf
        if "hazards" in self.obs:
            out = self.obs["hazards"]
            buf = out if ids is self._all else np.empty((len(ids), HAZARDS_SIZE), np.float32)
            hazards_kernel(bank, st, ids, np.empty(HAZARD_SLOTS), buf)
            if buf is not out:
                out[ids] = buf
        if "player_frame" in self.obs:
            self._renderer.render_player_frames(self._static_full, bank, st, ids,
                                                self.obs["player_frame"])
        if "global_view" in self.obs:
            self._renderer.render_global_views(self._static_small, bank, st, ids,
                                               self.obs["global_view"])
        if self._mine_entity is not None:
            out = self.obs[SUBTASK_KEY]
            buf = out if ids is self._all else np.empty((len(ids), *out.shape[1:]), np.float32)
            subtask_kernel(bank, st, ids, self._lvl_i, self.env_i, self._objective,
                           self._mine_entity, max_dist, buf)
            if buf is not out:
                out[ids] = buf
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
            "start_frame": int(self.env_i[n, I_START_FRAME]),
            "stuck": (not dead and state != ST_CELEBRATING
                      and bool(stuck(self.env_i, n, self.config.stuck_frames))),
        }

    def episode_summary(self, n: int) -> dict:
        """SB3 Monitor-style episode statistics: return, length in steps, frames."""
        return {"r": float(self.env_f[n, F_RETURN]), "l": int(self.env_i[n, I_STEPS]),
                "t": float(self.env_i[n, I_FRAMES]) / 60.0}
