"""Recovery demonstrations: the planner takes over where the cloned policy goes wrong.

Behaviour cloning learns the planner's actions on the planner's own states. The clone drifts
off them and then meets states no demonstration shows: the second mine of a jump's arc, a
corner it presses into until the time limit. A round of recoveries (DAgger, Ross et al. 2011,
with the planner as the expert) adds demonstrations from the clone's own states:

1. the clone plays every training level whose demonstration is in the cloning's training
   split (argmax actions, as evaluation plays; held-out levels stay unseen);
2. for each episode it loses, the planner searches from where the clone was at the takeover
   frame (:func:`takeover_frame`): ``back_frames`` before its death, or where it entered the
   spot it stayed in until the time limit; the clone's inputs up to there are the plan's
   prefix (:func:`ninjarl.solve.solve_level`), and a plan counts only if it wins from the
   level's start;
3. each plan is a replay ``<demonstration stem>+r<frame>.replay`` in the demonstrations
   folder, named in its ``recoveries.json`` (:data:`ninjarl.train.bc.RECOVERIES_FILE`), whose
   samples start at the takeover: the clone's own steps are simulated, not labelled.

The clone is then trained again, from scratch, on the demonstrations and the recoveries of
every round so far.

The package ships one round of recoveries of the built-in level set's training levels
(:data:`BUNDLED_RECOVERIES`, written by ``scripts/bundle_recoveries.py`` from the default
recipe's seed-0 clone): with ``planner_bc.bundled_recoveries`` a run takes them
(:func:`add_bundled_recoveries`, each only if it wins when simulated) instead of spending a
round of its own, minutes on two cores. They are states a clone of these demonstrations
reaches, whichever seed trained it; a level another seed holds out for its cloning check
drops its recovery there, as always.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import numpy as np

from ..atomic import write_bytes, write_json, write_with
from ..eval import evaluate
from ..eval.evaluate import DEAD, TIMEOUT
from ..eval.video import step_actions_to_frames
from ..sim import Level, read_replay, simulate_inputs
from ..sim.replay import ACTION_TO_INPUT_BYTE, encode_replay
from ..solve import PlannerConfig, solve_level
from ..workers import worker_pool
from .bc import RECOVERIES_FILE, read_recoveries, split_replays
from .config import TrainConfig
from .demos import demo_file_name

#: one round of recoveries of the built-in level set's training levels, shipped with the package
BUNDLED_RECOVERIES = (Path(__file__).resolve().parents[1] / "data" / "demos"
                      / "default-train-recoveries.npz")

#: px: a time-out's last stand is where the ninja stayed within this of where it ended
STAND_RADIUS = 24.0


def takeover_frame(x: np.ndarray, y: np.ndarray, outcome: str, frames: int,
                   action_repeat: int, back_frames: int) -> int:
    """The frame the planner takes over from in a lost episode whose ninja centre was at
    ``x[f], y[f]`` after frame ``f + 1``: ``back_frames`` before the frame of a death, or
    for a time-out the first frame of the last stand (the ninja within :data:`STAND_RADIUS`
    of where it ended from then on). Rounded down to a step boundary (a multiple of
    ``action_repeat``), at least 0."""
    if outcome == DEAD:
        frame = frames - 1 - back_frames
    elif outcome == TIMEOUT:
        away = np.hypot(x[:frames] - x[frames - 1], y[:frames] - y[frames - 1]) > STAND_RADIUS
        far = np.flatnonzero(away)
        frame = int(far[-1]) + 1 if len(far) else 0
    else:
        raise ValueError(f"takeover_frame: a {outcome!r} episode was not lost")
    return max(0, frame) // action_repeat * action_repeat


def _search(item: tuple[str, bytes, np.ndarray], planner: PlannerConfig):
    name, map_bytes, prefix = item
    return solve_level(map_bytes, planner, name=name, prefix=prefix)


def make_recoveries(model, levels: Sequence[Level], demos_dir: str | Path,
                    config: TrainConfig, planner: PlannerConfig, back_frames: int,
                    val_fraction: float = 0.2, jobs: int = 1,
                    log: Callable[[str], None] | None = print) -> dict:
    """One round of recoveries (see the module docstring) for ``model`` on ``levels``, whose
    demonstrations ``demos_dir`` holds as ``<safe level name>.replay``; the split is the one
    ``run_bc`` makes of that folder with ``val_fraction`` and ``config.seed``. Writes the
    recovery replays there and adds them to its ``recoveries.json`` (earlier rounds' stay:
    DAgger trains on all of them) and returns the round's counts."""
    start = time.perf_counter()
    demos_dir = Path(demos_dir)
    by_demo = {demo_file_name(level): level for level in levels}
    names = sorted(p.name for p in demos_dir.glob("*.replay") if p.name in by_demo)
    held_out = split_replays(names, val_fraction, config.seed)
    playing = [by_demo[n] for n, out in zip(names, held_out) if not out]
    if not playing:
        raise ValueError(f"{demos_dir}: no demonstration of a training level to recover from")
    result = evaluate(model, playing, ["training"] * len(playing), config.env,
                      config.frame_stack, deterministic=True)
    k = config.env.action_repeat
    items, takeovers = [], []
    for level, episode in zip(playing, result.results):
        if episode.won:
            continue
        inputs = np.array(ACTION_TO_INPUT_BYTE, np.uint8)[
            step_actions_to_frames(episode.actions, k)][:episode.frames]
        trace = simulate_inputs(level, inputs)
        frame = takeover_frame(trace["x"], trace["y"], episode.outcome, episode.frames, k,
                               back_frames)
        if frame > 0:                   # from frame 0 the level's own demonstration holds
            items.append((level.name, level.map_data.raw, inputs[:frame]))
            takeovers.append((level, frame))
    with worker_pool(jobs) if jobs > 1 and len(items) > 1 else nullcontext() as pool:
        search = partial(_search, planner=planner)
        results = pool.imap(search, items) if pool else map(search, items)
        found = [(level, frame, result.inputs)
                 for (level, frame), result in zip(takeovers, results) if result.solved]
    added = _add_recoveries(demos_dir, found)          # earlier rounds' stay
    counts = {"played": len(playing), "lost": sum(not r.won for r in result.results),
              "searched": len(items), "recovered": added,
              "seconds": round(time.perf_counter() - start, 1)}
    if log:
        log(f"recoveries: the clone lost {counts['lost']} of {counts['played']} training "
            f"levels; the planner took over on {counts['recovered']} of {counts['searched']} "
            f"searched, in {counts['seconds']:.0f} s")
    return counts


