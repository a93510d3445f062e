"""The comparison report (ninjarl.eval.report): built from hand-written run directories (plain
JSON and tiny TensorBoard event files, in the layout training and ``ninjarl compare`` write),
no training."""
from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from ninjarl.eval.report import (
    BrokenRun,
    bootstrap_iqm,
    bootstrap_mean,
    build_report,
    iqm,
    label_curve,
    load_runs,
    read_scalars,
)

# label -> seed -> (per_category, success_rate); "cnn +bc" has no trial.json (label from the
# config's arch and bc) and writes the older eval.json (per_category only); its seed 1 alone
# has the category "medium"
RESULTS = {
    "mlp": {0: ({"simplest": 0.9, "simpler": 0.6, "exploration": 0.1}, 0.55),
            1: ({"simplest": 0.7, "simpler": 0.4, "exploration": 0.0}, 0.40)},
    "cnn +bc": {0: ({"simplest": 0.5, "simpler": 0.25, "exploration": 0.05}, 0.30),
                1: ({"simplest": 0.8, "simpler": 0.35, "exploration": 0.15, "medium": 0.2}, 0.42)},
}
OFFICIAL = {("mlp", 0): ({"official": 0.2}, 0.2), ("mlp", 1): ({"official": 0.4}, 0.4),
            ("cnn +bc", 0): ({"official": 0.1}, 0.1)}
CATEGORY_ORDER = ["simplest", "simpler", "medium", "exploration"]     # the built-in order


def eval_document(per_category: dict, success_rate: float, full: bool) -> dict:
    doc = {"timesteps": 4096, "episodes": 10 * len(per_category), "success_rate": success_rate,
           "per_category": dict(sorted(per_category.items()))}
    if full:
        doc["categories"] = {
            c: {"levels": 10, "success_rate": r, "wilson_low": max(0.0, r - 0.2),
                "wilson_high": min(1.0, r + 0.2), "median_win_frames": 321.0 if r else None,
                "deaths": {"mine": 2}, "timeouts": 1} for c, r in sorted(per_category.items())}
        doc["per_level"] = [{"id": f"{c}-{i}", "category": c, "outcome": "won" if i < 10 * r else "dead",
                             "frames": 300, "death_cause": "" if i < 10 * r else "mine",
                             "successes": int(i < 10 * r), "episodes": 1}
                            for c, r in sorted(per_category.items()) for i in range(10)]
    return doc


def write_scalars(directory: Path, scalars: dict[str, list[tuple[int, float]]], walltime=1000.0):
    """A TensorBoard event file as SB3 writes it (torch's SummaryWriter)."""
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(log_dir=str(directory))
    for tag, points in scalars.items():
        for k, (step, value) in enumerate(points):
            writer.add_scalar(tag, value, step, walltime=walltime + k)
    writer.close()


