"""Array layout of the batched simulator.

All simulation state lives in a few numpy arrays so that compiled (numba) loops can advance many
environments without touching Python objects. Two bundles are passed around:

* :class:`Bank` — static, read-only data of one or more levels (segments, grid edges, entity
  spawn data). Levels are concatenated; an environment refers to its level by index.
* :class:`State` — the mutable state of ``N`` environments (ninja, entities, door-dependent grid
  edges).

Each 2-D/3-D array uses the integer column names defined below (``X``, ``E_STATE``, ...). The
names follow the spec (``nsim.md``); the comments give the spec variable each column holds.
"""
from collections import namedtuple

from ._jit import jit
from .constants import GRAVITY_FALL, ST_CELEBRATING, ST_DEAD, ST_DISABLED, ST_DYING, ST_JUMPING

# ---- Bank: segments ------------------------------------------------------------------------
# seg_f[s, :] — linear: x1, y1, x2, y2, px, py, lensq; arc: cx, cy, hor, ver
SG_X1, SG_Y1, SG_X2, SG_Y2, SG_PX, SG_PY, SG_LENSQ = 0, 1, 2, 3, 4, 5, 6
SG_CX, SG_CY, SG_HOR, SG_VER = 0, 1, 2, 3
SEG_F_COLS = 7
# seg_i[s, :] — kind (0 linear, 1 arc), flag (linear: oriented, arc: convex), door entity or -1
SG_KIND, SG_FLAG, SG_DOOR = 0, 1, 2
SEG_I_COLS = 3
SEG_LINEAR, SEG_ARC = 0, 1
# cell_seg[level, cx, cy, :] — start and count of the cell's segments in seg_f/seg_i
CS_START, CS_COUNT = 0, 1

# ---- Bank: entities (per level, in creation order) -----------------------------------------
# ent_si[level, e, :]
ES_TYPE = 0        # entity type (4 for an exit switch)
ES_ORIENT = 1      # orientation byte 0..7
ES_MODE = 2        # mode byte (drones)
ES_DOOR_SEG = 3    # global segment index of a door's segment, -1 otherwise
ES_EDGE_VERT = 4   # door grid edges: 1 = ver_edge keys (EX, EY), (EX, EY+1); 0 = hor_edge (EX, EY), (EX+1, EY)
ES_EDGE_X = 5
ES_EDGE_Y = 6
ES_DOOR_OF = 7     # exit switch: entity index of its exit door; -1 otherwise
ES_BALL_POS = 8    # death ball: position in the level's death-ball list (its `index`)
ENT_SI_COLS = 9
# ent_sf[level, e, :]
ESF_X0, ESF_Y0 = 0, 1          # position right after construction (door switch position for 5/6/8)
ENT_SF_COLS = 2

# ---- State: ninja ----------------------------------------------------------------------------
# ninja_f[n, :]
X, Y, VX, VY = 0, 1, 2, 3                   # xpos, ypos, xspeed, yspeed
X_OLD, Y_OLD, VX_OLD, VY_OLD = 4, 5, 6, 7   # xpos_old, ypos_old, xspeed_old, yspeed_old
GRAVITY, DRAG = 8, 9                         # applied_gravity, applied_drag
FLOOR_NX, FLOOR_NY, CEIL_NX, CEIL_NY = 10, 11, 12, 13   # floor/ceiling_normalized_x/y
FLOOR_SUM_X, FLOOR_SUM_Y, CEIL_SUM_X, CEIL_SUM_Y = 14, 15, 16, 17
WALL_NORMAL = 18
X_CRUSH, Y_CRUSH, CRUSH_LEN = 19, 20, 21
XLP, YLP = 22, 23                            # x/ylp_boost_normalized
NINJA_F_COLS = 24
# ninja_i[n, :]
STATE, AIRBORN, AIRBORN_OLD, WALLED = 0, 1, 2, 3
HOR_INPUT, JUMP_INPUT, JUMP_INPUT_OLD, JUMP_DURATION = 4, 5, 6, 7
JUMP_BUFFER, FLOOR_BUFFER, WALL_BUFFER, LP_BUFFER = 8, 9, 10, 11
FLOOR_COUNT, CEIL_COUNT, CRUSHABLE = 12, 13, 14
GOLD, DOORS_OPENED = 15, 16
DEATH_CAUSE = 17         # what killed the ninja (constants.DEATH_CAUSES), 0 while alive
NINJA_I_COLS = 18

