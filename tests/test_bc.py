"""Behaviour cloning: samples equal the training env's observations, labels follow the
documented rule, splits are by replay, the cache never serves stale samples, and BC on the
PPO policy beats the majority baseline."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from ninjarl.env import make_vec_env
from ninjarl.eval import evaluate
from ninjarl.sim import build_level
from ninjarl.sim.mirror import mirror_actions, mirror_map
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE, read_replay
from ninjarl.train import bc
from ninjarl.train.config import TrainConfig
from ninjarl.train.transfer import transfer_weights

from conftest import BC_REPLAYS

SHORT = [p for p in BC_REPLAYS if p.name.endswith("_100001.replay")][0]      # 37 frames
MEDIUM = [p for p in BC_REPLAYS if p.name.endswith("_100005.replay")][0]     # 184 frames
FEW = BC_REPLAYS[:5]


def config(arch: str = "vision_free", frame_stack: int = 1, **env) -> TrainConfig:
    return TrainConfig(arch=arch, frame_stack=frame_stack, out="unused", env=env or None)


def env_observations(map_bytes: bytes, cfg: TrainConfig, actions) -> list[dict]:
    """The observations make_vec_env returns: after reset, then after each action."""
    venv = make_vec_env([map_bytes], 1, cfg.env, cfg.frame_stack,
                        level_sampler=lambda n, rng: 0)
    obs = [venv.reset()]
    for action in actions:
        obs.append(venv.step(np.array([action]))[0])
    return obs


def write_replay(path: Path, map_bytes: bytes, inputs: np.ndarray) -> Path:
    """A compact-v0 replay file."""
    path.write_bytes(struct.pack("<II", len(map_bytes), len(inputs)) + map_bytes
                     + np.asarray(inputs, np.uint8).tobytes())
    return path


def test_input_bytes_map_to_their_actions():
    np.testing.assert_array_equal(bc.input_actions(np.array(ACTION_TO_INPUT_BYTE, np.uint8)),
                                  np.arange(6))


@pytest.mark.parametrize("arch,frame_stack,replay", [
    ("vision_free", 1, MEDIUM), ("vision_free", 2, MEDIUM), ("local_view", 2, SHORT)])
def test_sample_t_is_the_env_observation_after_t_steps(arch, frame_stack, replay):
    cfg = config(arch, frame_stack, action_repeat=1)
    data = bc.build_bc_dataset([replay], cfg, None, val_fraction=0.0)
    rep = read_replay(replay)
    inverse = {byte: action for action, byte in enumerate(ACTION_TO_INPUT_BYTE)}
    labels = [inverse[int(b)] for b in rep.inputs]
    expected = env_observations(rep.map_bytes, cfg, labels)
    first = next(t for t, label in enumerate(labels) if label != bc.NOOP)   # idle start cut
    assert first > 0 and list(data.step_index) == list(range(first, len(rep.inputs)))
    assert set(data.obs) == set(expected[0])
    for i, t in enumerate(data.step_index):
        for key, value in expected[t].items():
            assert data.obs[key][i].dtype == value.dtype
            np.testing.assert_array_equal(data.obs[key][i], value[0], err_msg=f"{key} t={t}")
        assert data.actions[i] == labels[t]
    if arch == "local_view":                     # SB3's channels-first transpose, stacked
        assert data.obs["player_frame"].shape[1:] == (frame_stack, 84, 84)


@pytest.mark.parametrize("frame_stack, action_repeat", [(1, 4), (2, 3)])
def test_replays_played_side_by_side_are_each_played_alone(frame_stack, action_repeat,
                                                           tmp_path):
    """One ReplayVecEnv over many replays of different lengths gives each replay the samples,
    outcome and frame count that it has alone; a 700-frame limit cuts the longer ones
    (truncated) while the short ones are won, a recording cut after 103 frames (mid-block)
    runs out after exactly those frames, and the mirror images play the same way."""
    env = config(frame_stack=frame_stack, action_repeat=action_repeat, max_frames=700).env
    cut = read_replay(MEDIUM)
    cut_path = write_replay(tmp_path / "cut.replay", cut.map_bytes, cut.inputs[:103])
    replays = [*BC_REPLAYS[::4], cut_path]
    for mirrored in (False, True):
        together = bc.replay_runs(replays, env, frame_stack, mirrored)
        assert {run.outcome for run in together} == {"won", "truncated", "ongoing"}
        assert (together[-1].outcome, together[-1].frames) == ("ongoing", 103)
        for replay, run in zip(replays, together):
            alone = bc.replay_runs([replay], env, frame_stack, mirrored)[0]
            assert (run.outcome, run.frames) == (alone.outcome, alone.frames), replay.name
            assert run.samples.keys() == alone.samples.keys()
            for key, value in alone.samples.items():
                assert run.samples[key].dtype == value.dtype
                np.testing.assert_array_equal(run.samples[key], value, err_msg=key)


def test_the_closed_loop_check_plays_an_even_sample_of_many_held_out_levels():
    few = [f"simple_{i:03d}" for i in range(5)]
    assert bc.closed_loop_sample(list(reversed(few))) == few
    names = [f"{category}_{i:03d}" for category in ("complex", "medium", "simple")
             for i in range(200)]
    sample = bc.closed_loop_sample(names)
    assert len(sample) == len(set(sample)) == bc.CLOSED_LOOP_LEVELS
    shares = {c: sum(name.startswith(c) for name in sample) for c in ("complex", "medium",
                                                                       "simple")}
    assert all(abs(share - 140 / 3) <= 1 for share in shares.values())


def test_block_label_rule():
    assert bc.block_label([0, 1, 1, 1]) == 1
    assert bc.block_label([1, 4, 4, 1]) == 1            # tie: the earliest
    assert bc.block_label([4, 1, 1, 4]) == 4
    assert bc.block_label([2, 3, 5, 3]) == 3
    assert bc.block_label([5, 3]) == 5                  # short last block, tie
    with pytest.raises(ValueError):
        bc.block_label([])


def test_action_repeat_labels_follow_the_rule_on_a_replay():
    data = bc.build_bc_dataset([MEDIUM], config(action_repeat=4), None, val_fraction=0.0)
    frames = bc.input_actions(read_replay(MEDIUM).inputs)
    steps = -(-len(frames) // 4)
    first = data.step_index[0]
    assert list(data.step_index) == list(range(first, steps))
    assert data.actions[0] != bc.NOOP
    assert all(bc.block_label(frames[4 * t:4 * t + 4]) == bc.NOOP for t in range(first))
    # hand-checked blocks of this replay: step 22 holds frames 88..91 = (right, right,
    # jump+right, jump+right) -> right (tie, earliest); step 30 (noop, left x3) -> left;
    # step 33 (left, left, noop, noop) -> left (tie, earliest)
    np.testing.assert_array_equal(frames[88:92], [2, 2, 5, 5])
    np.testing.assert_array_equal(frames[120:124], [0, 1, 1, 1])
    np.testing.assert_array_equal(frames[132:136], [1, 1, 0, 0])
    label = dict(zip(data.step_index.tolist(), data.actions.tolist()))
    assert (label[22], label[30], label[33]) == (2, 1, 1)
    for t, action in label.items():
        assert action == bc.block_label(frames[4 * t:4 * t + 4])


def test_action_repeat_samples_are_env_observations(tmp_path):
    """With inputs constant within each step, every sample equals the env's own step."""
    rep = read_replay(MEDIUM)
    labels = [bc.block_label(bc.input_actions(rep.inputs)[i:i + 4])
              for i in range(0, 120, 4)]
    inputs = np.repeat([ACTION_TO_INPUT_BYTE[a] for a in labels], 4)
    path = write_replay(tmp_path / "blocks.replay", rep.map_bytes, inputs)
    cfg = config(frame_stack=2, action_repeat=4)
    data = bc.build_bc_dataset([path], cfg, None, val_fraction=0.0)
    expected = env_observations(rep.map_bytes, cfg, labels)
    first = data.step_index[0]
    assert list(data.actions) == labels[first:]
    for i, t in enumerate(data.step_index):
        for key, value in expected[t].items():
            np.testing.assert_array_equal(data.obs[key][i], value[0], err_msg=f"{key} t={t}")


