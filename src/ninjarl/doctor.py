"""``ninjarl doctor``: a preflight of a training run that catches the failures that leave a run
looking healthy while it learns nothing useful.

Each check measures one thing and prints PASS, FAIL or SKIP with the figure behind it and, on
FAIL, what to do:

* ``observations``: BC, RL and evaluation build their observations by the same path with the
  same settings (keys, action repeat, episode settings), no ``VecNormalize`` anywhere, the
  normalisation inside the model (a ``RunningNorm`` per vector key), and the three paths give
  the same reset observation on the same level. Frame stacking is left to ``frame_stack`` and
  the discount and rewards to ``gamma`` and ``reward_invariant``, so that each cause fails
  exactly one check.
* ``transfer``: a BC -> RL transfer loads every tensor of the policy (``transfer_report.json``
  of a run, or a dry transfer of ``--bc``).
* ``gradients``: every policy parameter is in the optimizer and gets a nonzero gradient from a
  PPO loss on a sample batch of real observations.
* ``env_count``: the env count is the one autotune measured (``autotune.json``) or an explicit
  value, and one rollout buffer of it fits in a quarter of the available memory.
* ``frame_stack``: equal in BC, RL and evaluation, and what the built env really stacks.
* ``tensorboard``: the run's event files hold the episode scalars from the first update on.
* ``images``: a 255 pixel reaches the first convolution of each image encoder as 1.0 (scaled
  exactly once).
* ``gamma``: the reward-shaping discount (and BC's return discount) equal PPO's.
* ``reward_invariant``: finishing beats any death or time-out (the bounds of
  :func:`ninjarl.env.config.reward_bounds` for the settings as written), and every level of the
  run has an exit door and its switch.
* ``hierarchical``: in a run whose config sets ``hierarchical``, the parameters of both levels
  (names with a ``high_level`` / ``low_level`` component) get gradients (a level without
  them also fails ``gradients``; this check says which level).

:func:`diagnose_run` checks a run directory, :func:`diagnose_config` a config file before a
run, :func:`preflight` the model and envs ``ninjarl train`` built, before its first step
(without touching them: it works on copies and separate envs).
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from torch import nn

from .atomic import current_dir
from .env import EnvConfig, FrameStackVecEnv, NinjaVecEnv, ReplayVecEnv, find_env, make_vec_env, standard_wrappers
from .env.config import IMAGE_KEYS, VECTOR_KEYS, reward_bounds
from .eval.report import read_scalars
from .models import RunningNorm
from .sim import Level
from .sim.constants import T_EXIT_DOOR, T_EXIT_SWITCH
from .train.autotune import MEMORY_SHARE, available_memory_bytes
from .train.checkpoint import load_weights
from .train.config import TrainConfig
from .train.ppo import CHECKPOINT_DIR, FINAL_DIR, build_model, curriculum_levels, resolve_levels

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
#: the checks, in the order they are printed
CHECKS = ("observations", "transfer", "gradients", "env_count", "frame_stack", "tensorboard",
          "images", "gamma", "reward_invariant", "hierarchical")
#: parameter-name components of the two levels of a hierarchical policy
HIGH_LEVEL, LOW_LEVEL = "high_level", "low_level"
#: sample batch of the gradient checks: envs x steps of seeded random actions
BATCH_ENVS, BATCH_STEPS = 4, 8
#: episode scalars the TensorBoard check expects once episodes have ended
EPISODE_TAGS = ("rollout/ep_rew_mean", "rollout/ep_len_mean")
EPISODE_COUNT_TAG = "rollout/episodes"


@dataclass(frozen=True)
class Check:
    """One check's verdict: ``status`` PASS, FAIL or SKIP; ``figure`` what was measured (or
    why it was skipped); ``advice`` what to do about a FAIL."""
    name: str
    status: str
    figure: str
    advice: str = ""

    def lines(self) -> list[str]:
        out = [f"{self.status}  {self.name:<17} {self.figure}"]
        if self.advice:
            out.append(f"      {'':<17} fix: {self.advice}")
        return out


def report(checks: Sequence[Check]) -> str:
    """The printed report: one line per check (two for a FAIL), then a summary line."""
    lines = [line for check in checks for line in check.lines()]
    failed = [c.name for c in checks if c.status == FAIL]
    counts = {s: sum(c.status == s for c in checks) for s in (PASS, FAIL, SKIP)}
    lines.append(f"doctor: {counts[PASS]} passed, {counts[FAIL]} failed"
                 + (f" ({', '.join(failed)})" if failed else "") + f", {counts[SKIP]} skipped")
    return "\n".join(lines)


def failed(checks: Sequence[Check]) -> list[str]:
    return [c.name for c in checks if c.status == FAIL]


# ---- what is checked ------------------------------------------------------------------------

@dataclass
class Subject:
    """A run (or a planned run) as the checks see it. ``raw`` is its config as written;
    ``config`` the same loaded with ``env.gamma`` and ``env.reward`` taken from PPO and the
    defaults, so that a discount or reward the loader would refuse fails only its own check.
    ``evaluation`` is the config evaluation uses (the final checkpoint's), ``bc`` the
    behaviour-cloning checkpoint's (raw, loaded, path) if any."""
    raw: dict
    config: TrainConfig
    source: str
    evaluation: tuple[dict, TrainConfig] | None = None
    bc: tuple[dict, TrainConfig, Path] | None = None
    run_dir: Path | None = None
    weights: dict | None = None
    optimizer_state: dict | None = None
    levels: list[Level] | None = None


def load_config(path: Path) -> tuple[dict, TrainConfig]:
    """A config file as written and loaded (see :class:`Subject`); a missing, corrupt or
    otherwise invalid file is a one-line ValueError naming it."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the config: {e}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a JSON object")
    data = json.loads(json.dumps(raw))
    if isinstance(data.get("env"), dict):
        for name in ("gamma", "reward", "shaping_scale"):
            data["env"].pop(name, None)
    return raw, TrainConfig.from_dict(data, str(path))


def _bc_subject(path: str | Path) -> tuple[dict, TrainConfig, Path]:
    path = current_dir(path)
    raw, config = load_config(path / "config.json")
    return raw, config, path


def run_subject(run_dir: str | Path, bc: str | Path | None = None) -> Subject:
    """A run directory: its ``config.json``, the latest checkpoint's weights and optimizer, the
    final checkpoint's config (what evaluation uses) and the BC checkpoint it started from (or
    ``bc``)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise ValueError(f"{run_dir}: not a run directory (no config.json)")
    raw, config = load_config(run_dir / "config.json")
    subject = Subject(raw, config, str(run_dir / "config.json"), run_dir=run_dir)
    checkpoints = [current_dir(run_dir / name) for name in (CHECKPOINT_DIR, FINAL_DIR)]
    latest = next((c for c in checkpoints if (c / "policy.pt").is_file()), None)
    if latest is not None:
        subject.weights = load_weights(latest, "policy.pt")
        if (latest / "optimizer.pt").is_file():
            subject.optimizer_state = load_weights(latest, "optimizer.pt")
    final = next((c for c in reversed(checkpoints) if (c / "config.json").is_file()), None)
    if final is not None:
        subject.evaluation = load_config(final / "config.json")
    if bc or config.bc:
        subject.bc = _bc_subject(bc or config.bc)
    return subject


