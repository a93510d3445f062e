"""Videos of episodes for people: MP4 and GIF files of a level played with given actions.

What is drawn
-------------
Every video frame is the colour picture of the game, :func:`ninjarl.draw.picture.render_rgb`
(600x1056, exactly what ``NinjaEnv(..., render_mode="rgb_array").render()`` shows), with an
info bar of :data:`BAR_HEIGHT` = 24 px *below* it: the frame number, the action held on that
frame (``ACTION_MEANINGS``: NOOP, LEFT, ..., JUMP+RIGHT), the current objective (``switch``
until the exit switch is hit, then ``exit door``) and, from the frame that ends the episode on,
its outcome (``won``, ``dead: <cause>``, or what the caller says, e.g. ``timeout``). Video
frames are therefore 624x1056, both multiples of 16 (H.264's macroblock, so ffmpeg never
rescales them).

Why the bar is below the picture: nothing is drawn over the game. Text over the level would
hide the ninja or an entity exactly where something happens, and an untouched picture keeps
the top 600 rows of every frame pixel-identical to the environment's render (before encoding),
so a video can be checked against the env.

Which frames
------------
:func:`play_frames` replays per-frame actions through a fresh one-env
:class:`~ninjarl.sim.BatchSimulator` (:func:`simulate_frames`, the same without pictures, for
callers that only need the states): frame 0 is the level at its start (the reset state,
before any input), frame f the picture after f simulated frames. It stops after the frame that
ends the episode (won or dead) or when the actions run out. An agent's episode, recorded as one
action per env step, is replayed frame-exactly with :func:`step_actions_to_frames` (each action
held ``action_repeat`` frames, as an env step holds it): the simulator is deterministic and the
env steps the same ``tick``, so the video shows the very frames the agent played, and its
length is ``info["frames"] + 1`` of the episode's last step. (The env truncates only at step
boundaries, so passing the actions of the steps it played is enough.)

Files
-----
* ``.mp4``: H.264 through imageio's ffmpeg plugin (imageio-ffmpeg): ``libx264``, pixel format
  ``yuv420p`` (what every player plays), ``quality=9`` (``-crf 5``, near lossless; the game's
  flat colours compress well anyway), preset :data:`MP4_PRESET`, ``macro_block_size=16``,
  every frame at ``fps``.
* ``.gif``: Pillow. A GIF keeps only every :data:`GIF_FRAME_STEP`-th (3rd) frame, plus always
  the last one (it shows the outcome), to stay about 3x smaller; each kept frame is shown
  ``GIF_FRAME_STEP / fps`` s (50 ms at 60 fps, GIF delays are in 10 ms units), so it still plays
  in real time, and the last frame is held :data:`GIF_FINAL_HOLD_MS` so the outcome can be read
  before it loops. Each frame gets its own adaptive 256-colour palette (the game uses fewer
  colours). Pillow keeps all kept frames in memory until the file is written (about 0.7 MB per
  frame).

Every write is atomic: the file is written under a temporary name in the target's directory and
renamed over ``path`` only when complete, so a failed or interrupted write leaves no partial file
(and an existing file untouched).
"""
from __future__ import annotations

import collections
import functools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from ..atomic import write_with
from ..draw.picture import render_rgb
from ..env.spaces import ACTION_MEANINGS
from ..sim import BatchSimulator, Level, LevelSource, load_level, read_replay
from ..sim.constants import DEATH_CAUSES, ST_CELEBRATING, ST_DEAD, ST_DYING, T_EXIT_SWITCH, WORLD_W
from ..sim.layout import DEATH_CAUSE, E_ACTIVE, ES_TYPE, STATE
from ..sim.replay import ACTION_TO_INPUT_BYTE, input_actions

__all__ = ["BAR_HEIGHT", "GIF_FINAL_HOLD_MS", "GIF_FRAME_STEP", "VIDEO_EXTENSIONS", "PlayedFrame",
           "episode_frames", "info_bar", "play_frames", "step_actions_to_frames", "with_info_bar",
           "write_episode_video", "write_replay_video", "write_video"]

