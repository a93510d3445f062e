"""Training configuration: PPO hyperparameters and the run settings, as dataclasses.

Every resolved setting of a run is written to ``config.json`` in its run directory, and a run
can be re-created from that file alone (``TrainConfig.from_dict``).
"""
from __future__ import annotations

import importlib.resources
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path

from ..env.config import MAX_ENVS, SUBTASK_KEY, EnvConfig, RewardConfig
from ..env.engine import observation_shapes
from ..env.subtasks import SUBTASKS, subtask_index
from ..models import check_device_name, get_architecture
from .curriculum import CurriculumConfig


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters (Stable-Baselines3 names).

    Defaults are tuned for many cheap environments on a CPU: 128 steps per env per rollout
    (with 128 envs: 16,384 samples per update), 4 epochs of 2,048-sample minibatches (on a CPU
    each gradient step has a fixed cost of several ms, so few large minibatches keep an update
    around a second), a small entropy bonus for exploration of sparse-reward levels. ``gamma`` is also the discount of
    the environment's reward shaping (one value, used by both).
    """
    learning_rate: float = 3e-4
    n_steps: int = 128
    batch_size: int = 2048
    n_epochs: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    def __post_init__(self):
        for name in ("n_steps", "batch_size", "n_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"PPOConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"PPOConfig.gamma must be in (0, 1], got {self.gamma}")


@dataclass(frozen=True)
class FinetuneConfig:
    """PPO settings that replace ``ppo``'s when training starts from behaviour-cloned weights
    (``TrainConfig.bc``): a lower learning rate, less entropy and a tighter clip keep PPO from
    unlearning the demonstrations in its first updates."""
    learning_rate: float = 1e-4
    ent_coef: float = 0.003
    clip_range: float = 0.1


@dataclass(frozen=True)
class PlannerBCConfig:
    """Behaviour cloning from the planner's demonstrations before PPO
    (:mod:`ninjarl.train.planner_bc`): the planner searches every training level for a winning
    input sequence with ``budget_frames`` simulator frames (levels it does not solve are left
    out), the run's own policy is trained on the plans for ``epochs`` epochs of
    ``batch_size``-sample minibatches at ``learning_rate``, and PPO starts from it with the
    ``finetune`` settings, as with ``TrainConfig.bc``. The plans of the built-in level set are
    about 300,000 samples: minibatches of 1,024 clone them as well as 256 do (held-out action
    accuracy 75.3% against 75.1%, docs/generalization.md) in half the time."""
    budget_frames: int = 1_000_000
    epochs: int = 20
    batch_size: int = 1024
    learning_rate: float = 6e-4
    #: rounds of recovery demonstrations (:mod:`ninjarl.train.recovery`): after each
    #: cloning the planner takes over where the clone loses a training level, and the clone
    #: is trained again with those; 0: none
    recovery_rounds: int = 0
    #: frames before a death at which the planner takes over
    recovery_back_frames: int = 48
    #: clone the shipped recoveries of the built-in level set's training levels too
    #: (:data:`ninjarl.train.recovery.BUNDLED_RECOVERIES`; other levels have none)
    bundled_recoveries: bool = False
    #: weight of a cloning loss on the demonstrations added to every PPO minibatch's loss
    #: (:class:`ninjarl.train.cloning_ppo.PPOWithCloning`), so that PPO keeps what cloning
    #: taught; 0: PPO's own loss only
    cloning_coef: float = 0.0
    #: demonstration samples in each of those cloning losses
    cloning_batch_size: int = 512
    #: share of the training episodes on a level with a plan that start at a state of the
    #: plan instead of the spawn (a uniformly drawn number of its steps played;
    #: :meth:`ninjarl.env.Engine.set_start_plans`), so that PPO also practises the parts of a
    #: level beyond where it fails (after Salimans and Chen 2018's starts from demonstration
    #: states); the curriculum and the per-category success rates count the episodes from
    #: the spawn only; 0: every episode starts at the spawn
    plan_starts: float = 0.0

    def __post_init__(self):
        # the types and ranges a config file is held to (_RANGES), for settings made in code
        _check(vars(self), PlannerBCConfig, "planner_bc")


@dataclass(frozen=True)
class HierarchicalConfig:
    """A hierarchical agent (:mod:`ninjarl.train.hierarchical`): a high level picks one of
    ``subtasks`` (names from :data:`ninjarl.env.subtasks.SUBTASKS`; ``exit_switch`` and
    ``exit_door`` are required, they are the way to finish) whenever the previous one is
    complete, no longer available, the episode ended, or after ``max_steps`` (K) steps; a low
    level acts every step on the subtask, rewarded with ``completion_bonus`` when it is
    complete, the environment's death penalty when the ninja dies, and potential-based shaping
    ``gamma * phi(s') - phi(s)``, ``phi = -shaping_scale * distance still to go`` (in [0, 1],
    the subtask observation's ``distance``). ``embedding_dim``: width of the subtask embedding.
    """
    max_steps: int = 64
    subtasks: tuple[str, ...] = SUBTASKS
    completion_bonus: float = 1.0
    shaping_scale: float = 1.0
    embedding_dim: int = 8

    def __post_init__(self):
        object.__setattr__(self, "subtasks", tuple(self.subtasks))
        if self.max_steps < 1:
            raise ValueError(f"hierarchical.max_steps must be >= 1, got {self.max_steps}")
        for name in self.subtasks:
            try:
                subtask_index(name)
            except ValueError as e:
                raise ValueError(f"hierarchical.subtasks: {e}") from None
        if len(set(self.subtasks)) != len(self.subtasks):
            raise ValueError(f"hierarchical.subtasks: a subtask is listed twice: "
                             f"{list(self.subtasks)}")
        if not {"exit_switch", "exit_door"} <= set(self.subtasks):
            raise ValueError("hierarchical.subtasks must include exit_switch and exit_door "
                             f"(the way to finish a level), got {list(self.subtasks)}")
        if self.completion_bonus < 0 or self.shaping_scale < 0:
            raise ValueError("hierarchical.completion_bonus and shaping_scale must be >= 0")
        if self.embedding_dim < 1:
            raise ValueError(f"hierarchical.embedding_dim must be >= 1, got {self.embedding_dim}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    ``levels`` is a level category (``simplest`` ... ``exploration``, from the built-in default
    dataset), a dataset directory, a map file or a bundled map name. ``envs`` is a number or
    ``"auto"`` (measure a few counts, take the fastest). ``timesteps`` counts env steps (each
    ``env.action_repeat`` frames). ``bc`` names a behaviour-cloning checkpoint to start from
    (transferred strictly, then ``finetune`` settings apply). With ``curriculum`` set, the
    run trains on the levels of all curriculum stages (from the built-in level set, or from
    the dataset directory given as ``levels``) and a curriculum picks each episode's level.
    ``videos`` > 0 writes that many won and failed episodes per category as MP4 at the final
    held-out evaluation (``OUT/videos/step-<N>/``). ``hierarchical`` (set: a
    :class:`HierarchicalConfig`) trains a hierarchical agent with ``arch`` as its shared
    feature extractor; its envs also compute the ``subtasks`` observation. ``net_arch`` sets
    the hidden layers of the policy and value heads (empty: the architecture's; not for
    hierarchical agents). ``planner_bc`` (set: a :class:`PlannerBCConfig`) makes the
    behaviour-cloning checkpoint itself, from planner demonstrations of the training levels
    (``OUT/demos``, ``OUT/bc``), instead of taking one as ``bc``. ``device`` is where the
    networks run (``auto``: a CUDA GPU when torch sees one, else the CPU; ``cpu``;
    ``cuda[:N]``); environments always run on the CPU.
    ``mirror`` adds the left-right mirror image of every training level to the training
    levels (augmentation: twice the layouts, and no side the agent can learn to prefer); the
    held-out levels stay as they are. ``eval_levels``: level sets (specs as for ``ninjarl
    eval``, e.g. ``official``) also played at every held-out evaluation, their success logged
    to TensorBoard as ``eval_sets/<name>/success_rate``: a learning curve on levels the run
    never trains on. ``env`` may be left out or given as a dict of settings:
    observation keys and discount then come from ``arch`` and ``ppo.gamma``.
    """
    arch: str = "vision_free"
    levels: str = "simplest"
    timesteps: int = 200_000
    envs: int | str = "auto"
    seed: int = 0
    out: str = ""
    eval_every: int = 0
    checkpoint_every: int = 50_000
    frame_stack: int = 1
    torch_threads: int = 0
    device: str = "auto"
    bc: str = ""
    videos: int = 0
    net_arch: tuple[int, ...] = ()
    mirror: bool = False
    eval_levels: tuple[str, ...] = ()
    ppo: PPOConfig = field(default_factory=PPOConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    curriculum: CurriculumConfig | None = None
    hierarchical: HierarchicalConfig | None = None
    planner_bc: PlannerBCConfig | None = None
    env: EnvConfig | None = None

    def __post_init__(self):
        if self.envs != "auto" and (not isinstance(self.envs, int) or self.envs < 1):
            raise ValueError(f"TrainConfig.envs must be a positive integer or 'auto', "
                             f"got {self.envs!r}")
        if not isinstance(self.videos, int) or self.videos < 0:
            raise ValueError(f"TrainConfig.videos must be an integer >= 0, got {self.videos!r}")
        _check_ranges(self)
        try:
            check_device_name(self.device)
        except ValueError as e:
            raise ValueError(f"TrainConfig.{e}") from None
        object.__setattr__(self, "net_arch", tuple(self.net_arch))
        object.__setattr__(self, "eval_levels", tuple(self.eval_levels))
        if any(not isinstance(n, int) or n < 1 for n in self.net_arch):
            raise ValueError(f"TrainConfig.net_arch must be layer sizes >= 1, got "
                             f"{list(self.net_arch)}")
        if self.net_arch and self.hierarchical:
            raise ValueError("TrainConfig.net_arch does not apply to hierarchical agents")
        if self.planner_bc and self.bc:
            raise ValueError("TrainConfig: bc names a behaviour-cloning checkpoint and "
                             "planner_bc makes one; set one of them")
        if self.planner_bc and self.hierarchical:
            raise ValueError("TrainConfig.planner_bc does not apply to hierarchical agents; "
                             "train a checkpoint with 'ninjarl bc' and give it as bc")
        object.__setattr__(self, "env", self._reconciled_env())
        _check_ranges(self.env, "env")
        self._check_rollout_size()

    def _check_rollout_size(self) -> None:
        """Refuse a run whose PPO rollout buffer (float32 observations of every env, stacked
        frames included, for ``ppo.n_steps`` steps) could not be allocated anywhere."""
        if self.envs == "auto":
            return
        floats = sum(math.prod(shape) for shape, *_ in observation_shapes(self.env).values())
        size = self.envs * self.ppo.n_steps * self.frame_stack * floats * 4
        if size > MAX_ROLLOUT_BYTES:
            raise ValueError(f"envs x ppo.n_steps x frame_stack: {self.envs} x {self.ppo.n_steps} x "
                             f"{self.frame_stack} observations of {floats} floats make a "
                             f"{size / 2**30:,.0f} GiB rollout buffer, above the "
                             f"{MAX_ROLLOUT_BYTES // 2**30} GiB limit; use fewer envs, a smaller "
                             "ppo.n_steps or frame_stack")

    def _reconciled_env(self) -> EnvConfig:
        """The one place where the env settings meet the rest of the run: what the
        architecture (observation keys, global view scale) and PPO (discount, also the shaping
        discount) decide is filled in where ``env`` leaves it out, and where ``env`` states it,
        it must agree."""
        arch = get_architecture(self.arch)
        decided = arch.env_settings() | {"gamma": self.ppo.gamma}
        if self.hierarchical:
            decided["observations"] += (SUBTASK_KEY,)
        env = self.env
        if env is None or isinstance(env, dict):
            env = EnvConfig.from_dict({**decided, **(env or {})})
        if tuple(env.observations) != decided["observations"]:
            raise ValueError(f"TrainConfig: env.observations {list(env.observations)} disagree "
                             f"with architecture {self.arch!r}"
                             f"{' (hierarchical)' if self.hierarchical else ''}, which reads "
                             f"{list(decided['observations'])}; leave env.observations out "
                             "to use the architecture's")
        if env.global_view_scale != arch.global_view_scale:
            raise ValueError(f"TrainConfig: env.global_view_scale ({env.global_view_scale}) "
                             f"disagrees with architecture {self.arch!r}, which reads the global "
                             f"view at scale {arch.global_view_scale}; leave "
                             "env.global_view_scale out to use the architecture's")
        if env.gamma != self.ppo.gamma:
            raise ValueError(f"TrainConfig: env.gamma ({env.gamma}) must equal ppo.gamma "
                             f"({self.ppo.gamma}); the shaping discount is the learner's. "
                             "Leave env.gamma out to use ppo.gamma")
        return env

    @property
    def effective_ppo(self) -> PPOConfig:
        """The PPO settings in use: ``ppo``, with ``finetune`` applied after behaviour cloning."""
        if not self.bc and not self.planner_bc:
            return self.ppo
        return replace(self.ppo, **asdict(self.finetune))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["env"] = self.env.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "TrainConfig":
        """Build from a (possibly partial) dict. Unknown keys, values of the wrong type
        (``bool`` is not a number) and values out of range are a one-line ValueError naming
        ``source`` and the setting, e.g. ``run.json: ppo.learning_rate: expected a number``."""
        data = dict(data)
        if isinstance(data.get("env"), dict):
            data["env"] = {k: v for k, v in data["env"].items()
                           if k != "shaping_scale"}      # derived, written for readers only
        _check(data, cls, source)
        ppo = data.pop("ppo", None) or {}
        finetune = data.pop("finetune", None) or {}
        curriculum = data.pop("curriculum", None)
        hierarchical = data.pop("hierarchical", None)
        planner_bc = data.pop("planner_bc", None)
        try:
            if isinstance(curriculum, dict):
                curriculum = CurriculumConfig.from_dict(curriculum)
            if isinstance(hierarchical, dict):
                hierarchical = HierarchicalConfig(**hierarchical)
            if isinstance(planner_bc, dict):
                planner_bc = PlannerBCConfig(**planner_bc)
            return cls(ppo=ppo if isinstance(ppo, PPOConfig) else PPOConfig(**ppo),
                       finetune=(finetune if isinstance(finetune, FinetuneConfig)
                                 else FinetuneConfig(**finetune)),
                       curriculum=curriculum, hierarchical=hierarchical,
                       planner_bc=planner_bc, **data)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | Path, **overrides) -> "TrainConfig":
        """Read a config file; ``overrides`` (None values ignored) replace its top-level
        settings before anything is derived from them (an ``arch`` given here decides the
        observation keys just as one in the file would; a ``bc`` checkpoint given here
        replaces the file's ``planner_bc``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: cannot read the config: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the config must be a JSON object")
        overrides = _given(overrides)
        if overrides.get("bc"):        # a checkpoint given here replaces the file's way to make one
            data.pop("planner_bc", None)
        return cls.from_dict(data | overrides, str(path))

    @classmethod
    def create(cls, **settings) -> "TrainConfig":
        """A config from top-level settings (None values ignored), e.g. from the CLI."""
        return cls(**_given(settings))


def curriculum_recipe_path() -> Path:
    """The default recipe of ``ninjarl train --curriculum``: the settings that the
    generalization ablations kept (docs/generalization.md), as a config file."""
    return Path(str(importlib.resources.files("ninjarl") / "data" / "recipes" / "curriculum.json"))


def load_run_config(config_file: str | Path | None, curriculum: bool,
                    **settings) -> TrainConfig:
    """A run's settings: defaults < ``config_file`` < ``settings`` (None values ignored).

    With ``curriculum`` the run uses a curriculum: without a config file the whole curriculum
    recipe (:func:`curriculum_recipe_path`) is the file; a config file keeps its own
    ``curriculum`` settings, and one without them gets :class:`CurriculumConfig`'s defaults.
    """
    if config_file is None and curriculum:
        config_file = curriculum_recipe_path()
    if config_file is None:
        return TrainConfig.create(curriculum=CurriculumConfig() if curriculum else None,
                                  **settings)
    config = TrainConfig.load(config_file, **settings)
    if curriculum and config.curriculum is None:
        config = replace(config, curriculum=CurriculumConfig())
    return config


#: size limits, far above any useful run, that keep one allocation (the envs, their stacked
#: frames, a PPO rollout buffer) from asking for more memory than any machine has
MAX_FRAME_STACK = 64
MAX_ROLLOUT_BYTES = 64 * 2**30
MAX_WIDTH = 65_536          # a network layer, a subtask embedding

_Rule = tuple[str, Callable[[float], bool]]


def _between(low: int, high: int) -> _Rule:
    return f"in {low}..{high}", lambda v: low <= v <= high


_COUNT = _between(0, 2**62)             # steps, intervals: numpy's int64 holds them
_POSITIVE: _Rule = ("> 0", lambda v: v > 0)
_NON_NEGATIVE: _Rule = (">= 0", lambda v: v >= 0)
_NON_POSITIVE: _Rule = ("<= 0", lambda v: v <= 0)
_DISCOUNT: _Rule = ("in (0, 1]", lambda v: 0 < v <= 1)
_FRACTION: _Rule = ("in [0, 1]", lambda v: 0 <= v <= 1)

#: the range of every numeric setting (any number must also be finite)
_RANGES: dict[type, dict[str, _Rule]] = {
    TrainConfig: {"timesteps": _between(1, 2**62), "envs": _between(1, MAX_ENVS),
                  "seed": _between(0, 2**32 - 1), "eval_every": _COUNT,
                  "checkpoint_every": _COUNT, "frame_stack": _between(1, MAX_FRAME_STACK),
                  "torch_threads": _between(0, 4096), "videos": _between(0, 10_000),
                  "net_arch": _between(1, MAX_WIDTH)},
    PPOConfig: {"learning_rate": _POSITIVE, "n_steps": _between(1, 2**20),
                "batch_size": _between(1, 2**24), "n_epochs": _between(1, 10_000),
                "gamma": _DISCOUNT, "gae_lambda": _DISCOUNT, "clip_range": _POSITIVE,
                "ent_coef": _NON_NEGATIVE, "vf_coef": _NON_NEGATIVE, "max_grad_norm": _POSITIVE},
    FinetuneConfig: {"learning_rate": _POSITIVE, "ent_coef": _NON_NEGATIVE,
                     "clip_range": _POSITIVE},
    PlannerBCConfig: {"budget_frames": _between(1, 2**62), "epochs": _between(1, 10**6),
                      "batch_size": _between(1, 2**24), "learning_rate": _POSITIVE,
                      "recovery_rounds": _between(0, 10**6),
                      "recovery_back_frames": _between(0, 2**31 - 1),
                      "cloning_coef": _NON_NEGATIVE, "cloning_batch_size": _between(1, 2**24),
                      "plan_starts": _FRACTION},
    HierarchicalConfig: {"max_steps": _between(1, 2**31 - 1), "completion_bonus": _NON_NEGATIVE,
                         "shaping_scale": _NON_NEGATIVE, "embedding_dim": _between(1, MAX_WIDTH)},
    CurriculumConfig: {"window": _between(1, 10**7), "threshold": _FRACTION,
                       "min_episodes": _between(1, 10**7), "replay_share": _FRACTION},
    EnvConfig: {"action_repeat": _between(1, 2**31 - 1), "max_frames": _between(1, 2**31 - 1),
                "stuck_frames": _between(0, 2**31 - 1), "stuck_radius": _NON_NEGATIVE,
                "gamma": _DISCOUNT},
    RewardConfig: {"completion": _POSITIVE, "death": _NON_POSITIVE, "switch": _NON_NEGATIVE,
                   "shaping_scale": _NON_NEGATIVE, "max_distance": _POSITIVE,
                   "novelty": _NON_NEGATIVE},
}


def _check_range(cls: type, name: str, value, path: str) -> None:
    """A one-line ValueError ``path: must be ..., got ...`` unless a number ``value`` of
    setting ``cls.name`` (each item of a list) is finite and inside its range."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_range(cls, name, item, f"{path}[{i}]")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: must be finite, got {value}")
    shown = repr(value) if len(repr(value)) <= 30 else f"a {len(str(abs(value)))}-digit number"
    rule = _RANGES.get(cls, {}).get(name)
    if rule is not None and not rule[1](value):
        raise ValueError(f"{path}: must be {rule[0]}, got {shown}")
    if isinstance(value, int) and not -2**63 <= value < 2**63:     # numpy and checkpoints hold int64
        raise ValueError(f"{path}: must fit in 64 bits, got {shown}")