# ---- State: entities ---------------------------------------------------------------------------
# ent_f[n, e, :]
E_X, E_Y, E_VX, E_VY = 0, 1, 2, 3
E_TX, E_TY = 4, 5          # drone target
E_XDIR, E_YDIR = 6, 7      # shove thwump direction
ENT_F_COLS = 8
# ent_i[n, e, :]
E_ACTIVE = 0
E_STATE = 1      # mines: 0 deadly/1 safe/2 toggling; thwumps 0/1/-1; shove thwumps 0..3
E_CELL_X, E_CELL_Y = 2, 3   # cell in the entity grid (-1 = not registered: exit door before its switch)
E_SEQ = 4        # append order inside its grid cell (lower = earlier in the cell's list)
E_DIR = 5        # drone direction 0 right, 1 down, 2 left, 3 up
E_TIMER = 6      # regular door open_timer
E_FLAG = 7       # exit door switch_hit / boost pad touching / shove thwump activated
E_CLOSED = 8     # doors: 1 closed (segment active)
ENT_I_COLS = 9

# ---- State: per environment -------------------------------------------------------------------
# env_i[n, :]
V_LEVEL = 0      # index of the level in the bank
V_FRAME = 1      # frames simulated since the last reset
V_SEQ = 2        # next grid append number
V_EPISODES = 3   # finished episodes (auto-reset counter)
ENV_I_COLS = 4

Bank = namedtuple("Bank", [
    "seg_f", "seg_i", "cell_seg",              # segments and their per-cell index
    "hor_edge0", "ver_edge0",                  # grid edges at load, doors included [L, 89, 51]
    "n_ent", "ent_si", "ent_sf",               # entities in creation order
    "move_list", "n_move", "think_list", "n_think",   # entity_dic order, filtered
    "collide_list", "n_collide",               # entities the ninja can touch (creation order)
    "ball_list", "n_balls", "ball_count_byte",  # death balls in entity_dic order; map byte 1200
    "spawn",                                   # [L, 2] spawn x, y
])

State = namedtuple("State", [
    "env_i", "ninja_f", "ninja_i", "ent_f", "ent_i", "hor_edge", "ver_edge",
])


@jit
def valid_target(st, n):
    """Spec §6.9: hazards and pads only act on a ninja that is not dead, won or disabled."""
    s = st.ninja_i[n, STATE]
    return s != ST_DEAD and s != ST_CELEBRATING and s != ST_DISABLED


@jit
def kill(st, n, cause):
    """Spec §6.9 kill(): only a living ninja dies; think() turns state 7 into 6 this frame.

    `cause` (an entity type or a CAUSE_* code) is recorded for the first kill only.
    """
    if st.ninja_i[n, STATE] < ST_DEAD:
        st.ninja_i[n, DEATH_CAUSE] = cause
        if st.ninja_i[n, STATE] == ST_JUMPING:
            st.ninja_f[n, GRAVITY] = GRAVITY_FALL
        st.ninja_i[n, STATE] = ST_DYING


@jit
def win(st, n):
    """Spec §6.9 win()."""
    if st.ninja_i[n, STATE] < ST_DEAD:
        if st.ninja_i[n, STATE] == ST_JUMPING:
            st.ninja_f[n, GRAVITY] = GRAVITY_FALL
        st.ninja_i[n, STATE] = ST_CELEBRATING
