"""Issue 18: never lose a user's files, survive a kill in the middle of a save, refuse what
cannot work with one line (exit status 2), never a traceback."""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from ninjarl import atomic
from ninjarl.cli import build_parser, main
from ninjarl.levels import build_dataset
from ninjarl.train import PPOConfig, TrainConfig, load_agent, resume, train
from ninjarl.train import ppo as ppo_module
from ninjarl.train.bc import check_bc_out, run_bc
from ninjarl.train.checkpoint import CHECKPOINT_FILES, read_checkpoint
from ninjarl.train.curriculum import CurriculumConfig

from conftest import REPLAYS

BC_REPLAYS = REPLAYS / "bc"
QUIET = lambda *_: None  # noqa: E731


CASE_TIMEOUT_S = 300      # a case still running after this long (a hang) fails, not blocks


@pytest.fixture(autouse=True)
def _fails_instead_of_hanging():
    """Every case of this module has a time limit (SIGALRM; where the platform has it)."""
    import signal
    if not hasattr(signal, "setitimer"):
        yield
        return

    def timed_out(signum, frame):
        pytest.fail(f"still running after {CASE_TIMEOUT_S} s: a hang")
    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ninjarl: error: "), err
    return lines[0]


# ---- 1. a user's files are never replaced --------------------------------------------------

def test_bc_refuses_an_out_dir_holding_other_files(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["bc", "--replays", str(BC_REPLAYS), "--out", str(out), "--epochs", "1"]) == 2
    assert str(out) in _error_line(capsys)
    assert (out / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="not a behaviour-cloning checkpoint"):
        run_bc(BC_REPLAYS, out, log=None)
    (out / "config.json").write_text("{}")      # a lone user config.json is no checkpoint
    (out / "notes.txt").unlink()
    with pytest.raises(ValueError, match="results"):
        check_bc_out(out)


def test_bc_may_replace_its_own_checkpoint(tmp_path):
    out = tmp_path / "bc"
    check_bc_out(out)                            # missing
    out.mkdir()
    check_bc_out(out)                            # empty
    for name in (*CHECKPOINT_FILES, "env_state.npz", "bc_report.json"):
        (out / name).write_text("")
    (out / "trainer.json").write_text(json.dumps({"extra": {"bc_report": "bc_report.json"}}))
    check_bc_out(out)
    (out / "run.log").write_text("mine")         # plus a file of the user's: refused
    with pytest.raises(ValueError):
        check_bc_out(out)


def test_levels_build_refuses_a_split_folder_that_is_not_a_dataset(tmp_path, capsys):
    out = tmp_path / "data"
    (out / "train").mkdir(parents=True)
    (out / "train" / "my-level.map").write_bytes(b"mine")
    argv = ["levels", "build", str(out), "--train", "1", "--categories", "simplest", "--jobs", "1"]
    assert main(argv) == 2
    assert str(out / "train") in _error_line(capsys)
    assert (out / "train" / "my-level.map").read_bytes() == b"mine"
    shutil.rmtree(out / "train")
    assert main(argv) == 0                       # a ninjarl split is replaced
    assert main(argv) == 0
    assert not (out / "test").exists()


# ---- 2. a save killed between its two renames ------------------------------------------------

def _kill_on_second_replace(monkeypatch):
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between the renames")
        real(src, dst)
    monkeypatch.setattr(atomic.os, "replace", replace)