#: Height in px of the info bar below the 600 px game picture (frames are 624x1056).
BAR_HEIGHT = 24
#: A GIF keeps every GIF_FRAME_STEP-th frame (and the last).
GIF_FRAME_STEP = 3
#: How long a GIF shows its last frame, in ms.
GIF_FINAL_HOLD_MS = 1000
#: File extensions :func:`write_video` accepts.
VIDEO_EXTENSIONS = (".mp4", ".gif")
#: ``quality`` of imageio's ffmpeg writer (1..10; 9 is libx264 ``-crf 5``).
MP4_QUALITY = 9
#: libx264's speed preset. The encoder is what limits writing a video once frames are drawn
#: (a 5,000-frame time-out is most of a training run's videos); ``ultrafast`` encodes about
#: 1.7x faster than the default ``medium`` and the file is about 2.4x larger (0.6 KB per frame
#: of a typical level).
MP4_PRESET = "ultrafast"

# the process umask, read once (reading it means setting it): the MP4's temporary file comes
# from mkstemp (mode 0600) and gets the mode of a normally created file instead
_UMASK = os.umask(0)
os.umask(_UMASK)

_BAR_BACKGROUND = (28, 30, 38)
_BAR_TEXT = (225, 225, 230)
_OUTCOME_COLOURS = {"won": (90, 230, 90), "dead": (255, 90, 90)}
_OUTCOME_OTHER = (240, 190, 60)
# x of each field (the default bitmap font is 6 px per character, 11 px high): fixed columns
# keep the text from jumping around while the numbers change
_COLUMNS = (8, 128, 290, 470)
_TEXT_Y = (BAR_HEIGHT - 11) // 2


@dataclass(frozen=True, eq=False)
class PlayedFrame:
    """One frame of a replayed episode.

    ``picture``: uint8 [600, 1056, 3] from :func:`~ninjarl.draw.picture.render_rgb` (a fresh
    array); ``frame``: simulated frames so far (0 = the start); ``action``: the action (0..5)
    held on this frame, ``None`` at the start; ``objective``: ``"switch"`` or ``"exit door"``
    (``"-"`` for a level without an exit switch); ``outcome``: ``"won"`` or ``"dead: <cause>"``
    on the frame that ends the episode (the last one), else ``None``.
    """

    picture: np.ndarray
    frame: int
    action: int | None
    objective: str
    outcome: str | None


def _as_actions(actions: npt.ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(actions)
    if a.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of actions, got shape {a.shape}")
    if a.size == 0:
        return np.zeros(0, np.int64)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{what} must be integers 0..5, got dtype {a.dtype}")
    if a.min() < 0 or a.max() >= len(ACTION_MEANINGS):
        raise ValueError(f"{what} must be in 0..{len(ACTION_MEANINGS) - 1}, "
                         f"got values {a.min()}..{a.max()}")
    return a.astype(np.int64)


def step_actions_to_frames(actions: npt.ArrayLike, action_repeat: int) -> np.ndarray:
    """The per-frame actions (int64) of env-step actions: each action (0..5) repeated
    ``action_repeat`` times, as an env step holds it. Replaying them with :func:`play_frames`
    (which stops at the frame that ends the episode, like the env) gives the env's frames."""
    if int(action_repeat) != action_repeat or action_repeat < 1:
        raise ValueError(f"action_repeat must be an integer >= 1, got {action_repeat!r}")
    return np.repeat(_as_actions(actions, "actions"), int(action_repeat))


@dataclass
class SimulatedFrame:
    """One frame of :func:`simulate_frames`: as :class:`PlayedFrame` without the picture, with
    the one-env simulator it came from (``sim.state`` holds this frame's state until the
    generator moves on)."""

    sim: BatchSimulator
    frame: int
    action: int | None
    objective: str
    outcome: str | None


def simulate_frames(level: Level, frame_actions: npt.ArrayLike) -> Iterator[SimulatedFrame]:
    """Replay per-frame actions (0..5) on a fresh one-env simulator of the loaded ``level``,
    yielding the start frame and then one :class:`SimulatedFrame` after each simulated frame,
    up to the frame that ends the episode (won or dead) or the last action."""
    actions = _as_actions(frame_actions, "frame_actions")
    sim = BatchSimulator([level], np.zeros(1, np.int64))
    st = sim.state
    switches = np.flatnonzero(level.ent_si[:, ES_TYPE] == T_EXIT_SWITCH)
    switch = int(switches[0]) if len(switches) else -1     # the env's choice (Engine._lvl_i)
    input_bytes = np.array(ACTION_TO_INPUT_BYTE, np.uint8)

    def objective() -> str:
        if switch < 0:
            return "-"
        return "exit door" if st.ent_i[0, switch, E_ACTIVE] == 0 else "switch"

    yield SimulatedFrame(sim, 0, None, objective(), None)
    frame_input = np.zeros((1, 1), np.uint8)
    for f, action in enumerate(actions, start=1):
        frame_input[0, 0] = input_bytes[action]
        sim.run(frame_input, auto_reset=False)
        state = int(st.ninja_i[0, STATE])
        outcome = None
        if state == ST_CELEBRATING:
            outcome = "won"
        elif state in (ST_DEAD, ST_DYING):
            cause = DEATH_CAUSES.get(int(st.ninja_i[0, DEATH_CAUSE]), "")
            outcome = f"dead: {cause}" if cause else "dead"
        yield SimulatedFrame(sim, f, int(action), objective(), outcome)
        if outcome is not None:
            return


def play_frames(level: LevelSource, frame_actions: npt.ArrayLike) -> Iterator[PlayedFrame]:
    """:func:`simulate_frames` on a fresh load of ``level`` (anything
    :func:`ninjarl.sim.load_level` takes), each frame with its picture."""
    level = load_level(level)
    for f in simulate_frames(level, frame_actions):
        yield PlayedFrame(render_rgb(level, f.sim.bank, f.sim.state, 0), f.frame, f.action,
                          f.objective, f.outcome)


@functools.cache
def _font() -> ImageFont.ImageFont:
    # Pillow >= 10.1 returns a FreeType font from load_default(); the bitmap one needs no file
    loader = getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)
    return loader()


