"""The multi-run comparison report (``ninjarl report DIR``), built only from run directories.

A *run directory* holds ``config.json`` or ``eval.json`` (what training and ``ninjarl compare``
write); besides those two it may hold ``evals/<name>/eval.json`` (extra evaluation level sets, same
schema as ``eval.json``), ``train_summary.json``, ``trial.json``, TensorBoard event files under
``tb_*/`` and videos under ``videos/``. :func:`load_runs` finds every run directory below a root
(DIR itself and its subdirectories, recursively, not following symlinks) and reads it; a run
whose ``config.json`` or ``eval.json`` is missing, unreadable or malformed becomes a
:class:`BrokenRun` with a one-line reason instead of an exception.

:func:`build_report` writes ``report.md`` and a self-contained ``report.html`` (images embedded
as base64 PNG data URIs) plus the learning-curve PNGs, all atomically. Runs are grouped by
*label* (``trial.json``'s label, else the config's ``arch`` plus `` +bc``); the seeds of a label
are its samples. Statistics (pure functions below):

* per category and overall: the mean over seeds with a 95% percentile-bootstrap interval of
  that mean (:func:`bootstrap_mean`);
* IQM: the interquartile mean (:func:`iqm`, as ``scipy.stats.trim_mean(x, 0.25)``, which is
  what rliable uses) of all per-(seed, category) success rates of a label, with a bootstrap
  interval over seeds (:func:`bootstrap_iqm`).

Every number of the success tables comes from the runs' ``eval.json`` / ``evals/*/eval.json``.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import safe_name, write_bytes
from ..levels import CATEGORIES

N_RESAMPLES = 2000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
CURVE_POINTS = 200
HELDOUT_TAG = "eval/success_rate"
#: ``eval_sets/<name>/success_rate``: success on a TrainConfig.eval_levels set during training
EVAL_SETS_PREFIX = "eval_sets/"
EVAL_SETS_SUFFIX = "/success_rate"
TRAIN_SUCCESS_PREFIX = "rollout/success_rate/"
TRAIN_REWARD_TAG = "rollout/ep_rew_mean"
VIDEO_SUFFIXES = (".mp4", ".gif")
CURVE_FILES = {"heldout": "curves_heldout.png", "training": "curves_training.png"}


def curve_file(key: str) -> str:
    """The PNG file name of curve ``key`` (``set_<name>``: an ``eval_levels`` set's curve)."""
    return CURVE_FILES.get(key, f"curves_{key}.png")


# --------------------------------------------------------------------------------------------
# statistics


def bootstrap_mean(values: Sequence[float], n_resamples: int = N_RESAMPLES,
                   confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED
                   ) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` (one per seed) and the percentile-bootstrap
    interval of that mean: ``n_resamples`` resamples of the values with replacement (a
    ``numpy.random.default_rng(seed)``, so the result is reproducible), the mean of each, and
    the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those means. With one
    value the interval is that value. Raises ``ValueError`` on no values."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_mean of no values")
    mean = float(x.mean())
    if x.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    low, high = np.percentile(means, [50 * (1 - confidence), 50 * (1 + confidence)])
    return mean, float(low), float(high)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: sort, drop ``int(0.25 * n)`` values at each end, average the rest.

    This is ``scipy.stats.trim_mean(values, 0.25)`` (the IQM of rliable, which calls exactly
    that): when ``0.25 * n`` is not an integer scipy cuts conservatively (rounds the number of
    dropped values down) rather than weighting the values at the cut, so e.g. with 6 values the
    lowest and the highest are dropped and the middle 4 averaged; with fewer than 4 values
    nothing is dropped. Raises ``ValueError`` on no values."""
    x = np.sort(np.asarray(values, dtype=float).ravel())
    if x.size == 0:
        raise ValueError("iqm of no values")
    cut = int(0.25 * x.size)
    return float(x[cut:x.size - cut].mean())


def bootstrap_iqm(per_seed: Sequence[Sequence[float]], n_resamples: int = N_RESAMPLES,
                  confidence: float = CONFIDENCE, seed: int = BOOTSTRAP_SEED
                  ) -> tuple[float, float, float]:
    """``(iqm, low, high)`` of per-(seed, category) scores: ``per_seed[i]`` holds seed i's
    scores (one per category). The point value is :func:`iqm` of all scores; the interval
    resamples the seeds with replacement (each resample keeps a seed's categories together) and
    takes the percentile interval of the resamples' IQMs. With one seed the interval is the
    point value."""
    groups = [np.asarray(g, dtype=float).ravel() for g in per_seed]
    groups = [g for g in groups if g.size]
    if not groups:
        raise ValueError("bootstrap_iqm of no values")
    point = iqm(np.concatenate(groups))
    if len(groups) == 1:
        return point, point, point
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(groups), size=(n_resamples, len(groups)))
    stats = np.array([iqm(np.concatenate([groups[i] for i in row])) for row in picks])
    low, high = np.percentile(stats, [50 * (1 - confidence), 50 * (1 + confidence)])
    return point, float(low), float(high)


# --------------------------------------------------------------------------------------------
# loading run directories


@dataclass
class Run:
    """One readable run directory."""
    path: Path
    label: str
    arch: str
    seed: int
    bc: bool
    config: dict
    eval: dict
    evals: dict[str, dict] = field(default_factory=dict)     # level set name -> eval document
    summary: dict | None = None                                # train_summary.json
    trial: dict | None = None                                  # trial.json
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    videos: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)         # optional files that were skipped


@dataclass
class BrokenRun:
    """A run directory that could not be read, with a one-line reason naming file and field."""
    path: Path
    reason: str


class _Invalid(Exception):
    """A file or field of a run directory is missing or malformed (message: one line)."""


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run directory at or below ``root`` (one holding ``config.json``, ``eval.json`` or a
    comparison's ``trial.json``), sorted. Symlinked directories are not followed, hidden
    directories (``.name``, e.g. the temporary directories of an atomic write) are skipped,
    and a run directory's own subdirectories are not searched (they are parts of the run: its
    ``checkpoint/`` and ``final/`` agents also hold a ``config.json``). A directory holding ``policy.pt`` and no
    ``eval.json`` is an agent checkpoint (e.g. a behaviour-cloning output), not a run."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        names = set(filenames) | set(dirnames)
        if names & {"config.json", "eval.json", "trial.json"}:
            if not ("policy.pt" in names and "eval.json" not in names):
                found.append(Path(dirpath))
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


def load_runs(root: str | Path) -> tuple[list[Run], list[BrokenRun]]:
    """Read every run directory below ``root`` (see :func:`find_run_dirs`): the readable ones
    as :class:`Run` and the others as :class:`BrokenRun`, both sorted by path."""
    runs, broken = [], []
    for path in find_run_dirs(root):
        try:
            runs.append(load_run(path))
        except _Invalid as e:
            broken.append(BrokenRun(path, str(e)))
        except Exception as e:  # one bad run must never stop the report
            broken.append(BrokenRun(path, f"{type(e).__name__}: {_one_line(str(e))}"))
    return runs, broken


def load_run(path: str | Path) -> Run:
    """Read one run directory; raises ``_Invalid`` (one-line message) when ``config.json`` or
    ``eval.json`` is missing or malformed. Malformed optional files are skipped with a warning
    (``Run.warnings``)."""
    path = Path(path)
    if (path / "trial.json").is_file():
        try:
            trial = _read_json(path, "trial.json")
        except _Invalid:
            trial = {}                          # a warning below, with the other optional files
        _check_trial(trial)
    config = _read_json(path, "config.json")
    arch = _field(config, "config.json", "arch", str)
    if not arch:
        raise _Invalid("config.json: field 'arch' is empty")
    seed = _field(config, "config.json", "seed", int)
    bc_value = config.get("bc", "")
    if bc_value is not None and not isinstance(bc_value, str):
        raise _Invalid(f"config.json: field 'bc' is {type(bc_value).__name__}, expected a string")
    eval_doc = _read_json(path, "eval.json")
    _check_eval(eval_doc, "eval.json")

    warnings: list[str] = []

    def optional(name: str) -> dict | None:
        if not (path / name).exists():
            return None
        try:
            return _read_json(path, name)
        except _Invalid as e:
            warnings.append(f"{e} (ignored)")
            return None

    trial = optional("trial.json")
    summary = optional("train_summary.json")
    label = arch + (" +bc" if bc_value else "")
    if trial is not None:
        if isinstance(trial.get("label"), str) and trial["label"]:
            label = trial["label"]
        else:
            warnings.append("trial.json: field 'label' missing or not a non-empty string; "
                            f"label {label!r} from config.json")
        if "seed" in trial and trial["seed"] != seed:
            warnings.append(f"trial.json: seed {trial['seed']!r} differs from config.json's "
                            f"{seed}; config.json's is used")

    evals = {}
    for file in sorted((path / "evals").glob("*/eval.json")) if (path / "evals").is_dir() else []:
        name = f"evals/{file.parent.name}/eval.json"
        try:
            doc = _read_json(path, name)
            _check_eval(doc, name)
        except _Invalid as e:
            warnings.append(f"{e} (ignored)")
            continue
        evals[file.parent.name] = doc

    curves = {}
    tb_dirs = sorted(p for p in path.glob("tb_*") if p.is_dir() and not p.is_symlink())
    if tb_dirs:
        try:
            curves = read_scalars(tb_dirs)
        except Exception as e:  # a damaged event file loses only the curves
            warnings.append(f"TensorBoard logs unreadable ({type(e).__name__}: "
                            f"{_one_line(str(e))}); no curves")

    videos = sorted(p for p in (path / "videos").glob("*")
                    if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()) \
        if (path / "videos").is_dir() else []

    return Run(path=path, label=label, arch=arch, seed=seed, bc=bool(bc_value), config=config,
               eval=eval_doc, evals=evals, summary=summary, trial=trial, curves=curves,
               videos=videos, warnings=warnings)


def read_scalars(tb_dirs: Sequence[Path]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All scalars of the TensorBoard event files in ``tb_dirs``: tag -> (steps, values),
    sorted by step; a step logged more than once (a resumed run repeats the steps after its
    last checkpoint) keeps the value written last."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points: dict[str, list[tuple[int, float, float]]] = {}
    for directory in tb_dirs:
        acc = EventAccumulator(str(directory), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            points.setdefault(tag, []).extend(
                (e.step, e.wall_time, e.value) for e in acc.Scalars(tag))
    out = {}
    for tag, events in points.items():
        latest: dict[int, tuple[float, float]] = {}
        for step, wall, value in events:
            if step not in latest or wall >= latest[step][0]:
                latest[step] = (wall, value)
        steps = np.array(sorted(latest), dtype=np.int64)
        out[tag] = (steps, np.array([latest[s][1] for s in steps], dtype=float))
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_trial(trial: dict) -> None:
    """A comparison trial whose last attempt failed is listed with its error, not reported."""
    error = trial.get("error")
    if isinstance(error, str) and error.strip():
        attempts = trial.get("attempts", 1)
        raise _Invalid(f"trial failed ({attempts} attempt{'s' * (attempts != 1)}): "
                       f"{_one_line(error.strip().splitlines()[-1])}")


def _read_json(run: Path, name: str) -> dict:
    file = run / name
    if not file.exists():
        raise _Invalid(f"{name}: missing")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _Invalid(f"{name}: unreadable ({_one_line(str(e))})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _Invalid(f"{name}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") \
            from None
    if not isinstance(doc, dict):
        raise _Invalid(f"{name}: not a JSON object (a {type(doc).__name__})")
    return doc


def _field(doc: dict, name: str, key: str, kind: type):
    if key not in doc:
        raise _Invalid(f"{name}: field '{key}' missing")
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Invalid(f"{name}: field '{key}' is {type(value).__name__} {value!r:.40}, "
                       f"expected {kind.__name__}")
    return value


def _is_rate(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= 1)


def _cloning(run: Run) -> str:
    """Where the run's starting policy came from: the checkpoint named by ``bc``, the planner's
    demonstrations (``planner_bc``: the run cloned them itself), or nowhere."""
    if run.bc:
        return f"from {run.config['bc']}"
    if run.config.get("planner_bc"):
        return "from the planner's demonstrations of its training levels"
    return "no"


def _check_eval(doc: dict, name: str) -> None:
    """The fields of an evaluation document the report relies on: ``success_rate`` and
    ``per_category`` (older runs have only these; ``categories`` and ``per_level`` are used
    when present and well-formed)."""
    if "success_rate" not in doc:
        raise _Invalid(f"{name}: field 'success_rate' missing")
    if not _is_rate(doc["success_rate"]):
        raise _Invalid(f"{name}: field 'success_rate' is {doc['success_rate']!r:.40}, "
                       f"expected a number in [0, 1]")
    per_category = _field(doc, name, "per_category", dict)
    for category, rate in per_category.items():
        if not _is_rate(rate):
            raise _Invalid(f"{name}: field 'per_category.{category}' is {rate!r:.40}, "
                           f"expected a number in [0, 1]")


# --------------------------------------------------------------------------------------------
# aggregation


def _labels(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Runs by label (labels sorted), each label's runs sorted by seed then path."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.label, []).append(run)
    return {label: sorted(groups[label], key=lambda r: (r.seed, str(r.path)))
            for label in sorted(groups)}


def _category_order(categories) -> list[str]:
    """The built-in categories in difficulty order, then any others alphabetically."""
    known = [c for c in CATEGORIES if c in categories]
    return known + sorted(c for c in categories if c not in CATEGORIES)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _interval_cell(stats: tuple[float, float, float]) -> str:
    mean, low, high = stats
    return f"{_pct(mean)} [{_pct(low)}, {_pct(high)}]"


def success_table(groups: dict[str, list[Run]], documents: Callable[[Run], dict | None]
                  ) -> tuple[list[str], list[list[str]], list[str]] | None:
    """The success table of one level set: header, rows (one per label) and footnotes, or None
    when no run has the level set. ``documents(run)`` is the run's evaluation document of that
    level set (or None). Cells are percentages: ``mean [low, high]`` over the label's seeds."""
    docs = {label: [(run, documents(run)) for run in runs] for label, runs in groups.items()}
    docs = {label: [(r, d) for r, d in pairs if d is not None] for label, pairs in docs.items()}
    docs = {label: pairs for label, pairs in docs.items() if pairs}
    if not docs:
        return None
    categories = _category_order({c for pairs in docs.values() for _, d in pairs
                                  for c in d["per_category"]})
    header = ["label", *categories, "IQM", "overall", "n seeds"]
    rows, notes = [], []
    partial = False
    for label, pairs in docs.items():
        row = [label]
        for category in categories:
            values = [d["per_category"][category] for _, d in pairs if category in d["per_category"]]
            if not values:
                row.append("—")
                continue
            cell = _interval_cell(bootstrap_mean(values))
            if len(values) < len(pairs):
                cell += f" ({len(values)}/{len(pairs)} seeds)"
                partial = True
            row.append(cell)
        per_seed = [[d["per_category"][c] for c in categories if c in d["per_category"]]
                    for _, d in pairs]
        row.append(_interval_cell(bootstrap_iqm(per_seed))
                   if any(per_seed) else "—")
        row.append(_interval_cell(bootstrap_mean([d["success_rate"] for _, d in pairs])))
        row.append(str(len(pairs)))
        rows.append(row)
    if partial:
        notes.append("(k/n seeds): the category is missing from the evaluation of some seeds; "
                     "the cell is over the k seeds that have it.")
    return header, rows, notes


def _duplicate_seeds(groups: dict[str, list[Run]]) -> list[str]:
    out = []
    for label, runs in groups.items():
        seeds = [r.seed for r in runs]
        for s in sorted({s for s in seeds if seeds.count(s) > 1}):
            out.append(f"label {label!r} has {seeds.count(s)} runs with seed {s}; each counts "
                       f"as a sample")
    return out


def _train_success(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean over categories of ``rollout/success_rate/<category>`` at each logged step (over
    the categories logged at that step)."""
    tags = [t for t in run.curves if t.startswith(TRAIN_SUCCESS_PREFIX)]
    if not tags:
        return None
    by_step: dict[int, list[float]] = {}
    for tag in tags:
        for step, value in zip(*run.curves[tag]):
            by_step.setdefault(int(step), []).append(float(value))
    steps = np.array(sorted(by_step), dtype=np.int64)
    return steps, np.array([np.mean(by_step[s]) for s in steps])


def label_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]], points: int = CURVE_POINTS):
    """Mean, min and max over seeds of ``curves`` (one (steps, values) per seed) on a common
    grid of ``points`` steps, each curve linearly interpolated. The grid spans the steps all
    curves cover (the shortest run ends the curve); when they share no range it spans all
    steps and each point aggregates the curves that cover it. Returns (grid, mean, low, high)."""
    curves = [(np.asarray(s, float), np.asarray(v, float)) for s, v in curves if len(s)]
    lo = max(s[0] for s, _ in curves)
    hi = min(s[-1] for s, _ in curves)
    if lo > hi:
        lo, hi = min(s[0] for s, _ in curves), max(s[-1] for s, _ in curves)
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    table = np.array([np.interp(grid, s, v, left=np.nan, right=np.nan) for s, v in curves])
    covered = ~np.isnan(table).all(axis=0)
    grid, table = grid[covered], table[:, covered]
    return grid, np.nanmean(table, axis=0), np.nanmin(table, axis=0), np.nanmax(table, axis=0)


def plot_curves(groups: dict[str, list[Run]], extract: Callable[[Run], tuple | None],
                ylabel: str, title: str, percent: bool) -> bytes | None:
    """A PNG of one curve per label (mean over seeds, band min-max over seeds), or None when
    no run has the curve. Drawn with matplotlib's Agg canvas (no pyplot, no global state)."""
    series = {}
    for index, (label, runs) in enumerate(groups.items()):
        curves = [c for c in (extract(r) for r in runs) if c is not None and len(c[0])]
        if curves:       # a label keeps its colour in every plot
            series[label] = (f"C{index % 10}", len(curves), label_curve(curves))
    if not series:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    scale = 100 if percent else 1
    for label, (color, n, (grid, mean, low, high)) in series.items():
        ax.plot(grid, scale * mean, color=color, label=f"{label} (n={n})",
                marker="o" if len(grid) == 1 else None)
        ax.fill_between(grid, scale * low, scale * high, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if percent:
        ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _median(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
              and math.isfinite(v)]
    return float(np.median(values)) if values else None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def timing_table(groups: dict[str, list[Run]]) -> tuple[list[str], list[list[str]]]:
    header = ["label", "runs with train_summary.json", "steps/s (median)", "wall time (median)",
              "median update time (median)", "timesteps (median)"]
    rows = []
    for label, runs in groups.items():
        summaries = [r.summary for r in runs if r.summary is not None]
        speed = _median(s.get("steps_per_s") for s in summaries)
        wall = _median(s.get("seconds") for s in summaries)
        update = _median(s.get("median_update_s") for s in summaries)
        steps = _median([r.eval.get("timesteps") for r in runs])
        rows.append([label, f"{len(summaries)}/{len(runs)}",
                     "—" if speed is None else f"{speed:,.0f}", _duration(wall),
                     "—" if update is None else f"{update:.2f} s",
                     "—" if steps is None else f"{steps:,.0f}"])
    return header, rows


# --------------------------------------------------------------------------------------------
# the document: a few block types rendered both as Markdown and as HTML


@dataclass
class Link:
    text: str
    href: str


@dataclass
class Code:
    text: str


Inline = str | Link | Code


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    parts: list[Inline]


@dataclass
class Bullets:
    items: list[list[Inline]]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    alt: str
    png: bytes
    filename: str


@dataclass
class Details:
    summary: str
    text: str


_MD_SPECIAL = re.compile(r"([\\`*<>|])")