def write_recovery_bundle(path: str | Path, demos_dir: str | Path,
                          levels: Sequence[Level]) -> dict:
    """Write the recoveries that ``demos_dir/recoveries.json`` names, of ``levels``, as one
    compressed ``.npz`` of plain arrays: per recovery its level's sha256, its takeover frame
    and its input bytes (concatenated, with offsets). Returns the count."""
    demos_dir = Path(demos_dir)
    sha_of = {demo_file_name(level): level.content_hash for level in levels}
    rows = sorted((sha_of[r.demo], r.label_from_frame, name)
                  for name, r in read_recoveries(demos_dir).items() if r.demo in sha_of)
    plans = [read_replay(demos_dir / name).inputs for _, _, name in rows]
    arrays = {"sha256": np.array([sha for sha, _, _ in rows]),
              "label_from_frame": np.array([frame for _, frame, _ in rows], np.int64),
              "offsets": np.concatenate([[0], np.cumsum([len(p) for p in plans])]).astype(np.int64),
              "inputs": np.concatenate(plans).astype(np.uint8)}
    write_with(path, lambda f: np.savez_compressed(f, **arrays))
    return {"recoveries": len(rows)}


def add_bundled_recoveries(levels: Sequence[Level], demos_dir: str | Path,
                           bundle: str | Path = BUNDLED_RECOVERIES,
                           log: Callable[[str], None] | None = print) -> dict:
    """Copy ``bundle``'s recoveries of ``levels`` whose demonstration ``demos_dir`` holds into
    it, each only if it wins when simulated, and add them to its ``recoveries.json``."""
    demos_dir = Path(demos_dir)
    by_sha = {level.content_hash: level for level in levels}
    with np.load(bundle, allow_pickle=False) as z:      # each key read decompresses it
        keys, frames, offsets, inputs = (z["sha256"].tolist(), z["label_from_frame"].tolist(),
                                         z["offsets"], z["inputs"])
    offered, found = 0, []
    for i, (sha, frame) in enumerate(zip(keys, frames)):
        level = by_sha.get(sha)
        if level is None or not (demos_dir / demo_file_name(level)).is_file():
            continue
        offered += 1
        plan = inputs[offsets[i]:offsets[i + 1]]
        if simulate_inputs(level, plan)["outcome"] == "won":
            found.append((level, int(frame), plan))
    _add_recoveries(demos_dir, found)
    if log:
        log(f"recoveries: {len(found)} of the {offered} bundled for these levels' "
            "demonstrations (each simulated to a win)")
    return {"offered": offered, "added": len(found)}


def _add_recoveries(demos_dir: Path, found: Sequence[tuple[Level, int, np.ndarray]]) -> int:
    """Write each (level, takeover frame, winning inputs) as a recovery replay in
    ``demos_dir`` and add it to the folder's ``recoveries.json``; returns how many it did
    not name before."""
    document = {name: {"demo": r.demo, "label_from_frame": r.label_from_frame}
                for name, r in read_recoveries(demos_dir).items()}
    before = len(document)
    for level, frame, inputs in found:
        demo = demo_file_name(level)
        name = demo.removesuffix(".replay") + f"+r{frame}.replay"
        write_bytes(demos_dir / name, encode_replay(level.map_data.raw, inputs, True))
        document[name] = {"demo": demo, "label_from_frame": frame}
    write_json(demos_dir / RECOVERIES_FILE, document)
    return len(document) - before
