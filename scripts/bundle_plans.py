"""Write the planner's outcome on the built-in level set's training levels into the package
(``src/ninjarl/data/demos/default-train.npz``), so that a first ``ninjarl train --curriculum``
does not search them (see ``ninjarl.train.demos``).

    python scripts/bundle_plans.py [--jobs J]

Levels not in the demonstration cache yet are searched first (minutes on two cores). Run it
again when the level generators or the recipe's ``planner_bc`` settings change.
"""
from __future__ import annotations

import argparse
import json
import tempfile

from ninjarl.levels import default_dataset
from ninjarl.solve import PlannerConfig
from ninjarl.train.config import TrainConfig, curriculum_recipe_path
from ninjarl.train.demos import BUNDLED, make_demonstrations, write_bundle
from ninjarl.train.ppo import resolve_levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="planner worker processes")
    args = parser.parse_args()
    recipe = TrainConfig.load(curriculum_recipe_path())
    planner = PlannerConfig(budget_frames=recipe.planner_bc.budget_frames)
    default_dataset()
    levels = resolve_levels(",".join(recipe.curriculum.stages)).train
    with tempfile.TemporaryDirectory() as tmp:     # fills the cache (searching, not reading
        make_demonstrations(levels, tmp, planner, jobs=args.jobs, bundle=None)  # the old bundle)
    counts = write_bundle(BUNDLED, levels, planner)
    print(json.dumps({"bundle": str(BUNDLED), "bytes": BUNDLED.stat().st_size, **counts}))


if __name__ == "__main__":
    main()
