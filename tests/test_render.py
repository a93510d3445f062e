"""ninjarl.draw: tile rasterisation, player crops, global views, colour pictures, PNG."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import warnings
import zlib

import numpy as np
import pytest

from ninjarl.draw import (
    encode_png,
    render_global_views,
    render_grey,
    render_player_frames,
    render_rgb,
    small_shape,
    stack_static_layers,
    static_layers,
    write_png,
)
from ninjarl.draw.palette import (
    BOUNCE_BLOCK,
    DOOR_CLOSED,
    DOOR_SWITCH,
    EMPTY,
    EXIT_DOOR_CLOSED,
    EXIT_DOOR_OPEN,
    EXIT_SWITCH,
    GOLD,
    MINE_DEADLY,
    MINE_SAFE,
    MINE_TOGGLING,
    NINJA,
    PALETTE,
    PALETTE_TABLE,
    RGB_LUT,
    THWUMP,
    TRAP_SWITCH,
    WALL,
)
from ninjarl.sim import BatchSimulator, build_level, write_map
from ninjarl.sim.layout import E_ACTIVE, E_CLOSED, E_FLAG, E_STATE, E_X, E_Y, X, Y
from ninjarl.sim.level import TILE_ORTHO
from ninjarl.sim.mapfile import EntitySpec

from conftest import SCENARIOS

W, H = 1056, 600


# ---- helpers ---------------------------------------------------------------------------------

def make_level(tiles: dict | None = None, entities=(), spawn=(300, 300), name="t"):
    """A level whose playable tiles are empty except `tiles` {(i, k): id} (playable coords)."""
    grid = np.zeros((42, 23), np.uint8)
    for (i, k), tid in (tiles or {}).items():
        grid[i, k] = tid
    return build_level(write_map(grid, spawn[0], spawn[1], list(entities)), name)


def make_batch(levels, n_envs=1, env_level=None):
    env_level = np.zeros(n_envs, np.int64) if env_level is None else np.asarray(env_level)
    batch = BatchSimulator(levels, env_level)
    full, small = stack_static_layers(batch.levels)
    return batch, full, small


def player(batch, full):
    out = np.full((batch.n_envs, 84, 84, 1), 7, np.uint8)
    render_player_frames(full, batch.bank, batch.state, out)
    return out[..., 0]


def glob(batch, small):
    out = np.full((batch.n_envs, 100, 176, 1), 7, np.uint8)
    render_global_views(small, batch.bank, batch.state, out)
    return out


def place(batch, n, x, y):
    batch.state.ninja_f[n, X] = x
    batch.state.ninja_f[n, Y] = y


def expected_crop(full, x, y):
    """Reference player view (tiles + ninja only), built independently with numpy."""
    fx, fy = int(np.floor(x)), int(np.floor(y))
    pad = 200
    padded = np.full((H + 2 * pad, W + 2 * pad), WALL, np.uint8)
    padded[pad:pad + H, pad:pad + W] = full
    crop = padded[pad + fy - 42:pad + fy + 42, pad + fx - 42:pad + fx + 42].copy()
    wy = fy - 42 + np.arange(84)[:, None] + 0.5     # world centre of each crop pixel
    wx = fx - 42 + np.arange(84)[None, :] + 0.5
    crop[(wx - x) ** 2 + (wy - y) ** 2 <= 100.0] = NINJA
    return crop


def cell_pixels(full, cx, cy):
    """The 24x24 world pixels of full-grid cell (cx, cy), indexed [local y, local x]."""
    return full[24 * cy:24 * cy + 24, 24 * cx:24 * cx + 24]


# ---- palette -----------------------------------------------------------------------------------

def test_palette_greys_are_distinct_uint8_and_the_ninja_is_unique():
    greys = list(PALETTE.values())
    assert len(set(greys)) == len(greys)
    assert all(0 <= g <= 255 for g in greys)
    assert NINJA not in [g for k, g in PALETTE.items() if k != "ninja"]
    for required in ("empty", "wall", "mine_deadly", "mine_safe", "mine_toggling", "gold",
                     "exit_door_closed", "exit_door_open", "exit_switch", "door_closed",
                     "zap_drone", "mini_drone", "thwump", "shove_thwump", "death_ball", "ninja"):
        assert required in PALETTE
    # entity greys lie above the wall grey, out of reach of the part-solid small-layer blocks
    assert all(g > WALL for k, g in PALETTE.items() if k not in ("empty", "wall"))
    assert EMPTY < WALL
    assert RGB_LUT.shape == (256, 3) and RGB_LUT.dtype == np.uint8
    assert len({tuple(v[1]) for v in PALETTE_TABLE.values()}) == len(PALETTE_TABLE)


# ---- static layers -----------------------------------------------------------------------------

def test_static_layers_shapes_border_and_a_known_full_tile():
    # playable tile (10, 5) -> full cell (11, 6) -> world x 264..287, y 144..167
    level = make_level({(10, 5): 1})
    full, small = static_layers(level)
    assert full.shape == (600, 1056) and full.dtype == np.uint8
    assert small.shape == (100, 176) and small.dtype == np.uint8
    assert (full[144:168, 264:288] == WALL).all()
    assert (full[143, 264:288] == EMPTY).all() and (full[168, 264:288] == EMPTY).all()
    assert (full[144:168, 263] == EMPTY).all() and (full[144:168, 288] == EMPTY).all()
    # solid border, empty interior elsewhere
    assert (full[:24] == WALL).all() and (full[-24:] == WALL).all()
    assert (full[:, :24] == WALL).all() and (full[:, -24:] == WALL).all()
    assert set(np.unique(full)) == {EMPTY, WALL}
    assert small.max() <= WALL
    assert int((full[24:-24, 24:-24] == WALL).sum()) == 24 * 24
    # small: the tile covers rows 144//6..167//6 = 24..27 and columns 264//6..287//6 = 44..47
    assert (small[24:28, 44:48] == WALL).all()
    assert (small[23, 44:48] == EMPTY).all() and (small[28, 44:48] == EMPTY).all()
    assert (small[24:28, 43] == EMPTY).all() and (small[24:28, 48] == EMPTY).all()
    for y in range(144, 168, 5):
        for x in range(264, 288, 5):
            assert small[y // 6, x // 6] == WALL
    # small is the rounded mean of 6x6 blocks
    ref = np.floor(full.reshape(100, 6, 176, 6).mean(axis=(1, 3)) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(small, ref)


def test_static_layers_accepts_a_raw_tile_grid_and_is_fast():
    level = make_level({(3, 3): 6, (4, 3): 12})
    full, small = static_layers(level)
    full2, small2 = static_layers(level.tiles)
    np.testing.assert_array_equal(full, full2)
    np.testing.assert_array_equal(small, small2)
    t = time.perf_counter()
    for _ in range(10):
        static_layers(level)
    assert (time.perf_counter() - t) / 10 < 0.05      # a few ms; generous for slow CI


def _local_centres():
    c = np.arange(24) + 0.5
    return np.meshgrid(c, c, indexing="ij")          # ly, lx


@pytest.mark.parametrize("tid, solid", [
    (2, lambda lx, ly: ly < 12),                                   # top half
    (3, lambda lx, ly: lx > 12),                                   # right half
    (4, lambda lx, ly: ly > 12),                                   # bottom half
    (5, lambda lx, ly: lx < 12),                                   # left half
    (6, lambda lx, ly: lx + ly < 24),                              # 45°, solid top-left
    (7, lambda lx, ly: ly < lx),                                   # 45°, solid top-right
    (8, lambda lx, ly: lx + ly > 24),                              # 45°, solid bottom-right
    (9, lambda lx, ly: ly > lx),                                   # 45°, solid bottom-left
    (18, lambda lx, ly: ly < 12 - lx / 2),                         # mild: (0,12)->(24,0)
    (22, lambda lx, ly: ly < 24 - lx / 2),                         # mild raised: (0,24)->(24,12)
    (26, lambda lx, ly: lx < 12 - ly / 2),                         # steep: (0,24)->(12,0)
    (31, lambda lx, ly: lx > ly / 2),                              # steep raised: (0,0)->(12,24)
    (10, lambda lx, ly: lx ** 2 + ly ** 2 < 576),                  # convex, centre (0,0)
    (12, lambda lx, ly: (lx - 24) ** 2 + (ly - 24) ** 2 < 576),    # convex, centre (24,24)
    (14, lambda lx, ly: (lx - 24) ** 2 + (ly - 24) ** 2 > 576),    # concave, centre (24,24)
    (17, lambda lx, ly: (lx - 24) ** 2 + ly ** 2 > 576),           # concave, centre (24,0)
    (34, lambda lx, ly: ly < 2),                                   # glitch: top edge only
    (35, lambda lx, ly: lx > 22),                                  # glitch: right edge only
    (36, lambda lx, ly: ly > 22),
    (37, lambda lx, ly: lx < 2),
    (38, lambda lx, ly: lx < -1),                                  # >= 38: empty
    (200, lambda lx, ly: lx < -1),
])
def test_tile_shapes_at_pixel_centres(tid, solid):
    level = make_level({(9, 4): tid})               # full cell (10, 5)
    full, _ = static_layers(level)
    ly, lx = _local_centres()
    got = cell_pixels(full, 10, 5) == WALL
    np.testing.assert_array_equal(got, solid(lx, ly))


def test_drawn_tiles_and_the_nav_solids_share_one_mask():
    """Both draw the solid pixels of sim.level.tile_solid_masks (glitch edges are drawing only)."""
    from ninjarl.nav.analysis import _solid_raster
    from ninjarl.sim.level import tile_solid_masks

    tiles = np.random.default_rng(3).integers(0, 40, (44, 25)).astype(np.uint8)
    tiles[(tiles >= 34) & (tiles <= 37)] = 0
    full, _ = static_layers(tiles)
    np.testing.assert_array_equal(full == WALL, _solid_raster(tiles).T)
    masks = tile_solid_masks()
    assert masks.shape == (256, 24, 24) and not masks.flags.writeable
    assert not masks[34:38].any() and not masks[38:].any()


def test_draw_imports_nothing_above_the_simulator():
    code = ("import sys, ninjarl.draw; print(sorted(m for m in sys.modules if m.startswith("
            "('ninjarl.env', 'ninjarl.levels', 'ninjarl.nav', 'ninjarl.models', 'ninjarl.train', "
            "'ninjarl.eval'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_solid_side_of_every_orthogonal_half_edge_of_the_spec_table():
    """Cross-check against spec §3.2's literal half-edge lists: the pixel just behind the
    middle of every half-edge (on the side opposite its normal) is solid."""
    level = make_level({(i, 0): tid for i, tid in enumerate(range(1, 38))})  # cells (i+1, 1)
    full, _ = static_layers(level)
    checked = 0
    for tid in range(1, 38):
        cell = cell_pixels(full, tid, 1)
        for k, v in enumerate(TILE_ORTHO[tid]):
            if v == 0:
                continue
            if k < 6:                          # horizontal: y = 12 * row, x 12 col .. +12
                row, col = divmod(k, 2)
                py, px = 12 * row + (0 if v < 0 else -1), 12 * col + 6
            else:                              # vertical: x = 12 * col, y 12 row .. +12
                col, row = divmod(k - 6, 2)
                py, px = 12 * row + 6, 12 * col + (0 if v < 0 else -1)
            assert cell[py, px] == WALL, (tid, k)
            checked += 1
    assert checked > 100


def test_slope_and_arc_spot_checks_in_world_coordinates():
    # tile 6 at full cell (11, 6): diagonal from world (264, 168) to (288, 144)
    # convex 10 at full cell (13, 6): solid inside r=24 around world (312, 144)
    # concave 14 at full cell (15, 6): solid outside r=24 around world (384, 168)
    level = make_level({(10, 5): 6, (12, 5): 10, (14, 5): 14})
    full, small = static_layers(level)
    assert full[144, 264] == WALL and full[166, 286] == EMPTY      # corners of the 45° tile
    assert full[155, 275] == WALL and full[157, 277] == EMPTY      # either side of the diagonal
    assert full[145, 313] == WALL and full[166, 334] == EMPTY      # convex: near / far corner
    assert full[160, 328] == WALL and full[160, 329] == EMPTY      # 16.5²+16.5² < 576 < 17.5²+16.5²
    assert full[144, 360] == WALL and full[166, 382] == EMPTY      # concave: far / near corner
    # small view: the 45° tile's top-left 6x6 block is fully solid, the bottom-right one empty;
    # the blocks on the diagonal are part-filled (mean)
    assert small[24, 44] == WALL and small[27, 47] == EMPTY
    assert EMPTY < small[24, 47] < WALL


def test_every_bundled_scenario_rasterises():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(SCENARIOS.glob("*.map")):
            full, small = static_layers(build_level(path.read_bytes(), path.name))
            assert full.shape == (600, 1056) and small.shape == (100, 176)
            assert (full[:24] == WALL).all() and (small[:4] == WALL).all()


# ---- player view -------------------------------------------------------------------------------

BORDER_XS = (0.0, 0.3, 4.5, 9.99, 10.0, 17.2, 300.7, 528.0, 1040.1, 1046.0, 1050.5, 1055.99)
BORDER_YS = (0.0, 0.4, 5.5, 9.9, 12.25, 300.5, 584.0, 590.0, 594.7, 599.99)


def test_ninja_centre_pixel_everywhere_including_near_every_border():
    level = make_level({(20, 10): 1, (5, 3): 7, (35, 20): 14})
    pos = [(x, y) for x in BORDER_XS for y in BORDER_YS]
    batch, full, _ = make_batch([level], n_envs=len(pos))
    for n, (x, y) in enumerate(pos):
        place(batch, n, x, y)
    out = player(batch, full)
    assert out.shape == (len(pos), 84, 84)
    for n, (x, y) in enumerate(pos):
        assert out[n, 42, 42] == NINJA, (x, y)
        # the whole crop equals an independent numpy reference (tiles, wall outside, ninja)
        np.testing.assert_array_equal(out[n], expected_crop(full[0], x, y), err_msg=f"{(x, y)}")


def test_pixels_outside_the_world_are_wall():
    level = make_level()
    batch, full, _ = make_batch([level], n_envs=4)
    corners = [(3.0, 3.0), (1052.0, 3.0), (3.0, 596.0), (1052.0, 596.0)]
    for n, (x, y) in enumerate(corners):
        place(batch, n, x, y)
    out = player(batch, full)
    for n, (x, y) in enumerate(corners):
        wx = x - 42 + np.arange(84)[None, :]          # world pixel of each crop pixel
        wy = y - 42 + np.arange(84)[:, None]
        outside = (wx < 0) | (wx >= W) | (wy < 0) | (wy >= H)
        far = (wx + 0.5 - x) ** 2 + (wy + 0.5 - y) ** 2 > 100.0   # not under the ninja
        assert outside.sum() > 84 * 30
        assert (out[n][outside & far] == WALL).all()
        assert (out[n][outside & ~far] == NINJA).all()    # the ninja is drawn over the wall
    # ninja at (3, 3): crop columns 0..31 show world x -39..-8, away from the ninja's disc
    assert (out[0, :, :32] == WALL).all() and (out[0, :32, :] == WALL).all()


def test_player_view_does_not_swap_x_and_y():
    # Asymmetric scene, ninja at (306, 270) (x != y): a wall tile to the right of the ninja
    # (full cell (14, 11): world x 336..359, y 264..287) and a mine below it at (306, 306).
    level = make_level({(13, 10): 1}, entities=[EntitySpec(1, 306, 306, 0, 0)], spawn=(306, 270))
    batch, full, small = make_batch([level])
    place(batch, 0, 306.0, 270.0)
    out = player(batch, full)[0]

    def px(x, y):       # world pixel -> (row, col) of the crop
        return y - 270 + 42, x - 306 + 42

    assert px(336, 264) == (36, 72)
    assert (out[36:60, 72:84] == WALL).all()            # the tile: right of the ninja
    assert (out[36:60, 71] == EMPTY).all() and (out[35, 72:84] == EMPTY).all()
    assert (out[72:84, 36:60] != WALL).all()            # its transpose: nothing there
    assert out[px(306, 306)] == MINE_DEADLY == out[78, 42]   # the mine: below the ninja
    assert out[42, 78] == WALL                          # transposed mine position: the tile
    assert (out == MINE_DEADLY).sum() == (out[70:87, 34:51] == MINE_DEADLY).sum()
    g = glob(batch, small)[0, :, :, 0]
    assert g[306 // 6, 306 // 6] == MINE_DEADLY and g[270 // 6, 306 // 6] == NINJA
    assert g[270 // 6, 340 // 6] == WALL and g[340 // 6, 270 // 6] == EMPTY


def test_a_mine_in_every_state_at_its_pixels_in_both_views():
    mine = EntitySpec(1, 300, 300, 0, 0)
    level = make_level(entities=[mine], spawn=(360, 300))
    batch, full, small = make_batch([level], n_envs=3)
    for n in range(3):
        place(batch, n, 330.0, 300.0)
        batch.state.ent_i[n, 0, E_STATE] = n          # 0 deadly, 1 safe, 2 toggling
    out = player(batch, full)
    g = glob(batch, small)[..., 0]
    for n, (grey, rad) in enumerate(((MINE_DEADLY, 4.0), (MINE_SAFE, 3.5), (MINE_TOGGLING, 4.5))):
        # world x = c + 330 - 42, y = r + 300 - 42: the mine centre (300, 300) is out[42, 12]
        wy = 300 - 42 + np.arange(84)[:, None] + 0.5
        wx = 330 - 42 + np.arange(84)[None, :] + 0.5
        disc = ((wx - 300) ** 2 + (wy - 300) ** 2 <= rad * rad) & (wx < 315)
        assert (out[n][disc] == grey).all()
        assert int((out[n] == grey).sum()) == int(disc.sum())
        assert out[n, 42, 12] == grey
        # global view: at least its centre pixel (300 // 6, 300 // 6)
        assert g[n, 50, 50] == grey


def test_inactive_closed_open_and_taken_entities():
    ents = [
        EntitySpec(2, 420, 300, 0, 0),                          # gold
        EntitySpec(3, 600, 300, 0, 0), EntitySpec(4, 480, 300, 0, 0),   # exit door + switch
        EntitySpec(6, 720, 300, 0, 0, 780, 300),                # locked door (vertical) + switch
        EntitySpec(8, 852, 288, 2, 0, 900, 300),                # trap door (horizontal) + switch
        EntitySpec(20, 960, 300, 0, 0),                         # thwump
        EntitySpec(17, 960, 420, 0, 0),                         # bounce block
    ]
    level = make_level(entities=ents, spawn=(120, 480))
    batch, full, small = make_batch([level], n_envs=2)
    st = batch.state
    # env 1: gold taken, exit switch hit (door open), locked door opened, trap door closed
    st.ent_i[1, 0, E_ACTIVE] = 0
    st.ent_i[1, 2, E_ACTIVE] = 0
    st.ent_i[1, 1, E_FLAG] = 1
    st.ent_i[1, 3, E_ACTIVE] = 0
    st.ent_i[1, 3, E_CLOSED] = 0
    st.ent_i[1, 4, E_ACTIVE] = 0
    st.ent_i[1, 4, E_CLOSED] = 1
    pic = [render_grey(level, batch.bank, st, n) for n in range(2)]
    g = glob(batch, small)[..., 0]
    # env 0: everything in its initial state
    assert pic[0][300, 420] == GOLD and g[0, 50, 70] == GOLD
    assert pic[0][300, 600] == EXIT_DOOR_CLOSED and pic[0][300, 611] == EXIT_DOOR_CLOSED
    assert pic[0][300, 480] == EXIT_SWITCH and g[0, 50, 80] == EXIT_SWITCH
    assert (pic[0][290:310, 719:721] == DOOR_CLOSED).all()       # vertical x = 720, y 288..312
    assert pic[0][300, 716] == EMPTY and pic[0][300, 724] == EMPTY
    assert pic[0][300, 780] == DOOR_SWITCH
    assert pic[0][288, 852] == EMPTY and pic[0][300, 900] == TRAP_SWITCH   # trap: starts open
    assert pic[0][300, 960] == THWUMP and pic[0][291, 951] == THWUMP and pic[0][289, 960] != THWUMP
    assert pic[0][420, 960] == BOUNCE_BLOCK
    # env 1: taken / open / triggered
    assert pic[1][300, 420] == EMPTY and g[1, 50, 70] == EMPTY
    assert pic[1][300, 480] == EMPTY and g[1, 50, 80] == EMPTY
    assert pic[1][300, 600] == EXIT_DOOR_OPEN and g[1, 50, 100] == EXIT_DOOR_OPEN
    assert (pic[1][280:320, 715:726] == EMPTY).all() and pic[1][300, 780] == EMPTY
    assert (pic[1][287:289, 842:862] == DOOR_CLOSED).all() and pic[1][300, 900] == EMPTY
    assert g[1, 48, 142] == DOOR_CLOSED                          # y 288 -> row 48, x 852 -> 142


def test_global_view_shape_tiles_and_ninja_at_one_sixth_scale():
    level = make_level({(10, 5): 1, (30, 15): 1})
    level2 = make_level({(2, 2): 1})
    batch, full, small = make_batch([level, level2], n_envs=3, env_level=[0, 1, 0])
    place(batch, 0, 100.0, 500.0)
    place(batch, 1, 700.0, 40.0)
    place(batch, 2, 1040.5, 590.2)
    out = glob(batch, small)
    assert out.shape == (3, 100, 176, 1) and out.dtype == np.uint8
    g = out[..., 0]
    for x in range(264, 288, 3):
        for y in range(144, 168, 3):
            assert g[0, y // 6, x // 6] == WALL
            assert g[1, y // 6, x // 6] == EMPTY       # env 1 plays the other level
    assert g[0, 400 // 6, 750 // 6] == WALL            # tile (30, 15) -> world x 744.., y 384..
    assert g[1, 80 // 6, 80 // 6] == WALL              # level2's tile (2, 2) -> x 72..95
    for n, (x, y) in enumerate([(100.0, 500.0), (700.0, 40.0), (1040.5, 590.2)]):
        assert g[n, int(y) // 6, int(x) // 6] == NINJA
        assert int((g[n] == NINJA).sum()) <= 16        # radius 10 px ~ 3x3 small pixels
    # away from the ninja and entities the global view is the static small layer
    mask = np.ones((100, 176), bool)
    mask[500 // 6 - 3:500 // 6 + 4, 100 // 6 - 3:100 // 6 + 4] = False
    np.testing.assert_array_equal(g[0][mask], small[0][mask])


def test_global_view_at_one_twelfth_scale_is_the_block_mean_with_entities_and_ninja_on_top():
    # a full tile, a 45-degree slope, a mine and the ninja; every other pixel must be the
    # rounded mean of its 12x12 block of the full picture, computed here with plain numpy
    mine = EntitySpec(1, 600, 204, 0, 0)
    level = make_level({(10, 5): 1, (12, 5): 6}, entities=[mine], spawn=(360, 300))
    full, small = static_layers(level, small_scale=12)
    assert small_shape(12) == (50, 88) and small.shape == (50, 88)
    blocks = full.astype(np.int64).reshape(50, 12, 88, 12).sum(axis=(1, 3))
    np.testing.assert_array_equal(small, (blocks + 72) // 144)
    assert (small[12:14, 22:24] == WALL).all()            # tile (10, 5): world x 264.., y 144..
    assert small[12, 26] == WALL and small[13, 27] == EMPTY   # the slope at world x 312..
    assert EMPTY < small[12, 27] < WALL                   # a block on its diagonal
    batch = BatchSimulator([level], np.zeros(1, np.int64))
    place(batch, 0, 100.0, 500.0)
    out = np.full((1, 50, 88, 1), 7, np.uint8)
    render_global_views(small[None], batch.bank, batch.state, out)
    g = out[0, :, :, 0]
    assert g[500 // 12, 100 // 12] == NINJA
    assert g[204 // 12, 600 // 12] == MINE_DEADLY
    drawn = np.zeros((50, 88), bool)
    drawn[500 // 12 - 1:500 // 12 + 2, 100 // 12 - 1:100 // 12 + 2] = True
    drawn[204 // 12 - 1:204 // 12 + 2, 600 // 12 - 1:600 // 12 + 2] = True
    np.testing.assert_array_equal(g[~drawn], small[~drawn])
    with pytest.raises(ValueError, match="must divide the 24-px cell, got 5"):
        static_layers(level, small_scale=5)


def test_every_entity_type_is_visible_in_the_global_view():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        levels = [build_level(p.read_bytes(), p.name) for p in sorted(SCENARIOS.glob("*.map"))]
    batch, full, small = make_batch(levels, n_envs=len(levels), env_level=np.arange(len(levels)))
    g = glob(batch, small)[..., 0]
    p = player(batch, full)
    st = batch.state
    seen = set()
    for n, lv in enumerate(levels):
        assert p[n, 42, 42] == NINJA
        for e in range(lv.n_entities):
            t = int(lv.ent_si[e, 0])
            x, y = st.ent_f[n, e, E_X], st.ent_f[n, e, E_Y]
            if st.ent_i[n, e, E_ACTIVE] == 0 or t in (5, 6, 8, 11):
                continue
            if not (0 <= x < W and 0 <= y < H):
                continue
            # drawn over the tile layer unless a later entity or the ninja covers it
            v = g[n, int(y // 6), int(x // 6)]
            assert v not in (EMPTY, WALL) or small[n, int(y // 6), int(x // 6)] not in (EMPTY, WALL)
            seen.add(t)
    assert {1, 2, 3, 4, 10, 14, 17, 20, 21, 24, 25, 26, 28} <= seen


def test_views_follow_simulated_motion():
    path = SCENARIOS / "random_official_005_toggley_tutor.map"
    level = build_level(path.read_bytes(), path.name)
    batch, full, small = make_batch([level], n_envs=8)
    rng = np.random.default_rng(1)
    for _ in range(10):
        batch.run(np.repeat(rng.integers(0, 8, (8, 4)), 6, axis=1).astype(np.uint8))
        out = player(batch, full)
        g = glob(batch, small)[..., 0]
        for n in range(8):
            x, y = batch.state.ninja_f[n, X], batch.state.ninja_f[n, Y]
            assert out[n, 42, 42] == NINJA
            assert g[n, int(y // 6), int(x // 6)] == NINJA


def test_render_rgb_matches_the_grey_picture():
    level = make_level({(10, 5): 1}, entities=[EntitySpec(1, 300, 300, 0, 0)], spawn=(120, 120))
    batch, full, _ = make_batch([level])
    rgb = render_rgb(level, batch.bank, batch.state, 0)
    grey = render_grey(level, batch.bank, batch.state, 0)
    assert rgb.shape == (600, 1056, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, RGB_LUT[grey])
    assert grey[120, 120] == NINJA and grey[300, 300] == MINE_DEADLY and grey[150, 270] == WALL
    # the full-level picture agrees with the player crop around the ninja
    crop = player(batch, full)[0]
    np.testing.assert_array_equal(crop, grey[120 - 42:120 + 42, 120 - 42:120 + 42])
    np.testing.assert_array_equal(render_rgb(level, batch.bank, batch.state, 0, full[0]), rgb)


# ---- PNG ---------------------------------------------------------------------------------------

def decode_png(data: bytes) -> np.ndarray:
    """Minimal decoder for the files write_png makes (8-bit, filter 0), verifying every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, idat, ihdr = 8, b"", None
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        i += 12 + length
    w, h, depth, colour, _, _, _ = ihdr
    assert depth == 8
    ch = {0: 1, 2: 3, 6: 4}[colour]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * ch)
    assert (raw[:, 0] == 0).all()
    img = raw[:, 1:].reshape(h, w, ch)
    return img[:, :, 0] if ch == 1 else img


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 1), (3, 9, 3), (4, 4, 4), (600, 1056, 3)])
def test_write_png_round_trips(tmp_path, shape):
    img = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    path = tmp_path / "a.png"
    write_png(path, img)
    back = decode_png(path.read_bytes())
    np.testing.assert_array_equal(back, img[..., 0] if shape[-1:] == (1,) else img)
    assert os.listdir(tmp_path) == ["a.png"]              # no temporary left behind