def test_replace_dir_survives_a_kill_between_its_renames(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint"
    target.mkdir()
    (target / "v").write_text("1")
    new = tmp_path / ".checkpoint.abcd1234"
    new.mkdir()
    (new / "v").write_text("2")
    with monkeypatch.context() as m:
        _kill_on_second_replace(m)
        with pytest.raises(KeyboardInterrupt):
            atomic.replace_dir(new, target)
    assert not target.exists()
    assert (atomic.current_dir(target) / "v").read_text() == "1"    # readers see the old one
    atomic.recover_dir(target)
    assert (target / "v").read_text() == "1" and not atomic.old_dir(target).exists()
    atomic.remove_stale_temps(target)            # the killed writer's temporary folder
    assert not new.exists()
    newer = tmp_path / ".checkpoint.efgh5678"
    newer.mkdir()
    (newer / "v").write_text("3")
    atomic.replace_dir(newer, target)
    assert (target / "v").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def _tiny(out: Path, levels: str, **overrides) -> TrainConfig:
    settings = dict(arch="vision_free", levels=levels, timesteps=32, envs=2, seed=3,
                    out=str(out), checkpoint_every=0,
                    ppo=PPOConfig(n_steps=16, batch_size=16, n_epochs=1),
                    env={"max_frames": 40})
    return TrainConfig(**(settings | overrides))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 32-step run on a one-level-per-split dataset (about 3 s)."""
    root = tmp_path_factory.mktemp("trained")
    build_dataset(root / "levels", 1, 1, categories=("simplest",), seed=0)
    train(_tiny(root / "run", str(root / "levels")), log=QUIET)
    return root


def _copy_run(trained: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(trained / "levels", tmp_path / "levels")
    shutil.copytree(trained / "run", tmp_path / "run")
    config = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    config["levels"] = str(tmp_path / "levels")
    (tmp_path / "run" / "checkpoint" / "config.json").write_text(json.dumps(config))
    return tmp_path / "run", tmp_path / "levels"


def test_resume_after_a_kill_inside_a_checkpoint_save(trained, tmp_path, monkeypatch):
    run, _ = _copy_run(trained, tmp_path)
    new = run / ".checkpoint.abcd1234"            # a save's finished temporary folder
    shutil.copytree(run / "checkpoint", new)
    with monkeypatch.context() as m:
        _kill_on_second_replace(m)
        with pytest.raises(KeyboardInterrupt):
            atomic.replace_dir(new, run / "checkpoint")
    assert not (run / "checkpoint").exists() and new.exists()
    assert read_checkpoint(run / "checkpoint")[1]["num_timesteps"] == 32     # readers recover
    assert load_agent(run / "checkpoint").num_timesteps == 32
    resume(run, timesteps=64, log=QUIET)
    assert read_checkpoint(run / "checkpoint")[1]["num_timesteps"] == 64
    assert not [p.name for p in run.iterdir() if p.name.startswith(".checkpoint.")]


def test_a_full_disk_during_a_checkpoint_save_keeps_the_previous_one(trained, tmp_path,
                                                                     monkeypatch, capsys):
    """ENOSPC half-way through the env state of the checkpoint a resumed run saves: one line,
    status 2, the previous checkpoint byte for byte, no temporary folder."""
    import errno

    run, _ = _copy_run(trained, tmp_path)
    before = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}

    def savez_on_a_full_disk(file, **arrays):
        Path(file).write_bytes(b"PK\x03\x04" + bytes(100))
        raise OSError(errno.ENOSPC, "No space left on device", str(file))
    monkeypatch.setattr(np, "savez", savez_on_a_full_disk)
    assert main(["train", "--resume", str(run), "--timesteps", "64", "--no-doctor"]) == 2
    err = capsys.readouterr().err                   # the progress bar, then one line
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "ninjarl" in line] == [
        f"ninjarl: error: {run / 'checkpoint'}: cannot save the checkpoint: No space left on "
        "device"], err
    assert {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()} == before
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_resume_on_rebuilt_levels_names_what_changed(trained, tmp_path, capsys):
    run, levels = _copy_run(trained, tmp_path)
    trainer = json.loads((run / "checkpoint" / "trainer.json").read_text())
    [(name, _)] = trainer["extra"]["levels"]          # [name, sha256] of each training level
    build_dataset(levels, 1, 0, categories=("simplest",), seed=7)     # other training levels
    assert main(["train", "--resume", str(run)]) == 2
    line = _error_line(capsys)
    assert "not the ones the checkpoint was trained on: 1 gone" in line and name in line


# ---- 3b. a checkpoint's every file is checked before it is used ------------------------------

def _edit_trainer(**fields):
    def edit(checkpoint: Path):
        trainer = json.loads((checkpoint / "trainer.json").read_text())
        for name, value in fields.items():
            if value is KeyError:
                del trainer[name]
            else:
                trainer[name] = value
        (checkpoint / "trainer.json").write_text(json.dumps(trainer))
    return edit


def _edit_arrays(name, change):
    def edit(checkpoint: Path):
        with np.load(checkpoint / "env_state.npz") as z:
            arrays = {k: z[k] for k in z.files}
        if change is KeyError:
            del arrays[name]
        else:
            arrays[name] = change(arrays[name])
        np.savez(checkpoint / "env_state.npz", **arrays)
    return edit


def _truncate(name, size):
    def edit(checkpoint: Path):
        (checkpoint / name).write_bytes((checkpoint / name).read_bytes()[:size])
    return edit


def _foreign_policy(checkpoint: Path):
    import torch
    weights = torch.load(checkpoint / "policy.pt", weights_only=True)
    first = next(iter(weights))
    weights[first] = torch.zeros(3, 3)            # another width
    weights["gnn.0.weight"] = torch.zeros(1)      # another architecture's layer
    torch.save(weights, checkpoint / "policy.pt")


def _torch_save(name, value):
    def edit(checkpoint: Path):
        import torch
        torch.save(value(torch), checkpoint / name)
    return edit


BAD_CHECKPOINTS = [      # (what, the edit, file, field/message); the 32-step run has 64 at most
    ("truncated npz", _truncate("env_state.npz", 300), "env_state.npz", "cannot read the arrays"),
    ("foreign policy", _foreign_policy, "policy.pt",
     "not the weights of this policy: 0 missing, 1 unexpected, 1 of another shape"),
    ("no num_timesteps", _edit_trainer(num_timesteps=KeyError), "trainer.json",
     "num_timesteps: expected an integer 0..64, got None"),
    ("negative steps", _edit_trainer(num_timesteps=-5), "trainer.json",
     "num_timesteps: expected an integer 0..64, got -5"),
    ("text steps", _edit_trainer(num_timesteps="32"), "trainer.json", "num_timesteps: expected"),
    ("steps past the run", _edit_trainer(num_timesteps=10**12), "trainer.json",
     "num_timesteps: expected an integer 0..64, got 1000000000000"),
    ("no n_updates", _edit_trainer(n_updates=KeyError), "trainer.json", "n_updates: expected"),
    ("episodes not a list", _edit_trainer(ep_info_buffer=5), "trainer.json", "ep_info_buffer"),
    ("numpy rng", _edit_trainer(numpy_rng=[1, 2]), "trainer.json", "numpy_rng: expected"),
    ("env rng", _edit_trainer(env_rng={"x": 1}), "trainer.json", "env_rng: not a PCG64 state"),
    ("bad rng.pt", _torch_save("rng.pt", lambda t: {"torch": t.zeros(3)}), "rng.pt",
     "torch: not a torch RNG state"),
    ("foreign optimizer", _torch_save("optimizer.pt", lambda t: {"state": {}, "param_groups": []}),
     "optimizer.pt", "not this policy's optimizer state"),
    ("short sim array", _edit_arrays("sim_ninja_f", lambda a: a[:1]), "env_state.npz",
     "simulator state ninja_f: shape (1, 24), expected (2, 24)"),
    ("short rng keys", _edit_arrays("numpy_rng_keys", lambda a: a[:5]), "env_state.npz",
     "numpy_rng_keys: shape (5,), expected (624,)"),
    ("short observation", _edit_arrays("last_obs_game_state", lambda a: a[:, :3]),
     "env_state.npz", "last_obs_game_state: shape (2, 3), expected (2, 32)"),
    ("missing array", _edit_arrays("engine_env_i", KeyError), "env_state.npz",
     "missing array 'engine_env_i'"),
    # checkpoints written before the episode's start frame was kept have 4 columns
    ("older env_i", _edit_arrays("engine_env_i", lambda a: a[:, :4]), "env_state.npz",
     "engine state env_i: shape (2, 4), this engine has (2, 5)"),
]


@pytest.mark.parametrize("what, edit, name, message", BAD_CHECKPOINTS,
                         ids=[case[0] for case in BAD_CHECKPOINTS])
def test_resume_on_a_damaged_checkpoint_is_one_line(what, edit, name, message, trained, tmp_path,
                                                    capsys):
    run, _ = _copy_run(trained, tmp_path)
    edit(run / "checkpoint")
    before = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
    assert main(["train", "--resume", str(run), "--timesteps", "64", "--no-doctor"]) == 2
    assert f"{run / 'checkpoint' / name}: {message}" in _error_line(capsys)
    assert {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()} == before
    if name == "policy.pt" or name == "trainer.json":         # what load_agent reads
        with pytest.raises(ValueError, match=re.escape(f"{name}: {message}")):
            load_agent(run / "checkpoint")


def test_any_trainer_document_is_read_or_one_line(trained, tmp_path):
    """Hypothesis edits of trainer.json (values of any JSON type, keys removed): read_checkpoint
    accepts it only with every field restore_training reads intact, else one line naming it."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    run, _ = _copy_run(trained, tmp_path)
    file = run / "checkpoint" / "trainer.json"
    original = json.loads(file.read_text())
    json_values = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                  st.text(max_size=4)),
        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                st.dictionaries(st.sampled_from("rltx"), inner, max_size=4)),
        max_leaves=8)
    keys = st.sampled_from(sorted(original))

    @settings(max_examples=200, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.dictionaries(keys, json_values, max_size=3), st.lists(keys, max_size=2))
    def check(changes, removed):
        trainer = {k: v for k, v in (original | changes).items() if k not in removed}
        file.write_text(json.dumps(trainer))
        try:
            read_checkpoint(run / "checkpoint")
        except ValueError as error:
            assert "\n" not in str(error) and str(error).startswith(f"{file}: "), str(error)
        else:                                # what restore_training reads is there and sane
            assert 0 <= trainer["num_timesteps"] <= 64 and trainer["n_updates"] >= 0
            assert isinstance(trainer["extra"], dict) and len(trainer["numpy_rng"]) == 4
            deque(trainer["ep_info_buffer"])
            np.random.set_state((trainer["numpy_rng"][0], np.zeros(624, np.uint32),
                                 *trainer["numpy_rng"][1:]))
    check()


