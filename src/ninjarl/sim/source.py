"""The one loader of a single level from wherever it comes from.

A level source is a :class:`~ninjarl.sim.level.Level` (used as is), raw map bytes, or a
string / path naming a map file, a replay file of any format (its level), or a bundled map
(``test/simple-walk``, ``official/000_the_basics``, ...). Sets of levels (categories,
datasets, directories) are resolved one layer up, in :func:`ninjarl.levels.load_level_source`.
"""
from __future__ import annotations

import struct
from os import PathLike
from pathlib import Path

from .errors import FormatError
from .level import Level, build_level
from .mapfile import bundled_map_names, bundled_map_path, parse_map
from .replay import MAX_REPLAY_BYTES, parse_replay, read_at_most

LevelSource = Level | bytes | str | PathLike


def map_bytes_from_file(path: str | PathLike) -> bytes:
    """The level in file ``path``: the map of a replay, else the file itself as a raw map.

    Replays are tried first because their header sizes must match the file length exactly,
    whereas almost any byte string of 1233+ bytes parses as a map; a file with a compact-v1
    replay header (version 1; maps start with 0 or 6) is a replay, damaged or not.
    """
    path = Path(path)
    try:
        data = read_at_most(path, MAX_REPLAY_BYTES, "map or replay")
    except OSError as e:
        raise FormatError(str(path), "file", f"cannot read: {e.strerror or e}") from None
    try:
        return parse_replay(data, str(path)).map_bytes
    except FormatError as replay_error:
        if data[:4] == struct.pack("<I", 1):
            raise
        try:
            parse_map(data, str(path))
        except FormatError as map_error:
            raise FormatError(
                str(path), "file",
                f"neither a replay ({replay_error.field}: {replay_error.problem}) "
                f"nor a map ({map_error.field}: {map_error.problem})") from None
        return data


def load_map_bytes(spec: str | PathLike) -> bytes:
    """Level bytes of a file path (raw map or replay of any format) or a bundled map name;
    anything else is a :class:`FormatError` naming ``spec``."""
    path = Path(spec)
    if path.is_file():
        return map_bytes_from_file(path)
    if str(spec) in bundled_map_names():
        return bundled_map_path(str(spec)).read_bytes()
    raise FormatError(str(spec), "level source",
                      "not an existing map or replay file, nor a bundled map name; "
                      f"available: {', '.join(bundled_map_names())}")


def load_level(source: LevelSource, name: str | None = None) -> Level:
    """A Level from a Level, raw map bytes, or a map file, replay file or bundled map name
    (named after the source unless ``name`` is given)."""
    if isinstance(source, Level):
        return source
    if isinstance(source, (bytes, bytearray)):
        return build_level(bytes(source), name)
    return build_level(load_map_bytes(source), name or str(source))
