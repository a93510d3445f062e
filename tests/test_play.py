"""ninjarl play: a scripted headless session (real pygame event queue, dummy video driver) is
recorded, and every recorded attempt reproduces its trajectory through `ninjarl replay` and
behaviour cloning; bad level specs, bad scripts and a missing display end in one line."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ninjarl.cli import main
from ninjarl.env import EnvConfig
from ninjarl.eval import resolve_spec
from ninjarl.play import Game, input_byte, play, script_from_inputs
from ninjarl.sim import build_level, read_replay, simulate_inputs
from ninjarl.train.bc import replay_samples

from conftest import BC_REPLAYS, SCENARIOS

WIN = next(p for p in BC_REPLAYS if p.name.startswith("20251023_094841_train_simple_100005"))
DEATH = SCENARIOS / "mine_edge_kill"


def _moving(inputs: np.ndarray) -> np.ndarray:
    """The inputs from the first frame with a key held (a session starts there)."""
    inputs = np.asarray(inputs, np.uint8) & 7
    return inputs[np.flatnonzero(inputs)[0]:]


@pytest.fixture
def levels_dir(tmp_path) -> Path:
    """A level set of two levels: a mine that kills, then a short walk to the exit."""
    root = tmp_path / "levels"
    root.mkdir()
    shutil.copy(DEATH.with_suffix(".map"), root / "1_mine.map")
    shutil.copy(WIN, root / "2_walk.replay")
    return root


def _session_script(death: np.ndarray, win: np.ndarray) -> list[tuple[int, str, str]]:
    """Die on level 1, restart, walk right a little and skip to level 2 (an attempt left
    unfinished: not recorded), win level 2, quit."""
    script = script_from_inputs(death, start=2)
    t = 2 + len(death) + 10                 # the ninja slides on after the last key
    script += [(t, "down", "r"), (t + 1, "up", "r"), (t + 2, "down", "right"),
               (t + 20, "up", "right"), (t + 21, "down", "n"), (t + 22, "up", "n")]
    return script + script_from_inputs(win, start=t + 30, quit=True)


def test_recorded_session_reproduces_through_replay(levels_dir, tmp_path, capsys):
    death, win = _moving(np.frombuffer(DEATH.with_suffix(".inputs").read_bytes(), np.uint8)), _moving(
        read_replay(WIN).inputs)
    record = tmp_path / "rec"
    attempts = play(resolve_spec(str(levels_dir)), record, script=_session_script(death, win),
                    headless=True)
    assert [(a.level.level_id, a.outcome) for a in attempts] == [("1_mine", "dead"),
                                                                ("2_walk", "won")]
    files = sorted(record.iterdir())
    assert [f.name for f in files] == [a.path.name for a in attempts]
    assert re.fullmatch(r"1_mine_\d{8}-\d{6}_001_dead\.replay", files[0].name)
    assert re.fullmatch(r"2_walk_\d{8}-\d{6}_002_won\.replay", files[1].name)
    for attempt, played in zip(attempts, (death, win)):
        replay = read_replay(attempt.path)
        assert replay.format == "compact-v1" and replay.success == (attempt.outcome == "won")
        assert replay.map_bytes == attempt.level.map_bytes
        # the key events were played frame by frame (then all keys up): the same bytes
        expected = np.concatenate([played, np.zeros(attempt.frames, np.uint8)])
        assert np.array_equal(replay.inputs, expected[:attempt.frames])
        assert main(["replay", str(attempt.path)]) == 0
        out = capsys.readouterr().out
        assert f"frames: {attempt.frames}\n" in out
        assert f"outcome: {attempt.outcome}\n" in out
        assert f"outcome_frame: {attempt.frames}\n" in out          # it ended the attempt
        trace = simulate_inputs(build_level(replay.map_bytes), replay.inputs)
        assert list(zip(trace["x"], trace["y"])) == attempt.trajectory     # frame by frame
        # and behaviour cloning reads it through the training env, ending the same way
        run = replay_samples(attempt.path, EnvConfig(), 1)
        assert (run.outcome, run.frames) == (attempt.outcome, attempt.frames)


def test_cli_headless_session(levels_dir, tmp_path, capsys):
    win = _moving(read_replay(WIN).inputs)
    script = tmp_path / "keys.json"
    script.write_text(json.dumps([list(e) for e in script_from_inputs(win, start=1, quit=True)]))
    record = tmp_path / "rec"
    assert main(["play", str(levels_dir / "2_walk.replay"), "--record", str(record),
                 "--headless", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    (path,) = record.iterdir()
    assert np.array_equal(read_replay(path).inputs, win)
    assert out == f"attempt 1: custom/2_walk won after {len(win)} frames -> {path}\n"


def test_next_walks_on_after_a_win(levels_dir):
    game = Game(resolve_spec(str(levels_dir)), walk=True)
    game.key_down("n")
    for byte in [*_moving(read_replay(WIN).inputs), 0]:
        game.tick({name for name, bit in (("left", 4), ("right", 2), ("z", 1)) if byte & bit})
    assert game.attempt.outcome == "won" and game.index == 1
    game.key_down("r")                      # after a win with --next: the next level (wraps)
    assert game.index == 0 and game.attempt.outcome is None
    game.key_down("r")
    assert game.index == 0


def test_keys_and_waiting_for_the_first_input():
    assert input_byte({"a", "d", "space"}) == 7 and input_byte({"right", "up"}) == 3
    assert input_byte({"z"}) == 1 and input_byte({"q"}) == 0
    game = Game(resolve_spec(str(WIN)))
    for _ in range(30):
        game.tick(set())
    assert game.attempt.frames == 0 and "move or jump to start" in game.status()
    game.tick({"right"})
    assert game.attempt.inputs == [2] and "time   0.02 s (1 frames)   switch off" in game.status()


def test_bad_level_spec_and_script_are_one_line_errors(tmp_path, capsys):
    script = tmp_path / "keys.json"
    script.write_text(json.dumps([[0, "down", "right"]]))
    assert main(["play", str(tmp_path / "nowhere"), "--headless", "--script", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err and "level set" in err
    script.write_text(json.dumps([[0, "press", "right"]]))
    assert main(["play", "test", "--headless", "--script", str(script)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "event 0: expected [frame >= 0, 'down'|'up', key]" in err
    script.write_text(json.dumps([[0, "down", "hyperjump"]]))
    assert main(["play", "test", "--headless", "--script", str(script)]) == 2
    assert "unknown key 'hyperjump'" in capsys.readouterr().err
    assert main(["play", "test", "--headless"]) == 2
    assert "--headless needs a --script" in capsys.readouterr().err


def test_missing_display_is_a_one_line_error(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    assert main(["play", "test"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ninjarl: error: play: cannot open a window (no display")


def test_window_shows_the_picture_of_the_videos(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    import pygame

    from ninjarl.draw import render_rgb
    from ninjarl.play import BAR_HEIGHT, _draw
    game = Game(resolve_spec("official")[:1])
    for _ in range(40):
        game.tick({"right", "z"})
    pygame.display.init()
    pygame.font.init()
    try:
        screen = pygame.display.set_mode((1056, 600 + BAR_HEIGHT))
        _draw(pygame, screen, pygame.font.Font(None, 22), game)
        shown = pygame.surfarray.array3d(screen).swapaxes(0, 1)
    finally:
        pygame.quit()
    assert np.array_equal(shown[:600], render_rgb(game.level, game.sim.bank, game.sim.state, 0))
    assert len(np.unique(shown[600:].reshape(-1, 3), axis=0)) > 2        # the info line
