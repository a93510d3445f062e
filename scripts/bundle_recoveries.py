"""Write one round of recoveries of the built-in level set's training levels into the package
(``src/ninjarl/data/demos/default-train-recoveries.npz``; see ``ninjarl.train.recovery``).

    python scripts/bundle_recoveries.py RUN_DIR [--jobs J]

RUN_DIR is a run of the default recipe (``ninjarl train --curriculum``, seed 0): its clone
(``RUN_DIR/bc``) plays the training levels of its own cloning split, the planner takes over
where it loses, and the recoveries found are bundled. Run it again when the level generators,
the bundled plans or the recipe's ``planner_bc`` settings change.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from ninjarl.solve import PlannerConfig
from ninjarl.train.config import TrainConfig, curriculum_recipe_path
from ninjarl.train.ppo import load_agent, resolve_levels
from ninjarl.train.recovery import BUNDLED_RECOVERIES, make_recoveries, write_recovery_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run of the default recipe")
    parser.add_argument("--jobs", type=int, default=2, help="planner worker processes")
    args = parser.parse_args()
    recipe = TrainConfig.load(curriculum_recipe_path())
    config = TrainConfig.load(args.run / "config.json")
    levels = resolve_levels(",".join(recipe.curriculum.stages)).train
    with tempfile.TemporaryDirectory() as tmp:
        demos = Path(tmp) / "demos"
        shutil.copytree(args.run / "demos", demos, ignore=shutil.ignore_patterns("*+r*"))
        (demos / "recoveries.json").unlink(missing_ok=True)
        make_recoveries(load_agent(args.run / "bc", device="cpu"), levels, demos, config,
                        PlannerConfig(budget_frames=recipe.planner_bc.budget_frames),
                        recipe.planner_bc.recovery_back_frames, jobs=args.jobs)
        counts = write_recovery_bundle(BUNDLED_RECOVERIES, demos, levels)
    print(json.dumps({"bundle": str(BUNDLED_RECOVERIES),
                      "bytes": BUNDLED_RECOVERIES.stat().st_size, **counts}))


if __name__ == "__main__":
    main()
