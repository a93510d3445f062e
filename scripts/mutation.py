"""Mutation testing of the modules whose behaviour is a promise, one module at a time, with mutmut.

    python scripts/mutation.py                    # every module below, one after another
    python scripts/mutation.py checkpoint config  # only these
    python scripts/mutation.py --list             # the modules and the tests each one runs

Needs ``pip install -e '.[mutation]'``. Each module gets its own workspace under
``.mutation/<name>/`` (git-ignored): a fresh copy of ``src/``, ``tests/`` and ``pyproject.toml``
with a ``[tool.mutmut]`` table that mutates only that module and runs only the tests that cover
it, so a run finishes in minutes rather than running the whole suite per mutant. mutmut keeps
its results there: a re-run tests only the mutants of functions that changed. The score per
module (killed / all mutants) and the surviving mutants' names are printed at the end;
``mutmut show NAME`` inside the workspace shows a mutant's diff.

mutmut 3 skips decorated functions, so the numba kernels (``@jit``: the observation and reward
code, the simulator) are never mutated; the hand-written mutants of ``tests/test_mutants.py``
cover those. Results and the list of equivalent mutants: ``docs/mutation.md``.

Too slow for CI (tens of minutes). The machine is shared, so it runs under ``nice -n 19`` with
``--children`` worker processes (default 2).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"

#: tests/test_mutation_kills.py holds the tests written to kill surviving mutants; its test
#: names start with the module's name, which each -k expression below selects
KILLS = "tests/test_mutation_kills.py"


@dataclass(frozen=True)
class Target:
    module: str              # the file to mutate
    tests: list[str]         # pytest arguments selecting the tests that cover it
    functions: list[str] = field(default_factory=list)   # mutant-name patterns; empty: all


MODULES: dict[str, Target] = {
    "config": Target("src/ninjarl/env/config.py", [
        "tests/test_env.py", "tests/test_observations.py", KILLS,
        "-k", "reward or time_limit or stuck or rejected or config_"]),
    "evaluate": Target("src/ninjarl/eval/evaluate.py", [
        "tests/test_eval.py", "tests/test_honest.py", KILLS,
        "-k", "wilson or statistics or counts or refused or equals_the_evaluate or evaluate_"]),
    "curriculum": Target("src/ninjarl/train/curriculum.py", [
        "tests/test_curriculum.py", KILLS, "-k", "not kills or curriculum_"]),
    "checkpoint": Target("src/ninjarl/train/checkpoint.py", [
        "tests/test_train.py", "tests/test_robustness.py", "tests/test_honest.py", KILLS,
        "-k", "resume or saved_agent or load_agent or trainer_document or damaged or checkpoint_"]),
    "dataset": Target("src/ninjarl/levels/dataset.py", [
        "tests/test_levels.py", "tests/test_robustness.py", "tests/test_honest.py", KILLS,
        "-k", "dataset or overlap or manifest or level_sources or exclusion or split_built or "
              "dataset_"],
        # the splits: building, excluding, reading back
        functions=["*build_dataset*", "*_generate_split*", "*load_dataset*", "*_check_record*",
                   "*_read_manifest*", "*xǁDatasetǁ*"]),
    "transfer": Target("src/ninjarl/train/transfer.py", ["tests/test_transfer.py", KILLS,
                                                          "-k", "not kills or transfer_"]),
}

#: mutmut's exit-code statuses that count as a killed mutant
KILLED = {"killed", "timeout", "caught by type check"}


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def prepare(name: str) -> Path:
    """The module's workspace with a fresh copy of the sources and tests and its mutmut table."""
    target = MODULES[name]
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for folder in ("src", "tests"):
        shutil.rmtree(work / folder, ignore_errors=True)
        shutil.copytree(ROOT / folder, work / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    table = (f"\n[tool.mutmut]\nsource_paths = [\"src\"]\nonly_mutate = {toml_list([target.module])}\n"
             f"pytest_add_cli_args_test_selection = {toml_list(target.tests)}\n"
             # torch and numba's thread pools are not fork-safe: workers fork from a clean server
             "process_isolation = \"forkserver\"\n")
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + table)
    return work


def results(work: Path, env: dict, target: Target) -> dict[str, str]:
    """mutant name -> status, for the mutants of ``target`` (its functions, if it names any)."""
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                             cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    found = dict(re.findall(r"^\s*(\S+): (.+)$", listing, re.MULTILINE))
    return {m: status for m, status in found.items()
            if not target.functions or any(fnmatch(m, f) for f in target.functions)}


def run(name: str, children: int, recheck: bool) -> None:
    """Mutate one module and print its score; ``recheck``: re-run only its surviving mutants
    (mutmut keeps earlier verdicts, so tests added since would otherwise not be tried)."""
    target = MODULES[name]
    work = prepare(name)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               NUMBA_CACHE_DIR=str(work / "numba-cache"))
    chosen = target.functions
    if recheck:
        chosen = [m for m, status in results(work, env, target).items() if status not in KILLED]
        if not chosen:
            print(f"== {name}: no surviving mutants to re-check")
            return
    subprocess.run(["nice", "-n", "19", sys.executable, "-m", "mutmut", "run",
                    "--max-children", str(children), *chosen], cwd=work, env=env, check=False)
    verdicts = results(work, env, target)
    statuses = Counter(verdicts.values())
    killed = sum(statuses[s] for s in KILLED)
    total = len(verdicts)
    print(f"\n== {name}: {killed}/{total} killed"
          + (f" ({100 * killed / total:.1f}%)" if total else "") + f"; {dict(statuses)}")
    for mutant, status in verdicts.items():
        if status not in KILLED:
            print(f"   not killed: {mutant} ({status})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="default: all of " + ", ".join(MODULES))
    parser.add_argument("--children", type=int, default=2, help="parallel mutant workers")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--recheck", action="store_true",
                        help="re-run only the mutants that survived the last run (after adding tests)")
    args = parser.parse_args()
    if args.list:
        for name, target in MODULES.items():
            print(f"{name:12} {target.module} {' '.join(target.functions)}\n"
                  f"{'':12} {' '.join(target.tests)}")
        return
    unknown = [name for name in args.modules if name not in MODULES]
    if unknown:
        parser.error(f"unknown modules {unknown}; choose from {list(MODULES)}")
    for name in args.modules or MODULES:
        run(name, args.children, args.recheck)


if __name__ == "__main__":
    main()
