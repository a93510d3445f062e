"""A small PNG writer: grey, RGB or RGBA uint8 images (row filter None, zlib level 6)."""
from __future__ import annotations

import struct
import zlib

import numpy as np

from ninjarl.atomic import write_bytes


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image: [H, W] or [H, W, 1] grey, [H, W, 3] RGB or [H, W, 4] RGBA."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"image must be [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], got {a.shape}")
    h, w, ch = a.shape
    colour_type = {1: 0, 3: 2, 4: 6}[ch]
    rows = np.zeros((h, 1 + w * ch), np.uint8)     # filter byte 0 (None) per row
    rows[:, 1:] = a.reshape(h, w * ch)
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _png_chunk(b"IEND", b""))


def write_png(path, image: np.ndarray) -> None:
    """Write `image` (see :func:`encode_png`) as a PNG file, atomically: the bytes go to a
    temporary file in the same directory, which then replaces `path`."""
    write_bytes(path, encode_png(image))


__all__ = ["encode_png", "write_png"]