def test_resume_below_the_checkpoint_step_is_refused(trained, tmp_path, capsys):
    run, _ = _copy_run(trained, tmp_path)
    assert main(["train", "--resume", str(run), "--timesteps", "10", "--no-doctor"]) == 2
    assert "--timesteps 10: the checkpoint is at step 32 already" in _error_line(capsys)


def test_any_manifest_is_a_dataset_or_one_line(trained, tmp_path):
    """Hypothesis edits of a split manifest's records (values of any JSON type, paths out of the
    split, to a folder or a device): load_dataset returns levels whose bytes hash as listed,
    or one line naming the manifest or level file."""
    import hashlib

    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    from ninjarl.levels import load_dataset
    from ninjarl.sim.errors import FormatError

    root = tmp_path / "levels"
    shutil.copytree(trained / "levels", root)
    manifest = root / "train" / "manifest.json"
    original = json.loads(manifest.read_text())
    record = original["levels"][0]
    values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=6),
                       st.sampled_from(["/dev/zero", "../test/" + record["file"], ".", "",
                                        record["file"], record["hash"], "0" * 64]),
                       st.lists(st.integers(), max_size=2))

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.dictionaries(st.sampled_from(sorted(record) + ["extra"]), values, max_size=3),
           st.integers(1, 2))
    @example({"file": "."}, 1)
    @example({"file": ""}, 1)
    @example({}, 2)
    def check(changes, copies):
        levels = [record | changes] * copies
        manifest.write_text(json.dumps(original | {"levels": levels}))
        try:
            dataset = load_dataset(root)
        except (FormatError, ValueError) as error:
            assert "\n" not in str(error) and str(root) in str(error), str(error)
        else:
            for entry in dataset.split("train"):
                assert hashlib.sha256(entry.map_bytes).hexdigest() == entry.content_hash
    check()


def test_a_dataset_holds_each_level_once_and_its_own_files(trained, tmp_path):
    from ninjarl.levels import load_dataset
    from ninjarl.sim.errors import FormatError

    root = tmp_path / "levels"
    shutil.copytree(trained / "levels", root)
    manifest = root / "train" / "manifest.json"
    document = json.loads(manifest.read_text())
    [record] = document["levels"]
    manifest.write_text(json.dumps(document | {"levels": [record, record | {"id": "again"}]}))
    with pytest.raises(FormatError, match=r"levels\[1\].hash: the content of level .* again"):
        load_dataset(root)
    outside = tmp_path / "elsewhere.map"
    shutil.copy(root / "train" / record["file"], outside)
    (root / "train" / record["file"]).unlink()
    (root / "train" / record["file"]).symlink_to(outside)
    manifest.write_text(json.dumps(document))
    with pytest.raises(FormatError, match="a link to outside the split"):
        load_dataset(root)


# ---- 3. --resume takes no other settings; a failed start can be retried ----------------------

def _train_flags() -> list[str]:
    """The run settings of `train` (not --no-doctor, --device, --s3, --s3-endpoint: a resume
    may skip the checks, run on another device, upload its results)."""
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [a.option_strings[0] for a in commands.choices["train"]._actions
            if a.option_strings and a.option_strings[0] not in ("-h", "--timesteps", "--resume",
                                                                 "--no-doctor", "--device", "--s3",
                                                                 "--s3-endpoint")]


