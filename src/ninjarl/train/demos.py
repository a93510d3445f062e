"""Behaviour cloning from the planner's demonstrations before PPO (``TrainConfig.planner_bc``).

Before its first PPO update, a run with ``planner_bc`` set
1. makes a demonstration of every training level: the planner's winning plan
   (:func:`ninjarl.solve.solve_levels`: best-first search, a plan counts only if a fresh
   simulation of it wins), copied to ``OUT/demos/<level>.replay``, with ``OUT/demos/demos.json``
   saying which levels were solved. Only training levels are searched: the held-out levels
   stay unseen;
2. trains the run's own policy on them (:func:`ninjarl.train.bc.run_bc`: the observations of
   the same code path PPO uses, a fifth of the demonstrations held out for the report) into
   ``OUT/bc``,

and PPO starts from that checkpoint (strict transfer, ``transfer_report.json``) with the
``finetune`` settings, as from ``TrainConfig.bc``.

Plans are cached by the level's content and the planner settings, under
``$XDG_CACHE_HOME/ninjarl/demos/<settings digest>/`` (``plans/<sha256>.replay``; a level the
planner did not solve within its budget is kept as ``unsolved/<sha256>.json`` with the
reason). Another seed, or another run on the same levels, searches nothing again. The cache
is not keyed by the planner's code: a plan from an older planner is still a verified win.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from ..atomic import safe_name, write_json
from ..levels.dataset import cache_dir
from ..sim import Level
from ..solve import PlannerConfig, solve_levels
from .autotune import available_cores
from .config import TrainConfig

#: the category under which plans are written in the cache (solve_levels' OUT/<category>/)
PLANS = "plans"
UNSOLVED = "unsolved"


def demo_cache_dir(planner: PlannerConfig) -> Path:
    """Where plans found with ``planner``'s settings are cached."""
    settings = json.dumps(asdict(planner), sort_keys=True).encode()
    return cache_dir().parent / "demos" / hashlib.sha256(settings).hexdigest()[:16]


def make_demonstrations(levels: Sequence[Level], out_dir: str | Path, planner: PlannerConfig,
                        jobs: int = 1, log: Callable[[str], None] | None = print) -> dict:
    """One ``out_dir/<level name>.replay`` per level the planner solves (from the cache, or
    searched now in ``jobs`` worker processes and cached) and ``out_dir/demos.json``; returns
    that document."""
    start = time.perf_counter()
    cache = demo_cache_dir(planner)
    keys = [hashlib.sha256(level.map_data.raw).hexdigest() for level in levels]
    todo = {key: level.map_data.raw for key, level in zip(keys, levels)
            if not (cache / PLANS / f"{key}.replay").is_file()
            and not (cache / UNSOLVED / f"{key}.json").is_file()}
    if log and todo:
        log(f"planner demonstrations: searching {len(todo)} of {len(levels)} training levels "
            f"({planner.budget_frames:,} frames each, {jobs} worker(s))")
    if todo:
        document = solve_levels([(key, PLANS, data) for key, data in todo.items()], cache,
                                planner, jobs=jobs, log=None)
        for row in document["levels"]:
            if not row["solved"]:
                write_json(cache / UNSOLVED / f"{row['id']}.json", row)
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)        # a failed earlier start's copies
    out_dir.mkdir(parents=True)
    rows = []
    for key, level in zip(keys, levels):
        plan = cache / PLANS / f"{key}.replay"
        solved = plan.is_file()
        if solved:
            shutil.copyfile(plan, out_dir / f"{safe_name(level.name)}.replay")
        rows.append({"level": level.name, "sha256": key, "solved": solved,
                     "searched_now": key in todo})
    solved = sum(r["solved"] for r in rows)
    document = {"planner": asdict(planner), "levels": len(rows), "solved": solved,
                "searched_now": len(todo), "seconds": round(time.perf_counter() - start, 1),
                "per_level": rows}
    write_json(out_dir / "demos.json", document)
    if log:
        log(f"planner demonstrations: {solved} of {len(rows)} training levels solved "
            f"({len(todo)} searched now, the rest from {cache}) in {document['seconds']:.0f} s")
    return document


def planner_bc_checkpoint(config: TrainConfig, levels: Sequence[Level], out: str | Path,
                          log: Callable[[str], None] | None = print) -> Path:
    """Demonstrations of the training ``levels`` in ``OUT/demos``, behaviour-cloned with the
    run's ``config`` into ``OUT/bc``; returns that checkpoint's directory."""
    from .bc import run_bc

    settings = config.planner_bc
    if settings is None:
        raise ValueError("planner_bc_checkpoint: the config has no planner_bc settings")
    out = Path(out)
    document = make_demonstrations(levels, out / "demos",
                                    PlannerConfig(budget_frames=settings.budget_frames),
                                    jobs=min(available_cores(), len(levels)), log=log)
    if document["solved"] < 2:
        raise ValueError(f"planner_bc: the planner solved {document['solved']} of "
                         f"{document['levels']} training levels within "
                         f"{settings.budget_frames:,} frames; behaviour cloning needs at least "
                         "2 (one to train on, one to validate): raise "
                         "planner_bc.budget_frames or leave planner_bc out")
    bc_dir = out / "bc"
    run_bc(out / "demos", bc_dir, config=replace(config, planner_bc=None, out=str(bc_dir)),
           epochs=settings.epochs, seed=config.seed, log=log)
    return bc_dir
