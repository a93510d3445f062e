"""Behaviour cloning (BC) from human replays, on the very policy object PPO fine-tunes.

Dataset
-------
:func:`build_bc_dataset` replays every recorded run through the environment code the agent
trains with: a :class:`~ninjarl.env.ReplayVecEnv` (the training env's engine and step kernel,
built from the run's :class:`~ninjarl.env.EnvConfig`: same observation keys, ``max_frames``,
rewards) inside the same :func:`~ninjarl.env.standard_wrappers` as every training and
evaluation env (frame stacking with zero padding, then SB3's channels-first transpose). Each
replay's map is its own level. Sample ``t`` of a replay is the observation the agent would see
*before* its step ``t``, labelled with the action taken at that step.

How per-frame human inputs become per-step labels. A replay holds one input byte per frame;
an env step holds one action for ``k = action_repeat`` frames. The byte of a frame maps to
the action with the same horizontal direction and jump bit (the inverse of
:data:`~ninjarl.sim.replay.ACTION_TO_INPUT_BYTE`; left wins over right, as in the simulator).

* ``k == 1``: step ``t`` plays input ``t``; the label is that input's action.
* ``k > 1``: the simulator still advances frame by frame with the human's exact inputs, so
  the trajectory is the human's and every observation is one the human really saw. Each env
  step plays the next block of k input frames; its sample is the observation before it, and
  its label is the **most frequent action among the block's frames; ties go to the action
  that occurs first in the block**. The last block may be shorter than ``k``.

The human's idle start is simulated but not emitted: samples begin at the first step whose
label is not noop. Before it the ninja stands untouched at its spawn (players wait a median of
12 frames, at least one step in 110 of the 130 bundled replays), so those samples would teach
"noop at spawn" — a fixed point for a deterministic policy, which then never moves. Measured
before this rule: ``mlp_baseline`` fine-tuned from such a BC model won 100% of held-out
``simplest`` levels sampling its actions but 28% with argmax actions, standing still on the rest.
``step_index`` keeps counting env steps from the reset, so sample ``(replay, t)`` is always the
observation after ``t`` steps.

Emission stops when the episode ends, as the env ends it: a win or death (after the frame
that causes it) or the frame limit ``max_frames``. The ``stuck_frames`` truncation is off for
demonstrations (a human pause is not a failure).

Each sample also carries the env's reward for its step and the discounted return from that
step to the end of the demonstration, the targets of the optional value warm-up.

Train and validation splits are by replay, never by frame: the replay file names (sorted) are
shuffled with ``seed`` and the first ``round(val_fraction * n)`` (at least one when there are
two or more replays) are held out.

Cache
-----
A built dataset is stored as ``<cache_dir>/bc-<key>.npz`` (plain arrays, read with
``allow_pickle=False``, written atomically). The key is the sha256 of a format version, every
replay's name and bytes, the run's full env config (``EnvConfig.to_dict``), the frame stack,
``val_fraction``, ``seed`` and ``mirror``: any change of replays or observation settings builds anew
instead of reusing stale samples.

Training
--------
:func:`train_bc` minimises the cross-entropy of the human actions under
``model.policy.evaluate_actions`` of an SB3 PPO built by :func:`ninjarl.train.model.build_model`,
so feature extractor, action head and the RunningNorm buffers are the tensors ``train --bc``
transfers, with their names unchanged. The policy is in training mode during the gradient
steps (normalisation statistics update, as in a PPO update) and in evaluation mode while
measuring accuracy. ``value_warmup`` adds ``vf_coef * MSE(value, return)`` to the loss.

The report (:class:`BCReport`) gives the held-out accuracy (argmax of the policy's action
distribution) next to two baselines on the same held-out samples: the training split's
majority action, and repeat-previous-action (the previous label of the same replay; the first
sample of a replay is predicted as noop). Accuracy is measured on the human's states only, so
:func:`run_bc` also lets the BC policy play the held-out replays' levels itself, with argmax and
with sampled actions, and reports the share it wins.

Recoveries
----------
A *recovery* is a demonstration that takes over from another policy (:mod:`ninjarl.train.recovery`):
its replay plays that policy's own inputs up to ``label_from_frame`` and the planner's after.
Its samples start at that frame's step (the other policy's steps are simulated, not emitted,
as the idle start is), so the policy learns what to do where it went wrong, not how it got
there. ``build_bc_dataset(..., recoveries=...)`` names them: replay file name ->
:class:`Recovery`. A recovery belongs to the split of the demonstration of its level (the
split of the other replays is the same as without recoveries); one whose level's
demonstration is held out is left out, so the held-out levels stay unseen.

Mirroring
---------
With ``mirror=True`` every *training* replay is also played on its left↔right mirror image
(:func:`ninjarl.sim.mirror.mirror_map`, inputs with left and right swapped, labels relabelled
the same way), doubling the demonstrations. The simulator is not exactly symmetric, so a
mirrored run is kept only when it ends like the original (same outcome on the same frame);
on the 130 bundled human replays all 130 mirrored runs do, following the reflected
trajectory to within 2.3e-9 px. Held-out replays are never mirrored, so validation accuracy and its
baselines are measured on the human data alone. A mirrored replay is named
``<file name> (mirrored)`` and always belongs to the training split of its original.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..atomic import save_npz
from ..env import EnvConfig, ReplayVecEnv, make_vec_env, standard_wrappers
from ..env.replay_env import NO_FRAME
from ..models.policy import obs_tensors
from ..sim.errors import FormatError
from ..sim.mirror import mirror_actions, mirror_map
from ..sim.replay import input_actions, read_replay  # input_actions: re-exported for callers
from .autotune import apply_torch_threads
from .config import TrainConfig

FORMAT_VERSION = 2
NOOP = 0
MIRROR_SUFFIX = " (mirrored)"


# ---- labels ---------------------------------------------------------------------------------

def block_label(actions: np.ndarray) -> int:
    """The label of one step's block of per-frame actions: the most frequent action, ties
    going to the one that occurs first in the block."""
    actions = np.asarray(actions, np.int64)
    if actions.size == 0:
        raise ValueError("block_label needs at least one frame")
    counts = np.bincount(actions, minlength=6)
    best = counts.max()
    return int(next(a for a in actions if counts[a] == best))


@dataclass
class ReplayRun:
    """The samples of one replay (``obs/<key>`` arrays, ``actions``, ``rewards``,
    ``returns``, ``step_index``) and how its episode ended: ``outcome`` is ``"won"``, ``"dead"``,
    ``"truncated"`` (frame limit) or ``"ongoing"`` (the inputs ran out), after ``frames``."""
    samples: dict[str, np.ndarray]
    outcome: str
    frames: int


def replay_samples(replay_path: str | Path, env_config: EnvConfig, frame_stack: int,
                   mirrored: bool = False) -> ReplayRun:
    """Every sample of one replay (see the module docstring for the rules); with
    ``mirrored`` of its left↔right mirror image instead."""
    return replay_runs([replay_path], env_config, frame_stack, mirrored)[0]


#: replays played side by side in one ReplayVecEnv: enough to amortise the per-step Python
#: work, few enough that a batch of image observations stays a few hundred MB
REPLAY_BATCH = 256


#: a replay ready to play: (its path, its map bytes, its per-frame actions)
Recording = tuple[Path, bytes, np.ndarray]


@dataclass(frozen=True)
class Recovery:
    """A replay that is another policy's inputs up to ``label_from_frame``, a demonstration
    after it (see the module docstring). ``demo`` is the file name of the demonstration of the
    same level, whose split it follows."""
    demo: str
    label_from_frame: int


def recording(replay_path: str | Path, mirrored: bool = False) -> Recording:
    """The map and per-frame actions of a replay, or of its mirror image (a
    :class:`~ninjarl.sim.errors.FormatError` if an entity's mirror image cannot be stored)."""
    replay = read_replay(replay_path)
    map_bytes, frame_actions = replay.map_bytes, input_actions(replay.inputs)
    if mirrored:
        map_bytes = mirror_map(map_bytes, str(replay_path))
        frame_actions = mirror_actions(frame_actions)
    return Path(replay_path), map_bytes, frame_actions


def replay_runs(replay_paths: Sequence[str | Path], env_config: EnvConfig, frame_stack: int,
                mirrored: bool = False,
                label_from_frames: Sequence[int] | None = None) -> list[ReplayRun]:
    """:func:`replay_samples` of every replay, in order (:func:`play_recordings`)."""
    return play_recordings([recording(p, mirrored) for p in replay_paths], env_config,
                           frame_stack, label_from_frames)


def play_recordings(recordings: Sequence[Recording], env_config: EnvConfig,
                    frame_stack: int,
                    label_from_frames: Sequence[int] | None = None) -> list[ReplayRun]:
    """The samples of every recording, in order, played :data:`REPLAY_BATCH` at a time
    through one :class:`~ninjarl.env.ReplayVecEnv` (each env's run is the one it has
    alone). ``label_from_frames[i]`` (default 0): recording i's samples start at the step
    that holds that frame (a recovery's takeover, see the module docstring)."""
    if label_from_frames is None:
        label_from_frames = [0] * len(recordings)
    runs: list[ReplayRun] = []
    for start in range(0, len(recordings), REPLAY_BATCH):
        end = start + REPLAY_BATCH
        runs += _play_batch(recordings[start:end], env_config, frame_stack,
                            label_from_frames[start:end])
    return runs


def _play_batch(recordings: Sequence[Recording], env_config: EnvConfig,
                frame_stack: int, label_from_frames: Sequence[int]) -> list[ReplayRun]:
    maps = [map_bytes for _, map_bytes, _ in recordings]
    inputs = [frame_actions for _, _, frame_actions in recordings]
    n, k = len(maps), env_config.action_repeat
    steps = np.array([-(-len(actions) // k) for actions in inputs])
    # blocks[i, t]: env i's frames of step t; NO_FRAME pads its last block, NOOP fills the
    # steps after its recording (played by no one: the env has left the batch by then)
    blocks = np.full((n, int(steps.max(initial=0)) * k), NOOP, np.int64)
    for i, actions in enumerate(inputs):
        blocks[i, len(actions):steps[i] * k] = NO_FRAME
        blocks[i, :len(actions)] = actions
    blocks = blocks.reshape(n, -1, k)
    inner = ReplayVecEnv(maps, env_config)
    venv = standard_wrappers(inner, frame_stack)
    obs = venv.reset()
    outcomes, frames = ["ongoing"] * n, [0] * n
    live = steps > 0
    # the samples of every live env, step after step: (env, observation, reward) rows
    owners, rows, rewards = [], {key: [] for key in obs}, []
    for t in range(blocks.shape[1]):
        ids = np.flatnonzero(live)
        owners.append(ids)
        for key, value in obs.items():
            rows[key].append(value[ids])
        obs, reward, dones, infos = venv.step(blocks[:, t])
        rewards.append(reward[ids])
        for i in ids:
            if dones[i]:
                info = infos[i]
                outcomes[i] = ("won" if info["is_success"] else
                               "truncated" if info["TimeLimit.truncated"] else "dead")
                frames[i] = info["frames"]
                live[i] = False
            elif t == steps[i] - 1:                                  # the inputs ran out
                frames[i] = inner.engine.info(i)["frames"]
                live[i] = False
    if not owners:
        raise ValueError(f"{recordings[0][0]}: the replay has no inputs")
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")                         # env by env, step order
    bounds = np.searchsorted(owner[order], np.arange(n + 1))
    observations = {key: np.concatenate(values)[order] for key, values in rows.items()}
    all_rewards = np.concatenate(rewards)[order]
    runs = []
    for i in range(n):
        span = slice(bounds[i], bounds[i + 1])
        played = bounds[i + 1] - bounds[i]
        actions = np.array([block_label(b[b != NO_FRAME]) for b in blocks[i, :played]],
                           np.int64)
        runs.append(_run(actions, all_rewards[span],
                         {key: value[span] for key, value in observations.items()},
                         env_config.gamma, outcomes[i], frames[i], label_from_frames[i] // k))
    return runs


def _run(actions: np.ndarray, rewards: np.ndarray, observations: dict[str, np.ndarray],
         gamma: float, outcome: str, frames: int, label_from_step: int = 0) -> ReplayRun:
    """One replay's samples from its per-step arrays: discounted returns, the idle start
    and the steps before ``label_from_step`` cut."""
    returns = np.zeros(len(rewards), np.float32)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        returns[t] = running
    moving = np.flatnonzero(actions != NOOP)
    first = int(moving[0]) if len(moving) else len(actions)          # the idle start is cut
    first = max(first, min(label_from_step, len(actions)))
    out = {f"obs/{key}": value[first:] for key, value in observations.items()}
    out.update(actions=actions[first:], rewards=rewards[first:].astype(np.float32),
               returns=returns[first:],
               step_index=np.arange(first, len(actions), dtype=np.int64))
    return ReplayRun(out, outcome, frames)


# ---- dataset --------------------------------------------------------------------------------

@dataclass
class BCDataset:
    """Samples of many replays. ``obs[key]`` is [S, ...] exactly as the policy receives it;
    ``replay_index`` points into ``replay_names``; ``step_index`` is the step within its
    replay; ``val_replays[i]`` says whether replay ``i`` is held out."""
    obs: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    returns: np.ndarray
    replay_index: np.ndarray
    step_index: np.ndarray
    replay_names: list[str]
    val_replays: np.ndarray
    cache_key: str = ""
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def val_mask(self) -> np.ndarray:
        return self.val_replays[self.replay_index]

    @property
    def train(self) -> "BCDataset":
        return self.subset(~self.val_mask)

    @property
    def val(self) -> "BCDataset":
        return self.subset(self.val_mask)

    @property
    def train_names(self) -> list[str]:
        return [n for n, v in zip(self.replay_names, self.val_replays) if not v]

    @property
    def val_names(self) -> list[str]:
        return [n for n, v in zip(self.replay_names, self.val_replays) if v]

    def subset(self, mask: np.ndarray) -> "BCDataset":
        """The samples where ``mask`` is True (replay names and split kept)."""
        return replace(self, obs={k: v[mask] for k, v in self.obs.items()},
                       actions=self.actions[mask], rewards=self.rewards[mask],
                       returns=self.returns[mask], replay_index=self.replay_index[mask],
                       step_index=self.step_index[mask])

    def replay(self, name: str) -> "BCDataset":
        """The samples of one replay (by file name), in step order."""
        return self.subset(self.replay_index == self.replay_names.index(name))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"obs/{k}": v for k, v in self.obs.items()}
        out.update(actions=self.actions, rewards=self.rewards, returns=self.returns,
                   replay_index=self.replay_index, step_index=self.step_index,
                   replay_names=np.array(self.replay_names, dtype=np.str_),
                   val_replays=self.val_replays)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], cache_key: str = "",
                    from_cache: bool = False) -> "BCDataset":
        return cls(obs={k.removeprefix("obs/"): v for k, v in arrays.items()
                        if k.startswith("obs/")},
                   actions=arrays["actions"], rewards=arrays["rewards"],
                   returns=arrays["returns"], replay_index=arrays["replay_index"],
                   step_index=arrays["step_index"],
                   replay_names=[str(n) for n in arrays["replay_names"]],
                   val_replays=arrays["val_replays"].astype(bool),
                   cache_key=cache_key, from_cache=from_cache)


def split_replays(names: Sequence[str], val_fraction: float, seed: int) -> np.ndarray:
    """Held-out flags for sorted replay ``names``: a seeded shuffle, the first
    ``round(val_fraction * n)`` held out (at least one when n >= 2 and val_fraction > 0)."""
    n = len(names)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    flags = np.zeros(n, bool)
    flags[order[:n_val]] = True
    return flags


def cache_key(replay_paths: Sequence[str | Path], env_config: EnvConfig, frame_stack: int,
              val_fraction: float, seed: int, mirror: bool = False,
              recoveries: Mapping[str, Recovery] | None = None) -> str:
    """sha256 over everything a dataset depends on (see the module docstring)."""
    h = hashlib.sha256()

    def put(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    put(f"ninjarl-bc-v{FORMAT_VERSION}".encode())
    put(json.dumps(env_config.to_dict(), sort_keys=True).encode())
    put(json.dumps({"frame_stack": frame_stack, "val_fraction": val_fraction,
                    "seed": seed, "mirror": mirror,
                    "recoveries": {name: asdict(r) for name, r in (recoveries or {}).items()}},
                   sort_keys=True).encode())
    for path in sorted(map(Path, replay_paths), key=lambda p: p.name):
        put(path.name.encode())
        put(path.read_bytes())
    return h.hexdigest()


def build_bc_dataset(replay_paths: Sequence[str | Path], train_config: TrainConfig,
                     cache_dir: str | Path | None = None, val_fraction: float = 0.2,
                     seed: int = 0, log: Callable[[str], None] | None = None,
                     mirror: bool = False,
                     recoveries: Mapping[str, Recovery] | None = None) -> BCDataset:
    """The BC dataset of ``replay_paths`` for the observations of ``train_config`` (its
    ``env`` config, whose observation keys are its architecture's, and ``frame_stack``),
    from ``cache_dir`` when an identical build is cached there. ``mirror`` adds the mirror
    image of every training replay whose mirrored run ends like the original.
    ``recoveries`` says which of the replays are recoveries (by file name; see the module
    docstring)."""
    paths = sorted(map(Path, replay_paths), key=lambda p: p.name)
    if not paths:
        raise ValueError("build_bc_dataset: no replays")
    names = [p.name for p in paths]
    if len(set(names)) != len(names):       # the name decides the split and the cache key
        twice = next(p for p in paths if names.count(p.name) > 1)
        raise ValueError(f"{twice.name}: two replays have this file name "
                         f"({', '.join(str(p) for p in paths if p.name == twice.name)}); "
                         "replay file names must be unique")
    recoveries = dict(recoveries or {})
    for name, r in recoveries.items():
        if name not in names or r.demo not in names or r.demo in recoveries:
            raise ValueError(f"recovery {name}: it and the demonstration it names ({r.demo}) "
                             "must both be among the replays, and that one no recovery")
    env_config, frame_stack = train_config.env, train_config.frame_stack
    key = cache_key(paths, env_config, frame_stack, val_fraction, seed, mirror, recoveries)
    cache_file = Path(cache_dir) / f"bc-{key[:32]}.npz" if cache_dir is not None else None
    if cache_file is not None and cache_file.is_file():
        with np.load(cache_file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if str(arrays.pop("key")) == key:
            return BCDataset.from_arrays(arrays, key, from_cache=True)

    start = time.perf_counter()
    if recoveries:
        paths, names, val_flags, dropped = _with_recoveries(paths, recoveries, val_fraction, seed)
        if log and dropped:
            log(f"bc recoveries: left out {dropped} of {len(recoveries)} (their level's "
                "demonstration is held out)")
    else:
        val_flags = split_replays(names, val_fraction, seed)
    runs = replay_runs(paths, env_config, frame_stack, label_from_frames=[
        recoveries[p.name].label_from_frame if p.name in recoveries else 0 for p in paths])
    parts = [run.samples for run in runs]
    if mirror:
        training = [(path, run) for path, run, held_out in zip(paths, runs, val_flags)
                    if not held_out]
        mirrorable, recordings = [], []
        for path, run in training:
            try:
                recordings.append(recording(path, mirrored=True))
            except FormatError as error:     # an entity whose mirror image cannot be stored
                if log:
                    log(f"bc mirroring: skipped {error}")
                continue
            mirrorable.append((path, run))
        images = play_recordings(recordings, env_config, frame_stack, [
            recoveries[p.name].label_from_frame if p.name in recoveries else 0
            for p, _ in mirrorable])
        for (path, run), image in zip(mirrorable, images):
            if (image.outcome, image.frames) == (run.outcome, run.frames):
                parts.append(image.samples)
                names.append(path.name + MIRROR_SUFFIX)
        kept = len(names) - len(paths)
        val_flags = np.concatenate([val_flags, np.zeros(kept, bool)])
        if log:
            log(f"bc mirroring: kept {kept} of {len(training)} training replays "
                "(the mirrored run ended like the original)")
    arrays = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    arrays["replay_index"] = np.concatenate(
        [np.full(len(part["actions"]), i, np.int64) for i, part in enumerate(parts)])
    arrays["replay_names"] = np.array(names, dtype=np.str_)
    arrays["val_replays"] = val_flags
    if log:
        log(f"bc dataset: {len(arrays['actions']):,} samples from {len(names)} replays in "
            f"{time.perf_counter() - start:.1f} s")
    if cache_file is not None:
        save_npz(cache_file, {**arrays, "key": np.array(key)})
    return BCDataset.from_arrays(arrays, key)


#: in a replays folder: which of its replays are recoveries, ``{file name: {"demo": file
#: name, "label_from_frame": frame}}`` (written by :mod:`ninjarl.train.recovery`)
RECOVERIES_FILE = "recoveries.json"


def read_recoveries(replays_dir: str | Path) -> dict[str, Recovery]:
    """The recoveries that ``replays_dir/recoveries.json`` names (none without the file); a
    malformed entry is a :class:`~ninjarl.sim.errors.FormatError` naming the file and entry."""
    path = Path(replays_dir) / RECOVERIES_FILE
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FormatError(str(path), "recoveries", f"not readable JSON: {error}") from None
    if not isinstance(document, dict):
        raise FormatError(str(path), "recoveries", "must be an object of replay file names")
    out = {}
    for name, entry in document.items():
        frame = entry.get("label_from_frame") if isinstance(entry, dict) else None
        demo = entry.get("demo") if isinstance(entry, dict) else None
        if not isinstance(demo, str) or type(frame) is not int or frame < 0:
            raise FormatError(str(path), name, 'needs "demo" (a replay file name) and '
                              '"label_from_frame" (an integer >= 0)')
        out[name] = Recovery(demo, frame)
    return out


def _with_recoveries(paths: list[Path], recoveries: Mapping[str, Recovery], val_fraction: float,
                     seed: int) -> tuple[list[Path], list[str], np.ndarray, int]:
    """The replays in dataset order, the demonstrations first, split as they would be alone,
    then the recoveries of training demonstrations (in the training split); and how many
    recoveries were left out."""
    demos = [p for p in paths if p.name not in recoveries]
    held_out = dict(zip((p.name for p in demos),
                        split_replays([p.name for p in demos], val_fraction, seed)))
    kept = [p for p in paths if p.name in recoveries and not held_out[recoveries[p.name].demo]]
    ordered = demos + kept
    flags = np.concatenate([[held_out[p.name] for p in demos], np.zeros(len(kept), bool)])
    return ordered, [p.name for p in ordered], flags.astype(bool), len(recoveries) - len(kept)


# ---- baselines and training -----------------------------------------------------------------

def majority_action(actions: np.ndarray) -> int:
    """The most frequent action (the lowest index on ties)."""
    return int(np.bincount(np.asarray(actions, np.int64), minlength=6).argmax())


def repeat_previous_predictions(dataset: BCDataset) -> np.ndarray:
    """For each sample, the previous sample's label in the same replay (noop at step 0)."""
    order = np.lexsort((dataset.step_index, dataset.replay_index))
    pred = np.full(len(dataset), NOOP, np.int64)
    acts, reps = dataset.actions[order], dataset.replay_index[order]
    prev = np.full(len(order), NOOP, np.int64)
    same = np.zeros(len(order), bool)
    same[1:] = reps[1:] == reps[:-1]
    prev[1:][same[1:]] = acts[:-1][same[1:]]
    pred[order] = prev
    return pred


@dataclass
class BCReport:
    """Outcome of a BC run; accuracies are fractions of samples."""
    val_accuracy: float
    train_accuracy: float
    majority_action: int
    majority_baseline: float
    repeat_previous_baseline: float
    train_majority_baseline: float
    train_repeat_previous_baseline: float
    train_samples: int
    val_samples: int
    train_replays: list[str]
    val_replays: list[str]
    epochs: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    #: share of the held-out replays' levels the BC policy wins on its own (closed loop),
    #: with argmax actions and with sampled actions, over the replays ``val_levels_played``
    #: (:func:`closed_loop_sample`); NaN until measured by :func:`run_bc`
    val_levels_won_argmax: float = float("nan")
    val_levels_won_sampled: float = float("nan")
    val_levels_played: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"bc: held-out accuracy {self.val_accuracy:.1%} (majority action "
                f"{self.majority_baseline:.1%}, repeat previous {self.repeat_previous_baseline:.1%})"
                f" over {self.val_samples:,} samples of {len(self.val_replays)} replays; "
                f"training accuracy {self.train_accuracy:.1%} over {self.train_samples:,}; "
                f"playing {len(self.val_levels_played)} held-out levels itself it wins "
                f"{self.val_levels_won_argmax:.0%} with argmax actions, "
                f"{self.val_levels_won_sampled:.0%} sampling")


#: most held-out levels the closed-loop check plays: its figure is a share, and 140 levels
#: give it a 95% interval of about +-8 points, while playing all 662 held-out levels of the
#: built-in set's planner demonstrations, twice, took a third of the cloning's time
CLOSED_LOOP_LEVELS = 140


def closed_loop_sample(names: Sequence[str]) -> list[str]:
    """The held-out replays whose levels the closed-loop check plays: all of them up to
    :data:`CLOSED_LOOP_LEVELS`, else that many evenly spaced in name order (the planner's
    demonstrations are named by category, so each category keeps its share)."""
    names = sorted(names)
    if len(names) <= CLOSED_LOOP_LEVELS:
        return names
    return [names[i * len(names) // CLOSED_LOOP_LEVELS] for i in range(CLOSED_LOOP_LEVELS)]


@torch.no_grad()
def predict_actions(policy, dataset: BCDataset, batch_size: int = 1024) -> np.ndarray:
    """argmax of the policy's action distribution for every sample (evaluation mode)."""
    policy.set_training_mode(False)
    out = np.zeros(len(dataset), np.int64)
    for start in range(0, len(dataset), batch_size):
        idx = np.arange(start, min(start + batch_size, len(dataset)))
        dist = policy.get_distribution(obs_tensors(dataset.obs, idx, policy.device))
        out[idx] = dist.distribution.probs.argmax(dim=1).cpu().numpy()
    return out


def _accuracy(pred: np.ndarray, actions: np.ndarray) -> float:
    return float((pred == actions).mean()) if len(actions) else float("nan")


def train_bc(model, dataset: BCDataset, epochs: int = 10, batch_size: int = 256,
             lr: float = 3e-4, value_warmup: bool = False, seed: int = 0,
             vf_coef: float = 0.5, max_grad_norm: float = 0.5,
             log: Callable[[str], None] | None = None,
             history: list[dict] | None = None) -> BCReport:
    """Behaviour-clone ``dataset``'s training split into ``model.policy`` (an SB3 PPO from
    :func:`ninjarl.train.model.build_model`) and report accuracies on both splits.

    Adam on every policy parameter (a separate optimizer: PPO's own optimizer state is left
    untouched), shuffled minibatches (seeded), loss ``-mean log pi(a_human | s)`` plus
    ``vf_coef * MSE(V(s), return)`` with ``value_warmup``, gradients clipped to
    ``max_grad_norm``. Each finished epoch's row is appended to ``history`` (a new list by
    default) as it ends: what was trained when a Ctrl-C stops it.
    """
    train, val = dataset.train, dataset.val
    if len(train) == 0:
        raise ValueError("train_bc: the training split is empty")
    policy = model.policy
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    actions = torch.as_tensor(train.actions, dtype=torch.int64, device=policy.device)
    returns = torch.as_tensor(train.returns, dtype=torch.float32, device=policy.device)
    history = [] if history is None else history
    for epoch in range(1, epochs + 1):
        policy.set_training_mode(True)
        order = rng.permutation(len(train))
        ce_sum = vf_sum = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            values, log_prob, _ = policy.evaluate_actions(
                obs_tensors(train.obs, idx, policy.device), actions[idx])
            ce = -log_prob.mean()
            loss = ce
            if value_warmup:
                vf = torch.nn.functional.mse_loss(values.flatten(), returns[idx])
                loss = loss + vf_coef * vf
                vf_sum += vf.item() * len(idx)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
            optimizer.step()
            ce_sum += ce.item() * len(idx)
        row = {"epoch": epoch, "loss": ce_sum / len(train),
               "train_accuracy": _accuracy(predict_actions(policy, train), train.actions),
               "val_accuracy": _accuracy(predict_actions(policy, val), val.actions)}
        if value_warmup:
            row["value_loss"] = vf_sum / len(train)
        history.append(row)
        if log:
            log(f"bc epoch {epoch}: loss {row['loss']:.4f} train {row['train_accuracy']:.1%} "
                f"val {row['val_accuracy']:.1%}")
    policy.set_training_mode(False)
    majority = majority_action(train.actions)
    return BCReport(
        val_accuracy=_accuracy(predict_actions(policy, val), val.actions),
        train_accuracy=_accuracy(predict_actions(policy, train), train.actions),
        majority_action=majority,
        majority_baseline=_accuracy(np.full(len(val), majority), val.actions),
        repeat_previous_baseline=_accuracy(repeat_previous_predictions(val), val.actions),
        train_majority_baseline=_accuracy(np.full(len(train), majority), train.actions),
        train_repeat_previous_baseline=_accuracy(repeat_previous_predictions(train),
                                                 train.actions),
        train_samples=len(train), val_samples=len(val),
        train_replays=dataset.train_names, val_replays=dataset.val_names, epochs=history,
        settings={"epochs": epochs, "batch_size": batch_size, "lr": lr,
                  "value_warmup": value_warmup, "seed": seed, "vf_coef": vf_coef,
                  "max_grad_norm": max_grad_norm, "cache_key": dataset.cache_key,
                  "label_rule": "most frequent action of the step's input frames, "
                                "ties to the earliest; repeat-previous predicts noop at step 0"})


# ---- end to end -----------------------------------------------------------------------------

def build_bc_model(config: TrainConfig, level: bytes):
    """A PPO built by :func:`~ninjarl.train.model.build_model` on a one-env
    :func:`~ninjarl.env.make_vec_env` of ``level`` (only its spaces matter)."""
    from .model import build_model
    venv = make_vec_env([level], 1, config.env, config.frame_stack, seed=config.seed)
    with warnings.catch_warnings():         # a one-env model warns about its batch size
        warnings.simplefilter("ignore", UserWarning)
        return build_model(replace(config, out=""), venv)


def check_bc_out(out_dir: Path) -> None:
    """Refuse an output directory that holds anything but a BC checkpoint of ninjarl (its
    files only, with ``trainer.json`` naming ``bc_report.json``): it would be replaced whole."""
    from .checkpoint import CHECKPOINT_FILES
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return
    ours = {*CHECKPOINT_FILES, "env_state.npz", "bc_report.json"}
    try:
        foreign = sorted({p.name for p in out_dir.iterdir()} - ours)
        trainer = json.loads((out_dir / "trainer.json").read_text())
        is_bc = not foreign and "bc_report" in trainer.get("extra", {})
    except (OSError, ValueError, AttributeError, TypeError):     # not ours, or damaged
        is_bc = False
    if not is_bc:
        raise ValueError(f"--out {out_dir}: not empty and not a behaviour-cloning checkpoint of "
                         "ninjarl; its files would be replaced: choose a new or empty directory")


def replays_in(replays_dir: str | Path) -> list[Path]:
    """Every ``*.replay`` in ``replays_dir`` or its sub-folders, sorted; none is an error."""
    paths = sorted(Path(replays_dir).rglob("*.replay"))
    if not paths:
        raise ValueError(f"{replays_dir}: no *.replay files (in it or its sub-folders)")
    return paths


def default_cache_dir(out_dir: str | Path) -> Path:
    """Where :func:`run_bc` caches the dataset of a cloning into ``out_dir``."""
    return Path(out_dir).parent / ".bc_cache"


def replays_dataset(replays_dir: str | Path, config: TrainConfig, cache_dir: str | Path,
                    val_fraction: float = 0.2, seed: int = 0, mirror: bool = False,
                    log: Callable[[str], None] | None = None) -> BCDataset:
    """The dataset :func:`run_bc` clones: every replay of ``replays_dir`` (see
    :func:`replays_in`), its recoveries (``recoveries.json``) named, from ``cache_dir`` when
    built before with the same settings."""
    return build_bc_dataset(replays_in(replays_dir), config, cache_dir, val_fraction, seed,
                            log, mirror, read_recoveries(replays_dir))


def run_bc(replays_dir: str | Path, out_dir: str | Path, arch: str = "vision_free",
           config: TrainConfig | None = None, epochs: int = 20, batch_size: int = 256,
           lr: float = 3e-4, value_warmup: bool = False, val_fraction: float = 0.2,
           cache_dir: str | Path | None = None, seed: int = 0, mirror: bool = False,
           log: Callable[[str], None] | None = print) -> BCReport:
    """Behaviour-clone every ``*.replay`` in ``replays_dir`` or its sub-folders (``ninjarl
    solve`` writes one per category) and write a checkpoint that
    ``ninjarl train --bc OUT_DIR`` can start from: ``out_dir/{config.json, policy.pt, ...}``
    and ``out_dir/bc_report.json``.

    ``config`` (default ``TrainConfig(arch=arch)``) decides the observations, action repeat
    and frame stack; it must match the PPO run that will fine-tune the result.
    ``cache_dir`` defaults to ``out_dir/../.bc_cache``; ``mirror`` adds the left↔right mirror
    images of the training replays (see the module docstring). An existing ``out_dir`` is
    replaced only if it is empty or a BC checkpoint written here (:func:`check_bc_out`).
    """
    from ..eval import evaluate
    from ..sim import build_level
    from .checkpoint import save_checkpoint
    out_dir = Path(out_dir)
    check_bc_out(out_dir)
    config = replace(config or TrainConfig(arch=arch), out=str(out_dir))
    paths = replays_in(replays_dir)
    apply_torch_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    model = build_bc_model(config, read_replay(paths[0]).map_bytes)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(out_dir)
    dataset = replays_dataset(replays_dir, config, cache, val_fraction, seed, mirror, log)
    if log and dataset.from_cache:
        log(f"bc dataset: {len(dataset):,} samples from the cache ({dataset.cache_key[:12]})")

    def save(document: dict) -> None:
        save_checkpoint(out_dir, model, config, extra={"bc_report": "bc_report.json"},
                        with_env_state=False, documents={"bc_report.json": document})

    report, finished = None, []
    try:
        report = train_bc(model, dataset, epochs, batch_size, lr, value_warmup, seed, log=log,
                          history=finished)
        report.val_levels_played = closed_loop_sample(dataset.val_names)
        played = set(report.val_levels_played)
        levels = [build_level(read_replay(p).map_bytes, p.name) for p in paths
                  if p.name in played]
        if levels:
            # accuracy alone hides closed-loop failures (e.g. an argmax policy that never moves)
            torch.manual_seed(seed)
            report.val_levels_won_argmax, report.val_levels_won_sampled = (
                evaluate(model, levels, ["held-out replays"] * len(levels), config.env,
                         config.frame_stack, deterministic=deterministic).success_rate
                for deterministic in (True, False))
    except KeyboardInterrupt:       # Ctrl-C: keep the weights trained so far
        save((report.to_json() if report else {"epochs": finished}) | {"interrupted": True})
        if log:
            log(f"interrupted after {len(finished)} of {epochs} epochs; checkpoint saved in "
                f"{out_dir} (ninjarl train --bc {out_dir} starts from it)")
        raise
    report.settings.update(arch=config.arch, action_repeat=config.env.action_repeat,
                           mirror=mirror, mirrored_replays=sum(
                               name.endswith(MIRROR_SUFFIX) for name in dataset.replay_names),
                           frame_stack=config.frame_stack,
                           observations=list(config.env.observations))
    save(report.to_json())
    if log:
        log(report.summary())
    return report
