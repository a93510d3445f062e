"""Left↔right mirror images of levels and inputs (data augmentation for behaviour cloning).

The mirror of a level reflects every tile and entity about the vertical centre line of the
world (x → ``WORLD_W - x``): tiles swap columns and become the tile whose geometry is the
reflection of theirs, oriented entities get the reflected orientation, drones turn the other
way round walls (clockwise ↔ counter-clockwise modes) and the inputs swap left and right.

The reference simulator is *not* exactly symmetric (segment order within a cell, ties in
closest-point searches, door grid edges that always sit on a cell's right/bottom boundary,
floating-point rounding), so a mirrored run can drift from the reflection of the original.
Callers that need a faithful demonstration must simulate the mirrored run and compare its
outcome with the original's, as :mod:`ninjarl.train.bc` does.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .constants import WORLD_W
from .errors import FormatError
from .level import TILE_ARCS, TILE_DIAGONALS, TILE_GRID_EDGES, TILE_ORTHO
from .mapfile import DRONE_TYPES, ORIENTED_TYPES, EntitySpec, parse_map, write_map

#: the action (noop, left, right, jump, jump+left, jump+right) with left and right swapped
MIRRORED_ACTION = np.array([0, 2, 1, 3, 5, 4], np.int64)
#: drone direction (0 right, 1 down, 2 left, 3 up; spec §8.11) after reflection
_MIRRORED_DRONE_DIR = (2, 1, 0, 3)


def _reflected_geometry(tile: int) -> tuple:
    """The geometry of ``tile`` reflected about the tile's vertical centre line, in the
    form of :func:`_geometry`."""
    ortho = TILE_ORTHO[tile]
    edges = TILE_GRID_EDGES[tile]
    new_ortho, new_edges = [0] * 12, ["0"] * 12
    for row in range(3):                 # horizontal half-edges: index 2*row + col
        for col in range(2):
            new_ortho[2 * row + 1 - col] = ortho[2 * row + col]
            new_edges[2 * row + 1 - col] = edges[2 * row + col]
    for col in range(3):                 # vertical half-edges: index 6 + 2*col + row
        for row in range(2):
            # a vertical edge's normal points left/right, so reflection flips its sign
            new_ortho[6 + 2 * (2 - col) + row] = -ortho[6 + 2 * col + row]
            new_edges[6 + 2 * (2 - col) + row] = edges[6 + 2 * col + row]
    diagonal = TILE_DIAGONALS.get(tile)
    if diagonal is not None:
        x1, y1, x2, y2 = diagonal
        # reflection reverses handedness: swapping the end points keeps the normal outward
        diagonal = (24 - x2, y2, 24 - x1, y1)
    arc = TILE_ARCS.get(tile)
    if arc is not None:
        cx, cy, hor, ver, convex = arc
        arc = (24 - cx, cy, -hor, ver, convex)
    return tuple(new_ortho), "".join(new_edges), diagonal, arc


def _geometry(tile: int) -> tuple:
    return TILE_ORTHO[tile], TILE_GRID_EDGES[tile], TILE_DIAGONALS.get(tile), TILE_ARCS.get(tile)


def _mirrored_tile_table() -> np.ndarray:
    """For every tile byte, the byte of its reflection (ids above the table stay: the
    simulator treats them as empty)."""
    known = len(TILE_ORTHO)
    by_geometry = {_geometry(t): t for t in range(known)}
    table = np.arange(256, dtype=np.uint8)
    for tile in range(known):
        mirrored = by_geometry.get(_reflected_geometry(tile))
        if mirrored is None:
            raise AssertionError(f"tile {tile} has no mirror image in the tile table")
        table[tile] = mirrored
    return table


#: ``MIRRORED_TILE[t]`` is the tile id whose geometry is tile ``t`` reflected left↔right
MIRRORED_TILE = _mirrored_tile_table()


def _mirrored_x(px: int, entity: EntitySpec | None, name: str, path: str | None) -> int:
    mirrored = WORLD_W - px
    if mirrored < 0:
        where = name if entity is None else f"entity {entity}: {name}"
        raise FormatError(path, where, f"{px} px lies beyond the world's width ({WORLD_W} px) "
                                       "and has no mirror image")
    return mirrored


def mirror_entity(entity: EntitySpec, path: str | None = None) -> EntitySpec:
    """The reflection of one entity spec (position, orientation, drone mode)."""
    orientation, mode = entity.orientation, entity.mode
    if entity.type in DRONE_TYPES:
        # a drone uses its orientation only as its initial direction, orientation // 2
        orientation = 2 * _MIRRORED_DRONE_DIR[orientation // 2 % 4] + orientation % 2
        mode = mode ^ 1                  # follow/wander clockwise <-> counter-clockwise
    elif entity.type in ORIENTED_TYPES:
        orientation = (4 - orientation) % 8   # the orientation vector's x is negated
    switch_x = entity.switch_x
    if switch_x or entity.switch_y:
        switch_x = _mirrored_x(switch_x, entity, "switch_x", path)
    return replace(entity, x=_mirrored_x(entity.x, entity, "x", path),
                   orientation=orientation, mode=mode, switch_x=switch_x)


def mirror_map(data: bytes, path: str | None = None) -> bytes:
    """The level bytes of ``data``'s left↔right mirror image (official layout, see
    :func:`~ninjarl.sim.mapfile.write_map`). Raises :class:`FormatError` naming ``path``
    when an entity lies where its mirror image cannot be stored."""
    level = parse_map(data, path)
    tiles = MIRRORED_TILE[level.tiles[::-1, :]]
    entities = [mirror_entity(e, path) for e in level.entities]
    spawn_x = _mirrored_x(level.spawn_x, None, "spawn_x", path)
    try:
        return write_map(tiles, spawn_x, level.spawn_y, entities)
    except FormatError as error:
        raise FormatError(path, error.field, error.problem) from None


def mirror_actions(actions: np.ndarray) -> np.ndarray:
    """Actions (0..5) with left and right swapped."""
    return MIRRORED_ACTION[np.asarray(actions, np.int64)]
