"""Shared test helpers: locations of the bundled test data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
REPLAYS = DATA / "replays"
TRACES = DATA / "traces"
SCENARIOS = DATA / "scenarios"
MAPS = DATA / "maps"

BC_REPLAYS = sorted((REPLAYS / "bc").glob("*.replay"))
ATTRACT_REPLAYS = sorted((REPLAYS / "attract").iterdir())
DAMAGED_REPLAYS = sorted((REPLAYS / "bc_damaged").glob("*.replay"))
MAP_FILES = sorted(p for p in (MAPS / "test").iterdir() if p.suffix != ".json") + sorted(
    (MAPS / "official").iterdir()
)
SCENARIO_MAPS = sorted(SCENARIOS.glob("*.map"))


def golden_trace(replay: Path) -> dict[str, np.ndarray]:
    """The reference trace of a replay in ``DATA/replays/<group>/``."""
    group = replay.parent.name
    with np.load(TRACES / group / f"{replay.name.removesuffix('.replay')}.npz") as z:
        return {k: z[k] for k in z.files}


def small_and_broken_configs(directory: Path) -> tuple[Path, Path]:
    """Two compare config files: a tiny trial that trains in seconds, and one whose levels do
    not exist (it fails at start)."""
    small = directory / "small.json"
    small.write_text(json.dumps({"arch": "vision_free", "ppo": {"n_steps": 16, "batch_size": 16,
                                                                 "n_epochs": 1},
                                 "env": {"max_frames": 40}, "checkpoint_every": 0}))
    broken = directory / "broken.json"
    broken.write_text(json.dumps({"arch": "vision_free", "levels": "no/such-map"}))
    return small, broken
