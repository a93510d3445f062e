"""Physical constants of the N++ simulation (spec ``nsim.md`` §1).

Every value is the exact double the reference simulator uses. Several look like simple fractions
but are not (GRAVITY_FALL is not 1/15); use these names, never re-derive them.
"""

# World geometry ---------------------------------------------------------------------------------
CELL = 24                      # px per grid cell
HALF_CELL = 12                 # px per half-cell (grid-edge resolution)
GRID_W, GRID_H = 44, 25        # full grid including the solid border
PLAY_W, PLAY_H = 42, 23        # playable cells stored in a map
WORLD_W, WORLD_H = GRID_W * CELL, GRID_H * CELL   # 1056 x 600 px
EDGE_W, EDGE_H = 89, 51        # half-cell grid-edge tables (x 0..88, y 0..50)
# the scales (world px per picture px) at which every cell covers whole pixels: 1, 2, ..., 24
CELL_DIVISORS = tuple(s for s in range(1, CELL + 1) if CELL % s == 0)

# Ninja ------------------------------------------------------------------------------------------
NINJA_RADIUS = 10.0
GRAVITY_FALL = 0.06666666666666665
GRAVITY_JUMP = 0.01111111111111111
GROUND_ACCEL = 0.06666666666666665
AIR_ACCEL = 0.04444444444444444
DRAG_REGULAR = 0.9933221725495059
DRAG_SLOW = 0.8617738760127536
FRICTION_GROUND = 0.9459290248857720
FRICTION_GROUND_SLOW = 0.8617738760127536
FRICTION_WALL = 0.9113380468927672
MAX_HOR_SPEED = 3.333
MAX_JUMP_DURATION = 45
MAX_SURVIVABLE_IMPACT = 6.0
MIN_SURVIVABLE_CRUSHING = 0.05
ONE_MINUS_FRICTION_GROUND = 1.0 - FRICTION_GROUND          # 0.05407097511422798, as computed at run time
HALF_GROUND_ACCEL = GROUND_ACCEL / 2
TWO_THIRDS = 2 / 3
FOUR_THIRDS = 4 / 3
SQRT2_HALF = 2 ** 0.5 / 2

# Ninja states (spec §6.1)
ST_IMMOBILE, ST_RUNNING, ST_SLIDING, ST_JUMPING, ST_FALLING, ST_WALLSLIDING = 0, 1, 2, 3, 4, 5
ST_DEAD, ST_DYING, ST_CELEBRATING, ST_DISABLED = 6, 7, 8, 9

# Entities (spec §1.2, §8) ---------------------------------------------------------------------
MINE_RADIUS_DEADLY = 4.0       # state 0
MINE_RADIUS_SAFE = 3.5         # state 1
MINE_RADIUS_TOGGLING = 4.5     # state 2
GOLD_RADIUS = 6.0
EXIT_DOOR_RADIUS = 12.0
EXIT_SWITCH_RADIUS = 6.0
REGULAR_DOOR_RADIUS = 10.0
DOOR_SWITCH_RADIUS = 5.0
LAUNCH_PAD_RADIUS = 6.0
LAUNCH_PAD_BOOST = 36 / 7
ONE_WAY_SEMI_SIDE = 12.0
ZAP_DRONE_RADIUS, ZAP_DRONE_GRID, ZAP_DRONE_SPEED = 7.5, 24.0, 8 / 7
MINI_DRONE_RADIUS, MINI_DRONE_GRID, MINI_DRONE_SPEED = 4.0, 12.0, 1.3
BOUNCE_BLOCK_SEMI_SIDE = 9.0
BOUNCE_BLOCK_STIFFNESS = 0.02222222222222222
BOUNCE_BLOCK_DAMPENING = 0.98
BOUNCE_BLOCK_STRENGTH = 0.2
THWUMP_SEMI_SIDE = 9.0
THWUMP_FORWARD_SPEED = 20 / 7
THWUMP_BACKWARD_SPEED = 8 / 7
BOOST_PAD_RADIUS = 6.0
DEATH_BALL_RADIUS = 5.0
DEATH_BALL_TILE_RADIUS = 8.0
SHOVE_THWUMP_SEMI_SIDE = 12.0
SHOVE_THWUMP_CORE_RADIUS = 8.0

# Entity type ids (spec §7)
T_MINE, T_GOLD, T_EXIT_DOOR, T_EXIT_SWITCH = 1, 2, 3, 4
T_REGULAR_DOOR, T_LOCKED_DOOR, T_TRAP_DOOR = 5, 6, 8
T_LAUNCH_PAD, T_ONE_WAY, T_ZAP_DRONE, T_BOUNCE_BLOCK = 10, 11, 14, 17
T_THWUMP, T_TOGGLE_MINE, T_BOOST_PAD, T_DEATH_BALL = 20, 21, 24, 25
T_MINI_DRONE, T_SHOVE_THWUMP = 26, 28
IMPLEMENTED_TYPES = (1, 2, 3, 4, 5, 6, 8, 10, 11, 14, 17, 20, 21, 24, 25, 26, 28)

# Death causes recorded by the simulator: the killing entity's type, or one of these codes.
CAUSE_IMPACT_FLOOR, CAUSE_IMPACT_CEILING, CAUSE_CRUSH = 100, 101, 102
DEATH_CAUSES = {
    T_MINE: "mine", T_TOGGLE_MINE: "mine", T_ZAP_DRONE: "zap_drone", T_MINI_DRONE: "mini_drone",
    T_THWUMP: "thwump", T_DEATH_BALL: "death_ball", T_SHOVE_THWUMP: "shove_thwump",
    CAUSE_IMPACT_FLOOR: "impact_floor", CAUSE_IMPACT_CEILING: "impact_ceiling",
    CAUSE_CRUSH: "crush",
}
