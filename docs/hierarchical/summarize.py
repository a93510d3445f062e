"""Summarise a flat-vs-hierarchical ``ninjarl compare`` directory: per row and category the
held-out success (mean and per seed, from each trial's ``eval.json``; argmax actions, and
sampled actions where ``ninjarl eval RUN --levels medium complex exploration --sampled --out
RUN/evals/sampled`` was run), the best rolling training success, and the training steps at
which the rolling training success rate (``rollout/success_rate/<category>``, the last 100
episodes of that category) first reached 50% and 80% (median over seeds; ``-`` when a seed never
did, counted as not reached).

    python docs/hierarchical/summarize.py /tmp/cmp-hierarchical > docs/hierarchical/results.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

THRESHOLDS = (0.5, 0.8)
SAMPLED = Path("evals") / "sampled" / "eval.json"


def curve(run: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of ``tag`` over the run's TensorBoard logs, in step order."""
    points = []
    for events in sorted(run.glob("tb_*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if tag in acc.Tags()["scalars"]:
            points += [(e.step, e.value) for e in acc.Scalars(tag)]
    return sorted(points)


def first_step(points: list[tuple[int, float]], threshold: float) -> int | None:
    """The first step at which the curve reached ``threshold`` (None: never)."""
    return next((step for step, value in points if value >= threshold), None)


def rate(evaluation: dict, category: str) -> float:
    return (evaluation["success_rate"] if category == "all"
            else evaluation["per_category"][category])


def summarize(compare: Path) -> str:
    lines = ["| row | category | held-out success (mean) | per seed | sampled actions (mean; "
             "per seed) | best training success | steps to 50% | steps to 80% |",
             "|---|---|---:|---|---|---|---|---|"]
    for row in sorted(p for p in compare.iterdir() if p.is_dir()):
        runs = sorted(r for r in row.glob("seed-*") if (r / "eval.json").is_file())
        if not runs:
            continue
        evals = [json.loads((r / "eval.json").read_text()) for r in runs]
        sampled = [json.loads((r / SAMPLED).read_text()) for r in runs if (r / SAMPLED).is_file()]
        categories = sorted(evals[0]["per_category"])
        for category in categories + ["all"]:
            rates = [rate(e, category) for e in evals]
            others = [rate(e, category) for e in sampled]
            shown_sampled = (f"{np.mean(others):.1%}; " + ", ".join(f"{r:.0%}" for r in others)
                             if len(others) == len(runs) else "-")
            tag = ("rollout/success_rate" if category == "all"
                   else f"rollout/success_rate/{category}")
            curves = [curve(r, tag) for r in runs]
            best = ", ".join(f"{max((v for _, v in c), default=0):.0%}" for c in curves)
            reached = []
            for threshold in THRESHOLDS:
                steps = [first_step(c, threshold) for c in curves]
                shown = ", ".join("-" if s is None else f"{s / 1000:.0f}k" for s in steps)
                hits = [s for s in steps if s is not None]
                median = (f"median {np.median(hits) / 1000:.0f}k" if len(hits) == len(steps)
                          else f"{len(hits)}/{len(steps)} seeds")
                reached.append(f"{median} ({shown})")
            lines.append(f"| {row.name} | {category} | {np.mean(rates):.1%} | "
                         + ", ".join(f"{r:.0%}" for r in rates) + f" | {shown_sampled} | {best} | "
                         f"{reached[0]} | "
                         f"{reached[1]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1])))