def _check_ranges(config, path: str = "") -> None:
    """:func:`_check_range` on every setting of a config dataclass and the ones nested in it."""
    for name, value in vars(config).items():
        where = f"{path}.{name}" if path else name
        if is_dataclass(value):
            _check_ranges(value, where)
        else:
            _check_range(type(config), name, value, where)


def _given(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if v is not None}


def _check(data, cls, source: str, path: str = "") -> None:
    """Raise a one-line ValueError naming ``source`` and the setting unless ``data`` is a dict
    of ``cls``'s fields with values of their annotated types (nested settings: dicts)."""
    where = f"{source}: {path}" if path else source
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {data!r}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown}; valid: {sorted(hints)}")
    for name, value in data.items():
        where = f"{path}.{name}" if path else name
        _check_value(value, hints[name], source, where)
        _check_range(cls, name, value, f"{source}: {where}")


_KINDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _check_value(value, hint, source: str, path: str) -> None:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = typing.get_args(hint) if union else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return
        if is_dataclass(option) and isinstance(value, (dict, option)):
            if isinstance(value, dict):
                _check(value, option, source, path)
            return
        if typing.get_origin(option) is tuple and isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                _check_value(item, typing.get_args(option)[0], source, f"{path}[{i}]")
            return
        if option in _KINDS and _is_kind(value, option):
            return
    wanted = " or ".join("null" if o is type(None) else "an object" if is_dataclass(o)
                         else "a list" if typing.get_origin(o) is tuple else _KINDS[o]
                         for o in options)
    raise ValueError(f"{source}: {path}: expected {wanted}, got {value!r}")


def _is_kind(value, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, (int, float) if kind is float else kind)
