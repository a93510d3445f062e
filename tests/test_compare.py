"""ninjarl compare: trials over rows x seeds, skipped when finished, resumed when interrupted,
and a report whose numbers are the runs' own."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from ninjarl.cli import main
from ninjarl.train import PPOConfig
from ninjarl.train.compare import is_finished, plan_trials, run_trials

from conftest import MAPS, small_and_broken_configs

LEVEL = str(MAPS / "test" / "simple-walk")
TINY = {"levels": LEVEL, "timesteps": 64, "envs": 2, "checkpoint_every": 32,
        "ppo": PPOConfig(n_steps=16, batch_size=16, n_epochs=1), "env": {"max_frames": 600}}


def _table_row(report: str, label: str) -> list[str]:
    line = next(line for line in report.splitlines() if line.startswith(f"| {label} "))
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    trials = plan_trials(out, TINY, archs=["vision_free", "local_view"], seeds=2)
    statuses = run_trials(trials, eval_levels=["test"], log=lambda *_: None)
    return out, trials, statuses


def test_two_architectures_two_seeds_complete(comparison):
    out, trials, statuses = comparison
    assert [(t.label, t.config.seed) for t in trials] == [
        ("vision_free", 0), ("vision_free", 1), ("local_view", 0), ("local_view", 1)]
    assert all(status.startswith("trained") for _, status in statuses), statuses
    for trial in trials:
        run = trial.run_dir
        assert run == out / trial.label / f"seed-{trial.config.seed}"
        assert (run / "final").is_dir() and (run / "eval.json").is_file()
        assert (run / "evals" / "test" / "eval.json").is_file()
        assert json.loads((run / "trial.json").read_text())["label"] == trial.label
        assert json.loads((run / "config.json").read_text())["seed"] == trial.config.seed


def test_a_second_call_skips_finished_trials(comparison):
    out, trials, _ = comparison
    before = {t.run_dir: (t.run_dir / "eval.json").stat().st_mtime_ns for t in trials}
    statuses = run_trials(trials, eval_levels=["test"], log=lambda *_: None)
    assert all(status.startswith("skipped") for _, status in statuses)
    assert before == {t.run_dir: (t.run_dir / "eval.json").stat().st_mtime_ns for t in trials}


def test_an_interrupted_trial_resumes_from_its_checkpoint(comparison, tmp_path):
    _, trials, _ = comparison
    out = tmp_path / "cmp"
    (trial,) = plan_trials(out, TINY, archs=["vision_free"], seeds=1)
    shutil.copytree(trials[0].run_dir, trial.run_dir)
    shutil.rmtree(trial.run_dir / "final")              # as if killed before the end
    assert not is_finished(trial)
    ((_, status),) = run_trials([trial], log=lambda *_: None)
    assert status.startswith("resumed") and is_finished(trial)


def test_the_report_table_is_the_runs_eval_json(comparison):
    from ninjarl.eval.report import build_report

    out, trials, _ = comparison
    report = build_report(out).read_text()
    held_out, extra = report.split("### Level set test")[:2]
    means = []
    for table, eval_file in ((held_out, "eval.json"), (extra, "evals/test/eval.json")):
        for label in ("vision_free", "local_view"):
            rates = [json.loads((t.run_dir / eval_file).read_text())["per_category"]["test"]
                     for t in trials if t.label == label]
            cell = _table_row(table, label)[1]                  # the "test" category column
            mean = float(re.match(r"([\d.]+) \[", cell).group(1))
            assert mean == pytest.approx(100 * sum(rates) / len(rates), abs=0.05), (label, cell)
            means.append(mean)
    assert any(m > 0 for m in means)                 # some untrained agent wins a level


def test_compare_command_with_config_files_and_a_failing_trial(tmp_path, capsys):
    good, bad = small_and_broken_configs(tmp_path)
    out = tmp_path / "cmp"
    code = main(["compare", "--configs", str(good), str(bad), "--timesteps", "32",
                 "--envs", "2", "--out", str(out)])
    assert code == 1                                    # one trial failed, the other ran
    printed = capsys.readouterr().out
    assert "1 of 2 trials ok" in printed
    assert (out / "small" / "seed-0" / "eval.json").is_file()
    assert "error" in json.loads((out / "broken" / "seed-0" / "trial.json").read_text())
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
