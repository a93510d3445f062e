"""Levers of generalization and the curriculum recipe that keeps them: mirrored training levels,
the recipe file behind ``ninjarl train --curriculum`` and a short run of it."""
from __future__ import annotations

import json

import pytest

from ninjarl.cli import main
from ninjarl.eval.report import build_report
from ninjarl.levels import CATEGORIES, build_dataset
from ninjarl.sim.mirror import mirror_map
from ninjarl.train import TrainConfig
from ninjarl.train.config import curriculum_recipe_path, load_run_config
from ninjarl.train.curriculum import CurriculumConfig
from ninjarl.train.ppo import resolve_levels, with_mirror_images


def test_mirror_adds_the_mirror_image_of_every_training_level():
    levels = resolve_levels("test/slopes")
    both = with_mirror_images(levels)
    n = len(levels.train)
    assert len(both.train) == 2 * n and both.train[:n] == levels.train
    assert both.train_categories == levels.train_categories * 2
    assert both.test == levels.test and both.test_categories == levels.test_categories
    for original, mirrored in zip(both.train[:n], both.train[n:]):
        assert mirrored.name == f"{original.name}~mirror"
        assert mirrored.map_data.raw == mirror_map(original.map_data.raw)
        assert mirrored.spawn == pytest.approx((1056 - original.spawn[0], original.spawn[1]))
        assert mirrored.map_data.raw != original.map_data.raw


def test_the_curriculum_recipe_round_trips_and_is_what_train_curriculum_uses():
    raw = json.loads(curriculum_recipe_path().read_text())
    config = load_run_config(None, True)
    data = config.to_dict()
    in_effect = json.loads(json.dumps(data))
    for key, value in raw.items():              # every setting the file names is in effect
        if isinstance(value, dict):
            assert {k: in_effect[key][k] for k in value} == value, key
        else:
            assert in_effect[key] == value, key
    assert config.curriculum is not None
    assert TrainConfig.from_dict(data) == config
    assert load_run_config(None, True, timesteps=5, arch="vision_free").timesteps == 5
    assert load_run_config(None, False).curriculum is None


def test_a_config_file_keeps_its_own_curriculum(tmp_path):
    own = tmp_path / "own.json"
    own.write_text(json.dumps({"curriculum": {"stages": ["simplest", "simpler"], "window": 7}}))
    assert load_run_config(own, True).curriculum.window == 7
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"arch": "vision_free"}))
    assert load_run_config(bare, True).curriculum == CurriculumConfig()
    assert load_run_config(bare, False).curriculum is None


def test_train_curriculum_runs_the_recipe_end_to_end(tmp_path, capsys, monkeypatch):
    """The recipe as ``ninjarl train --curriculum`` runs it, on one level per category and
    split (the built-in set's 875 levels take a minute to analyse) and without videos."""
    from ninjarl.train import demos

    monkeypatch.setattr(demos, "cache_dir", lambda: tmp_path / "cache" / "levels")
    levels = tmp_path / "levels"
    build_dataset(levels, 1, 1)
    out = tmp_path / "runs" / "run"
    status = main(["train", "--curriculum", "--levels", str(levels), "--timesteps", "1024",
                   "--envs", "8", "--videos", "0", "--out", str(out), "--no-doctor"])
    assert status == 0, capsys.readouterr().err
    saved = TrainConfig.from_dict(json.loads((out / "config.json").read_text()))
    assert saved == load_run_config(None, True, levels=str(levels), timesteps=1024, envs=8,
                                    videos=0, out=str(out))
    result = json.loads((out / "eval.json").read_text())
    assert set(result["per_category"]) == set(CATEGORIES)
    # the recipe starts PPO from the planner's demonstrations of the 7 training levels
    assert json.loads((out / "demos" / "demos.json").read_text())["levels"] == 7
    assert json.loads((out / "transfer_report.json").read_text())["loaded"]
    assert "held-out success" in capsys.readouterr().out
    # the recipe's eval_levels (the real game's levels) are played and plotted
    assert saved.eval_levels == ("official",)
    report = build_report(tmp_path / "runs")
    assert "Success on official" in report.read_text()
    assert (tmp_path / "runs" / "curves_set_official.png").stat().st_size > 0


def test_a_curriculum_run_without_out_is_named_after_the_curriculum(tmp_path):
    from ninjarl.train.ppo import default_run_dir

    recipe = load_run_config(None, True)
    assert default_run_dir(recipe).startswith("runs/vision_free-curriculum-")
    assert default_run_dir(load_run_config(None, False)).startswith("runs/vision_free-simplest-")
    own = load_run_config(None, True, levels=str(tmp_path))       # a dataset of one's own
    assert default_run_dir(own).startswith(f"runs/vision_free-{str(tmp_path).replace('/', '_')}-")
