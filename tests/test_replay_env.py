"""The replay env of behaviour cloning is the training env: same kernel, same numbers.

Every bundled human replay is played twice — through :class:`ReplayVecEnv` (per-frame blocks)
and through :class:`NinjaVecEnv` stepped with the replay's labelled actions — and the two must
agree on every step. Saving and restoring simulator and engine state is checked here too: the
action-repeat comparison is built on it.
"""
from __future__ import annotations

import numpy as np
import pytest

from ninjarl.env import EnvConfig, FrameStack, NinjaVecEnv, ReplayVecEnv, RewardConfig
from ninjarl.sim import BatchSimulator, build_level
from ninjarl.sim.replay import read_replay
from ninjarl.train.bc import input_actions

from conftest import BC_REPLAYS

EVERY_OBSERVATION = ("player_frame", "global_view", "game_state", "reachability")


def _pair(replay, config):
    level = read_replay(replay).map_bytes
    replay_env = ReplayVecEnv(level, config)
    train_env = NinjaVecEnv([level], num_envs=1, config=config,
                            level_sampler=lambda env_index, rng: 0, seed=0)
    return replay_env, train_env


def _assert_same_step(a, b, where):
    obs_a, rew_a, done_a, info_a = a
    obs_b, rew_b, done_b, info_b = b
    assert obs_a.keys() == obs_b.keys()
    for key in obs_a:
        np.testing.assert_array_equal(obs_a[key], obs_b[key], err_msg=f"{where}: {key}")
    np.testing.assert_array_equal(rew_a, rew_b, err_msg=f"{where}: reward")
    np.testing.assert_array_equal(done_a, done_b, err_msg=f"{where}: done")
    assert info_a[0].keys() == info_b[0].keys(), where
    for key, value in info_a[0].items():
        if key == "terminal_observation":
            for k in value:
                np.testing.assert_array_equal(value[k], info_b[0][key][k], err_msg=where)
        else:
            assert value == info_b[0][key], f"{where}: info {key}"


@pytest.mark.parametrize("images", [False, True], ids=["state", "images"])
def test_every_replay_at_action_repeat_1_is_the_training_env(images):
    config = EnvConfig(action_repeat=1,
                       observations=EVERY_OBSERVATION if images else ("game_state",
                                                                     "reachability"))
    replays = BC_REPLAYS[::10] if images else BC_REPLAYS
    endings = set()
    for replay in replays:
        replay_env, train_env = _pair(replay, config)
        _assert_same_step((replay_env.reset(), 0, 0, [{}]), (train_env.reset(), 0, 0, [{}]),
                          replay.name)
        for t, action in enumerate(input_actions(read_replay(replay).inputs)):
            a = replay_env.step(np.array([action]))
            b = train_env.step(np.array([action]))
            _assert_same_step(a, b, f"{replay.name} step {t}")
            np.testing.assert_array_equal(replay_env.engine.terminated,
                                          train_env.engine.terminated)
            np.testing.assert_array_equal(replay_env.engine.truncated,
                                          train_env.engine.truncated)
            if a[2][0]:
                endings.add("won" if a[3][0]["is_success"] else "other")
                break
    assert "won" in endings            # the comparison reached the replays' wins


def test_constant_action_repeat_blocks_get_the_training_env_reward():
    """At action repeat 4, a block whose 4 frames hold one action is one training-env step
    of that action from the same state: same reward, observation and episode flags."""
    config = EnvConfig(action_repeat=4)
    compared = 0
    for replay in BC_REPLAYS:
        replay_env, train_env = _pair(replay, config)
        replay_env.reset()
        train_env.reset()
        actions = input_actions(read_replay(replay).inputs)
        for start in range(0, len(actions), 4):
            block = actions[start:start + 4]
            constant = len(block) == 4 and (block == block[0]).all()
            if constant:
                train_env.load_state_dict(replay_env.state_dict())
            a = replay_env.step(block)
            if constant:
                b = train_env.step(block[:1])
                _assert_same_step(a, b, f"{replay.name} frame {start}")
                compared += 1
            if a[2][0]:
                break
    assert compared > 1000


