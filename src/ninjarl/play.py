"""``ninjarl play``: a person plays levels in a pygame window with N++'s controls, and every
finished attempt can be recorded as a compact ``.replay`` (what ``ninjarl replay`` reproduces
and ``ninjarl bc`` learns from).

Controls: left / right arrows or A / D move, Z, space or the up arrow jump (as in N++, left
wins when both directions are held), R or Enter restarts the level, N goes to the next level
of the set, Esc or closing the window quits. The game runs at :data:`FPS` = 60 frames per
second, one simulator frame per display frame, like N++ itself. As in N++, an attempt starts
on the first frame with a key held: nothing is simulated (or recorded) while the player looks
at the level. An attempt ends when the ninja wins or dies; the picture then holds the outcome
until R / Enter (the same level again; after a win with ``--next``, the next level) or N.

Recording: each frame's input byte is what the simulator is fed (bit 2 left, bit 1 right, bit
0 jump, exactly the replay format's), so the saved replay is the played trajectory. Won and
dead attempts are saved to ``DIR/<level>_<YYYYmmdd-HHMMSS>_<attempt>_<won|dead>.replay``
(compact v1 with the success flag); an attempt left by a restart or quit is not.

Headless (tests, demos): SDL's dummy video driver, no frame pacing, and a *script* of key
events instead of a keyboard: ``[display frame, "down" | "up", key name]`` triples (key names
as pygame spells them: ``"right"``, ``"z"``, ``"space"``, ``"r"``). The events are posted to
pygame's own event queue at their frame, so they go through exactly the path of real key
presses; the session ends after the last scripted frame.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import safe_name, write_bytes
from .draw.palette import RGB_LUT
from .draw.raster import render_grey
from .eval.levels import EvalLevel
from .sim import BatchSimulator, build_level
from .sim.constants import ST_CELEBRATING, ST_DEAD, ST_DYING, T_EXIT_SWITCH, WORLD_H, WORLD_W
from .sim.layout import E_ACTIVE, ES_TYPE, STATE, X, Y
from .sim.replay import encode_replay

FPS = 60
BAR_HEIGHT = 28
LEFT_KEYS = ("left", "a")
RIGHT_KEYS = ("right", "d")
JUMP_KEYS = ("z", "space", "up")
RESTART_KEYS = ("r", "return")
NEXT_KEY = "n"
QUIT_KEY = "escape"
#: input-byte bits (the replay format's, :func:`ninjarl.sim.decode_inputs`)
LEFT_BIT, RIGHT_BIT, JUMP_BIT = 4, 2, 1
WON, DEAD = "won", "dead"
#: SDL video drivers that show nothing: SDL picks them when there is no display
INVISIBLE_DRIVERS = ("offscreen", "dummy", "evdev")
PALETTE_COLOURS = [tuple(int(c) for c in colour) for colour in RGB_LUT]
NO_WINDOW = ("play: cannot open a window ({reason}); run it on a desktop, under Xvfb "
             "(xvfb-run ninjarl play ...), or with --headless and a --script of key events")


class DisplayError(RuntimeError):
    """No display to open a window on."""


@dataclass
class Attempt:
    """One attempt at a level: the input byte of every simulated frame, the ninja's position
    after each, how it ended (``won``, ``dead``, or ``None`` when left unfinished) and the
    recorded file."""
    level: EvalLevel
    inputs: list[int] = field(default_factory=list)
    trajectory: list[tuple[float, float]] = field(default_factory=list)
    outcome: str | None = None
    path: Path | None = None

    @property
    def frames(self) -> int:
        return len(self.inputs)


def input_byte(held: set[str]) -> int:
    """The input byte of the keys held (pygame key names)."""
    return ((LEFT_BIT if held & set(LEFT_KEYS) else 0) | (RIGHT_BIT if held & set(RIGHT_KEYS) else 0)
            | (JUMP_BIT if held & set(JUMP_KEYS) else 0))


class Game:
    """The state of a play session: the level being played, the current attempt, the finished
    ones. Independent of pygame: :meth:`tick` takes the keys held on a display frame."""

    def __init__(self, levels: Sequence[EvalLevel], record_dir: str | Path | None = None,
                 walk: bool = False):
        if not levels:
            raise ValueError("play: no levels")
        self.levels = list(levels)
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self.walk = walk
        self.index = 0
        self.attempts: list[Attempt] = []
        self.quit = False
        self._load(0)

    def _load(self, index: int) -> None:
        self.index = index
        entry = self.levels[index]
        self.level = build_level(entry.map_bytes, f"{entry.category}/{entry.level_id}")
        switches = np.flatnonzero(self.level.ent_si[:, ES_TYPE] == T_EXIT_SWITCH)
        self._switch = int(switches[0]) if len(switches) else -1
        self.restart()

    def restart(self) -> None:
        """A new attempt at the current level (an unfinished one is dropped)."""
        self.sim = BatchSimulator([self.level], np.zeros(1, np.int64))
        self.attempt = Attempt(self.levels[self.index])

    def next_level(self) -> None:
        self._load((self.index + 1) % len(self.levels))

    @property
    def finished(self) -> bool:
        return self.attempt.outcome is not None

    @property
    def switch_on(self) -> bool:
        return self._switch >= 0 and self.sim.state.ent_i[0, self._switch, E_ACTIVE] == 0

    def key_down(self, key: str) -> None:
        """A control key pressed (movement keys are read by :meth:`tick` from the held set)."""
        if key == QUIT_KEY:
            self.quit = True
        elif key == NEXT_KEY:
            self.next_level()
        elif key in RESTART_KEYS:
            if self.walk and self.attempt.outcome == WON:
                self.next_level()
            else:
                self.restart()

    def tick(self, held: set[str]) -> None:
        """One display frame: one simulator frame with the keys held, once the attempt has
        started (a key held) and until it ends."""
        if self.finished:
            return
        byte = input_byte(held)
        if not self.attempt.inputs and byte == 0:
            return                          # waiting for the player's first input
        self.attempt.inputs.append(byte)
        self.sim.run(np.array([[byte]], np.uint8), auto_reset=False)
        state = int(self.sim.state.ninja_i[0, STATE])
        ninja = self.sim.state.ninja_f[0]
        self.attempt.trajectory.append((float(ninja[X]), float(ninja[Y])))
        if state == ST_CELEBRATING:
            self._finish(WON)
        elif state in (ST_DEAD, ST_DYING):
            self._finish(DEAD)

    def _finish(self, outcome: str) -> None:
        attempt = self.attempt
        attempt.outcome = outcome
        self.attempts.append(attempt)
        if self.record_dir is not None:
            name = (f"{safe_name(attempt.level.level_id)}_{time.strftime('%Y%m%d-%H%M%S')}_"
                    f"{len(self.attempts):03d}_{outcome}.replay")
            attempt.path = write_bytes(self.record_dir / name, encode_replay(
                attempt.level.map_bytes, np.array(attempt.inputs, np.uint8), outcome == WON))

    def status(self) -> str:
        """The info line under the picture: level, time, switch, outcome, keys."""
        entry = self.levels[self.index]
        frames = self.attempt.frames
        text = (f"level {self.index + 1}/{len(self.levels)} {entry.category}/{entry.level_id}   "
                f"time {frames / FPS:6.2f} s ({frames} frames)   "
                f"switch {'ON' if self.switch_on else 'off'}   ")
        if self.finished:
            text += f"{self.attempt.outcome.upper()}: R restart, N next, Esc quit"
        elif not self.attempt.inputs:
            text += "move or jump to start"
        if self.attempt.path is not None:
            text += f"   saved {self.attempt.path.name}"
        return text


def load_script(path: str | Path) -> list[tuple[int, str, str]]:
    """A key script file: a JSON list of ``[frame, "down" | "up", key name]``."""
    try:
        events = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the key script: {e}") from None
    return check_script(events, str(path))


def key_code(name: str) -> int | None:
    """pygame's code of a key name (``"right"``, ``"z"``, ``"space"``), None if unknown; read
    from pygame's constants, which need no initialised display."""
    import pygame
    return getattr(pygame, f"K_{name}", None) or getattr(pygame, f"K_{name.upper()}", None)


