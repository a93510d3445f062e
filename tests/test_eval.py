"""ninjarl.eval: level-set specs, per-episode results and statistics, the eval command."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from ninjarl.cli import main
from ninjarl.eval import EpisodeResult, EvalResult, evaluate, resolve_spec, wilson_interval
from ninjarl.eval.evaluate import check_observations
from ninjarl.levels import build_dataset, default_dataset
from ninjarl.sim import FormatError, build_level
from ninjarl.sim.replay import read_replay
from ninjarl.train import load_agent, train

from conftest import BC_REPLAYS, MAPS
from test_train import tiny_config

# ---- specs ---------------------------------------------------------------------------------


def test_a_category_is_its_built_in_test_split():
    levels = resolve_spec("simpler")
    expected = default_dataset().by_category("test")["simpler"]
    assert [lv.level_id for lv in levels] == [e.level_id for e in expected]
    assert {lv.category for lv in levels} == {"simpler"}
    assert [lv.map_bytes for lv in levels] == [e.map_bytes for e in expected]


def test_bundled_sets():
    official = resolve_spec("official")
    assert [lv.level_id for lv in official] == sorted(p.name for p in (MAPS / "official").iterdir())
    assert {lv.category for lv in official} == {"official"}
    assert official[0].map_bytes == (MAPS / "official" / official[0].level_id).read_bytes()
    assert len(resolve_spec("test")) == 16


def test_dataset_directory_test_split_or_train_split(tmp_path):
    ds = build_dataset(tmp_path / "ds", 2, 1, categories=("simplest", "simple"), seed=4)
    test = resolve_spec(str(tmp_path / "ds"))
    assert [(lv.level_id, lv.category) for lv in test] == [
        (e.level_id, e.category) for e in ds.split("test")]
    trained = resolve_spec(f"{tmp_path / 'ds'}:train")
    assert [lv.level_id for lv in trained] == [e.level_id for e in ds.split("train")]
    assert len(trained) == 4 and len(test) == 2


def test_raw_directory_subfolders_are_categories_files_inside_are_custom(tmp_path):
    root = tmp_path / "maps"
    (root / "walls").mkdir(parents=True)
    shutil.copy(MAPS / "test" / "slopes", root / "walls" / "slopes")
    shutil.copy(MAPS / "test" / "long-walk", root / "long-walk.map")
    shutil.copy(BC_REPLAYS[0], root / "human.replay")
    (root / "notes.json").write_text("{}")
    levels = {lv.level_id: lv for lv in resolve_spec(str(root))}
    assert set(levels) == {"walls/slopes", "long-walk", "human"}
    assert levels["walls/slopes"].category == "walls"
    assert levels["long-walk"].category == levels["human"].category == "custom"
    assert levels["human"].map_bytes == read_replay(BC_REPLAYS[0]).map_bytes


def test_single_map_or_replay_file():
    (one,) = resolve_spec(str(MAPS / "test" / "slopes"))
    assert (one.level_id, one.category) == ("slopes", "custom")
    (replay,) = resolve_spec(str(BC_REPLAYS[3]))
    assert replay.map_bytes == read_replay(BC_REPLAYS[3]).map_bytes


def test_a_spec_naming_nothing_is_a_clear_error(tmp_path):
    with pytest.raises(FormatError, match="nowhere: level set: not a category"):
        resolve_spec("nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="holds no map or replay files"):
        resolve_spec(str(tmp_path / "empty"))


# ---- results and statistics ------------------------------------------------------------------

def test_wilson_interval_hand_values():
    low, high = wilson_interval(5, 10)
    assert math.isclose(low, 0.2366, abs_tol=1e-4) and math.isclose(high, 0.7634, abs_tol=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and math.isclose(high, 0.2775, abs_tol=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_category_statistics():
    result = EvalResult([
        EpisodeResult("a", "x", "won", 100), EpisodeResult("b", "x", "won", 300),
        EpisodeResult("c", "x", "dead", 50, "mine"), EpisodeResult("d", "x", "timeout", 5000),
        EpisodeResult("e", "y", "dead", 20, "impact"), EpisodeResult("f", "y", "dead", 9, "mine"),
    ])
    x, y = result.categories()["x"], result.categories()["y"]
    assert (x["levels"], x["success_rate"], x["median_win_frames"]) == (4, 0.5, 200.0)
    assert x["deaths"] == {"mine": 1} and x["timeouts"] == 1
    assert (y["success_rate"], y["median_win_frames"], y["deaths"]) == (0.0, None,
                                                                     {"impact": 1, "mine": 1})
    assert result.success_rate == pytest.approx(2 / 6)
    doc = result.to_json(7)
    assert doc["per_category"] == {"x": 0.5, "y": 0.0}
    assert doc["per_level"][2] == {"id": "c", "category": "x", "outcome": "dead", "frames": 50,
                                   "death_cause": "mine", "successes": 0, "episodes": 1}
    assert "| x | 4 | 4 | 50.0% |" in result.table()


# ---- playing levels -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    train(tiny_config(out, timesteps=64), log=lambda *_: None)
    return out


def test_eval_command_on_a_map_directory_equals_the_evaluate_api(trained, tmp_path, capsys):
    maps = tmp_path / "maps"
    shutil.copytree(MAPS / "test", maps, ignore=shutil.ignore_patterns("*.json"))
    assert main(["eval", str(trained), "--levels", str(maps), "--out", str(tmp_path / "e"),
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert document == json.loads((tmp_path / "e" / "eval.json").read_text())
    assert (tmp_path / "e" / "eval.md").read_text().count("| custom |") == 1

    model = load_agent(trained)
    files = sorted(p for p in maps.iterdir())
    expected = evaluate(model, [build_level(p.read_bytes(), p.name) for p in files],
                        ["custom"] * len(files), model.train_config.env).to_json(64)
    assert document["per_level"] == expected["per_level"]
    assert document["categories"] == expected["categories"]
    assert document["success_rate"] == expected["success_rate"]
    assert document["settings"]["levels"] == [str(maps)]
    outcomes = {row["outcome"] for row in document["per_level"]}
    assert outcomes <= {"won", "dead", "timeout"} and len(document["per_level"]) == 16


def test_evaluate_counts_a_win():
    class Right:                                   # holds RIGHT: simple-walk is won walking
        observation_space = None

        def predict(self, obs, deterministic=True):
            return np.full(len(obs["game_state"]), 2), None

    from ninjarl.env import EnvConfig, make_vec_env
    config = EnvConfig()
    Right.observation_space = make_vec_env([str(MAPS / "test" / "simple-walk")], 1,
                                           config).observation_space
    levels = [build_level((MAPS / "test" / name).read_bytes(), name)
              for name in ("simple-walk", "only-jump")]
    result = evaluate(Right(), levels, ["a", "b"], config, episodes_per_level=2)
    assert [r.outcome for r in result.results][:2] == ["won", "won"]
    assert result.per_category["a"] == 1.0 and result.episodes == 4
    won = result.results[0]
    assert won.frames > 0 and len(won.actions) == -(-won.frames // config.action_repeat)
    assert (won.actions == 2).all()


def test_evaluation_plays_by_the_game_rules_not_the_training_stuck_cut():
    """An agent that never moves, under a training config that ends frozen episodes as
    failures after 60 frames: evaluation still plays it to the frame limit, a time-out."""
    class Still:
        observation_space = None

        def predict(self, obs, deterministic=True):
            return np.zeros(len(obs["game_state"]), np.int64), None

    from ninjarl.env import EnvConfig, make_vec_env
    config = EnvConfig(max_frames=400, stuck_frames=60, stuck_fails=True)
    Still.observation_space = make_vec_env([str(MAPS / "test" / "long-walk")], 1,
                                           config).observation_space
    level = build_level((MAPS / "test" / "long-walk").read_bytes(), "long-walk")
    (episode,) = evaluate(Still(), [level], ["a"], config).results
    assert episode.outcome == "timeout" and episode.frames == 400


def test_an_agent_whose_observations_the_env_lacks_is_refused(trained, tmp_path, capsys):
    from dataclasses import replace

    from ninjarl.env import make_vec_env
    model = load_agent(trained)
    images = replace(model.train_config.env, observations=("player_frame", "game_state"))
    venv = make_vec_env([str(MAPS / "test" / "slopes")], 1, images)
    with pytest.raises(ValueError, match="the agent reads observations .*reachability.* but "
                                         "these levels and settings give .*player_frame"):
        check_observations(model, venv)
    assert main(["eval", str(trained), "--levels", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ninjarl: error: nowhere: level set:") and "Traceback" not in err


# ---- videos, watch, report -------------------------------------------------------------------

def _decode(path):
    import imageio.v2 as imageio
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return [frame for frame in reader]


def test_eval_videos_decode_to_the_episode_and_start_at_render(trained, tmp_path):
    from ninjarl.env import NinjaEnv
    out = tmp_path / "e"
    assert main(["eval", str(trained), "--levels", "test", "--videos", "1",
                 "--out", str(out)]) == 0
    document = json.loads((out / "eval.json").read_text())
    videos = sorted((out / "videos" / "test").glob("*.mp4"))
    won = [row for row in document["per_level"] if row["outcome"] == "won"]
    failed = [row for row in document["per_level"] if row["outcome"] != "won"]
    assert len(videos) == min(len(won), 1) + min(len(failed), 1) >= 1
    first = (won or failed)[0]
    video = out / "videos" / "test" / f"{'won' if won else 'failed'}-{first['id']}.mp4"
    frames = _decode(video)
    assert len(frames) == first["frames"] + 1              # the start, then every frame
    env = NinjaEnv([str(MAPS / "test" / first["id"])], render_mode="rgb_array")
    env.reset()
    start = frames[0][:600].astype(int)
    assert np.abs(start - env.render()).mean() < 2         # H.264 (yuv420p) codec error only
    assert start.mean() > 10


def test_watch_a_replay_and_an_agent(trained, tmp_path, capsys):
    replay = BC_REPLAYS[0]
    assert main(["watch", str(replay), "--out", str(tmp_path / "human.mp4")]) == 0
    assert len(_decode(tmp_path / "human.mp4")) == len(read_replay(replay).inputs) + 1
    assert main(["watch", str(trained), "--level", str(MAPS / "test" / "simple-walk"),
                 "--out", str(tmp_path / "agent.gif")]) == 0
    assert "custom/simple-walk" in capsys.readouterr().out
    assert (tmp_path / "agent.gif").stat().st_size > 0
    assert main(["watch", str(trained), "--out", str(tmp_path / "x.mp4")]) == 2


def test_report_command_lists_a_broken_run_and_builds_the_rest(trained, tmp_path, capsys):
    root = tmp_path / "runs"
    shutil.copytree(trained, root / "good")
    (root / "bad").mkdir()
    (root / "bad" / "config.json").write_text("{truncated")
    assert main(["report", str(root)]) == 0
    report = (root / "report.md").read_text()
    assert "bad" in report and "config.json" in report
    assert "| vision_free |" in report and (root / "report.html").is_file()


def test_train_videos_are_written_and_their_posters_logged(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    train(tiny_config(out, timesteps=32, videos=1, env={"max_frames": 200}),
          log=lambda *_: None)
    videos = sorted((out / "videos").rglob("*.mp4"))
    assert videos and all(p.parent.parent.name == "step-32" for p in videos)
    events = EventAccumulator(str(next(out.glob("tb_*"))), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()["images"]
    assert {f"eval/video/{p.parent.name}/{p.stem}" for p in videos} <= set(tags)