def config_subject(path: str | Path, bc: str | Path | None = None) -> Subject:
    """A config file before training: evaluation will use this same config."""
    raw, config = load_config(Path(path))
    subject = Subject(raw, config, str(path), evaluation=(raw, config))
    if bc or config.bc:
        subject.bc = _bc_subject(bc or config.bc)
    return subject


def training_levels(config: TrainConfig) -> list[Level]:
    return resolve_levels(curriculum_levels(config) if config.curriculum else config.levels).train


# ---- entry points ---------------------------------------------------------------------------

def diagnose_run(run_dir: str | Path, bc: str | Path | None = None) -> list[Check]:
    """Every check on a run directory (``bc``: a BC checkpoint to check against it)."""
    return diagnose(run_subject(run_dir, bc))


def diagnose_config(path: str | Path, bc: str | Path | None = None) -> list[Check]:
    """Every check that needs no run, on a config file (``tensorboard`` is skipped)."""
    return diagnose(config_subject(path, bc))


def diagnose(subject: Subject) -> list[Check]:
    config = subject.config
    levels = subject.levels if subject.levels is not None else training_levels(config)
    venv = make_vec_env(levels[:1], BATCH_ENVS, config.env, config.frame_stack, seed=config.seed)
    model = _quiet_build(config, venv)
    weights_problem = None
    if subject.weights is not None:
        try:
            model.policy.load_state_dict(subject.weights, strict=True)
        except RuntimeError as e:        # names or shapes other than config.json's model
            weights_problem = ("the run's checkpoint does not fit the model config.json builds: "
                               + " ".join(str(e).split())[:300])
    batch = sample_batch(config, levels[0])
    autotune = _autotune(subject.run_dir)
    return [
        check_observations(subject, levels[0], model.policy),
        check_transfer(subject, model.policy),
        check_gradients(model.policy, batch, subject.optimizer_state, weights_problem),
        check_env_count(config, autotune, venv),
        check_frame_stack(subject, levels[0]),
        check_tensorboard(subject.run_dir, config),
        check_images(model.policy, config),
        check_gamma(subject, model.gamma, find_env(venv, NinjaVecEnv).config.gamma),
        check_reward_invariant(subject, levels),
        check_hierarchical(subject.raw, model.policy, batch),
    ]


