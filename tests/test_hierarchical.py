"""Hierarchical PPO: both levels train, collection and update agree on the subtask, the
per-env subtask state across episode ends, save/load, resume, BC transfer, the subtask
observation."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback

from ninjarl.env import EnvConfig, NinjaVecEnv, make_vec_env
from ninjarl.env.subtasks import ACHIEVED, AVAILABLE, DISTANCE, SUBTASKS
from ninjarl.models.hierarchical import SubtaskState
from ninjarl.nav import analyze_level, sub_cell
from ninjarl.sim import build_level
from ninjarl.sim.mapfile import EntitySpec, write_map
from ninjarl.train import PPOConfig, TrainConfig, load_agent, resume, train
from ninjarl.train.checkpoint import save_checkpoint
from ninjarl.train.config import HierarchicalConfig
from ninjarl.train.ppo import build_model
from ninjarl.train.transfer import hierarchical_source, transfer_weights

from test_train import LEVEL, tiny_config

QUIET = dict(log=lambda *_: None)


def _subtask_map(spawn_x: int = 60) -> bytes:
    """An open room where every subtask is on offer near the spawn (60, 540): the exit switch
    48 px to the right, a locked door's switch 30 px to the left, a mine 42 px above, the
    locked door at x = 420."""
    tiles = np.zeros((42, 23), np.uint8)
    tiles[:, 22] = 1
    return write_map(tiles, spawn_x, 540, [
        EntitySpec(3, 600, 534, 0, 0), EntitySpec(4, 108, 540, 0, 0),
        EntitySpec(6, 420, 534, 0, 0, 30, 540), EntitySpec(1, 60, 498, 0, 0)])


@pytest.fixture(scope="module")
def subtask_level(tmp_path_factory):
    path = tmp_path_factory.mktemp("maps") / "subtasks"
    path.write_bytes(_subtask_map())
    return str(path)


def _config(max_steps: int = 8, **overrides) -> TrainConfig:
    settings = dict(arch="vision_free", levels=LEVEL, timesteps=64, envs=6, seed=6,
                    checkpoint_every=0, ppo=PPOConfig(n_steps=48, batch_size=72, n_epochs=2),
                    env={"max_frames": 200}, hierarchical=HierarchicalConfig(max_steps=max_steps))
    return TrainConfig(**(settings | overrides))


def _model(config: TrainConfig, level: str):
    venv = make_vec_env([level], config.envs, config.env, config.frame_stack, seed=config.seed)
    return build_model(config, venv)


class Dones(BaseCallback):
    """Records every step's episode ends."""

    def __init__(self):
        super().__init__()
        self.dones = []

    def _on_step(self) -> bool:
        self.dones.append(self.locals["dones"].copy())
        return True


def test_one_update_changes_and_trains_every_parameter_of_both_levels(subtask_level):
    config = _config()
    model = _model(config, subtask_level)
    policy = model.policy
    names = [n for n, _ in policy.named_parameters()]
    assert {n.split(".")[0] for n in names} == {"features", "high_level", "low_level"}
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    gradient = dict.fromkeys(names, 0.0)
    step = policy.optimizer.step

    def recording_step(*args, **kwargs):
        for n, p in policy.named_parameters():
            gradient[n] += 0.0 if p.grad is None else float(p.grad.abs().sum())
        return step(*args, **kwargs)

    policy.optimizer.step = recording_step
    model.learn(config.ppo.n_steps * config.envs)         # one rollout, one update
    chosen = model.rollout_buffer.subtask[model.rollout_buffer.decision]
    assert set(chosen.tolist()) == set(range(len(SUBTASKS))), "every subtask must be chosen"
    for n, p in policy.named_parameters():
        assert gradient[n] > 0, f"{n} received no gradient"
        assert not torch.equal(before[n], p.detach()), f"{n} did not change"