def test_write_png_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "frame.png"
    write_png(path, np.zeros((2, 2), np.uint8))
    before = path.read_bytes()
    seen = []

    def failing_replace(src, dst):
        seen.append((os.path.dirname(src), os.path.exists(src)))
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_png(path, np.full((3, 3), 255, np.uint8))
    assert seen == [(str(tmp_path), True)]                # temp file in the same directory
    assert path.read_bytes() == before                    # old file untouched
    assert os.listdir(tmp_path) == ["frame.png"]          # temp file cleaned up


def test_encode_png_rejects_bad_images():
    for bad in (np.zeros((2, 2), np.float32), np.zeros((2, 2, 2), np.uint8),
                np.zeros((0, 3), np.uint8), np.zeros(5, np.uint8)):
        with pytest.raises(ValueError):
            encode_png(bad)


# ---- speed -------------------------------------------------------------------------------------

@pytest.mark.bench
def test_render_speed_256_envs():
    from ninjarl.sim.mapfile import bundled_map_path
    for name in ("bench/mine_heavy", "official/000_the_basics"):
        level = build_level(bundled_map_path(name).read_bytes(), name)
        batch, full, small = make_batch([level], n_envs=256)
        rng = np.random.default_rng(0)
        batch.run(np.repeat(rng.integers(0, 8, (256, 10)), 20, axis=1).astype(np.uint8))
        p = np.empty((256, 84, 84, 1), np.uint8)
        g = np.empty((256, 100, 176, 1), np.uint8)
        res = []
        for fn, src, out in ((render_player_frames, full, p), (render_global_views, small, g)):
            fn(src, batch.bank, batch.state, out)
            ts = []
            for _ in range(30):
                t = time.perf_counter()
                fn(src, batch.bank, batch.state, out)
                ts.append(time.perf_counter() - t)
            res.append(np.median(ts) / 256 * 1e6)
        print(f"{name}: player {res[0]:.2f} us/env, global {res[1]:.2f} us/env")
        assert sum(res) < 12.0


