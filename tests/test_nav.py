"""Navigation layer: soundness on real play, precision on built maps, distances, graph sizes."""
from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pytest

from ninjarl.nav import analyze_level, build_graph, graph_spec, stack_navs, sub_cell
from ninjarl.nav.graph import MAX_NODES, objective_feature_index
from ninjarl.sim import build_level, load_level, read_replay, simulate_inputs, write_map
from ninjarl.sim.mapfile import EntitySpec

from conftest import BC_REPLAYS, MAPS


def _level(map_bytes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_level(map_bytes)


@pytest.mark.parametrize("path", BC_REPLAYS, ids=lambda p: p.stem)
def test_bc_trajectory_is_reachable(path):
    r = read_replay(path)
    level = _level(r.map_bytes)
    nav = analyze_level(level)
    tr = simulate_inputs(level, r.inputs)
    assert nav.switch_reachable and nav.exit_reachable
    for f, (x, y) in enumerate(zip(tr["x"], tr["y"])):
        sx, sy = sub_cell(x, y)
        assert nav.reachable[sx, sy], f"frame {f}: ninja at ({x:.1f}, {y:.1f}) -> {(sx, sy)}"
    sx, sy = sub_cell(tr["x"][0], tr["y"][0])
    assert np.isfinite(nav.dist_to_switch[sx, sy])


TEST_MAPS = json.loads((MAPS / "test" / "maps.json").read_text())


@pytest.mark.parametrize("entry", [e for e in TEST_MAPS if (MAPS / "test" / e["name"]).exists()],
                         ids=lambda e: e["name"])
def test_test_maps_flags(entry):
    nav = analyze_level(_level((MAPS / "test" / entry["name"]).read_bytes()))
    assert nav.switch_reachable == entry["completable"]
    assert nav.exit_reachable == entry["completable"]
    assert 0.0 < nav.reachable_fraction <= 1.0


def test_distances_grow_away_from_switch():
    nav = analyze_level(_level((MAPS / "test" / "simple-walk").read_bytes()))
    lv = _level((MAPS / "test" / "simple-walk").read_bytes())
    sw = next(e for e in lv.map_data.entities if e.type == 4)
    sx, sy = sub_cell(sw.x, sw.y)
    assert nav.dist_to_switch[nav.switch_mask].max() == 0.0
    d = nav.dist_to_switch
    # along the corridor floor row of the switch, distance grows with |x - switch|
    row = [d[x, sy] for x in range(88) if np.isfinite(d[x, sy])]
    assert len(row) > 10
    left = [d[x, sy] for x in range(sx, -1, -1) if np.isfinite(d[x, sy])]
    assert all(b >= a for a, b in zip(left, left[1:]))
    assert left[-1] >= 48.0 and left[-1] > left[0]
    # spawn distance roughly the straight-line distance
    spx, spy = sub_cell(*lv.spawn)
    straight = math.hypot(lv.spawn[0] - sw.x, lv.spawn[1] - sw.y)
    assert 0.5 * straight <= d[spx, spy] <= 2.5 * straight + 48


def _open_room():
    t = np.zeros((42, 23), np.uint8)
    t[:, 22] = 1                        # floor: top at y = 552
    return t


def test_sealed_region_unreachable():
    t = _open_room()
    t[20:30, 5:15] = 1
    t[22:28, 7:13] = 0                  # hollow inside a solid block
    ents = [EntitySpec(3, 870, 534, 0, 0), EntitySpec(4, 24 * 24 + 12, 9 * 24 + 12, 0, 0)]
    nav = analyze_level(_level(write_map(t, 60, 540, ents)))
    assert nav.node[sub_cell(24 * 25, 24 * 10)]
    assert not nav.reachable[sub_cell(24 * 25, 24 * 10)]
    assert not nav.switch_reachable and not nav.exit_reachable
    assert np.isinf(nav.dist_to_switch[sub_cell(60, 540)])
    assert nav.reachable[sub_cell(60, 540)]


def test_tall_step_unreachable_from_below():
    """A high plateau (top at y = 216, 336 px above the floor) whose underside is a 45 deg
    overhang: no vertical face within reach to wall-jump from, and too far from the left wall."""
    t = _open_room()
    t[30:42, 8:10] = 1                  # plateau, left face x = 744, y 216..264
    for i in range(12):                 # overhang below: ceiling slope down to the floor
        c, r = 30 + i, 10 + i
        if r <= 21:
            t[c, r] = 7
            t[c + 1:42, r] = 1
    lv = _level(write_map(t, 60, 540, []))
    nav = analyze_level(lv)
    top = sub_cell(900, 200)
    assert nav.node[top]
    assert not nav.reachable[top]
    assert nav.reachable[sub_cell(300, 540)]
    # ... but the same plateau with a climbable wall below it is reachable
    t2 = _open_room()
    t2[30:42, 8:22] = 1
    nav2 = analyze_level(_level(write_map(t2, 60, 540, [])))
    assert nav2.reachable[top]


def test_low_ledge_reachable_by_jump():
    t = _open_room()
    t[15:25, 18] = 1                    # floating ledge top at y = 456: 96 px above the floor
    nav = analyze_level(_level(write_map(t, 60, 540, [])))
    assert nav.reachable[sub_cell(480, 442)]


def test_locked_door_blocks_until_switch():
    t = _open_room()
    t[20, 0:22] = 1                     # wall splitting the room, one-cell gap... closed by a door
    t[20, 20:22] = 0
    door = EntitySpec(6, 21 * 24, 21 * 24 + 12 - 24, 0, 0, switch_x=900, switch_y=540)
    # door segment x = 504, y 468..492 ... place it in the gap rows 21..22 (y 528..552)
    door = EntitySpec(6, 21 * 24 + 12, 22 * 24, 0, 0, switch_x=900, switch_y=540)
    t[20, 20] = 1
    ents = [EntitySpec(3, 900, 534, 0, 0), EntitySpec(4, 960, 534, 0, 0), door]
    nav = analyze_level(_level(write_map(t, 60, 540, ents)))
    assert nav.locked_doors == 1
    assert not nav.door_open[0]
    assert not nav.switch_reachable


def test_no_exit_means_inf():
    nav = analyze_level(_level(write_map(_open_room(), 60, 540, [])))
    assert not nav.switch_reachable and not nav.exit_reachable
    assert np.isinf(nav.dist_to_switch).all() and np.isinf(nav.dist_to_exit).all()


def test_sub_cell_clamps():
    assert sub_cell(-5, -5) == (0, 0)
    assert sub_cell(5000, 5000) == (87, 49)
    assert sub_cell(18.0, 30.0) == (1, 2)


def test_stack_and_graph():
    levels = [_level(read_replay(p).map_bytes) for p in BC_REPLAYS[:3]]
    navs = [analyze_level(lv) for lv in levels]
    st = stack_navs(navs)
    assert st["dist_to_switch"].shape == (3, 88, 50) and st["dist_to_switch"].dtype == np.float32
    assert st["switch_reachable"].shape == (3,)
    spec = graph_spec()
    assert spec["total_bytes"] <= 200_000
    for nav, lv in zip(navs, levels):
        g = build_graph(nav, lv)
        assert sum(a.nbytes for a in g.values()) == spec["total_bytes"]
        for k, v in g.items():
            assert v.shape == spec[k]["shape"] and v.dtype.name == spec[k]["dtype"]
        nm, em, ei = g["node_mask"], g["edge_mask"], g["edge_index"]
        assert set(np.unique(nm)) <= {0, 1} and set(np.unique(em)) <= {0, 1}
        used = ei[:, em == 1]
        assert used.min() >= 0 and used.max() < MAX_NODES
        assert nm[used[0]].all() and nm[used[1]].all()
        assert (ei[:, em == 0] == 0).all()
        assert (g["node_features"][nm == 0] == 0).all()
        assert np.isfinite(g["node_features"]).all()
        f = g["node_features"]
        assert np.array_equal(f[:, objective_feature_index], f[:, 13])


def test_graph_distances_follow_the_ways_clear_of_mines():
    """The graph's switch and exit distances are the objective's fields (the ways clear of
    mines), not the plain ones: on the minefield they differ, and each node reads the nearest
    of its four sub-cells, in units of 2,000 px."""
    level = load_level(MAPS / "test" / "minefield")
    nav = analyze_level(level)
    features = build_graph(nav, level)["node_features"].reshape(42, 23, -1)
    node = nav.node.reshape(44, 2, 25, 2)[1:43, :, 1:24, :].any(axis=(1, 3))
    for column, safe, plain in ((13, nav.safe_dist_to_switch, nav.dist_to_switch),
                                (14, nav.safe_dist_to_exit, nav.dist_to_exit)):
        assert not np.array_equal(safe, plain)
        for i, k in zip(*np.nonzero(node)):
            nearest = safe[2 * i + 2:2 * i + 4, 2 * k + 2:2 * k + 4].min()
            expected = min(nearest / 2000.0, 1.0) if np.isfinite(nearest) else 1.0
            assert features[i, k, column] == pytest.approx(expected, abs=1e-6), (column, i, k)


def test_level_analysis_is_computed_once_per_map_content_and_shared_read_only(monkeypatch):
    """Environments over the same levels (behaviour cloning, training, every evaluation)
    share one analysis per map; a shared array must not be writable, and the cache is bounded."""
    from ninjarl.env import EnvConfig
    from ninjarl.env.engine import Engine
    from ninjarl.nav import analysis

    monkeypatch.setattr(analysis, "_analyses", analysis.OrderedDict())
    monkeypatch.setattr(analysis, "ANALYSIS_CACHE_SIZE", 2)
    calls = []
    real = analysis.analyze_level
    monkeypatch.setattr(analysis, "analyze_level", lambda level: calls.append(level.name)
                        or real(level))
    raw = {n: (MAPS / "test" / n).read_bytes() for n in ("simple-walk", "only-jump", "slopes")}
    walk = build_level(raw["simple-walk"], "walk")

    first = Engine([walk, raw["only-jump"]], 2, EnvConfig())
    again = Engine([build_level(raw["simple-walk"], "walk, built again")], 1, EnvConfig())
    assert len(calls) == 2
    assert again.navs[0] is first.navs[0]
    fresh = real(walk)
    shared = first.navs[0]
    for name, value in vars(fresh).items():         # equal grids become one object, same values
        if isinstance(value, np.ndarray):
            assert np.array_equal(getattr(shared, name), value, equal_nan=True), name
            with pytest.raises(ValueError, match="read-only"):
                getattr(shared, name).flat[:1] = 0
        else:
            assert getattr(shared, name) == value, name
    # no locked door and no mine: the closed-door and mine-avoiding ways are the plain one
    assert shared.closed_dist_to_switch is shared.dist_to_switch
    assert shared.safe_dist_to_exit is shared.dist_to_exit

    Engine([raw["slopes"]], 1, EnvConfig())           # a third map: the least recent goes
    assert len(calls) == 3 and list(analysis._analyses) == [raw["simple-walk"], raw["slopes"]]
    Engine([raw["only-jump"]], 1, EnvConfig())
    assert len(calls) == 4


def test_closed_door_fields_are_the_open_ones_without_locked_doors():
    nav = analyze_level(load_level(MAPS / "official" / "000_the_basics"))
    assert nav.locked_doors == 0 and nav.door_switch_onward.shape == (0, 2)
    np.testing.assert_array_equal(nav.closed_dist_to_switch, nav.dist_to_switch)
    np.testing.assert_array_equal(nav.closed_dist_to_exit, nav.dist_to_exit)


def _descend(field, start):
    """Sub-cells visited going to the lowest of the 8 neighbours until none is lower."""
    path = [start]
    while True:
        x, y = path[-1]
        around = [(field[x + dx, y + dy], (x + dx, y + dy)) for dx in (-1, 0, 1)
                  for dy in (-1, 0, 1) if 0 <= x + dx < 88 and 0 <= y + dy < 50]
        value, cell = min(around)
        if value >= field[x, y]:
            return path
        path.append(cell)


@pytest.mark.parametrize("name", ["test/minefield", "official/000_the_basics"])
def test_safe_distances_lead_around_live_mines(name):
    """Going downhill on the plain field from the spawn brushes mines on these maps; on the
    mine-avoiding field it reaches the switch without coming within contact of one."""
    level = load_level(MAPS / name)
    nav = analyze_level(level)
    mines = [(e.x, e.y) for e in level.map_data.entities if e.type == 1]
    touching = [c for c in itertools.product(range(88), range(50))
                if any(math.hypot(12 * c[0] + 6 - x, 12 * c[1] + 6 - y) < 14 for x, y in mines)]
    plain = _descend(nav.dist_to_switch, nav.spawn_cell)
    safe = _descend(nav.safe_dist_to_switch, nav.spawn_cell)
    assert nav.dist_to_switch[plain[-1]] == 0 and nav.safe_dist_to_switch[safe[-1]] == 0
    assert set(plain) & set(touching)
    assert not set(safe) & set(touching)