@pytest.mark.parametrize("flag", _train_flags())
def test_resume_refuses_every_other_setting(flag, tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text("{}")
    value = {"--curriculum": [], "--hierarchical": [], "--config": [str(config)], "--envs": ["4"], "--arch": ["gcn"],
             "--levels": ["simpler"], "--out": [str(tmp_path)], "--bc": ["x"],
             "--frame-stack": ["1"]}.get(flag, ["0"])          # 0 is a setting too
    assert main(["train", "--resume", str(tmp_path / "run"), flag, *value]) == 2
    assert flag in _error_line(capsys)


def test_resume_reports_an_invalid_config(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"seed": "x"}')
    assert main(["train", "--resume", str(tmp_path), "--config", str(bad)]) == 2
    assert "bad.json: seed: expected an integer" in _error_line(capsys)


def test_a_failed_start_leaves_a_retryable_directory(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    config = _tiny(out, "test/simple-walk")

    def broken(*args, **kwargs):
        raise ValueError("no envs today")
    monkeypatch.setattr(ppo_module, "make_vec_env", broken)
    with pytest.raises(ValueError, match="no envs today"):
        train(config, log=QUIET)
    assert not (out / "config.json").exists()
    (out / "config.json").write_text("{}")        # as a failed start of an older version left
    (out / "autotune.json").write_text("{}")
    monkeypatch.setattr(ppo_module, "_run", lambda config, resume, log, **_: "started")
    assert train(config, log=QUIET) == "started"
    assert main(["train", "--resume", str(out)]) == 2
    assert "no checkpoint to resume" in _error_line(capsys)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        train(config, log=QUIET)


# ---- 4. config files: wrong types are one line naming the file and setting --------------------

BAD_CONFIGS = [
    ({"timesteps": "100"}, "timesteps: expected an integer, got '100'"),
    ({"envs": True}, "envs: expected an integer or a string, got True"),
    ({"envs": "many"}, "envs must be a positive integer or 'auto'"),
    ({"seed": 1.5}, "seed: expected an integer, got 1.5"),
    ({"seed": -1}, "seed: must be in 0..4294967295, got -1"),      # compare sets its own seeds
    ({"ppo": {"learning_rate": "fast"}}, "ppo.learning_rate: expected a number, got 'fast'"),
    ({"ppo": {"n_steps": False}}, "ppo.n_steps: expected an integer, got False"),
    ({"ppo": None}, "ppo: expected an object, got None"),
    ({"env": {"max_frames": None}}, "env.max_frames: expected an integer, got None"),
    ({"env": {"observations": "game_state"}}, "env.observations: expected a list"),
    ({"env": {"reward": {"death": "big"}}}, "env.reward.death: expected a number, got 'big'"),
    ({"curriculum": 5}, "curriculum: expected an object or null, got 5"),
    ({"curriculum": {"stages": ["simplest", 3]}}, "curriculum.stages[1]: expected a string"),
    ({"frame_stack": 0}, "frame_stack: must be in 1..64, got 0"),
    ({"arch": ["gcn"]}, "arch: expected a string"),
    ({"finetune": {"clip_range": "0.1"}}, "finetune.clip_range: expected a number"),
    ({"videos": -1}, "videos: must be in 0..10000, got -1"),
    ({"levels": None}, "levels: expected a string, got None"),
    ([1, 2], "must be a JSON object"),
]


@pytest.mark.parametrize("document, message", BAD_CONFIGS)
def test_bad_config_is_one_line_with_file_and_setting(document, message, tmp_path, capsys,
                                                     monkeypatch):
    monkeypatch.setattr(ppo_module, "_run", lambda *a, **k: pytest.fail("training started"))
    path = tmp_path / "run.json"
    path.write_text(json.dumps(document))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    line = _error_line(capsys)
    assert f"{path}: " in line and message in line, line
    assert not (tmp_path / "out").exists()


def test_config_load_message_and_cli_overrides(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"ppo": {"learning_rate": "fast"}}))
    with pytest.raises(ValueError) as error:
        TrainConfig.load(path)
    assert str(error.value) == f"{path}: ppo.learning_rate: expected a number, got 'fast'"
    path.write_text(json.dumps({"ppo": {"learning_rate": 1}, "curriculum": None}))
    config = TrainConfig.load(path, curriculum=CurriculumConfig(window=3))   # as --curriculum
    assert config.curriculum.window == 3 and config.ppo.learning_rate == 1
    assert TrainConfig.from_dict(config.to_dict()) == config


# ---- 5. observations stay inside their declared spaces ----------------------------------------

def test_observations_stay_inside_their_spaces_on_every_category():
    """Every bundled map and two draws of every generator category, every observation key,
    8 envs x 300 seeded random steps (episodes of at most 50 steps, so levels cycle)."""
    from ninjarl.env import NinjaVecEnv
    from ninjarl.env.config import OBSERVATION_KEYS, EnvConfig
    from ninjarl.levels import CATEGORIES
    from ninjarl.levels.dataset import load_level_source
    from ninjarl.levels.generators import draw_level
    from ninjarl.sim.layout import V_LEVEL

    levels = [e.map_bytes for group in ("official", "test", "bench")
              for e in load_level_source(group)]
    levels += [draw_level(category, seed)[0] for category in CATEGORIES for seed in range(2)]
    env = NinjaVecEnv(levels, num_envs=8, config=EnvConfig(observations=OBSERVATION_KEYS,
                                                          max_frames=200), seed=0)
    rng = np.random.default_rng(0)
    obs = env.reset()
    seen = set()
    for step in range(300):
        for key, space in env.observation_space.spaces.items():
            for n in range(env.num_envs):
                assert space.contains(obs[key][n]), (key, step, n, obs[key][n][
                    (obs[key][n] < space.low) | (obs[key][n] > space.high)])
        seen.update(int(v) for v in env.engine.sim.state.env_i[:, V_LEVEL])
        obs, _, _, _ = env.step(rng.integers(0, 6, env.num_envs))
    assert len(seen) > len(levels) // 2          # the episodes covered most levels


# ---- 4. config ranges: every number finite and inside its range, sizes that fit in memory ------

