"""ninjarl.draw — observation rasters, pictures for people and PNG files.

* :mod:`.palette` — the grey level of everything drawn, and its colour for people.
* :mod:`.raster` — observation rasters: static tile layers, the compiled player-view and
  global-view kernels, the full grey picture of one env.
* :mod:`.picture` — colour pictures for people: an env, a level at its start, contact sheets.
* :mod:`.png` — a small atomic PNG writer.

Depends only on :mod:`ninjarl.sim` and :mod:`ninjarl.atomic`; :mod:`ninjarl.env` draws its
image observations with it.
"""
from .palette import PALETTE, PALETTE_TABLE, RGB_LUT
from .picture import contact_sheet, level_image, render_rgb, thumbnail
from .png import encode_png, write_png
from .raster import (
    global_views_kernel,
    player_frames_kernel,
    render_global_views,
    render_grey,
    render_player_frames,
    small_shape,
    stack_static_layers,
    static_layers,
)

__all__ = ["PALETTE", "PALETTE_TABLE", "RGB_LUT", "contact_sheet", "encode_png",
           "global_views_kernel", "level_image", "player_frames_kernel", "render_global_views",
           "render_grey", "render_player_frames", "render_rgb", "small_shape", "stack_static_layers",
           "static_layers", "thumbnail", "write_png"]