def _md_text(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_code(text: str) -> str:
    text = _one_line(text)
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _md_inline(parts: list[Inline]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Link):
            out.append(f"[{_md_text(part.text)}](<{part.href}>)")
        elif isinstance(part, Code):
            out.append(_md_code(part.text))
        else:
            out.append(_md_text(part))
    return "".join(out)


def render_markdown(blocks: list) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {_md_text(block.text)}")
        elif isinstance(block, Para):
            out.append(_md_inline(block.parts))
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {_md_inline(item)}" for item in block.items))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(_md_text(h) for h in block.header) + " |",
                     "|" + "|".join("---" for _ in block.header) + "|"]
            lines += ["| " + " | ".join(_md_text(_one_line(c)) for c in row) + " |"
                      for row in block.rows]
            out.append("\n".join(lines))
        elif isinstance(block, Image):
            out.append(f"![{_md_text(block.alt)}]({block.filename})")
        elif isinstance(block, Details):
            fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", block.text)), default=0) + 1)
            out.append(f"{_md_text(block.summary)}:\n\n{fence}json\n{block.text}\n{fence}")
    return "\n\n".join(out) + "\n"


_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
code, pre { background: #f6f6f6; font-size: 0.9em; }
pre { padding: 0.6em; overflow-x: auto; }
img { max-width: 100%; }
details { margin: 0.3em 0 1em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
"""


def _html_inline(parts: list[Inline]) -> str:
    out = []
    for part in parts:
        if isinstance(part, Link):
            out.append(f'<a href="{html.escape(part.href)}">{html.escape(part.text)}</a>')
        elif isinstance(part, Code):
            out.append(f"<code>{html.escape(part.text)}</code>")
        else:
            out.append(html.escape(part))
    return "".join(out)


def render_html(blocks: list, title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>"]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            out.append(f"<p>{_html_inline(block.parts)}</p>")
        elif isinstance(block, Bullets):
            out.append("<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in block.items)
                       + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                           for row in block.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Image):
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
        elif isinstance(block, Details):
            out.append(f"<details><summary>{html.escape(block.summary)}</summary>"
                       f"<pre>{html.escape(block.text)}</pre></details>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# the report


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()
    except ValueError:          # another drive on Windows
        return path.resolve().as_posix()


def _run_details(run: Run) -> list:
    """The per-category detail table of a run's held-out evaluation (Wilson interval, deaths,
    time-outs when ``eval.json`` has ``categories``)."""
    categories = run.eval.get("categories")
    if isinstance(categories, dict) and categories and all(isinstance(v, dict)
                                                           for v in categories.values()):
        header = ["category", "levels", "success %", "Wilson 95% interval", "median win frames",
                  "timeouts", "deaths"]
        rows = []
        for name in _category_order(categories):
            c = categories[name]

            def num(key, fmt, c=c):
                v = c.get(key)
                return fmt(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else "—"
            deaths = c.get("deaths") if isinstance(c.get("deaths"), dict) else {}
            rows.append([name, num("levels", str), num("success_rate", _pct),
                         f"[{num('wilson_low', _pct)}, {num('wilson_high', _pct)}]",
                         num("median_win_frames", lambda v: f"{v:.0f}"), num("timeouts", str),
                         ", ".join(f"{k}: {v}" for k, v in sorted(deaths.items())) or "—"])
        return [Table(header, rows)]
    rows = [[name, _pct(run.eval["per_category"][name])]
            for name in _category_order(run.eval["per_category"])]
    return [Table(["category", "success %"], rows)] if rows else []


def build_blocks(root: Path, out_dir: Path, runs: list[Run], broken: list[BrokenRun]
                 ) -> tuple[list, dict[str, bytes | None]]:
    """The report's blocks, and the curve PNGs by key of ``CURVE_FILES`` (None: no data)."""
    groups = _labels(runs)
    blocks: list = [Heading(1, "Run comparison")]

    # header
    blocks.append(Para([f"{len(runs)} run{'s' * (len(runs) != 1)} in {len(groups)} "
                        f"label{'s' * (len(groups) != 1)} under ", Code(str(root)),
                        f"; {len(broken)} broken run director"
                        f"{'y' if len(broken) == 1 else 'ies'}."]))
    if groups:
        blocks.append(Bullets([[f"{label}: seeds "
                                + ", ".join(str(r.seed) for r in label_runs)]
                               for label, label_runs in groups.items()]))
    if not runs and not broken:
        blocks.append(Para(["No run directory (a directory holding config.json or eval.json) "
                            "was found."]))
    if broken:
        blocks.append(Heading(3, "Broken run directories (not in the report)"))
        blocks.append(Bullets([[Code(_relative(b.path, root)), f": {b.reason}"]
                               for b in broken]))
    warnings = [[Code(_relative(r.path, root)), f": {w}"] for r in runs for w in r.warnings]
    warnings += [[w] for w in _duplicate_seeds(groups)]
    if warnings:
        blocks.append(Heading(3, "Warnings"))
        blocks.append(Bullets(warnings))

    # success tables
    blocks.append(Heading(2, "Held-out success"))
    blocks.append(Para([
        "Success rate in % from each run's eval.json: mean over the label's seeds with a 95% "
        f"percentile-bootstrap interval of the mean [low, high] ({N_RESAMPLES:,} resamples of "
        "the seeds; one seed: the interval is its value). IQM: interquartile mean of the "
        "per-(seed, category) success rates (scipy.stats.trim_mean(x, 0.25), as rliable), "
        "interval from resampling seeds. overall: mean over seeds of the run's success rate "
        "over all its levels."]))
    if groups:
        table = success_table(groups, lambda r: r.eval)
        blocks.append(Table(table[0], table[1]))
        blocks += [Para([note]) for note in table[2]]
    else:
        blocks.append(Para(["No runs."]))
    level_sets = sorted({name for r in runs for name in r.evals})
    for name in level_sets:
        table = success_table(groups, lambda r, name=name: r.evals.get(name))
        blocks.append(Heading(3, f"Level set {name} (evals/{name}/eval.json)"))
        blocks.append(Table(table[0], table[1]))
        blocks += [Para([note]) for note in table[2]]

    # learning curves
    blocks.append(Heading(2, "Learning curves"))
    blocks.append(Para(["One line per label: the mean over its seeds, each seed's curve "
                        "linearly interpolated onto a common step grid; the band spans the "
                        "minimum to the maximum over seeds."]))
    pngs: dict[str, bytes | None] = {}
    try:
        import matplotlib  # noqa: F401
        have_matplotlib = True
    except ImportError:
        have_matplotlib = False
    blocks.append(Heading(3, "Held-out success"))
    if not have_matplotlib:
        pngs["heldout"] = pngs["training"] = None
        blocks.append(Para(["matplotlib is not installed: no plots."]))
    else:
        pngs["heldout"] = plot_curves(groups, lambda r: r.curves.get(HELDOUT_TAG),
                                      "held-out success (%)", "Held-out success", percent=True)
        if pngs["heldout"] is None:
            blocks.append(Para(["No run logged ", Code(HELDOUT_TAG), "."]))
        else:
            blocks.append(Image(f"held-out success ({HELDOUT_TAG}) vs steps", pngs["heldout"],
                                CURVE_FILES["heldout"]))
        for tag in sorted({t for r in runs for t in r.curves
                           if t.startswith(EVAL_SETS_PREFIX) and t.endswith(EVAL_SETS_SUFFIX)}):
            name = tag[len(EVAL_SETS_PREFIX):-len(EVAL_SETS_SUFFIX)]
            key = f"set_{safe_name(name)}"
            pngs[key] = plot_curves(groups, lambda r, tag=tag: r.curves.get(tag),
                                    f"success on {name} (%)", f"Success on {name} during training",
                                    percent=True)
            if pngs[key] is not None:
                blocks.append(Heading(3, f"Success on {name}"))
                blocks.append(Para(["Levels the runs never train on, played at each held-out "
                                    "evaluation (", Code("eval_levels"), ")."]))
                blocks.append(Image(f"success on {name} ({tag}) vs steps", pngs[key],
                                    curve_file(key)))
        blocks.append(Heading(3, "Training success"))
        with_success = [r for r in runs if _train_success(r) is not None]
        if with_success:
            pngs["training"] = plot_curves(
                groups, _train_success, "training success (%)",
                "Training success (mean over categories)", percent=True)
            caption: list[Inline] = ["Mean over categories of ",
                                     Code(f"{TRAIN_SUCCESS_PREFIX}<category>"), "."]
            missing = [r for r in runs if _train_success(r) is None]
            if missing:
                caption.append(f" {len(missing)} run(s) without it are not drawn.")
            blocks.append(Para(caption))
            blocks.append(Image("training success vs steps", pngs["training"],
                                CURVE_FILES["training"]))
        else:
            pngs["training"] = plot_curves(groups, lambda r: r.curves.get(TRAIN_REWARD_TAG),
                                           "mean episode reward", "Training reward",
                                           percent=False)
            if pngs["training"] is None:
                blocks.append(Para(["No run logged ", Code(f"{TRAIN_SUCCESS_PREFIX}<category>"),
                                    " or ", Code(TRAIN_REWARD_TAG), "."]))
            else:
                blocks.append(Para(["No run logged ", Code(f"{TRAIN_SUCCESS_PREFIX}<category>"),
                                    "; ", Code(TRAIN_REWARD_TAG), " instead."]))
                blocks.append(Image(f"training reward ({TRAIN_REWARD_TAG}) vs steps",
                                    pngs["training"], CURVE_FILES["training"]))

    # timing
    blocks.append(Heading(2, "Timing"))
    if groups:
        header, rows = timing_table(groups)
        blocks.append(Para(["From each run's train_summary.json (medians over the label's "
                            "seeds); timesteps from eval.json."]))
        blocks.append(Table(header, rows))
    else:
        blocks.append(Para(["No runs."]))

    # per run
    blocks.append(Heading(2, "Runs"))
    for run in sorted(runs, key=lambda r: (r.label, r.seed, str(r.path))):
        rel = _relative(run.path, root)
        blocks.append(Heading(3, f"{run.label}, seed {run.seed}: {rel}"))
        command = (run.trial or {}).get("command") or (run.summary or {}).get("command")
        items: list[list[Inline]] = [
            ["path: ", Code(str(run.path))],
            [f"label: {run.label}; arch: {run.arch}; seed: {run.seed}; "
             f"behaviour cloning: {_cloning(run)}"],
            [f"levels: {run.config.get('levels', '—')}; timesteps: "
             f"{run.config.get('timesteps', '—')} configured, "
             f"{run.eval.get('timesteps', '—')} at the evaluation"],
            ["held-out success: " + _pct(run.eval["success_rate"]) + "% over "
             + str(run.eval.get("episodes", "?")) + " episodes"],
            ["command: ", Code(command)] if isinstance(command, str) and command
            else ["command: not recorded (no trial.json or train_summary.json command)"],
        ]
        for name, doc in sorted(run.evals.items()):
            items.append([f"level set {name}: {_pct(doc['success_rate'])}% over "
                          f"{doc.get('episodes', '?')} episodes"])
        blocks.append(Bullets(items))
        blocks += _run_details(run)
        blocks.append(Details("config.json", json.dumps(run.config, indent=2)))

    # videos
    blocks.append(Heading(2, "Videos"))
    videos = [[Link(f"{run.label} seed {run.seed}: {v.name}",
                    urllib.parse.quote(_relative(v, out_dir)))]
              for run in sorted(runs, key=lambda r: (r.label, r.seed, str(r.path)))
              for v in run.videos]
    blocks.append(Bullets(videos) if videos else Para(["No videos."]))
    return blocks, pngs


def build_report(root: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write ``report.md``, ``report.html`` (self-contained) and the curve PNGs
    (``curves_heldout.png``, ``curves_training.png``, ``curves_set_<name>.png`` per
    ``eval_levels`` set) for the runs below ``root`` into
    ``out_dir`` (default ``root``), each file atomically; returns the path of ``report.md``.
    A curve PNG of a previous report whose data is now absent is removed."""
    root = Path(root)
    out_dir = Path(out_dir) if out_dir is not None else root
    runs, broken = load_runs(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks, pngs = build_blocks(root, out_dir, runs, broken)
    for stale in out_dir.glob(curve_file("set_*")):
        if pngs.get(stale.stem[len("curves_"):]) is None:
            stale.unlink()
    for key in CURVE_FILES.keys() | pngs.keys():
        if pngs.get(key) is not None:
            write_bytes(out_dir / curve_file(key), pngs[key])
        else:
            (out_dir / curve_file(key)).unlink(missing_ok=True)
    write_bytes(out_dir / "report.html",
                render_html(blocks, f"Run comparison: {root.name or root}").encode("utf-8"))
    return write_bytes(out_dir / "report.md", render_markdown(blocks).encode("utf-8"))