def info_bar(frame: int, action: int | None, objective: str, outcome: str | None,
             width: int = WORLD_W) -> np.ndarray:
    """The uint8 [BAR_HEIGHT, width, 3] info bar of one frame."""
    bar = Image.new("RGB", (width, BAR_HEIGHT), _BAR_BACKGROUND)
    draw = ImageDraw.Draw(bar)
    font = _font()
    fields = [f"frame {frame}",
              "action: " + ("-" if action is None else ACTION_MEANINGS[action]),
              f"objective: {objective}"]
    for x, text in zip(_COLUMNS, fields):
        draw.text((x, _TEXT_Y), text, fill=_BAR_TEXT, font=font)
    if outcome:
        colour = _OUTCOME_COLOURS.get(outcome.split(":")[0], _OUTCOME_OTHER)
        draw.text((_COLUMNS[3], _TEXT_Y), f"outcome: {outcome}", fill=colour, font=font)
    return np.asarray(bar, np.uint8)


def with_info_bar(played: PlayedFrame, outcome: str | None = None) -> np.ndarray:
    """The video frame (uint8 [624, 1056, 3]) of a played frame: its picture, unchanged, above
    the info bar. ``outcome`` is shown when the frame itself has none."""
    picture = played.picture
    out = np.empty((picture.shape[0] + BAR_HEIGHT, picture.shape[1], 3), np.uint8)
    out[:picture.shape[0]] = picture
    out[picture.shape[0]:] = info_bar(played.frame, played.action, played.objective,
                                      played.outcome or outcome, picture.shape[1])
    return out


def episode_frames(level: LevelSource, frame_actions: npt.ArrayLike,
                   outcome: str | None = None) -> Iterator[np.ndarray]:
    """Video frames (uint8 [624, 1056, 3]: the game picture above the info bar) of
    ``frame_actions`` (0..5, one per frame) played on ``level`` (anything
    :func:`ninjarl.sim.load_level` takes): the start frame, then one per simulated frame up to
    the end of the episode or of the actions (see :func:`play_frames`).

    A win or death is read from the simulator and shown from the frame it happens on.
    ``outcome`` (e.g. ``"timeout"`` for an episode the env truncated) is shown on the last frame
    when the actions run out before a win or death.
    """
    actions = _as_actions(frame_actions, "frame_actions")
    last = len(actions)
    for played in play_frames(level, actions):
        yield with_info_bar(played, outcome if played.frame == last else None)


def _check_extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise ValueError(f"{path}: unsupported video extension {path.suffix!r}; "
                         f"accepted: {', '.join(VIDEO_EXTENSIONS)}")
    return ext


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 60) -> int:
    """Write uint8 [H, W, 3] ``frames`` (any iterable, consumed once) as a video, atomically.

    The extension picks the format (see the module docstring): ``.mp4`` (H.264, every frame at
    ``fps``) or ``.gif`` (every :data:`GIF_FRAME_STEP`-th frame and the last). Returns the number
    of frames in the file. Another extension is a :class:`ValueError` naming ``path`` and the
    accepted ones, raised before anything is written; so is an empty ``frames``. If ``frames``
    raises, the exception propagates and no file is left behind.
    """
    path = Path(path)
    ext = _check_extension(path)
    if not fps > 0:
        raise ValueError(f"{path}: fps must be > 0, got {fps!r}")
    iterator = iter(frames)
    try:
        first = next(iterator)
    except StopIteration:
        raise ValueError(f"{path}: no frames to write") from None
    stream = _chain(first, iterator)
    if ext == ".mp4":
        return _write_mp4(path, stream, fps)
    return _write_gif(path, stream, fps)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield _check_frame(first)
    for frame in rest:
        yield _check_frame(frame)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"video frames must be uint8 [H, W, 3], got {a.dtype} {a.shape}")
    return a


