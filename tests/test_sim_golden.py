"""The simulator reproduces the reference (nclone e416755) frame by frame.

Golden data: per-frame traces of 130 human replays and 2 official demos, 56 scenario
micro-traces (impacts, crushes, every entity type, doors, post-win/death frames, every tile id,
random play on the test and official maps), the spec's hand-checkable traces A-C (§14.2-14.3),
its whole-run hashes (§14.4) and worked load examples.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from ninjarl.sim import Simulator, build_level, read_replay, simulate_inputs
from ninjarl.sim.layout import (
    CS_COUNT,
    CS_START,
    ES_DOOR_SEG,
    ES_EDGE_VERT,
    ES_EDGE_X,
    ES_EDGE_Y,
    SEG_ARC,
    SG_CX,
    SG_CY,
    SG_DOOR,
    SG_FLAG,
    SG_HOR,
    SG_KIND,
    SG_VER,
    SG_X1,
    SG_X2,
    SG_Y1,
    SG_Y2,
)

from conftest import MAPS, REPLAYS, SCENARIOS, TRACES

TRACE_FILES = sorted(TRACES.glob("*/*.npz")) + sorted(SCENARIOS.glob("*.npz"))


def test_corpus_is_complete():
    assert len(sorted(TRACES.glob("bc/*.npz"))) == 130
    assert len(sorted(TRACES.glob("attract/*.npz"))) == 2
    assert len(sorted(SCENARIOS.glob("*.npz"))) == 56


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_trace_matches_reference(path: Path):
    with np.load(path) as z:
        gold = {k: z[k] for k in z.files}
    trace = simulate_inputs(build_level(gold["map_data"].tobytes(), path.name), gold["inputs_raw"])

    for key in ("x", "y", "xspeed", "yspeed"):
        bad = np.flatnonzero(~(np.abs(trace[key] - gold[key]) <= 1e-9))
        assert bad.size == 0, f"{key} differs first at frame {bad[0] + 1}"
    bad = np.flatnonzero(trace["state"] != gold["state"])
    assert bad.size == 0, f"state differs first at frame {bad[0] + 1}"
    np.testing.assert_array_equal(trace["gold"], gold["gold"])
    np.testing.assert_array_equal(trace["ent_type"], gold["ent_type"])
    for key in ("ent_x", "ent_y"):
        bad = np.flatnonzero(~(np.abs(trace[key] - gold[key]) <= 1e-9).all(axis=1))
        assert bad.size == 0, f"{key} differs first at frame {bad[0] + 1}"
    for key in ("ent_active", "ent_state"):
        bad = np.flatnonzero((trace[key] != gold[key]).any(axis=1))
        assert bad.size == 0, f"{key} differs first at frame {bad[0] + 1}"
    assert trace["outcome"] == str(gold["outcome"])
    assert trace["outcome_frame"] == int(gold["outcome_frame"])
    if gold["death_cause"]:        # recorded for the scenarios only
        assert trace["death_cause"] == str(gold["death_cause"])


# ---- spec §14.2-14.3: traces A, B and C, to the last bit ---------------------------------------

def _check_rows(trace, rows):
    for frame, x, y, vx, vy, state in rows:
        i = frame - 1
        got = (trace["x"][i], trace["y"][i], trace["xspeed"][i], trace["yspeed"][i])
        # compare bit patterns: 0.0 and -0.0 must not be confused
        assert [v.hex() for v in map(float, got)] == [v.hex() for v in (x, y, vx, vy)], frame
        assert trace["state"][i] == state, frame


def _simple_walk():
    return build_level((MAPS / "test" / "simple-walk").read_bytes(), "simple-walk")


def test_spec_trace_a_walk_right():
    trace = simulate_inputs(_simple_walk(), np.full(60, 2, np.uint8))
    _check_rows(trace, [
        (1, 396.0, 372.06666666666666, 0.04444444444444444, 0.06666666666666665, 4),
        (2, 396.04414765211334, 372.1995548115033, 0.08859209655775581, 0.1328881448366337, 4),
        (7, 396.91685095905973, 373.84194310525606, 0.3049473782642887, 0.45742106739643296, 4),
        (8, 397.2197619513505, 374.0, 0.36957765895742584, -0.0, 1),
        (11, 398.51197510492324, 374.0, 0.5608904709460383, -0.0, 1),
        (12, 399.0691200460857, 374.0, 0.6238116078291011, -0.0, 1),
        (30, 419.3915508968731, 374.0, 1.6871895829246977, -0.0, 1),
        (60, 492.1802742056021, 374.0, 3.1978513319221387, -0.0, 1),
    ])


def test_spec_trace_b_held_jump():
    inputs = np.array([0] * 10 + [1] * 50 + [0] * 20, np.uint8)
    trace = simulate_inputs(_simple_walk(), inputs)
    _check_rows(trace, [
        (1, 396.0, 372.06666666666666, 0.0, 0.06666666666666665, 4),
        (8, 396.0, 374.0, 0.0, -0.0, 0),
        (11, 396.0, 372.0, 0.0, -2.0, 3),
        (12, 396.0, 370.0244667660121, 0.0, -1.9755332339879008, 3),
        (13, 396.0, 368.0732369131946, 0.0, -1.951229852817502, 3),
        (20, 396.0, 355.0816255853905, 0.0, -1.7855902234247163, 3),
        (56, 396.0, 305.01141660310213, 0.0, -1.0462931088651415, 3),
        (57, 396.0, 303.98322157019174, 0.0, -1.028195032910388, 4),
        (58, 396.0, 303.02855931296324, 0.0, -0.9546622572284906, 4),
        (60, 396.0, 301.3378722478751, 0.0, -0.8090665443536063, 4),
        (70, 396.0, 297.1326694168299, 0.0, -0.10964766016264604, 4),
        (80, 396.0, 299.66985066952446, 0.0, 0.5444440595287945, 4),
    ])


def test_spec_trace_c_replay_wins_on_last_frame():
    replay = read_replay(REPLAYS / "bc" / "20251022_142001_train_very_simple_100001.replay")
    trace = simulate_inputs(build_level(replay.map_bytes), replay.inputs)
    _check_rows(trace, [
        (1, 828.0, 540.0666666666667, 0.0, 0.06666666666666665, 4),
        (14, 828.0, 542.0, 0.0, -0.0, 0),
        (15, 828.0, 542.0, -0.06666666666666665, -0.0, 1),
        (20, 827.0154779621403, 542.0, -0.3933813333964329, 0.0, 1),
        (30, 820.2957739182734, 542.0, -1.014873307135268, 0.0, 1),
        (36, 813.3627587162196, 542.0, -1.3682645828860756, 0.0, 1),
        (37, 812.0036311681246, 542.0, -1.35912754809494, 0.0, 8),
    ])
    assert (trace["outcome"], trace["outcome_frame"]) == ("won", 37)


# ---- spec §14.4: whole-run hashes ---------------------------------------------------------------

WHOLE_RUNS = [
    ("attract/0", 471, 6, 11, "4412b33238a8a6a6"),
    ("attract/1", 210, 0, 4, "ad98e36a197c0095"),
    ("bc/20251022_142001_train_very_simple_100001", 37, 8, 0, "1f09d0710ff5f928"),
    ("bc/20251022_142003_train_mine_heavy_100002", 334, 8, 0, "c0360022eb2ec393"),
    ("bc/20251022_142016_train_complex_100006", 769, 8, 0, "73397dcdfd08d742"),
    ("bc/20251023_093546_train_complex_100001", 510, 8, 0, "bdc1db24fbae404f"),
    ("bc/20251023_153053_train_very_simple_100024", 79, 8, 0, "ecf7540c75c7f4f4"),
    ("bc/20251023_113753_train_very_simple_100008", 1848, 8, 20, "433bedb1f84af57a"),
]


@pytest.mark.parametrize("name,frames,final_state,gold,digest", WHOLE_RUNS)
def test_spec_whole_run_hash(name, frames, final_state, gold, digest):
    group, stem = name.split("/")
    path = REPLAYS / group / (stem + (".replay" if group == "bc" else ""))
    replay = read_replay(path)
    trace = simulate_inputs(build_level(replay.map_bytes), replay.inputs)
    h = hashlib.sha256()
    for row in zip(trace["x"], trace["y"], trace["xspeed"], trace["yspeed"]):
        h.update(struct.pack("<dddd", *(float(v) + 0.0 for v in row)))
    assert len(trace["x"]) == frames
    assert trace["state"][-1] == final_state
    assert trace["gold"][-1] == gold
    assert h.hexdigest()[:16] == digest


# ---- load examples: segments per cell, grid edges, doors ---------------------------------------

LOAD_EXAMPLES = json.loads((SCENARIOS / "load_examples.json").read_text())["examples"]


def _segment_as_json(level, s):
    kind, flag = level.seg_i[s, SG_KIND], level.seg_i[s, SG_FLAG]
    f = level.seg_f[s]
    if kind == SEG_ARC:
        return {"type": "circular", "centre": [f[SG_CX], f[SG_CY]],
                "quadrant": [f[SG_HOR], f[SG_VER]], "convex": bool(flag)}
    return {"type": "linear", "p1": [f[SG_X1], f[SG_Y1]], "p2": [f[SG_X2], f[SG_Y2]],
            "oriented": bool(flag)}


def _expected_segment(seg):
    if seg["type"] == "circular":
        return {k: seg[k] for k in ("type", "centre", "quadrant", "convex")}
    return {k: seg[k] for k in ("type", "p1", "p2", "oriented")}


@pytest.mark.parametrize("example", LOAD_EXAMPLES, ids=lambda e: e["name"])
def test_load_example(example):
    level = build_level(bytes.fromhex(example["map_hex"]), example["name"])
    cells = {}
    for cx in range(level.cell_seg.shape[0]):
        for cy in range(level.cell_seg.shape[1]):
            start, count = level.cell_seg[cx, cy, CS_START], level.cell_seg[cx, cy, CS_COUNT]
            if count:
                cells[(cx, cy)] = [_segment_as_json(level, s) for s in range(start, start + count)]
    expected = {tuple(c["cell"]): [_expected_segment(s) for s in c["segments"]]
                for c in example["cells"]}
    assert cells == expected
    assert sum(map(len, cells.values())) == example["n_segments"]

    hor = [[hx, hy, int(v)] for hx, hy in zip(*np.nonzero(level.hor_edge0))
           for v in [level.hor_edge0[hx, hy]]]
    ver = [[vx, vy, int(v)] for vx, vy in zip(*np.nonzero(level.ver_edge0))
           for v in [level.ver_edge0[vx, vy]]]
    assert hor == example["hor_edge_nonzero"]
    assert ver == example["ver_edge_nonzero"]

    assert list(level.entity_types) == [e["type"] for e in example["entities"]]
    for e, ent in enumerate(example["entities"]):
        assert (level.ent_sf[e, 0], level.ent_sf[e, 1]) == (ent["x"], ent["y"])
        if "door_segment" not in ent:
            continue
        s = level.ent_si[e, ES_DOOR_SEG]
        assert level.seg_i[s, SG_DOOR] == e
        assert _segment_as_json(level, s) == _expected_segment(ent["door_segment"])
        start = level.cell_seg[tuple(ent["door_segment_cell"]) + (CS_START,)]
        count = level.cell_seg[tuple(ent["door_segment_cell"]) + (CS_COUNT,)]
        assert start <= s < start + count
        table = "ver_edge" if level.ent_si[e, ES_EDGE_VERT] else "hor_edge"
        ex, ey = level.ent_si[e, ES_EDGE_X], level.ent_si[e, ES_EDGE_Y]
        keys = [[ex, ey], [ex, ey + 1]] if table == "ver_edge" else [[ex, ey], [ex + 1, ey]]
        assert [(g["table"], g["key"]) for g in ent["grid_edges"]] == [(table, k) for k in keys]
        assert Simulator(level).door_closed(e) == ent["closed"] == ent["door_segment"]["active"]


def test_damaged_replays_are_rejected_cleanly():
    from ninjarl.sim import FormatError
    for path in sorted((REPLAYS / "bc_damaged").glob("*.replay")):
        with pytest.raises(FormatError, match="size"):
            read_replay(path)

