"""ninjarl doctor: a healthy run passes every check; for every check a run or config broken in
exactly that way fails exactly that check; the train preflight stops a broken run before its
first step."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn

from ninjarl import doctor
from ninjarl.cli import main
from ninjarl.doctor import FAIL, PASS, SKIP, Batch, check_gradients, check_hierarchical
from ninjarl.models import extractors
from ninjarl.train import TrainConfig, train
from ninjarl.train.bc import build_bc_model
from ninjarl.train.checkpoint import save_checkpoint
from ninjarl.train.ppo import FINAL_DIR

LEVEL = "test/simple-walk"
#: a tiny run: one rollout of 8 envs x 64 steps per update, episodes of at most 400 frames
SETTINGS = {"arch": "vision_free", "levels": LEVEL, "timesteps": 1024, "envs": 8, "seed": 0,
            "checkpoint_every": 0, "ppo": {"n_steps": 64, "batch_size": 256, "n_epochs": 1},
            "env": {"max_frames": 400}}


def _status(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def _failed(checks) -> list[str]:
    return [c.name for c in checks if c.status == FAIL]


def _figure(checks, name: str) -> str:
    return next(c.figure for c in checks if c.name == name)


@pytest.fixture(scope="module")
def bc_checkpoint(tmp_path_factory) -> Path:
    """A behaviour-cloning checkpoint of the run's config (its weights need not be trained:
    the doctor checks tensors and settings)."""
    out = tmp_path_factory.mktemp("bc") / "bc"
    config = TrainConfig.from_dict(SETTINGS)
    from ninjarl.sim.mapfile import bundled_map_path
    model = build_bc_model(config, bundled_map_path(LEVEL).read_bytes())
    save_checkpoint(out, model, config, extra={"bc_report": "bc_report.json"},
                    with_env_state=False)
    return out


@pytest.fixture(scope="module")
def healthy_run(tmp_path_factory, bc_checkpoint) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    train(TrainConfig.from_dict({**SETTINGS, "out": str(out), "bc": str(bc_checkpoint)}),
          log=lambda *_: None)
    return out


@pytest.fixture
def run(healthy_run, tmp_path) -> Path:
    """A copy of the healthy run, to break."""
    return Path(shutil.copytree(healthy_run, tmp_path / "run"))


def _edit_json(path: Path, edit) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def test_healthy_run_passes_every_check(healthy_run):
    checks = doctor.diagnose_run(healthy_run)
    status = _status(checks)
    assert list(status) == list(doctor.CHECKS)
    assert _failed(checks) == []
    assert status == {**{name: PASS for name in doctor.CHECKS}, "images": SKIP,
                      "hierarchical": SKIP}
    assert "48 of 48 policy tensors loaded" in _figure(checks, "transfer")
    assert "RL, eval, BC" in _figure(checks, "observations")
    assert "not a hierarchical run" in _figure(checks, "hierarchical")
    assert "no image observations" in _figure(checks, "images")


def test_observations_differ_between_rl_and_eval(run):
    _edit_json(run / FINAL_DIR / "config.json", lambda c: c["env"].update(action_repeat=2))
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["observations"]
    assert "eval differs from RL: action_repeat 2 vs 4" in _figure(checks, "observations")


def test_bc_observations_normalised_outside_the_model(run, monkeypatch):
    real = doctor.standard_wrappers
    monkeypatch.setattr(doctor, "standard_wrappers",
                        lambda venv, k: VecNormalize(real(venv, k), gamma=0.99))
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["observations"]
    figure = _figure(checks, "observations")
    assert "BC normalises observations outside the model" in figure
    assert "BC game_state at reset differs from RL" in figure


def test_transfer_that_left_tensors_out(run):
    def drop(report):
        report["missing"] = report["loaded"][-5:]
        report["loaded"] = report["loaded"][:-5]
    _edit_json(run / "transfer_report.json", drop)
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["transfer"]
    assert _figure(checks, "transfer").startswith("43 of 48 policy tensors loaded")


def test_dry_transfer_of_an_incomplete_checkpoint(healthy_run, bc_checkpoint, tmp_path):
    broken = Path(shutil.copytree(bc_checkpoint, tmp_path / "bc"))
    weights = torch.load(broken / "policy.pt", weights_only=True)
    dropped = [name for name in weights if name.startswith("action_net")]
    torch.save({k: v for k, v in weights.items() if k not in dropped}, broken / "policy.pt")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SETTINGS))
    assert _failed(doctor.diagnose_config(config, bc_checkpoint)) == []
    checks = doctor.diagnose_config(config, broken)
    assert _failed(checks) == ["transfer"]
    assert f"46 of 48 policy tensors loaded (a dry transfer of {broken}; 2 missing" in \
        _figure(checks, "transfer")


def test_a_parameter_without_gradient(run, monkeypatch):
    def forward(self, observations):       # the reachability branch cut out of the graph
        return torch.cat([branch(observations[key]).detach() if key == "reachability"
                          else branch(observations[key])
                          for key, branch in self.branches.items()], dim=1)
    monkeypatch.setattr(extractors.NinjaExtractor, "forward", forward)
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["gradients"]
    assert "18/18 parameters in the optimizer, 16/18 get a nonzero gradient" in \
        _figure(checks, "gradients")
    assert "features_extractor.branches.reachability.mlp.0.weight" in _figure(checks, "gradients")


def test_a_parameter_outside_the_optimizer(healthy_run):
    from ninjarl.train import load_agent
    model = load_agent(healthy_run)
    params = list(model.policy.parameters())
    model.policy.optimizer = torch.optim.Adam(params[:-1])
    batch = doctor.sample_batch(model.train_config, doctor.training_levels(model.train_config)[0])
    check = check_gradients(model.policy, batch)
    assert check.status == FAIL
    assert "17/18 parameters in the optimizer" in check.figure
    model.policy.optimizer = torch.optim.Adam(params)
    assert check_gradients(model.policy, batch).status == PASS


def test_env_count_other_than_measured(run):
    (run / "autotune.json").write_text(json.dumps(
        {"chosen": 64, "steps_per_s": {"16": 1000.0, "64": 3000.0}}))
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["env_count"]
    assert "uses 8 envs but autotune measured and chose 64" in _figure(checks, "env_count")


def test_env_count_that_does_not_fit_memory(run, monkeypatch):
    monkeypatch.setattr(doctor, "available_memory_bytes", lambda: 128 * 1024)   # a tiny machine
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["env_count"]
    # 8 envs x 64 steps x 42 floats (game_state 32 + reachability 10) x 4 bytes
    assert ("8 envs, explicit value (no autotune.json); rollout buffer 84.0 KiB of 32.0 KiB allowed"
            in _figure(checks, "env_count"))


def test_frame_stack_differs_in_evaluation(run):
    _edit_json(run / FINAL_DIR / "config.json", lambda c: c.update(frame_stack=2))
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["frame_stack"]
    assert _figure(checks, "frame_stack") == "frame stacks differ: RL 1, eval 2, BC 1"


def test_missing_tensorboard_events(run):
    shutil.rmtree(run / "tb_1")
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["tensorboard"]
    assert "no TensorBoard event files" in _figure(checks, "tensorboard")


def test_tensorboard_without_episode_scalars(run):
    from torch.utils.tensorboard import SummaryWriter
    shutil.rmtree(run / "tb_1")
    writer = SummaryWriter(str(run / "tb_1"))
    for step in (512, 1024):
        writer.add_scalar("train/loss", 0.1, step)
    writer.close()
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["tensorboard"]
    assert "rollout/episodes not logged by the first update" in _figure(checks, "tensorboard")


def test_images_scaled_once_or_twice(tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**SETTINGS, "arch": "local_view"}))
    checks = doctor.diagnose_config(config)
    assert _failed(checks) == []
    assert _status(checks)["images"] == PASS
    assert "player_frame: pixel 255 reaches the first convolution as 1" in \
        _figure(checks, "images")
    import ninjarl.train.model as model
    real = model.policy_kwargs
    monkeypatch.setattr(model, "policy_kwargs", lambda arch: {**real(arch), "normalize_images": True})
    checks = doctor.diagnose_config(config)
    assert _failed(checks) == ["images"]
    assert "as 0.003922" in _figure(checks, "images")


def test_shaping_discount_other_than_ppo(run):
    _edit_json(run / "config.json", lambda c: c["env"].update(gamma=0.95))
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["gamma"]
    assert "config env.gamma 0.95" in _figure(checks, "gamma")


def test_reward_that_pays_dying(run):
    _edit_json(run / "config.json", lambda c: c["env"]["reward"].update(time_per_frame=-0.01))
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["reward_invariant"]
    assert "a win at the time limit would return" in _figure(checks, "reward_invariant")


class HandBuiltHierarchy(nn.Module):
    """A two-level policy: a high-level gate weighs two low-level action heads."""

    def __init__(self, gate_trained: bool = True):
        super().__init__()
        self.high_level = nn.Linear(3, 2)
        self.low_level = nn.ModuleList([nn.Linear(3, 4), nn.Linear(3, 4)])
        self.value = nn.Linear(3, 1)
        self.gate_trained = gate_trained
        self.optimizer = torch.optim.Adam(self.parameters())

    def set_training_mode(self, mode: bool) -> None:
        self.train(mode)

    def evaluate_actions(self, obs, actions):
        x = obs["state"].float()
        gate = torch.softmax(self.high_level(x), dim=1)
        if not self.gate_trained:
            gate = gate.detach()
        logits = sum(gate[:, i:i + 1] * head(x) for i, head in enumerate(self.low_level))
        dist = torch.distributions.Categorical(logits=logits)
        return self.value(x), dist.log_prob(actions), dist.entropy()


def test_hierarchical_both_levels_trained():
    rng = np.random.default_rng(0)
    batch = Batch({"state": rng.normal(size=(16, 3)).astype(np.float32)},
                  rng.integers(0, 4, 16))
    torch.manual_seed(0)
    healthy = check_hierarchical({"hierarchical": {}}, HandBuiltHierarchy(), batch)
    assert healthy.status == PASS, healthy.figure
    assert healthy.figure == ("high_level: 2/2 parameters get a gradient; low_level: 4/4 "
                              "parameters get a gradient")
    broken = check_hierarchical({"hierarchical": {}}, HandBuiltHierarchy(gate_trained=False),
                                batch)
    assert broken.status == FAIL
    assert "high_level: 0/2 parameters get a gradient" in broken.figure
    assert check_hierarchical({}, HandBuiltHierarchy(), batch).status == SKIP


def test_cli_doctor_exit_status(healthy_run, run, tmp_path, capsys):
    assert main(["doctor", str(healthy_run)]) == 0
    out = capsys.readouterr().out
    assert "PASS  gradients" in out and "doctor: 8 passed, 0 failed, 2 skipped" in out
    shutil.rmtree(run / "tb_1")
    assert main(["doctor", str(run)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  tensorboard" in out and "fix: " in out
    assert main(["doctor", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory" in err
    assert main(["doctor"]) == 2
    assert "give a RUN_DIR or --config FILE" in capsys.readouterr().err


def _cut_extractor(monkeypatch) -> None:
    """Every extractor branch cut out of the graph: its parameters get no gradient."""
    monkeypatch.setattr(extractors.NinjaExtractor, "forward",
                        lambda self, obs: torch.cat([b(obs[k]).detach()
                                                     for k, b in self.branches.items()], dim=1))


def test_train_runs_the_quick_checks_first(tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**SETTINGS, "timesteps": 512}))
    _cut_extractor(monkeypatch)
    out = tmp_path / "broken"
    assert main(["train", "--config", str(config), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "FAIL  gradients" in captured.out
    assert "doctor: 1 check(s) failed before training (gradients)" in captured.err
    assert not (out / "config.json").exists()          # stopped before the first step
    monkeypatch.undo()
    start = time.perf_counter()
    checks = doctor.preflight_or_stop(*_built_model(TrainConfig.from_dict(SETTINGS)),
                                      tmp_path, log=lambda *_: None)
    assert time.perf_counter() - start < 3.0            # measured: 0.4 s
    assert _failed(checks) == []


def _built_model(config: TrainConfig):
    from ninjarl.env import make_vec_env
    from ninjarl.train.ppo import build_model, resolve_levels
    levels = resolve_levels(config.levels).train
    return build_model(config, make_vec_env(levels, config.envs, config.env)), config, levels


def test_train_no_doctor_skips_the_checks(tmp_path, monkeypatch, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**SETTINGS, "timesteps": 512}))
    _cut_extractor(monkeypatch)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-doctor"]) == 0
    assert "doctor:" not in capsys.readouterr().out
    assert (out / "config.json").is_file()


def test_checkpoint_that_does_not_fit_the_config(run):
    weights = torch.load(run / "checkpoint" / "policy.pt", weights_only=True)
    torch.save({k: v for k, v in weights.items() if not k.startswith("value_net")},
               run / "checkpoint" / "policy.pt")
    checks = doctor.diagnose_run(run)
    assert _failed(checks) == ["gradients"]
    assert "the run's checkpoint does not fit the model config.json builds" in \
        _figure(checks, "gradients")


def test_hierarchical_config_trains_both_levels(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**SETTINGS, "hierarchical": {}}))
    checks = doctor.diagnose_config(config)
    assert _failed(checks) == []
    assert _status(checks)["hierarchical"] == PASS
    assert re.fullmatch(r"high_level: (\d+)/\1 parameters get a gradient; "
                        r"low_level: (\d+)/\2 parameters get a gradient",
                        _figure(checks, "hierarchical"))


def test_hierarchical_gate_without_gradient(tmp_path, monkeypatch):
    """A high level cut out of the loss (a random gate over the features): the hierarchical
    check says which level, and the gradients check fails with it (its parameters get none)."""
    from ninjarl.models.hierarchical import HierarchicalPolicy
    real = HierarchicalPolicy.high_forward

    def detached(self, features, table, masked=True):
        distribution, value = real(self, features, table, masked)
        return type(distribution)(logits=distribution.logits.detach()), value.detach()
    monkeypatch.setattr(HierarchicalPolicy, "high_forward", detached)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**SETTINGS, "hierarchical": {}}))
    checks = doctor.diagnose_config(config)
    assert _failed(checks) == ["gradients", "hierarchical"]
    assert re.match(r"high_level: 0/\d+ parameters get a gradient; low_level: (\d+)/\1 ",
                    _figure(checks, "hierarchical"))
