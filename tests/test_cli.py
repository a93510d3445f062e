"""The ``ninjarl`` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ninjarl.cli import main

from conftest import ATTRACT_REPLAYS, DAMAGED_REPLAYS, MAPS, REPLAYS, golden_trace

VERY_SIMPLE = REPLAYS / "bc" / "20251022_142001_train_very_simple_100001.replay"
BUNDLED_REPLAY = (
    Path(__file__).parent.parent / "src" / "ninjarl" / "data" / "replays" / "very_simple_100001.replay"
)


@pytest.mark.parametrize(
    "argv", [["--help"], ["replay", "--help"], ["bench", "--help"], ["bench", "sim", "--help"]]
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ninjarl")


def test_python_m_help_does_not_load_the_simulator() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['ninjarl', '--help']\n"
        "try:\n"
        "    runpy.run_module('ninjarl', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "assert 'ninjarl.sim' not in sys.modules and 'numba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, "-m", "ninjarl", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "replay" in done.stdout and "bench" in done.stdout


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def _assert_one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ninjarl: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("path", DAMAGED_REPLAYS, ids=lambda p: p.name)
def test_replay_damaged_file(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(path)]) == 2
    _assert_one_line_error(capsys, str(path), "size")


@pytest.mark.parametrize("cut", [0, 5, 12, 100, 1240, -1])
def test_replay_truncated_file(cut: int, tmp_path: Path, capsys) -> None:
    path = tmp_path / "cut.replay"
    path.write_bytes(VERY_SIMPLE.read_bytes()[:cut])
    assert main(["replay", str(path)]) == 2
    _assert_one_line_error(capsys, str(path))


def test_replay_corrupt_map(tmp_path: Path, capsys) -> None:
    data = bytearray(ATTRACT_REPLAYS[0].read_bytes())
    # Attract files keep level offsets: make the first entity record (byte 1235) a
    # launch pad with orientation 200, which the reference loader would crash on.
    data[1235] = 10
    data[1238] = 200
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(data))
    assert main(["replay", str(path)]) == 2
    _assert_one_line_error(capsys, str(path), "orientation 200")


def test_replay_missing_file(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.replay"
    assert main(["replay", str(missing)]) == 2
    _assert_one_line_error(capsys, str(missing), "No such file")


def test_replay_directory(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(tmp_path)]) == 2
    _assert_one_line_error(capsys, str(tmp_path))


def test_replay_error_in_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / "nope.replay"
    done = subprocess.run(
        [sys.executable, "-m", "ninjarl", "replay", str(missing)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("ninjarl: error: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_bench_unknown_map(capsys) -> None:
    assert main(["bench", "sim", "--map", "test/no-such-map", "--envs", "1"]) == 2
    _assert_one_line_error(capsys, "test/no-such-map", "available:")


@pytest.mark.parametrize(
    "argv", [["--envs", "0"], ["--frames", "-5"], ["--envs", "x"], ["--seed", "-1"]]
)
def test_bench_bad_numbers_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", "sim", *argv])
    assert info.value.code == 2


# --- these run the simulator (ninjarl.sim.build_level / simulate_inputs / BatchSimulator) ---


def _report(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.strip().splitlines())


def test_replay_bundled_v0_wins_on_last_frame(capsys) -> None:
    assert main(["replay", str(BUNDLED_REPLAY)]) == 0
    report = _report(capsys.readouterr().out)
    assert report["format"] == "compact-v0"
    assert report["frames"] == "37"
    assert report["outcome"] == "won"
    assert report["outcome_frame"] == "37"


def test_replay_attract_dies_on_last_frame(capsys) -> None:
    assert main(["replay", str(ATTRACT_REPLAYS[0])]) == 0
    report = _report(capsys.readouterr().out)
    assert (report["format"], report["frames"]) == ("attract", "471")
    assert (report["outcome"], report["outcome_frame"]) == ("dead", "471")


def test_replay_trace_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "trace.npz"
    assert main(["replay", str(VERY_SIMPLE), "--trace", str(out)]) == 0
    assert os.listdir(tmp_path) == ["trace.npz"]  # no temporary file left behind
    golden = golden_trace(VERY_SIMPLE)
    with np.load(out, allow_pickle=False) as z:
        keys = set(z.files)
        assert {
            "x", "y", "xspeed", "yspeed", "state", "outcome", "outcome_frame",
            "ent_type", "ent_x", "ent_y", "ent_active", "ent_state", "map_data", "inputs_raw",
        } <= keys
        for key in ("x", "y", "xspeed", "yspeed"):
            assert z[key].dtype == np.float64
            np.testing.assert_array_equal(z[key], golden[key])
        assert z["state"].dtype == np.int8
        np.testing.assert_array_equal(z["state"], golden["state"])
        assert str(z["outcome"]) == "won"
        assert int(z["outcome_frame"]) == 37
        assert z["ent_x"].shape == (37, len(z["ent_type"]))
        assert z["map_data"].tobytes() == golden["map_data"].tobytes()


def test_bench_sim_json(tmp_path: Path, capsys) -> None:
    raw_map = MAPS / "test" / "simple-walk"
    argv = ["bench", "sim", "--map", "bench/empty", str(raw_map), str(VERY_SIMPLE)]
    argv += ["--envs", "1", "3", "--frames", "1000", "--seed", "7", "--json"]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    results = json.loads(last)["results"]
    assert [(r["map"], r["envs"]) for r in results] == [
        (m, n) for m in ("bench/empty", str(raw_map), str(VERY_SIMPLE)) for n in (1, 3)
    ]
    assert all(r["frames_per_s"] > 0 for r in results)


def test_bc_with_mirroring(tmp_path: Path, capsys) -> None:
    replays = tmp_path / "replays"
    replays.mkdir()
    for path in sorted((REPLAYS / "bc").glob("*.replay"))[:3]:
        (replays / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "bc"
    argv = ["bc", "--replays", str(replays), "--out", str(out), "--epochs", "1", "--mirror"]
    assert main(argv) == 0
    assert "bc mirroring: kept 2 of 2 training replays" in capsys.readouterr().out
    report = json.loads((out / "bc_report.json").read_text())
    assert report["settings"]["mirror"] and report["settings"]["mirrored_replays"] == 2
    assert len(report["train_replays"]) == 4 and len(report["val_replays"]) == 1


def test_bc_reads_the_replays_of_sub_folders_as_solve_writes_them(tmp_path: Path,
                                                                   capsys) -> None:
    """``ninjarl solve --out D`` writes D/<category>/<id>.replay: ``bc --replays D`` trains on
    all of them; the same file name in two folders is refused, naming both."""
    sources = sorted((REPLAYS / "bc").glob("*.replay"))[:3]
    for folder, path in zip(("simple", "simple", "medium"), sources):
        (tmp_path / "demos" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "demos" / folder / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "bc"
    assert main(["bc", "--replays", str(tmp_path / "demos"), "--out", str(out),
                 "--epochs", "1"]) == 0
    report = json.loads((out / "bc_report.json").read_text())
    assert sorted(report["train_replays"] + report["val_replays"]) == [p.name for p in sources]

    capsys.readouterr()
    (tmp_path / "demos" / "medium" / sources[0].name).write_bytes(sources[0].read_bytes())
    assert main(["bc", "--replays", str(tmp_path / "demos"), "--out", str(tmp_path / "bc2"),
                 "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{sources[0].name}: two replays have this file name" in err
    assert str(tmp_path / "demos" / "medium" / sources[0].name) in err


def test_bc_runs_with_the_configs_torch_threads(tmp_path: Path) -> None:
    """``torch_threads`` of ``--config`` holds for BC as for PPO (on a busy machine a second
    thread can make training many times slower)."""
    import torch

    (tmp_path / "replays").mkdir()
    for path in sorted((REPLAYS / "bc").glob("*.replay"))[:2]:
        (tmp_path / "replays" / path.name).write_bytes(path.read_bytes())
    (tmp_path / "run.json").write_text(json.dumps({"torch_threads": 1}))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert main(["bc", "--replays", str(tmp_path / "replays"), "--out", str(tmp_path / "bc"),
                     "--config", str(tmp_path / "run.json"), "--epochs", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_bc_without_replays_is_a_data_error(tmp_path: Path, capsys) -> None:
    assert main(["bc", "--replays", str(tmp_path), "--out", str(tmp_path / "bc")]) == 2
    assert f"{tmp_path}: no *.replay files (in it or its sub-folders)" in capsys.readouterr().err


def test_an_unknown_category_flag_is_a_usage_error(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["levels", "build", str(tmp_path / "out"), "--categories", "simplest", "bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--categories: unknown category 'bogus'; expected some of simplest" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
