"""The batched simulator: batch membership, resets and auto-reset change nothing."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from ninjarl.sim import BatchSimulator, Simulator, build_level, read_replay, simulate_inputs
from ninjarl.sim.layout import E_X, E_Y, STATE, VX, VY, X, Y

from conftest import BC_REPLAYS, SCENARIOS


def _corpus():
    """(level, inputs) for every bc replay and scenario: many maps, every entity type."""
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in BC_REPLAYS:
            replay = read_replay(path)
            runs.append((build_level(replay.map_bytes, path.name), replay.inputs))
        for path in sorted(SCENARIOS.glob("*.map")):
            if not path.with_suffix(".inputs").exists():   # load_example.map has no run
                continue
            inputs = np.frombuffer(path.with_suffix(".inputs").read_bytes(), np.uint8)
            runs.append((build_level(path.read_bytes(), path.name), inputs))
    return runs


CORPUS = _corpus()
FRAMES = 300


def _padded_inputs(inputs, frames):
    out = np.zeros(frames, np.uint8)
    out[:min(frames, len(inputs))] = inputs[:frames]
    return out


def test_alone_and_in_a_batch_of_1024_mixed_levels_give_identical_frames():
    n_envs = 1024
    levels = [level for level, _ in CORPUS]
    env_level = np.arange(n_envs) % len(levels)
    # each env plays its level's recorded inputs, shifted so envs sharing a level differ
    inputs = np.stack([np.roll(_padded_inputs(CORPUS[lv][1], FRAMES), 7 * (i // len(levels)))
                       for i, lv in enumerate(env_level)])
    batch = BatchSimulator(levels, env_level)
    xs = np.zeros((FRAMES, n_envs, 4))
    states = np.zeros((FRAMES, n_envs), np.int64)
    ent_x = [np.zeros((FRAMES, lv.n_entities)) for lv in (levels[k] for k in env_level)]
    for f in range(FRAMES):
        batch.run(inputs[:, f:f + 1], auto_reset=False)
        xs[f] = batch.state.ninja_f[:, [X, Y, VX, VY]]
        states[f] = batch.state.ninja_i[:, STATE]
        for i, lv in enumerate(env_level):
            ent_x[i][f] = batch.state.ent_f[i, :levels[lv].n_entities, E_X]
    for i, lv in enumerate(env_level):
        alone = simulate_inputs(levels[lv], inputs[i])
        np.testing.assert_array_equal(xs[:, i], np.stack(
            [alone["x"], alone["y"], alone["xspeed"], alone["yspeed"]], axis=1))
        np.testing.assert_array_equal(states[:, i], alone["state"])
        np.testing.assert_array_equal(ent_x[i], alone["ent_x"])


@pytest.mark.parametrize("name", ["drone_doors.map", "deathball_repel.map", "regular_door.map",
                                  "toggle_mine_kill.map", "thwump_crush.map", "trap_door.map"])
def test_reset_is_a_fresh_load(name):
    level = build_level((SCENARIOS / name).read_bytes(), name)
    inputs = np.frombuffer((SCENARIOS / name).with_suffix(".inputs").read_bytes(), np.uint8)
    first = simulate_inputs(level, inputs)
    batch = BatchSimulator([level], np.zeros(1, np.int64))
    batch.run(inputs[None, :], auto_reset=False)   # doors, mines, balls all changed state
    batch.reset()
    replayed = np.zeros((len(inputs), 2))
    entities = np.zeros((len(inputs), level.n_entities, 2))
    for f in range(len(inputs)):
        batch.run(inputs[None, f:f + 1], auto_reset=False)
        replayed[f] = batch.state.ninja_f[0, [X, Y]]
        entities[f] = batch.state.ent_f[0, :level.n_entities][:, [E_X, E_Y]]
    np.testing.assert_array_equal(replayed, np.stack([first["x"], first["y"]], axis=1))
    np.testing.assert_array_equal(entities, np.stack([first["ent_x"], first["ent_y"]], axis=2))


def test_reset_onto_another_level_equals_a_fresh_simulator():
    (lv_a, in_a), (lv_b, in_b) = CORPUS[3], CORPUS[-5]
    batch = BatchSimulator([lv_a, lv_b], np.zeros(1, np.int64))
    batch.run(in_a[None, :], auto_reset=False)
    batch.reset(env_level=np.array([1]))
    batch.run(in_b[None, :], auto_reset=False)
    alone = simulate_inputs(lv_b, in_b)
    assert batch.state.ninja_f[0, X] == alone["x"][-1]
    assert batch.state.ninja_f[0, Y] == alone["y"][-1]


def test_auto_reset_restarts_finished_episodes():
    level, inputs = CORPUS[0]                     # a replay that wins on its last frame
    batch = BatchSimulator([level], np.zeros(2, np.int64))
    tape = np.stack([np.concatenate([inputs, inputs]), np.concatenate([inputs, inputs])])
    batch.run(tape, auto_reset=True)
    np.testing.assert_array_equal(batch.episodes, [2, 2])
    assert (batch.state.ninja_f[:, X] == level.spawn[0]).all()   # back at the spawn
    assert (batch.state.ninja_i[:, STATE] == 0).all()


def test_single_simulator_facade_matches_the_batch_trace():
    level, inputs = CORPUS[10]
    sim = Simulator(level)
    trace = simulate_inputs(level, inputs)
    for f, byte in enumerate(inputs):
        sim.tick(-1 if byte & 4 else (1 if byte & 2 else 0), byte & 1)
        assert (sim.x, sim.y, sim.xspeed, sim.yspeed, sim.state) == (
            trace["x"][f], trace["y"][f], trace["xspeed"][f], trace["yspeed"][f], trace["state"][f])
    assert sim.frame == len(inputs)


def test_unimplemented_entity_types_warn_once_per_map():
    path = next(p for p in BC_REPLAYS if "113733_train_simple_100004" in p.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_level(read_replay(path).map_bytes, path.name)
    assert len(caught) == 1 and "16" in str(caught[0].message)


def test_batch_rejects_bad_arguments():
    level = CORPUS[0][0]
    with pytest.raises(ValueError, match="env_level"):
        BatchSimulator([level], np.array([1]))
    batch = BatchSimulator([level], np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="shape"):
        batch.run(np.zeros((3, 5), np.uint8))


def test_compiled_cache_key_covers_every_package_with_kernels(tmp_path):
    """The environment's kernels inline functions of other env modules (and of sim and nav):
    an edit to any of them must start a fresh numba cache, an edit elsewhere need not."""
    from ninjarl.sim._jit import COMPILED_PACKAGES, _source_digest
    for package in (*COMPILED_PACKAGES, "train"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "kernels.py").write_text("x = 1\n")
    before = _source_digest(tmp_path)
    (tmp_path / "train" / "kernels.py").write_text("x = 2\n")
    assert _source_digest(tmp_path) == before
    for package in ("sim", "nav", "env", "draw"):
        (tmp_path / package / "kernels.py").write_text(f"x = {package!r}\n")
        after = _source_digest(tmp_path)
        assert after != before, package
        before = after