def write_run(path: Path, arch: str, seed: int, per_category: dict, success_rate: float, *,
              bc: str = "", trial: dict | None = None, full: bool = True, scalars=None,
              summary: dict | None = None, evals: dict | None = None, videos=()) -> Path:
    path.mkdir(parents=True)
    config = {"arch": arch, "levels": "simplest", "timesteps": 4096, "envs": 8, "seed": seed,
              "out": str(path), "bc": bc, "ppo": {"learning_rate": 0.0003, "n_steps": 128}}
    (path / "config.json").write_text(json.dumps(config, indent=2))
    (path / "eval.json").write_text(json.dumps(eval_document(per_category, success_rate, full)))
    if trial is not None:
        (path / "trial.json").write_text(json.dumps(trial))
    if summary is not None:
        (path / "train_summary.json").write_text(json.dumps(summary))
    for name, (per, rate) in (evals or {}).items():
        (path / "evals" / name).mkdir(parents=True, exist_ok=True)
        (path / "evals" / name / "eval.json").write_text(json.dumps(eval_document(per, rate, full)))
    if scalars:
        write_scalars(path / "tb_1", scalars)
    for name in videos:
        (path / "videos").mkdir(exist_ok=True)
        (path / "videos" / name).write_bytes(b"not really a video")
    # the agent checkpoints inside a run directory also hold a config.json: not runs
    for agent in ("checkpoint", "final"):
        (path / agent).mkdir()
        (path / agent / "config.json").write_text(json.dumps(config))
        (path / agent / "policy.pt").write_bytes(b"")
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for label, seeds in RESULTS.items():
        for seed, (per_category, rate) in seeds.items():
            arch = label.split()[0]
            mlp = arch == "mlp"
            steps = [0, 1000, 2000, 3000 + 500 * seed]
            scalars = {"eval/success_rate": [(s, rate * k / 3) for k, s in enumerate(steps)]}
            if mlp:
                scalars.update({f"rollout/success_rate/{c}": [(s, r * k / 3) for k, s in enumerate(steps)]
                                for c, r in per_category.items()})
            scalars["rollout/ep_rew_mean"] = [(s, 0.1 * k) for k, s in enumerate(steps)]
            official = {"official": OFFICIAL[(label, seed)]} if (label, seed) in OFFICIAL else {}
            write_run(
                root / "compare" / f"{arch}_s{seed}", arch, seed, per_category, rate,
                bc="bc_out" if not mlp else "",
                trial={"label": label, "arch": arch, "seed": seed, "bc": False, "config_file": None,
                       "command": f"ninjarl train --arch {arch} --seed {seed}"} if mlp else None,
                full=mlp, scalars=scalars, evals=official,
                summary={"timesteps": 4096, "seconds": 100.0 + 20 * seed, "steps_per_s": 1000.0 + seed,
                         "median_update_s": 0.5, "command": f"ninjarl train --arch {arch} --bc bc_out"},
                videos=["level 1.mp4", "level2.gif", "notes.txt"] if mlp and seed == 0 else ())
    # broken run directories
    truncated = write_run(root / "broken" / "truncated", "mlp", 5, {"simplest": 1.0}, 1.0)
    (truncated / "eval.json").write_text((truncated / "eval.json").read_text()[:25])
    no_seed = write_run(root / "broken" / "no_seed", "mlp", 6, {"simplest": 1.0}, 1.0)
    config = json.loads((no_seed / "config.json").read_text())
    del config["seed"]
    (no_seed / "config.json").write_text(json.dumps(config))
    # a symlink to a run outside the root is not followed
    outside = write_run(tmp_path_factory.mktemp("outside") / "run", "rnn", 0, {"simplest": 0.5}, 0.5)
    os.symlink(outside, root / "link")
    return root


@pytest.fixture(scope="module")
def report(root) -> Path:
    return build_report(root)


