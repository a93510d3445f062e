"""PPO training, read top to bottom: resolve levels → size the env count → build envs and
model → learn with metrics, checkpoints and evaluation → save the final agent → held-out
evaluation written to ``eval.json``."""
from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Image
from stable_baselines3.common.utils import set_random_seed

from ..atomic import current_dir, recover_dir, safe_name, write_json
from ..env import NinjaVecEnv, find_env, make_vec_env
from ..eval import EvalLevel, evaluate
from ..eval.levels import resolve_spec
from ..eval.report import EVAL_SETS_PREFIX
from ..eval.run import evaluate_levels, level_set_name, write_evaluation, write_videos
from ..eval.video import last_frame
from ..models.hierarchical import SubtaskState
from ..sim import Level, build_level
from ..sim.mapfile import bundled_map_path
from ..sim.mirror import mirror_map
from .autotune import apply_torch_threads, autotune_envs
from .callbacks import BetweenUpdates, MetricsCallback
from .checkpoint import read_checkpoint, restore_training, save_checkpoint
from .cloning_ppo import PPOWithCloning
from .config import TrainConfig
from .curriculum import Curriculum
from .demos import demonstration_inputs
from .model import build_model
from .planner_bc import planner_bc_checkpoint, planner_bc_dataset
from .transfer import transfer_weights, write_report

CHECKPOINT_DIR = "checkpoint"
FINAL_DIR = "final"
#: what a run that failed before training started may leave; a new start may replace them
PRESTART_FILES = frozenset({"config.json", "autotune.json", "transfer_report.json"})


#: ``preflight(model, config, training levels, run dir, transfer report or None)``
Preflight = Callable[[PPO, TrainConfig, list[Level], Path, dict | None], None]


@dataclass
class LevelSet:
    """Training and held-out levels with the category of each."""
    train: list[Level]
    train_categories: list[str]
    test: list[Level]
    test_categories: list[str]

    def train_ids(self) -> list[list[str]]:
        """``[name, sha256 of the map]`` of every training level (stored in checkpoints)."""
        return [[lv.name, lv.content_hash] for lv in self.train]


def resolve_levels(spec: str) -> LevelSet:
    """``spec``: category names (comma-separated) from the built-in default dataset, a dataset
    directory, a map file or a bundled map name (then the held-out set is that same map).
    Training levels are ordered by category (curriculum stage order when applicable)."""
    from .. import levels as lv

    def build(entries):
        return ([build_level(e.map_bytes, f"{e.category}/{e.level_id}") for e in entries],
                [e.category for e in entries])

    names = [s.strip() for s in spec.split(",") if s.strip()]
    if names and all(name in lv.CATEGORIES for name in names):
        dataset = lv.default_dataset()
        train_entries = [e for e in dataset.split("train") if e.category in names]
        test_entries = [e for e in dataset.split("test") if e.category in names]
    elif Path(spec).is_dir():
        dataset = lv.load_dataset(spec)
        train_entries, test_entries = dataset.split("train"), dataset.split("test")
    else:
        train_entries = test_entries = lv.load_level_source(spec)
    if not train_entries or not test_entries:
        raise ValueError(f"levels {spec!r}: no training or no held-out levels")
    return LevelSet(*build(train_entries), *build(test_entries))


def with_mirror_images(levels: LevelSet) -> LevelSet:
    """``levels`` with the left-right mirror image of every training level added after the
    originals (named ``<name>~mirror``, same category); the held-out levels are unchanged."""
    mirrored = [build_level(mirror_map(level.map_data.raw, level.name), f"{level.name}~mirror")
                for level in levels.train]
    return LevelSet(levels.train + mirrored, levels.train_categories * 2, levels.test,
                    levels.test_categories)


def curriculum_levels(config: TrainConfig) -> str:
    """The level spec of a curriculum run: all its stages, from the dataset directory given as
    ``levels`` or else from the built-in level set."""
    if Path(config.levels).is_dir():
        return config.levels
    return ",".join(config.curriculum.stages)


