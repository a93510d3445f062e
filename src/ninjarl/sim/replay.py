"""Reading replay files and decoding input bytes (spec §10).

Three container formats are recognised, all little-endian and uncompressed:

* ``compact-v0``: ``u32 map_len, u32 n_inputs, map, inputs``;
* ``compact-v1``: ``u32 version=1, u32 map_len, u32 n_inputs, u8 success, map, inputs``;
* ``attract`` (the game's demo files): ``u32 map_len, u32 demo_len, level bytes
  without their first 8 bytes, 30-byte demo header, inputs``.

A first u32 <= 100 means v1 (a map is always longer than that); v0 and attract
files have the same size rule and are told apart by the consistency of the demo
header.  Files are never unpickled or executed, only sliced.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from os import PathLike

import numpy as np

from ninjarl.sim.errors import FormatError
from ninjarl.sim.mapfile import parse_map

#: Input byte of each of the 6 RL actions (§10.2): NOOP, LEFT, RIGHT, JUMP,
#: JUMP+LEFT, JUMP+RIGHT.
ACTION_TO_INPUT_BYTE = (0, 4, 2, 1, 5, 3)
#: Action (0..5) of (horizontal input + 1, jump bit): the inverse of ACTION_TO_INPUT_BYTE.
_ACTION_OF = np.array([[1, 4], [0, 3], [2, 5]], np.int64)

V1_MAX_VERSION_FIELD = 100
V1_HEADER_LEN = 13
V0_HEADER_LEN = 8
DEMO_HEADER_LEN = 30
#: size limits checked before anything is allocated: an hour of frames at 60 frames/s (the
#: longest of the 130 human replays has 1,848), a map of 64 KiB (1,233 bytes of header and
#: tiles, then 5 bytes per entity)
MAX_REPLAY_FRAMES = 60 * 60 * 60
MAX_MAP_BYTES = 1 << 16
MAX_REPLAY_BYTES = V1_HEADER_LEN + MAX_MAP_BYTES + DEMO_HEADER_LEN + MAX_REPLAY_FRAMES
# The attract level lacks its first 8 bytes (the two lengths stand in for them);
# padding them back makes level offsets equal file offsets again.
ATTRACT_MAP_PAD = bytes(8)


# eq=False: the inputs array has no scalar truth value, so field-wise == would raise.
@dataclass(frozen=True, eq=False)
class Replay:
    """A decoded replay: the level bytes to load and one raw input byte per frame.

    ``success`` is the v1 header's flag and ``None`` for the other formats.
    Frame f (1-based) consumes ``inputs[f - 1]``.
    """

    map_bytes: bytes
    inputs: np.ndarray
    format: str
    success: int | None


def read_replay(path: str | PathLike[str]) -> Replay:
    """Read and parse a replay file; I/O errors propagate as :class:`OSError`."""
    return parse_replay(read_at_most(path, MAX_REPLAY_BYTES, "replay"), str(path))


def read_at_most(path: str | PathLike[str], limit: int, what: str) -> bytes:
    """The bytes of file ``path``, or a :class:`FormatError` once it holds more than
    ``limit`` (never reads more: ``/dev/zero`` or a huge file is refused at once)."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FormatError(str(path), "size", f"more than {limit:,} bytes, larger than any {what}")
    return data


def encode_replay(map_bytes: bytes, inputs: np.ndarray, success: bool) -> bytes:
    """The compact-v1 bytes of a run: header (version 1, map length, input count, success
    flag), the map, one input byte per frame."""
    inputs = np.ascontiguousarray(inputs, np.uint8).reshape(-1)
    parse_map(map_bytes)                         # never write a replay of a broken map
    header = struct.pack("<IIIB", 1, len(map_bytes), len(inputs), int(bool(success)))
    return header + bytes(map_bytes) + inputs.tobytes()


def parse_replay(data: bytes, path: str | None = None) -> Replay:
    """Parse replay bytes of any supported format.

    Raises :class:`FormatError` naming ``path`` and the field for a size that does
    not match the header, an unknown version or a map the loader would reject.
    """
    data = bytes(data)
    if len(data) < V0_HEADER_LEN:
        raise FormatError(path, "header", f"file is {len(data)} bytes, too short for a header")
    first, second = struct.unpack_from("<II", data)
    if first <= V1_MAX_VERSION_FIELD:
        replay = _parse_v1(data, path, first)
    else:
        replay = _parse_v0_or_attract(data, path, first, second)
    try:
        parse_map(replay.map_bytes, path)
    except FormatError as e:
        raise FormatError(path, f"map: {e.field}", e.problem) from None
    return replay


