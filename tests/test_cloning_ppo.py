"""The cloning loss during PPO (``planner_bc.cloning_coef``, :mod:`ninjarl.train.cloning_ppo`):
with a zero weight the update is SB3's PPO update bit for bit; with a weight it pulls the
policy towards the demonstrated actions; it never trains without demonstrations."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.utils import set_random_seed

from ninjarl.env import make_vec_env
from ninjarl.models.policy import obs_tensors
from ninjarl.train import TrainConfig
from ninjarl.train.bc import BCDataset
from ninjarl.train.cloning_ppo import DemonstrationBatches, PPOWithCloning
from ninjarl.train.model import build_model

from conftest import MAPS

RIGHT = 2
ENVS, STEPS = 4, 64


def _config(cloning_coef: float) -> TrainConfig:
    return TrainConfig.from_dict({
        "envs": ENVS, "ppo": {"n_steps": STEPS, "batch_size": 64, "n_epochs": 2},
        "finetune": {"learning_rate": 3e-3},
        "planner_bc": {"cloning_coef": cloning_coef, "cloning_batch_size": 32}})


def _model(config: TrainConfig):
    set_random_seed(0)
    venv = make_vec_env([(MAPS / "test" / "simple-walk").read_bytes()], ENVS, config.env, seed=0)
    return build_model(config, venv)


def _demonstrations(model, samples: int = 100) -> BCDataset:
    """States the env really shows (its first observations, repeated), each labelled right."""
    first = model.env.reset()
    obs = {k: np.concatenate([v] * (samples // len(v) + 1))[:samples] for k, v in first.items()}
    return BCDataset(obs=obs, actions=np.full(samples, RIGHT), rewards=np.zeros(samples),
                     returns=np.zeros(samples), replay_index=np.zeros(samples, np.int64),
                     step_index=np.arange(samples), replay_names=["demo.replay"],
                     val_replays=np.array([False]))


def _arrays(demonstrations: BCDataset) -> tuple[dict, np.ndarray]:
    return demonstrations.obs, demonstrations.actions


def _trained(model, updates: int = 1):
    set_random_seed(0)                 # the same rollouts and minibatch orders for every model
    model.learn(updates * ENVS * STEPS)
    return model


def _probability_of_right(model, demonstrations: BCDataset) -> float:
    model.policy.set_training_mode(False)
    with torch.no_grad():
        obs = obs_tensors(demonstrations.obs, np.arange(len(demonstrations)), model.device)
        return model.policy.get_distribution(obs).distribution.probs[:, RIGHT].mean().item()


def test_a_zero_weight_updates_the_policy_exactly_as_sb3_ppo():
    plain = _model(_config(0.0))
    assert type(plain) is PPO                    # no cloning loss: SB3's own class
    with_term = _model(_config(0.0))
    with_term.__class__ = PPOWithCloning         # the same model, trained by our update
    with_term.cloning_coef, with_term.cloning_batch_size = 0.0, 32
    with_term.set_demonstrations(*_arrays(_demonstrations(with_term)), seed=0)
    before = {k: v.clone() for k, v in plain.policy.state_dict().items()}
    _trained(plain), _trained(with_term)
    after, ours = plain.policy.state_dict(), with_term.policy.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)     # PPO did train
    for key in after:                  # normalisation buffers included: demos never update them
        assert torch.equal(after[key], ours[key]), key


def test_a_weight_pulls_the_policy_towards_the_demonstrated_actions():
    models = {}
    for coef in (0.0, 1.0):
        model = _model(_config(coef))
        model.__class__ = PPOWithCloning
        model.cloning_coef, model.cloning_batch_size = coef, 32
        demonstrations = _demonstrations(model)
        model.set_demonstrations(*_arrays(demonstrations), seed=0)
        start = _probability_of_right(model, demonstrations)
        models[coef] = _probability_of_right(_trained(model, updates=3), demonstrations)
    assert models[1.0] > models[0.0] + 0.2, (start, models)
    assert isinstance(_model(_config(1.0)), PPOWithCloning)


def test_training_without_demonstrations_is_an_error():
    model = _model(_config(0.5))
    with pytest.raises(RuntimeError, match="no demonstrations"):
        _trained(model)


def test_demonstration_batches_visit_every_sample_once_per_pass():
    model = _model(_config(0.5))
    demonstrations = _demonstrations(model, samples=10)
    demonstrations.actions = np.arange(10)            # each sample told apart by its label
    batches = DemonstrationBatches(*_arrays(demonstrations), batch_size=4, seed=3)
    drawn = np.concatenate([batches.next(torch.device("cpu"))[1].numpy() for _ in range(5)])
    assert sorted(drawn[:10]) == sorted(drawn[10:]) == list(range(10))
    assert list(drawn[:10]) != list(range(10))         # shuffled
    with pytest.raises(ValueError, match="no samples"):
        DemonstrationBatches(*_arrays(demonstrations.subset(np.zeros(10, bool))), 4, 0)


def test_demonstration_batches_resume_where_they_were():
    model = _model(_config(0.5))
    demonstrations = _demonstrations(model, samples=10)
    demonstrations.actions = np.arange(10)
    cpu = torch.device("cpu")
    straight = DemonstrationBatches(*_arrays(demonstrations), batch_size=4, seed=3)
    for _ in range(4):                                 # 16 drawn: into the second pass
        straight.next(cpu)
    resumed = DemonstrationBatches(*_arrays(demonstrations), batch_size=4, seed=3,
                                   drawn=straight.drawn)
    for _ in range(6):
        assert torch.equal(straight.next(cpu)[1], resumed.next(cpu)[1])
    fresh = DemonstrationBatches(*_arrays(demonstrations), batch_size=4, seed=3)
    assert not torch.equal(fresh.next(cpu)[1], straight.next(cpu)[1])
