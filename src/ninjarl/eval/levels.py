"""Which levels an evaluation plays: level-set specs resolved to (id, category, map bytes).

A SPEC is one of, tried in this order:

* a category name (``simplest`` ... ``exploration``): that category of the built-in level
  set's **test** split;
* ``official``: the bundled official N++ levels (category ``official``); ``test``: the
  bundled test maps (category ``test``);
* a dataset directory (one holding ``train/`` and/or ``test/`` with manifests): its test
  split, or its training split with ``DIR:train``; categories from the manifest;
* a directory of raw map (or replay) files: a file inside a sub-folder gets the sub-folder's
  name as its category, a file directly inside gets category ``custom``;
* a single map file or a replay file of either format (its level): category ``custom``.

A SPEC that names nothing, or a directory without a single level, is a
:class:`~ninjarl.sim.FormatError` naming the spec.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..levels import CATEGORIES, default_dataset, load_dataset, load_level_source
from ..levels.dataset import SPLITS
from ..sim import FormatError
from ..sim.source import map_bytes_from_file

CUSTOM = "custom"
BUNDLED_SETS = ("official", "test")


@dataclass(frozen=True)
class EvalLevel:
    """One level to evaluate on: an id unique within its spec, its category, its bytes."""
    level_id: str
    category: str
    map_bytes: bytes = field(repr=False)


def resolve_spec(spec: str) -> list[EvalLevel]:
    """The levels ``spec`` names (see the module docstring), in a deterministic order."""
    if spec in CATEGORIES:
        return [_entry(e) for e in default_dataset().by_category("test")[spec]]
    if spec in BUNDLED_SETS:
        return [EvalLevel(e.level_id, spec, e.map_bytes) for e in load_level_source(spec)]
    path, split = Path(spec), "test"
    if not path.exists() and ":" in spec:
        head, _, tail = spec.rpartition(":")
        if tail in SPLITS and Path(head).is_dir():
            path, split = Path(head), tail
    if path.is_dir() and any((path / s / "manifest.json").is_file() for s in SPLITS):
        dataset = load_dataset(path)
        if split not in dataset.split_names:
            raise FormatError(spec, "level set", f"the dataset has no {split} split "
                              f"(it has {', '.join(dataset.split_names)})")
        return [_entry(e) for e in dataset.split(split)]
    if path.is_dir():
        levels = _raw_directory(path)
        if not levels:
            raise FormatError(spec, "level set", "the directory holds no map or replay files")
        return levels
    if path.is_file():
        return [EvalLevel(path.stem, CUSTOM, map_bytes_from_file(path))]
    raise FormatError(spec, "level set",
                      "not a category, 'official', 'test', a dataset directory, a directory of "
                      f"map files or a map/replay file (categories: {', '.join(CATEGORIES)})")


def resolve_specs(specs: Sequence[str]) -> list[EvalLevel]:
    """The levels of several specs, in order; a level named twice is played once."""
    seen, out = set(), []
    for spec in specs:
        for level in resolve_spec(spec):
            key = (level.category, level.level_id, level.map_bytes)
            if key not in seen:
                seen.add(key)
                out.append(level)
    return out


def _entry(entry) -> EvalLevel:
    return EvalLevel(entry.level_id, entry.category, entry.map_bytes)


def _raw_directory(root: Path) -> list[EvalLevel]:
    levels = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if (not path.is_file() or path.suffix == ".json"
                or any(part.startswith(".") for part in relative.parts)):
            continue
        category = relative.parts[0] if len(relative.parts) > 1 else CUSTOM
        levels.append(EvalLevel(str(relative.with_suffix("")), category,
                                map_bytes_from_file(path)))
    return levels