def check_script(events, source: str = "script") -> list[tuple[int, str, str]]:
    """``events`` as a sorted key script, or a ValueError naming ``source`` and the event."""
    out = []
    if not isinstance(events, list):
        raise ValueError(f"{source}: a key script is a list of [frame, 'down'|'up', key]")
    for i, event in enumerate(events):
        if (not isinstance(event, (list, tuple)) or len(event) != 3
                or not isinstance(event[0], int) or event[0] < 0 or event[1] not in ("down", "up")
                or not isinstance(event[2], str)):
            raise ValueError(f"{source}: event {i}: expected [frame >= 0, 'down'|'up', key], "
                             f"got {event!r}")
        if key_code(event[2]) is None:
            raise ValueError(f"{source}: event {i}: unknown key {event[2]!r}")
        out.append((event[0], event[1], event[2]))
    return sorted(out, key=lambda e: e[0])


def script_from_inputs(inputs: Sequence[int], start: int = 0,
                       quit: bool = False) -> list[tuple[int, str, str]]:
    """The key script that plays input bytes frame by frame from display frame ``start``
    (right arrow, left arrow and Z), releasing every key after the last one; with ``quit``,
    Esc right after it, so that the session ends after exactly these frames."""
    keys = ((LEFT_BIT, "left"), (RIGHT_BIT, "right"), (JUMP_BIT, "z"))
    events, previous = [], 0
    for frame, byte in enumerate([*map(int, inputs), 0], start=start):
        for bit, key in keys:
            if (byte & bit) != (previous & bit):
                events.append((frame, "down" if byte & bit else "up", key))
        previous = byte
    if quit:
        events.append((start + len(inputs), "down", QUIT_KEY))
    return events