BAD_RANGES = [
    ({"ppo": {"clip_range": -0.1}}, "ppo.clip_range: must be > 0, got -0.1"),
    ({"ppo": {"learning_rate": float("nan")}}, "ppo.learning_rate: must be finite, got nan"),
    ({"ppo": {"max_grad_norm": 0}}, "ppo.max_grad_norm: must be > 0, got 0"),
    ({"ppo": {"ent_coef": -1e-3}}, "ppo.ent_coef: must be >= 0, got -0.001"),
    ({"ppo": {"vf_coef": float("inf")}}, "ppo.vf_coef: must be finite, got inf"),
    ({"ppo": {"gae_lambda": 1.5}}, "ppo.gae_lambda: must be in (0, 1], got 1.5"),
    ({"finetune": {"learning_rate": 0}}, "finetune.learning_rate: must be > 0, got 0"),
    ({"env": {"reward": {"max_distance": 0}}}, "env.reward.max_distance: must be > 0, got 0"),
    ({"env": {"reward": {"death": float("-inf")}}}, "env.reward.death: must be finite, got -inf"),
    ({"env": {"stuck_radius": float("nan")}}, "env.stuck_radius: must be finite, got nan"),
    ({"ppo": {"learning_rate": 2**63}}, "ppo.learning_rate: must fit in 64 bits, got "
                                        "9223372036854775808"),
    ({"env": {"stuck_frames": "many", "stuck_fails": True}}, "env.stuck_frames"),
    ({"curriculum": {"threshold": float("nan")}}, "curriculum.threshold: must be finite"),
    ({"hierarchical": {"embedding_dim": 10**9}}, "hierarchical.embedding_dim: must be in 1..65536"),
    ({"torch_threads": -1}, "torch_threads: must be in 0..4096, got -1"),
    ({"frame_stack": 1000}, "frame_stack: must be in 1..64, got 1000"),
    ({"envs": 10**9}, "envs: must be in 1..65536, got 1000000000"),
    ({"timesteps": 10**400}, "timesteps: must be in 1..4611686018427387904, got a 401-digit number"),
    ({"net_arch": [64, 0]}, "net_arch[1]: must be in 1..65536, got 0"),
    ({"arch": "local_view", "envs": 4096, "ppo": {"n_steps": 4096}},
     "envs x ppo.n_steps x frame_stack: 4096 x 4096 x 1 observations of 7088 floats make a "
     "443 GiB rollout buffer, above the 64 GiB limit"),
]


@pytest.mark.parametrize("document, message", BAD_RANGES)
def test_config_out_of_range_is_one_line_naming_the_setting(document, message, tmp_path, capsys,
                                                           monkeypatch):
    monkeypatch.setattr(ppo_module, "_run", lambda *a, **k: pytest.fail("training started"))
    path = tmp_path / "run.json"
    path.write_text(json.dumps(document))           # NaN and Infinity as Python's json writes them
    for command in (["train", "--config", str(path)], ["bc", "--config", str(path), "--replays",
                                                       str(BC_REPLAYS), "--out", str(tmp_path / "bc")],
                    ["compare", "--configs", str(path), "--out", str(tmp_path / "cmp")]):
        assert main(command) == 2, command
        line = _error_line(capsys)
        assert f"{path}: {message}" in line, (command, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def _config_documents():
    """Config dicts whose values mostly have their field's type (any magnitude, NaN and
    infinities included), sometimes another type, sometimes an unknown key."""
    import dataclasses

    from hypothesis import strategies as st

    from ninjarl.env.config import EnvConfig, RewardConfig
    from ninjarl.train.config import FinetuneConfig, HierarchicalConfig

    integers = st.one_of(st.sampled_from([-1, 0, 1, 2**31, 2**63, -2**63, 10**30]),
                         st.integers(-2**70, 2**70), st.integers(0, 300))
    numbers = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e-300, 1e308]),
                        st.floats(), st.floats(-2, 2), integers)
    junk = st.one_of(st.none(), st.booleans(), st.text(max_size=3))
    nested = {"ppo": PPOConfig, "finetune": FinetuneConfig, "curriculum": CurriculumConfig,
              "hierarchical": HierarchicalConfig, "env": EnvConfig, "reward": RewardConfig}
    words = {"arch": ["vision_free", "gcn", "mlp_baseline", "nope"], "envs": ["auto", "many"],
             "device": ["auto", "cpu", "tpu"], "stages": ["simplest", "simple", "nope"],
             "subtasks": ["exit_switch", "exit_door", "nope"],
             "observations": ["game_state", "reachability", "nope"]}

    def value(name, default):
        if name in nested:
            typed = section(nested[name])
        elif isinstance(default, tuple):
            typed = st.lists(st.sampled_from(words[name]) if name in words else integers, max_size=4)
        elif name in words:
            typed = st.one_of(st.sampled_from(words[name]), integers)
        elif isinstance(default, str):
            typed = st.text(max_size=4)
        else:
            typed = integers if isinstance(default, int) else numbers
        return st.one_of(typed, typed, typed, junk)

    def section(cls):
        fields = {f.name: (f.default if f.default is not dataclasses.MISSING
                           else f.default_factory() if f.default_factory is not dataclasses.MISSING
                           else None) for f in dataclasses.fields(cls)}
        entries = [st.tuples(st.just(n), value(n, d)) for n, d in fields.items()]
        entries.append(st.tuples(st.just("bogus"), junk))
        return st.lists(st.one_of(*entries), max_size=3).map(dict)
    return section(TrainConfig)


def test_any_config_document_is_a_config_or_one_line(tmp_path):
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=400, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(_config_documents())
    def check(document):
        try:
            config = TrainConfig.from_dict(document, "run.json")
        except ValueError as error:
            assert "\n" not in str(error) and str(error).startswith("run.json: "), str(error)
        else:       # what was accepted can be written as strict JSON and held by numpy
            text = json.dumps(config.to_dict(), allow_nan=False)
            numbers = re.findall(r"-?\d+(?![\d.eE])", text)
            assert np.array([int(n) for n in numbers], np.int64) is not None
            assert TrainConfig.from_dict(json.loads(text)) == config
    check()


