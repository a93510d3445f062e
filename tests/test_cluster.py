"""ninjarl compare on Ray: a local Ray instance (2 CPUs) runs the trials as tasks, and the
results are the local comparison's, number for number."""
from __future__ import annotations

import json
import re
import shutil

import pytest
import ray
import torch

from ninjarl.cli import main
from ninjarl.eval.report import build_report
from ninjarl.train import PPOConfig
from ninjarl.train.cluster import run_trials_on_ray
from ninjarl.train.compare import plan_trials, run_trials

from conftest import MAPS, small_and_broken_configs

# one torch thread in both comparisons: with the same seed and thread count training is
# deterministic, so the two must agree exactly
LEVEL = str(MAPS / "test" / "simple-walk")
TINY = {"levels": LEVEL, "timesteps": 256, "envs": 4, "checkpoint_every": 0,
        "torch_threads": 1, "device": "cpu",
        "ppo": PPOConfig(n_steps=32, batch_size=64, n_epochs=1),
        "env": {"max_frames": 300}}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def comparisons(local_ray, tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    local = plan_trials(root / "local", TINY, archs=["vision_free", "local_view"], seeds=2)
    on_ray = plan_trials(root / "ray", TINY, archs=["vision_free", "local_view"], seeds=2)
    local_statuses = run_trials(local, log=lambda *_: None)
    ray_statuses = run_trials_on_ray(on_ray, log=lambda *_: None)
    return local, on_ray, local_statuses, ray_statuses


def _success_rows(report: str) -> list[str]:
    """The success table's rows (mean [95% interval] per column); the timing table differs."""
    return [line for line in report.splitlines()
            if re.match(r"\| (vision_free|local_view) \| [\d.]+ \[", line)]


def test_a_ray_comparison_equals_the_local_one(comparisons):
    local, on_ray, local_statuses, ray_statuses = comparisons
    assert [s.split(":")[0] for _, s in ray_statuses] == ["trained"] * 4, ray_statuses
    assert [s for _, s in ray_statuses] == [s for _, s in local_statuses]
    rates = []
    for a, b in zip(local, on_ray):
        eval_a = json.loads((a.run_dir / "eval.json").read_text())
        eval_b = json.loads((b.run_dir / "eval.json").read_text())
        assert eval_a["per_level"] == eval_b["per_level"]
        rates.append(eval_a["success_rate"])
        weights_a = torch.load(a.run_dir / "final" / "policy.pt", weights_only=True)
        weights_b = torch.load(b.run_dir / "final" / "policy.pt", weights_only=True)
        assert weights_a.keys() == weights_b.keys()
        assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert len(set(rates)) > 1                # the agents differ, so equality says something
    report_local = build_report(local[0].run_dir.parent.parent).read_text()
    report_ray = build_report(on_ray[0].run_dir.parent.parent).read_text()
    assert _success_rows(report_local) == _success_rows(report_ray)
    assert len(_success_rows(report_ray)) >= 2


def test_finished_trials_are_not_sent_to_ray_again(comparisons):
    _, on_ray, _, _ = comparisons
    statuses = run_trials_on_ray(on_ray, log=lambda *_: None)
    assert all(status.startswith("skipped") for _, status in statuses)


def test_a_run_directory_the_driver_cannot_see_is_a_failure(comparisons, monkeypatch,
                                                            tmp_path):
    # as on a cluster without a shared file system: the worker finished the trial, but the
    # driver does not find it complete (is_finished is replaced in the driver only)
    _, on_ray, _, _ = comparisons
    (trial,) = plan_trials(tmp_path / "cmp", TINY, archs=["vision_free"], seeds=1)
    shutil.copytree(on_ray[0].run_dir, trial.run_dir)
    monkeypatch.setattr("ninjarl.train.cluster.is_finished", lambda *args: False)
    ((_, status),) = run_trials_on_ray([trial], log=lambda *_: None)
    assert status.startswith("failed after 2 attempts: the trial finished on a Ray worker")
    assert "file system all of them share" in status
    assert json.loads((trial.run_dir / "trial.json").read_text())["attempts"] == 2


def test_a_failing_trial_is_tried_twice_then_reported(local_ray, tmp_path, capsys):
    good, bad = small_and_broken_configs(tmp_path)
    out = tmp_path / "cmp"
    code = main(["compare", "--configs", str(good), str(bad), "--timesteps", "32",
                 "--envs", "2", "--out", str(out), "--ray"])
    assert code == 1
    printed = capsys.readouterr().out
    assert "broken seed 0: attempt 1 failed (FormatError: no/such-map" in printed
    assert "1 of 2 trials ok" in printed
    trial = json.loads((out / "broken" / "seed-0" / "trial.json").read_text())
    assert trial["attempts"] == 2 and "no/such-map" in trial["error"]
    assert (out / "small" / "seed-0" / "eval.json").is_file()
    config = json.loads((out / "small" / "seed-0" / "config.json").read_text())
    assert (config["torch_threads"], config["device"]) == (1, "cpu")    # what the task declared
    report = (out / "report.md").read_text()
    assert "trial failed (2 attempts): ninjarl.sim.errors.FormatError: no/such-map" in report


@pytest.mark.slow                       # Tune starts fresh trial processes: about 25 s here
def test_a_sweep_through_ray_tune(local_ray, tmp_path):
    from ninjarl.train import TrainConfig
    from ninjarl.train.sweep import sweep_on_ray

    base = TrainConfig.create(levels=LEVEL, timesteps=128, envs=4,
                              checkpoint_every=0, ppo=PPOConfig(n_epochs=1),
                              env={"max_frames": 120})
    out = tmp_path / "sweep"
    document = sweep_on_ray(base, out, trials=2, rungs=2, log=lambda *_: None)
    assert document["engine"] == "ray-tune" and len(document["trials"]) == 2
    for trial in document["trials"]:
        run = out / trial["name"]
        config = json.loads((run / "config.json").read_text())
        assert config["ppo"]["learning_rate"] == trial["params"]["learning_rate"]
        assert config["torch_threads"] == 1                     # the trial's one CPU
        assert config["device"] == "cpu"                        # and no GPU: none declared
        assert trial["state"] in ("complete", "pruned")
        held_out = json.loads((run / "eval.json").read_text())["success_rate"]
        assert trial["success"][-1] == held_out
    best = TrainConfig.load(out / "best_config.json")
    assert best.ppo.learning_rate == next(t["params"]["learning_rate"] for t in document["trials"]
                                         if t["name"] == document["best"]["name"])
