"""Hyperparameter search: Optuna's sampler proposes PPO settings, each trial is a normal
training run, the objective is held-out success, and bad trials stop early.

Search space (:func:`suggest`, the same with and without Ray):

=================  ===========================================  =========================
setting            values                                       TrainConfig field
=================  ===========================================  =========================
learning rate      log-uniform in [1e-4, 1e-3]                  ``ppo.learning_rate``
entropy bonus      log-uniform in [1e-4, 3e-2]                  ``ppo.ent_coef``
rollout length     32, 64, 128 or 256 steps per env             ``ppo.n_steps``
minibatch size     256, 512, 1024 or 2048                       ``ppo.batch_size``
network width      32, 64, 128 or 256 units, two layers         ``net_arch``
discount γ         uniform in [0.95, 0.999]                     ``ppo.gamma``
GAE λ              uniform in [0.8, 0.99]                       ``ppo.gae_lambda``
=================  ===========================================  =========================

A trial trains in ``rungs`` segments of its budget (train, then :func:`resume` to the next
rung: the run continues exactly where it stopped); after each segment its held-out success
(``eval.json``) is reported, and a trial below the median of earlier trials at the same rung is
stopped (Optuna's ``MedianPruner``; with Ray, Tune's ASHA scheduler). The best finished trial's
settings are written as ``best_config.json``, a file ``ninjarl train --config`` accepts, with
``sweep.json`` (every trial: settings, state, success per rung) and ``sweep.md``.

The objective is the held-out split, so the best trial's figure is optimistic (it was picked
on that split); confirm it with ``ninjarl compare --configs best_config.json --seeds N``.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..atomic import write_json, write_text
from .config import TrainConfig
from .ppo import resume, train

#: trials stopped early are not compared before this many trials finished a rung
PRUNER_STARTUP_TRIALS = 2
WIDTHS = (32, 64, 128, 256)
SEARCH_SPACE_DOC = {
    "ppo.learning_rate": "log-uniform [1e-4, 1e-3]",
    "ppo.ent_coef": "log-uniform [1e-4, 3e-2]",
    "ppo.n_steps": "one of 32, 64, 128, 256",
    "ppo.batch_size": "one of 256, 512, 1024, 2048",
    "net_arch": "two layers of 32, 64, 128 or 256 units",
    "ppo.gamma": "uniform [0.95, 0.999]",
    "ppo.gae_lambda": "uniform [0.8, 0.99]",
}


def suggest(trial) -> None:
    """Define the search space on an Optuna trial (define-by-run; also what Ray Tune's
    ``OptunaSearch`` samples from)."""
    trial.suggest_float("learning_rate", 1e-4, 1e-3, log=True)
    trial.suggest_float("ent_coef", 1e-4, 3e-2, log=True)
    trial.suggest_categorical("n_steps", [32, 64, 128, 256])
    trial.suggest_categorical("batch_size", [256, 512, 1024, 2048])
    trial.suggest_categorical("width", list(WIDTHS))
    trial.suggest_float("gamma", 0.95, 0.999)
    trial.suggest_float("gae_lambda", 0.8, 0.99)


def trial_config(base: TrainConfig, params: dict, out: Path) -> TrainConfig:
    """``base`` with a trial's sampled settings, training into ``out``."""
    ppo = replace(base.ppo, learning_rate=params["learning_rate"], ent_coef=params["ent_coef"],
                  n_steps=params["n_steps"], batch_size=params["batch_size"],
                  gamma=params["gamma"], gae_lambda=params["gae_lambda"])
    env = {k: v for k, v in base.env.to_dict().items() if k not in ("gamma", "observations")}
    return replace(base, ppo=ppo, net_arch=(params["width"],) * 2, env=env, out=str(out))


@dataclass
class TrialRecord:
    """One trial of a sweep, as written to ``sweep.json``."""
    name: str
    params: dict
    state: str = "running"             # complete, pruned or failed
    success: list[float] = field(default_factory=list)     # held-out success per rung
    error: str = ""
    seconds: float = 0.0


