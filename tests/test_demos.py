"""Behaviour cloning from planner demonstrations before PPO (``TrainConfig.planner_bc``): the
demonstrations are verified wins of the training levels, cached by level content; the config's
refusals; and a run that starts from the cloned policy."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ninjarl.cli import main
from ninjarl.levels import build_dataset
from ninjarl.sim import build_level, read_replay, simulate_inputs
from ninjarl.solve import PlannerConfig
from ninjarl.train import TrainConfig, demos
from ninjarl.train.config import PlannerBCConfig, curriculum_recipe_path
from ninjarl.train.demos import demo_cache_dir, make_demonstrations, write_bundle

from conftest import MAPS

PLANNER = PlannerConfig(budget_frames=400_000)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Plans are cached under the test's own directory, not the user's cache."""
    monkeypatch.setattr(demos, "cache_dir", lambda: tmp_path / "cache" / "levels")


def _levels(*names: str):
    return [build_level((MAPS / "test" / name).read_bytes(), f"test/{name}") for name in names]


def test_demonstrations_are_wins_of_each_level_and_are_searched_once(tmp_path, monkeypatch):
    levels = _levels("simple-walk", "only-jump", "slopes")      # slopes has no exit: unsolved
    document = make_demonstrations(levels, tmp_path / "demos", PLANNER, log=None)
    assert (document["levels"], document["solved"], document["searched_now"]) == (3, 2, 3)
    assert [r["solved"] for r in document["per_level"]] == [True, True, False]
    for level in levels[:2]:
        replay = read_replay(tmp_path / "demos" / f"test_{level.name[5:]}.replay")
        assert replay.map_bytes == level.map_data.raw
        assert simulate_inputs(level, replay.inputs)["outcome"] == "won"
    assert not (tmp_path / "demos" / "test_slopes.replay").exists()
    assert json.loads((tmp_path / "demos" / "demos.json").read_text()) == json.loads(
        json.dumps(document))
    unsolved = list((demo_cache_dir(PLANNER) / "unsolved").iterdir())
    assert len(unsolved) == 1 and "no exit" in json.loads(unsolved[0].read_text())["reason"]

    first = {p.name: p.read_bytes() for p in (tmp_path / "demos").glob("*.replay")}

    def no_search(*args, **kwargs):
        raise AssertionError("searched a level that is in the cache")

    monkeypatch.setattr(demos, "solve_levels", no_search)
    again = make_demonstrations(levels, tmp_path / "again", PLANNER, log=None)
    assert (again["searched_now"], again["from_bundle"], again["solved"]) == (0, 0, 2)
    assert {p.name: p.read_bytes() for p in (tmp_path / "again").glob("*.replay")} == first
    # other planner settings are another cache: searched again
    assert demo_cache_dir(PlannerConfig(budget_frames=1_000)) != demo_cache_dir(PLANNER)
    with pytest.raises(AssertionError, match="searched a level"):
        make_demonstrations(levels, tmp_path / "other", PlannerConfig(budget_frames=1_000),
                            log=None)


