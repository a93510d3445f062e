"""Mutation check of tests/test_observations.py: a fixed list of hand-written one-line bugs in
the observation, reward and episode-end kernels, each of which those tests must catch.

The package source is copied once to a temporary directory; a subprocess runs the relevant tests
of tests/test_observations.py against the copy (``PYTHONPATH=<tmp>/src``, its own
``NUMBA_CACHE_DIR=<tmp>/numba``), first unmutated (they must pass), then with each mutant applied
in turn (they must fail). Mutants are applied to the copy only, never to the working tree.

numba keys its cache on the content of the decorated function's own source file, but the
environment's kernels link in functions of the package's other modules (the objective's
distances in the reward and observation kernels). So every write here also gives every other
module of the file's package a comment naming the write: a mutant never runs stale compiled
code, and the other packages' compiled kernels (the simulator's) are reused from the first
(unmutated) run. That first run compiles
the whole package in a fresh cache (minutes), hence ``slow``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TEST_FILE = ROOT / "tests" / "test_observations.py"
OBS = "src/ninjarl/env/observations.py"
REW = "src/ninjarl/env/rewards.py"
OBJ = "src/ninjarl/env/objective.py"
RECORDED = "test_observations_match_raw_state"
REWARDS = "test_rewards_and_episode_ends"


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str            # relative to the repository root
    original: str        # must occur exactly once in the file
    mutated: str
    tests: str           # pytest -k expression of the tests that catch it


MUTANTS = [
    Mutant("M1-yspeed-reads-xspeed", OBS,
           "o[3] = _clip1(f[n, VY] / SPEED_NORM)", "o[3] = _clip1(f[n, VX] / SPEED_NORM)",
           f"test_hand_built_ninja_physics or {RECORDED}"),
    Mutant("M2-switch-flag-always-0", OBS,
           "o[25] = 1.0 if switched else 0.0", "o[25] = 0.0",
           f"test_hand_built_objective or {RECORDED}"),
    Mutant("M3-hazard-x-y-swapped", OBS,
           "o[29] = hx / HAZARD_RANGE\n        o[30] = hy / HAZARD_RANGE",
           "o[29] = hy / HAZARD_RANGE\n        o[30] = hx / HAZARD_RANGE",
           f"test_hand_built_nearest_mine or test_hand_built_hazard or {RECORDED}"),
    Mutant("M4-direction-x-y-swapped", OBS,
           "o[7] = bx / norm if norm > 0 else 0.0\n        o[8] = by / norm if norm > 0 else 0.0",
           "o[7] = by / norm if norm > 0 else 0.0\n        o[8] = bx / norm if norm > 0 else 0.0",
           f"test_hand_built_reachability or {RECORDED}"),
    Mutant("M5-reachable-fraction-dropped", OBS,
           "o[6] = fraction[lv]", "o[6] = 0.0",
           f"test_hand_built_reachability or {RECORDED}"),
    Mutant("M6-switch-bonus-not-paid", REW,
           "r += rew[R_SWITCH]", "r += 0.0",
           REWARDS),
    Mutant("M7-time-limit-one-step-late", REW,
           "env_i[n, I_FRAMES] >= max_frames", "env_i[n, I_FRAMES] > max_frames",
           "test_time_limit_truncates or test_every_death_and_timeout"),
    Mutant("M8-death-penalty-not-paid", REW,
           "r += rew[R_DEATH]", "r += 0.0",
           f"{REWARDS} or test_every_death_and_timeout"),
    Mutant("M9-safe-toggle-mine-is-a-hazard", OBS,
           "if st.ent_i[n, e, E_STATE] == 1:          # safe toggle mine\n"
           "            return False",
           "if st.ent_i[n, e, E_STATE] == 1:          # safe toggle mine\n"
           "            pass",
           f"test_hand_built_nearest_mine or test_hand_built_hazard or {RECORDED}"),
    Mutant("M10-closed-locked-door-ignored", OBJ,
           "if not any_closed:\n        return straight, -1",
           "if True:\n        return straight, -1",
           f"test_hand_built_objective_through or {RECORDED}"),
    Mutant("M11-mines-not-avoided", OBJ,
           "to_switch=np.stack([nav.safe_dist_to_switch for nav in navs])",
           "to_switch=np.stack([nav.dist_to_switch for nav in navs])",
           f"test_hand_built_objective or {RECORDED} or {REWARDS}"),
]


class MutationSandbox:
    """A copy of the package source in which one file at a time can be swapped."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        shutil.copytree(ROOT / "src", tmp / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
        self.env.update(PYTHONPATH=str(tmp / "src"), NUMBA_CACHE_DIR=str(tmp / "numba"),
                        PYTHONDONTWRITEBYTECODE="1")
        self._writes = 0
        self._originals: dict[Path, str] = {}

    def write(self, relative: str, text: str) -> None:
        path = self.tmp / relative
        path.write_text(text)
        # new content for the modules whose kernels may link in this file's functions
        self._writes += 1
        for module in path.parent.glob("*.py"):
            if module != path:
                original = self._originals.setdefault(module, module.read_text())
                module.write_text(f"{original}\n# sandbox write {self._writes}\n")

    def run(self, args: list[str], timeout: float = 1800) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=self.tmp, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def pytest(self, tests: str, *extra: str) -> subprocess.CompletedProcess:
        return self.run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(ROOT),
                         "-c", str(ROOT / "pyproject.toml"), str(TEST_FILE), "-k", tests, *extra])


def apply(mutant: Mutant, source: str) -> str:
    assert source.count(mutant.original) == 1, f"{mutant.name}: snippet not found exactly once"
    return source.replace(mutant.original, mutant.mutated)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    box = MutationSandbox(tmp_path_factory.mktemp("mutants"))
    where = box.run(["-c", "import ninjarl; print(ninjarl.__file__)"])
    assert where.returncode == 0 and where.stdout.strip().startswith(str(box.tmp)), where
    everything = " or ".join(f"({m.tests})" for m in MUTANTS)
    clean = box.pytest(everything)
    assert clean.returncode == 0, "unmutated copy fails:\n" + clean.stdout[-4000:] + clean.stderr[-2000:]
    return box


def test_unmutated_copy_passes(sandbox):
    """The fixture already ran every selected test on the unmutated copy and saw them pass."""
    assert (sandbox.tmp / "numba").is_dir()


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_is_caught(sandbox, mutant):
    original = (sandbox.tmp / mutant.file).read_text()
    sandbox.write(mutant.file, apply(mutant, original))
    try:
        result = sandbox.pytest(mutant.tests, "-x")
    finally:
        sandbox.write(mutant.file, original)
    # exit code 1: tests ran and some failed (2-5 would be an interrupted or broken run)
    assert result.returncode == 1 and " failed" in result.stdout, (
        f"{mutant.name} survived (exit {result.returncode}):\n{result.stdout[-3000:]}"
        f"{result.stderr[-2000:]}")
