"""The simulator benchmark's inputs and map resolution (no simulator needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ninjarl.bench.sim_bench import (
    DEFAULT_MAPS,
    MAX_HOLD,
    sticky_random_inputs,
)
from ninjarl.sim import load_map_bytes
from ninjarl.sim.errors import FormatError
from ninjarl.sim.mapfile import bundled_map_path
from ninjarl.sim.replay import ACTION_TO_INPUT_BYTE, read_replay

from conftest import ATTRACT_REPLAYS, MAPS, REPLAYS


def _run_lengths(row: np.ndarray) -> list[int]:
    change = np.flatnonzero(np.diff(row)) + 1
    bounds = np.concatenate([[0], change, [len(row)]])
    return np.diff(bounds).tolist()


def test_sticky_random_inputs_are_deterministic_sticky_actions() -> None:
    tape = sticky_random_inputs(8, 5000, seed=3)
    assert tape.shape == (8, 5000) and tape.dtype == np.uint8
    np.testing.assert_array_equal(tape, sticky_random_inputs(8, 5000, seed=3))
    assert not np.array_equal(tape, sticky_random_inputs(8, 5000, seed=4))
    assert set(np.unique(tape).tolist()) == set(ACTION_TO_INPUT_BYTE)
    # Environments get different sequences.
    assert not np.array_equal(tape[0], tape[1])
    # Consecutive holds may repeat an action, so a run is at most a few holds long,
    # but every hold lasts 1-30 frames: the mean run cannot exceed 30 by much.
    runs = [n for row in tape for n in _run_lengths(row)]
    assert 10 < np.mean(runs) < 2 * MAX_HOLD


def test_sticky_random_inputs_shorter_tapes_are_prefixes() -> None:
    big = sticky_random_inputs(5, 9000, seed=11)
    np.testing.assert_array_equal(sticky_random_inputs(3, 1000, seed=11), big[:3, :1000])
    np.testing.assert_array_equal(sticky_random_inputs(1, 16, seed=11), big[:1, :16])


def test_default_maps_are_bundled() -> None:
    for name in DEFAULT_MAPS:
        assert bundled_map_path(name).is_file()


def test_load_map_bytes_from_name_map_file_and_replays() -> None:
    assert load_map_bytes("test/simple-walk") == (MAPS / "test" / "simple-walk").read_bytes()
    raw = MAPS / "official" / "000_the_basics"
    assert load_map_bytes(str(raw)) == raw.read_bytes()
    for replay in [
        REPLAYS / "bc" / "20251022_142001_train_very_simple_100001.replay",
        REPLAYS / "bc" / "20251023_093546_train_complex_100001.replay",
        ATTRACT_REPLAYS[0],
    ]:
        assert load_map_bytes(str(replay)) == read_replay(replay).map_bytes


def test_load_map_bytes_rejects_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a level")
    with pytest.raises(FormatError, match="neither a replay .* nor a map"):
        load_map_bytes(str(junk))
    with pytest.raises(FormatError, match="no/such-map: level source: .*available: .*test/simple-walk"):
        load_map_bytes("no/such-map")


def test_bench_env_json_last_line(capsys) -> None:
    import json

    from ninjarl.cli import main

    assert main(["bench", "env", "--obs", "state", "--map", "test/simple-walk", "--envs", "2",
                 "--action-repeat", "1", "4", "--steps", "5", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    results = json.loads(last)["results"]
    assert [(r["obs"], r["map"], r["envs"], r["action_repeat"]) for r in results] == [
        ("state", "test/simple-walk", 2, 1), ("state", "test/simple-walk", 2, 4)]
    assert all(r["steps_per_s"] > 0 for r in results)


def test_bench_video_draws_and_writes_the_episode_it_reports(capsys) -> None:
    """A sticky-random episode without a death on an empty level: every tape frame plus the
    start frame is drawn and written, and the JSON line holds what the table shows."""
    import json

    from ninjarl.cli import main

    assert main(["bench", "video", "--map", "bench/empty", "--frames", "40", "--repeats", "1",
                 "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    (result,) = json.loads(out[-1])["results"]
    assert result["map"] == "bench/empty" and result["frames"] == 41
    assert result["draw_fps"] > 0 and result["write_fps"] > 0 and result["mp4_bytes"] > 0
    assert out[1].split()[:2] == ["bench/empty", "41"]


def test_bench_video_unknown_map_is_one_line(capsys) -> None:
    from ninjarl.cli import main

    assert main(["bench", "video", "--map", "no/such-map"]) == 2
    err = capsys.readouterr().err
    assert "no/such-map" in err and len(err.strip().splitlines()) == 1


def test_model_bench_times_real_training_iterations() -> None:
    from ninjarl.bench.model_bench import run_model_bench

    (result,) = run_model_bench(["vision_free"], envs=4, repeats=1)
    assert result.arch == "vision_free" and result.samples == 128 * 4
    assert result.params > 10_000 and 0 < result.mflop_per_sample < 1
    assert result.rollout_s > 0 and result.update_s > 0 and result.update_cpu_s > 0
    assert result.steps_per_s == pytest.approx(
        result.samples / (result.rollout_s + result.update_s))
    assert 0 < result.peak_fraction < 1


def test_lean_image_architectures_cost_far_fewer_flops() -> None:
    """mlp_fast / local_view_fast read the same observations as mlp_baseline / local_view
    through CNNs with at least 5x fewer forward FLOPs per sample."""
    from dataclasses import replace

    from ninjarl.bench.model_bench import forward_flops
    from ninjarl.env import make_vec_env
    from ninjarl.models import ARCHITECTURES
    from ninjarl.train.config import TrainConfig
    from ninjarl.train.ppo import build_model

    def flops(arch: str) -> int:
        config = TrainConfig.create(arch=arch, envs=1)
        venv = make_vec_env([bundled_map_path("test/simple-walk")], 1, config.env, 1, seed=0)
        return forward_flops(build_model(replace(config, out=""), venv))

    for lean, original in (("mlp_fast", "mlp_baseline"), ("local_view_fast", "local_view")):
        assert ARCHITECTURES[lean].observation_keys == ARCHITECTURES[original].observation_keys
        assert 5 * flops(lean) < flops(original)


def test_bench_model_rejects_unknown_architecture(capsys) -> None:
    from ninjarl.cli import main

    assert main(["bench", "model", "--arch", "no_such_net"]) == 2
    assert "no_such_net" in capsys.readouterr().err


def test_keep_freed_memory_serves_large_tensors_from_the_reusable_heap() -> None:
    """By default glibc maps a 100 MB tensor with fresh mmap pages (returned to the kernel when
    freed, page-faulted again at the next minibatch); after keep_freed_memory() it comes from
    the heap, which keeps freed memory for reuse (glibc's mallinfo2: bytes in mmap'd blocks)."""
    import subprocess
    import sys

    script = (
        "import ctypes, sys, torch\n"
        "from ninjarl.allocator import keep_freed_memory\n"
        "class Info(ctypes.Structure):\n"
        "    _fields_ = [(n, ctypes.c_size_t) for n in ('arena', 'ordblks', 'smblks', 'hblks',\n"
        "                'hblkhd', 'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]\n"
        "mallinfo2 = ctypes.CDLL(None).mallinfo2\n"
        "mallinfo2.restype = Info\n"
        "if sys.argv[1] == 'keep':\n"
        "    assert keep_freed_memory()\n"
        "before = mallinfo2().hblkhd\n"
        "tensor = torch.ones(25_000_000)\n"
        "print(mallinfo2().hblkhd - before)\n")
    mapped = {mode: int(subprocess.run([sys.executable, "-c", script, mode], check=True,
                                       capture_output=True, text=True).stdout)
              for mode in ("default", "keep")}
    assert mapped["default"] >= 100_000_000
    assert mapped["keep"] == 0