# ---- 2. Ctrl-C: status 130 and one line from every command; training saves first; pools stop ---

class _Parsed:
    """A parser whose arguments name a command that Ctrl-C interrupts."""
    @staticmethod
    def parse_args(argv):
        def interrupted(args):
            raise KeyboardInterrupt
        return argparse.Namespace(run=interrupted)


def test_ctrl_c_in_any_command_is_status_130_and_one_line(monkeypatch, capsys):
    from ninjarl import cli
    monkeypatch.setattr(cli, "build_parser", _Parsed)
    assert cli.main(["anything"]) == 130
    assert capsys.readouterr().err.strip() == "ninjarl: interrupted"


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt in this process, as in a terminal, also where the test run
    was started as a background job (which inherits SIGINT ignored); restored afterwards."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _with_default_sigint() -> None:
    """Child processes start with SIGINT's default action, as a command typed in a terminal
    does, whatever the disposition this test run inherited."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_that_a_library_turns_into_another_error_is_still_status_130(monkeypatch, capsys,
                                                                             sigint_raises):
    """numba swallows a KeyboardInterrupt raised inside a JIT compilation (a ctypes callback)
    and fails with RuntimeError: a real SIGINT came, so it is still an interrupt."""
    import signal

    from ninjarl import cli

    class Parsed:
        @staticmethod
        def parse_args(argv):
            def compile_interrupted(args):
                try:
                    os.kill(os.getpid(), signal.SIGINT)     # handled before kill returns
                except KeyboardInterrupt:
                    pass
                raise RuntimeError("no compiled object yet")
            return argparse.Namespace(run=compile_interrupted)
    monkeypatch.setattr(cli, "build_parser", Parsed)
    assert cli.main(["anything"]) == 130
    assert capsys.readouterr().err.strip() == "ninjarl: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(Parsed, "parse_args", staticmethod(lambda argv: argparse.Namespace(
        run=lambda args: (_ for _ in ()).throw(RuntimeError("a bug")))))
    with pytest.raises(RuntimeError, match="a bug"):            # without a SIGINT: a bug
        cli.main(["anything"])


def test_ctrl_c_during_training_saves_a_checkpoint_that_resumes(tmp_path, monkeypatch, capsys):
    from ninjarl.env import NinjaVecEnv

    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps({"ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1},
                                    "env": {"max_frames": 40}, "checkpoint_every": 0}))
    out = tmp_path / "run"
    real_step, steps = NinjaVecEnv.step_wait, []

    def step_then_ctrl_c(self):           # SIGINT lands between two env steps of the 2nd rollout
        steps.append(1)
        if len(steps) == 20:
            raise KeyboardInterrupt
        return real_step(self)
    monkeypatch.setattr(NinjaVecEnv, "step_wait", step_then_ctrl_c)
    assert main(["train", "--levels", "test/simple-walk", "--envs", "2", "--timesteps", "96",
                 "--out", str(out), "--config", str(settings), "--no-doctor", "--seed", "1"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "ninjarl: interrupted"
    assert read_checkpoint(out / "checkpoint")[1]["num_timesteps"] == 38     # 19 steps x 2 envs
    assert not [p for p in out.iterdir() if p.name.startswith(".")]          # no temporaries
    monkeypatch.setattr(NinjaVecEnv, "step_wait", real_step)
    assert main(["train", "--resume", str(out), "--no-doctor"]) == 0
    assert read_checkpoint(out / "checkpoint")[1]["num_timesteps"] >= 96


def test_ctrl_c_during_bc_saves_the_epochs_trained_so_far(tmp_path, monkeypatch, capsys):
    from ninjarl.train import bc as bc_module

    replays = tmp_path / "replays"           # the 4 shortest: seconds, not a minute
    replays.mkdir()
    for path in sorted(BC_REPLAYS.glob("*.replay"), key=lambda p: p.stat().st_size)[:4]:
        shutil.copy(path, replays)
    out = tmp_path / "bc"
    real_predict, calls = bc_module.predict_actions, []

    def predict_then_ctrl_c(policy, dataset, *args):  # in epoch 2, once its weights changed
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_predict(policy, dataset, *args)
    monkeypatch.setattr(bc_module, "predict_actions", predict_then_ctrl_c)
    assert main(["bc", "--replays", str(replays), "--out", str(out), "--epochs", "3"]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert [line for line in captured.err.splitlines() if line] == ["ninjarl: interrupted"]
    assert f"interrupted after 1 of 3 epochs; checkpoint saved in {out}" in captured.out
    report = json.loads((out / "bc_report.json").read_text())
    assert report["interrupted"] is True and [e["epoch"] for e in report["epochs"]] == [1]
    agent = load_agent(out)             # the weights of 1 epoch and part of the next
    assert sorted(p.name for p in tmp_path.iterdir()) == [".bc_cache", "bc", "replays"]
    check_bc_out(out)                                      # a new `ninjarl bc` may replace it
    import torch

    from ninjarl.sim.replay import read_replay
    torch.manual_seed(agent.train_config.seed)              # the model run_bc started from
    untrained = bc_module.build_bc_model(
        agent.train_config, read_replay(sorted(replays.glob("*.replay"))[0]).map_bytes)
    assert [name for name, weight in untrained.policy.state_dict().items()
            if not torch.equal(weight, agent.policy.state_dict()[name])]    # trained weights


def _group_alive(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes of process group ``pgid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _ctrl_c(argv: list[str], ready, settle: float = 0.3, wait: float = 120):
    """Start ``python -m ninjarl ARGV`` in a session of its own, wait until ``ready(pid)``
    (then ``settle`` seconds), send SIGINT to its whole process group as a terminal's Ctrl-C
    does; returns the exit status, stderr and the seconds from the signal to the exit, once
    no process of the group is left (each is killed after 30 s)."""
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-m", "ninjarl", *argv],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=_with_default_sigint)
    try:
        deadline = time.monotonic() + wait
        while not ready(process.pid) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None and ready(process.pid), process.stderr.read()
        time.sleep(settle)
        os.killpg(process.pid, signal.SIGINT)
        start = time.monotonic()
        _, err = process.communicate(timeout=30)
        seconds = time.monotonic() - start
        while _group_alive(process.pid) and time.monotonic() < start + 30:
            time.sleep(0.05)
        assert _group_alive(process.pid) == []              # no worker left behind
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, err, seconds


def _one_interrupted_line(err: str) -> None:
    """Only ``ninjarl: interrupted`` from ninjarl (Ray logs lines of its own), no traceback."""
    assert "Traceback" not in err, err
    assert [line for line in err.splitlines() if "ninjarl" in line.lower() and (
        "error" in line or "interrupted" in line)] == ["ninjarl: interrupted"], err


def _maps_mention(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("command", [["levels", "build", "{out}", "--train", "400", "--jobs", "2",
                                      "--categories", "complex"],
                                     ["solve", "complex", "--jobs", "2", "--out", "{out}"]],
                         ids=["levels build", "solve"])
def test_ctrl_c_stops_a_worker_pool_and_its_workers(command, tmp_path):
    """SIGINT to the whole foreground group, as a terminal's Ctrl-C, once the workers run."""
    out = tmp_path / "out"
    status, err, seconds = _ctrl_c([a.format(out=out) for a in command],
                                   lambda pid: len(_group_alive(pid)) >= 3, wait=60)
    assert status == 130 and err.strip() == "ninjarl: interrupted", err
    assert seconds < 10
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or (os.cpu_count() or 1) < 2,
                    reason="reads /proc; the default dataset is built by a pool on 2+ CPUs")
