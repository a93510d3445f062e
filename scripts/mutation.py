"""Mutation testing of the modules whose behaviour is a promise, one module at a time, with mutmut.

    python scripts/mutation.py                    # every module below, one after another
    python scripts/mutation.py checkpoint config  # only these
    python scripts/mutation.py --list             # the modules and the tests each one runs

    python scripts/mutation.py config --without-kills   # the score before the kill tests
    python scripts/mutation.py config --recheck         # survivors vs the kill tests

Needs ``pip install -e '.[mutation]'``. Each module gets its own workspace under
``.mutation/<name>/`` (git-ignored; moved to ``.mutation/run`` while it runs): the committed
``src/`` and ``tests/`` (``git archive HEAD``) and ``pyproject.toml`` with a ``[tool.mutmut]``
table that mutates only that module (or the functions listed) and runs only the tests that
cover it, so a run takes minutes rather than the whole suite per mutant. mutmut keeps its
results there: a re-run tries only the mutants of functions that changed. The score per module
(killed / all mutants) and the mutants not killed are printed at the end; ``mutmut show NAME``
inside the workspace shows a mutant's diff.

mutmut 3 skips decorated functions, so the numba kernels (``@jit``: the observation and reward
code, the simulator) are never mutated; the hand-written mutants of ``tests/test_mutants.py``
cover those. Results and the list of equivalent mutants: ``docs/mutation.md``.

Too slow for CI (tens of minutes). The machine is shared, so it runs under ``nice -n 19`` with
``--children`` worker processes (default 2).
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
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
    kills: str = ""          # -k selection of its tests in tests/test_mutation_kills.py
                             # (default: the entry's name and "_")


MODULES: dict[str, Target] = {
    "config": Target("src/ninjarl/env/config.py", [
        "tests/test_env.py", "tests/test_observations.py", KILLS,
        "-k", "reward or time_limit or stuck or rejected or config_"]),
    "evaluate": Target("src/ninjarl/eval/evaluate.py", [
        "tests/test_eval.py", "tests/test_honest.py", KILLS,
        # every function (the properties are skipped, as all decorated code). The two tests of
        # tests/test_eval.py that train an agent first (equals_the_evaluate_api, refused: 10 s
        # per mutant) are left out; the rest take a second or two per mutant
        "-k", "wilson or statistics or evaluate_ and not equals_the_evaluate"]),
    "curriculum": Target("src/ninjarl/train/curriculum.py", [
        "tests/test_curriculum.py", KILLS, "-k", "not kills or curriculum_"]),
    "checkpoint": Target("src/ninjarl/train/checkpoint.py", [
        "tests/test_train.py", "tests/test_robustness.py", KILLS,
        "-k", "saved_agent or trainer_document or damaged or checkpoint_"],
        # reading and checking a checkpoint; saving and restoring are covered by the resume
        # tests and the hand-written mutants of tests/test_honest.py (minutes per mutant here)
        functions=["*_check_trainer*", "*read_checkpoint*", "*x__array*", "*_read_arrays*",
                   "*load_policy*", "*load_weights*", "*_json_default*"]),
    "checkpoint_trainer": Target("src/ninjarl/train/checkpoint.py", [
        "tests/test_train.py", "tests/test_robustness.py", KILLS,
        "-k", "saved_agent or trainer_document or damaged or checkpoint_"],
        # the checks of trainer.json and read_checkpoint alone: the part of the entry above
        # that its first run (stopped for time) never tried
        functions=["*_check_trainer*", "*read_checkpoint*"], kills="checkpoint_"),
    "dataset": Target("src/ninjarl/levels/dataset.py", [
        "tests/test_levels.py", "tests/test_robustness.py", "tests/test_honest.py", KILLS,
        "-k", "dataset or overlap or manifest or level_sources or exclusion or split_built or "
              "dataset_"],
        # drawing a split's levels: what keeps the splits disjoint (the hash already taken is
        # skipped, the next candidate drawn). Each mutant runs dataset builds (about a minute
        # on the shared machine); building and reading a dataset are the next entries
        functions=["*_generate_split*"]),
    "dataset_build": Target("src/ninjarl/levels/dataset.py", [
        "tests/test_levels.py", "tests/test_robustness.py", "tests/test_honest.py", KILLS,
        "-k", "dataset or overlap or manifest or level_sources or exclusion or split_built or "
              "dataset_"],
        # building and writing the splits (build_dataset: the exclusion of every hash taken,
        # counts of 0 leaving a split alone, refusing to replace what is not a split), the
        # built-in level set and bundled level sources. The tests that reach them build small
        # datasets (about 11 s per mutant)
        functions=["*x_build_dataset*", "*x__write_split*", "*x__is_split*",
                   "*x_default_dataset*", "*x_load_level_source*", "*x__raw_entry*"],
        kills="dataset_ and not dataset_reading_"),
    "dataset_reading": Target("src/ninjarl/levels/dataset.py", [
        "tests/test_levels.py", KILLS,
        "-k", "dataset_layout or corrupt_dataset or level_sources or dataset_reading_"],
        # reading a dataset: every check of load_dataset and the Dataset it returns. The tests
        # of tests/test_levels.py that read its small dataset (a build of 10 levels, about 5 s,
        # per mutant); those of tests/test_robustness.py train an agent first (left out)
        functions=["*x_load_dataset*", "*x__check_record*", "*x__read_manifest*",
                   "*xǁDatasetǁ*"]),
    "transfer": Target("src/ninjarl/train/transfer.py", ["tests/test_transfer.py", KILLS,
                                                          "-k", "not kills or transfer_"],
        # the flat transfer's refusals and strict load (its tests train: about a minute per
        # mutant on the shared machine); the hierarchical mapping and the report: next entry
        functions=["*check_compatible*", "*transfer_weights*"]),
    "transfer_hierarchical": Target("src/ninjarl/train/transfer.py", [
        "tests/test_transfer.py", "tests/test_hierarchical.py", KILLS,
        "-k", "test_transfer.py or bc_transfer or sources_and_initialisations or "
              "transfer_hierarchical_"],
        # a flat policy mapped into a hierarchical one, and the transfer report (its text,
        # its JSON document, the file). The tests that reach them train the source first
        functions=["*transfer_hierarchical*", "*hierarchical_source*", "*xǁTransferReportǁ*",
                   "*write_report*"]),
}

#: mutmut's exit-code statuses that count as a killed mutant
KILLED = {"killed", "timeout", "caught by type check"}
#: mutmut's status of a mutant that a stopped run never tried (not a survivor)
NOT_TRIED = "not checked"
#: seconds the kill tests may take on one mutant in ``--recheck`` (they take about 10 s)
RECHECK_TIMEOUT_S = 300


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def activate(name: str) -> Path:
    """Move module ``name``'s workspace to the one active path, ``.mutation/run``.

    numba's on-disk cache is keyed on each source file's path (and modification time, which the
    copies keep), so with every module run at the same path the compiled simulator is reused
    from one module's run to the next instead of compiled cold (minutes) each time.
    """
    active = WORK / "run"
    if active.exists():                                  # left by an interrupted run
        active.rename(WORK / (active / "MODULE").read_text().strip())
    stored = WORK / name
    if stored.exists():
        stored.rename(active)
    active.mkdir(parents=True, exist_ok=True)
    (active / "MODULE").write_text(name)
    return active


def deactivate(name: str) -> None:
    (WORK / "run").rename(WORK / name)


def prepare(name: str, without_kills: bool) -> Path:
    """The active workspace for ``name``: the committed sources and tests (``git archive HEAD``:
    not the uncommitted edits of a shared checkout) and a ``[tool.mutmut]`` table that mutates
    only the module and selects only the tests that cover it."""
    target = MODULES[name]
    work = activate(name)
    for folder in ("src", "tests"):
        shutil.rmtree(work / folder, ignore_errors=True)
    archive = subprocess.run(["git", "archive", "HEAD", "src", "tests"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    if without_kills:            # the score of the other tests alone: keep only the docstring
        kills = work / KILLS
        kills.write_text(kills.read_text().split('"""\n', 1)[0] + '"""\n')
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
    module = target.module.removeprefix("src/").removesuffix(".py").replace("/", ".") + "."
    return {m: status for m, status in found.items() if m.startswith(module)
            and (not target.functions or any(fnmatch(m, f) for f in target.functions))}


def run(name: str, children: int, recheck: bool, without_kills: bool) -> None:
    """Mutate one module and print its score; ``recheck``: re-run only its surviving mutants
    (mutmut keeps earlier verdicts, so tests added since would otherwise not be tried)."""
    target = MODULES[name]
    WORK.mkdir(exist_ok=True)
    with open(WORK / ".lock", "w") as lock:
        try:     # one run at a time: a second would move the first's workspace away under it
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(f"another mutation run is using {WORK / 'run'}; wait for it to finish")
        work = prepare(name, without_kills)
        try:
            report(name, target, work, children, recheck)
        finally:
            deactivate(name)


def report(name: str, target: Target, work: Path, children: int, recheck: bool) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               NUMBA_CACHE_DIR=str(WORK / "numba-cache"))
    if recheck:
        verdicts = results(work, env, target) | recheck_survivors(name, target, work, env)
    else:
        subprocess.run(["nice", "-n", "19", sys.executable, "-m", "mutmut", "run",
                        "--max-children", str(children), *target.functions],
                       cwd=work, env=env, check=False)
        verdicts = results(work, env, target)
    statuses = Counter(verdicts.values())
    killed = sum(statuses[s] for s in KILLED)
    total = len(verdicts)
    print(f"\n== {name}: {killed}/{total} killed"
          + (f" ({100 * killed / total:.1f}%)" if total else "") + f"; {dict(statuses)}")
    for mutant, status in verdicts.items():
        if status not in KILLED:
            print(f"   not killed: {mutant} ({status})")


def recheck_survivors(name: str, target: Target, work: Path, env: dict) -> dict[str, str]:
    """Each mutant that survived the last run, tried against this module's tests in
    tests/test_mutation_kills.py only: the other tests already let it live, so these decide.
    Mutants that a stopped run never tried are left for a later run. One process imports the
    tests once (:func:`try_mutants`); verdicts are kept in ``recheck.json`` (a later recheck
    starts from them)."""
    saved = work / "recheck.json"
    verdicts = json.loads(saved.read_text()) if saved.exists() else {}
    statuses = results(work, env, target)
    todo = [mutant for mutant, status in statuses.items()
            if status not in KILLED and status != NOT_TRIED and verdicts.get(mutant) not in KILLED]
    # the trampolined copy of the sources that mutmut run wrote, with the committed kill tests
    worker_env = env | {"PYTHONPATH": str(work / "mutants" / "src"),
                        "PYTHONDONTWRITEBYTECODE": "1"}
    worker = subprocess.Popen(
        ["nice", "-n", "19", sys.executable, __file__, "--try-mutants", target.kills or f"{name}_",
         *todo],
        cwd=work, env=worker_env, stdout=subprocess.PIPE, text=True)
    for line in worker.stdout:
        mutant, verdict = line.split()
        verdicts[mutant] = verdict if verdict in KILLED else statuses[mutant]
        print(f"   {verdicts[mutant]}: {mutant}", flush=True)
        saved.write_text(json.dumps(verdicts, indent=1))
    worker.wait()
    return verdicts


def try_mutants(selection: str, mutants: list[str]) -> None:
    """Run inside a workspace with its trampolined sources (``mutants/src``) first on the path:
    import the kill tests once, then for each mutant fork a child that activates it (mutmut's
    trampolines call the mutant named by ``MUTANT_UNDER_TEST``) and runs the tests selected by
    ``-k selection``. Prints one line per mutant: its name and ``killed`` (a test failed),
    ``timeout`` (past ``RECHECK_TIMEOUT_S``: the mutant made a test loop, as mutmut counts it)
    or ``survived``."""
    import pytest
    args = [KILLS, "-k", selection, "-x", "-q", "-p", "no:cacheprovider"]
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        collected = pytest.main([*args, "--collect-only"])   # imports torch, the package, tests
    if collected == pytest.ExitCode.NO_TESTS_COLLECTED:   # every mutant would "survive"
        sys.exit(f"{KILLS} -k {selection!r} selects no test: set the entry's kills")
    for mutant in mutants:
        child = os.fork()
        if child == 0:
            os.environ["MUTANT_UNDER_TEST"] = mutant
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os._exit(int(pytest.main(args)))
        deadline = time.monotonic() + RECHECK_TIMEOUT_S
        while (done := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if done[0] == 0:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            verdict = "timeout"
        else:     # exit 1: a test failed; anything else (0 passed, 5 none selected) lets it live
            verdict = "killed" if os.waitstatus_to_exitcode(done[1]) == 1 else "survived"
        print(mutant, verdict, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="default: all of " + ", ".join(MODULES))
    parser.add_argument("--children", type=int, default=2, help="parallel mutant workers")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--recheck", action="store_true",
                        help="try only the mutants that survived the last run, against the "
                             f"module's tests in {KILLS}")
    parser.add_argument("--without-kills", action="store_true",
                        help=f"leave out {KILLS} (the score before those tests)")
    parser.add_argument("--try-mutants", nargs="+", metavar=("SELECTION", "MUTANT"),
                        help=argparse.SUPPRESS)       # the worker of --recheck (try_mutants)
    args = parser.parse_args()
    if args.try_mutants:
        try_mutants(args.try_mutants[0], args.try_mutants[1:])
        return
    if args.list:
        for name, target in MODULES.items():
            print(f"{name:12} {target.module} {' '.join(target.functions)}\n"
                  f"{'':12} {' '.join(target.tests)}")
        return
    unknown = [name for name in args.modules if name not in MODULES]
    if unknown:
        parser.error(f"unknown modules {unknown}; choose from {list(MODULES)}")
    for name in args.modules or MODULES:
        run(name, args.children, args.recheck, args.without_kills)


if __name__ == "__main__":
    main()
