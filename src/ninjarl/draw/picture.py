"""Pictures for people: the colour picture of an environment, of a level at its start, and
contact sheets of level thumbnails."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ninjarl.sim import BatchSimulator, build_level
from ninjarl.sim._jit import jit

from .palette import RGB_LUT
from .raster import render_grey

GAP = 6
BACKGROUND = (235, 235, 235)


@jit
def _colour(grey: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:
    for y in range(grey.shape[0]):
        for x in range(grey.shape[1]):
            g = grey[y, x]
            out[y, x, 0] = lut[g, 0]
            out[y, x, 1] = lut[g, 1]
            out[y, x, 2] = lut[g, 2]


def render_rgb(level, bank, st, n: int, static_full: np.ndarray | None = None) -> np.ndarray:
    """Colour picture of env n, uint8 [600, 1056, 3] (for ``render_mode="rgb_array"``)."""
    grey = render_grey(level, bank, st, n, static_full)
    # a compiled loop: the same lookup as RGB_LUT[grey], ~4x faster than np.take and ~20x than
    # fancy indexing (videos colour every frame of an episode)
    out = np.empty(grey.shape + (3,), np.uint8)
    _colour(grey, RGB_LUT, out)
    return out


def level_image(map_bytes: bytes, name: str = "level") -> np.ndarray:
    """Colour picture (uint8 [600, 1056, 3]) of a level at its start state."""
    level = build_level(map_bytes, name=name)
    sim = BatchSimulator([level], np.zeros(1, np.int64))
    return render_rgb(level, sim.bank, sim.state, 0)


def thumbnail(image: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean downscale of an [H, W, 3] image by an integer factor."""
    h, w = image.shape[0] // factor, image.shape[1] // factor
    a = image[:h * factor, :w * factor].reshape(h, factor, w, factor, -1).astype(np.float32)
    return np.round(a.mean(axis=(1, 3))).astype(np.uint8)


def contact_sheet(rows: Sequence[Sequence[bytes]], factor: int = 4) -> np.ndarray:
    """A grid image: one row per sequence of map bytes (e.g. per category), thumbnails 1/factor."""
    th, tw = 600 // factor, 1056 // factor
    ncol = max((len(r) for r in rows), default=0)
    out = np.empty((GAP + len(rows) * (th + GAP), GAP + ncol * (tw + GAP), 3), np.uint8)
    out[:] = BACKGROUND
    for i, row in enumerate(rows):
        for j, data in enumerate(row):
            y, x = GAP + i * (th + GAP), GAP + j * (tw + GAP)
            out[y:y + th, x:x + tw] = thumbnail(level_image(data), factor)
    return out


__all__ = ["contact_sheet", "level_image", "render_rgb", "thumbnail"]