def preflight(model, config: TrainConfig, levels: Sequence[Level], run_dir: str | Path,
              transfer_report: dict | None = None) -> list[Check]:
    """The quick checks of a run about to start, on the model and config ``ninjarl train``
    built (``transfer_report``: the BC transfer it made). The model is only read: gradients
    are taken on a copy, sample observations come from separate envs."""
    raw = config.to_dict()
    subject = Subject(raw, config, "the run's config", evaluation=(raw, config),
                      run_dir=None, levels=list(levels))
    if config.bc:
        subject.bc = _bc_subject(config.bc)
    batch = sample_batch(config, levels[0])
    venv = make_vec_env(levels[:1], 1, config.env, config.frame_stack, seed=config.seed)
    return [
        check_observations(subject, levels[0], model.policy),
        check_transfer(subject, model.policy, transfer_report),
        check_gradients(model.policy, batch),
        check_env_count(config, _autotune(run_dir), venv),
        check_frame_stack(subject, levels[0]),
        Check("tensorboard", SKIP, "no events before the first update; "
              "`ninjarl doctor RUN` checks them once it has run"),
        check_images(model.policy, config),
        check_gamma(subject, model.gamma, find_env(model.get_env(), NinjaVecEnv).config.gamma),
        check_reward_invariant(subject, levels),
        check_hierarchical(raw, model.policy, batch),
    ]


def _quiet_build(config: TrainConfig, venv: VecEnv):
    import warnings
    with warnings.catch_warnings():         # a few envs warn about the minibatch size
        warnings.simplefilter("ignore", UserWarning)
        return build_model(replace(config, out=""), venv)


def _autotune(run_dir: str | Path | None) -> dict | None:
    if run_dir is None or not (Path(run_dir) / "autotune.json").is_file():
        return None
    path = Path(run_dir) / "autotune.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read: {e}") from None


# ---- sample batch and gradients -------------------------------------------------------------

@dataclass
class Batch:
    """Observations (as the policy receives them) and the actions taken in them."""
    obs: dict[str, np.ndarray]
    actions: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


def sample_batch(config: TrainConfig, level: Level, seed: int = 0) -> Batch:
    """``BATCH_ENVS x BATCH_STEPS`` observations of seeded random play on ``level``, through
    the training env path."""
    venv = make_vec_env([level], BATCH_ENVS, config.env, config.frame_stack, seed=seed)
    rng = np.random.default_rng(seed)
    obs = venv.reset()
    observations: dict[str, list] = {k: [] for k in obs}
    actions = []
    for _ in range(BATCH_STEPS):
        chosen = rng.integers(0, venv.action_space.n, venv.num_envs)
        for key, value in obs.items():
            observations[key].append(value)
        actions.append(chosen)
        obs, *_ = venv.step(chosen)
    venv.close()
    return Batch({k: np.concatenate(v) for k, v in observations.items()},
                 np.concatenate(actions))


