"""ninjarl sweep: Optuna proposes settings from the documented space, each trial is a real
training run measured on its held-out split, bad trials stop early, and the best settings come
out as a config file that ninjarl train accepts."""
from __future__ import annotations

import json

import optuna
import pytest

from ninjarl.cli import main
from ninjarl.train import PPOConfig, TrainConfig
from ninjarl.train.sweep import sweep

from conftest import MAPS

LEVEL = str(MAPS / "test" / "simple-walk")
BASE = {"levels": LEVEL, "timesteps": 192, "envs": 4, "checkpoint_every": 0,
        "torch_threads": 1, "ppo": PPOConfig(n_epochs=1), "env": {"max_frames": 120}}


def _eval(run) -> dict:
    return json.loads((run / "eval.json").read_text())


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    document = sweep(TrainConfig.create(**BASE), out, trials=3, rungs=2, log=lambda *_: None)
    return out, document


def test_every_trial_is_a_run_with_settings_from_the_space(swept):
    out, document = swept
    assert document == json.loads((out / "sweep.json").read_text())
    assert [t["name"] for t in document["trials"]] == ["trial-000", "trial-001", "trial-002"]
    for trial in document["trials"]:
        p = trial["params"]
        assert 1e-4 <= p["learning_rate"] <= 1e-3 and 1e-4 <= p["ent_coef"] <= 3e-2
        assert p["n_steps"] in (32, 64, 128, 256) and p["batch_size"] in (256, 512, 1024, 2048)
        assert p["width"] in (32, 64, 128, 256)
        assert 0.95 <= p["gamma"] <= 0.999 and 0.8 <= p["gae_lambda"] <= 0.99
        config = json.loads((out / trial["name"] / "config.json").read_text())
        assert config["ppo"]["learning_rate"] == p["learning_rate"]
        assert config["ppo"]["gamma"] == config["env"]["gamma"] == p["gamma"]
        assert config["net_arch"] == [p["width"]] * 2
        assert trial["state"] in ("complete", "pruned")
        held_out = _eval(out / trial["name"])           # the last rung measured
        assert trial["success"][-1] == held_out["success_rate"]
        if trial["state"] == "complete":
            assert len(trial["success"]) == 2 and held_out["timesteps"] >= 192
    assert len({json.dumps(t["params"]) for t in document["trials"]}) == 3


def test_the_best_config_is_the_best_trial_and_trains(swept, tmp_path):
    out, document = swept
    finished = [t for t in document["trials"] if t["state"] == "complete"]
    best = max(finished, key=lambda t: t["success"][-1])
    assert document["best"]["name"] == best["name"]
    assert document["best"]["success"] == best["success"][-1]
    config = TrainConfig.load(out / "best_config.json")
    params = best["params"]
    assert (config.ppo.learning_rate, config.ppo.ent_coef, config.ppo.n_steps,
            config.ppo.batch_size, config.ppo.gamma, config.ppo.gae_lambda) == (
        params["learning_rate"], params["ent_coef"], params["n_steps"], params["batch_size"],
        params["gamma"], params["gae_lambda"])
    assert config.net_arch == (params["width"],) * 2 and config.levels == LEVEL
    run = tmp_path / "run"
    assert main(["train", "--config", str(out / "best_config.json"), "--timesteps", "32",
                 "--out", str(run), "--no-doctor"]) == 0
    assert json.loads((run / "config.json").read_text())["net_arch"] == [params["width"]] * 2
    assert "| " + best["name"] + " | complete |" in (out / "sweep.md").read_text()


def test_bad_trials_stop_at_the_first_rung(tmp_path):
    # a pruner that stops every trial below 200% success: each stops after its first segment
    # (2,048 steps: a whole number of rollouts for every n_steps of the space, with 4 envs)
    out = tmp_path / "out"
    document = sweep(TrainConfig.create(**{**BASE, "timesteps": 4096}), out, trials=2, rungs=2,
                     pruner=optuna.pruners.ThresholdPruner(lower=2.0), log=lambda *_: None)
    assert [t["state"] for t in document["trials"]] == ["pruned", "pruned"]
    for trial in document["trials"]:
        assert len(trial["success"]) == 1
        assert _eval(out / trial["name"])["timesteps"] == 2048
    assert document["best"] is None and not (out / "best_config.json").exists()


def test_sweep_command_refuses_a_used_directory(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("")
    assert main(["sweep", "--trials", "1", "--timesteps", "64", "--out",
                 str(tmp_path / "out")]) == 2
    assert "is not empty" in capsys.readouterr().err