def test_evaluate_actions_uses_the_subtask_of_collection_for_every_sample(subtask_level):
    config = _config()
    model = _model(config, subtask_level)
    in_collection, in_update = [], []
    minibatch = []                     # the sample indices of the minibatch being evaluated
    low_forward = model.policy.low_forward

    def recording_low_forward(features, table, subtask, steps):
        (in_update if minibatch else in_collection).append(
            (minibatch[-1] if minibatch else None, subtask.clone(), steps.clone()))
        return low_forward(features, table, subtask, steps)

    evaluate = model.evaluate_actions

    def recording_evaluate(batch):
        minibatch.append(batch["index"])
        return evaluate(batch)

    model.policy.low_forward = recording_low_forward
    model.evaluate_actions = recording_evaluate
    model.learn(config.ppo.n_steps * config.envs)
    acted = in_collection[:config.ppo.n_steps]        # the last call bootstraps the rollout's end
    subtask = torch.stack([s for _, s, _ in acted]).flatten()
    steps = torch.stack([k for _, _, k in acted]).flatten()
    np.testing.assert_array_equal(model.rollout_buffer.subtask.ravel(), subtask.numpy())
    np.testing.assert_array_equal(model.rollout_buffer.steps.ravel(), steps.numpy())
    indices = torch.cat([index for index, _, _ in in_update])   # every sample, once per epoch
    assert sorted(indices.tolist()) == sorted(list(range(subtask.numel())) * config.ppo.n_epochs)
    for index, used, used_steps in in_update:
        torch.testing.assert_close(used, subtask[index], rtol=0, atol=0)
        torch.testing.assert_close(used_steps, steps[index], rtol=0, atol=0)


@pytest.mark.parametrize("max_steps", [3, 1000])
def test_a_new_decision_follows_every_end_of_a_subtask_or_episode(subtask_level, max_steps):
    # 40-frame episodes (10 steps): many automatic resets inside one rollout
    config = _config(max_steps=max_steps, env={"max_frames": 40}, envs=3)
    model = _model(config, subtask_level)
    dones = Dones()
    model.learn(config.ppo.n_steps * config.envs, callback=dones)
    b = model.rollout_buffer
    done = np.array(dones.dones)
    assert done.sum() >= config.envs * 2, "the rollout must cross episode ends"
    assert b.decision[0].all()                                  # the first step decides
    assert (b.over >= done).all()                               # an episode end ends the subtask
    np.testing.assert_array_equal(b.decision[1:], b.over[:-1])  # ... and the next step decides
    assert (b.steps[b.decision] == 0).all()
    going = ~b.decision[1:]
    np.testing.assert_array_equal(b.subtask[1:][going], b.subtask[:-1][going])
    np.testing.assert_array_equal(b.steps[1:][going], b.steps[:-1][going] + 1)
    assert b.steps.max() <= max_steps - 1
    if max_steps == 3:
        assert (b.over[b.steps == 2]).all()                     # K steps end a subtask
    # a decision's duration is the steps until its subtask ended (or the rollout did)
    for t, n in zip(*np.nonzero(b.decision)):
        k = b.high_k[t, n]
        assert k >= 1 and not b.over[t:t + k - 1, n].any()
        ended = b.over[t + k - 1, n]
        assert ended or t + k == config.ppo.n_steps             # ended, or still open
        assert b.high_done[t, n] == (ended and done[t + k - 1, n])


def test_save_and_load_give_identical_actions(subtask_level, tmp_path):
    config = _config(out=str(tmp_path / "run"))
    model = _model(config, subtask_level)
    model.learn(config.ppo.n_steps * config.envs)
    save_checkpoint(tmp_path / "ckpt", model, config)
    loaded = load_agent(tmp_path / "ckpt")
    env = NinjaVecEnv([subtask_level], 4, config.env, seed=1)
    obs = env.reset()
    states = [None, None]
    starts = np.ones(4, bool)
    for deterministic in (True, False):
        for _ in range(30):
            actions = []
            for k, agent in enumerate((model, loaded)):
                torch.manual_seed(7)
                chosen, states[k] = agent.predict(obs, state=states[k], episode_start=starts,
                                                  deterministic=deterministic)
                actions.append(chosen)
            np.testing.assert_array_equal(actions[0], actions[1])
            np.testing.assert_array_equal(states[0].subtask, states[1].subtask)
            obs, _, starts, _ = env.step(actions[0])


def test_train_eval_and_resume_reproduce_the_uninterrupted_run(tmp_path):
    hierarchical = HierarchicalConfig(max_steps=4)
    straight = tmp_path / "straight"
    result = train(tiny_config(straight, hierarchical=hierarchical), **QUIET)
    assert result["episodes"] == 1 and (straight / "eval.json").is_file()
    saved = json.loads((straight / "config.json").read_text())
    assert saved["hierarchical"]["max_steps"] == 4
    assert saved["env"]["observations"] == ["game_state", "reachability", "subtasks"]
    interrupted = tmp_path / "interrupted"
    train(tiny_config(interrupted, timesteps=32, hierarchical=hierarchical), **QUIET)
    resume(interrupted, timesteps=64, **QUIET)
    a = load_agent(straight).policy.state_dict()
    b = load_agent(interrupted).policy.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_tensorboard_has_both_levels_and_subtask_statistics(tmp_path):
    from test_train import _scalars
    out = tmp_path / "run"
    train(tiny_config(out, hierarchical=HierarchicalConfig(max_steps=4)), **QUIET)
    scalars = _scalars(out)
    for level in ("high", "low"):
        for name in ("policy_loss", "value_loss", "entropy", "explained_variance"):
            assert f"train/{level}/{name}" in scalars, sorted(scalars)
    for tag in ("subtask/exit_switch/chosen_fraction", "subtask/exit_switch/success_rate",
                "subtask/exit_switch/mean_steps", "rollout/success_rate/test"):
        assert tag in scalars, sorted(scalars)


