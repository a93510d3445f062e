"""Comparisons: many training runs (trials) under one directory, then one report.

A trial is one row of the comparison (an architecture, or a config file for any other
setting: ablations), one seed and, optionally, a behaviour-cloning start. Each trial is a
normal training run in its own directory, ``OUT/<row>[+bc]/seed-<s>/``, evaluated on its
held-out split (``eval.json``) and on every extra level set (``evals/<name>/eval.json``).
Trials that finished are skipped on a second call, an interrupted one resumes from its
checkpoint, a failing one is recorded in its ``trial.json`` and the others go on. The report
(:func:`ninjarl.eval.report.build_report`) is rebuilt from the run directories at the end.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..atomic import current_dir, safe_name, write_json
from ..eval.run import level_set_name, run_evaluation
from .config import TrainConfig, load_run_config
from .ppo import CHECKPOINT_DIR, FINAL_DIR, load_agent, resume, train

BC_CHOICES = ("off", "on", "both")


@dataclass(frozen=True)
class Trial:
    """One run of a comparison."""
    label: str
    config: TrainConfig
    bc: bool
    config_file: str | None

    @property
    def run_dir(self) -> Path:
        return Path(self.config.out)


def plan_trials(out: str | Path, base: dict, archs: Sequence[str] = (),
                configs: Sequence[str | Path] = (), seeds: int = 1,
                bc: str = "off", curriculum: bool = False) -> list[Trial]:
    """Every (row, bc, seed) trial: rows are ``archs`` or config files; ``base`` holds the
    settings given for all (levels, timesteps, envs, ...), which replace a config file's.
    ``curriculum``: every trial uses a curriculum, as ``ninjarl train --curriculum`` does
    (:func:`~ninjarl.train.config.load_run_config`: an architecture row is the curriculum
    recipe with that architecture). Labels and directories are unique."""
    if bool(archs) == bool(configs):
        raise ValueError("compare: give --archs or --configs (one of them)")
    if bc not in BC_CHOICES:
        raise ValueError(f"compare: --bc must be one of {', '.join(BC_CHOICES)}, got {bc!r}")
    if seeds < 1:
        raise ValueError(f"compare: --seeds must be >= 1, got {seeds}")
    rows: list[tuple[str, Callable[..., TrainConfig], str | None]] = []
    for arch in archs:
        rows.append((arch, lambda arch=arch, **s: load_run_config(None, curriculum, arch=arch,
                                                                   **s), None))
    for path in configs:
        rows.append((Path(path).stem,
                     lambda path=path, **s: load_run_config(path, curriculum, **s), str(path)))
    labels = [label for label, _, _ in rows]
    if len(set(labels)) != len(labels):
        raise ValueError(f"compare: two rows have the same name: {labels}")
    trials = []
    for label, make, config_file in rows:
        for with_bc in {"off": [False], "on": [True], "both": [False, True]}[bc]:
            name = label + ("+bc" if with_bc else "")
            for seed in range(seeds):
                run_dir = Path(out) / safe_name(name) / f"seed-{seed}"
                config = make(**base, seed=seed, out=str(run_dir))
                trials.append(Trial(name, config, with_bc, config_file))
    return trials


def run_trials(trials: Sequence[Trial], eval_levels: Sequence[str] = (),
               bc_replays: str | Path | None = None,
               log: Callable[[str], None] = print) -> list[tuple[Trial, str]]:
    """Run every trial that has not finished; returns (trial, status) pairs, status being
    ``"skipped"`` (already finished), ``"trained"``, ``"resumed"`` or ``"failed: ..."``."""
    if any(t.bc for t in trials) and bc_replays is None:
        raise ValueError("compare: --bc on/both needs --bc-replays DIR (human .replay files)")
    statuses = []
    for i, trial in enumerate(trials, 1):
        log(f"[{i}/{len(trials)}] {trial.label} seed {trial.config.seed}: {trial.run_dir}")
        start = time.perf_counter()
        try:
            status = run_trial(trial, eval_levels, bc_replays, log)
        except Exception as error:                      # one failing trial must not stop all
            status = record_failure(trial, *describe_error(error))
        log(f"[{i}/{len(trials)}] {status} ({time.perf_counter() - start:.0f} s)")
        statuses.append((trial, status))
    return statuses


def is_finished(trial: Trial, eval_levels: Sequence[str] = ()) -> bool:
    """Whether the trial's final agent and every evaluation are on disk."""
    run = trial.run_dir
    return ((run / FINAL_DIR).is_dir() and (run / "eval.json").is_file()
            and all((run / "evals" / level_set_name([s]) / "eval.json").is_file()
                    for s in eval_levels))