def test_ctrl_c_during_the_first_use_generation_of_train_leaves_no_cache_folder(tmp_path,
                                                                                monkeypatch):
    """The README's first command on a fresh cache: interrupted while its pool generates the
    default levels (it hung, and left a temporary folder in the cache)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    status, err, seconds = _ctrl_c(["train", "--out", str(tmp_path / "run"), "--no-doctor"],
                                   lambda pid: len(_group_alive(pid)) >= 3)
    assert status == 130 and err.strip() == "ninjarl: interrupted", err
    assert seconds < 10
    assert not [p for p in cache.rglob("*") if p.name.startswith(".")]        # no temporaries
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc")
def test_ctrl_c_stops_a_play_session(tmp_path):
    """A headless session whose script holds a key for 10M frames, interrupted once pygame's
    SDL is loaded and the window open."""
    pytest.importorskip("pygame")
    script = tmp_path / "keys.json"
    script.write_text(json.dumps([[1, "down", "right"], [10_000_000, "up", "right"]]))
    status, err, seconds = _ctrl_c(["play", "test", "--headless", "--script", str(script),
                                    "--record", str(tmp_path / "attempts")],
                                   lambda pid: _maps_mention(pid, "SDL"), settle=1.0)
    assert status == 130 and err.strip() == "ninjarl: interrupted", err
    assert seconds < 2
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]      # no temporaries


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("command, ray", [
    ("compare", False), ("sweep", False),
    pytest.param("compare", True, marks=pytest.mark.slow),
    pytest.param("sweep", True, marks=pytest.mark.slow)],
    ids=["compare", "sweep", "compare --ray", "sweep --ray"])
def test_ctrl_c_stops_a_comparison_or_sweep_and_its_trials(command, ray, tmp_path):
    """Two trials of a tiny config, interrupted once training runs (with --ray: both, on a
    local Ray instance that takes about 40 s to start): status 130 at once, no process left,
    no temporary. Before, sweep --ray let Ray Tune's own handler run the trials on and exited 1
    after 13 s, and sweep printed Optuna's traceback of the interrupted trial."""
    pytest.importorskip("ray" if ray else "optuna" if command == "sweep" else "numpy")
    from conftest import small_and_broken_configs

    small, _ = small_and_broken_configs(tmp_path)
    out = tmp_path / "out"
    argv = {"compare": ["compare", "--configs", str(small), "--seeds", "2"],
            "sweep": ["sweep", "--config", str(small), "--trials", "2", "--rungs", "2"]}[command]
    status, err, seconds = _ctrl_c(
        [*argv, "--timesteps", "200000", "--envs", "2", "--levels", "test/simple-walk",
         "--out", str(out), *(["--ray"] if ray else [])],
        lambda pid: len(list(out.rglob("tb_*/events.*"))) >= (2 if ray else 1), settle=1.0,
        wait=300)
    assert status == 130, err
    _one_interrupted_line(err)
    assert seconds < 10                # 0.4 s; --ray: 2.1-2.4 s on 2 busy cores
    assert not [p for p in out.rglob("*")
                if p.name.startswith(".") and p.name != ".validate_storage_marker"]  # Tune's
    if not ray:                        # the trial saved its checkpoint: a second call resumes
        assert list(out.glob("*/*/checkpoint/trainer.json") if command == "compare"
                    else out.glob("*/checkpoint/trainer.json"))


# ---- 6. size limits: checked before anything is allocated -------------------------------------

def _replay_bytes(frames: int, trailing: bytes = b"") -> bytes:
    from ninjarl.sim.mapfile import bundled_map_path
    from ninjarl.sim.replay import encode_replay
    return encode_replay(bundled_map_path("test/simple-walk").read_bytes(),
                         np.zeros(frames, np.uint8), False) + trailing


def _header_only(frames: int) -> bytes:
    """A v1 header claiming ``frames`` inputs, with the map but none of the inputs."""
    import struct
    whole = _replay_bytes(1)
    return struct.pack("<IIIB", 1, len(whole) - 14, frames, 0) + whole[13:-1]