def default_run_dir(config: TrainConfig) -> str:
    """``runs/<arch>-<levels>-<time>``: where a run without ``--out`` goes (``levels`` is
    ``curriculum`` for a curriculum over the built-in level set: it trains on every stage,
    whatever ``levels`` says, see :func:`curriculum_levels`)."""
    levels = config.levels
    if config.curriculum and not Path(levels).is_dir():
        levels = "curriculum"
    return f"runs/{config.arch}-{safe_name(levels)}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(config: TrainConfig, log=print, preflight: Preflight | None = None) -> dict:
    """Run a new training run; returns the final evaluation document (also written to
    ``<out>/eval.json``). ``out`` must be new, empty, or hold only what a start that failed
    before training left (:data:`PRESTART_FILES`: ``config.json`` is written once levels,
    envs and model are built). ``preflight`` (``ninjarl train`` passes the doctor's quick
    checks) runs before the first step and stops the run by raising ValueError."""
    config = replace(config, out=config.out or default_run_dir(config))
    out = Path(config.out)
    if out.exists() and not {p.name for p in out.iterdir()} <= PRESTART_FILES:
        raise ValueError(f"run directory {out} is not empty; use --resume {out} to continue "
                         f"it or choose another --out")
    return _run(config, resume=False, log=log, preflight=preflight)


def resume(run_dir: str | Path, timesteps: int | None = None, log=print,
           preflight: Preflight | None = None, device: str | None = None) -> dict:
    """Continue the run in ``run_dir`` from its last checkpoint (same step count, optimizer,
    normalisation statistics, RNG and environment states), up to ``timesteps`` in total
    (default: the run's own target), on ``device`` (default: the run's own setting)."""
    checkpoint = recover_dir(Path(run_dir) / CHECKPOINT_DIR)   # a save killed mid-way
    if not checkpoint.exists() and Path(run_dir).is_dir():
        raise ValueError(f"{run_dir}: no checkpoint to resume (the run stopped before its "
                         f"first one); start it again with --out {run_dir}")
    config, trainer = read_checkpoint(checkpoint)
    if timesteps is not None and timesteps < trainer["num_timesteps"]:
        raise ValueError(f"--timesteps {timesteps}: the checkpoint is at step "
                         f"{trainer['num_timesteps']:,} already; give a larger total")
    config = replace(config, out=str(run_dir), timesteps=timesteps or config.timesteps,
                     device=device or config.device)
    return _run(config, resume=True, log=log, saved_levels=trainer["extra"].get("levels"),
                preflight=preflight)


def check_same_levels(saved: list, levels: LevelSet, config: TrainConfig) -> None:
    """Refuse to resume on other training levels than the checkpoint's (a rebuilt dataset):
    the error names the levels that changed, went or came."""
    now = levels.train_ids()
    if saved == now:
        return
    before, after = dict(map(tuple, saved)), dict(map(tuple, now))
    differences = {
        "changed": sorted(n for n in before.keys() & after.keys() if before[n] != after[n]),
        "gone": sorted(before.keys() - after.keys()),
        "new": sorted(after.keys() - before.keys())}
    parts = [f"{len(names)} {what} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
             for what, names in differences.items() if names]
    raise ValueError(f"{config.out}: the training levels of {config.levels!r} are not the ones "
                     f"the checkpoint was trained on: {'; '.join(parts) or 'another order'}; "
                     "restore those levels or start a new run")


