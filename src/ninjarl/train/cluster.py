"""Comparison trials on a Ray cluster: each trial is one Ray task.

A task runs :func:`ninjarl.train.compare.run_trial`, the code a local comparison runs, so run
directories, statuses and the report are the same. Each task declares the CPUs (and GPUs) it
uses, and training inside it uses that many torch threads (unless the trial's config sets
``torch_threads``) and a GPU only when it declared one, so Ray can pack trials on a node
without oversubscribing it. A task that
fails (an exception, or its worker dying) is submitted once more; after a second failure the
trial is recorded as failed in its ``trial.json`` (listed in the report) and the others go on.

Ray decides where tasks run; nothing here schedules. Run directories are written by the
workers at the trial's path, so on a cluster of several machines that path must be on a file
system every node shares (docs/cluster.md); the driver checks each run directory it is told
has finished.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from .compare import Trial, describe_error, is_finished, record_failure, run_trial
from .config import TrainConfig

#: a failed trial is run this many times in all
TRIAL_ATTEMPTS = 2


def start_ray(address: str | None, num_cpus: int | None = None):
    """Connect to the Ray cluster at ``address`` (``"auto"``: the one ``ray start`` runs on this
    machine), or start a local instance when ``address`` is empty or None. Returns a function
    that disconnects (and stops a local instance), or does nothing when Ray was already
    initialised by the caller."""
    import ray

    if ray.is_initialized():
        return lambda: None
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
    return ray.shutdown


def run_trials_on_ray(trials: Sequence[Trial], eval_levels: Sequence[str] = (),
                      bc_replays: str | Path | None = None, cpus_per_trial: int = 1,
                      gpus_per_trial: float = 0,
                      log: Callable[[str], None] = print) -> list[tuple[Trial, str]]:
    """Run every unfinished trial as a Ray task on the cluster Ray is connected to (see
    :func:`start_ray`); returns (trial, status) pairs in the order of ``trials``, statuses as
    :func:`ninjarl.train.compare.run_trials` gives them."""
    import ray

    if any(t.bc for t in trials) and bc_replays is None:
        raise ValueError("compare: --bc on/both needs --bc-replays DIR (human .replay files)")
    task = ray.remote(_trial_task).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
                                           max_retries=0)
    statuses: list[str | None] = [None] * len(trials)
    pending = {}                     # object ref -> (index, trial, attempt, start time)
    for i, trial in enumerate(trials):
        if is_finished(trial, eval_levels):
            statuses[i] = "skipped (finished)"
            continue
        trial = replace(trial, config=declared(trial.config, cpus_per_trial, gpus_per_trial))
        pending[task.remote(trial, tuple(eval_levels), bc_replays)] = (
            i, trial, 1, time.perf_counter())
    log(f"{len(pending)} trials on Ray ({cpus_per_trial} CPU each), "
        f"{len(trials) - len(pending)} finished before")
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        i, trial, attempt, start = pending.pop(ref)
        name = f"[{i + 1}/{len(trials)}] {trial.label} seed {trial.config.seed}"
        try:
            status, failure = ray.get(ref)
        except ray.exceptions.RayError as error:         # the worker died, or Ray failed
            status, failure = None, describe_error(error)
        if failure is None and not is_finished(trial, eval_levels):
            failure = (f"the trial finished on a Ray worker, but its run directory "
                       f"{trial.run_dir} is not complete here: on a cluster of several "
                       "machines OUT must be on a file system all of them share",
                       "(not an exception: the driver checked the run directory)")
        if failure is not None:
            if attempt < TRIAL_ATTEMPTS:
                log(f"{name}: attempt {attempt} failed ({failure[0][:300]}); trying again")
                pending[task.remote(trial, tuple(eval_levels), bc_replays)] = (
                    i, trial, attempt + 1, time.perf_counter())
                continue
            status = record_failure(trial, *failure, attempts=attempt)
        log(f"{name}: {status} ({time.perf_counter() - start:.0f} s)")
        statuses[i] = status
    return list(zip(trials, statuses))


def declared(config: TrainConfig, cpus: int, gpus: float) -> TrainConfig:
    """A trial's config within what its task declares to Ray: as many torch threads as CPUs
    (unless set), and no GPU picked by ``device: auto`` when the task declared none."""
    if not config.torch_threads:
        config = replace(config, torch_threads=cpus)
    if not gpus and config.device == "auto":
        config = replace(config, device="cpu")
    return config


def _trial_task(trial: Trial, eval_levels: tuple[str, ...],
                bc_replays) -> tuple[str | None, tuple[str, str] | None]:
    """What a Ray worker runs: one trial, quietly. Returns (status, None), or (None, the error
    as text): not every exception survives the trip back to the driver."""
    try:
        return run_trial(trial, eval_levels, bc_replays, log=lambda message: None), None
    except Exception as error:
        return None, describe_error(error)
