"""ninjarl.eval.video: episode videos are the env's frames, with an info bar below them."""
from __future__ import annotations

import os

import imageio.v2 as iio
import imageio.v3 as iio3
import numpy as np
import pytest

from ninjarl.env import EnvConfig, NinjaEnv, NinjaVecEnv
from ninjarl.eval.video import (
    BAR_HEIGHT,
    GIF_FRAME_STEP,
    episode_frames,
    last_frame,
    play_frames,
    step_actions_to_frames,
    write_episode_video,
    write_replay_video,
    write_video,
)
from ninjarl.sim import load_level, read_replay
from ninjarl.sim.replay import input_actions
from ninjarl.train.bc import block_label

from conftest import MAPS, REPLAYS

SHORT = REPLAYS / "bc" / "20251022_142001_train_very_simple_100001.replay"   # 37 frames, won
DIES = REPLAYS / "bc" / "20251022_142128_train_medium_100033.replay"  # its labels hit a mine
SIMPLE_WALK = MAPS / "test" / "simple-walk"
RIGHT = 2
H, W = 600, 1056


def _decode_mp4(path) -> list[np.ndarray]:
    reader = iio.get_reader(path, format="FFMPEG")
    try:
        return [np.asarray(frame) for frame in reader]
    finally:
        reader.close()


def _labels(replay, k: int) -> list[int]:
    """The BC labels of a replay at action repeat k (most frequent action of each block)."""
    actions = input_actions(read_replay(replay).inputs)
    return [block_label(actions[i:i + k]) for i in range(0, len(actions), k)]


@pytest.fixture(scope="module")
def short_mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "short.mp4"
    return path, write_replay_video(path, SHORT)


# ---- frames ----------------------------------------------------------------------------------

def test_step_actions_to_frames_holds_each_action():
    np.testing.assert_array_equal(step_actions_to_frames([1, 5, 0], 3), [1, 1, 1, 5, 5, 5, 0, 0, 0])
    assert step_actions_to_frames([], 4).shape == (0,)
    with pytest.raises(ValueError, match="action_repeat"):
        step_actions_to_frames([1], 0)
    with pytest.raises(ValueError, match="0..5"):
        step_actions_to_frames([6], 1)


def test_frames_are_the_env_render_pixel_for_pixel():
    """Start frame = render() after reset, frame f = render() after f one-frame steps; the bar
    is extra rows below, never drawn over the picture."""
    replay = read_replay(SHORT)
    actions = input_actions(replay.inputs)
    frames = list(episode_frames(replay.map_bytes, actions))
    assert len(frames) == len(actions) + 1 == 38
    env = NinjaEnv(levels=[replay.map_bytes], config=EnvConfig(action_repeat=1),
                   render_mode="rgb_array")
    env.reset()
    for f, frame in enumerate(frames):
        assert frame.shape == (H + BAR_HEIGHT, W, 3) and frame.dtype == np.uint8
        np.testing.assert_array_equal(frame[:H], env.render(), err_msg=f"frame {f}")
        if f < len(actions):
            env.step(actions[f])


def test_the_bar_shows_frame_action_objective_and_outcome():
    replay = read_replay(SHORT)
    played = list(play_frames(replay.map_bytes, input_actions(replay.inputs)))
    assert [p.frame for p in played] == list(range(38))
    assert played[0].action is None and played[1].action == input_actions(replay.inputs)[0]
    objectives = [p.objective for p in played]
    assert objectives[0] == "switch" and objectives[-1] == "exit door"
    assert objectives == sorted(objectives, key=lambda o: o == "exit door")   # switch first
    assert [p.outcome for p in played] == [None] * 37 + ["won"]

    frames = list(episode_frames(SIMPLE_WALK, [0] * 3, outcome="timeout"))
    plain = list(episode_frames(SIMPLE_WALK, [0] * 3))
    bars = [f[H:] for f in frames]
    assert all(len(np.unique(b.reshape(-1, 3), axis=0)) >= 2 for b in bars)   # text is drawn
    assert not np.array_equal(bars[0], bars[1])                              # frame number
    assert len(frames) == 4
    np.testing.assert_array_equal(frames[2], plain[2])          # "timeout" only on the last frame
    np.testing.assert_array_equal(frames[3][:H], plain[3][:H])
    assert not np.array_equal(frames[3][H:], plain[3][H:])


# ---- the env's episodes, frame-exactly ---------------------------------------------------------

@pytest.mark.parametrize("level, actions, repeat, expected", [
    (SIMPLE_WALK, [RIGHT] * 200, 4, "won"),
    (SHORT, list(input_actions(read_replay(SHORT).inputs)), 1, "won"),
    (SHORT, _labels(SHORT, 4), 4, "won"),
    (DIES, _labels(DIES, 4), 4, "dead: mine"),
], ids=["simple-walk-right", "replay-frames", "replay-labels", "replay-labels-dead"])
def test_step_actions_replay_like_the_env(level, actions, repeat, expected):
    map_bytes = read_replay(level).map_bytes if str(level).endswith(".replay") else level
    venv = NinjaVecEnv([map_bytes], num_envs=1, config=EnvConfig(action_repeat=repeat),
                       level_sampler=lambda env_index, rng: 0, seed=0)
    venv.reset()
    info, steps = None, 0
    for action in actions:
        _, _, dones, infos = venv.step(np.array([action]))
        steps += 1
        if dones[0]:
            info = infos[0]
            break
    assert info is not None, "the env episode did not end"
    played = list(play_frames(map_bytes, step_actions_to_frames(actions[:steps], repeat)))
    assert len(played) == info["frames"] + 1
    assert played[-1].frame == info["frames"]
    assert played[-1].outcome == expected
    assert info["is_success"] == (expected == "won")
    assert info["death_cause"] == ("mine" if expected.startswith("dead") else "")
    # giving all actions (beyond the end) changes nothing: the replay stops where the env did
    assert sum(1 for _ in play_frames(map_bytes, step_actions_to_frames(actions, repeat))) \
        == len(played)