def run_segments(config: TrainConfig, rungs: int,
                 report: Callable[[int, float], bool]) -> bool:
    """Train ``config`` in ``rungs`` segments; after each, ``report(rung, success)`` returns
    True to stop. Returns whether the trial was stopped before its last rung."""
    run = Path(config.out)
    quiet = lambda message: None                       # noqa: E731 - per-trial chatter
    for rung in range(1, rungs + 1):
        steps = math.ceil(config.timesteps * rung / rungs)
        if rung == 1:
            train(replace(config, timesteps=steps), log=quiet)
        elif _evaluated_at(run) < steps:     # PPO trains whole rollouts: it may be there already
            resume(run, steps, log=quiet)
        success = json.loads((run / "eval.json").read_text())["success_rate"]
        if report(rung, success) and rung < rungs:
            return True
    return False


def _evaluated_at(run: Path) -> int:
    return int(json.loads((run / "eval.json").read_text())["timesteps"])


def sweep(base: TrainConfig, out: str | Path, trials: int, rungs: int = 3, pruner=None,
          log: Callable[[str], None] = print) -> dict:
    """Run ``trials`` trials one after another on this machine (Optuna's TPE sampler seeded
    with ``base.seed``, which every trial also trains with; ``pruner``: an Optuna pruner,
    by default the median rule); returns the ``sweep.json`` document."""
    import optuna

    out = Path(out)
    _check_new(out)
    # a failed trial is logged below in one line; Optuna's own warning prints its traceback
    # (a Ctrl-C's too)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=base.seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS,
                                                     n_warmup_steps=0))
    records: list[TrialRecord] = []

    def objective(trial) -> float:
        suggest(trial)
        record = TrialRecord(f"trial-{trial.number:03d}", dict(trial.params))
        records.append(record)
        start = time.perf_counter()
        try:
            config = trial_config(base, record.params, out / record.name)

            def report(rung: int, success: float) -> bool:
                record.success.append(success)
                trial.report(success, rung)
                return trial.should_prune()

            pruned = run_segments(config, rungs, report)
        except Exception as error:            # a failing trial is recorded; the sweep goes on
            record.state, record.error = "failed", f"{type(error).__name__}: {error}"
            log(f"{record.name}: failed: {' '.join(record.error.split())}")
            raise
        finally:
            record.seconds = time.perf_counter() - start
        record.state = "pruned" if pruned else "complete"
        log(f"{record.name}: {record.state}, held-out success per rung "
            f"{[round(s, 3) for s in record.success]} ({record.seconds:.0f} s)")
        if pruned:
            raise optuna.TrialPruned()
        return record.success[-1]

    study.optimize(objective, n_trials=trials, catch=(Exception,))
    return write_results(out, base, records, rungs, engine="optuna")