@pytest.fixture(scope="module")
def bc_source(tmp_path_factory):
    out = tmp_path_factory.mktemp("bc") / "run"
    train(tiny_config(out, timesteps=32), **QUIET)
    return out / "final"


def test_bc_transfer_loads_every_tensor_it_names(bc_source, tmp_path):
    config = tiny_config(tmp_path / "h", bc=str(bc_source), hierarchical=HierarchicalConfig())
    model = build_model(replace(config, out=""), make_vec_env([LEVEL], 2, config.env, seed=0))
    report = transfer_weights(model, bc_source, config)
    model.policy.set_training_mode(False)
    state = model.policy.state_dict()
    flat = torch.load(bc_source / "policy.pt", weights_only=True)
    assert set(report.loaded) | set(report.initialised) == set(state)
    assert not (report.missing or report.mismatched or report.unexpected)
    assert {n.split(".")[0] for n in report.initialised} == {"high_level", "low_level"}
    assert all(n.startswith("high_level.") or ".condition." in n
               or n.startswith("low_level.embedding")
               for n in report.initialised)
    for name in report.loaded:
        assert report.sources[name] == hierarchical_source(name)
        torch.testing.assert_close(state[name], flat[report.sources[name]], rtol=0, atol=0)
    assert "low_level.action.weight" in report.loaded and "low_level.pi.rest.0.weight" in report.loaded
    # the controller starts as the cloned policy, whatever the subtask
    source = load_agent(bc_source)
    venv = make_vec_env([LEVEL], 2, config.env, seed=0)
    obs = venv.reset()
    tensor, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        expected = source.policy.get_distribution(
            source.policy.obs_to_tensor({k: obs[k] for k in ("game_state", "reachability")})[0]
        ).distribution.probs
        features, table = model.policy.extract(tensor), model.policy.table(tensor)
        for subtask in range(len(SUBTASKS)):
            dist, _ = model.policy.low_forward(features, table, torch.full((2,), subtask),
                                               torch.tensor([0, 5]))
            torch.testing.assert_close(dist.probs, expected)


def test_a_hierarchical_checkpoint_transfers_strictly_by_name(tmp_path):
    # what `ninjarl bc --config <hierarchical>` writes: the hierarchical policy itself
    source = tmp_path / "source"
    train(tiny_config(source, timesteps=32, hierarchical=HierarchicalConfig()), **QUIET)
    config = tiny_config(tmp_path / "h", bc=str(source / "final"),
                         hierarchical=HierarchicalConfig())
    model = build_model(replace(config, out=""), make_vec_env([LEVEL], 2, config.env, seed=0))
    report = transfer_weights(model, source / "final", config)
    assert report.loaded == list(model.policy.state_dict()) and not report.initialised
    saved = load_agent(source).policy.state_dict()
    for name, tensor in model.policy.state_dict().items():
        torch.testing.assert_close(tensor, saved[name], rtol=0, atol=0)


