"""ninjarl.train: TensorBoard metrics, checkpoints, exact resume, env-count choice."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ninjarl.env import EnvConfig
from ninjarl.train import PPOConfig, TrainConfig, load_agent, resume, train
from ninjarl.train import ppo as ppo_module

from conftest import MAPS

LEVEL = str(MAPS / "test" / "simple-walk")


def tiny_config(out: Path, **overrides) -> TrainConfig:
    # 40-frame episodes: every rollout of 2 x 16 steps finishes episodes
    settings = dict(arch="vision_free", levels=LEVEL, timesteps=64, envs=2, seed=3,
                    out=str(out), checkpoint_every=0,
                    ppo=PPOConfig(n_steps=16, batch_size=16, n_epochs=2),
                    env={"max_frames": 40})          # observations: the architecture's
    return TrainConfig(**(settings | overrides))


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out: dict[str, list] = {}
    for events in run_dir.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events.parent))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def test_training_run_writes_metrics_checkpoints_and_eval(tmp_path):
    out = tmp_path / "run"
    result = train(tiny_config(out), log=lambda *_: None)
    scalars = _scalars(out)
    for tag in ("rollout/ep_rew_mean", "rollout/ep_len_mean", "rollout/success_rate",
                "rollout/success_rate/test", "time/fps", "train/loss", "train/value_loss",
                "train/policy_gradient_loss", "train/entropy_loss", "train/approx_kl",
                "train/clip_fraction", "train/explained_variance", "train/learning_rate",
                "eval/success_rate"):
        assert tag in scalars, f"{tag} missing from TensorBoard ({sorted(scalars)})"
    config = json.loads((out / "config.json").read_text())
    assert config["envs"] == 2 and config["env"]["observations"] == ["game_state", "reachability"]
    assert config["env"]["gamma"] == config["ppo"]["gamma"]
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation == result
    assert set(evaluation) == {"timesteps", "episodes", "success_rate", "per_category",
                               "categories", "per_level", "settings"}
    assert evaluation["timesteps"] == 64 and evaluation["episodes"] == 1
    assert (out / "final" / "policy.pt").is_file() and (out / "checkpoint" / "env_state.npz").is_file()


def test_saved_agent_loads_with_one_call_and_acts_identically(tmp_path):
    out = tmp_path / "run"
    train(tiny_config(out), log=lambda *_: None)
    agent = load_agent(out)
    again = load_agent(out / "final")
    obs = {"game_state": np.random.default_rng(0).uniform(-1, 1, (32, 32)).astype(np.float32),
           "reachability": np.random.default_rng(1).uniform(-1, 1, (32, 10)).astype(np.float32)}
    np.testing.assert_array_equal(agent.predict(obs, deterministic=True)[0],
                                  again.predict(obs, deterministic=True)[0])
    for name, value in agent.policy.state_dict().items():
        torch.testing.assert_close(value, again.policy.state_dict()[name], rtol=0, atol=0)


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    straight = tmp_path / "straight"
    train(tiny_config(straight, timesteps=64), log=lambda *_: None)
    interrupted = tmp_path / "interrupted"
    train(tiny_config(interrupted, timesteps=32), log=lambda *_: None)
    resume(interrupted, timesteps=64, log=lambda *_: None)
    a = load_agent(straight).policy.state_dict()
    b = load_agent(interrupted).policy.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    trainer = json.loads((interrupted / "checkpoint" / "trainer.json").read_text())
    assert trainer["num_timesteps"] == 64


def test_explicit_env_count_wins_over_autotune(tmp_path, monkeypatch):
    def autotune_must_not_run(*args, **kwargs):
        raise AssertionError("autotune ran although --envs was given")
    monkeypatch.setattr(ppo_module, "autotune_envs", autotune_must_not_run)
    out = tmp_path / "run"
    train(tiny_config(out, envs=8, timesteps=16 * 8), log=lambda *_: None)
    assert json.loads((out / "config.json").read_text())["envs"] == 8


def test_envs_auto_measures_and_logs_its_choice(tmp_path, monkeypatch):
    monkeypatch.setattr(ppo_module, "autotune_envs",
                        lambda *a, **k: (4, {2: 100.0, 4: 300.0, 8: 200.0}))
    out = tmp_path / "run"
    messages = []
    train(tiny_config(out, envs="auto"), log=messages.append)
    assert json.loads((out / "config.json").read_text())["envs"] == 4
    assert json.loads((out / "autotune.json").read_text())["chosen"] == 4
    assert any("envs auto" in m and "-> 4" in m for m in messages)


def test_bad_settings_are_refused_with_the_setting_named(tmp_path):
    with pytest.raises(ValueError, match=r"env.gamma \(0.99\) must equal ppo.gamma \(0.9\)"):
        TrainConfig(ppo=PPOConfig(gamma=0.9), env=EnvConfig(gamma=0.99))
    with pytest.raises(ValueError, match=r"env.observations \['game_state', 'reachability'\] "
                                         r"disagree with architecture 'mlp_baseline'.*player_frame"):
        TrainConfig(arch="mlp_baseline", env=EnvConfig())
    assert TrainConfig(arch="mlp_fast").env.global_view_scale == 12    # the architecture's
    with pytest.raises(ValueError, match=r"env.global_view_scale \(6\) disagrees with "
                                         r"architecture 'mlp_fast'.*scale 12"):
        TrainConfig(arch="mlp_fast", env={"global_view_scale": 6})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"ppo": {"lr": 1}}))
    with pytest.raises(ValueError, match="lr"):
        TrainConfig.load(bad)
    with pytest.raises(ValueError, match="arch"):
        train(TrainConfig(arch="nope", out=str(tmp_path / "x")), log=lambda *_: None)


def test_cli_train_reports_bad_config_cleanly(tmp_path, capsys):
    from ninjarl.cli import main
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err


def test_progress_bar_stops_at_100_percent(tmp_path, capsys):
    # 2 envs x 16 steps per rollout: the second rollout ends at 64 steps of a 40-step run
    train(tiny_config(tmp_path / "run", timesteps=40), log=lambda *_: None)
    err = capsys.readouterr().err
    shown = [int(p) for p in re.findall(r"(\d+)%\|", err)]
    assert shown and max(shown) == 100, err
    assert re.search(r"\b40(\.0)?/40(\.0)? ", err), err


def test_curriculum_run_logs_stages_and_resumes_its_state(tmp_path):
    from ninjarl.train.curriculum import CurriculumConfig
    curriculum = CurriculumConfig(stages=("simplest", "simpler"), window=3, threshold=0.0,
                                  min_episodes=3, replay_share=0.5)
    out = tmp_path / "run"
    train(tiny_config(out, levels="simplest", curriculum=curriculum, timesteps=64),
          log=lambda *_: None)
    scalars = _scalars(out)
    assert "curriculum/stage" in scalars and "curriculum/episodes/simplest" in scalars
    trainer = json.loads((out / "checkpoint" / "trainer.json").read_text())
    saved = trainer["extra"]["curriculum"]
    assert saved["stage"] == 1                       # >= 3 episodes at threshold 0: advanced
    counted = sum(saved["episodes"].values())
    assert counted == trainer["extra"]["metrics"]["episodes"]     # every episode counted once
    resume(out, timesteps=128, log=lambda *_: None)
    after = json.loads((out / "checkpoint" / "trainer.json").read_text())["extra"]["curriculum"]
    assert sum(after["episodes"].values()) > counted   # continued from the saved counts
