"""ninjarl.levels.styles: the open generator style, style selection and mixed datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ninjarl.cli import main
from ninjarl.levels import (
    CATEGORIES,
    OPEN_LIMITS,
    build_dataset,
    check_solvable,
    generate_level,
    load_dataset,
)
from ninjarl.levels.styles import (
    OPEN_LAYOUTS,
    T_TRAP,
    _solvable,
    draw_open_level,
    generate_open_level,
    open_layout,
)
from ninjarl.sim import FormatError, parse_map

SEEDS = range(3)
#: classic content-hash prefixes recorded before the open style existed (seeds 0 and 7)
CLASSIC_HASHES = {("simplest", 0): "decfa58e7a132d26", ("medium", 7): "3eb9ac9b4d587f41",
                  ("exploration", 0): "f60f5196e29e035f"}
#: a medium open level with a trap door (found by generating seeds 0..)
TRAP_SEED = 4


@pytest.fixture(scope="module")
def open_levels():
    return {c: [generate_level(c, s, "open") for s in SEEDS] for c in CATEGORIES}


def test_open_levels_are_deterministic(open_levels) -> None:
    for c in ("simplest", "medium", "exploration"):
        again = generate_open_level(c, 1)
        assert again.map_bytes == open_levels[c][1].map_bytes
        assert again.metadata == open_levels[c][1].metadata
    for c in CATEGORIES:
        assert len({g.content_hash for g in open_levels[c]}) == len(SEEDS)


def test_open_levels_are_solvable_and_inside_their_limits(open_levels) -> None:
    for c in CATEGORIES:
        lim = OPEN_LIMITS[c]
        for g in open_levels[c]:
            m = g.metadata
            assert check_solvable(g.map_bytes).ok, g.level_id
            assert g.style == "open" and m["style"] == "open" and "-open-" in g.level_id
            assert m["layout"] in OPEN_LAYOUTS[c]
            for key, field in (("width", "width"), ("height", "height"), ("mines", "n_mines"),
                               ("gold", "n_gold"), ("locked", "n_locked_doors"),
                               ("entities", "n_entities"), ("decoys", "n_decoys")):
                lo, hi = lim[key]
                assert lo <= m[field] <= hi, (g.level_id, field, m[field])
            assert m["n_entities"] == len(parse_map(g.map_bytes).entities)


def test_decoys_are_sealed_in_rock(open_levels) -> None:
    seen = 0
    for c in CATEGORIES:
        for g in open_levels[c]:
            md = parse_map(g.map_bytes)
            tiles = md.tiles
            live = {(e.x, e.y) for e in md.entities}
            for e in md.entities:
                cx, cy = (e.x - 36) // 24, (e.y - 36) // 24     # playable cell of a centre
                if e.type in (1, 2, 21) and tiles[cx, cy] == 1:
                    seen += 1
                    box = tiles[max(cx - 1, 0):cx + 2, max(cy - 1, 0):cy + 2]
                    assert (box == 1).all(), (g.level_id, e)
            assert len(live) >= 2
    assert seen > 0


def test_simplest_needs_no_jump(open_levels) -> None:
    for g in open_levels["simplest"]:
        md = parse_map(g.map_bytes)
        rows = {e.y for e in md.entities} | {md.spawn_y}
        assert len(rows) == 1                       # spawn, switch and exit on one floor row
        assert set(np.unique(md.tiles)) <= {0, 1}   # no slopes, no noise
        assert g.metadata["height"] <= 2


def test_every_layout_is_chosen() -> None:
    for c in CATEGORIES:
        assert {open_layout(c, seed) for seed in range(60)} == set(OPEN_LAYOUTS[c]), c


def test_trap_door_levels_are_checked_in_two_phases() -> None:
    g = generate_open_level("medium", TRAP_SEED)
    assert g.metadata["n_trap_doors"] == 1
    assert any(e.type == T_TRAP for e in parse_map(g.map_bytes).entities)
    sketch, _ = draw_open_level("medium", TRAP_SEED, g.metadata["attempts"] - 1)
    assert sketch.to_bytes() == g.map_bytes and _solvable(sketch, g.map_bytes)
    # an exit behind the trap door: the door closes once its switch is touched, so the level
    # cannot be finished, although a check that treats the door as open accepts it
    spawn_side = sketch.walk_dist(sketch.spawn)
    door = sketch.trap[0]
    behind = [c for c in sketch.stand_cells() if c in spawn_side
              and (c[0] - door[0]) * (sketch.trap[1][0] - door[0]) < 0]
    sketch.exit = behind[0]
    data = sketch.to_bytes()
    assert check_solvable(data).ok
    assert not _solvable(sketch, data)


def test_classic_style_is_unchanged() -> None:
    for (c, s), prefix in CLASSIC_HASHES.items():
        g = generate_level(c, s, "classic")
        assert g.content_hash.startswith(prefix) and g.style == "classic"
        assert generate_level(c, s).map_bytes == g.map_bytes
        assert "style" not in g.metadata


def test_unknown_style_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown level style 'fancy'"):
        generate_level("simple", 0, "fancy")
    with pytest.raises(ValueError, match="unknown level style"):
        build_dataset("unused", 1, 0, ("simplest",), styles=("classic", "fancy"))


def test_mixed_dataset_records_styles_and_stays_disjoint(tmp_path) -> None:
    cats = ("simplest", "simple")
    ds = build_dataset(tmp_path / "mix", 4, 2, cats, seed=3, styles=("classic", "open"))
    for split in ("train", "test"):
        entries = ds.split(split)
        for c in cats:
            styles = [e.style for e in entries if e.category == c]
            assert set(styles) == {"classic", "open"}
        manifest = json.loads((tmp_path / "mix" / split / "manifest.json").read_text())
        for rec, e in zip(manifest["levels"], entries):
            assert rec["style"] == e.style
            assert generate_level(e.category, e.seed, e.style).map_bytes == e.map_bytes
    assert not ({e.content_hash for e in ds.split("train")}
                & {e.content_hash for e in ds.split("test")})


def test_train_on_one_style_test_on_the_other(tmp_path) -> None:
    out = tmp_path / "cross"
    build_dataset(out, 2, 0, ("simpler",), styles=("classic",))
    ds = build_dataset(out, 0, 2, ("simpler",), styles=("open",))
    assert {e.style for e in ds.split("train")} == {"classic"}
    assert {e.style for e in ds.split("test")} == {"open"}


def test_manifest_without_style_reads_as_classic_and_bad_style_is_rejected(tmp_path) -> None:
    out = tmp_path / "old"
    build_dataset(out, 1, 0, ("simplest",))
    mpath = out / "train" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    for rec in manifest["levels"]:
        del rec["style"]
    mpath.write_text(json.dumps(manifest))
    assert [e.style for e in load_dataset(out).split("train")] == ["classic"]
    manifest["levels"][0]["style"] = 3
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(FormatError, match=r"levels\[0\]\.style"):
        load_dataset(out)


def test_cli_builds_an_open_dataset(tmp_path, capsys) -> None:
    out = tmp_path / "cli"
    assert main(["levels", "build", str(out), "--train", "1", "--test", "1", "--categories",
                 "simplest", "--style", "open", "--jobs", "1"]) == 0
    ds = load_dataset(out)
    assert [e.style for s in ("train", "test") for e in ds.split(s)] == ["open", "open"]
    assert main(["levels", "sheet", "--style", "open", "--per-category", "1", "--out",
                 str(tmp_path / "sheet.png")]) == 0
    assert (tmp_path / "sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_odd_count_per_category_balances_the_styles_over_categories(tmp_path) -> None:
    ds = build_dataset(tmp_path / "odd", 1, 0, ("simplest", "simpler"),
                       styles=("classic", "open"))
    assert sorted(e.style for e in ds.split("train")) == ["classic", "open"]