def markdown_table(text: str, heading: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The first table after ``heading`` in report.md: header, {label: {column: cell}}."""
    section = text[text.index(heading):]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    block = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            break
    assert block == lines[:len(block)]

    def cells(line):
        return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
    header = cells(block[0])
    return header, {row[0]: dict(zip(header, row)) for row in map(cells, block[2:])}


CELL = re.compile(r"^(\d+\.\d) \[(\d+\.\d), (\d+\.\d)\]")


def parse_cell(cell: str) -> tuple[float, float, float]:
    m = CELL.match(cell)
    assert m, cell
    return tuple(float(g) for g in m.groups())


def assert_pct(cell_value: float, rate: float):
    assert abs(cell_value - 100 * rate) < 0.051, (cell_value, rate)


# --------------------------------------------------------------------------------------------
# statistics


def test_bootstrap_mean_hand_values():
    assert bootstrap_mean([0.3]) == (0.3, 0.3, 0.3)
    assert bootstrap_mean([0.4, 0.4, 0.4]) == pytest.approx((0.4, 0.4, 0.4))
    # two seeds: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_mean([0.0, 1.0]) == (0.5, 0.0, 1.0)
    # [0, 0, 0, 1]: P(mean = 0) = (3/4)^4 = 32% > 2.5%; P(mean >= 0.75) = 5.1% > 2.5% but
    # P(mean = 1) = 0.4% < 2.5%, so the interval is [0, 0.75]
    assert bootstrap_mean([0.0, 0.0, 0.0, 1.0]) == (0.25, 0.0, 0.75)
    values = [0.1, 0.5, 0.35, 0.9, 0.6]
    mean, low, high = bootstrap_mean(values)
    assert mean == pytest.approx(np.mean(values)) and min(values) <= low < mean < high <= max(values)
    assert bootstrap_mean(values) == (mean, low, high)            # a fixed seed: reproducible
    with pytest.raises(ValueError):
        bootstrap_mean([])


def test_iqm_hand_values():
    assert iqm([0.7]) == pytest.approx(0.7)
    assert iqm([0.1, 0.2, 0.9]) == pytest.approx(0.4)                     # n < 4: plain mean
    assert iqm([1.0, 0.2, 0.0, 0.6]) == pytest.approx(0.4)                # drop 1 each end
    assert iqm([0.0, 1.0, 0.1, 0.2, 0.5, 1.0, 0.0]) == pytest.approx(0.36)  # int(1.75) = 1
    assert iqm(np.arange(8.0)) == pytest.approx(3.5)                      # drop 2 each end
    assert iqm([9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0]) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        iqm([])


def test_iqm_matches_scipy_trim_mean():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for n in range(1, 30):
        x = rng.random(n)
        assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25))


def test_bootstrap_iqm_hand_values():
    assert bootstrap_iqm([[0.2, 0.6, 0.9, 0.0]]) == pytest.approx((0.4, 0.4, 0.4))   # one seed
    # seeds [0, 0] and [1, 1]: resamples {0,0,0,0} -> 0, {0,0,1,1} -> 0.5, {1,1,1,1} -> 1
    assert bootstrap_iqm([[0.0, 0.0], [1.0, 1.0]]) == (0.5, 0.0, 1.0)


def test_label_curve_hand_values():
    grid, mean, low, high = label_curve([([0, 10], [0.0, 1.0]), ([0, 5, 10], [1.0, 1.0, 1.0])],
                                        points=3)
    assert grid.tolist() == [0, 5, 10]
    assert mean.tolist() == [0.5, 0.75, 1.0]
    assert low.tolist() == [0.0, 0.5, 1.0] and high.tolist() == [1.0, 1.0, 1.0]
    grid, mean, _, _ = label_curve([([0, 10], [0.0, 1.0]), ([0, 5], [1.0, 1.0])], points=2)
    assert grid.tolist() == [0, 5] and mean.tolist() == [0.5, 0.75]      # the common range


def test_read_scalars_merges_resumed_logs(tmp_path):
    write_scalars(tmp_path / "tb_1", {"eval/success_rate": [(0, 0.0), (10, 0.1), (20, 0.2)]},
                  walltime=100)
    write_scalars(tmp_path / "tb_2", {"eval/success_rate": [(20, 0.25), (30, 0.3)]}, walltime=200)
    steps, values = read_scalars([tmp_path / "tb_1", tmp_path / "tb_2"])["eval/success_rate"]
    assert steps.tolist() == [0, 10, 20, 30]
    assert values == pytest.approx([0.0, 0.1, 0.25, 0.3])


# --------------------------------------------------------------------------------------------
# loading


def test_load_runs(root):
    runs, broken = load_runs(root)
    assert sorted((r.label, r.seed) for r in runs) == sorted(
        (label, seed) for label, seeds in RESULTS.items() for seed in seeds)
    assert all("checkpoint" not in r.path.parts and "final" not in r.path.parts for r in runs)
    assert all("link" not in r.path.parts for r in runs)
    mlp0 = next(r for r in runs if r.label == "mlp" and r.seed == 0)
    assert mlp0.arch == "mlp" and not mlp0.bc and mlp0.trial["command"].startswith("ninjarl train")
    assert mlp0.summary["steps_per_s"] == 1000.0
    assert mlp0.evals["official"]["per_category"] == {"official": 0.2}
    assert [v.name for v in mlp0.videos] == ["level 1.mp4", "level2.gif"]
    steps, values = mlp0.curves["eval/success_rate"]
    assert steps.tolist() == [0, 1000, 2000, 3000] and values[-1] == pytest.approx(0.55)
    cnn1 = next(r for r in runs if r.label == "cnn +bc" and r.seed == 1)
    assert cnn1.bc and cnn1.trial is None and "categories" not in cnn1.eval
    reasons = {b.path.name: b.reason for b in broken}
    assert set(reasons) == {"truncated", "no_seed"}
    assert reasons["truncated"].startswith("eval.json: not valid JSON: Unterminated string")
    assert reasons["no_seed"] == "config.json: field 'seed' missing"
    assert all("\n" not in r for r in reasons.values())


@pytest.mark.parametrize("damage, reason", [
    (lambda p: (p / "config.json").unlink(), "config.json: missing"),
    (lambda p: (p / "eval.json").unlink(), "eval.json: missing"),
    (lambda p: (p / "eval.json").write_text("[1, 2]"), "eval.json: not a JSON object"),
    (lambda p: (p / "eval.json").write_bytes(b"\xff\xfe{"), "eval.json: unreadable"),
    (lambda p: _edit(p / "config.json", seed="3"), "config.json: field 'seed' is str"),
    (lambda p: _edit(p / "config.json", arch=None), "config.json: field 'arch' is NoneType"),
    (lambda p: _edit(p / "eval.json", success_rate=1.5), "eval.json: field 'success_rate'"),
    (lambda p: _edit(p / "eval.json", per_category={"simplest": "high"}),
     "eval.json: field 'per_category.simplest'"),
    (lambda p: _edit(p / "eval.json", per_category=None), "eval.json: field 'per_category' is NoneType"),
])
def test_broken_run_reasons(tmp_path, damage, reason):
    good = write_run(tmp_path / "good", "mlp", 0, {"simplest": 0.5}, 0.5)
    bad = write_run(tmp_path / "bad", "mlp", 1, {"simplest": 0.5}, 0.5)
    damage(bad)
    runs, broken = load_runs(tmp_path)
    assert [r.path for r in runs] == [good]
    assert len(broken) == 1 and isinstance(broken[0], BrokenRun) and broken[0].path == bad
    assert broken[0].reason.startswith(reason), broken[0].reason
    assert "\n" not in broken[0].reason


def _edit(path: Path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_broken_optional_files_are_warnings(tmp_path):
    run = write_run(tmp_path / "run", "mlp", 0, {"simplest": 0.5}, 0.5,
                    evals={"official": ({"official": 0.1}, 0.1)})
    (run / "trial.json").write_text("{")
    (run / "evals" / "bad").mkdir()
    (run / "evals" / "bad" / "eval.json").write_text('{"success_rate": 0.5}')
    (runs, broken) = load_runs(tmp_path)
    assert not broken and list(runs[0].evals) == ["official"] and runs[0].trial is None
    assert any(w.startswith("trial.json: not valid JSON") for w in runs[0].warnings)
    assert any(w.startswith("evals/bad/eval.json: field 'per_category' missing") for w in runs[0].warnings)
    text = build_report(tmp_path).read_text()
    assert "evals/bad/eval.json: field 'per_category' missing" in text


def test_a_run_directory_as_root(tmp_path):
    run = write_run(tmp_path / "run", "mlp", 3, {"simplest": 0.25}, 0.25)
    runs, broken = load_runs(run)
    assert [r.path for r in runs] == [run] and not broken


# --------------------------------------------------------------------------------------------
# the report


def test_table_numbers_are_the_eval_json_values(report):
    text = report.read_text()
    header, rows = markdown_table(text, "## Held-out success")
    assert header == ["label", *CATEGORY_ORDER, "IQM", "overall", "n seeds"]
    assert set(rows) == {"mlp", "cnn +bc"}
    for label, seeds in RESULTS.items():
        row = rows[label]
        assert row["n seeds"] == "2"
        for category in CATEGORY_ORDER:
            values = [per[category] for per, _ in seeds.values() if category in per]
            if not values:
                assert row[category] == "—"
                continue
            mean, low, high = parse_cell(row[category])
            assert_pct(mean, np.mean(values))
            # two seeds: the bootstrap interval of the mean is [min, max] (see above)
            assert_pct(low, min(values))
            assert_pct(high, max(values))
            if len(values) < len(seeds):
                assert row[category].endswith(f"({len(values)}/{len(seeds)} seeds)")
        rates = [rate for _, rate in seeds.values()]
        overall = parse_cell(row["overall"])
        assert_pct(overall[0], np.mean(rates))
        assert_pct(overall[1], min(rates)) and assert_pct(overall[2], max(rates))
    # IQM of the per-(seed, category) rates, by hand: mlp sorted 0 .1 .4 .6 .7 .9 -> drop one
    # at each end -> mean(.1, .4, .6, .7) = .45; cnn +bc 7 values .05 .15 .2 .25 .35 .5 .8 ->
    # drop int(1.75) = 1 at each end -> 1.45 / 5 = .29
    assert_pct(parse_cell(rows["mlp"]["IQM"])[0], 0.45)
    assert_pct(parse_cell(rows["cnn +bc"]["IQM"])[0], 0.29)


def test_extra_level_set_table(report):
    header, rows = markdown_table(report.read_text(), "### Level set official")
    assert header == ["label", "official", "IQM", "overall", "n seeds"]
    assert rows["mlp"]["n seeds"] == "2" and rows["cnn +bc"]["n seeds"] == "1"
    assert parse_cell(rows["mlp"]["official"]) == (30.0, 20.0, 40.0)
    assert parse_cell(rows["cnn +bc"]["overall"]) == (10.0, 10.0, 10.0)


def test_report_sections(report, root):
    text = report.read_text()
    order = ["# Run comparison", "## Held-out success", "## Learning curves", "## Timing",
             "## Runs", "## Videos"]
    positions = [text.index(h) for h in order]
    assert positions == sorted(positions)
    header = text[:text.index("## Held-out success")]
    assert "4 runs in 2 labels" in header and "2 broken run directories" in header
    assert "- mlp: seeds 0, 1" in header and "- cnn +bc: seeds 0, 1" in header
    assert "`broken/truncated`: eval.json: not valid JSON" in header
    assert "`broken/no_seed`: config.json: field 'seed' missing" in header
    # timing: medians over seeds from train_summary.json
    _, timing = markdown_table(text, "## Timing")
    assert timing["mlp"]["steps/s (median)"] == "1,000"           # median(1000, 1001) = 1000.5
    assert timing["mlp"]["wall time (median)"] == "1m 50s"        # median(100, 120) s
    assert timing["mlp"]["median update time (median)"] == "0.50 s"
    # per run: the command (trial.json first, else train_summary.json) and the config
    assert "`ninjarl train --arch mlp --seed 0`" in text
    assert "`ninjarl train --arch cnn --bc bc_out`" in text
    assert '"learning_rate": 0.0003' in text
    assert "| simplest | 10 | 90.0 | [70.0, 100.0] | 321 | 1 | mine: 2 |" in text
    # videos, relative to the report, .mp4 and .gif only
    assert "[mlp seed 0: level 1.mp4](<compare/mlp_s0/videos/level%201.mp4>)" in text
    assert "level2.gif" in text and "notes.txt" not in text
    assert not [p.name for p in report.parent.iterdir() if p.name.startswith(".")]   # no temp files


def test_html_is_self_contained(report):
    page = (report.parent / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="http' not in page and 'href="http' not in page
    assert "<link" not in page and "<script" not in page and "url(" not in page
    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert len(sources) == 2
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<details><summary>config.json</summary>" in page
    assert "cnn +bc" in page and "47.5 [40.0, 55.0]" in page


def test_curve_pngs(report):
    image = pytest.importorskip("matplotlib.image")
    for name in ("curves_heldout.png", "curves_training.png"):
        pixels = image.imread(report.parent / name)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels.std() > 0                                      # something was drawn
    assert "![held-out success (eval/success_rate) vs steps](curves_heldout.png)" in report.read_text()


def test_report_without_curves_says_so(tmp_path):
    write_run(tmp_path / "runs" / "a", "mlp", 0, {"simplest": 0.5}, 0.5)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "curves_heldout.png").write_bytes(b"stale")
    text = build_report(tmp_path / "runs", out).read_text()
    assert "No run logged `eval/success_rate`." in text
    assert "No run logged `rollout/success_rate/<category>` or `rollout/ep_rew_mean`." in text
    assert not (out / "curves_heldout.png").exists() and not (out / "curves_training.png").exists()
    assert "data:image/png" not in (out / "report.html").read_text()
    assert not (tmp_path / "runs" / "report.md").exists()


def test_training_reward_fallback(tmp_path):
    write_run(tmp_path / "a", "mlp", 0, {"simplest": 0.5}, 0.5,
              scalars={"rollout/ep_rew_mean": [(0, 0.0), (100, 1.0)]})
    text = build_report(tmp_path).read_text()
    assert "`rollout/ep_rew_mean` instead" in text and (tmp_path / "curves_training.png").exists()


def test_empty_root(tmp_path):
    text = build_report(tmp_path).read_text()
    assert "0 runs in 0 labels" in text and "No run directory" in text


def test_each_run_says_where_its_starting_policy_came_from(tmp_path):
    """A run cloned from a checkpoint (``bc``), one that cloned the planner's demonstrations
    itself (``planner_bc``) and one from scratch are told apart in the per-run list."""
    write_run(tmp_path / "from_ckpt", "mlp", 0, {"simplest": 1.0}, 1.0, bc="runs/bc")
    planner = write_run(tmp_path / "from_planner", "mlp", 1, {"simplest": 1.0}, 1.0)
    config = json.loads((planner / "config.json").read_text())
    config["planner_bc"] = {"budget_frames": 1000000, "epochs": 20}
    (planner / "config.json").write_text(json.dumps(config))
    write_run(tmp_path / "scratch", "mlp", 2, {"simplest": 1.0}, 1.0)
    text = build_report(tmp_path).read_text()
    assert "seed: 0; behaviour cloning: from runs/bc" in text
    assert "seed: 1; behaviour cloning: from the planner's demonstrations of its training" in text
    assert "seed: 2; behaviour cloning: no" in text
