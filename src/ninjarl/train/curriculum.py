"""Curriculum over level categories: one manager in the training process hands levels to the
environments through their level sampler and advances through stages as the agent succeeds.

Stages are level categories in order (by default ``simplest`` -> ... -> ``exploration``). The
current stage advances when the success rate over its last ``window`` episodes reaches
``threshold`` and at least ``min_episodes`` episodes were played on it. A ``replay_share`` of
episodes replays a uniformly chosen earlier stage, so earlier skills are not forgotten (with
``replay_by_failure``, an earlier stage chosen in proportion to its failure rate, so that the
stages not yet mastered keep being trained); a
``preview_share`` of the others plays a uniformly chosen later stage, so that no category is
unseen until the stages before it are mastered, and a stage the agent already masters from its
previews is passed at once.

Within the chosen stage a level is drawn uniformly, or, with probability ``level_priority``, in
proportion to its learning potential (prioritized level replay, after Jiang et al. 2021, with a
score from episode outcomes instead of value errors): ``p (1 - p)`` of its success rate ``p``
over its last :data:`LEVEL_WINDOW` episodes, which is largest for levels the agent wins about
half the time and near zero for levels it always wins or never wins; a level not yet played
scores the maximum, 1/4, so every level is tried.

Every finished episode is recorded once, under the stage of the level actually played (a
replayed episode counts for its own, earlier stage, never for the current one). The whole state
(stage, per-stage result windows and episode counts, each level's last outcomes) is a
JSON-serialisable dict that goes into checkpoints and is restored exactly on resume.

Usage::

    curriculum = Curriculum(CurriculumConfig(), [entry.category for entry in levels])
    venv = make_vec_env(levels, n, env_config, level_sampler=curriculum.sample)
    ...                                           # for every finished episode:
    curriculum.record(info["level_index"], bool(info["is_success"]))
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..levels import CATEGORIES

#: episodes per level whose outcomes give the level's learning potential (``level_priority``)
LEVEL_WINDOW = 8
#: the score of a level that was never played: the largest p (1 - p)
UNPLAYED_SCORE = 0.25
#: added to every score, so that no level of a stage becomes impossible to draw
SCORE_FLOOR = 0.01
#: added to every earlier stage's failure rate under ``replay_by_failure``: a mastered stage
#: is still replayed, at a twentieth of the weight of one it always fails
REPLAY_FLOOR = 0.05


@dataclass(frozen=True)
class CurriculumConfig:
    """Curriculum settings.

    ``stages``: level categories in the order they are taught. ``window``: how many of a stage's
    latest episodes its success rate is measured over. ``threshold``: the success rate over that
    window needed to advance. ``min_episodes``: episodes a stage must have been played before it
    can be left. ``replay_share``: probability that an episode replays an earlier stage.
    ``replay_by_failure``: choose the replayed stage in proportion to its failure rate over its
    window plus :data:`REPLAY_FLOOR` instead of uniformly.
    ``preview_share``: probability that an episode which does not replay plays a later stage.
    ``level_priority``: probability that the level within the chosen stage is drawn by its
    learning potential rather than uniformly (module docstring).
    """
    stages: tuple[str, ...] = tuple(CATEGORIES)
    window: int = 200
    threshold: float = 0.8
    min_episodes: int = 200
    replay_share: float = 0.15
    replay_by_failure: bool = False
    preview_share: float = 0.0
    level_priority: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages:
            raise ValueError("CurriculumConfig.stages must name at least one stage")
        duplicates = sorted({s for s in self.stages if self.stages.count(s) > 1})
        if duplicates:
            raise ValueError(f"CurriculumConfig.stages has duplicate stage(s) {duplicates}")
        for name in ("window", "min_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"CurriculumConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("threshold", "replay_share", "preview_share", "level_priority"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"CurriculumConfig.{name} must be in [0, 1], "
                                 f"got {getattr(self, name)}")

    def to_dict(self) -> dict:
        """JSON-ready form (``stages`` as a list)."""
        data = asdict(self)
        data["stages"] = list(self.stages)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CurriculumConfig":
        return cls(**{**data, "stages": tuple(data.get("stages", CATEGORIES))})


class Curriculum:
    """The curriculum manager: the level sampler of all environments and the record of results.

    ``level_categories[i]`` is the category of level ``i`` of the environment's level list; every
    stage must have at least one level there. Levels of categories that are not stages are never
    sampled.
    """

    def __init__(self, config: CurriculumConfig, level_categories: Sequence[str]):
        self.config = config
        self.level_categories = list(level_categories)
        stage_of = {name: s for s, name in enumerate(config.stages)}
        # Level indices of each stage, and the stage of each level (-1: not a stage).
        self.stage_levels: list[np.ndarray] = []
        for name in config.stages:
            levels = [i for i, c in enumerate(self.level_categories) if c == name]
            if not levels:
                raise ValueError(f"curriculum stage {name!r} has no levels in the level list")
            self.stage_levels.append(np.asarray(levels, dtype=np.int64))
        self.level_stage = [stage_of.get(c, -1) for c in self.level_categories]
        self._stage = 0
        self.windows: list[deque] = [deque(maxlen=config.window) for _ in config.stages]
        self.episodes: list[int] = [0 for _ in config.stages]
        # The last LEVEL_WINDOW outcomes of every level (1 won, 0 lost), for level_priority.
        self.level_results: list[deque] = [deque(maxlen=LEVEL_WINDOW)
                                           for _ in self.level_categories]

    # -- current stage ---------------------------------------------------------------------

    @property
    def stage(self) -> int:
        """Index of the current stage in ``config.stages``."""
        return self._stage

    @property
    def stage_name(self) -> str:
        return self.config.stages[self._stage]

    @property
    def is_last_stage(self) -> bool:
        return self._stage == len(self.config.stages) - 1

    def success_rate(self, stage: int) -> float:
        """Success rate over the window of ``stage`` (0.0 before its first episode)."""
        window = self.windows[stage]
        return float(np.mean(window)) if window else 0.0

    # -- level sampler ---------------------------------------------------------------------

    def sample(self, env_index: int, rng: np.random.Generator) -> int:
        """Level sampler of the environment: the index of the level for ``env_index``'s next
        episode. With probability ``replay_share`` (from stage 1 on) an earlier stage is replayed
        (chosen uniformly, or by failure rate with ``replay_by_failure``), else with
        probability ``preview_share`` (before the last stage) a uniformly chosen later stage is
        played, otherwise the current stage; then a uniform
        level of that stage, or with probability ``level_priority`` a level drawn in proportion
        to :meth:`level_scores`. All randomness comes from ``rng``, so samples are reproducible
        given its state (and with ``preview_share`` and ``level_priority`` 0 it draws what it
        drew before either existed)."""
        stage = self._stage
        if stage > 0 and rng.random() < self.config.replay_share:
            if self.config.replay_by_failure:
                weights = [1.0 - self.success_rate(s) + REPLAY_FLOOR for s in range(stage)]
                stage = int(rng.choice(stage, p=np.asarray(weights) / sum(weights)))
            else:
                stage = int(rng.integers(stage))
        elif (self.config.preview_share > 0 and not self.is_last_stage
              and rng.random() < self.config.preview_share):
            stage = int(rng.integers(stage + 1, len(self.config.stages)))
        levels = self.stage_levels[stage]
        if self.config.level_priority > 0 and rng.random() < self.config.level_priority:
            weights = self.level_scores(levels) + SCORE_FLOOR
            return int(levels[rng.choice(len(levels), p=weights / weights.sum())])
        return int(levels[rng.integers(len(levels))])

    def level_scores(self, levels: np.ndarray) -> np.ndarray:
        """The learning potential of each of ``levels`` (indices): ``p (1 - p)`` of its success
        rate over its last :data:`LEVEL_WINDOW` episodes, :data:`UNPLAYED_SCORE` if never
        played."""
        scores = np.full(len(levels), UNPLAYED_SCORE)
        for k, level in enumerate(levels):
            results = self.level_results[level]
            if results:
                p = sum(results) / len(results)
                scores[k] = p * (1.0 - p)
        return scores

    # -- results ---------------------------------------------------------------------------

    def record(self, level_index: int, success: bool) -> bool:
        """Count one finished episode on ``level_index``, under the stage of that level, then
        advance while the current stage meets the threshold over its window and has at least
        ``min_episodes`` episodes (a previewed stage may already meet them: it is passed at
        once). Returns True when the stage advanced. Episodes on levels of
        categories that are not stages are not counted."""
        if not 0 <= level_index < len(self.level_stage):
            raise IndexError(f"level index {level_index} out of range "
                             f"(0..{len(self.level_stage) - 1})")
        stage = self.level_stage[level_index]
        if stage < 0:
            return False
        self.windows[stage].append(bool(success))
        self.episodes[stage] += 1
        self.level_results[level_index].append(int(bool(success)))
        return self._maybe_advance()

    def _maybe_advance(self) -> bool:
        advanced = False
        while not (self.is_last_stage or self.episodes[self._stage] < self.config.min_episodes
                   or self.success_rate(self._stage) < self.config.threshold):
            self._stage += 1
            advanced = True
        return advanced

    def stats(self) -> dict[str, float]:
        """Scalars for TensorBoard: the stage index, each stage's windowed success rate and its
        episode count."""
        out = {"curriculum/stage": float(self._stage)}
        for s, name in enumerate(self.config.stages):
            out[f"curriculum/success/{name}"] = self.success_rate(s)
            out[f"curriculum/episodes/{name}"] = float(self.episodes[s])
        return out

    # -- checkpointing ---------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The whole state as a JSON-serialisable dict (stage, per-stage windows and episode
        counts, each level's last outcomes, config)."""
        return {
            "stage": self._stage,
            "windows": {name: [bool(r) for r in self.windows[s]]
                        for s, name in enumerate(self.config.stages)},
            "episodes": {name: int(self.episodes[s]) for s, name in enumerate(self.config.stages)},
            "level_results": [list(results) for results in self.level_results],
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` exactly. The saved config must equal this one's."""
        try:
            saved = CurriculumConfig.from_dict(state["config"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"curriculum state: unreadable config ({e})") from None
        if saved != self.config:
            raise ValueError(f"curriculum state was saved with a different config: "
                             f"{saved.to_dict()} (this run: {self.config.to_dict()})")
        stages = self.config.stages
        stage = int(state["stage"])
        if not 0 <= stage < len(stages):
            raise ValueError(f"curriculum state: stage {stage} out of range")
        if set(state["windows"]) != set(stages) or set(state["episodes"]) != set(stages):
            raise ValueError("curriculum state: windows/episodes do not name the config's stages")
        # a state saved before level_priority existed has no per-level results: none played
        level_results = state.get("level_results", [[] for _ in self.level_categories])
        if len(level_results) != len(self.level_categories):
            raise ValueError(f"curriculum state: level_results has {len(level_results)} levels, "
                             f"the level list {len(self.level_categories)}")
        self._stage = stage
        self.windows = [deque((bool(r) for r in state["windows"][name]), maxlen=self.config.window)
                        for name in stages]
        self.episodes = [int(state["episodes"][name]) for name in stages]
        self.level_results = [deque((int(bool(r)) for r in results), maxlen=LEVEL_WINDOW)
                              for results in level_results]
