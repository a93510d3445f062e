"""Level datasets on disk: raw N++ map files plus a JSON manifest per split; no pickle.

Layout::

    OUT/train/manifest.json
    OUT/train/<category>/<level id>.map      raw map bytes (what ``ninjarl render`` reads)
    OUT/test/manifest.json
    OUT/test/<category>/<level id>.map

A manifest is ``{"format": "ninjarl-levels", "version": 1, "generator_version": G,
"split": "train", "seed": S, "levels": [{"id", "category", "seed", "tier", "hash", "file",
"style", "metadata"}, ...]}``; ``hash`` is the sha256 of the map bytes, ``file`` the map's path
relative to the split directory, ``seed`` the generator seed and ``style`` the generator style
(``generate_level(category, seed, style)`` reproduces the bytes; a record without ``style``, as
written before styles existed, reads as "classic").

**Styles.** ``build_dataset(..., styles=("classic", "open"))`` mixes generator styles (see
:mod:`.styles`): the k-th candidate seed of the category with index c uses
``styles[(k + c) % len(styles)]``, so a mix alternates per level, and with an odd count per
category the extra level goes to each style in turn; building the train split from one style and the test split from the
other measures generalization across generator families.

**Disjoint splits.** Level seeds are derived from the dataset seed *and the split name*
(:func:`level_seed`), so the train and test seed spaces are separate; and because two seeds can
still draw the same map (small categories such as ``simplest`` have a few thousand distinct
maps), every level whose content hash is already taken - by the other split, by a split that
``OUT`` already holds, or by ``exclude_hashes`` / ``--exclude DATASET`` - is skipped and the next
seed is drawn. So a test split built later, in another run, from another seed, into the same
``OUT`` (or with ``--exclude`` naming the train dataset) never repeats a training level.

**Atomic writes.** A split is written into a temporary directory next to its final place and
renamed into place once complete (manifest last), so a reader sees the old split, the new split
or none, never a half-written one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ninjarl.atomic import replace_dir, temp_dir
from ninjarl.sim.errors import FormatError
from ninjarl.sim.replay import MAX_MAP_BYTES, encode_replay, read_at_most
from ninjarl.workers import worker_pool

from .common import CATEGORIES, TIERS, category_index
from .generators import GENERATOR_VERSION, generate_level
from .styles import check_style

FORMAT = "ninjarl-levels"
VERSION = 1
SPLITS = ("train", "test")
EXT = ".map"
DEFAULT_NAME = f"default-v{GENERATOR_VERSION}"
#: levels per category in the built-in default dataset (first build ~1.5 min on 2 cores)
DEFAULT_TRAIN, DEFAULT_TEST = 500, 25


@dataclass
class LevelEntry:
    """One level of a dataset split (or a bundled / raw map file)."""

    level_id: str
    category: str
    seed: int
    tier: int
    content_hash: str
    map_bytes: bytes = field(repr=False)
    metadata: dict = field(default_factory=dict, repr=False)
    style: str = "classic"


class Dataset:
    """A dataset directory with a ``train`` and/or a ``test`` split (see the module docstring)."""

    def __init__(self, path: Path, splits: dict[str, list[LevelEntry]], seeds: dict[str, int]):
        self.path = Path(path)
        self._splits = splits
        self.seeds = seeds

    @property
    def split_names(self) -> list[str]:
        return [s for s in SPLITS if s in self._splits]

    def split(self, name: str) -> list[LevelEntry]:
        """The levels of split ``name`` ("train" or "test"), in manifest order."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        if name not in self._splits:
            raise FormatError(str(self.path / name / "manifest.json"), "manifest",
                              f"this dataset has no {name} split")
        return self._splits[name]

    def categories(self, split: str) -> list[str]:
        cats = {e.category for e in self.split(split)}
        return sorted(cats, key=lambda c: (c not in CATEGORIES, CATEGORIES.index(c)
                                           if c in CATEGORIES else 0, c))

    def by_category(self, split: str) -> dict[str, list[LevelEntry]]:
        out: dict[str, list[LevelEntry]] = {c: [] for c in self.categories(split)}
        for e in self.split(split):
            out[e.category].append(e)
        return out

    def hashes(self) -> set[str]:
        return {e.content_hash for s in self._splits.values() for e in s}

    def find(self, level_id: str) -> tuple[str, LevelEntry]:
        """(split, entry) of the level with this id."""
        for s in self.split_names:
            for e in self._splits[s]:
                if e.level_id == level_id:
                    return s, e
        raise FormatError(str(self.path), "level id", f"no level {level_id!r} in this dataset")

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(v)}" for s, v in self._splits.items())
        return f"Dataset({str(self.path)!r}, {sizes})"


