"""--device: names, resolution, errors, and the CUDA path (skipped without a GPU)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ninjarl.cli import main
from ninjarl.models import check_device_name, resolve_device
from ninjarl.train import TrainConfig, load_agent, train

from test_train import tiny_config

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible")


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:3"])
def test_device_names_accepted(name):
    assert check_device_name(name) == name


@pytest.mark.parametrize("name", ["gpu", "CPU", "cuda:", "cuda:x", "", "mps"])
def test_device_names_rejected_with_the_choices(name):
    with pytest.raises(ValueError, match="auto, cpu, cuda, cuda:N"):
        check_device_name(name)
    with pytest.raises(ValueError, match="TrainConfig.device"):
        TrainConfig(device=name)


def test_auto_takes_a_gpu_only_when_torch_sees_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ValueError, match="only 1 CUDA GPU"):
        resolve_device("cuda:1")


def test_device_is_a_config_setting_that_round_trips(tmp_path: Path):
    config = TrainConfig(device="cpu")
    assert config.to_dict()["device"] == "cpu"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config.to_dict()))
    assert TrainConfig.load(path).device == "cpu"
    assert TrainConfig.load(path, device="cuda").device == "cuda"       # the CLI flag wins


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_is_one_line(tmp_path: Path, capsys):
    status = main(["train", "--device", "cuda", "--timesteps", "64", "--envs", "2",
                   "--levels", "test/simple-walk", "--out", str(tmp_path / "run"), "--no-doctor"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "sees no CUDA GPU" in err


def test_agent_loads_on_the_cpu_and_acts(tmp_path: Path):
    train(tiny_config(tmp_path / "run", device="cpu"), log=lambda *_: None)
    agent = load_agent(tmp_path / "run", device="cpu")
    assert {p.device.type for p in agent.policy.parameters()} == {"cpu"}


@needs_cuda
@pytest.mark.parametrize("arch", ["vision_free", "mlp_fast"])
def test_cuda_training_and_the_same_agent_on_both_devices(tmp_path: Path, arch: str):
    """Training runs on the GPU (networks there, environments on the CPU); the saved agent
    then acts the same on the GPU and on the CPU."""
    document = train(tiny_config(tmp_path / "run", arch=arch, device="cuda"), log=lambda *_: None)
    assert document["episodes"] >= 1
    on_gpu = load_agent(tmp_path / "run", device="cuda")
    on_cpu = load_agent(tmp_path / "run", device="cpu")
    assert {p.device.type for p in on_gpu.policy.parameters()} == {"cuda"}
    obs = {k: np.stack([space.sample() for _ in range(32)])
           for k, space in on_cpu.observation_space.spaces.items()}
    np.testing.assert_array_equal(on_gpu.predict(obs, deterministic=True)[0],
                                  on_cpu.predict(obs, deterministic=True)[0])


@needs_cuda
def test_an_evaluation_leaves_the_gpus_generator_as_it_was(tmp_path: Path):
    """evaluate seeds its own sampling; PPO's generator on the GPU must come out unchanged."""
    from ninjarl.eval import evaluate
    from ninjarl.sim import build_level
    from ninjarl.sim.mapfile import bundled_map_path

    train(tiny_config(tmp_path / "run", device="cuda"), log=lambda *_: None)
    agent = load_agent(tmp_path / "run", device="cuda")
    level = build_level(bundled_map_path("test/simple-walk").read_bytes(), "simple-walk")
    torch.cuda.manual_seed_all(123)
    before = torch.cuda.get_rng_state()
    evaluate(agent, [level], ["test"], agent.train_config.env, deterministic=False, seed=5)
    assert torch.equal(torch.cuda.get_rng_state(), before)