# ---- files -----------------------------------------------------------------------------------

def test_replay_mp4_decodes_to_every_frame(short_mp4):
    path, written = short_mp4
    decoded = _decode_mp4(path)
    assert written == len(decoded) == len(read_replay(SHORT).inputs) + 1 == 38
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask        # not mkstemp's 0600
    assert all(frame.shape == (H + BAR_HEIGHT, W, 3) for frame in decoded)


def test_mp4_first_frame_is_the_env_render_up_to_codec_error(short_mp4):
    env = NinjaEnv(levels=[SHORT], render_mode="rgb_array")
    env.reset()
    reference = env.render().astype(np.int64)
    first = _decode_mp4(short_mp4[0])[0][:H].astype(np.int64)
    diff = np.abs(first - reference)
    # measured at quality=9 (crf 5, yuv420p): mean 0.673, 99th percentile 1.0 (the large errors
    # are chroma subsampling at sharp colour edges; a mine-heavy map gives mean 1.55, p99 5)
    assert diff.mean() < 2
    assert np.percentile(diff, 99) <= 3
    assert np.abs(reference).mean() > 60 and first.mean() > 60      # far from a black frame


def test_episode_mp4_has_the_episode_frames(tmp_path):
    path = tmp_path / "walk.mp4"
    n = write_episode_video(path, SIMPLE_WALK, [RIGHT] * 200, 4)
    played = list(play_frames(SIMPLE_WALK, step_actions_to_frames([RIGHT] * 200, 4)))
    assert n == len(played) == len(_decode_mp4(path)) and played[-1].outcome == "won"


def test_last_frame_is_the_last_decoded_frame_of_a_long_video(tmp_path):
    """The poster of an MP4 longer than ffmpeg's seek window (10 s at 60 fps) is found by
    seeking: it must be the very last frame, not a neighbour; a GIF's too."""
    frames = np.zeros((900, 64, 96, 3), np.uint8)
    for i, frame in enumerate(frames):
        frame[:, : 1 + i % 96] = 255                 # a bar as wide as the frame number mod 96
    frames[-1, :, :, 1] = 128                        # the last one also differs in colour
    write_video(tmp_path / "long.mp4", frames)
    decoded = _decode_mp4(tmp_path / "long.mp4")
    assert len(decoded) == 900
    np.testing.assert_array_equal(last_frame(tmp_path / "long.mp4"), decoded[-1])
    assert np.abs(decoded[-1].astype(int) - frames[-1]).mean() < 2
    assert np.abs(decoded[-2].astype(int) - frames[-1]).mean() > 20
    write_video(tmp_path / "long.gif", frames)
    np.testing.assert_array_equal(last_frame(tmp_path / "long.gif"), frames[-1])


def test_gif_keeps_every_third_frame_and_the_last(tmp_path):
    path = tmp_path / "short.gif"
    n = write_replay_video(path, SHORT)
    decoded = iio3.imread(path, index=None)
    expected = list(range(0, 38, GIF_FRAME_STEP)) + [37]     # 37 is not a multiple of 3
    assert n == len(decoded) == len(expected)
    assert decoded.shape[1:3] == (H + BAR_HEIGHT, W)
    frames = list(episode_frames(SHORT, input_actions(read_replay(SHORT).inputs)))
    for k, f in zip((0, -1), (expected[0], expected[-1])):
        # the game uses far fewer than 256 colours: the palette keeps them
        np.testing.assert_array_equal(decoded[k][..., :3], frames[f])


def test_bad_extension_is_a_value_error_naming_the_path(tmp_path):
    for name in ("x.avi", "x", "x.mp4.part"):
        with pytest.raises(ValueError, match=rf"{name}.*accepted: \.mp4, \.gif"):
            write_video(tmp_path / name, iter([np.zeros((16, 16, 3), np.uint8)]))
        with pytest.raises(ValueError, match=rf"{name}.*accepted"):
            write_replay_video(tmp_path / name, SHORT)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "x.mp4", iter([]))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_write_is_atomic_when_the_frames_fail_midway(tmp_path, ext):
    def frames():
        for f in episode_frames(SIMPLE_WALK, [RIGHT] * 20):
            if len(seen) == 5:
                raise RuntimeError("policy crashed")
            seen.append(f)
            yield f

    seen: list[np.ndarray] = []
    with pytest.raises(RuntimeError, match="policy crashed"):
        write_video(tmp_path / f"new{ext}", frames())
    assert len(seen) == 5 and list(tmp_path.iterdir()) == []

    old = tmp_path / f"old{ext}"
    old.write_bytes(b"previous video")
    seen.clear()
    with pytest.raises(RuntimeError):
        write_video(old, frames())
    assert old.read_bytes() == b"previous video" and list(tmp_path.iterdir()) == [old]


def test_level_sources_are_those_of_load_level():
    """A bundled map name, a path, map bytes and a Level give the same start frame."""
    level = load_level(SIMPLE_WALK)
    starts = [next(episode_frames(src, [])) for src in
              ("test/simple-walk", SIMPLE_WALK, SIMPLE_WALK.read_bytes(), level)]
    for start in starts[1:]:
        np.testing.assert_array_equal(start, starts[0])
