"""ninjarl.env: Gymnasium/SB3 conformance, levels, episode ends, rewards, frame stacking."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from ninjarl.env import (
    ENV_ID,
    EnvConfig,
    FrameStackEnv,
    FrameStackVecEnv,
    NinjaEnv,
    NinjaVecEnv,
    RewardConfig,
)
from ninjarl.env.config import reward_bounds
from ninjarl.env.rewards import F_PHI, I_FRAMES, I_START_FRAME, I_SWITCH
from ninjarl.sim import build_level, read_replay, simulate_inputs
from ninjarl.sim.constants import CELL, GRID_W, T_EXIT_SWITCH
from ninjarl.sim.layout import ES_TYPE, V_LEVEL, X, Y
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE

from conftest import BC_REPLAYS, MAPS

ACTION_OF_BYTE = {byte: action for action, byte in enumerate(ACTION_TO_INPUT_BYTE)}
TEST_MAPS = [MAPS / "test" / name for name in ("simple-walk", "long-walk", "only-jump")]
ALL_OBS = ("player_frame", "global_view", "game_state", "reachability", "graph")
#: a won mine_heavy replay of 334 frames whose exit switch is hit at frame 173
PLAN_REPLAY = BC_REPLAYS[1]


def _replay(path):
    replay = read_replay(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        level = build_level(replay.map_bytes, path.name)
    return level, np.array([ACTION_OF_BYTE[int(b)] for b in replay.inputs])


def test_gymnasium_and_sb3_env_checkers_pass():
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check
    for observations in (("game_state", "reachability"), ALL_OBS):
        env = NinjaEnv(TEST_MAPS, EnvConfig(observations=observations))
        gym_check(env, skip_render_check=True)
        sb3_check(env, warn=True)


def test_registered_ids_make_single_and_vector_envs():
    env = gym.make(ENV_ID, levels=TEST_MAPS)
    obs, info = env.reset(seed=0)
    assert set(obs) == {"game_state", "reachability"} and "level" in info
    venv = gym.make_vec(ENV_ID, num_envs=4, vectorization_mode="vector_entry_point",
                        levels=TEST_MAPS)
    obs, _ = venv.reset(seed=0)
    assert obs["game_state"].shape == (4, 32)
    obs, rewards, terminated, truncated, _ = venv.step(np.zeros(4, np.int64))
    assert rewards.shape == terminated.shape == truncated.shape == (4,)


def test_sb3_ppo_runs_on_the_vector_env():
    from stable_baselines3 import PPO
    venv = NinjaVecEnv(TEST_MAPS, num_envs=4, seed=0)
    model = PPO("MultiInputPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0,
                device="cpu")
    model.learn(64)
    assert model.num_timesteps == 64


def test_only_requested_observations_are_computed():
    env = NinjaEnv(TEST_MAPS, EnvConfig(observations=("game_state",)))
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"game_state"}
    assert env.engine._renderer is None and env.engine._graph is None


def test_global_view_scale_sets_the_view_size_and_bad_scales_are_refused():
    env = NinjaEnv(TEST_MAPS, EnvConfig(observations=("global_view",), global_view_scale=12))
    obs, _ = env.reset(seed=0)
    assert obs["global_view"].shape == env.observation_space["global_view"].shape == (50, 88, 1)
    for bad in (5, 0, 6.0, True, "6"):
        with pytest.raises(ValueError, match=r"EnvConfig.global_view_scale must be one of "
                                             r"\(1, 2, 3, 4, 6, 8, 12, 24\)"):
            EnvConfig(global_view_scale=bad)


def test_reset_plays_the_requested_level():
    levels = [build_level(p.read_bytes(), p.name) for p in TEST_MAPS]
    spawns = [lv.spawn for lv in levels]
    env = NinjaEnv(levels)
    for k in (2, 0, 1, 2):
        obs, info = env.reset(options={"level": k})
        assert info["level_index"] == k and info["level"] == levels[k].name
        x = (obs["game_state"][0] + 1) / 2 * 1056
        assert x == pytest.approx(spawns[k][0], abs=1e-3)

    chosen = []
    venv = NinjaVecEnv(levels, num_envs=3, seed=1,
                       level_sampler=lambda n, rng: chosen.append(n) or (n + 1) % 3)
    venv.reset()
    assert [int(v) for v in venv.engine.sim.state.env_i[:, 0]] == [1, 2, 0]
    assert sorted(chosen) == [0, 1, 2]


def test_plan_starts_put_episodes_on_their_plan_with_its_clock_and_switch():
    level, _ = _replay(PLAN_REPLAY)
    plan = read_replay(PLAN_REPLAY).inputs
    trace = simulate_inputs(level, plan)
    other = build_level(TEST_MAPS[0].read_bytes(), TEST_MAPS[0].name)
    venv = NinjaVecEnv([level, other], num_envs=64, seed=3)
    engine = venv.engine
    engine.set_start_plans([plan, None], share=0.5)
    venv.reset()
    start, played = engine.env_i[:, I_START_FRAME], engine.sim.state.env_i[:, V_LEVEL]
    on_plan = start > 0
    assert 10 < on_plan.sum() < (played == 0).sum()          # about half of level 0's
    assert (start[played == 1] == 0).all()                   # no plan: the spawn
    assert (start % 4 == 0).all() and start.max() < len(plan)
    switch = np.flatnonzero(level.ent_si[:, ES_TYPE] == T_EXIT_SWITCH)[0]
    switch_index = int(np.argmax(trace["ent_active"][:, switch] == 0))  # hit in frame index+1
    assert 0 < switch_index < len(plan) - 1
    played_it = NinjaVecEnv([level], num_envs=1, seed=0)    # the same frames, played
    actions = np.array([ACTION_OF_BYTE[int(b)] for b in plan])
    for n in np.flatnonzero(on_plan):
        f = int(start[n])
        assert engine.sim.state.ninja_f[n, X] == trace["x"][f - 1]
        assert engine.sim.state.ninja_f[n, Y] == trace["y"][f - 1]
        assert engine.env_i[n, I_FRAMES] == f and engine.info(n)["start_frame"] == f
        assert engine.env_i[n, I_SWITCH] == (f > switch_index)
        played_it.reset()
        played_it.engine.step_frames(actions[None, :f])
        assert engine.env_f[n, F_PHI] == played_it.engine.env_f[0, F_PHI]
        assert engine.env_i[n, I_SWITCH] == played_it.engine.env_i[0, I_SWITCH]
        assert (engine.sim.state.ninja_f[n] == played_it.engine.sim.state.ninja_f[0]).all()
        visited = np.flatnonzero(engine.visited[n])          # the novelty bonus starts here
        x, y = engine.sim.state.ninja_f[n, [X, Y]]
        assert visited.tolist() == [int(y // CELL) * GRID_W + int(x // CELL)]
    assert (engine.env_i[on_plan, I_START_FRAME] > switch_index).any()


def test_an_episode_started_along_its_plan_wins_by_the_rest_of_it():
    level, actions = _replay(PLAN_REPLAY)
    plan = read_replay(PLAN_REPLAY).inputs
    venv = NinjaVecEnv([level], num_envs=1, config=EnvConfig(action_repeat=1), seed=0)
    venv.engine.set_start_plans([plan], share=1.0)
    venv.reset()
    f = int(venv.engine.env_i[0, I_START_FRAME])
    assert f > 0
    for action in actions[f:-1]:
        _, _, dones, _ = venv.step(np.array([action]))
        assert not dones[0]
    _, _, dones, infos = venv.step(np.array([actions[-1]]))
    assert dones[0] and infos[0]["is_success"] and infos[0]["frames"] == len(plan)
    assert infos[0]["start_frame"] == f and infos[0]["episode"]["l"] == len(plan) - f


def test_no_plan_share_samples_as_without_plans():
    level, _ = _replay(PLAN_REPLAY)
    plan = read_replay(PLAN_REPLAY).inputs
    other = build_level(TEST_MAPS[0].read_bytes(), TEST_MAPS[0].name)
    plain, with_plans = (NinjaVecEnv([level, other], num_envs=16, seed=5) for _ in range(2))
    with_plans.engine.set_start_plans([plan, None], share=0.0)
    for venv in (plain, with_plans):
        venv.reset()
    assert (plain.engine.sim.state.env_i == with_plans.engine.sim.state.env_i).all()
    assert (with_plans.engine.env_i[:, I_START_FRAME] == 0).all()
    with pytest.raises(ValueError, match="share must be in"):
        plain.engine.set_start_plans([plan, None], share=1.5)
    with pytest.raises(ValueError, match="1 for 2 levels"):
        plain.engine.set_start_plans([plan], share=0.5)


def test_a_plan_that_is_not_the_levels_is_refused_where_it_ends_the_episode():
    level, _ = _replay(PLAN_REPLAY)
    venv = NinjaVecEnv([level], num_envs=64, seed=0)
    wrong = np.full(40, ACTION_TO_INPUT_BYTE[1], np.uint8)   # left into a mine, dead at 32
    assert simulate_inputs(level, wrong)["outcome_frame"] == 32
    venv.engine.set_start_plans([wrong], share=1.0)
    with pytest.raises(ValueError, match="not a winning run of this level"):
        venv.reset()


def test_single_and_vector_env_give_identical_observations():
    level, actions = _replay(BC_REPLAYS[5])
    config = EnvConfig(observations=ALL_OBS, action_repeat=1)
    env = NinjaEnv([level], config)
    venv = NinjaVecEnv([level], num_envs=3, config=config, seed=0)
    obs_single, _ = env.reset()
    obs_vec = venv.reset()
    for action in actions[:-1]:
        for key in obs_single:
            for n in range(3):
                np.testing.assert_array_equal(obs_vec[key][n], obs_single[key], err_msg=key)
        obs_single, *_ = env.step(action)
        obs_vec, *_ = venv.step(np.full(3, action))


def test_win_is_terminated_with_success_info():
    level, actions = _replay(BC_REPLAYS[0])
    env = NinjaEnv([level], EnvConfig(action_repeat=1))
    env.reset()
    for action in actions[:-1]:
        _, _, terminated, truncated, info = env.step(action)
        assert not terminated and not truncated
    _, reward, terminated, truncated, info = env.step(actions[-1])
    assert terminated and not truncated and info["is_success"] and info["switch_activated"]
    assert info["frames"] == len(actions) and info["death_cause"] == ""


def test_time_limit_truncates_never_terminates():
    env = NinjaEnv(TEST_MAPS[:1], EnvConfig(max_frames=40, action_repeat=4))
    env.reset()
    for step in range(10):
        _, _, terminated, truncated, info = env.step(0)
        assert not terminated
        assert truncated == (step == 9)
    assert not info["is_success"] and info["frames"] == 40

    venv = NinjaVecEnv(TEST_MAPS[:1], num_envs=2, config=EnvConfig(max_frames=8))
    venv.reset()
    venv.step(np.zeros(2, np.int64))
    _, _, dones, infos = venv.step(np.zeros(2, np.int64))
    assert dones.all() and all(i["TimeLimit.truncated"] for i in infos)
    assert all("terminal_observation" in i and "episode" in i for i in infos)


def test_stuck_truncation_is_optional():
    config = EnvConfig(stuck_frames=60, stuck_radius=5.0)
    env = NinjaEnv(TEST_MAPS[:1], config)
    env.reset()
    truncated_at = next(s for s in range(100) if env.step(0)[3])
    assert truncated_at == 14            # 15 steps x 4 frames = 60 frames without moving
    env = NinjaEnv(TEST_MAPS[:1], EnvConfig())
    env.reset()
    assert not any(env.step(0)[3] for _ in range(100))


def test_stuck_fails_ends_a_frozen_episode_as_a_death():
    """With stuck_fails, the 15th still step terminates with the death reward where the plain
    stuck cut truncates with the shaping terms only; both say so in the info."""
    ends = {}
    for fails in (False, True):
        config = EnvConfig(stuck_frames=60, stuck_radius=5.0, stuck_fails=fails)
        env = NinjaEnv(TEST_MAPS[:1], config)
        env.reset()
        for step in range(15):
            _, reward, terminated, truncated, info = env.step(0)
            assert (terminated or truncated) == (step == 14)
            assert info["stuck"] == (step == 14) and not info["is_success"]
        ends[fails] = (reward, terminated, truncated)
    (kept_reward, kept_term, kept_trunc), (failed_reward, failed_term, failed_trunc) = ends.values()
    assert (kept_term, kept_trunc) == (False, True) and (failed_term, failed_trunc) == (True, False)
    death = EnvConfig().reward.death
    assert failed_reward < kept_reward and failed_reward <= death + 0.01


def test_game_rules_drop_only_the_stuck_cut():
    config = EnvConfig(stuck_frames=60, stuck_fails=True, max_frames=3000, gamma=0.95)
    assert config.game_rules() == EnvConfig(max_frames=3000, gamma=0.95)


def test_death_is_terminated_with_its_cause():
    # long-jump-reachable: the first random test trace dies of a floor impact (scenarios)
    from conftest import SCENARIOS
    data = np.load(SCENARIOS / "random_test_long-jump-reachable.npz")
    level = build_level(data["map_data"].tobytes())
    env = NinjaEnv([level], EnvConfig(action_repeat=1))
    env.reset()
    for byte in data["inputs_raw"]:
        _, reward, terminated, truncated, info = env.step(ACTION_OF_BYTE[int(byte)])
        if terminated:
            break
    assert info["frames"] == int(data["outcome_frame"]) and info["death_cause"] == "impact_floor"
    assert not info["is_success"]


@pytest.mark.parametrize("path", BC_REPLAYS, ids=lambda p: p.stem)
def test_reward_invariant_and_shaping_telescopes(path):
    level, actions = _replay(path)
    config = EnvConfig(action_repeat=1)
    unshaped = EnvConfig(action_repeat=1, reward=RewardConfig(shaping_scale=0.0))
    runs = {}
    for name, cfg in (("shaped", config), ("unshaped", unshaped)):
        env = NinjaEnv([level], cfg)
        env.reset()
        phi0 = env.engine.env_f[0, F_PHI]
        runs[name] = (np.array([env.step(a)[1] for a in actions], np.float64), phi0)
    shaped, phi0 = runs["shaped"]
    shaping = shaped - runs["unshaped"][0]
    # phi = 0 at the terminal state: the discounted shaping sum telescopes to -phi(s0)
    discounts = config.gamma ** np.arange(len(actions))
    assert np.dot(discounts, shaping) == pytest.approx(-phi0, abs=1e-6)
    # this human win, at its own time, beats every possible death and timeout on its level
    _, best_death, best_timeout = reward_bounds(config)
    assert shaped.sum() > max(best_death, best_timeout) - phi0


def test_novelty_bonus_pays_each_cell_once_an_episode():
    """With ``reward.novelty``, a step's reward gains the bonus exactly when the step ends in a
    grid cell the ninja has not been in this episode (its start cell counts as visited); the
    next episode pays for the same cells again."""
    level, actions = _replay(BC_REPLAYS[5])         # a complex level, 769 frames, 43 cells
    trace = simulate_inputs(level, read_replay(BC_REPLAYS[5]).inputs)
    bonus = 0.0005
    rewards = {}
    for novelty in (0.0, bonus):
        env = NinjaEnv([level], EnvConfig(action_repeat=1, reward=RewardConfig(novelty=novelty)))
        episodes = []
        for _ in range(2):
            env.reset()
            spawn = env.engine.sim.state.ninja_f[0, [X, Y]].copy()
            episodes.append(np.array([env.step(a)[1] for a in actions], np.float64))
        rewards[novelty] = episodes
    cells = [(int(x // CELL), int(y // CELL))
             for x, y in [spawn, *zip(trace["x"][:len(actions)], trace["y"][:len(actions)])]]
    new = np.array([cell not in cells[:k] for k, cell in enumerate(cells)][1:])
    assert 30 < new.sum() < len(actions) / 10
    for plain, with_bonus in zip(rewards[0.0], rewards[bonus]):
        np.testing.assert_allclose(with_bonus - plain, bonus * new, atol=1e-12)


def test_win_at_the_time_limit_beats_every_failure():
    for repeat in (1, 2, 4, 8):
        for gamma in (0.9, 0.99, 0.999, 1.0):
            worst_win, best_death, best_timeout = reward_bounds(
                EnvConfig(action_repeat=repeat, gamma=gamma))
            assert worst_win > best_death and worst_win > best_timeout


def test_reward_config_that_prefers_dying_is_rejected():
    with pytest.raises(ValueError, match="reward"):
        EnvConfig(reward=RewardConfig(time_per_frame=-0.01))     # a timeout costs -50
    with pytest.raises(ValueError, match="shaping_scale"):
        EnvConfig(action_repeat=1, reward=RewardConfig(shaping_scale=0.5))
    with pytest.raises(ValueError, match="observations"):
        EnvConfig(observations=("pixels",))
    with pytest.raises(ValueError, match="action_repeat"):
        EnvConfig(action_repeat=0)


@pytest.mark.parametrize("padding", ["zero", "repeat"])
def test_frame_stack_shapes_and_padding(padding):
    config = EnvConfig(observations=("player_frame", "game_state"))
    env = FrameStackEnv(NinjaEnv(TEST_MAPS[:1], config), ["player_frame", "game_state"], 3,
                        padding)
    obs, _ = env.reset()
    assert obs["player_frame"].shape == (84, 84, 3) and obs["game_state"].shape == (3, 32)
    assert env.observation_space["player_frame"].shape == (84, 84, 3)
    first = obs["game_state"][-1].copy()
    if padding == "zero":
        assert not obs["game_state"][:2].any() and not obs["player_frame"][..., :2].any()
    else:
        np.testing.assert_array_equal(obs["game_state"][0], first)
    obs, *_ = env.step(2)
    np.testing.assert_array_equal(obs["game_state"][1], first)

    venv = FrameStackVecEnv(NinjaVecEnv(TEST_MAPS[:1], num_envs=2, config=EnvConfig(
        observations=("game_state",), max_frames=8)), ["game_state"], 4, padding)
    obs = venv.reset()
    assert obs["game_state"].shape == (2, 4, 32)
    previous = venv.step(np.zeros(2, np.int64))[0]["game_state"][0][-1]
    obs, _, dones, infos = venv.step(np.zeros(2, np.int64))
    assert dones.all()
    terminal = infos[0]["terminal_observation"]["game_state"]
    assert terminal.shape == (4, 32)
    np.testing.assert_array_equal(terminal[-2], previous)    # the history runs to the end
    if padding == "zero":
        assert not obs["game_state"][0][:3].any()     # the new episode starts from padding


def test_rgb_array_rendering_and_render_command(tmp_path):
    env = NinjaEnv(TEST_MAPS[:1], render_mode="rgb_array")
    env.reset()
    image = env.render()
    assert image.shape == (600, 1056, 3) and image.dtype == np.uint8

    from ninjarl.cli import main
    out = tmp_path / "level.png"
    assert main(["render", str(TEST_MAPS[0]), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["render", str(tmp_path / "missing"), "--out", str(out)]) == 2