def gradients(policy, batch: Batch) -> dict[str, torch.Tensor | None]:
    """The gradient of every parameter of a copy of ``policy`` (training mode) under a PPO
    loss on ``batch``: the clipped-surrogate term at ratio 1 with seeded random advantages,
    the value loss against seeded random returns and the entropy bonus. ``policy`` needs
    ``evaluate_actions(obs, actions)`` (SB3's), and ``obs_to_tensor`` or tensors in ``batch``.
    """
    policy = copy.deepcopy(policy)
    policy.set_training_mode(True)
    obs = (policy.obs_to_tensor(batch.obs)[0] if hasattr(policy, "obs_to_tensor")
           else {k: torch.as_tensor(v) for k, v in batch.obs.items()})
    actions = torch.as_tensor(batch.actions, dtype=torch.int64)
    generator = torch.Generator().manual_seed(0)
    advantages = torch.randn(len(batch), generator=generator)
    returns = torch.randn(len(batch), generator=generator)
    values, log_prob, entropy = policy.evaluate_actions(obs, actions)
    ratio = torch.exp(log_prob - log_prob.detach())
    loss = (-(advantages * ratio).mean()
            + 0.5 * torch.nn.functional.mse_loss(values.flatten(), returns)
            - 0.01 * (entropy.mean() if entropy is not None else -log_prob.mean()))
    policy.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad for name, p in policy.named_parameters()}


def _without_gradient(grads: dict[str, torch.Tensor | None], names: Sequence[str]) -> list[str]:
    return [n for n in names if grads[n] is None or not bool(torch.any(grads[n] != 0))]


