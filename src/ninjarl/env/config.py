"""Environment configuration: observation keys, episode limits and rewards, as dataclasses.

Every constant of the reward lives in :class:`RewardConfig`; :class:`EnvConfig` checks at
construction that finishing a level always pays more than dying or timing out, so a
mis-scaled penalty cannot silently teach an agent to avoid the exit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..sim.constants import CELL_DIVISORS, PLAY_H, PLAY_W, WORLD_H, WORLD_W

#: observation names: the images, the feature vectors, and "graph" (five padded arrays)
IMAGE_KEYS = ("player_frame", "global_view")
VECTOR_KEYS = ("game_state", "reachability", "surroundings", "hazards")
#: per-subtask target features of hierarchical agents (:mod:`ninjarl.env.subtasks`)
SUBTASK_KEY = "subtasks"
OBSERVATION_KEYS = IMAGE_KEYS + VECTOR_KEYS + ("graph", SUBTASK_KEY)
#: the observation-space keys of "graph"
GRAPH_KEYS = ("graph_node_features", "graph_node_mask", "graph_edge_index", "graph_edge_mask",
              "graph_edge_features")
STATE_OBSERVATIONS = ("game_state", "reachability")
#: world pixels per global_view pixel that EnvConfig accepts: the divisors of the 24-px cell,
#: so that every cell covers whole pixels (6: 100x176, 4x4 pixels per cell; 12: 50x88, 2x2)
GLOBAL_VIEW_SCALES = CELL_DIVISORS
#: most environments one engine runs: far above any useful batch, and a limit on what a typo
#: (``--envs 1000000000``) can ask to allocate
MAX_ENVS = 65_536


def global_view_shape(scale: int) -> tuple[int, int]:
    """(height, width) of the global view at ``scale`` (one of :data:`GLOBAL_VIEW_SCALES`)."""
    return WORLD_H // scale, WORLD_W // scale


def space_keys(observations: tuple[str, ...]) -> tuple[str, ...]:
    """Observation names -> the observation-space keys they produce (``"graph"`` ->
    :data:`GRAPH_KEYS`)."""
    out: list[str] = []
    for key in observations:
        out.extend(GRAPH_KEYS if key == "graph" else (key,))
    return tuple(out)


@dataclass(frozen=True)
class RewardConfig:
    """Reward terms (per env step unless noted).

    * ``completion`` when the ninja reaches the open exit door (terminal);
    * ``death`` when it dies (terminal);
    * ``switch`` once, on the step the exit switch is activated;
    * ``time_per_frame`` times the frames simulated in the step (action repeat);
    * ``novelty`` on each step that ends with the ninja's centre in a grid cell (24 px) it
      has not been in this episode (the cell it starts in counts as visited): a count-based
      exploration bonus against the frozen agent. Unlike the shaping it changes the optimal
      policy, towards covering ground; 0 (the default) leaves the reward as it was;
    * potential-based shaping ``gamma * phi(s') - phi(s)`` with
      ``phi(s) = -shaping_scale * min(d, max_distance) / max_distance`` where ``d`` is the path
      distance (px) from the ninja to the current objective (switch, then exit door), by way
      of a locked door's switch while that door bars the way (:mod:`ninjarl.env.objective`),
      and ``phi = 0`` at terminal states. Shaping changes no optimal policy (Ng et al., 1999).

    With ``gamma < 1`` the undiscounted sum of the shaping terms is not exactly
    ``-phi(s0)``: every step adds ``(1 - gamma) * -phi`` >= 0, up to
    ``(1 - gamma) * shaping_scale`` per step. ``shaping_scale=None`` (the default) picks the
    largest scale, at most 0.1, for which that drift over a whole episode stays below half the
    completion reward (:meth:`EnvConfig.shaping_scale`).
    """
    completion: float = 1.0
    death: float = -0.5
    switch: float = 0.1
    time_per_frame: float = -0.0001
    shaping_scale: float | None = None
    max_distance: float = 2000.0
    novelty: float = 0.0


@dataclass(frozen=True)
class EnvConfig:
    """What an environment observes and how its episodes end.

    ``action_repeat`` defaults to 4 frames per step: 15 decisions per second, the frame skip of
    the reference environment, and short enough that a one-step jump press still gives a
    controllable hop (a held jump rises for up to 45 frames). ``max_frames`` defaults to 5,000
    frames (83 s of game time, 1,250 steps), 2.7x the longest of the 130 human replays
    (1,848 frames). ``stuck_frames`` (0 = off) truncates an episode once the ninja has stayed
    within ``stuck_radius`` px for that many frames; with ``stuck_fails`` such an episode ends
    as a failure instead: terminated, with the ``death`` reward, so that a policy learns that
    freezing in place is as bad as dying (a training rule: evaluation and the replay env play
    without any stuck cut, by the game's rules). ``gamma`` is the discount of the shaping
    term and must equal the learner's discount. ``global_view_scale`` is the number of world
    pixels per pixel of ``global_view`` (:data:`GLOBAL_VIEW_SCALES`): the view is
    (600 / scale, 1056 / scale, 1), each pixel the mean grey of its block.
    """
    observations: tuple[str, ...] = STATE_OBSERVATIONS
    action_repeat: int = 4
    max_frames: int = 5000
    stuck_frames: int = 0
    stuck_radius: float = 24.0
    stuck_fails: bool = False
    global_view_scale: int = 6
    gamma: float = 0.99
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self):
        object.__setattr__(self, "observations", tuple(self.observations))
        unknown = [k for k in self.observations if k not in OBSERVATION_KEYS]
        if unknown or not self.observations:
            raise ValueError(f"EnvConfig.observations: unknown or empty {unknown or '()'}; "
                             f"choose from {OBSERVATION_KEYS}")
        if self.action_repeat < 1:
            raise ValueError(f"EnvConfig.action_repeat must be >= 1, got {self.action_repeat}")
        if self.max_frames < self.action_repeat:
            raise ValueError(f"EnvConfig.max_frames ({self.max_frames}) must be at least one "
                             f"step of {self.action_repeat} frames")
        if self.stuck_frames < 0:
            raise ValueError(f"EnvConfig.stuck_frames must be >= 0, got {self.stuck_frames}")
        scale = self.global_view_scale
        if isinstance(scale, bool) or not isinstance(scale, int) or scale not in GLOBAL_VIEW_SCALES:
            raise ValueError(f"EnvConfig.global_view_scale must be one of {GLOBAL_VIEW_SCALES} "
                             f"(world pixels per pixel), got {self.global_view_scale!r}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"EnvConfig.gamma must be in (0, 1], got {self.gamma}")
        r = self.reward
        if r.completion <= 0 or r.switch < 0 or r.death > 0 or not r.novelty >= 0:
            raise ValueError("EnvConfig.reward: completion must be > 0, switch >= 0, "
                             "death <= 0, novelty >= 0")
        worst_win, best_death, best_timeout = reward_bounds(self)
        if not worst_win > max(best_death, best_timeout):
            raise ValueError(
                "EnvConfig.reward: a win at the time limit would return "
                f"{worst_win:.4f}, not more than the best death ({best_death:.4f}) or timeout "
                f"({best_timeout:.4f}); reduce reward.time_per_frame, reward.shaping_scale or "
                "reward.novelty")

    def game_rules(self) -> "EnvConfig":
        """This config without the training-only stuck cut: episodes end only as the game
        ends them (a win, a death, the frame limit). Evaluation and replays play by it."""
        return replace(self, stuck_frames=0, stuck_fails=False)

    @property
    def shaping_scale(self) -> float:
        """The shaping scale in use (resolves ``reward.shaping_scale=None``)."""
        if self.reward.shaping_scale is not None:
            return self.reward.shaping_scale
        drift_per_unit = (1 - self.gamma) * max(self.max_steps - 1, 1)
        if drift_per_unit == 0:
            return 0.1
        return min(0.1, 0.5 * self.reward.completion / drift_per_unit)

    @property
    def max_steps(self) -> int:
        return -(-self.max_frames // self.action_repeat)

    def to_dict(self) -> dict:
        """Every setting, with the resolved shaping scale (for config.json)."""
        return asdict(self) | {"shaping_scale": self.shaping_scale}

    @classmethod
    def from_dict(cls, data: dict) -> "EnvConfig":
        data = dict(data)
        reward = RewardConfig(**data.pop("reward", {}))
        data.pop("shaping_scale", None)
        return cls(reward=reward, **data)


def reward_bounds(config: EnvConfig) -> tuple[float, float, float]:
    """Undiscounted episode returns relative to ``-phi(s0)``: (worst win, best death, best
    timeout).

    The worst win comes at the time limit and collects no shaping drift and no novelty bonus;
    the best death comes after one frame, the best timeout at the limit, both with the switch
    bonus, the largest possible shaping drift ``(1 - gamma) * (max_steps - 1) *
    shaping_scale`` and the novelty bonus of every cell inside the border. Every episode's
    shaping sum is ``-phi(s0)`` plus its drift (plus ``gamma * phi(s_T) <= 0`` for a timeout),
    so ``worst win > best death, best timeout`` means finishing at any time within the limit
    returns more than any death or timeout.
    """
    r = config.reward
    drift = (1 - config.gamma) * max(config.max_steps - 1, 0) * config.shaping_scale
    worst_win = r.switch + r.completion + r.time_per_frame * config.max_frames
    novelty = r.novelty * PLAY_W * PLAY_H
    best_death = r.switch + r.death + r.time_per_frame + drift + novelty
    best_timeout = r.switch + r.time_per_frame * config.max_frames + drift + novelty
    return worst_win, best_death, best_timeout
