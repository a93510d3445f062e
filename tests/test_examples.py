"""The examples in examples/ run end to end on a tiny budget (as subprocesses, like a user)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STEPS_LINE = re.compile(r"^steps (\d+) success (nan|[01]\.\d+)", re.M)


def _run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_cleanrl_ppo_example_trains_and_reports_success():
    out = _run("ppo_cleanrl.py", "--total-timesteps", "2048", "--num-envs", "8", "--seed", "3",
               "--eval-episodes", "4")
    lines = STEPS_LINE.findall(out)
    assert [int(steps) for steps, _ in lines] == [1024, 2048], out
    assert re.search(r"^test success [01]\.\d+$", out, re.M), out


def test_sb3_ppo_example_trains_and_reports_success():
    out = _run("sb3_ppo.py", "--total-timesteps", "2048", "--num-envs", "4", "--seed", "3")
    lines = STEPS_LINE.findall(out)
    assert lines and int(lines[-1][0]) >= 2048, out