def _listing(names: Sequence[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def check_gradients(policy, batch: Batch, optimizer_state: dict | None = None,
                    weights_problem: str | None = None) -> Check:
    """Every parameter of ``policy`` is trainable, in ``policy.optimizer`` (and in the saved
    optimizer state of a run, if given) and gets a nonzero gradient on ``batch``;
    ``weights_problem``: why the run's weights could not be loaded into ``policy``."""
    named = list(policy.named_parameters())
    in_optimizer = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    not_in_optimizer = [n for n, p in named if id(p) not in in_optimizer]
    frozen = [n for n, p in named if not p.requires_grad]
    grads = gradients(policy, batch)
    no_gradient = _without_gradient(grads, [n for n, _ in named])
    problems = [weights_problem] if weights_problem else []
    if not_in_optimizer:
        problems.append(f"not in the optimizer: {_listing(not_in_optimizer)}")
    if frozen:
        problems.append(f"frozen (requires_grad=False): {_listing(frozen)}")
    if no_gradient:
        problems.append(f"no gradient on a {len(batch)}-sample batch: {_listing(no_gradient)}")
    if optimizer_state is not None:
        saved = sum(len(g["params"]) for g in optimizer_state.get("param_groups", []))
        if saved != len(named):
            problems.append(f"the run's saved optimizer holds {saved} parameters, the policy "
                            f"has {len(named)}")
    n = len(named)
    figure = (f"{n - len(not_in_optimizer)}/{n} parameters in the optimizer, "
              f"{n - len(no_gradient)}/{n} get a nonzero gradient on a {len(batch)}-sample "
              "batch")
    if problems:
        return Check("gradients", FAIL, figure + "; " + "; ".join(problems),
                     "every layer must be created in the extractor's __init__ (before SB3 "
                     "builds the optimizer) and be used in forward; never freeze parameters "
                     "silently")
    return Check("gradients", PASS, figure)


def check_hierarchical(raw: dict, policy, batch: Batch) -> Check:
    """For a config that sets ``hierarchical``: both levels' parameters exist and all get a
    gradient (a gate left at its random initialisation is the failure this catches)."""
    if raw.get("hierarchical") in (None, False):
        return Check("hierarchical", SKIP, "not a hierarchical run (the config sets no "
                     "'hierarchical')")
    names = [n for n, _ in policy.named_parameters()]
    grads = gradients(policy, batch)
    parts, problems = [], []
    for level in (HIGH_LEVEL, LOW_LEVEL):
        mine = [n for n in names if level in n.split(".")]
        trained = len(mine) - len(_without_gradient(grads, mine))
        parts.append(f"{level}: {trained}/{len(mine)} parameters get a gradient")
        if not mine:
            problems.append(f"no parameters named with a '{level}' component")
        elif trained < len(mine):
            problems.append(f"{level} without gradient: "
                            f"{_listing(_without_gradient(grads, mine))}")
    figure = "; ".join(parts)
    if problems:
        return Check("hierarchical", FAIL, figure + "; " + "; ".join(problems),
                     "both levels must be in the loss: a gate over pretrained features that "
                     "gets no gradient stays random")
    return Check("hierarchical", PASS, figure)


# ---- observations and frame stacking --------------------------------------------------------

def _paths(subject: Subject) -> dict[str, TrainConfig]:
    paths = {"RL": subject.config}
    if subject.evaluation is not None:
        paths["eval"] = subject.evaluation[1]
    if subject.bc is not None:
        paths["BC"] = subject.bc[1]
    return paths


def _build_path(name: str, config: TrainConfig, level: Level) -> VecEnv:
    """The env each path builds: training and evaluation :func:`make_vec_env` (evaluation
    with one level per env), BC a :class:`ReplayVecEnv` in the :func:`standard_wrappers`."""
    if name == "BC":
        return standard_wrappers(ReplayVecEnv(level, config.env), config.frame_stack)
    if name == "eval":
        return make_vec_env([level], 1, config.env, config.frame_stack,
                            level_sampler=lambda n, rng: n, seed=0)
    return make_vec_env([level], 1, config.env, config.frame_stack, seed=0)


def _wrappers(venv: VecEnv) -> list[VecEnv]:
    chain = []
    while venv is not None:
        chain.append(venv)
        venv = getattr(venv, "venv", None)
    return chain


#: EnvConfig settings that have their own checks (gamma, reward_invariant)
_OWN_CHECKS = {"gamma", "reward"}


def check_observations(subject: Subject, level: Level, policy: nn.Module) -> Check:
    paths = _paths(subject)
    rl = paths["RL"]
    problems = []
    settings = [f.name for f in fields(EnvConfig) if f.name not in _OWN_CHECKS]
    for name, config in paths.items():
        differ = [f"{s} {getattr(config.env, s)!r} vs {getattr(rl.env, s)!r}" for s in settings
                  if getattr(config.env, s) != getattr(rl.env, s)]
        if differ:
            problems.append(f"{name} differs from RL: {'; '.join(differ)}")
    observed, max_diff = {}, 0.0
    for name, config in paths.items():
        venv = _build_path(name, config, level)
        normalizers = [type(w).__name__ for w in _wrappers(venv) if isinstance(w, VecNormalize)]
        if normalizers:
            problems.append(f"{name} normalises observations outside the model ({normalizers})")
        obs = venv.reset()
        # the newest frame of a stack (stacks: leading axis per env) -- stacking has its check
        observed[name] = {k: (v[0][-1] if config.frame_stack > 1 else v[0]).astype(np.float64)
                          for k, v in obs.items()}
        venv.close()
    for name, obs in observed.items():
        if set(obs) != set(observed["RL"]):
            problems.append(f"{name} observes {sorted(obs)}, RL {sorted(observed['RL'])}")
            continue
        for key, value in obs.items():
            reference = observed["RL"][key]
            if value.shape != reference.shape:
                problems.append(f"{name} {key} has shape {value.shape}, RL {reference.shape}")
                continue
            diff = float(np.max(np.abs(value - reference))) if value.size else 0.0
            max_diff = max(max_diff, diff)
            if diff > 0:
                problems.append(f"{name} {key} at reset differs from RL by up to {diff:.3g}")
    vector_keys = [k for k in rl.env.observations if k in VECTOR_KEYS]
    norms = sum(isinstance(m, RunningNorm) for m in policy.modules())
    if norms < len(vector_keys):
        problems.append(f"{norms} RunningNorm modules in the model for {len(vector_keys)} "
                        "vector keys")
    figure = (f"{', '.join(paths)}: keys {list(rl.env.observations)}, action repeat "
              f"{rl.env.action_repeat}; reset observations on {level.name} equal "
              f"(max |diff| {max_diff:.3g}); no VecNormalize; RunningNorm in the model for "
              f"{min(norms, len(vector_keys))}/{len(vector_keys)} vector keys")
    if problems:
        return Check("observations", FAIL, "; ".join(problems),
                     "build BC, RL and evaluation from one config (the same --config for "
                     "`ninjarl bc` and `ninjarl train`), through make_vec_env / "
                     "standard_wrappers, with normalisation only inside the model")
    return Check("observations", PASS, figure)


def check_frame_stack(subject: Subject, level: Level) -> Check:
    paths = _paths(subject)
    stacks = {name: config.frame_stack for name, config in paths.items()}
    built = {}
    for name, config in paths.items():
        venv = _build_path(name, config, level)
        stack = find_env(venv, FrameStackVecEnv)
        built[name] = stack.stack.k if stack is not None else 1
        venv.close()
    figure = ", ".join(f"{name} {k}" for name, k in stacks.items())
    if len(set(stacks.values())) > 1:
        return Check("frame_stack", FAIL, f"frame stacks differ: {figure}",
                     "use the same frame_stack for `ninjarl bc`, `ninjarl train` and the "
                     "agent's evaluation (one --config)")
    wrong = {n: b for n, b in built.items() if b != stacks[n]}
    if wrong:
        return Check("frame_stack", FAIL, f"configured {figure}, built envs stack {wrong}",
                     "build envs through make_vec_env / standard_wrappers")
    return Check("frame_stack", PASS, figure + " (configured and built)")


# ---- transfer -------------------------------------------------------------------------------

def check_transfer(subject: Subject, policy: nn.Module,
                   transfer_report: dict | None = None) -> Check:
    """A run's ``transfer_report.json`` (or the report of the transfer just made), or else a
    dry transfer of the BC checkpoint's tensors into this config's policy: every tensor of the
    policy must load, by name and shape, and nothing be left over."""
    target = policy.state_dict()
    if transfer_report is None and subject.run_dir is not None and subject.config.bc:
        path = subject.run_dir / "transfer_report.json"
        if not path.is_file():
            return Check("transfer", FAIL, f"the run starts from {subject.config.bc} but has no "
                         "transfer_report.json", "train with `ninjarl train --bc`, which "
                         "transfers strictly and writes the report")
        try:
            transfer_report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: cannot read: {e}") from None
        source = "transfer_report.json"
    elif transfer_report is not None:
        source = "this run's transfer"
    elif subject.bc is not None:
        saved = load_weights(subject.bc[2], "policy.pt")
        transfer_report = {
            "loaded": [n for n in target if n in saved and saved[n].shape == target[n].shape],
            "missing": [n for n in target if n not in saved],
            "mismatched": [n for n in target if n in saved and saved[n].shape != target[n].shape],
            "unexpected": sorted(set(saved) - set(target))}
        source = f"a dry transfer of {subject.bc[2]}"
    else:
        return Check("transfer", SKIP, "no behaviour-cloning checkpoint (the run does not "
                     "start from one and no --bc was given)")
    counts = {k: len(transfer_report.get(k, [])) for k in ("loaded", "missing", "mismatched",
                                                           "unexpected")}
    figure = (f"{counts['loaded']} of {len(target)} policy tensors loaded ({source}; "
              f"{counts['missing']} missing, {counts['mismatched']} mismatched, "
              f"{counts['unexpected']} unexpected)")
    if counts["loaded"] != len(target) or counts["missing"] or counts["mismatched"] \
            or counts["unexpected"]:
        bad = [n for k in ("missing", "mismatched", "unexpected") for n in transfer_report[k]]
        return Check("transfer", FAIL, figure + (f": {_listing(bad)}" if bad else ""),
                     "behaviour-clone with the same architecture and observation settings as "
                     "the PPO run (one --config), then `ninjarl train --bc`")
    return Check("transfer", PASS, figure)


# ---- env count, TensorBoard, images, discount, rewards --------------------------------------

def check_env_count(config: TrainConfig, autotune: dict | None, venv: VecEnv) -> Check:
    floats = sum(int(np.prod(space.shape)) for space in venv.observation_space.spaces.values())
    available = available_memory_bytes()
    if config.envs == "auto":
        return Check("env_count", PASS, "envs 'auto': measured when training starts "
                     f"({floats} floats per observation)")
    origin = "explicit value (no autotune.json)"
    if autotune is not None:
        chosen = autotune.get("chosen")
        measured = ", ".join(f"{n}: {v:,.0f}" for n, v in autotune.get("steps_per_s", {}).items())
        if chosen != config.envs:
            return Check("env_count", FAIL, f"the run uses {config.envs} envs but autotune "
                         f"measured and chose {chosen} (steps/s {measured})",
                         "use the measured count (--envs auto) or give an explicit --envs; "
                         "never a guess")
        origin = f"measured by autotune (steps/s {measured})"
    needed = floats * 4 * config.ppo.n_steps * config.envs
    fits = not available or needed <= MEMORY_SHARE * available
    memory = (f"rollout buffer {_size(needed)} of "
              + (f"{_size(MEMORY_SHARE * available)} allowed" if available
                 else "unknown available memory"))
    figure = f"{config.envs} envs, {origin}; {memory}"
    if not fits:
        return Check("env_count", FAIL, figure, "fewer envs or a smaller ppo.n_steps")
    return Check("env_count", PASS, figure)


def _size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n_bytes < 1024:
            return f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:,.1f} GiB"


def check_tensorboard(run_dir: Path | None, config: TrainConfig) -> Check:
    if run_dir is None:
        return Check("tensorboard", SKIP, "no run yet (checked on a run directory)")
    advice = ("train with a run directory (--out): SB3 writes OUT/tb_*; the metrics callback "
              "logs the episode scalars at every update")
    tb_dirs = sorted(p for p in run_dir.glob("tb_*") if p.is_dir())
    events = [f for d in tb_dirs for f in d.glob("events.out.tfevents.*")]
    if not events:
        return Check("tensorboard", FAIL, f"no TensorBoard event files under {run_dir}/tb_*",
                     advice)
    scalars = read_scalars(tb_dirs)
    updates = [s for tag, (steps, _) in scalars.items() if tag.startswith("train/")
               for s in steps]
    if not updates:
        return Check("tensorboard", FAIL, f"{len(events)} event file(s) but no update logged "
                     f"({len(scalars)} scalar tags)", advice)
    first_update = int(min(updates))
    problems = []
    if EPISODE_COUNT_TAG not in scalars or scalars[EPISODE_COUNT_TAG][0].min() > first_update:
        problems.append(f"{EPISODE_COUNT_TAG} not logged by the first update (step "
                        f"{first_update})")
        dumps_with_episodes = np.array([], np.int64)
    else:
        steps, counts = scalars[EPISODE_COUNT_TAG]
        dumps_with_episodes = steps[counts > 0]
    for tag in EPISODE_TAGS:
        have = set(scalars[tag][0].tolist()) if tag in scalars else set()
        missing = [int(s) for s in dumps_with_episodes if s not in have]
        if missing:
            problems.append(f"{tag} missing at {len(missing)} of {len(dumps_with_episodes)} "
                            f"logged steps after episodes ended (first: {missing[0]})")
    figure = (f"{len(events)} event file(s); first update logged at step {first_update}; "
              f"{EPISODE_COUNT_TAG} and {', '.join(EPISODE_TAGS)} at "
              f"{len(dumps_with_episodes)} logged steps with episodes")
    if problems:
        return Check("tensorboard", FAIL, "; ".join(problems), advice)
    if not len(dumps_with_episodes):
        return Check("tensorboard", FAIL, f"no episode ended in {len(events)} event file(s) "
                     f"(first update at step {first_update})",
                     "run longer, or check the env's episode limit (env.max_frames)")
    return Check("tensorboard", PASS, figure)


def check_images(policy: nn.Module, config: TrainConfig) -> Check:
    """Feed a batch whose image pixels are all 255 through a copy of the policy (SB3's
    preprocessing, then the extractor) and read what reaches the first convolution of each
    image encoder, times the ``input_scale`` a convolution applies inside itself (the
    extractor's ``PixelConv2d`` folds the 1/255 into its weights): 1.0 means scaled exactly
    once, 255 never, 1/255 twice."""
    keys = [k for k in config.env.observations if k in IMAGE_KEYS]
    if not keys:
        return Check("images", SKIP, f"no image observations ({config.arch} reads "
                     f"{list(config.env.observations)})")
    policy = copy.deepcopy(policy)
    policy.set_training_mode(False)
    seen: dict[str, float] = {}
    hooks = []
    extractor = policy.features_extractor
    for key in keys:
        encoder = _encoder_of(extractor, key)
        first_conv = next(m for m in encoder.modules() if isinstance(m, nn.Conv2d))
        hooks.append(first_conv.register_forward_pre_hook(
            # a PixelConv2d scales its input inside the layer (input_scale): count that too
            lambda module, inputs, key=key: seen.__setitem__(
                key, float(inputs[0].max()) * getattr(module, "input_scale", 1.0))))
    obs = {k: np.full((1, *space.shape), 255 if k in keys else 0, space.dtype)
           for k, space in policy.observation_space.spaces.items()}
    with torch.no_grad():
        policy.predict_values(policy.obs_to_tensor(obs)[0])
    for hook in hooks:
        hook.remove()
    figure = ", ".join(f"{k}: pixel 255 reaches the first convolution as {v:.4g}"
                       for k, v in seen.items())
    wrong = {k: v for k, v in seen.items() if not np.isclose(v, 1.0)}
    if wrong:
        how = {k: "never scaled" if v > 1.5 else "scaled more than once" for k, v in wrong.items()}
        return Check("images", FAIL, f"{figure} ({how})",
                     "divide by 255 in exactly one place: the extractor (policy_kwargs keeps "
                     "normalize_images=False)")
    return Check("images", PASS, figure + " (scaled exactly once)")


def _encoder_of(extractor: nn.Module, key: str) -> nn.Module:
    branches = getattr(extractor, "branches", None)
    if isinstance(branches, nn.ModuleDict) and key in branches:
        return branches[key]
    return extractor


def _raw_gamma(raw: dict) -> tuple[float, float]:
    ppo = raw.get("ppo") or {}
    ppo_gamma = ppo.get("gamma", 0.99) if isinstance(ppo, dict) else 0.99
    env = raw.get("env") or {}
    return ppo_gamma, env.get("gamma", ppo_gamma) if isinstance(env, dict) else ppo_gamma


def check_gamma(subject: Subject, model_gamma: float, env_gamma: float) -> Check:
    """PPO's discount equals the shaping discount as written in the config, as used by the
    env built from it, and the discount of the BC checkpoint's value targets."""
    ppo_gamma, shaping = _raw_gamma(subject.raw)
    values = {"PPO": model_gamma, "config ppo.gamma": ppo_gamma, "config env.gamma": shaping,
              "env shaping": env_gamma}
    if subject.bc is not None:
        values["BC returns"] = _raw_gamma(subject.bc[0])[1]
    figure = ", ".join(f"{name} {value:g}" for name, value in values.items())
    if len({float(v) for v in values.values()}) > 1:
        return Check("gamma", FAIL, f"discounts differ: {figure}",
                     "leave env.gamma out of the config (it is ppo.gamma) and behaviour-clone "
                     "with the same config")
    return Check("gamma", PASS, figure)


def check_reward_invariant(subject: Subject, levels: Sequence[Level]) -> Check:
    env = dict(subject.raw.get("env") or {})
    env.pop("shaping_scale", None)
    env.setdefault("gamma", _raw_gamma(subject.raw)[0])
    env.setdefault("observations", subject.config.env.observations)
    try:
        env_config = EnvConfig.from_dict(env)
    except (TypeError, ValueError) as e:
        return Check("reward_invariant", FAIL, f"{subject.source}: {e}",
                     "reduce reward.time_per_frame or reward.shaping_scale, or raise "
                     "reward.completion")
    worst_win, best_death, best_timeout = reward_bounds(env_config)
    no_exit = [lv.name for lv in levels
               if not {T_EXIT_DOOR, T_EXIT_SWITCH} <= set(np.asarray(lv.entity_types).tolist())]
    figure = (f"worst win {worst_win:.4f} > best death {best_death:.4f} and best time-out "
              f"{best_timeout:.4f} (returns relative to -phi(s0)); "
              f"{len(levels) - len(no_exit)}/{len(levels)} levels have an exit door and switch")
    if no_exit:
        return Check("reward_invariant", FAIL, f"{figure}; cannot be finished: "
                     f"{_listing(no_exit)}", "remove levels without an exit from the run")
    return Check("reward_invariant", PASS, figure)


def preflight_or_stop(model, config: TrainConfig, levels: Sequence[Level], run_dir: str | Path,
                      transfer_report: dict | None = None,
                      log: Callable[[str], None] = print) -> list[Check]:
    """:func:`preflight` as ``ninjarl train`` runs it: print the report, and stop the run with
    a one-line ValueError when a check fails."""
    checks = preflight(model, config, levels, run_dir, transfer_report)
    log(report(checks))
    bad = failed(checks)
    if bad:
        raise ValueError(f"doctor: {len(bad)} check(s) failed before training ({', '.join(bad)}); "
                         "fix them, or pass --no-doctor to train anyway")
    return checks