def _write_mp4(path: Path, frames: Iterator[np.ndarray], fps: float) -> int:
    import imageio.v2 as iio  # imported here: only writing an MP4 needs imageio-ffmpeg

    path.parent.mkdir(parents=True, exist_ok=True)
    # ffmpeg writes to a path (the container is chosen from its .mp4 suffix), so the temporary
    # file is a named sibling of the target rather than atomic.write_with's open file
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.mp4")
    os.close(fd)
    tmp = Path(tmp_name)
    count = 0
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        writer = iio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                quality=MP4_QUALITY, pixelformat="yuv420p", macro_block_size=16,
                                ffmpeg_log_level="error", output_params=["-preset", MP4_PRESET])
        try:
            for frame in frames:
                writer.append_data(frame)
                count += 1
        finally:
            writer.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _write_gif(path: Path, frames: Iterator[np.ndarray], fps: float) -> int:
    step_ms = max(10, round(1000 * GIF_FRAME_STEP / fps / 10) * 10)
    kept: list[Image.Image] = []
    last: np.ndarray | None = None
    last_kept = False
    for i, frame in enumerate(frames):
        last, last_kept = frame, i % GIF_FRAME_STEP == 0
        if last_kept:
            kept.append(_palette_image(frame))
    if not last_kept:
        kept.append(_palette_image(last))
    durations = [step_ms] * (len(kept) - 1) + [max(step_ms, GIF_FINAL_HOLD_MS)]

    def write(f: BinaryIO) -> None:
        kept[0].save(f, format="GIF", save_all=True, append_images=kept[1:],
                     duration=durations, loop=0)

    write_with(path, write)
    return len(kept)


def _palette_image(frame: np.ndarray) -> Image.Image:
    return Image.fromarray(frame, "RGB").quantize(colors=256, dither=Image.Dither.NONE)


def write_episode_video(path: str | os.PathLike, level: LevelSource, step_actions: npt.ArrayLike,
                        action_repeat: int, fps: float = 60, outcome: str | None = None) -> int:
    """Write the video of an agent's episode: ``step_actions`` (0..5, one per env step, each
    held ``action_repeat`` frames) played frame-exactly on ``level``. ``outcome`` labels an end
    that is not a win or death (e.g. ``"timeout"``). Returns the number of frames written (for
    an MP4 the episode's frames + 1, the start)."""
    frames = episode_frames(level, step_actions_to_frames(step_actions, action_repeat), outcome)
    return write_video(path, frames, fps)


def write_replay_video(path: str | os.PathLike, replay_path: str | os.PathLike,
                       fps: float = 60) -> int:
    """Write the video of a human replay file (any format :func:`ninjarl.sim.read_replay`
    reads): its per-frame inputs played on its own map. Returns the number of frames written
    (for an MP4 the replay's input frames + 1, or fewer when the episode ends first)."""
    _check_extension(Path(path))
    replay = read_replay(replay_path)
    level = load_level(replay.map_bytes, name=Path(replay_path).name)
    return write_video(path, episode_frames(level, input_actions(replay.inputs)), fps)


def last_frame(path: str | os.PathLike) -> np.ndarray:
    """The last frame of an MP4 or GIF (uint8 [H, W, 3]): a video's poster, e.g. for
    TensorBoard, which shows images without extra dependencies."""
    import imageio.v2 as imageio

    with imageio.get_reader(str(path)) as reader:
        if Path(path).suffix.lower() == ".mp4":
            # counting copies the stream without decoding it, and reading frame n seeks: ffmpeg
            # decodes the last seconds only, not a 5,000-frame time-out from its start
            count = reader.count_frames()
            frames = [reader.get_data(count - 1)] if count else []
        else:
            frames = collections.deque(reader, maxlen=1)
    if not frames:
        raise ValueError(f"{path}: the video has no frames")
    return np.asarray(frames[0])[..., :3]