def test_the_replay_env_needs_one_to_repeat_frames():
    replay_env, _ = _pair(BC_REPLAYS[0], EnvConfig(action_repeat=4))
    replay_env.reset()
    with pytest.raises(ValueError, match="1 to 4 frames, got 5"):
        replay_env.step(np.zeros(5, np.int64))


def test_the_replay_env_ignores_stuck_truncation():
    replay_env, _ = _pair(BC_REPLAYS[0], EnvConfig(stuck_frames=8))
    replay_env.reset()
    for _ in range(10):                         # standing still for 40 frames
        _, _, dones, _ = replay_env.step(np.zeros(4, np.int64))
        assert not dones[0]


# ---- state save and restore -------------------------------------------------------------------

def test_simulator_restore_then_same_inputs_gives_the_same_frames():
    replay = read_replay(BC_REPLAYS[3])
    sim = BatchSimulator([build_level(replay.map_bytes)], np.zeros(3, np.int64))
    rng = np.random.default_rng(0)
    sim.run(rng.choice(np.array([0, 2, 4, 6, 1, 3], np.uint8), (3, 50)))
    saved = sim.state_dict()
    tape = rng.choice(np.array([0, 2, 4, 6, 1, 3], np.uint8), (3, 200))
    sim.run(tape)
    first = sim.state_dict()
    sim.load_state_dict(saved)
    sim.run(tape)
    for name, array in sim.state_dict().items():
        np.testing.assert_array_equal(array, first[name], err_msg=name)
    assert not np.array_equal(first["ninja_f"], saved["ninja_f"])     # the ninjas moved


def test_simulator_state_of_some_envs_moves_between_rows():
    replay = read_replay(BC_REPLAYS[3])
    sim = BatchSimulator([build_level(replay.map_bytes)], np.zeros(2, np.int64))
    sim.run(np.full((2, 30), 2, np.uint8))
    row0 = sim.state_dict(np.array([0]))
    sim.reset(np.array([0]))
    sim.load_state_dict(row0, np.array([1]))
    np.testing.assert_array_equal(sim.state.ninja_f[1], row0["ninja_f"][0])
    with pytest.raises(ValueError, match=r"env_i: shape \(1, 4\), expected \(2, 4\)"):
        sim.load_state_dict(row0)                       # one row into two


def test_engine_restore_replays_the_same_steps_and_level_draws():
    level = read_replay(BC_REPLAYS[5]).map_bytes
    env = NinjaVecEnv([level, read_replay(BC_REPLAYS[6]).map_bytes], num_envs=4,
                      config=EnvConfig(max_frames=80, reward=RewardConfig(novelty=0.0005)),
                      seed=1)          # the novelty bonus: the cells visited are restored too
    env.reset()
    actions = np.random.default_rng(2).integers(0, 6, (60, 4))
    saved = env.state_dict()

    def run():
        out = []
        for a in actions:          # several episodes end: resets draw levels from the RNG
            obs, rewards, dones, infos = env.step(a)
            out.append((obs["game_state"].copy(), rewards.copy(), dones.copy(),
                        [i.get("level_index") for i in infos]))
        return out

    first = run()
    env.load_state_dict(saved)
    second = run()
    for (o1, r1, d1, l1), (o2, r2, d2, l2) in zip(first, second):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        assert l1 == l2
    assert sum(d.sum() for _, _, d, _ in first) >= 4


def test_frame_stack_state_refuses_another_shape():
    env = NinjaVecEnv(num_envs=4, config=EnvConfig())
    stack = FrameStack(env.observation_space, ["game_state"], 4, 4)
    stack.history["game_state"][:] = 7
    other = FrameStack(env.observation_space, ["game_state"], 4, 4)
    other.load_state_dict(stack.state_dict())
    np.testing.assert_array_equal(other.history["game_state"], 7)
    wrong = FrameStack(env.observation_space, ["game_state"], 5, 4)
    with pytest.raises(ValueError, match=r"'game_state': shape \(4, 4, 32\), this stack has "
                                         r"\(4, 5, 32\)"):
        wrong.load_state_dict(stack.state_dict())
