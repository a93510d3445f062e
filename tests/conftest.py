"""Shared test helpers: locations of the bundled test data."""

from __future__ import annotations

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