def run_trial(trial: Trial, eval_levels: Sequence[str] = (),
              bc_replays: str | Path | None = None,
              log: Callable[[str], None] = print) -> str:
    """Train (or resume) and evaluate one trial unless it has finished; returns its status.
    Exceptions propagate (the caller records them with :func:`record_failure`)."""
    run = trial.run_dir
    if is_finished(trial, eval_levels):
        return "skipped (finished)"
    quiet = lambda message: None                       # noqa: E731 - per-run chatter
    if not (run / FINAL_DIR).is_dir():
        if current_dir(run / CHECKPOINT_DIR).is_dir():
            resume(run, trial.config.timesteps, log=quiet)
            status = "resumed"
        else:
            config = trial.config
            if trial.bc:
                config = replace(config, bc=str(_behaviour_clone(trial, bc_replays, log)))
            if run.exists():
                _clear_unfinished(run)
            train(config, log=quiet)
            status = "trained"
    else:
        status = "evaluated"
    model = load_agent(run)
    for spec in eval_levels:
        out = run / "evals" / level_set_name([spec])
        if not (out / "eval.json").is_file():
            run_evaluation(model, [spec], model.train_config.env, out,
                           model.train_config.frame_stack, timesteps=model.num_timesteps,
                           log=None)
    _write_trial(trial)
    held_out = json.loads((run / "eval.json").read_text())
    return f"{status}: held-out success {held_out['success_rate']:.1%}"


def _behaviour_clone(trial: Trial, bc_replays, log) -> Path:
    """The trial's BC checkpoint (built once per row and seed, next to the run)."""
    from .bc import run_bc

    out = trial.run_dir.parent / f"bc-{trial.run_dir.name}"
    if not (out / "policy.pt").is_file():
        run_bc(bc_replays, out, arch=trial.config.arch,
               config=replace(trial.config, bc="", out=str(out)), seed=trial.config.seed,
               log=None)
        log(f"    behaviour cloning: {out}")
    return out


def _clear_unfinished(run: Path) -> None:
    """A trial that failed before its first checkpoint leaves files that would block a new
    start; only the files training and this module write are removed (anything else makes
    training refuse the directory, and the trial is reported as failed)."""
    for name in ("config.json", "autotune.json", "trial.json", "transfer_report.json",
                 "eval.json", "eval.md"):
        (run / name).unlink(missing_ok=True)
    for logs in run.glob("tb_*"):
        shutil.rmtree(logs)


def describe_error(error: BaseException) -> tuple[str, str]:
    """``("Type: message"`` on one line, the traceback``)`` of an exception, as text (which,
    unlike some exceptions, travels between processes)."""
    return (f"{type(error).__name__}: {' '.join(str(error).split())}",
            "".join(traceback.format_exception(error)))


def record_failure(trial: Trial, summary: str, details: str, attempts: int = 1) -> str:
    """Write a failure (``details``: its traceback) to the trial's ``trial.json``; returns the
    one-line status."""
    _write_trial(trial, error=details, attempts=attempts)
    return f"failed{f' after {attempts} attempts' if attempts > 1 else ''}: {summary}"


def _write_trial(trial: Trial, error: str | None = None, attempts: int = 1) -> None:
    trial.run_dir.mkdir(parents=True, exist_ok=True)
    document = {"label": trial.label, "arch": trial.config.arch, "seed": trial.config.seed,
                "bc": trial.bc, "config_file": trial.config_file,
                "command": shlex.join(sys.argv)}
    if error:
        document["error"] = error
        document["attempts"] = attempts
    write_json(trial.run_dir / "trial.json", document)