# ---- call forms and argument checks ------------------------------------------------------------

def test_ids_form_renders_only_the_given_envs_into_their_own_rows():
    level = make_level({(10, 5): 1}, entities=[EntitySpec(1, 300, 300, 0, 0)])
    batch, full, small = make_batch([level], n_envs=4)
    for n in range(4):
        place(batch, n, 100.0 + 150 * n, 150.0 + 50 * n)
    all_p, all_g = player(batch, full), glob(batch, small)[..., 0]
    p = np.full((4, 84, 84, 1), 7, np.uint8)
    g = np.full((4, 100, 176, 1), 7, np.uint8)
    ids = np.array([2, 0])
    render_player_frames(full, batch.bank, batch.state, ids, p)
    render_global_views(small, batch.bank, batch.state, ids, g)
    for n in range(4):
        if n in ids:
            np.testing.assert_array_equal(p[n, ..., 0], all_p[n])
            np.testing.assert_array_equal(g[n, ..., 0], all_g[n])
        else:
            assert (p[n] == 7).all() and (g[n] == 7).all()


def test_bad_arguments_are_rejected_before_the_unchecked_kernels_run():
    level = make_level()
    batch, full, small = make_batch([level, level], n_envs=3, env_level=[0, 1, 0])
    bank, st = batch.bank, batch.state
    good_p = np.zeros((3, 84, 84, 1), np.uint8)
    good_g = np.zeros((3, 100, 176, 1), np.uint8)
    bad_calls = [
        (render_player_frames, full[:1], (good_p,)),                       # too few levels
        (render_player_frames, full.astype(np.int16), (good_p,)),          # dtype
        (render_player_frames, full, (np.zeros((3, 84, 84), np.uint8),)),  # no channel axis
        (render_player_frames, full, (np.zeros((2, 84, 84, 1), np.uint8),)),   # rows != envs
        (render_player_frames, full, (np.zeros((3, 84, 84, 1), np.float32),)),
        (render_player_frames, full, (np.array([3]), good_p)),             # id out of range
        (render_player_frames, full, (np.array([-1]), good_p)),
        (render_player_frames, full, (np.zeros((3, 84, 84, 2), np.uint8)[..., :1],)),  # strided
        (render_global_views, small, (np.zeros((3, 100, 175, 1), np.uint8),)),
        (render_global_views, full, (good_g,)),                            # full for small
    ]
    for fn, static, args in bad_calls:
        with pytest.raises(ValueError):
            fn(static, bank, st, *args)
    with pytest.raises(TypeError):
        render_player_frames(full, bank, st)
    with pytest.raises(IndexError):
        render_grey(level, bank, st, 3)
    render_player_frames(full, bank, st, good_p)       # the good ones pass
    render_global_views(small, bank, st, np.array([], np.int64), good_g)