def _parse_v1(data: bytes, path: str | None, version: int) -> Replay:
    if version != 1:
        raise FormatError(path, "version", f"unsupported compact replay version {version}")
    if len(data) < V1_HEADER_LEN:
        raise FormatError(
            path, "header", f"file is {len(data)} bytes, a v1 header needs {V1_HEADER_LEN}"
        )
    _, map_len, n_inputs, success = struct.unpack_from("<IIIB", data)
    _check_size(data, path, V1_HEADER_LEN, map_len, n_inputs, "n_inputs")
    map_end = V1_HEADER_LEN + map_len
    return Replay(data[V1_HEADER_LEN:map_end], _inputs(data, map_end), "compact-v1", success)


def _parse_v0_or_attract(data: bytes, path: str | None, map_len: int, tail_len: int) -> Replay:
    _check_size(data, path, V0_HEADER_LEN, map_len, tail_len, "n_inputs/demo_len")
    map_end = V0_HEADER_LEN + map_len
    if _is_demo_header(data, map_end, tail_len):
        level = ATTRACT_MAP_PAD + data[V0_HEADER_LEN:map_end]
        return Replay(level, _inputs(data, map_end + DEMO_HEADER_LEN), "attract", None)
    return Replay(data[V0_HEADER_LEN:map_end], _inputs(data, map_end), "compact-v0", None)


def _is_demo_header(data: bytes, start: int, demo_len: int) -> bool:
    """True when the bytes after the map form a consistent attract demo header."""
    if demo_len < DEMO_HEADER_LEN:
        return False
    repeated_len = struct.unpack_from("<I", data, start + 1)[0]
    frames = struct.unpack_from("<I", data, start + 9)[0]
    return data[start] == 0 and repeated_len == demo_len and frames == demo_len - DEMO_HEADER_LEN


def _check_size(
    data: bytes, path: str | None, header_len: int, map_len: int, tail_len: int, tail_name: str
) -> None:
    if map_len > MAX_MAP_BYTES:
        raise FormatError(path, "map_len", f"{map_len:,} bytes, more than any map "
                          f"({MAX_MAP_BYTES:,})")
    if tail_len > MAX_REPLAY_FRAMES + DEMO_HEADER_LEN:
        raise FormatError(path, tail_name, f"{tail_len:,} frames, more than a replay may hold "
                          f"({MAX_REPLAY_FRAMES:,}: an hour at 60 frames/s)")
    expected = header_len + map_len + tail_len
    if len(data) != expected:
        raise FormatError(
            path,
            "size",
            f"file is {len(data)} bytes but the header says {expected} "
            f"({header_len} header + map_len {map_len} + {tail_name} {tail_len}): "
            "size mismatch, the file is truncated or damaged",
        )


def _inputs(data: bytes, start: int) -> np.ndarray:
    inputs = np.frombuffer(data, np.uint8, offset=start).copy()
    inputs.flags.writeable = False
    return inputs


def decode_inputs(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split input bytes into horizontal (-1/0/+1, int8) and jump (0/1, uint8).

    Only the low three bits count (§10.1): bit 2 = left, bit 1 = right, bit 0 = jump,
    and left wins when both directions are held; higher bits (the game's retry key
    in attract demos) are ignored.
    """
    b = np.asarray(raw, dtype=np.uint8)
    hor = np.where(b & 4, -1, np.where(b & 2, 1, 0)).astype(np.int8)
    jump = (b & 1).astype(np.uint8)
    return hor, jump


def input_actions(inputs: np.ndarray) -> np.ndarray:
    """The action (0..5, int64) of each raw input byte: the one with the same horizontal
    direction and jump bit, decoded as :func:`decode_inputs` does (left wins over right, higher
    bits ignored). ``ACTION_TO_INPUT_BYTE[input_actions(b)]`` plays exactly like ``b``."""
    hor, jump = decode_inputs(inputs)
    return _ACTION_OF[hor.astype(np.int64) + 1, jump.astype(np.int64)]