def play(levels: Sequence[EvalLevel], record_dir: str | Path | None = None, walk: bool = False,
         script: Sequence[tuple[int, str, str]] | None = None,
         headless: bool = False) -> list[Attempt]:
    """Open the window (SDL's dummy driver when ``headless``) and play until the player quits
    (or the ``script`` ends); returns the finished attempts."""
    driver = os.environ.get("SDL_VIDEODRIVER")
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    elif (sys.platform.startswith("linux") and not os.environ.get("SDL_VIDEODRIVER")
          and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        raise DisplayError(NO_WINDOW.format(reason="no display: DISPLAY and WAYLAND_DISPLAY "
                                            "are unset"))
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    game = Game(levels, record_dir, walk)
    try:
        try:
            pygame.display.init()
            driver = pygame.display.get_driver()
            if not headless and driver in INVISIBLE_DRIVERS:
                raise pygame.error(f"no display, SDL fell back to its {driver!r} driver")
            screen = pygame.display.set_mode((WORLD_W, WORLD_H + BAR_HEIGHT))
        except pygame.error as e:
            raise DisplayError(NO_WINDOW.format(reason=e)) from None
        pygame.display.set_caption("ninjarl play")
        pygame.font.init()
        _loop(pygame, screen, game, list(script or []), script is not None, headless)
    finally:
        pygame.quit()
        if headless:                 # leave the process's environment as it was
            os.environ.pop("SDL_VIDEODRIVER")
            if driver is not None:
                os.environ["SDL_VIDEODRIVER"] = driver
    return game.attempts


def _loop(pygame, screen, game: Game, script: list, scripted: bool, headless: bool) -> None:
    font = pygame.font.Font(None, 22)
    clock = pygame.time.Clock()
    names = {key_code(k): k for k in
             (*LEFT_KEYS, *RIGHT_KEYS, *JUMP_KEYS, *RESTART_KEYS, NEXT_KEY, QUIT_KEY)}
    held: set[str] = set()
    last_frame = script[-1][0] if script else -1
    frame, pending = 0, 0
    while not game.quit:
        while pending < len(script) and script[pending][0] == frame:
            _, kind, key = script[pending]
            pygame.event.post(pygame.event.Event(
                pygame.KEYDOWN if kind == "down" else pygame.KEYUP,
                key=key_code(key), mod=0, unicode="", scancode=0))
            pending += 1
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                game.quit = True
            elif event.type in (pygame.KEYDOWN, pygame.KEYUP) and event.key in names:
                name = names[event.key]
                if event.type == pygame.KEYUP:
                    held.discard(name)
                elif name not in held:
                    held.add(name)
                    game.key_down(name)
        if game.quit:
            break
        game.tick(held)
        _draw(pygame, screen, font, game)
        if scripted and frame >= last_frame:
            break
        if not headless:
            clock.tick(FPS)
        frame += 1


def _draw(pygame, screen, font, game: Game) -> None:
    # the grey picture through an 8-bit palette surface: the colours of render_rgb (the
    # videos' picture), pixel for pixel, at a tenth of the cost of a colour lookup per pixel
    grey = render_grey(game.level, game.sim.bank, game.sim.state, 0)
    picture = pygame.image.frombuffer(grey.tobytes(), (WORLD_W, WORLD_H), "P")
    picture.set_palette(PALETTE_COLOURS)
    screen.blit(picture, (0, 0))
    screen.fill((28, 30, 38), (0, WORLD_H, WORLD_W, BAR_HEIGHT))
    colour = {WON: (90, 230, 90), DEAD: (255, 90, 90)}.get(game.attempt.outcome,
                                                          (225, 225, 230))
    screen.blit(font.render(game.status(), True, colour), (8, WORLD_H + 6))
    pygame.display.flip()
