"""The planner's demonstrations of training levels, for behaviour cloning
(:mod:`ninjarl.train.planner_bc`).

:func:`make_demonstrations` makes a demonstration of every level it is given: the planner's
winning plan (:func:`ninjarl.solve.solve_levels`: best-first search, a plan counts only if a
fresh simulation of it wins), copied to ``OUT_DIR/<level>.replay`` (:func:`demo_file_name`),
with ``OUT_DIR/demos.json`` saying which levels were solved. Runs give it their training
levels only: the held-out levels stay unseen.

Plans are cached by the level's content and the planner settings, under
``$XDG_CACHE_HOME/ninjarl/demos/<settings digest>/`` (``plans/<sha256>.replay``; a level the
planner did not solve within its budget is kept as ``unsolved/<sha256>.json`` with the
reason). Another seed, or another run on the same levels, searches nothing again. The cache
is not keyed by the planner's code: a plan from an older planner is still a verified win.

The package ships the outcome of the search on the built-in level set's training levels
(:data:`BUNDLED`, written by ``scripts/bundle_plans.py``), so a first run does not spend
minutes searching them: a level found there with the same planner settings is taken from it
into the cache, a plan only after a fresh simulation of it wins.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..atomic import safe_name, write_bytes, write_json, write_with
from ..levels.dataset import cache_dir
from ..sim import Level, read_replay, simulate_inputs
from ..sim.replay import encode_replay
from ..solve import PlannerConfig, solve_levels

#: the category under which plans are written in the cache (solve_levels' OUT/<category>/)
PLANS = "plans"
UNSOLVED = "unsolved"
#: the search's outcome on the built-in level set's training levels, shipped with the package
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "demos" / "default-train.npz"


def write_bundle(path: str | Path, levels: Sequence[Level], planner: PlannerConfig) -> dict:
    """Write what the cache of ``planner`` holds for ``levels`` (each must be there) as one
    compressed ``.npz`` (no pickled objects): the planner settings, every level's sha256, whether it was
    solved, the plans' input bytes (concatenated, with offsets) and why the others were not.
    Returns the counts."""
    cache = demo_cache_dir(planner)
    keys, solved, reasons, plans = [], [], [], []
    for level in levels:
        key = level.content_hash
        plan, unsolved = cache / PLANS / f"{key}.replay", cache / UNSOLVED / f"{key}.json"
        if plan.is_file():
            plans.append(read_replay(plan).inputs)
            reasons.append("")
        elif unsolved.is_file():
            plans.append(np.zeros(0, np.uint8))
            reasons.append(json.loads(unsolved.read_text())["reason"])
        else:
            raise ValueError(f"{level.name}: not in the cache {cache}; search it first")
        keys.append(key)
        solved.append(plan.is_file())
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in plans])]).astype(np.int64)
    arrays = {"planner": np.array(json.dumps(asdict(planner), sort_keys=True)),
              "sha256": np.array(keys), "solved": np.array(solved), "reason": np.array(reasons),
              "offsets": offsets, "inputs": np.concatenate(plans).astype(np.uint8)}
    write_with(path, lambda f: np.savez_compressed(f, **arrays))      # shipped: kept small
    return {"levels": len(keys), "solved": int(sum(solved))}


def _from_bundle(todo: dict[str, Level], cache: Path, planner: PlannerConfig,
                 bundle: Path) -> None:
    """Move the levels of ``todo`` that ``bundle`` holds for ``planner`` into the cache (a
    plan only if it wins when simulated); what is left must be searched."""
    if not bundle.is_file():
        return
    with np.load(bundle, allow_pickle=False) as z:
        if json.loads(str(z["planner"])) != json.loads(json.dumps(asdict(planner))):
            return
        index = {key: i for i, key in enumerate(z["sha256"].tolist())}
        offsets, inputs, solved, reasons = z["offsets"], z["inputs"], z["solved"], z["reason"]
        for key in [k for k in todo if k in index]:
            i = index[key]
            if not solved[i]:
                write_json(cache / UNSOLVED / f"{key}.json",
                           {"id": key, "solved": False, "reason": str(reasons[i]),
                            "source": "the plans bundled with ninjarl"})
                del todo[key]
                continue
            plan = inputs[offsets[i]:offsets[i + 1]]
            if simulate_inputs(todo[key], plan)["outcome"] == "won":
                write_bytes(cache / PLANS / f"{key}.replay",
                            encode_replay(todo[key].map_data.raw, plan, True))
                del todo[key]


def demo_cache_dir(planner: PlannerConfig) -> Path:
    """Where plans found with ``planner``'s settings are cached."""
    settings = json.dumps(asdict(planner), sort_keys=True).encode()
    return cache_dir().parent / "demos" / hashlib.sha256(settings).hexdigest()[:16]


def make_demonstrations(levels: Sequence[Level], out_dir: str | Path, planner: PlannerConfig,
                        jobs: int = 1, log: Callable[[str], None] | None = print,
                        bundle: Path | None = BUNDLED) -> dict:
    """One ``out_dir/<level name>.replay`` per level the planner solves (from the cache, from
    ``bundle`` unless it is None, or searched now in ``jobs`` worker processes, and cached) and
    ``out_dir/demos.json``; returns that document."""
    start = time.perf_counter()
    cache = demo_cache_dir(planner)
    keys = [level.content_hash for level in levels]
    todo = {key: level for key, level in zip(keys, levels)
            if not (cache / PLANS / f"{key}.replay").is_file()
            and not (cache / UNSOLVED / f"{key}.json").is_file()}
    not_cached = set(todo)
    if bundle is not None:
        _from_bundle(todo, cache, planner, bundle)
    bundled = not_cached - todo.keys()
    if log and todo:
        log(f"planner demonstrations: searching {len(todo)} of {len(levels)} training levels "
            f"({planner.budget_frames:,} frames each, {jobs} worker(s))")
    if todo:
        document = solve_levels([(key, PLANS, level.map_data.raw) for key, level in todo.items()],
                                cache, planner, jobs=jobs, log=None)
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
            shutil.copyfile(plan, out_dir / demo_file_name(level))
        rows.append({"level": level.name, "sha256": key, "solved": solved,
                     "searched_now": key in todo, "from_bundle": key in bundled})
    solved = sum(r["solved"] for r in rows)
    document = {"planner": asdict(planner), "levels": len(rows), "solved": solved,
                "searched_now": len(todo), "from_bundle": len(bundled),
                "seconds": round(time.perf_counter() - start, 1), "per_level": rows}
    write_json(out_dir / "demos.json", document)
    if log:
        log(f"planner demonstrations: {solved} of {len(rows)} training levels solved "
            f"({len(todo)} searched now, {len(bundled)} from the bundled plans, the rest from "
            f"{cache}) in {document['seconds']:.0f} s")
    return document


def demo_file_name(level: Level) -> str:
    """The file name of ``level``'s demonstration in the folder :func:`make_demonstrations`
    writes (recoveries are named after it)."""
    return f"{safe_name(level.name)}.replay"


def demonstration_inputs(levels: Sequence[Level], demos_dir: str | Path) -> list[np.ndarray | None]:
    """Per level, the input bytes of its demonstration in ``demos_dir`` (written by
    :func:`make_demonstrations`), None where the planner found none."""
    demos_dir = Path(demos_dir)
    paths = [demos_dir / demo_file_name(level) for level in levels]
    return [read_replay(path).inputs if path.is_file() else None for path in paths]
