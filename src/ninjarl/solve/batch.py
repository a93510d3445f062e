"""Solving many levels: one search per level (optionally in worker processes), a compact
``.replay`` per solved level and ``solve.json``.

Output directory::

    OUT/<category>/<level id>.replay     the verified plan (compact v1; ninjarl replay / bc read it)
    OUT/solve.json                       per level: solved, plan frames, search frames, seconds,
                                         and why not; per category: solved fraction, median seconds
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np

from ..atomic import safe_name, write_bytes, write_json
from ..sim.replay import encode_replay
from ..workers import worker_pool
from .planner import PlannerConfig, SolveResult, solve_level

#: (level id, category, map bytes)
LevelItem = tuple[str, str, bytes]


def _solve_one(item: LevelItem, config: PlannerConfig) -> SolveResult:
    level_id, category, map_bytes = item
    return solve_level(map_bytes, config, name=f"{category}/{level_id}")


def replay_path(out: str | Path, level_id: str, category: str) -> Path:
    return Path(out) / category / (safe_name(level_id) + ".replay")


def solve_levels(levels: Sequence[LevelItem], out: str | Path,
                 config: PlannerConfig | None = None, jobs: int = 1,
                 log: Callable[[str], None] | None = print) -> dict:
    """Solve every level, write the replays and ``solve.json``; returns that document."""
    config = config or PlannerConfig()
    if jobs < 1:
        raise ValueError(f"solve: --jobs must be >= 1, got {jobs}")
    out = Path(out)
    rows = []
    with worker_pool(jobs) if jobs > 1 else nullcontext() as pool:
        solve = partial(_solve_one, config=config)
        results = pool.imap(solve, levels) if pool else map(solve, levels)
        for (level_id, category, map_bytes), result in zip(levels, results):
            row = {"id": level_id, "category": category, "solved": result.solved,
                   "plan_frames": result.plan_frames, "search_frames": result.search_frames,
                   "expansions": result.expansions, "seconds": round(result.seconds, 3),
                   "reason": result.reason}
            if result.solved:
                path = replay_path(out, level_id, category)
                write_bytes(path, encode_replay(map_bytes, result.inputs, True))
                row["replay"] = str(path.relative_to(out))
            rows.append(row)
            if log:
                log(f"{category}/{level_id}: " + (
                    f"solved, {result.plan_frames} frames" if result.solved else
                    f"not solved ({result.reason})") + f" after {result.search_frames:,} search "
                    f"frames, {result.seconds:.1f} s")
    document = {"config": asdict(config), "categories": summarise(rows), "levels": rows}
    write_json(out / "solve.json", document)
    return document


def summarise(rows: Sequence[dict]) -> dict:
    """Per category: levels, solved, solved fraction, median and max seconds, median plan."""
    out = {}
    for category in sorted({r["category"] for r in rows}):
        rs = [r for r in rows if r["category"] == category]
        solved = [r for r in rs if r["solved"]]
        seconds = [r["seconds"] for r in rs]
        out[category] = {
            "levels": len(rs), "solved": len(solved), "solved_fraction": len(solved) / len(rs),
            "median_seconds": float(np.median(seconds)), "max_seconds": float(max(seconds)),
            "median_plan_frames": (float(np.median([r["plan_frames"] for r in solved]))
                                   if solved else None)}
    return out
