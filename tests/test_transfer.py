"""Strict transfer of pretrained weights: full report, identical behaviour, refusals."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from ninjarl.env import EnvConfig, make_vec_env
from ninjarl.train import load_agent, train
from ninjarl.train.ppo import build_model
from ninjarl.train.transfer import transfer_weights

from test_train import LEVEL, tiny_config


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("bc") / "run"
    train(tiny_config(out, timesteps=32), log=lambda *_: None)
    return out / "final"


def _fresh_model(config):
    venv = make_vec_env([LEVEL], 2, config.env, config.frame_stack, seed=0)
    return config, build_model(replace(config, out=""), venv)


def _probs(model, obs):
    tensor, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        return model.policy.get_distribution(tensor).distribution.probs.numpy()


def test_transfer_loads_every_tensor_and_reproduces_the_policy(source, tmp_path):
    config, model = _fresh_model(tiny_config(tmp_path / "ft", bc=str(source)))
    report = transfer_weights(model, source, config)
    names = list(model.policy.state_dict())
    assert report.loaded == names and not (report.missing or report.mismatched or report.unexpected)
    assert any(n.startswith("features_extractor.") for n in report.loaded)
    assert any("running" in n or "mean" in n for n in report.loaded)   # normalisation buffers
    rng = np.random.default_rng(0)
    obs = {"game_state": rng.uniform(-1, 1, (64, 32)).astype(np.float32),
           "reachability": rng.uniform(-1, 1, (64, 10)).astype(np.float32)}
    np.testing.assert_array_equal(_probs(model, obs), _probs(load_agent(source), obs))


def test_finetune_settings_apply_after_transfer(source, tmp_path):
    config = tiny_config(tmp_path / "ft", bc=str(source))
    assert config.effective_ppo.learning_rate == config.finetune.learning_rate
    assert tiny_config(tmp_path / "x").effective_ppo == tiny_config(tmp_path / "x").ppo


@pytest.mark.parametrize("change,message", [
    (dict(frame_stack=2), "frame stack"),
    (dict(env=EnvConfig(max_frames=40, action_repeat=2)), "action repeat"),
    (dict(arch="local_view"), "observation keys"),
])
def test_mismatched_configs_are_refused(source, tmp_path, change, message):
    config, model = _fresh_model(tiny_config(tmp_path / "ft", bc=str(source), **change))
    with pytest.raises(ValueError, match=message):
        transfer_weights(model, source, config)


def test_training_from_bc_writes_the_transfer_report(source, tmp_path):
    out = tmp_path / "ft"
    train(tiny_config(out, bc=str(source)), log=lambda *_: None)
    report = json.loads((out / "transfer_report.json").read_text())
    assert set(report) == {"loaded", "missing", "mismatched", "unexpected"}
    assert report["loaded"] and not report["missing"] and not report["mismatched"]


def test_ppo_after_transfer_acts_like_the_bc_model_on_validation_observations(tmp_path):
    from ninjarl.train import TrainConfig
    from ninjarl.train.bc import build_bc_dataset, train_bc
    from ninjarl.train.checkpoint import save_checkpoint

    from conftest import BC_REPLAYS

    config = TrainConfig(arch="vision_free", out=str(tmp_path / "bc"))
    dataset = build_bc_dataset(BC_REPLAYS[:5], config, cache_dir=None, val_fraction=0.4)
    venv = make_vec_env([LEVEL], 1, config.env, config.frame_stack, seed=0)
    bc_model = build_model(replace(config, out=""), venv)
    train_bc(bc_model, dataset, epochs=2, log=None)
    save_checkpoint(tmp_path / "bc", bc_model, config, with_env_state=False)

    ppo_config, ppo_model = _fresh_model(replace(config, bc=str(tmp_path / "bc"),
                                                 out=str(tmp_path / "ft")))
    transfer_weights(ppo_model, tmp_path / "bc", ppo_config)
    val = {key: value[dataset.val_mask] for key, value in dataset.obs.items()}
    bc_model.policy.set_training_mode(False)
    np.testing.assert_array_equal(_probs(ppo_model, val), _probs(bc_model, val))
