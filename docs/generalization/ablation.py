"""The ablation table of docs/generalization.md from ``ninjarl compare`` directories: one row per
compared label, per held-out category the mean success over seeds with the lowest and highest
seed in brackets, the real game's levels (``evals/official``) as levels won out of 5 (mean over
seeds), the other generator family's test split (``evals/open_test`` or ``evals/test``,
overall success), the curriculum stage each seed reached, and the training speed (median
over seeds, from ``train_summary.json``).

    python docs/generalization/ablation.py /work/runs/abl/cmp /work/runs/abl/cmp_preview ...
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

CATEGORIES = ("simplest", "simpler", "simple", "medium", "complex", "mine_heavy", "exploration")


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    values = [100 * v for v in values]
    return f"{np.mean(values):.1f} [{min(values):.0f}, {max(values):.0f}]"


def row(label: str, seeds: list[Path]) -> str:
    held_out = [read(s / "eval.json") for s in seeds]
    official = [read(s / "evals" / "official" / "eval.json") for s in seeds]
    # the open-style test split, evaluated as "open_test" or, given as OPEN_TEST/test, "test"
    other = [read(s / "evals" / "open_test" / "eval.json")
             or read(s / "evals" / "test" / "eval.json") for s in seeds]
    summaries = [read(s / "train_summary.json") for s in seeds]
    stages = []
    for s in seeds:
        trainer = read(s / "checkpoint" / "trainer.json") or {}
        stage = trainer.get("extra", {}).get("curriculum", {}).get("stage")
        stages.append("-" if stage is None else str(stage))
    cells = [cell([h["per_category"][c] for h in held_out if h]) for c in CATEGORIES]
    cells.append(cell([h["success_rate"] for h in held_out if h]))
    won = [sum(r["outcome"] == "won" for r in o["per_level"]) for o in official if o]
    cells.append(f"{np.mean(won):.1f} ({', '.join(map(str, won))})" if won else "-")
    cells.append(cell([o["success_rate"] for o in other if o]))
    cells.append(", ".join(stages))
    speeds = [s["steps_per_s"] for s in summaries if s]
    cells.append(f"{np.median(speeds):,.0f}" if speeds else "-")
    return f"| {label} | " + " | ".join(cells) + f" | {len(seeds)} |"


def main(directories: list[str]) -> None:
    print("| row | " + " | ".join(CATEGORIES) + " | overall | real levels won of 5 (per seed) "
          "| open-style test | curriculum stage reached | steps/s | seeds |")
    print("|---" * (len(CATEGORIES) + 7) + "|")
    for directory in directories:
        for label in sorted(p for p in Path(directory).iterdir() if p.is_dir()):
            seeds = sorted(label.glob("seed-*"))
            if seeds:
                print(row(label.name, seeds))


if __name__ == "__main__":
    main(sys.argv[1:])
