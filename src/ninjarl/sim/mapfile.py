"""Reading and writing N++ level bytes (spec §9).

A level is a flat byte string: a 184-byte header the simulator ignores, 42×23 tile
bytes, a block of 40 u16 per-type entity counts, the ninja record at byte 1230 and
then 5-byte entity records ``[type, x, y, orientation, mode]`` with positions in
units of 6 px.  :func:`parse_map` turns the bytes into the list of entities the
reference loader would create, applying its record-stepping rule exactly, and
:func:`write_map` produces bytes in the official layout.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ninjarl.sim.errors import FormatError

GRID_W = 42
GRID_H = 23
TILES_OFFSET = 184
EXIT_COUNT_OFFSET = 1156  # low byte of the type-3 count
DEATHBALL_COUNT_OFFSET = 1200  # low byte of the type-25 count
RECORDS_OFFSET = 1230  # the ninja record; entity records follow
SPAWN_X_OFFSET = 1231
SPAWN_Y_OFFSET = 1232
MIN_MAP_LEN = SPAWN_Y_OFFSET + 1
RECORD_LEN = 5
UNIT_PX = 6  # map position bytes are in units of 6 px
MAX_POS_PX = 255 * UNIT_PX

EXIT_DOOR = 3
EXIT_SWITCH = 4
REGULAR_DOOR = 5
LOCKED_DOOR = 6
TRAP_DOOR = 8
ZAP_DRONE = 14
MINI_DRONE = 26

#: Entity types the reference simulator creates objects for.
IMPLEMENTED_TYPES = frozenset({1, 2, 3, 5, 6, 8, 10, 11, 14, 17, 20, 21, 24, 25, 26, 28})
#: Records that legitimately create nothing: the ninja and the switch records that
#: are consumed through their door or exit.
SILENT_TYPES = frozenset({0, 4, 7, 9})
#: Types whose orientation byte indexes the 8-entry direction table (§4.5); the
#: reference crashes on orientation >= 8 for these.
ORIENTED_TYPES = frozenset({5, 6, 8, 10, 11, 14, 20, 26})
DRONE_TYPES = frozenset({ZAP_DRONE, MINI_DRONE})
MAX_ORIENTATION = 7
MAX_DRONE_MODE = 3


@dataclass(frozen=True)
class EntitySpec:
    """One entity the reference loader creates, in creation order.

    Positions are in pixels (map byte × 6).  For locked (6) and trap (8) doors
    ``x, y`` is the door and ``switch_x, switch_y`` its switch; a regular door (5)
    is its own switch.  An exit door (3) is always followed by its switch as a
    separate spec of type 4; other types leave the switch fields at 0.
    """

    type: int
    x: int
    y: int
    orientation: int
    mode: int
    switch_x: int = 0
    switch_y: int = 0


# eq=False: the tiles array has no scalar truth value, so field-wise == would raise.
@dataclass(frozen=True, eq=False)
class MapData:
    """A parsed level.

    ``tiles[x, y]`` is the tile id of playable cell (x, y), 0 <= x < 42, 0 <= y < 23
    (full-grid cell (x+1, y+1)).  ``skipped_types`` lists, sorted and without
    repeats, the record types the reference ignores although they are real
    entities (e.g. floor guards), so a caller can warn once per map.
    """

    tiles: np.ndarray
    spawn_x: int
    spawn_y: int
    exit_door_count: int
    deathball_count: int
    entities: tuple[EntitySpec, ...]
    skipped_types: tuple[int, ...]
    raw: bytes


def parse_map(data: bytes, path: str | None = None) -> MapData:
    """Parse level bytes the way the reference loader does (spec §9.2).

    Raises :class:`FormatError` (naming ``path`` and the offending field) for any
    input the reference would crash on or read past the end of.
    """
    data = bytes(data)
    if len(data) < MIN_MAP_LEN:
        raise FormatError(
            path, "length", f"map is {len(data)} bytes, at least {MIN_MAP_LEN} are needed"
        )
    tiles = np.frombuffer(data, np.uint8, GRID_W * GRID_H, TILES_OFFSET)
    tiles = tiles.reshape(GRID_H, GRID_W).T.copy()
    tiles.flags.writeable = False
    entities, skipped = _parse_records(data, path)
    return MapData(
        tiles=tiles,
        spawn_x=data[SPAWN_X_OFFSET] * UNIT_PX,
        spawn_y=data[SPAWN_Y_OFFSET] * UNIT_PX,
        exit_door_count=data[EXIT_COUNT_OFFSET],
        deathball_count=data[DEATHBALL_COUNT_OFFSET],
        entities=tuple(entities),
        skipped_types=tuple(sorted(skipped)),
        raw=data,
    )


def _parse_records(data: bytes, path: str | None) -> tuple[list[EntitySpec], set[int]]:
    n_exits = data[EXIT_COUNT_OFFSET]
    entities: list[EntitySpec] = []
    skipped: set[int] = set()
    i = RECORDS_OFFSET
    # The record at 1230 is normally the ninja (type 0), but the reference runs it
    # through the same loop, so a non-zero type byte there does create an entity.
    while i + 4 < len(data):
        t, x, y, o, m = data[i : i + RECORD_LEN]
        field = f"record at byte {i} (type {t})"
        if t in ORIENTED_TYPES and o > MAX_ORIENTATION:
            raise FormatError(path, field, f"orientation {o} is not in 0..{MAX_ORIENTATION}")
        if t in DRONE_TYPES and m > MAX_DRONE_MODE:
            raise FormatError(path, field, f"drone mode {m} is not in 0..{MAX_DRONE_MODE}")
        if t == EXIT_DOOR:
            # Official layout: all exit records, then all their switch records in
            # the same order, hence the switch sits 5*N bytes further on.
            sx_at = i + RECORD_LEN * n_exits + 1
            if sx_at + 1 >= len(data):
                raise FormatError(
                    path, field, f"exit switch position at byte {sx_at} is past the end"
                )
            entities.append(EntitySpec(t, x * UNIT_PX, y * UNIT_PX, o, m))
            entities.append(
                EntitySpec(EXIT_SWITCH, data[sx_at] * UNIT_PX, data[sx_at + 1] * UNIT_PX, 0, 0)
            )
        elif t in (LOCKED_DOOR, TRAP_DOOR):
            if i + 7 >= len(data):
                raise FormatError(
                    path, field, f"door switch position at byte {i + 6} is past the end"
                )
            sx, sy = data[i + 6], data[i + 7]
            entities.append(
                EntitySpec(t, x * UNIT_PX, y * UNIT_PX, o, m, sx * UNIT_PX, sy * UNIT_PX)
            )
        elif t == REGULAR_DOOR:
            entities.append(EntitySpec(t, x * UNIT_PX, y * UNIT_PX, o, m, x * UNIT_PX, y * UNIT_PX))
        elif t in IMPLEMENTED_TYPES:
            entities.append(EntitySpec(t, x * UNIT_PX, y * UNIT_PX, o, m))
        elif t not in SILENT_TYPES:
            skipped.add(t)
        i += _record_step(data, i, t)
    return entities, skipped


def _record_step(data: bytes, i: int, t: int) -> int:
    """Bytes the reference advances past the record at ``i``.

    Locked and trap doors take 10 bytes in the official layout (door record plus a
    5-byte switch record) and 9 in the generator layout; the reference tells them
    apart with this heuristic, reproduced as is.
    """
    if t not in (LOCKED_DOOR, TRAP_DOOR):
        return RECORD_LEN
    official = (
        i + 9 < len(data) and data[i + 7] != 0 and data[i + 8] == 0 and data[i + 9] == 0
    )
    return 10 if official else 9


def write_map(
    tiles: np.ndarray,
    spawn_x: int,
    spawn_y: int,
    entities: Sequence[EntitySpec] = (),
) -> bytes:
    """Serialise a level in the official N++ layout.

    ``entities`` uses the conventions of :func:`parse_map`: every exit door (3) is
    immediately followed by its switch (type 4); locked and trap doors carry their
    switch position; a regular door's switch fields are ignored.  Records are
    written sorted by type (stable), so all exit doors precede all their switch
    records, and locked/trap doors as ``t, x, y, o, m, t+1, sx, sy, 0, 0``.  The
    header is zeros and the count block holds the real per-type record counts.
    Positions must be multiples of 6 px in 0..1530.
    """
    tiles = np.asarray(tiles)
    if tiles.shape != (GRID_W, GRID_H):
        raise FormatError(None, "tiles", f"shape {tiles.shape} is not ({GRID_W}, {GRID_H})")
    if tiles.min(initial=0) < 0 or tiles.max(initial=0) > 255:
        raise FormatError(None, "tiles", "tile ids must be in 0..255")

    exits, switches, others = _group_entities(entities)
    if len(exits) > 255:
        # The loader reads only the low byte of the exit count to locate switches.
        raise FormatError(None, "entities", f"{len(exits)} exit doors, at most 255 are possible")

    records: list[bytes] = []
    counts = [0] * 40
    counts[0] = 1  # the ninja record

    def emit(t: int, x: int, y: int, o: int, m: int, e: EntitySpec, prefix: str = "") -> None:
        records.append(_record(t, x, y, o, m, e, prefix))
        counts[t] += 1

    others = sorted(others, key=lambda e: e.type)
    for e in (e for e in others if e.type < EXIT_DOOR):
        emit(e.type, e.x, e.y, e.orientation, e.mode, e)
    for door in exits:
        emit(EXIT_DOOR, door.x, door.y, door.orientation, door.mode, door)
    for switch in switches:
        emit(EXIT_SWITCH, switch.x, switch.y, 0, 0, switch)
    for e in (e for e in others if e.type > EXIT_SWITCH):
        emit(e.type, e.x, e.y, e.orientation, e.mode, e)
        if e.type in (LOCKED_DOOR, TRAP_DOOR):
            if e.switch_y == 0:
                # With sy == 0 the loader's heuristic steps 9 bytes, so write the
                # 9-byte generator form ``o, sx, sy, o``, which it then reads right.
                sx = _unit(e.switch_x, e, "switch_x")
                records.append(bytes([e.orientation, sx, 0, e.orientation]))
            else:
                emit(e.type + 1, e.switch_x, e.switch_y, 0, 0, e, "switch_")

    header = bytes(TILES_OFFSET)
    tile_bytes = np.ascontiguousarray(tiles.T, dtype=np.uint8).tobytes()
    count_bytes = np.array(counts, dtype="<u2").tobytes()
    ninja = bytes([0, _unit(spawn_x, None, "spawn_x"), _unit(spawn_y, None, "spawn_y"), 0, 0])
    return header + tile_bytes + count_bytes + ninja + b"".join(records)


def _group_entities(
    entities: Sequence[EntitySpec],
) -> tuple[list[EntitySpec], list[EntitySpec], list[EntitySpec]]:
    """Split specs into exit doors, their switches (same order) and the rest."""
    exits: list[EntitySpec] = []
    switches: list[EntitySpec] = []
    others: list[EntitySpec] = []
    k = 0
    while k < len(entities):
        e = entities[k]
        if e.type == EXIT_DOOR:
            if k + 1 >= len(entities) or entities[k + 1].type != EXIT_SWITCH:
                raise FormatError(
                    None, f"entities[{k}]", "an exit door must be followed by its switch (type 4)"
                )
            exits.append(e)
            switches.append(entities[k + 1])
            k += 2
            continue
        if e.type == EXIT_SWITCH:
            raise FormatError(
                None, f"entities[{k}]", "an exit switch (type 4) must follow its exit door"
            )
        if e.type not in IMPLEMENTED_TYPES:
            raise FormatError(None, f"entities[{k}]", f"type {e.type} is not a creatable entity")
        if e.type in ORIENTED_TYPES and not 0 <= e.orientation <= MAX_ORIENTATION:
            raise FormatError(
                None, f"entities[{k}]", f"orientation {e.orientation} is not in 0..7"
            )
        if e.type in DRONE_TYPES and not 0 <= e.mode <= MAX_DRONE_MODE:
            raise FormatError(None, f"entities[{k}]", f"drone mode {e.mode} is not in 0..3")
        others.append(e)
        k += 1
    return exits, switches, others


def _record(t: int, x: int, y: int, o: int, m: int, e: EntitySpec, prefix: str = "") -> bytes:
    for name, value in (("orientation", o), ("mode", m)):
        if not 0 <= value <= 255:
            raise FormatError(None, f"entity {e}", f"{name} {value} does not fit in a byte")
    return bytes([t, _unit(x, e, prefix + "x"), _unit(y, e, prefix + "y"), o, m])


def _unit(px: int, e: EntitySpec | None, name: str) -> int:
    """Pixel position → map byte; only exact multiples of 6 px are representable."""
    if px % UNIT_PX or not 0 <= px <= MAX_POS_PX:
        where = name if e is None else f"entity {e}: {name}"
        raise FormatError(
            None, where, f"{px} px is not a multiple of {UNIT_PX} in 0..{MAX_POS_PX}"
        )
    return px // UNIT_PX


def bundled_map_names() -> list[str]:
    """Names of the maps shipped with ninjarl, e.g. ``'test/simple-walk'``."""
    root = importlib.resources.files("ninjarl") / "data" / "maps"
    names = []
    for group in root.iterdir():
        if group.is_dir():
            names.extend(f"{group.name}/{f.name}" for f in group.iterdir() if f.is_file())
    return sorted(names)


def bundled_map_path(name: str) -> Path:
    """Path of a bundled map such as ``'official/000_the_basics'`` or ``'bench/empty'``."""
    names = bundled_map_names()
    if name not in names:
        raise FormatError(name, "bundled map name", f"not found; available: {', '.join(names)}")
    return Path(str(importlib.resources.files("ninjarl") / "data" / "maps" / name))
