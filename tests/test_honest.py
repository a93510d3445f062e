"""Tests that can fail (issue 17, part 2): each one sets up the situation in which the code
under test has something to do, and checks a control showing that without that code the result
would differ.

* dataset disjointness: builds whose candidate levels *do* collide without exclusion;
* exact resume: several levels, a curriculum, frame stack 2, killed right after a mid-run
  checkpoint and resumed through the CLI;
* ``load_agent`` against the model object that finished training;
* ``evaluate`` counting known wins, deaths (by cause) and time-outs;
* ``--envs auto`` measured for real;
* generated levels solved by the planner and the plan replayed to a win.

``test_a_mutant_is_caught`` (slow) checks that these tests fail on one-line bugs in a copy of the
package (never in the working tree).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ninjarl.cli import main
from ninjarl.env import EnvConfig, make_vec_env
from ninjarl.eval import evaluate
from ninjarl.levels import build_dataset, generate_level, level_seed, load_dataset
from ninjarl.sim import build_level, simulate_inputs
from ninjarl.solve import PlannerConfig, solve_level
from ninjarl.train import autotune, demos, load_agent, train
from ninjarl.train import ppo as ppo_module
from ninjarl.train.config import PlannerBCConfig
from ninjarl.train.curriculum import CurriculumConfig

from conftest import MAPS
from test_train import tiny_config

ROOT = Path(__file__).resolve().parents[1]


def quiet(*_):
    pass


def _hashes(entries) -> list[str]:
    return [e.content_hash for e in entries]


# ---- 1. disjoint datasets --------------------------------------------------------------------

N = 8            # simplest levels per split: candidates k = 0..7 of one (seed, split)
SEED = 3


def test_exclusion_is_what_keeps_a_rebuild_with_the_same_seed_disjoint(tmp_path):
    a = _hashes(build_dataset(tmp_path / "a", 0, N, categories=("simplest",), seed=SEED)
                .split("test"))
    # control: the same build again without exclusion draws the very same levels
    again = _hashes(build_dataset(tmp_path / "again", 0, N, categories=("simplest",),
                                  seed=SEED).split("test"))
    assert again == a and len(set(a)) == N

    # API: exclude_hashes
    b = _hashes(build_dataset(tmp_path / "b", 0, N, categories=("simplest",), seed=SEED,
                              exclude_hashes=set(a)).split("test"))
    assert len(b) == N and not set(b) & set(a), "exclude_hashes did not exclude"
    expected_next = [generate_level("simplest", level_seed(SEED, "test", "simplest", k))
                     .content_hash for k in range(N, 2 * N)]
    assert b == expected_next                       # the next draws, in order

    # CLI: --exclude DATASET
    assert main(["levels", "build", str(tmp_path / "c"), "--test", str(N), "--categories",
                 "simplest", "--seed", str(SEED), "--exclude", str(tmp_path / "a"),
                 "--jobs", "1"]) == 0
    c = _hashes(load_dataset(tmp_path / "c").split("test"))
    assert len(c) == N and not set(c) & set(a), "--exclude did not exclude"


# seed 1's first 20 training levels and seed 49's first 10 test candidates share one level
# (candidate k = 8); found by search, checked by the control below
TRAIN_SEED, TRAIN_N, TEST_SEED, TEST_N = 1, 20, 49, 10


def test_a_test_split_built_later_into_the_same_out_skips_the_training_levels(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["levels", "build", str(out), "--train", str(TRAIN_N), "--categories",
                 "simplest", "--seed", str(TRAIN_SEED), "--jobs", "1"]) == 0
    train_hashes = set(_hashes(load_dataset(out).split("train")))
    # control: the same test split built elsewhere (no training split there) collides
    alone = _hashes(build_dataset(tmp_path / "alone", 0, TEST_N, categories=("simplest",),
                                  seed=TEST_SEED).split("test"))
    shared = set(alone) & train_hashes
    assert shared, "no collision: the test below could not fail"

    # later, another run, another seed, the same OUT (a repeated level would make the dataset
    # unreadable: load_dataset refuses overlapping splits, and the command reports it)
    assert main(["levels", "build", str(out), "--test", str(TEST_N), "--categories",
                 "simplest", "--seed", str(TEST_SEED), "--jobs", "1"]) == 0, capsys.readouterr().err
    ds = load_dataset(out)
    test = _hashes(ds.split("test"))
    assert set(_hashes(ds.split("train"))) == train_hashes        # left as it was
    assert len(test) == TEST_N and not set(test) & train_hashes
    assert set(alone) - shared <= set(test)                       # only the collision skipped


# ---- 2. exact resume -------------------------------------------------------------------------

def _map_dataset(root: Path, splits: dict[str, dict[str, list[str]]]) -> Path:
    """A dataset directory (manifest format of ninjarl.levels) holding bundled test maps."""
    for split, categories in splits.items():
        records = []
        for category, names in categories.items():
            (root / split / category).mkdir(parents=True)
            for name in names:
                data = (MAPS / "test" / name).read_bytes()
                shutil.copy(MAPS / "test" / name, root / split / category / f"{name}.map")
                records.append({"id": name, "category": category, "seed": 0, "tier": 0,
                                "hash": hashlib.sha256(data).hexdigest(),
                                "file": f"{category}/{name}.map"})
        (root / split / "manifest.json").write_text(json.dumps(
            {"format": "ninjarl-levels", "version": 1, "split": split, "seed": 0,
             "levels": records}))
    load_dataset(root)
    return root


RESUME_LEVELS = {"train": {"simplest": ["simple-walk", "long-walk"],
                           "simpler": ["minefield", "long-jump-reachable", "switch-simple"]},
                 "test": {"simplest": ["fall-required"]}}
CURRICULUM = CurriculumConfig(stages=("simplest", "simpler"), window=3, threshold=0.0,
                              min_episodes=3, replay_share=0.5)
TOTAL, KILL_AT, EVERY = 128, 64, 32       # 2 envs x 16 steps = 32 steps per rollout


class Killed(Exception):
    """The process 'dies' right after a checkpoint was written."""


def _tensors_equal(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _tensors_equal(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _tensors_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("cloning", [False, True], ids=["ppo", "cloning_loss"])
def test_resume_after_a_kill_at_a_mid_run_checkpoint_reproduces_the_uninterrupted_run(
        cloning, tmp_path, monkeypatch):
    levels = _map_dataset(tmp_path / "levels", RESUME_LEVELS)
    # with a cloning loss during PPO the demonstration minibatches must go on where they were
    planner_bc = PlannerBCConfig(budget_frames=400_000, epochs=1, batch_size=64,
                                 cloning_coef=0.5, cloning_batch_size=16) if cloning else None
    monkeypatch.setattr(demos, "cache_dir", lambda: tmp_path / "cache" / "levels")

    def config(out):
        return tiny_config(out, levels=str(levels), curriculum=CURRICULUM, frame_stack=2,
                           timesteps=TOTAL, checkpoint_every=EVERY, planner_bc=planner_bc)

    straight = tmp_path / "straight"
    train(config(straight), log=quiet)

    killed = tmp_path / "killed"
    real_save = ppo_module.save_checkpoint

    def save_then_die(path, model, *args, **kwargs):
        real_save(path, model, *args, **kwargs)
        if Path(path).name == ppo_module.CHECKPOINT_DIR and model.num_timesteps >= KILL_AT:
            raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(ppo_module, "save_checkpoint", save_then_die)
        with pytest.raises(Killed):
            train(config(killed), log=quiet)
    checkpoint = killed / "checkpoint"
    saved = json.loads((checkpoint / "trainer.json").read_text())
    assert saved["num_timesteps"] == KILL_AT and not (killed / "final").exists()
    assert (saved["extra"].get("demonstration_samples_drawn", 0) > 0) == cloning
    # what the restore has to bring back is really there: several levels drawn by the env RNG
    # under a curriculum that has advanced (so replays draw from the RNG too), and frame
    # histories that hold an earlier frame (a fresh stack holds zeros there)
    assert saved["extra"]["curriculum"]["stage"] == 1
    with np.load(checkpoint / "env_state.npz") as z:
        older = z["stack_game_state"][:, 0]
    assert np.abs(older).sum(axis=1).min() > 0, "an env just reset: frame stack not exercised"

    assert main(["train", "--resume", str(killed), "--timesteps", str(TOTAL)]) == 0

    for name in ("policy.pt", "optimizer.pt"):
        a = torch.load(straight / "final" / name, weights_only=True)
        b = torch.load(killed / "final" / name, weights_only=True)
        _tensors_equal(a, b, name)
    a = json.loads((straight / "checkpoint" / "trainer.json").read_text())
    b = json.loads((killed / "checkpoint" / "trainer.json").read_text())
    assert a["num_timesteps"] == b["num_timesteps"] == TOTAL
    assert a["episode_num"] == b["episode_num"]
    assert a["ep_info_buffer"] == b["ep_info_buffer"] and len(a["ep_info_buffer"]) > 10
    assert a["extra"]["metrics"] == b["extra"]["metrics"]
    assert a["extra"]["curriculum"] == b["extra"]["curriculum"]
    assert a["env_rng"] == b["env_rng"]
    assert a == b
    with np.load(straight / "checkpoint" / "env_state.npz") as za, \
            np.load(killed / "checkpoint" / "env_state.npz") as zb:
        assert sorted(za.files) == sorted(zb.files)
        for key in za.files:
            np.testing.assert_array_equal(za[key], zb[key], err_msg=key)
    assert (json.loads((straight / "eval.json").read_text())
            == json.loads((killed / "eval.json").read_text()))


# ---- 3. load_agent acts like the model that finished training ----------------------------------

def _observation_batch(space, levels, n_random=256):
    """Random observations in [-1, 1] and real ones from random play, stacked into one batch."""
    rng = np.random.default_rng(7)
    venv = make_vec_env(levels, 4, EnvConfig(max_frames=40), 2, seed=1)
    real = [venv.reset()]
    for _ in range(20):
        real.append(venv.step(rng.integers(0, 6, 4))[0])
    batch = {}
    for key, box in space.spaces.items():
        random_part = rng.uniform(-1, 1, (n_random, *box.shape)).astype(box.dtype)
        batch[key] = np.concatenate([random_part] + [o[key] for o in real])
    return batch


def test_load_agent_acts_like_the_model_object_that_finished_training(tmp_path, monkeypatch):
    finished = {}
    real_save = ppo_module.save_checkpoint

    def keep_final(path, model, *args, **kwargs):
        if Path(path).name == ppo_module.FINAL_DIR:
            finished["model"] = model
        return real_save(path, model, *args, **kwargs)

    monkeypatch.setattr(ppo_module, "save_checkpoint", keep_final)
    out = tmp_path / "run"
    train(tiny_config(out, frame_stack=2, timesteps=64), log=quiet)
    trained, loaded = finished["model"], load_agent(out)
    assert loaded is not trained and loaded.num_timesteps == trained.num_timesteps == 64

    obs = _observation_batch(loaded.observation_space,
                             [str(MAPS / "test" / n) for n in ("simple-walk", "minefield")])
    actions, _ = trained.predict(obs, deterministic=True)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)

    def probs(model):
        with torch.no_grad():
            tensor, _ = model.policy.obs_to_tensor(obs)
            return model.policy.get_distribution(tensor).distribution.probs

    assert torch.equal(probs(loaded), probs(trained))
    # control: the untrained policy (same seed, so the same initial weights) gives other
    # probabilities on this batch, so agreement above is evidence of the trained weights
    config = replace(loaded.train_config, out="")
    untrained = ppo_module.build_model(config, make_vec_env(
        [str(MAPS / "test" / "simple-walk")], 1, config.env, config.frame_stack, seed=0))
    assert not torch.equal(probs(untrained), probs(trained))


# ---- 4. evaluate counts wins, deaths and time-outs -----------------------------------------------

RIGHT_ACTION, RIGHT_BYTE = 2, 2     # N++ input byte: bit 0 jump, bit 1 right, bit 2 left


class HoldRight:
    def __init__(self, observation_space):
        self.observation_space = observation_space

    def predict(self, obs, deterministic=True):
        return np.full(len(obs["game_state"]), RIGHT_ACTION), None


def test_evaluate_counts_wins_deaths_by_cause_and_time_outs():
    config = EnvConfig(max_frames=400)
    names = ["simple-walk", "minefield", "long-jump-reachable", "slopes"]
    levels = [build_level((MAPS / "test" / n).read_bytes(), n) for n in names]
    policy = HoldRight(make_vec_env([levels[0]], 1, config).observation_space)
    result = evaluate(policy, levels, ["a", "a", "b", "b"], config)

    # the expected outcome of each level, from the simulator alone: RIGHT held from the start
    expected = []
    for level in levels:
        trace = simulate_inputs(level, np.full(config.max_frames, RIGHT_BYTE, np.uint8))
        if trace["outcome"] == "ongoing":
            expected.append(("timeout", config.max_frames, ""))
        else:
            expected.append((trace["outcome"], trace["outcome_frame"], trace["death_cause"]))
    assert [e[0] for e in expected] == ["won", "dead", "dead", "timeout"]      # what we chose
    assert [(r.outcome, r.frames, r.death_cause) for r in result.results] == expected
    assert {e[2] for e in expected} == {"", "mine", "impact_floor"}

    stats = result.categories()
    assert (stats["a"]["success_rate"], stats["a"]["deaths"], stats["a"]["timeouts"]) == (
        0.5, {"mine": 1}, 0)
    assert (stats["b"]["success_rate"], stats["b"]["deaths"], stats["b"]["timeouts"]) == (
        0.0, {"impact_floor": 1}, 1)
    assert result.success_rate == 0.25 and result.episodes == 4
    assert stats["a"]["median_win_frames"] == expected[0][1] and stats["b"]["median_win_frames"] is None


# ---- 5. --envs auto, measured for real ----------------------------------------------------------

def test_envs_auto_runs_the_real_measurement_and_trains_with_the_fastest(tmp_path, monkeypatch):
    # the real autotune_envs, only over fewer candidates and shorter timings (the candidates
    # are a default argument, bound when the function is defined)
    measured = []

    def small_autotune(*args, **kwargs):
        result = autotune.autotune_envs(*args, candidates=(1, 2, 4), seconds=0.2, **kwargs)
        measured.append(result)
        return result

    monkeypatch.setattr(ppo_module, "autotune_envs", small_autotune)
    out = tmp_path / "run"
    messages = []
    train(tiny_config(out, envs="auto", timesteps=64), log=messages.append)
    assert len(measured) == 1
    document = json.loads((out / "autotune.json").read_text())
    speeds = {int(n): v for n, v in document["steps_per_s"].items()}
    assert set(speeds) == {1, 2, 4} and all(np.isfinite(v) and v > 0 for v in speeds.values())
    assert document["chosen"] == max(speeds, key=speeds.get)
    chosen = document["chosen"]
    assert json.loads((out / "config.json").read_text())["envs"] == chosen
    with np.load(out / "checkpoint" / "env_state.npz") as z:
        assert len(z["last_episode_starts"]) == chosen         # trained with that many envs
    assert any(m.startswith("envs auto:") and m.endswith(f"-> {chosen}") for m in messages)


# ---- 6. generated levels are solvable by playing them -----------------------------------------

@pytest.mark.parametrize("category", ["simplest", "simple", "medium"])
def test_generated_levels_are_won_by_a_planner_plan(category):
    for seed in range(3):
        g = generate_level(category, seed)
        result = solve_level(g.map_bytes, PlannerConfig(budget_frames=2_000_000))
        assert result.solved, f"{g.level_id}: {result.reason}"
        trace = simulate_inputs(build_level(g.map_bytes), result.inputs)
        assert trace["outcome"] == "won", g.level_id
        assert trace["outcome_frame"] == len(result.inputs) == result.plan_frames


# ---- mutants: the tests above fail on one-line bugs (slow) ------------------------------------

DATASET, CLI, CHECKPOINT = ("src/ninjarl/levels/dataset.py", "src/ninjarl/cli.py",
                            "src/ninjarl/train/checkpoint.py")
PPO, EVALUATE, AUTOTUNE = ("src/ninjarl/train/ppo.py", "src/ninjarl/eval/evaluate.py",
                           "src/ninjarl/train/autotune.py")
DISJOINT = "test_exclusion_is_what_keeps or test_a_test_split_built_later"
RESUME = "test_resume_after_a_kill"
LOAD_AGENT = "test_load_agent_acts_like"
EVALUATE_TEST = "test_evaluate_counts_wins_deaths"
ENVS_AUTO = "test_envs_auto_runs_the_real_measurement"
MUTANTS = {
    "exclude-hashes-ignored": (DATASET, "taken = set(exclude_hashes)", "taken = set()", DISJOINT),
    "splits-in-out-ignored": (
        DATASET, "taken |= {e.content_hash for e in load_dataset(out).split(name)}",
        "taken |= set()", DISJOINT),
    "cli-exclude-ignored": (CLI, "exclude |= load_dataset(path).hashes()", "exclude |= set()",
                            DISJOINT),
    "env-rng-not-restored": (CHECKPOINT, '"rng": trainer["env_rng"]})',
                             '"rng": find_env(model.env, NinjaVecEnv).state_dict()["rng"]})',
                             RESUME),
    "frame-stack-not-restored": (
        CHECKPOINT, "stack.load_state_dict({k.removeprefix", "(lambda _: None)({k.removeprefix",
        RESUME),
    "load-agent-keeps-initial-weights": (
        PPO, 'model.policy.load_state_dict(load_weights(path, "policy.pt"), strict=True)',
        "model.policy.load_state_dict(model.policy.state_dict(), strict=True)", LOAD_AGENT),
    "death-counted-as-timeout": (EVALUATE, 'TIMEOUT if info["TimeLimit.truncated"] else DEAD)',
                                 "TIMEOUT)", EVALUATE_TEST),
    "autotune-takes-the-slowest": (AUTOTUNE, "best = max(measurements, key=measurements.get)",
                                   "best = min(measurements, key=measurements.get)", ENVS_AUTO),
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("honest")
    shutil.copytree(ROOT / "src", tmp / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    env.update(PYTHONPATH=str(tmp / "src"), NUMBA_CACHE_DIR=str(tmp / "numba"),
               PYTHONDONTWRITEBYTECODE="1")

    def run(tests):
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x",
             "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), __file__, "-k", tests],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=1800)

    where = subprocess.run([sys.executable, "-c", "import ninjarl; print(ninjarl.__file__)"],
                           cwd=tmp, env=env, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(tmp)), where
    clean = run(" or ".join(sorted({tests for *_, tests in MUTANTS.values()})))
    assert clean.returncode == 0, "unmutated copy fails:\n" + clean.stdout[-4000:]
    return tmp, run


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_a_mutant_is_caught(sandbox, name):
    tmp, run = sandbox
    file, original, mutated, tests = MUTANTS[name]
    path = tmp / file
    source = path.read_text()
    assert source.count(original) == 1, f"{name}: snippet not found exactly once"
    path.write_text(source.replace(original, mutated))
    try:
        result = run(tests)
    finally:
        path.write_text(source)
    assert result.returncode == 1 and " failed" in result.stdout, (
        f"{name} survived (exit {result.returncode}):\n{result.stdout[-3000:]}")