def _run(config: TrainConfig, resume: bool, log, saved_levels: list | None = None,
         preflight: Preflight | None = None) -> dict:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    threads = apply_torch_threads(config.torch_threads)
    set_random_seed(config.seed)
    level_spec = curriculum_levels(config) if config.curriculum else config.levels
    levels = resolve_levels(level_spec)
    if config.mirror:
        levels = with_mirror_images(levels)
    if resume and saved_levels is not None:        # None: a checkpoint from before they were kept
        check_same_levels(saved_levels, levels, config)
    log(f"levels: {len(levels.train)} training, {len(levels.test)} held-out "
        f"({', '.join(sorted(set(levels.train_categories)))}); torch threads: {threads}")

    if config.envs == "auto":
        probe = build_model(replace(config, out=""), make_vec_env(
            levels.train[:1], 1, config.env, config.frame_stack, seed=config.seed))
        n_envs, measurements = autotune_envs(
            levels.train, config.env, lambda obs: probe.predict(obs)[0], config.ppo.n_steps,
            config.frame_stack)
        log("envs auto: " + ", ".join(f"{n}: {v:,.0f} steps/s" for n, v in measurements.items())
            + f" -> {n_envs}")
        (out / "autotune.json").write_text(json.dumps(
            {"chosen": n_envs, "steps_per_s": {str(k): v for k, v in measurements.items()}}))
        config = replace(config, envs=n_envs)
        set_random_seed(config.seed)

    curriculum = None
    if config.curriculum:
        curriculum = Curriculum(config.curriculum, levels.train_categories)
    venv = make_vec_env(levels.train, config.envs, config.env, config.frame_stack,
                        level_sampler=curriculum.sample if curriculum else None,
                        seed=config.seed)
    model = build_model(config, venv)
    metrics = MetricsCallback(levels.train_categories, config.timesteps, curriculum=curriculum)
    restored = {}          # what the checkpoint's trainer.json keeps besides SB3's state
    if resume:
        restored = restore_training(out / CHECKPOINT_DIR, model)
        metrics.load_state(restored.get("metrics", {}))
        if config.hierarchical:
            model.subtask_state = SubtaskState.from_json(restored["subtask_state"])
        if curriculum is not None:
            curriculum.load_state_dict(restored["curriculum"])
        log(f"resumed at step {model.num_timesteps:,}")
    transfer = None
    bc_checkpoint = config.bc
    if not resume and config.planner_bc:
        bc_checkpoint = str(planner_bc_checkpoint(config, levels.train, out, log))
    if not resume and bc_checkpoint:
        transfer = transfer_weights(model, bc_checkpoint, config)
        write_report(transfer, out / "transfer_report.json")
        log(transfer.summary())
    if config.planner_bc and config.planner_bc.plan_starts > 0:
        plans = demonstration_inputs(levels.train, out / "demos")
        find_env(venv, NinjaVecEnv).engine.set_start_plans(plans, config.planner_bc.plan_starts)
        log(f"plan starts: {config.planner_bc.plan_starts:.0%} of the episodes on the "
            f"{sum(p is not None for p in plans)} training levels with a plan start along it")
    if isinstance(model, PPOWithCloning):
        demonstrations = planner_bc_dataset(config, out, log)
        model.set_demonstrations(demonstrations.obs, demonstrations.actions, config.seed,
                                 restored.get("demonstration_samples_drawn", 0))
        log(f"cloning loss during PPO: weight {model.cloning_coef}, {len(demonstrations):,} "
            f"demonstration samples, {model.cloning_batch_size} in each minibatch")
    if preflight is not None:
        preflight(model, config, levels.train, out, transfer.to_json() if transfer else None)
    # only now, with levels, envs and model built, is this a run (a failed start can be retried)
    write_json(out / "config.json", config.to_dict())

    level_ids = levels.train_ids()          # a resume checks it trains on the same levels

    def save(path):
        extra = {"metrics": metrics.state(), "levels": level_ids}
        if config.hierarchical:
            extra["subtask_state"] = model.subtask_state.to_json()
        if curriculum is not None:
            extra["curriculum"] = curriculum.state_dict()
        if isinstance(model, PPOWithCloning):
            extra["demonstration_samples_drawn"] = model.demonstrations.drawn
        save_checkpoint(path, model, config, extra)

    # resolved before training, so that a misspelt level set fails the start, not the end
    eval_sets = {level_set_name([spec]): resolve_spec(spec) for spec in config.eval_levels}

    def held_out(final: bool = False) -> dict:
        """Evaluate on the held-out levels, write eval.json (returned) and eval.md, TensorBoard
        scalars, and at the ``final`` evaluation the videos; play the ``eval_levels`` sets too
        (TensorBoard only)."""
        result = evaluate(model, levels.test, levels.test_categories, config.env,
                          config.frame_stack)
        document = write_evaluation(out, result, model.num_timesteps,
                                    {"levels": f"held-out split of {level_spec}"})
        videos = []
        if config.videos and final:       # a failed episode's video renders 5,000 frames
            held_out_levels = [EvalLevel(lv.name, category, lv.map_data.raw)
                               for lv, category in zip(levels.test, levels.test_categories)]
            videos = write_videos(out / "videos" / f"step-{model.num_timesteps}", result,
                                  held_out_levels, config.env.action_repeat, config.videos)
        if getattr(model, "_logger", None) is not None:     # set up by learn()
            model.logger.record("eval/success_rate", result.success_rate)
            for category, rate in result.per_category.items():
                model.logger.record(f"eval/success_rate/{category}", rate)
            for name, eval_levels in eval_sets.items():
                other = evaluate_levels(model, eval_levels, config.env, config.frame_stack)
                model.logger.record(f"{EVAL_SETS_PREFIX}{name}/success_rate", other.success_rate)
            for path in videos:                  # the poster: a video's last frame
                model.logger.record(f"eval/video/{path.parent.name}/{path.stem}",
                                    Image(last_frame(path), "HWC"),
                                    exclude=("stdout", "log", "json", "csv"))
            model.logger.dump(model.num_timesteps)
        return document

    callbacks = [metrics,
                 BetweenUpdates(config.checkpoint_every, lambda: save(out / CHECKPOINT_DIR)),
                 BetweenUpdates(config.eval_every, held_out)]
    remaining = config.timesteps - model.num_timesteps
    start, start_steps = time.perf_counter(), model.num_timesteps
    if remaining > 0:
        try:
            model.learn(remaining, callback=callbacks, tb_log_name="tb",
                        reset_num_timesteps=not resume)
        except KeyboardInterrupt:       # Ctrl-C: keep what was trained, for --resume
            save(out / CHECKPOINT_DIR)
            log(f"interrupted at step {model.num_timesteps:,}; checkpoint saved, continue "
                f"with: ninjarl train --resume {out}")
            raise
    seconds = time.perf_counter() - start
    save(out / CHECKPOINT_DIR)
    save_checkpoint(out / FINAL_DIR, model, config, with_env_state=False)
    document = held_out(final=True)
    updates = metrics.update_seconds
    steps_per_s = (model.num_timesteps - start_steps) / max(seconds, 1e-9)
    write_json(out / "train_summary.json", {
        "timesteps": int(model.num_timesteps), "seconds": seconds, "steps_per_s": steps_per_s,
        "median_update_s": float(np.median(updates)) if updates else None,
        "command": shlex.join(sys.argv)})
    log(f"trained {model.num_timesteps:,} steps in {seconds:.0f} s ({steps_per_s:,.0f} steps/s"
        + (f", median update {np.median(updates):.2f} s" if updates else "") + ")")
    log(f"held-out success "
        f"{document['success_rate']:.2%} over {document['episodes']} levels "
        + " ".join(f"{c}: {r:.0%}" for c, r in document["per_category"].items()))
    log((out / "eval.md").read_text().strip())
    if config.videos:
        log(f"videos of won and failed held-out episodes: {out / 'videos'}")
    return document


def load_agent(path: str | Path, device: str = "auto") -> PPO:
    """A trained agent from a run directory or checkpoint directory, ready for ``predict`` on
    ``device``; the observation settings come from the checkpoint itself
    (``model.train_config``), and ``model.num_timesteps`` is the step count it was saved at."""
    from .checkpoint import load_policy
    path = Path(path)
    if current_dir(path / FINAL_DIR).is_dir():
        path = path / FINAL_DIR
    path = current_dir(path)
    config, trainer = read_checkpoint(path)
    venv = make_vec_env([bundled_map_path("test/simple-walk")], 1, config.env,
                        config.frame_stack, seed=0)
    model = build_model(replace(config, out="", device=device), venv)
    load_policy(path, model.policy)
    model.policy.set_training_mode(False)
    model.num_timesteps = int(trainer["num_timesteps"])
    model.train_config = config
    return model
