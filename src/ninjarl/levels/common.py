"""What both generator styles share (:mod:`.generators`, :mod:`.styles`): the categories and
their tiers, the entity type ids they place, cell coordinates, the redraw limit and the record
of a generated level."""
from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: tuple[str, ...] = ("simplest", "simpler", "simple", "medium", "complex",
                               "mine_heavy", "exploration")
TIERS = {"simplest": 0, "simpler": 1, "simple": 2, "medium": 3, "complex": 4,
         "mine_heavy": 4, "exploration": 5}
#: draws of one (category, seed) before generation gives up
MAX_ATTEMPTS = 200

T_MINE, T_GOLD, T_EXIT, T_SWITCH, T_LOCKED, T_TOGGLE = 1, 2, 3, 4, 6, 21


def cell_px(c: int) -> int:
    """Centre (px) of playable cell index c (full-grid cell c + 1)."""
    return 24 * c + 36


def category_index(category: str) -> int:
    try:
        return CATEGORIES.index(category)
    except ValueError:
        raise ValueError(f"unknown level category {category!r}; "
                         f"expected one of {', '.join(CATEGORIES)}") from None


@dataclass
class GeneratedLevel:
    """One generated level: raw N++ map bytes plus its provenance."""

    map_bytes: bytes
    category: str
    seed: int
    tier: int
    metadata: dict
    level_id: str
    content_hash: str
    style: str = "classic"
