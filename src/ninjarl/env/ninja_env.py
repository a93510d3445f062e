"""NinjaEnv: one N++ game as a Gymnasium environment."""
from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from ..sim import LevelSource
from ..sim.mapfile import bundled_map_path
from .config import EnvConfig
from .engine import Engine, LevelSampler
from .observations import (
    GAME_STATE_DOC,
    HAZARDS_DOC,
    HAZARDS_SIZE,
    REACHABILITY_DOC,
    SURROUNDINGS_DOC,
    SURROUNDINGS_SIZE,
)
from .spaces import action_space, env_slice, observation_space


def default_levels() -> list[LevelSource]:
    """The level used when none is given: the bundled test map ``simple-walk``."""
    return [bundled_map_path("test/simple-walk")]


class NinjaEnv(gym.Env):
    __doc__ = f"""N++: guide the ninja to the exit switch, then through the exit door.

    ## Description
    A faithful, frame-exact simulation of the N++ physics (``ninjarl.sim``). The ninja is a
    circle of radius 10 px with momentum; it runs, slides, jumps, wall-jumps and falls, and dies
    on mines, drones, thwumps, death balls and hard impacts. Levels are 42x23 cells of 24 px.

    ## Action space
    ``Discrete(6)``: 0 noop, 1 left, 2 right, 3 jump, 4 jump+left, 5 jump+right. An action is
    held for ``config.action_repeat`` frames (default 4). Jump reacts to presses and holding:
    holding it longer jumps higher; a new jump needs a release first.

    ## Observation space
    A ``Dict`` with only the keys listed in ``config.observations`` (others cost nothing):
    ``player_frame`` uint8 (84, 84, 1), a 1:1 crop of the rendered level centred on the ninja
    (outside the level drawn as wall); ``global_view`` uint8 (100, 176, 1), the whole 1056x600
    level reduced 6x on both axes (``config.global_view_scale``: 12 gives (50, 88, 1));
    ``game_state`` float32 ({32},) and ``reachability``
    float32 (10,), ``surroundings`` float32 ({SURROUNDINGS_SIZE},) and ``hazards`` float32
    ({HAZARDS_SIZE},), documented below; ``graph_*`` padded graph arrays (``ninjarl.nav``).

    game_state: {GAME_STATE_DOC}

    reachability: {REACHABILITY_DOC}

    surroundings: {SURROUNDINGS_DOC}

    hazards: {HAZARDS_DOC}

    ## Rewards
    ``config.reward`` (:class:`~ninjarl.env.config.RewardConfig`): +1 on completion, -0.5 on
    death, +0.1 when the exit switch is activated, -0.0001 per frame, plus potential-based
    shaping ``gamma * phi(s') - phi(s)`` from the path distance to the current objective
    (phi = 0 at terminal states; ``config.gamma`` must equal the learner's discount), plus
    ``reward.novelty`` (default 0) for each step that ends in a grid cell not yet visited in
    the episode.

    ## Starting state
    The level's spawn, at rest, every entity as loaded. The level is the one requested with
    ``reset(options={{"level": index}})``, else ``level_sampler(0, rng)``, else uniform.

    ## Episode end
    ``terminated`` when the ninja dies or reaches the exit; ``truncated`` (never terminated)
    after ``config.max_frames`` frames (default 5,000) or, if ``config.stuck_frames`` > 0, when
    the ninja stays within ``config.stuck_radius`` px for that many frames. ``info`` holds
    ``is_success``, ``level``, ``level_index``, ``frames``, ``death_cause`` and
    ``switch_activated``. The registered ids add no ``TimeLimit``: the env's own truncation
    (``config.max_steps`` steps, 1,250 by default) is the only step limit.

    ## Gymnasium ids and the evaluation protocol
    ``import ninjarl.env`` registers ``ninjarl/Ninja-v0`` (the built-in level set's training
    split, all seven categories), ``ninjarl/Ninja-<category>-v0`` (one category's training
    split) and ``ninjarl/Ninja-real-v0`` (the five official N++ levels); keyword arguments
    ``categories``, ``split``, ``num_levels``, ``start_level``, ``dataset``, ``levels``,
    ``observations``, ``config``, ``render_mode`` (:mod:`ninjarl.env.registry`). Train on the
    training split; report success on the test split (same categories, unseen levels, disjoint
    by content hash) and on the real levels::

        import gymnasium as gym, ninjarl.env
        venv = gym.make_vec("ninjarl/Ninja-v0", num_envs=64,
                            vectorization_mode="vector_entry_point")   # train on this
        test = gym.make("ninjarl/Ninja-v0", split="test")              # report on this
        real = gym.make("ninjarl/Ninja-real-v0")                       # and on this
        obs, info = test.reset(seed=0)   # info["level"]: the level id

    ``NinjaEnv(levels)`` itself plays the levels it is given (``test/simple-walk`` if none).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(self, levels: Sequence[LevelSource] | None = None,
                 config: EnvConfig | None = None, level_sampler: LevelSampler | None = None,
                 render_mode: str | None = None):
        self.engine = Engine(levels or default_levels(), 1, config or EnvConfig(),
                             level_sampler)
        self.observation_space = observation_space(self.engine)
        self.action_space = action_space()
        self.render_mode = render_mode

    @property
    def config(self) -> EnvConfig:
        return self.engine.config

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.engine.rng = np.random.default_rng(seed)
        level = (options or {}).get("level")
        self.engine.reset(levels=None if level is None else np.array([level]))
        return env_slice(self.engine.observe(), 0), self.engine.info(0)

    def step(self, action):
        engine = self.engine
        engine.step(np.array([int(action)]))
        obs = env_slice(engine.observe(), 0)
        info = engine.info(0)
        terminated, truncated = bool(engine.terminated[0]), bool(engine.truncated[0])
        if terminated or truncated:
            info["episode"] = engine.episode_summary(0)
        return obs, float(engine.rewards[0]), terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from ninjarl.draw.picture import render_rgb
        sim = self.engine.sim
        return render_rgb(sim.levels[int(sim.state.env_i[0, 0])], sim.bank, sim.state, 0)