def sweep_on_ray(base: TrainConfig, out: str | Path, trials: int, rungs: int = 3,
                 cpus_per_trial: int = 1, gpus_per_trial: float = 0,
                 log: Callable[[str], None] = print) -> dict:
    """The same search through Ray Tune (Optuna's sampler as its search algorithm, ASHA
    stopping bad trials), trials running in parallel on the cluster Ray is connected to."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    out = Path(out).resolve()
    _check_new(out)
    from .cluster import declared

    # Tune runs each trial in a folder of its own: paths must not be relative
    base = _absolute_paths(declared(base, cpus_per_trial, gpus_per_trial))

    def trainable(params: dict) -> None:
        name = f"trial-{tune.get_context().get_trial_id()}"
        config = trial_config(base, params, out / name)

        def report(rung: int, success: float) -> bool:
            tune.report({"success": success, "rung": rung, "name": name})
            return False                        # ASHA stops a bad trial itself

        run_segments(config, rungs, report)

    # Ctrl-C stops the sweep at once like every command (KeyboardInterrupt, status 130); Tune's
    # own handler would let the trials run on and return them as if they had been pruned
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
        tune_config=tune.TuneConfig(
            num_samples=trials,
            search_alg=OptunaSearch(space=suggest, metric="success", mode="max",
                                    seed=base.seed),
            scheduler=ASHAScheduler(time_attr="rung", metric="success", mode="max",
                                    max_t=rungs, grace_period=1, reduction_factor=2)),
        run_config=tune.RunConfig(name="tune", storage_path=str(out), verbose=0))
    results = tuner.fit()
    records = []
    for result in results:
        history = result.metrics_dataframe
        name = (result.metrics or {}).get("name") or f"trial-{result.path.rsplit('_', 1)[-1]}"
        params = {k: result.config[k] for k in sorted(result.config)}
        record = TrialRecord(name, params)
        if history is not None and "success" in history:
            record.success = [float(s) for s in history["success"]]
        if result.error is not None:
            record.state, record.error = "failed", " ".join(str(result.error).split())[:500]
        else:
            record.state = "complete" if len(record.success) == rungs else "pruned"
        log(f"{record.name}: {record.state}, held-out success per rung "
            f"{[round(s, 3) for s in record.success]}")
        records.append(record)
    return write_results(out, base, sorted(records, key=lambda r: r.name), rungs,
                         engine="ray-tune")


def write_results(out: Path, base: TrainConfig, records: list[TrialRecord], rungs: int,
                  engine: str) -> dict:
    """``sweep.json``, ``sweep.md`` and (when a trial finished) ``best_config.json``."""
    finished = [r for r in records if r.state == "complete"]
    best = max(finished, key=lambda r: r.success[-1], default=None)
    document = {
        "engine": engine, "objective": "held-out success rate (eval.json) after the last rung",
        "arch": base.arch, "levels": base.levels, "timesteps": base.timesteps, "rungs": rungs,
        "seed": base.seed, "search_space": SEARCH_SPACE_DOC,
        "trials": [vars(r) for r in records],
        "best": None if best is None else {"name": best.name, "success": best.success[-1],
                                           "params": best.params,
                                           "config": "best_config.json"}}
    if best is not None:
        config = trial_config(base, best.params, Path())
        settings = {k: v for k, v in config.to_dict().items() if k != "out"}
        settings["env"] = {k: v for k, v in settings["env"].items()
                           if k not in ("gamma", "observations", "shaping_scale")}
        write_json(out / "best_config.json", settings)
    write_json(out / "sweep.json", document)
    write_text(out / "sweep.md", _markdown(document))
    return document


def _markdown(document: dict) -> str:
    lines = [f"# Sweep: {document['arch']} on {document['levels']}", "",
             f"{len(document['trials'])} trials of {document['timesteps']:,} steps in "
             f"{document['rungs']} rungs ({document['engine']}); objective: "
             f"{document['objective']}.", ""]
    best = document["best"]
    lines += [f"Best: {best['name']}, held-out success {best['success']:.1%}; its settings "
              f"are in `best_config.json` (`ninjarl train --config best_config.json`)."
              if best else "No trial finished: no best config.", "",
              "| trial | state | success per rung | learning rate | entropy | n_steps | batch "
              "| width | γ | λ |", "|---|---|---|---|---|---|---|---|---|---|"]
    ranked = sorted(document["trials"], key=lambda t: (t["state"] != "complete",
                                                       -(t["success"] or [0])[-1]))
    for t in ranked:
        p = t["params"]
        rungs = ", ".join(f"{s:.1%}" for s in t["success"]) or "-"
        state = t["state"] + (f" ({t['error'][:80]})" if t["error"] else "")
        lines.append(f"| {t['name']} | {state} | {rungs} | {p.get('learning_rate', 0):.2e} | "
                     f"{p.get('ent_coef', 0):.2e} | {p.get('n_steps')} | {p.get('batch_size')} "
                     f"| {p.get('width')} | {p.get('gamma', 0):.4f} | "
                     f"{p.get('gae_lambda', 0):.3f} |")
    lines += ["", "Search space:", ""]
    lines += [f"- `{k}`: {v}" for k, v in document["search_space"].items()]
    lines += ["", "The best trial was chosen on the held-out split, so its figure is "
              "optimistic; confirm it with `ninjarl compare --configs best_config.json "
              "--seeds N`."]
    return "\n".join(lines) + "\n"


def _check_new(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"sweep directory {out} is not empty; choose another --out")


def _absolute_paths(config: TrainConfig) -> TrainConfig:
    """Level and BC paths made absolute (a category or bundled map name stays as it is)."""
    levels = str(Path(config.levels).resolve()) if Path(config.levels).exists() else config.levels
    bc = str(Path(config.bc).resolve()) if config.bc else ""
    return replace(config, levels=levels, bc=bc)