SIZE_CASES = [   # (argv with {tmp}, file to write first or None, message)
    (["replay", "{tmp}/long.replay"], ("long.replay", lambda: _replay_bytes(300_000)),
     "long.replay: size: more than 281,579 bytes, larger than any replay"),
    (["replay", "/dev/zero"], None, "/dev/zero: size: more than 281,579 bytes"),
    (["replay", "{tmp}/claims.replay"], ("claims.replay", lambda: _header_only(10**6)),
     "claims.replay: n_inputs: 1,000,000 frames, more than a replay may hold (216,000"),
    (["render", "{tmp}/tail.replay", "--out", "{tmp}/x.png"],
     ("tail.replay", lambda: _replay_bytes(100, b"junk")), "tail.replay: size: file is"),
    (["render", "test/simple-walk", "--out", "{tmp}"], None, ": is a directory; give a file name"),
    (["bench", "sim", "--envs", "1000000000"], None, "--envs: must be in 1..65,536"),
    (["bench", "sim", "--envs", "64", "--frames", "100000000"], None,
     "--envs 64 x --frames 100,000,000: an input tape of 6,104 MiB, above 256 MiB"),
    (["bench", "env", "--envs", "1000000000"], None, "envs: must be in 1..65,536"),
]


@pytest.mark.parametrize("argv, file, message", SIZE_CASES,
                         ids=[" ".join(c[0][:2]) + f" {i}" for i, c in enumerate(SIZE_CASES)])
def test_oversized_input_is_one_line_before_any_allocation(argv, file, message, tmp_path, capsys):
    import time
    if "/dev/zero" in argv and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    if file is not None:
        (tmp_path / file[0]).write_bytes(file[1]())
    before = sorted(tmp_path.iterdir())
    start = time.monotonic()
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    assert time.monotonic() - start < 10
    assert message in _error_line(capsys)
    assert sorted(tmp_path.iterdir()) == before          # nothing written, no temporary


# ---- 7. files and folders get the user's umask ------------------------------------------------

@pytest.fixture
def umask(request, monkeypatch):
    """The process's umask set to ``request.param`` for the test (as a shell's umask would be
    before ninjarl starts: ninjarl.atomic reads it once, at import)."""
    previous = os.umask(request.param)
    monkeypatch.setattr(atomic, "_UMASK", request.param)
    yield request.param
    os.umask(previous)


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=oct, indirect=True)
def test_written_files_and_folders_follow_the_umask(umask, trained, tmp_path, monkeypatch):
    """Atomic files and folder swaps, a built dataset and the default level cache (its size cut
    to one simplest level) written under ``umask``: each file 0666 and folder 0777 less it."""
    import tempfile

    from ninjarl.levels import dataset
    out = tmp_path / "out"
    atomic.write_json(out / "a.json", {})
    new = Path(tempfile.mkdtemp(dir=out))
    (new / "f").write_text("x")
    atomic.replace_dir(new, out / "folder")
    dataset.build_dataset(out / "data", 1, 0, categories=("simplest",), jobs=1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(dataset, "DEFAULT_TRAIN", 1)
    monkeypatch.setattr(dataset, "DEFAULT_TEST", 0)
    monkeypatch.setattr(dataset, "CATEGORIES", ("simplest",))
    dataset.default_dataset(jobs=1)
    written = [p for root in ("out", "cache") for p in (tmp_path / root).rglob("*")]
    assert len([p for p in written if p.suffix == ".map"]) == 2
    for path in written:
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert path.stat().st_mode & 0o777 == expected, (path, oct(path.stat().st_mode))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigint_to_a_training_process_saves_and_exits_130(tmp_path):
    """The real signal, to a `ninjarl train` process once its first update is done (~20 s)."""
    import signal
    import subprocess
    import sys
    import time

    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps({"ppo": {"n_steps": 16, "batch_size": 16, "n_epochs": 1},
                                    "checkpoint_every": 0}))
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "ninjarl", "train", "--levels", "test/simple-walk", "--envs", "2",
         "--timesteps", "100000", "--out", str(out), "--config", str(settings), "--no-doctor"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_with_default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("tb_*/events.*")) and time.monotonic() < deadline:
            time.sleep(0.1)                  # TensorBoard's file: learn() has started
        time.sleep(2)
        os.killpg(process.pid, signal.SIGINT)
        start = time.monotonic()
        _, err = process.communicate(timeout=30)
        seconds = time.monotonic() - start
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert seconds < 1.5, seconds    # 0.5-0.7 s on 2 busy cores (load 7); 1.9-2.7 s with gc teardown
    assert [line for line in err.splitlines() if "ninjarl:" in line] == ["ninjarl: interrupted"]
    steps = read_checkpoint(out / "checkpoint")[1]["num_timesteps"]
    assert steps > 0
    resume(out, timesteps=steps + 32, log=QUIET)
    assert read_checkpoint(out / "checkpoint")[1]["num_timesteps"] >= steps + 32


def test_bench_sim_runs_its_tape_in_interruptible_chunks_with_the_same_result(monkeypatch):
    from ninjarl.bench import sim_bench
    from ninjarl.sim import BatchSimulator, load_level

    tape = sim_bench.sticky_random_inputs(3, 500, seed=1)
    sims = [BatchSimulator([load_level("test/simple-walk")], np.zeros(3, np.int64))
            for _ in range(2)]
    calls = []
    monkeypatch.setattr(sim_bench, "CHUNK_FRAMES", 3 * 64)        # 64 frames per call
    real_run = BatchSimulator.run
    monkeypatch.setattr(BatchSimulator, "run", lambda self, inputs, auto_reset=True: (
        calls.append(inputs.shape), real_run(self, inputs, auto_reset)))
    sim_bench._timed_run(sims[0], tape)
    assert calls == [(3, 64)] * 7 + [(3, 52)]
    sims[1].reset()
    real_run(sims[1], tape)
    for name, array in sims[0].state_dict().items():
        np.testing.assert_array_equal(array, sims[1].state_dict()[name], err_msg=name)