# ---- reading ---------------------------------------------------------------------------------

def load_dataset(path: str | os.PathLike) -> Dataset:
    """Load a dataset directory, checking every file.

    Raises :class:`FormatError` naming the file and field for: no split manifest, a manifest
    that is not valid JSON or lacks a field, a missing map file (or a folder, a device, a link
    out of the split, a file larger than any map), a map whose sha256 differs from the
    manifest's, a map the simulator's parser rejects, a level id or content listed twice, or a
    level present in both splits.
    """
    from ninjarl.sim.mapfile import parse_map

    root = Path(path)
    if not root.is_dir():
        raise FormatError(str(root), "dataset", "not a directory")
    splits: dict[str, list[LevelEntry]] = {}
    seeds: dict[str, int] = {}
    for name in SPLITS:
        mpath = root / name / "manifest.json"
        if not mpath.exists():
            continue
        manifest = _read_manifest(mpath)
        seeds[name] = manifest.get("seed", 0)
        entries = []
        seen: set[str] = set()
        contents: dict[str, str] = {}
        for i, rec in enumerate(manifest["levels"]):
            rec = _check_record(rec, mpath, i)
            if rec["id"] in seen:
                raise FormatError(str(mpath), f"levels[{i}].id", f"{rec['id']!r} listed twice")
            seen.add(rec["id"])
            if rec["hash"] in contents:       # one level twice would weigh double in sampling
                raise FormatError(str(mpath), f"levels[{i}].hash", f"the content of level "
                                  f"{contents[rec['hash']]!r} again")
            contents[rec["hash"]] = rec["id"]
            fpath = root / name / rec["file"]
            if not fpath.is_file():          # also a folder, a device, a dangling link
                raise FormatError(str(fpath), "file", f"missing or not a file (listed in {mpath} "
                                  f"as level {rec['id']!r})")
            if not fpath.resolve().is_relative_to((root / name).resolve()):
                raise FormatError(str(fpath), "file", "a link to outside the split; a dataset "
                                  "holds its own files")
            data = read_at_most(fpath, MAX_MAP_BYTES, "map")
            digest = hashlib.sha256(data).hexdigest()
            if digest != rec["hash"]:
                raise FormatError(str(fpath), "content hash", f"sha256 {digest[:16]}... does not "
                                  f"match the manifest's {rec['hash'][:16]}... (file corrupt?)")
            parse_map(data, path=str(fpath))
            entries.append(LevelEntry(rec["id"], rec["category"], rec["seed"], rec["tier"],
                                      rec["hash"], data, rec.get("metadata", {}),
                                      rec.get("style", "classic")))
        splits[name] = entries
    if not splits:
        raise FormatError(str(root / "train" / "manifest.json"), "manifest",
                          "missing: not a level dataset (no train/ or test/ manifest.json)")
    if "train" in splits and "test" in splits:
        both = {e.content_hash for e in splits["train"]} & {e.content_hash for e in splits["test"]}
        if both:
            raise FormatError(str(root / "test" / "manifest.json"), "levels",
                              f"{len(both)} level(s) also in the train split")
    return Dataset(root, splits, seeds)


def _read_manifest(mpath: Path) -> dict:
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise FormatError(str(mpath), "manifest", f"not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        raise FormatError(str(mpath), "manifest", f"not valid JSON: {e.msg} at line {e.lineno} "
                          f"column {e.colno}") from None
    if not isinstance(manifest, dict):
        raise FormatError(str(mpath), "manifest", "top level is not a JSON object")
    if manifest.get("format") != FORMAT:
        raise FormatError(str(mpath), "format", f"expected {FORMAT!r}, got "
                          f"{manifest.get('format')!r}")
    if manifest.get("version") != VERSION:
        raise FormatError(str(mpath), "version", f"unsupported version "
                          f"{manifest.get('version')!r} (this ninjarl reads {VERSION})")
    if not isinstance(manifest.get("levels"), list):
        raise FormatError(str(mpath), "levels", "missing or not a list")
    return manifest


_FIELDS = {"id": str, "category": str, "seed": int, "tier": int, "hash": str, "file": str}