def test_flat_view_scores_the_natural_subtask(subtask_level):
    """evaluate_actions / get_distribution (behaviour cloning): the exit switch until it is hit,
    then the door, with the low level's action distribution for it."""
    model = _model(_config(), subtask_level)
    policy = model.policy
    policy.set_training_mode(False)
    env = make_vec_env([subtask_level], 2, _config().env, seed=0)
    obs = env.reset()
    for _ in range(12):                                 # env 0 runs right through the switch
        obs, *_ = env.step(np.array([2, 0]))
    tensor, _ = policy.obs_to_tensor(obs)
    table = policy.table(tensor)
    natural = policy.natural_subtask(table)
    assert natural.tolist() == [SUBTASKS.index("exit_door"), SUBTASKS.index("exit_switch")]
    actions = torch.tensor([1, 4])
    with torch.no_grad():
        values, log_prob, entropy = policy.evaluate_actions(tensor, actions)
        features = policy.extract(tensor)
        high, high_value = policy.high_forward(features, table, masked=False)
        low, low_value = policy.low_forward(features, table, natural, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(log_prob, high.log_prob(natural) + low.log_prob(actions))
    torch.testing.assert_close(values.flatten(), high_value + low_value)
    torch.testing.assert_close(policy.get_distribution(tensor).distribution.probs, low.probs)


def test_training_from_bc_writes_sources_and_initialisations(bc_source, tmp_path):
    out = tmp_path / "h"
    train(tiny_config(out, bc=str(bc_source), hierarchical=HierarchicalConfig()), **QUIET)
    report = json.loads((out / "transfer_report.json").read_text())
    assert report["sources"]["features.branches.game_state.mlp.0.weight"] == \
        "features_extractor.branches.game_state.mlp.0.weight"
    assert "near-uniform" in report["initialised"]["high_level.logits.weight"]


def test_subtask_observation(subtask_level):
    level = build_level(_subtask_map())
    nav = analyze_level(level)
    env = NinjaVecEnv([subtask_level], 1, EnvConfig(observations=("game_state", "subtasks")),
                      seed=0)
    table = env.reset()["subtasks"][0]
    row = dict(zip(SUBTASKS, table))
    assert [row[s][AVAILABLE] for s in SUBTASKS] == [1, 0, 1, 1]
    cell = sub_cell(60, 540)
    assert row["exit_switch"][DISTANCE] == pytest.approx(nav.safe_dist_to_switch[cell] / 2000)
    assert row["door_switch"][DISTANCE] == pytest.approx(
        nav.closed_dist_to_door_switch[0][cell] / 2000)
    assert row["exit_switch"][0] == pytest.approx(1.0)          # the switch is to the right
    assert row["door_switch"][0] == pytest.approx(-1.0)         # the door's switch to the left
    assert row["evade_mine"][1] == pytest.approx(1.0)           # away from the mine above: down
    assert row["evade_mine"][DISTANCE] == pytest.approx((48 - 42) / 48)
    for _ in range(12):                                          # run right through the switch
        obs, _, done, infos = env.step(np.array([2]))
        assert not done[0]
    row = dict(zip(SUBTASKS, obs["subtasks"][0]))
    assert row["exit_switch"][ACHIEVED] == 1 and row["exit_switch"][AVAILABLE] == 0
    assert row["exit_door"][AVAILABLE] == 1 and row["evade_mine"][AVAILABLE] == 0
    door_switch = SUBTASKS.index("door_switch")
    for _ in range(40):                                          # back left to the door's switch
        obs, *_ = env.step(np.array([1]))
        if obs["subtasks"][0][door_switch][ACHIEVED] == 1:
            break
    assert obs["subtasks"][0][door_switch][AVAILABLE] == 0
    assert env.engine.sim.state.ninja_f[0, 0] < 30 + 15           # it did touch the switch


def test_the_door_switch_subtask_goes_around_the_closed_door(tmp_path):
    """Right of the locked door the way to its switch goes over the closed door, not through
    it: the subtask's distance is the closed-door field's, longer than the open-door one."""
    path = tmp_path / "right-of-the-door"
    path.write_bytes(_subtask_map(spawn_x=456))
    nav = analyze_level(build_level(path.read_bytes()))
    cell = sub_cell(456, 540)
    closed, opened = nav.closed_dist_to_door_switch[0][cell], nav.dist_to_door_switch[0][cell]
    assert closed > opened + 10
    env = NinjaVecEnv([str(path)], 1, EnvConfig(observations=("game_state", "subtasks")), seed=0)
    row = dict(zip(SUBTASKS, env.reset()["subtasks"][0]))
    assert row["door_switch"][DISTANCE] == pytest.approx(closed / 2000)
    assert row["door_switch"][AVAILABLE] == 1


def test_bad_hierarchical_settings_are_one_line_errors():
    for bad, message in [({"max_steps": 0}, "max_steps"), ({"subtasks": ["exit_switch"]},
                         "must include"), ({"subtasks": ["exit_switch", "exit_door", "x"]},
                         "hierarchical.subtasks: unknown subtask 'x'"), ({"k": 1}, "unknown")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict({"hierarchical": bad}, "run.json")


def test_fresh_state_decides_everywhere():
    state = SubtaskState.fresh(3)
    assert state.decide.all() and SubtaskState.from_json(state.to_json()).decide.all()
