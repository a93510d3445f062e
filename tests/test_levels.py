"""ninjarl.levels: generators, solvability, datasets, the default dataset and the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ninjarl.cli import main
from ninjarl.levels import (
    CATEGORIES,
    LIMITS,
    TIERS,
    build_dataset,
    check_solvable,
    generate_level,
    level_seed,
    load_dataset,
    load_level_source,
    merge_datasets,
)
from ninjarl.levels import dataset as dataset_mod
from ninjarl.levels.generators import T_MINE, Canvas, draw_level
from ninjarl.nav import analyze_level
from ninjarl.sim import FormatError, build_level, parse_map

FAST_SEEDS = range(10)


@pytest.fixture(scope="module")
def fast_levels():
    return {c: [generate_level(c, s) for s in FAST_SEEDS] for c in CATEGORIES}


# ---- generators ----------------------------------------------------------------------------

def test_same_seed_gives_byte_identical_levels(fast_levels) -> None:
    for c in CATEGORIES:
        for s in (0, 7):
            again = generate_level(c, s)
            assert again.map_bytes == fast_levels[c][s].map_bytes
            assert again.metadata == fast_levels[c][s].metadata
        assert len({g.content_hash for g in fast_levels[c]}) == len(FAST_SEEDS)


def test_levels_are_identical_in_another_process(fast_levels) -> None:
    code = ("from ninjarl.levels import generate_level as g\n"
            "print(g('medium', 3).content_hash, g('exploration', 5).content_hash)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [fast_levels["medium"][3].content_hash,
                   fast_levels["exploration"][5].content_hash]


def test_generated_level_fields(fast_levels) -> None:
    g = fast_levels["simple"][4]
    assert g.category == "simple" and g.seed == 4 and g.tier == TIERS["simple"]
    assert g.content_hash == hashlib.sha256(g.map_bytes).hexdigest()
    assert g.level_id == "simple-000000000004"
    with pytest.raises(ValueError, match="unknown level category"):
        generate_level("hardest", 0)


def _check_ranges(g) -> None:
    lim, meta = LIMITS[g.category], g.metadata
    md = parse_map(g.map_bytes)
    types = [e.type for e in md.entities]
    # metadata describes the map
    assert meta["n_mines"] == sum(t in (1, 21) for t in types)
    assert meta["n_gold"] == types.count(2)
    assert meta["n_locked_doors"] == types.count(6)
    assert meta["n_entities"] == len(types)
    assert types.count(3) == 1 and types.count(4) == 1
    open_ = md.tiles != 1
    xs, ys = np.flatnonzero(open_.any(1)), np.flatnonzero(open_.any(0))
    assert (meta["width"], meta["height"]) == (xs[-1] - xs[0] + 1, ys[-1] - ys[0] + 1)
    for key, field in (("width", "width"), ("height", "height"), ("mines", "n_mines"),
                       ("gold", "n_gold"), ("locked", "n_locked_doors"),
                       ("entities", "n_entities")):
        lo, hi = lim[key]
        assert lo <= meta[field] <= hi, (g.level_id, key, meta[field], lim[key])
    assert set(np.unique(md.tiles)) <= set(range(34))
    for e in md.entities:
        assert e.x % 6 == 0 and e.y % 6 == 0 and 24 < e.x < 1032 and 24 < e.y < 576


def _check_simplest(g) -> None:
    md = parse_map(g.map_bytes)
    door = next(e for e in md.entities if e.type == 3)
    switch = next(e for e in md.entities if e.type == 4)
    assert md.spawn_y == door.y == switch.y                     # one flat row
    assert min(md.spawn_x, door.x) < switch.x < max(md.spawn_x, door.x)
    assert abs(door.x - md.spawn_x) <= 5 * 24
    cy = door.y // 24 - 1
    for x in range(min(md.spawn_x, door.x), max(md.spawn_x, door.x) + 1, 24):
        cx = x // 24 - 1
        assert md.tiles[cx, cy] == 0                            # free, flat row ...
        assert cy + 1 == md.tiles.shape[1] or md.tiles[cx, cy + 1] == 1   # ... on solid floor


def test_categories_stay_inside_their_ranges(fast_levels) -> None:
    for c in CATEGORIES:
        for g in fast_levels[c]:
            _check_ranges(g)
    for g in fast_levels["simplest"]:
        _check_simplest(g)


def test_categories_use_their_layouts() -> None:
    layouts = {c: {draw_level(c, s)[1]["layout"] for s in range(60)} for c in CATEGORIES}
    assert layouts["simplest"] == {"flat"}
    assert layouts["simpler"] == {"chamber"}
    assert layouts["simple"] == {"maze", "hills", "vertical", "pit"}
    assert layouts["medium"] == {"maze", "chambers", "pit", "mine_maze", "hills", "vertical",
                                 "islands", "platforms"}
    assert layouts["mine_heavy"] == {"mine_maze", "mine_jumps"}
    assert layouts["exploration"] == {"maze", "chambers"}
    # slopes and quarter pipes appear; simpler has locked doors now and then
    tiles = set()
    for s in range(60):
        tiles |= set(np.unique(parse_map(draw_level("medium", s)[0]).tiles).tolist())
    assert tiles & {8, 9} and tiles & {20, 21, 24, 25} and tiles & {14, 15}
    assert any(draw_level("simpler", s)[1]["n_locked_doors"] for s in range(60))


# ---- solvability -----------------------------------------------------------------------------

def test_ten_per_category_are_solvable(fast_levels) -> None:
    for c in CATEGORIES:
        for g in fast_levels[c]:
            level = build_level(g.map_bytes)
            assert check_solvable(level).ok, g.level_id
            nav = analyze_level(level)          # the plain analysis agrees
            assert nav.switch_reachable and nav.exit_reachable, g.level_id
            assert nav.doors_opened == nav.locked_doors


def _corridor(h, wall=None, mine=None) -> bytes:
    cv = Canvas()
    cv.carve(5, 10, 10, h)
    fy = 10 + h - 1
    if wall is not None:
        cv.carve(5 + wall, 10, 1, h, tile=1)
    if mine is not None:
        cv.put(T_MINE, 5 + mine, fy)
    cv.spawn, cv.switch, cv.exit = (5, fy), (13, fy), (14, fy)
    return cv.to_bytes()


def test_check_rejects_walls_and_blocking_mines() -> None:
    assert check_solvable(_corridor(1)).ok
    assert not check_solvable(_corridor(3, wall=4)).ok
    blocked = _corridor(1, mine=4)              # a mine in a one-cell-high corridor
    assert not check_solvable(blocked).ok
    nav = analyze_level(build_level(blocked))   # the plain analysis ignores mines
    assert nav.switch_reachable and nav.exit_reachable
    assert check_solvable(_corridor(3, mine=4)).ok      # room to jump over it


def test_rejected_draws_are_replaced_deterministically() -> None:
    # find a seed whose first draw fails, then check the kept level is a later draw
    for s in range(200):
        if not check_solvable(draw_level("mine_heavy", s, 0)[0]).ok:
            g = generate_level("mine_heavy", s)
            assert g.metadata["attempts"] >= 2
            assert g.map_bytes == draw_level("mine_heavy", s, g.metadata["attempts"] - 1)[0]
            return
    pytest.fail("no rejected draw in 200 mine_heavy seeds")


@pytest.mark.slow
def test_hundred_per_category_build_is_solvable(tmp_path) -> None:
    ds = build_dataset(tmp_path / "ds", 100, 0, jobs=2)
    groups = ds.by_category("train")
    assert list(groups) == list(CATEGORIES)
    for c, entries in groups.items():
        assert len(entries) == 100
        for e in entries:
            assert check_solvable(e.map_bytes).ok, e.level_id
            _check_ranges(generate_level(c, e.seed))


# ---- datasets ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("levels") / "ds"
    build_dataset(out, 3, 2, categories=("simplest", "medium"), seed=5)
    return out


def test_dataset_layout_and_manifest(small_dataset) -> None:
    ds = load_dataset(small_dataset)
    assert [len(ds.split(s)) for s in ("train", "test")] == [6, 4]
    assert ds.categories("train") == ["simplest", "medium"]
    for split in ("train", "test"):
        manifest = json.loads((small_dataset / split / "manifest.json").read_text())
        assert manifest["format"] == "ninjarl-levels" and manifest["seed"] == 5
        for rec, e in zip(manifest["levels"], ds.split(split)):
            path = small_dataset / split / rec["category"] / f"{rec['id']}.map"
            assert path.read_bytes() == e.map_bytes
            assert rec["hash"] == e.content_hash
            assert generate_level(rec["category"], rec["seed"]).map_bytes == e.map_bytes
    assert not list(small_dataset.rglob("*.pkl")) and not list(small_dataset.rglob(".*tmp"))


def test_dataset_build_is_reproducible(small_dataset, tmp_path) -> None:
    again = build_dataset(tmp_path / "again", 3, 2, categories=("simplest", "medium"), seed=5)
    for s in ("train", "test"):
        assert ((tmp_path / "again" / s / "manifest.json").read_bytes()
                == (small_dataset / s / "manifest.json").read_bytes())
        assert [e.map_bytes for e in again.split(s)] == [
            e.map_bytes for e in load_dataset(small_dataset).split(s)]


def test_no_overlap_between_splits(tmp_path) -> None:
    # the first test candidate is excluded: the split skips it and still has its size
    first = generate_level("simplest", level_seed(0, "test", "simplest", 0))
    ds = build_dataset(tmp_path / "a", 0, 5, categories=("simplest",),
                       exclude_hashes={first.content_hash})
    assert first.content_hash not in {e.content_hash for e in ds.split("test")}
    assert len(ds.split("test")) == 5

    # separate runs from different seeds into the same directory
    out = tmp_path / "b"
    train = build_dataset(out, 30, 0, categories=("simplest",), seed=1).split("train")
    ds = build_dataset(out, 0, 30, categories=("simplest",), seed=2)
    assert [e.content_hash for e in ds.split("train")] == [e.content_hash for e in train]
    assert not {e.content_hash for e in train} & {e.content_hash for e in ds.split("test")}

    # a dataset built elsewhere, excluded through the CLI (seed 1 again: same candidates)
    rc = main(["levels", "build", str(tmp_path / "c"), "--test", "30", "--categories",
               "simplest", "--seed", "1", "--exclude", str(out), "--jobs", "1"])
    assert rc == 0
    other = load_dataset(tmp_path / "c").split("test")
    assert len(other) == 30 and not {e.content_hash for e in other} & load_dataset(out).hashes()


def test_merge_two_styles_into_one_dataset(small_dataset, tmp_path, capsys) -> None:
    open_style = build_dataset(tmp_path / "open", 2, 0, categories=("simplest", "complex"),
                               seed=5, styles=("open",), exclude_hashes=load_dataset(
                                   small_dataset).hashes())
    # through the CLI; the small dataset also given twice: its levels are kept once
    assert main(["levels", "merge", str(tmp_path / "mix"), str(small_dataset),
                 str(tmp_path / "open"), str(small_dataset)]) == 0
    assert "train: 10 levels (simplest 5, medium 3, complex 2)" in capsys.readouterr().out
    mix = load_dataset(tmp_path / "mix")
    classic = load_dataset(small_dataset)
    # grouped by category in CATEGORIES' order, each category in source order
    by_source = {"classic": classic.by_category("train"),
                 "open": open_style.by_category("train")}
    want = []
    for category in CATEGORIES:
        for style in ("classic", "open"):
            want += [e.content_hash for e in by_source[style].get(category, [])]
    assert [e.content_hash for e in mix.split("train")] == want
    assert {e.style for e in mix.split("train")} == {"classic", "open"}
    assert [e.content_hash for e in mix.split("test")] == [
        e.content_hash for e in classic.split("test")]
    assert [e.map_bytes for e in mix.split("test")] == [e.map_bytes for e in classic.split("test")]


def test_merge_refuses_a_held_out_level_that_another_source_trains_on(small_dataset,
                                                                       tmp_path) -> None:
    test_level = load_dataset(small_dataset).split("test")[0]
    leak = _copy(small_dataset, tmp_path / "leak")
    _edit_manifest(leak, lambda m: m["levels"].append(
        {"id": test_level.level_id, "category": test_level.category, "seed": test_level.seed,
         "tier": test_level.tier, "hash": test_level.content_hash,
         "file": f"{test_level.category}/{test_level.level_id}.map"}))
    (leak / "train" / test_level.category / f"{test_level.level_id}.map").write_bytes(
        test_level.map_bytes)
    shutil.rmtree(leak / "test")
    with pytest.raises(ValueError, match=f"{test_level.level_id}' is in the test split of "
                       f".* and in the train split of {leak}"):
        merge_datasets(tmp_path / "mix", [small_dataset, leak])
    assert not (tmp_path / "mix" / "train").exists()
    assert main(["levels", "merge", str(tmp_path / "mix"), str(small_dataset)]) == 0
    with pytest.raises(ValueError, match="is one of the sources"):
        merge_datasets(small_dataset, [small_dataset])
    with pytest.raises(ValueError, match="a test split that no source has"):
        merge_datasets(tmp_path / "mix", [leak])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(ds: Path, edit) -> None:
    mpath = ds / "train" / "manifest.json"
    m = json.loads(mpath.read_text())
    edit(m)
    mpath.write_text(json.dumps(m))


@pytest.mark.parametrize("case, field", [
    ("missing_manifest", "manifest"),
    ("bad_json", "manifest"),
    ("missing_field", "levels[1].hash"),
    ("wrong_type", "levels[0].seed"),
    ("missing_map", "file"),
    ("hash_mismatch", "content hash"),
    ("bad_map", "length"),
    ("escaping_path", "levels[0].file"),
])
def test_corrupt_dataset_gives_clear_errors(small_dataset, tmp_path, case, field,
                                            capsys) -> None:
    ds = _copy(small_dataset, tmp_path / "ds")
    first = json.loads((ds / "train" / "manifest.json").read_text())["levels"][0]
    map_path = ds / "train" / first["file"]
    if case == "missing_manifest":
        (ds / "train" / "manifest.json").unlink()
        (ds / "test" / "manifest.json").unlink()
    elif case == "bad_json":
        (ds / "train" / "manifest.json").write_text('{"levels": [')
    elif case == "missing_field":
        _edit_manifest(ds, lambda m: m["levels"][1].pop("hash"))
    elif case == "wrong_type":
        _edit_manifest(ds, lambda m: m["levels"][0].update(seed="x"))
    elif case == "missing_map":
        map_path.unlink()
    elif case == "hash_mismatch":
        data = bytearray(map_path.read_bytes())
        data[300] ^= 1
        map_path.write_bytes(bytes(data))
    elif case == "bad_map":
        short = map_path.read_bytes()[:100]
        map_path.write_bytes(short)
        _edit_manifest(ds, lambda m: m["levels"][0].update(
            hash=hashlib.sha256(short).hexdigest()))
    elif case == "escaping_path":
        _edit_manifest(ds, lambda m: m["levels"][0].update(file="../../x.map"))
    with pytest.raises(FormatError) as info:
        load_dataset(ds)
    assert info.value.field == field
    expected = map_path if case in ("missing_map", "hash_mismatch", "bad_map") else \
        ds / "train" / "manifest.json"
    assert info.value.path == str(expected)
    # the CLI reports it on one line with status 2
    assert main(["levels", "show", str(ds), first["id"], "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ninjarl: error: ") and err.count("\n") == 1 and field in err


def test_level_sources(small_dataset) -> None:
    official = load_level_source("official")
    assert len(official) == 5 and {e.category for e in official} == {"official"}
    assert len(load_level_source("test")) == 16
    one = load_level_source("official/000_the_basics")
    assert one[0].level_id == "000_the_basics" and one[0].tier == -1
    assert len(load_level_source(str(small_dataset))) == 6
    assert len(load_level_source(str(small_dataset), split="test")) == 4
    assert len(load_level_source(str(small_dataset / "test"))) == 4
    entry = load_dataset(small_dataset).split("train")[0]
    path = small_dataset / "train" / entry.category / f"{entry.level_id}.map"
    raw = load_level_source(str(path))
    assert raw[0].map_bytes == entry.map_bytes and raw[0].level_id == entry.level_id
    with pytest.raises(FormatError, match="not a category"):
        load_level_source("no/such/thing")


def test_default_dataset_is_built_once_and_rebuilt_when_corrupt(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(dataset_mod, "DEFAULT_TRAIN", 2)
    monkeypatch.setattr(dataset_mod, "DEFAULT_TEST", 1)
    ds = dataset_mod.default_dataset(jobs=1)
    root = tmp_path / "ninjarl" / "levels" / dataset_mod.DEFAULT_NAME
    assert ds.path == root and len(ds.split("train")) == 2 * len(CATEGORIES)
    manifest = root / "train" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    assert dataset_mod.default_dataset(jobs=1).path == root
    assert manifest.stat().st_mtime_ns == stamp                  # reused, not rebuilt
    simplest = load_level_source("simplest")
    assert [e.content_hash for e in simplest] == [
        e.content_hash for e in ds.by_category("train")["simplest"]]
    manifest.write_text("garbage")
    again = dataset_mod.default_dataset(jobs=1)                   # corrupt: rebuilt
    assert [e.content_hash for e in again.split("train")] == [
        e.content_hash for e in ds.split("train")]
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]


# ---- CLI -----------------------------------------------------------------------------------

def test_cli_build_show_sheet(tmp_path, capsys) -> None:
    out = tmp_path / "ds"
    assert main(["levels", "build", str(out), "--train", "2", "--test", "1", "--categories",
                 "simplest", "complex", "--seed", "3", "--jobs", "1"]) == 0
    ds = load_dataset(out)
    assert len(ds.split("train")) == 4 and len(ds.split("test")) == 2
    level = ds.split("test")[1]
    png = tmp_path / "one.png"
    assert main(["levels", "show", str(out), level.level_id, "--out", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert json.loads(capsys.readouterr().out.splitlines()[-2])["id"] == level.level_id
    sheet = tmp_path / "sheet.png"
    assert main(["levels", "sheet", str(out), "--out", str(sheet), "--per-category", "2"]) == 0
    assert sheet.read_bytes().startswith(b"\x89PNG")
    assert main(["levels", "show", str(out), "nope", "--out", str(png)]) == 2
    with pytest.raises(SystemExit) as usage_error:          # argparse: a bad flag value
        main(["levels", "build", str(out), "--train", "1", "--categories", "hardest"])
    assert usage_error.value.code == 2