def _check_record(rec, mpath: Path, i: int) -> dict:
    if not isinstance(rec, dict):
        raise FormatError(str(mpath), f"levels[{i}]", "not a JSON object")
    for key, typ in _FIELDS.items():
        if key not in rec:
            raise FormatError(str(mpath), f"levels[{i}].{key}", "missing")
        if not isinstance(rec[key], typ) or isinstance(rec[key], bool):
            raise FormatError(str(mpath), f"levels[{i}].{key}",
                              f"expected {typ.__name__}, got {type(rec[key]).__name__}")
    if not isinstance(rec.get("style", "classic"), str):
        raise FormatError(str(mpath), f"levels[{i}].style",
                          f"expected str, got {type(rec['style']).__name__}")
    f = Path(rec["file"])
    if f.is_absolute() or ".." in f.parts:
        raise FormatError(str(mpath), f"levels[{i}].file", f"{rec['file']!r} leaves the split")
    if len(rec["hash"]) != 64:
        raise FormatError(str(mpath), f"levels[{i}].hash", "not a sha256 hex digest")
    return rec


# ---- writing ---------------------------------------------------------------------------------

def level_seed(dataset_seed: int, split: str, category: str, k: int) -> int:
    """Generator seed of the k-th candidate of (split, category): 48 bits of a sha256, so the
    train and test seed spaces (and different dataset seeds) are separate."""
    text = f"ninjarl-levels:{int(dataset_seed)}:{split}:{category}:{int(k)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")


def _generate(args):
    """A generated level and, when ``solve_budget`` > 0, the planner's verdict on it:
    (level, winning inputs or None, why not)."""
    category, seed, solve_budget, style = args
    level = generate_level(category, seed, style)
    if not solve_budget:
        return level, None, ""
    from ninjarl.solve import PlannerConfig, solve_level
    result = solve_level(level.map_bytes, PlannerConfig(budget_frames=solve_budget),
                         name=level.level_id)
    return level, (result.inputs if result.solved else None), result.reason


def build_dataset(out: str | os.PathLike, train_per_category: int, test_per_category: int,
                  categories: Sequence[str] = CATEGORIES, seed: int = 0,
                  exclude_hashes: Iterable[str] = (), jobs: int = 1,
                  progress=None, solve_budget: int = 0,
                  unsolved: list | None = None,
                  styles: Sequence[str] = ("classic",)) -> Dataset:
    """Generate and write the splits with a non-zero count into ``out``; return the dataset.

    A split with count 0 is left as it is (so the train and test splits can be built in separate
    runs). Every new level's hash is distinct from all other levels of both splits, from any
    split already in ``out`` and from ``exclude_hashes`` (see the module docstring). ``jobs`` > 1
    generates in that many worker processes (the output does not depend on it); ``progress``,
    if given, is called as ``progress(split, category, done, total)``. An ``out/train`` or
    ``out/test`` that is not a ninjarl split (no manifest of this format) is never replaced:
    a ValueError names it.

    With ``solve_budget`` > 0 every level must also be *proven* solvable: the planner
    (:func:`ninjarl.solve.solve_level`, that many simulator frames) has to find a winning input
    sequence, which is stored next to the map as ``<id>.replay`` (compact v1) and named in the
    manifest (``"demo"``, ``"proven": true``). A level the reachability check accepted but the
    planner did not solve is replaced by the next draw and appended to ``unsolved`` (a list of
    dicts: split, category, id, seed, reason) so it can be looked at.

    ``styles`` names the generator styles to draw from ("classic", "open"); with several, the
    levels alternate between them (see the module docstring).
    """
    for c in categories:
        category_index(c)
    styles = tuple(styles)
    if not styles:
        raise ValueError("styles must name at least one generator style")
    for style in styles:
        check_style(style)
    if train_per_category < 0 or test_per_category < 0:
        raise ValueError("level counts must be non-negative")
    out = Path(out)
    counts = {"train": train_per_category, "test": test_per_category}
    _refuse_foreign_splits(out, [name for name in SPLITS if counts[name]])
    out.mkdir(parents=True, exist_ok=True)
    taken = set(exclude_hashes)
    for name in SPLITS:       # hashes of splits already there and not being rebuilt
        if counts[name] == 0 and (out / name / "manifest.json").exists():
            taken |= {e.content_hash for e in load_dataset(out).split(name)}
    with worker_pool(jobs) if jobs > 1 else nullcontext() as pool:
        for name in SPLITS:
            if counts[name]:
                levels = _generate_split(name, counts[name], categories, seed, taken, pool,
                                         progress, solve_budget, unsolved, styles)
                _write_split(out / name, name, seed, levels)
    return load_dataset(out)


