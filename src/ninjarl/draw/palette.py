"""The grey levels of everything the observation pictures draw, and their colours for people.

Every drawn thing has one grey level (uint8) in the observations; :data:`RGB_LUT` maps each grey
to the colour :func:`~ninjarl.draw.picture.render_rgb` shows.
"""
from __future__ import annotations

import numpy as np

#: The grey level (uint8) of everything drawn, one row per thing: name -> (grey, RGB for
#: :func:`~ninjarl.draw.picture.render_rgb`, meaning). All grey values are distinct. The empty
#: background is 0, walls (and everything outside the level) 100; every entity grey is above
#: 100, so the part-solid blocks of the reduced tile layer (greys 1..99) never look like an
#: entity. Hazards sit high (235-250), goals and pickups in the upper middle, inert or helpful
#: objects lower, and the ninja alone at 255.
PALETTE_TABLE: dict[str, tuple[int, tuple[int, int, int], str]] = {
    "empty":             (0,   (18, 20, 28),     "empty space"),
    "wall":              (100, (120, 124, 136),  "solid tile, outside the level, glitch edges"),
    "exit_door_closed":  (110, (90, 60, 40),     "exit door (3) before its switch is hit"),
    "bounce_block":      (120, (70, 110, 160),   "bounce block (17)"),
    "trap_switch":       (140, (160, 70, 160),   "trap door (8) switch, not yet triggered"),
    "one_way":           (125, (150, 150, 90),   "one-way platform (11) face"),
    "door_closed":       (130, (200, 170, 90),   "closed door segment (5, 6, 8)"),
    "launch_pad":        (145, (90, 200, 220),   "launch pad (10)"),
    "mine_safe":         (150, (120, 90, 90),    "mine state 1: safe (untoggled)"),
    "boost_pad":         (160, (60, 200, 120),   "boost pad (24)"),
    "door_switch":       (170, (240, 200, 60),   "locked door (6) switch, not yet used"),
    "mine_toggling":     (190, (240, 150, 40),   "mine state 2: toggling"),
    "gold":              (200, (255, 215, 0),    "gold (2)"),
    "shove_thwump":      (205, (110, 90, 200),   "shove thwump (28)"),
    "thwump":            (210, (80, 80, 210),    "thwump (20)"),
    "exit_switch":       (220, (60, 240, 60),    "exit switch (4), not yet hit (hit: not drawn)"),
    "exit_door_open":    (230, (40, 255, 200),   "exit door (3) after its switch was hit"),
    "mini_drone":        (235, (255, 90, 150),   "mini drone (26)"),
    "mine_deadly":       (240, (255, 40, 40),    "mine state 0: deadly (toggled)"),
    "zap_drone":         (245, (255, 60, 110),   "zap drone (14)"),
    "death_ball":        (250, (255, 110, 60),   "death ball (25)"),
    "ninja":             (255, (255, 255, 255),  "the ninja"),
}
#: name -> grey level
PALETTE: dict[str, int] = {k: v[0] for k, v in PALETTE_TABLE.items()}
assert len(set(PALETTE.values())) == len(PALETTE), "palette greys must be distinct"

EMPTY = PALETTE["empty"]
WALL = PALETTE["wall"]
NINJA = PALETTE["ninja"]
MINE_DEADLY = PALETTE["mine_deadly"]
MINE_SAFE = PALETTE["mine_safe"]
MINE_TOGGLING = PALETTE["mine_toggling"]
GOLD = PALETTE["gold"]
EXIT_DOOR_CLOSED = PALETTE["exit_door_closed"]
EXIT_DOOR_OPEN = PALETTE["exit_door_open"]
EXIT_SWITCH = PALETTE["exit_switch"]
DOOR_CLOSED = PALETTE["door_closed"]
DOOR_SWITCH = PALETTE["door_switch"]
TRAP_SWITCH = PALETTE["trap_switch"]
LAUNCH_PAD = PALETTE["launch_pad"]
ONE_WAY = PALETTE["one_way"]
ZAP_DRONE = PALETTE["zap_drone"]
MINI_DRONE = PALETTE["mini_drone"]
BOUNCE_BLOCK = PALETTE["bounce_block"]
THWUMP = PALETTE["thwump"]
SHOVE_THWUMP = PALETTE["shove_thwump"]
BOOST_PAD = PALETTE["boost_pad"]
DEATH_BALL = PALETTE["death_ball"]


def _rgb_lut() -> np.ndarray:
    """grey -> RGB: palette greys get their colour; any other grey (the intermediate values of
    the reduced tile layer) is shown as itself."""
    lut = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    for grey, rgb, _ in PALETTE_TABLE.values():
        lut[grey] = rgb
    return lut


#: uint8 [256, 3]: the colour :func:`~ninjarl.draw.picture.render_rgb` gives each grey level.
RGB_LUT = _rgb_lut()

__all__ = ["BOOST_PAD", "BOUNCE_BLOCK", "DEATH_BALL", "DOOR_CLOSED", "DOOR_SWITCH", "EMPTY",
           "EXIT_DOOR_CLOSED", "EXIT_DOOR_OPEN", "EXIT_SWITCH", "GOLD", "LAUNCH_PAD",
           "MINE_DEADLY", "MINE_SAFE", "MINE_TOGGLING", "MINI_DRONE", "NINJA", "ONE_WAY",
           "PALETTE", "PALETTE_TABLE", "RGB_LUT", "SHOVE_THWUMP", "THWUMP", "TRAP_SWITCH", "WALL",
           "ZAP_DRONE"]
