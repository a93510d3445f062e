"""ninjarl.levels — generated levels by difficulty, solvability checks and datasets.

* :func:`generate_level` ``(category, seed, style="classic")`` -> :class:`GeneratedLevel`:
  deterministic, solvability-checked levels of the seven :data:`CATEGORIES` in one of the
  generator :data:`STYLES` (see :mod:`.generators` and :mod:`.styles`).
* :func:`check_solvable`: mine-avoiding physics-aware reachability (see :mod:`.solvability`).
* :func:`build_dataset`, :func:`merge_datasets`, :func:`load_dataset`, :func:`default_dataset`,
  :func:`load_level_source`: train/test datasets of raw map files with JSON manifests
  (see :mod:`.dataset`).
"""
from .common import CATEGORIES, TIERS, GeneratedLevel
from .dataset import (
                      Dataset,
                      LevelEntry,
                      build_dataset,
                      default_dataset,
                      level_seed,
                      load_dataset,
                      load_level_source,
                      merge_datasets,
)
from .generators import GENERATOR_VERSION, LIMITS, generate_level
from .solvability import Solvability, check_solvable
from .styles import OPEN_LIMITS, STYLES

__all__ = ["CATEGORIES", "GENERATOR_VERSION", "LIMITS", "OPEN_LIMITS", "STYLES", "TIERS", "Dataset",
           "GeneratedLevel", "LevelEntry", "Solvability", "build_dataset", "check_solvable",
           "default_dataset", "generate_level", "level_seed", "load_dataset", "load_level_source",
           "merge_datasets"]