def test_planner_bc_settings_are_checked_and_exclusive(tmp_path):
    config = TrainConfig.from_dict({"planner_bc": {"budget_frames": 5_000}})
    assert config.planner_bc == PlannerBCConfig(budget_frames=5_000, epochs=20,
                                                batch_size=1024, learning_rate=6e-4)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.effective_ppo.learning_rate == config.finetune.learning_rate
    for bad, message in [({"planner_bc": {"budget_frames": 0}}, "planner_bc.budget_frames"),
                         ({"planner_bc": {"epochs": 1.5}}, "planner_bc.epochs"),
                         ({"planner_bc": {"batch_size": 0}}, "planner_bc.batch_size"),
                         ({"planner_bc": {"learning_rate": -1.0}}, "planner_bc.learning_rate"),
                         ({"planner_bc": {"recovery_rounds": -1}}, "planner_bc.recovery_rounds"),
                         ({"planner_bc": {"cloning_coef": -0.1}}, "planner_bc.cloning_coef"),
                         ({"planner_bc": {"cloning_coef": True}}, "planner_bc.cloning_coef"),
                         ({"planner_bc": {"cloning_coef": "0.1"}}, "planner_bc.cloning_coef"),
                         ({"planner_bc": {"plan_starts": 1.5}}, "planner_bc.plan_starts"),
                         ({"planner_bc": {"plan_starts": True}}, "planner_bc.plan_starts"),
                         ({"planner_bc": {"cloning_batch_size": 0}},
                          "planner_bc.cloning_batch_size"),
                         ({"planner_bc": {}, "bc": "ckpt"}, "set one of them"),
                         ({"planner_bc": {}, "hierarchical": {}}, "hierarchical agents")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict(bad, "run.json")
    # settings made in code are held to the same types and ranges as a file's
    for bad, message in [({"epochs": 1.5}, "epochs: expected an integer"),
                         ({"plan_starts": -0.1}, r"plan_starts: must be in \[0, 1\]"),
                         ({"cloning_coef": float("nan")}, "cloning_coef: must be finite"),
                         ({"recovery_back_frames": -1}, "recovery_back_frames: must be in"),
                         ({"bundled_recoveries": 1}, "bundled_recoveries: expected true")]:
        with pytest.raises(ValueError, match=message):
            PlannerBCConfig(**bad)
    # a --bc checkpoint given with a file that sets planner_bc replaces it
    assert "planner_bc" in json.loads(curriculum_recipe_path().read_text())
    given = TrainConfig.load(curriculum_recipe_path(), bc=str(tmp_path))
    assert given.bc == str(tmp_path) and given.planner_bc is None


def test_a_run_with_planner_bc_starts_ppo_from_the_cloned_demonstrations(tmp_path, capsys):
    levels = tmp_path / "levels"
    build_dataset(levels, 3, 1, categories=("simplest",))
    (tmp_path / "run.json").write_text(json.dumps(
        {"planner_bc": {"budget_frames": PLANNER.budget_frames, "epochs": 2, "batch_size": 64,
                        "learning_rate": 1e-3, "recovery_rounds": 1, "cloning_coef": 0.1,
                        "plan_starts": 0.5}}))
    out = tmp_path / "run"
    assert main(["train", "--levels", str(levels), "--config", str(tmp_path / "run.json"),
                 "--timesteps", "256", "--envs", "4", "--out", str(out), "--no-doctor"]) == 0, \
        capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "planner demonstrations: 3 of 3 training levels solved" in printed
    assert sorted(p.name for p in (out / "demos").glob("*.replay")) == sorted(
        f"simplest_{p.stem}.replay" for p in (levels / "train" / "simplest").glob("*.map"))
    # one round of recoveries: the first clone played the training levels, then a second
    # cloning (the one PPO starts from) read the recoveries it left
    assert (out / "bc-round0" / "bc_report.json").is_file()
    assert "recoveries: the clone lost" in printed
    assert isinstance(json.loads((out / "demos" / "recoveries.json").read_text()), dict)
    report = json.loads((out / "bc" / "bc_report.json").read_text())
    assert len(report["epochs"]) == 2
    assert (report["settings"]["batch_size"], report["settings"]["lr"]) == (64, 1e-3)
    assert len(report["train_replays"]) + len(report["val_replays"]) == 3
    # every policy tensor came from the BC checkpoint, and PPO fine-tunes it
    transfer = json.loads((out / "transfer_report.json").read_text())
    cloned = torch.load(out / "bc" / "policy.pt", weights_only=True)
    assert sorted(transfer["loaded"]) == sorted(cloned)
    assert not transfer["missing"] and not transfer["mismatched"] and not transfer["unexpected"]
    saved = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert saved.planner_bc.epochs == 2 and saved.bc == ""
    # and PPO kept cloning the same samples (demonstrations and recoveries) as it trained
    samples = report["train_samples"] + report["val_samples"]
    assert f"cloning loss during PPO: weight 0.1, {samples:,} demonstration samples" in printed
    # half the episodes started along the plans, counted apart from those from the spawn
    assert "plan starts: 50% of the episodes on the 3 training levels with a plan" in printed
    metrics = json.loads((out / "checkpoint" / "trainer.json").read_text())["extra"]["metrics"]
    assert metrics["plan_start_episodes"] > 0 and metrics["episodes"] > 0


def test_bundled_plans_seed_an_empty_cache_and_only_verified_wins_are_taken(tmp_path,
                                                                           monkeypatch):
    levels = _levels("simple-walk", "only-jump", "slopes")
    make_demonstrations(levels, tmp_path / "searched", PLANNER, log=None, bundle=None)
    bundle = tmp_path / "plans.npz"
    assert write_bundle(bundle, levels, PLANNER) == {"levels": 3, "solved": 2}
    searched = {p.name: p.read_bytes() for p in (tmp_path / "searched").glob("*.replay")}
    real_search = demos.solve_levels

    def no_search(*args, **kwargs):
        raise AssertionError("searched a level that is in the bundle")

    monkeypatch.setattr(demos, "cache_dir", lambda: tmp_path / "fresh" / "levels")
    monkeypatch.setattr(demos, "solve_levels", no_search)
    said = []
    document = make_demonstrations(levels, tmp_path / "bundled", PLANNER, log=said.append,
                                   bundle=bundle)
    assert (document["solved"], document["searched_now"], document["from_bundle"]) == (2, 0, 3)
    assert "(0 searched now, 3 from the bundled plans" in said[-1]
    assert all(row["from_bundle"] for row in document["per_level"])
    assert {p.name: p.read_bytes() for p in (tmp_path / "bundled").glob("*.replay")} == searched
    with pytest.raises(AssertionError, match="in the bundle"):      # other planner settings
        make_demonstrations(levels, tmp_path / "other", PlannerConfig(budget_frames=1_000),
                            log=None, bundle=bundle)

    # plans that do not win (every input byte 0: standing still) are searched again
    with np.load(bundle) as z:
        arrays = dict(z)
    arrays["inputs"] = np.zeros_like(arrays["inputs"])
    np.savez(tmp_path / "broken.npz", **arrays)
    monkeypatch.setattr(demos, "cache_dir", lambda: tmp_path / "third" / "levels")
    monkeypatch.setattr(demos, "solve_levels", real_search)
    document = make_demonstrations(levels, tmp_path / "repaired", PLANNER, log=None,
                                   bundle=tmp_path / "broken.npz")
    assert (document["solved"], document["searched_now"], document["from_bundle"]) == (2, 2, 1)
    assert {p.name: p.read_bytes() for p in (tmp_path / "repaired").glob("*.replay")} == searched


def test_the_shipped_plans_are_the_recipes_and_win_the_built_in_training_levels():
    """The bundle must match the recipe's planner settings and the built-in level set as it is
    generated now (or a first ``train --curriculum`` searches for minutes), and every plan in
    it must win its level."""
    import hashlib
    from dataclasses import asdict

    from ninjarl.levels import default_dataset
    from ninjarl.levels.dataset import DEFAULT_TRAIN
    from ninjarl.train.demos import BUNDLED

    recipe = TrainConfig.load(curriculum_recipe_path())
    planner = PlannerConfig(budget_frames=recipe.planner_bc.budget_frames)
    with np.load(BUNDLED, allow_pickle=False) as z:
        assert json.loads(str(z["planner"])) == json.loads(json.dumps(asdict(planner)))
        keys, solved, offsets, inputs = (z["sha256"].tolist(), z["solved"], z["offsets"],
                                         z["inputs"])
    train = [e for e in default_dataset().split("train")
             if e.category in recipe.curriculum.stages]
    by_key = {hashlib.sha256(e.map_bytes).hexdigest(): e for e in train}
    assert sorted(keys) == sorted(by_key) and len(keys) == DEFAULT_TRAIN * len(recipe.curriculum.stages)
    assert solved.sum() >= 0.9 * len(keys)
    for i, key in enumerate(keys):
        if solved[i]:
            level = build_level(by_key[key].map_bytes, by_key[key].level_id)
            plan = inputs[offsets[i]:offsets[i + 1]]
            assert simulate_inputs(level, plan)["outcome"] == "won", by_key[key].level_id
