"""ninjarl.sim — a bit-exact, batched reimplementation of the N++ physics (``nsim.md``).

Typical use::

    from ninjarl.sim import build_level, BatchSimulator, simulate_inputs
    level = build_level(open("map", "rb").read(), name="map")
    trace = simulate_inputs(level, inputs)            # one run, every frame recorded
    batch = BatchSimulator([level], np.zeros(1024, np.int64))
    batch.run(input_bytes)                            # [1024, F] frames, auto-reset
"""
from .core import BatchSimulator, Simulator, simulate_inputs
from .errors import FormatError
from .level import Level, build_level
from .mapfile import MapData, parse_map, write_map
from .replay import Replay, decode_inputs, read_replay
from .source import LevelSource, load_level, load_map_bytes

__all__ = ["BatchSimulator", "FormatError", "Level", "LevelSource", "MapData", "Replay",
           "Simulator", "build_level", "decode_inputs", "load_level", "load_map_bytes",
           "parse_map", "read_replay", "simulate_inputs", "write_map"]