def _refuse_foreign_splits(out: Path, names: Iterable[str]) -> None:
    """A split is replaced only if it is one: never a user's folder of that name."""
    for name in names:
        if (out / name).exists() and not _is_split(out / name):
            raise ValueError(f"{out / name}: exists and is not a ninjarl level split (no "
                             "ninjarl manifest.json); refusing to replace it: move it away or "
                             "choose another OUT")


def _is_split(path: Path) -> bool:
    """Whether ``path`` is a split directory written by ninjarl (a manifest of its format)."""
    try:
        manifest = json.loads((path / "manifest.json").read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def _generate_split(name, count, categories, seed, taken, pool, progress, solve_budget=0,
                    unsolved=None, styles=("classic",)):
    levels = []
    for cat in categories:
        got, k = [], 0
        while len(got) < count:
            need = count - len(got)
            batch = [(cat, level_seed(seed, name, cat, k + i), solve_budget,
                      styles[(k + i + category_index(cat)) % len(styles)])
                     for i in range(need)]
            k += need
            results = pool.map(_generate, batch, chunksize=4) if pool else map(_generate, batch)
            for g, demo, reason in results:
                if g.content_hash in taken:
                    continue
                if solve_budget and demo is None:
                    if unsolved is not None:
                        unsolved.append({"split": name, "category": cat, "id": g.level_id,
                                         "seed": g.seed, "reason": reason})
                    continue
                taken.add(g.content_hash)
                got.append((g, demo))
            if progress:
                progress(name, cat, len(got), count)
        levels += got
    return levels


def _write_split(final: Path, name: str, seed: int, levels) -> None:
    tmp = temp_dir(final.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        records = []
        for g, demo in levels:
            rel = f"{g.category}/{g.level_id}{EXT}"
            (tmp / g.category).mkdir(exist_ok=True)
            (tmp / rel).write_bytes(g.map_bytes)
            record = {"id": g.level_id, "category": g.category, "seed": g.seed,
                      "tier": g.tier, "hash": g.content_hash, "file": rel,
                      "style": g.style, "metadata": g.metadata}
            if demo is not None:
                demo_rel = f"{g.category}/{g.level_id}.replay"
                (tmp / demo_rel).write_bytes(encode_replay(g.map_bytes, demo, True))
                record.update(proven=True, demo=demo_rel)
            records.append(record)
        manifest = {"format": FORMAT, "version": VERSION, "generator_version": GENERATOR_VERSION,
                    "split": name, "seed": int(seed), "levels": records}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def merge_datasets(out: str | os.PathLike,
                   sources: Sequence[str | os.PathLike | Dataset]) -> Dataset:
    """Write into ``out`` the union of the ``sources`` datasets: their train splits as one
    train split and their test splits as one test split, each grouped by category in the
    order of :data:`CATEGORIES` (within a category, in source order). Use it to train on two
    generator families at once, e.g. the built-in set plus an open-style training split.

    A level (by content) in more than one source's split of the same name is kept once, where
    it first occurs; a level in one source's train split and another's test split is a
    ValueError (the held-out split would not be held out), as is a level id shared by two
    different levels. Stored planner demonstrations are not carried over. ``out`` is written
    like :func:`build_dataset`'s splits (each complete or not at all) and must not be one of
    the sources. A source is a dataset directory or a loaded :class:`Dataset`."""
    out = Path(out)
    datasets = [s if isinstance(s, Dataset) else load_dataset(s) for s in sources]
    if not datasets:
        raise ValueError("merge needs at least one source dataset")
    if any(out.resolve() == d.path.resolve() for d in datasets):
        raise ValueError(f"{out}: is one of the sources; merge into a new directory")
    _refuse_foreign_splits(out, SPLITS)
    merged: dict[str, list[LevelEntry]] = {}
    where: dict[str, tuple[str, Path]] = {}       # content hash -> (split, source)
    ids: dict[str, str] = {}                      # level id -> content hash
    for name in SPLITS:
        for dataset in datasets:
            if name not in dataset.split_names:
                continue
            for entry in dataset.split(name):
                first = where.get(entry.content_hash)
                if first is not None:
                    if first[0] != name:
                        raise ValueError(f"level {entry.level_id!r} is in the {name} split of "
                                         f"{dataset.path} and in the {first[0]} split of "
                                         f"{first[1]}")
                    continue
                if ids.get(entry.level_id, entry.content_hash) != entry.content_hash:
                    raise ValueError(f"level id {entry.level_id!r} of {dataset.path} names "
                                     "another level in an earlier source")
                where[entry.content_hash] = (name, dataset.path)
                ids[entry.level_id] = entry.content_hash
                merged.setdefault(name, []).append(entry)
    for name in SPLITS:
        if (out / name).exists() and name not in merged:
            raise ValueError(f"{out / name}: a {name} split that no source has would be left "
                             "beside the merged ones; merge into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    for name, entries in merged.items():
        entries.sort(key=lambda e: category_index(e.category))     # stable: source order kept
        _write_split(out / name, name, datasets[0].seeds.get(name, 0),
                     [(entry, None) for entry in entries])
    return load_dataset(out)


# ---- the built-in default ----------------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ninjarl" / "levels"


def default_dataset(jobs: int | None = None) -> Dataset:
    """The built-in dataset: ``DEFAULT_TRAIN`` train and ``DEFAULT_TEST`` test levels of every
    category from seed 0, generated on first use (deterministic) and cached under
    ``$XDG_CACHE_HOME/ninjarl/levels/default-v<generator version>`` (``~/.cache`` without
    ``XDG_CACHE_HOME``). A cache that fails to load (corrupt, partial) is rebuilt."""
    path = cache_dir() / DEFAULT_NAME
    try:
        ds = load_dataset(path)
        if (len(ds.split("train")) == DEFAULT_TRAIN * len(CATEGORIES)
                and len(ds.split("test")) == DEFAULT_TEST * len(CATEGORIES)):
            return ds
    except FormatError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(path.parent, prefix=f".{DEFAULT_NAME}.", suffix=".tmp")
    try:
        build_dataset(tmp, DEFAULT_TRAIN, DEFAULT_TEST, CATEGORIES, seed=0,
                      jobs=jobs if jobs is not None else min(os.cpu_count() or 1, 4))
        if path.exists():
            old = path.with_name(f".{DEFAULT_NAME}.old.{os.getpid()}")
            os.replace(path, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, path)
        except OSError:
            pass        # another process put a complete cache in place meanwhile
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_dataset(path)


# ---- any level source --------------------------------------------------------------------------

BUNDLED_GROUPS = ("official", "test", "bench")


def load_level_source(spec: str, split: str = "train") -> list[LevelEntry]:
    """Levels named by ``spec``, tried in this order:

    * a category name (``simplest`` ... ``exploration``): that category of the default
      dataset's ``split``;
    * ``default``: the default dataset's whole ``split``;
    * a bundled group (``official``, ``test``, ``bench``) or bundled map name
      (``official/000_the_basics``, ``test/simple-walk``);
    * a path: a dataset directory (its ``split``), a split directory (one holding
      ``manifest.json``), a directory of raw map files, or one raw map file.

    Bundled and raw maps get category = their directory name, seed 0 and tier -1.
    """
    from ninjarl.sim.mapfile import bundled_map_names, bundled_map_path

    if spec in CATEGORIES:
        return default_dataset().by_category(split)[spec]
    if spec == "default":
        return default_dataset().split(split)
    names = bundled_map_names()
    if spec in BUNDLED_GROUPS:
        return [_raw_entry(bundled_map_path(n)) for n in names if n.split("/")[0] == spec]
    if spec in names:
        return [_raw_entry(bundled_map_path(spec))]
    p = Path(spec)
    if not p.exists():
        raise FormatError(spec, "level source", "not a category, bundled map or existing path "
                          f"(categories: {', '.join(CATEGORIES)}; bundled groups: "
                          f"{', '.join(BUNDLED_GROUPS)})")
    if p.is_file():
        return [_raw_entry(p)]
    if any((p / s / "manifest.json").exists() for s in SPLITS):
        return load_dataset(p).split(split)
    if (p / "manifest.json").exists():
        return load_dataset(p.parent).split(p.name if p.name in SPLITS else split)
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                   and f.suffix != ".json")
    if not files:
        raise FormatError(str(p), "level source", "directory holds no map files")
    return [_raw_entry(f) for f in files]


def _raw_entry(path: Path) -> LevelEntry:
    """A level file (raw map, or a replay of any format: its level) as an entry."""
    from ninjarl.sim.source import map_bytes_from_file

    data = map_bytes_from_file(path)
    return LevelEntry(Path(path).stem if Path(path).suffix == EXT else Path(path).name,
                      Path(path).parent.name, 0, -1, hashlib.sha256(data).hexdigest(), data)


__all__ = ["Dataset", "LevelEntry", "TIERS", "build_dataset", "default_dataset",
           "load_dataset", "load_level_source", "level_seed"]