@pytest.fixture(scope="module")
def few_dataset():
    return bc.build_bc_dataset(FEW, config(), None, val_fraction=0.4, seed=3)


def test_the_idle_start_is_not_a_sample(few_dataset):
    """Samples begin at the human's first non-noop step (otherwise argmax BC stands still)."""
    for name in few_dataset.replay_names:
        data = few_dataset.replay(name)
        labels = [bc.block_label(block) for block in np.array_split(
            bc.input_actions(read_replay(BC_REPLAYS[0].parent / name).inputs),
            range(4, 4 * (data.step_index[-1] + 1), 4))]
        first = data.step_index[0]
        assert labels[first] != bc.NOOP and set(labels[:first]) <= {bc.NOOP}
        np.testing.assert_array_equal(data.actions, labels[first:])


def test_split_is_by_replay(few_dataset):
    data = few_dataset
    assert set(data.train_names).isdisjoint(data.val_names)
    assert sorted(data.train_names + data.val_names) == sorted(p.name for p in FEW)
    assert len(data.val_names) == 2
    train_reps = set(data.train.replay_index.tolist())
    val_reps = set(data.val.replay_index.tolist())
    assert train_reps.isdisjoint(val_reps) and train_reps | val_reps == set(range(len(FEW)))
    assert len(data.train) + len(data.val) == len(data)
    again = bc.split_replays(data.replay_names, 0.4, 3)
    np.testing.assert_array_equal(again, data.val_replays)


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    replays = FEW[:3]
    calls = []
    real = bc.replay_runs

    def counting(*args, **kwargs):
        calls.extend(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(bc, "replay_runs", counting)

    base = config()
    first = bc.build_bc_dataset(replays, base, tmp_path)
    assert not first.from_cache and len(calls) == 3
    assert len(list(tmp_path.glob("bc-*.npz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("a cached dataset was rebuilt")
    monkeypatch.setattr(bc, "replay_runs", fail)
    second = bc.build_bc_dataset(list(reversed(replays)), base, tmp_path)
    assert second.from_cache and second.cache_key == first.cache_key
    for name, value in first.arrays().items():
        np.testing.assert_array_equal(second.arrays()[name], value, err_msg=name)

    monkeypatch.setattr(bc, "replay_runs", counting)
    changes = [config(action_repeat=2), config(arch="gcn"), config(frame_stack=2),
               config(max_frames=3000)]
    keys = {first.cache_key}
    for cfg in changes:
        calls.clear()
        data = bc.build_bc_dataset(replays, cfg, tmp_path)
        assert not data.from_cache and len(calls) == 3
        keys.add(data.cache_key)
    assert len(keys) == 1 + len(changes)
    calls.clear()
    assert not bc.build_bc_dataset(replays, base, tmp_path, seed=1).from_cache   # split seed
    changed = tmp_path / "changed"
    changed.mkdir()
    rep = read_replay(replays[0])
    write_replay(changed / replays[0].name, rep.map_bytes, rep.inputs[:-1])
    data = bc.build_bc_dataset([changed / replays[0].name, *replays[1:]], base, tmp_path)
    assert not data.from_cache and data.cache_key not in keys


def test_mirrored_samples_are_the_env_on_the_mirrored_level():
    cfg = config(action_repeat=1)
    data = bc.build_bc_dataset([MEDIUM], cfg, None, val_fraction=0.0, mirror=True)
    assert data.replay_names == [MEDIUM.name, MEDIUM.name + bc.MIRROR_SUFFIX]
    assert not data.val_replays.any()
    original, image = data.replay(MEDIUM.name), data.replay(MEDIUM.name + bc.MIRROR_SUFFIX)
    np.testing.assert_array_equal(image.actions, mirror_actions(original.actions))
    rep = read_replay(MEDIUM)
    expected = env_observations(mirror_map(rep.map_bytes), cfg,
                                mirror_actions(bc.input_actions(rep.inputs)))
    np.testing.assert_array_equal(image.step_index, original.step_index)
    for i, t in enumerate(image.step_index):
        for key, value in expected[t].items():
            np.testing.assert_array_equal(image.obs[key][i], value[0], err_msg=f"{key} t={t}")


def test_mirroring_augments_only_the_training_split(tmp_path):
    cfg = config(action_repeat=4)
    plain = bc.build_bc_dataset(FEW, cfg, tmp_path, val_fraction=0.4, seed=3)
    mirrored = bc.build_bc_dataset(FEW, cfg, tmp_path, val_fraction=0.4, seed=3, mirror=True)
    assert not mirrored.from_cache and mirrored.cache_key != plain.cache_key
    assert mirrored.val_names == plain.val_names
    assert mirrored.train_names == plain.train_names + [
        name + bc.MIRROR_SUFFIX for name in plain.train_names]
    for name in plain.train_names:     # labels of a k-frame block relabel like its frames
        np.testing.assert_array_equal(mirrored.replay(name + bc.MIRROR_SUFFIX).actions,
                                      mirror_actions(plain.replay(name).actions))
    for key, value in plain.val.obs.items():
        np.testing.assert_array_equal(mirrored.val.obs[key], value)


def test_repeat_previous_baseline_is_per_replay():
    data = bc.BCDataset(obs={}, actions=np.array([3, 1, 1, 2, 2]),
                        rewards=np.zeros(5, np.float32), returns=np.zeros(5, np.float32),
                        replay_index=np.array([0, 0, 0, 1, 1]),
                        step_index=np.array([0, 1, 2, 0, 1]), replay_names=["a", "b"],
                        val_replays=np.array([False, False]))
    np.testing.assert_array_equal(bc.repeat_previous_predictions(data), [0, 3, 1, 0, 2])
    assert bc.majority_action(data.actions) == 1


def test_train_bc_beats_the_majority_baseline(few_dataset):
    cfg = config()
    model = bc.build_bc_model(cfg, read_replay(FEW[0]).map_bytes)
    report = bc.train_bc(model, few_dataset, epochs=8, batch_size=64, lr=1e-3,
                         value_warmup=True, seed=0)
    assert report.train_accuracy > report.train_majority_baseline + 0.05
    assert report.epochs[-1]["loss"] < report.epochs[0]["loss"]
    assert "value_loss" in report.epochs[0]
    doc = json.loads(json.dumps(report.to_json()))
    for key in ("val_accuracy", "majority_baseline", "repeat_previous_baseline"):
        assert 0.0 <= doc[key] <= 1.0
    assert set(doc["val_replays"]) == set(few_dataset.val_names)


def test_run_bc_writes_a_checkpoint_train_bc_can_load(tmp_path):
    replays = tmp_path / "replays"
    replays.mkdir()
    for path in FEW[:3]:
        (replays / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "bc"
    report = bc.run_bc(replays, out, epochs=1, batch_size=128, log=None)
    assert json.loads((out / "bc_report.json").read_text())["val_samples"] == report.val_samples
    assert (tmp_path / ".bc_cache").is_dir()
    run = TrainConfig(arch="vision_free", out=str(tmp_path / "ft"), bc=str(out))
    model = bc.build_bc_model(run, read_replay(FEW[0]).map_bytes)
    loaded = transfer_weights(model, out, run)
    assert loaded.loaded and not loaded.missing
    # the closed-loop figure is the transferred policy playing the held-out replays' levels
    assert report.val_levels_played == sorted(report.val_replays)
    held_out = [build_level(read_replay(replays / name).map_bytes, name)
                for name in report.val_levels_played]
    replayed = evaluate(model, held_out, ["x"] * len(held_out), run.env, run.frame_stack)
    assert report.val_levels_won_argmax == replayed.success_rate
    assert 0.0 <= report.val_levels_won_sampled <= 1.0


def test_bc_command_writes_a_checkpoint_and_report(tmp_path):
    import shutil

    from ninjarl.cli import main

    from conftest import BC_REPLAYS
    replays = tmp_path / "replays"
    replays.mkdir()
    for path in BC_REPLAYS[:4]:
        shutil.copy(path, replays / path.name)
    out = tmp_path / "bc"
    assert main(["bc", "--replays", str(replays), "--out", str(out), "--epochs", "1"]) == 0
    report = json.loads((out / "bc_report.json").read_text())
    assert {"val_accuracy", "majority_baseline", "repeat_previous_baseline"} <= set(report)
    assert (out / "policy.pt").is_file() and (out / "config.json").is_file()
    assert main(["bc", "--replays", str(tmp_path / "none"), "--out", str(out)]) == 2
