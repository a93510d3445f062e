"""The ``ninjarl`` command line.

Subcommands import the simulator lazily, so ``ninjarl --help`` stays fast and
does not trigger compilation.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ninjarl import __version__
from ninjarl.allocator import keep_freed_memory

EXIT_USAGE_OR_DATA_ERROR = 2
EXIT_INTERRUPTED = 130          # 128 + SIGINT, as shells report a Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status.

    Bad input files (missing, unreadable, truncated, corrupt) end with a one-line
    ``ninjarl: error: ...`` on stderr and status 2, like argparse usage errors; Ctrl-C with
    ``ninjarl: interrupted`` and status 130 (training saves a checkpoint first), whatever a
    library raised once the signal came (numba turns one inside a JIT compilation into a
    RuntimeError).

    ``argv`` None is the program itself (the ``ninjarl`` script, ``python -m ninjarl``), whose
    process ends when this returns. After Ctrl-C it then skips the interpreter's final garbage
    collections: over the torch, numba and simulator objects they took 1-3 s, and a command is
    to stop within a second. Nothing is lost: every file is written and closed by then.
    """
    args = build_parser().parse_args(argv)
    keep_freed_memory()     # large per-minibatch tensors reuse memory instead of page-faulting
    from ninjarl.sim.errors import FormatError

    with _sigint_noted() as sigints:
        try:
            return args.run(args)
        except BaseException as error:
            if not sigints and not isinstance(error, KeyboardInterrupt):
                if isinstance(error, (FormatError, OSError)):
                    print(f"ninjarl: error: {_one_line(error)}", file=sys.stderr)
                    return EXIT_USAGE_OR_DATA_ERROR
                raise
    print("\nninjarl: interrupted", file=sys.stderr)
    if argv is None:
        gc.freeze()         # the objects alive now are never collected again: the process ends
    return EXIT_INTERRUPTED


@contextmanager
def _sigint_noted() -> Iterator[list[int]]:
    """SIGINT raises KeyboardInterrupt as Python's default handler does, and is also noted in
    the list this yields. Only where that default handler is in place: not in a thread, and
    not where SIGINT is ignored (a background job)."""
    sigints: list[int] = []
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield sigints
        return

    def note_and_interrupt(signum, frame):
        sigints.append(signum)
        signal.default_int_handler(signum, frame)
    signal.signal(signal.SIGINT, note_and_interrupt)
    try:
        yield sigints
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


DEVICE_HELP = ("where the networks run: auto (a CUDA GPU when torch sees one, else the CPU), cpu, "
               "cuda or cuda:N (default: auto); environments always run on the CPU.")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="ninjarl", description="N++ physics simulator and reinforcement-learning toolkit."
    )
    parser.add_argument("--version", action="version", version=f"ninjarl {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    replay = commands.add_parser(
        "replay",
        help="simulate a replay file and report its outcome",
        description="Simulate a replay (compact v0/v1 or N++ attract demo) frame by frame "
        "and print the number of frames, the outcome (won/dead/ongoing) and the 1-based "
        "frame of the outcome (-1 if none).",
    )
    replay.add_argument("file", type=Path, metavar="FILE", help="replay file")
    replay.add_argument(
        "--trace", type=Path, metavar="OUT.npz", help="also write the per-frame trace as .npz"
    )
    replay.set_defaults(run=_cmd_replay)

    bench = commands.add_parser(
        "bench", help="run benchmarks", description="Run benchmarks (see bench/README.md)."
    )
    targets = bench.add_subparsers(title="benchmarks", metavar="BENCHMARK", required=True)
    sim = targets.add_parser(
        "sim",
        help="raw physics frames per second",
        description="Measure simulated frames per second (single thread) of the batch "
        "simulator on sticky-random inputs, for every map and batch size; resets on "
        "death or win are included, compilation is not.",
    )
    sim.add_argument(
        "--map",
        dest="maps",
        action="extend",
        nargs="+",
        metavar="PATH_OR_NAME",
        help="map file, replay file or bundled map name such as test/simple-walk "
        "(default: bench/empty, test/simple-walk, official/000_the_basics, "
        "bench/simple_99_mines, bench/mine_heavy)",
    )
    sim.add_argument(
        "--envs",
        action="extend",
        nargs="+",
        type=_positive_int,
        metavar="N",
        help="batch sizes (default: 1 64 1024)",
    )
    sim.add_argument(
        "--frames",
        type=_positive_int,
        metavar="F",
        help="frames per environment (default: calibrated so that one run takes about "
        "1 s, at least 1000)",
    )
    sim.add_argument(
        "--seed", type=_non_negative_int, default=0, help="input tape seed (default: 0)"
    )
    sim.add_argument(
        "--json", action="store_true", help="finish with one JSON line holding all results"
    )
    sim.set_defaults(run=_cmd_bench_sim)

    env = targets.add_parser(
        "env",
        help="environment steps per second",
        description="Measure NinjaVecEnv steps per second (single thread) with a "
        "sticky-random policy, resets included, for every observation set, map, batch size "
        "and action repeat.",
    )
    env.add_argument("--obs", action="extend", nargs="+", choices=("state", "vision", "all"),
                     help="observation sets: state = game_state + reachability, vision = "
                     "state + both images, all = vision + graph (default: state vision)")
    env.add_argument("--map", dest="maps", action="extend", nargs="+", metavar="PATH_OR_NAME",
                     help="maps as for bench sim (default: test/simple-walk bench/mine_heavy)")
    env.add_argument("--envs", action="extend", nargs="+", type=_positive_int, metavar="N",
                     help="batch sizes (default: 256)")
    env.add_argument("--action-repeat", dest="action_repeats", action="extend", nargs="+",
                     type=_positive_int, metavar="K", help="frames per step (default: 1 4)")
    env.add_argument("--steps", type=_positive_int, metavar="S",
                     help="steps per run (default: calibrated to about 1 s)")
    env.add_argument("--seed", type=_non_negative_int, default=0, help="action tape seed")
    env.add_argument("--json", action="store_true",
                     help="finish with one JSON line holding all results")
    env.set_defaults(run=_cmd_bench_env)

    model = targets.add_parser(
        "model",
        help="policy-network cost per architecture",
        description="Train each architecture for a few PPO iterations as ninjarl train does "
        "and report its forward FLOPs per sample, rollout and update seconds (median after a "
        "warm-up iteration), training steps per second, and the update's arithmetic rate as "
        "a fraction of this CPU's measured matrix-multiply peak.")
    model.add_argument("--arch", dest="archs", action="extend", nargs="+", metavar="NAME",
                       help="architectures (default: vision_free local_view local_view_fast "
                       "mlp_baseline mlp_fast)")
    model.add_argument("--envs", type=_positive_int, default=128,
                       help="environments; a rollout is 128 steps of each (default: 128)")
    model.add_argument("--map", default="official/000_the_basics", metavar="PATH_OR_NAME",
                       help="the level every env plays (default: official/000_the_basics)")
    model.add_argument("--threads", type=_positive_int, metavar="T",
                       help="torch threads (default: all cores)")
    model.add_argument("--repeats", type=_positive_int, default=3,
                       help="timed iterations after the warm-up (default: 3)")
    model.add_argument("--json", action="store_true",
                       help="finish with one JSON line holding all results")
    model.set_defaults(run=_cmd_bench_model)

    video = targets.add_parser(
        "video",
        help="episode videos drawn and written per second",
        description="Play one episode of each map from a seeded sticky-random action tape "
        "and report the video frames per second drawn (simulation, picture, info bar) and "
        "written to an MP4 (drawing and encoding), medians after a warm-up.")
    video.add_argument("--map", dest="maps", action="extend", nargs="+", metavar="PATH_OR_NAME",
                       help="maps as for bench sim (default: official/000_the_basics "
                       "bench/mine_heavy)")
    video.add_argument("--frames", type=_positive_int, default=1200,
                       help="most frames of the episode (default: 1200)")
    video.add_argument("--repeats", type=_positive_int, default=3,
                       help="timed runs after the warm-up (default: 3)")
    video.add_argument("--seed", type=_non_negative_int, default=0, help="action tape seed")
    video.add_argument("--json", action="store_true",
                       help="finish with one JSON line holding all results")
    video.set_defaults(run=_cmd_bench_video)

    train = commands.add_parser(
        "train", help="train a PPO agent",
        description="Train a PPO agent (Stable-Baselines3) and finish with its held-out "
        "success rate. Settings: defaults < --config FILE < the flags given here. Every "
        "resolved setting is written to OUT/config.json; TensorBoard logs, checkpoints, the "
        "final agent (OUT/final) and OUT/eval.json go to the run directory.")
    train.add_argument("--arch", help="architecture (default: vision_free)")
    train.add_argument("--levels", help="category name(s) (comma-separated) of the built-in "
                       "level set, a dataset directory, a map file or a bundled map name "
                       "(default: simplest)")
    train.add_argument("--timesteps", type=_positive_int, help="env steps (default: 200000)")
    train.add_argument("--envs", type=_envs_value, help="number of envs or 'auto' (default)")
    train.add_argument("--seed", type=_non_negative_int, help="random seed (default: 0)")
    train.add_argument("--out", help="run directory (default: runs/<arch>-<levels>-<time>)")
    train.add_argument("--eval-every", type=_non_negative_int, dest="eval_every",
                       help="held-out evaluation every N steps (default: 0 = only at the end)")
    train.add_argument("--checkpoint-every", type=_non_negative_int, dest="checkpoint_every",
                       help="checkpoint every N steps (default: 50000)")
    train.add_argument("--frame-stack", type=_positive_int, dest="frame_stack",
                       help="observations stacked per step (default: 1)")
    train.add_argument("--device", type=_device_value,
                       help=DEVICE_HELP + " Allowed with --resume.")
    train.add_argument("--config", type=Path, metavar="FILE", help="JSON file of settings")
    train.add_argument("--resume", type=Path, metavar="DIR",
                       help="continue the run in DIR from its last checkpoint, with its own "
                       "settings (only --timesteps may be given with it)")
    train.add_argument("--curriculum", action="store_true",
                       help="train on all level categories in curriculum order, advancing "
                       "when the current stage's success rate is high enough; without --config "
                       "with the curriculum recipe (architecture, levels, augmentation, budget: "
                       "docs/generalization.md), a config file keeps its own curriculum")
    train.add_argument("--bc", metavar="CKPT", help="start from a behaviour-cloning checkpoint "
                       "(strict transfer, report in OUT/transfer_report.json)")
    train.add_argument("--hierarchical", action="store_true",
                       help="train a hierarchical agent: a subtask policy over a "
                       "subtask-conditioned controller, --arch as their shared feature extractor "
                       "(other settings: a config file's \"hierarchical\" object)")
    train.add_argument("--videos", type=_non_negative_int, metavar="K",
                       help="at the final held-out evaluation, write K won and K failed "
                       "episodes per category as MP4 under OUT/videos/ (default: 0)")
    train.add_argument("--no-doctor", action="store_true", dest="no_doctor",
                       help="skip the quick `ninjarl doctor` checks run before the first step")
    _add_s3_arguments(train, "the run directory")
    train.set_defaults(run=_cmd_train)

    evaluation = commands.add_parser(
        "eval", help="evaluate a trained agent on level sets",
        description="Play every level of the given level sets from its start with a trained "
        "agent (a run directory or a checkpoint directory), through the training env path, "
        "and write OUT/eval.json, OUT/eval.md and optional videos. SPEC: a category name "
        "(built-in test split), a dataset directory (its test split; DIR:train for its "
        "training split), a directory of map files (sub-folder = category, else 'custom'), "
        "a map file, a replay file (its level), 'official' or 'test'.")
    evaluation.add_argument("agent", type=Path, metavar="RUN|CHECKPOINT")
    evaluation.add_argument("--levels", nargs="+", required=True, metavar="SPEC")
    evaluation.add_argument("--sampled", action="store_true",
                            help="sample actions from the policy (default: argmax)")
    evaluation.add_argument("--episodes-per-level", type=_positive_int, default=1, metavar="N",
                            dest="episodes_per_level")
    evaluation.add_argument("--videos", type=_non_negative_int, default=0, metavar="K",
                            help="MP4 videos of K won and K failed episodes per category")
    evaluation.add_argument("--video-fps", type=_positive_int, default=60, dest="video_fps",
                            metavar="FPS", help="video frame rate (default: 60, the game's)")
    evaluation.add_argument("--seed", type=_non_negative_int, default=0,
                            help="seed of sampled actions (default: 0)")
    evaluation.add_argument("--out", type=Path, metavar="DIR",
                            help="output directory (default: RUN/evals/<level sets>)")
    evaluation.add_argument("--device", type=_device_value, default="auto",
                            help=DEVICE_HELP)
    evaluation.add_argument("--json", action="store_true",
                            help="end the output with the eval.json document on one line")
    _add_s3_arguments(evaluation, "the run directory (or --out, when outside it)")
    evaluation.set_defaults(run=_cmd_eval)

    solve = commands.add_parser(
        "solve", help="find winning input sequences with the planner",
        description="Search the simulator for a winning input sequence of every level "
        "(best-first over held actions, guided by path distances; a plan counts only if a "
        "fresh simulation of it wins). LEVELS as for eval (categories, official, test, "
        "dataset or map directories, map or replay files). Writes OUT/<category>/<id>.replay "
        "per solved level and OUT/solve.json.")
    solve.add_argument("levels", nargs="+", metavar="LEVELS")
    solve.add_argument("--budget-frames", type=_positive_int, default=3_000_000, metavar="N",
                       dest="budget_frames", help="simulator frames per level (default: 3M)")
    solve.add_argument("--jobs", type=_positive_int, default=1, metavar="J",
                       help="worker processes (default: 1)")
    solve.add_argument("--out", type=Path, required=True, metavar="DIR")
    solve.set_defaults(run=_cmd_solve)

    play = commands.add_parser(
        "play", help="play levels yourself in a window, recording every attempt",
        description="Play a level in a pygame window with N++'s controls (arrows or A/D move; "
        "Z, space or up jump; R or Enter restart; N next level; Esc quit) at 60 frames per "
        "second, one simulator frame per display frame; time and switch state are shown. "
        "LEVEL is any SPEC eval takes; its first level is played. With --record DIR every won "
        "or dead attempt is saved as a compact .replay (what 'ninjarl replay' reproduces and "
        "'ninjarl bc' learns from).")
    play.add_argument("level", metavar="LEVEL", help="level set SPEC, as for eval")
    play.add_argument("--next", action="store_true", dest="walk",
                      help="after a win, restart goes on to the next level of the set")
    play.add_argument("--record", type=Path, metavar="DIR",
                      help="save every finished attempt as DIR/<level>_<time>_<n>_<outcome>.replay")
    play.add_argument("--headless", action="store_true",
                      help="no window (SDL's dummy video driver) and no frame pacing; needs --script")
    play.add_argument("--script", type=Path, metavar="FILE",
                      help="JSON list of [frame, 'down'|'up', key] events played instead of the "
                      "keyboard; the session ends after the last one")
    play.set_defaults(run=_cmd_play)

    watch = commands.add_parser(
        "watch", help="render a human replay or one agent episode as a video",
        description="Write a video (.mp4, H.264 at 60 frames/s, or .gif) of a replay file, "
        "or of one episode of a trained agent (a run or checkpoint directory) on a level "
        "(--level: any eval SPEC; its first level is played).")
    watch.add_argument("source", type=Path, metavar="REPLAY|RUN")
    watch.add_argument("--level", metavar="SPEC", help="the level an agent plays")
    watch.add_argument("--out", type=Path, required=True, metavar="FILE.mp4|FILE.gif")
    watch.add_argument("--sampled", action="store_true", help="sample the agent's actions")
    watch.add_argument("--device", type=_device_value, default="auto",
                       help=DEVICE_HELP)
    watch.add_argument("--fps", type=_positive_int, default=60, help="frame rate (default: 60)")
    watch.set_defaults(run=_cmd_watch)

    compare = commands.add_parser(
        "compare", help="train and compare several architectures or configs over seeds",
        description="Run every (architecture or config file, seed, bc) trial with the normal "
        "training code, one run directory each (OUT/<row>/seed-<s>), evaluate each on its "
        "held-out split and on every --eval-levels SPEC, then write OUT/report.md and "
        "OUT/report.html. Finished trials are skipped on a second call; an interrupted one "
        "resumes from its checkpoint.")
    rows = compare.add_mutually_exclusive_group(required=True)
    rows.add_argument("--archs", nargs="+", metavar="ARCH", help="architectures to compare")
    rows.add_argument("--configs", nargs="+", type=Path, metavar="FILE",
                      help="config files to compare (any setting; ablations)")
    compare.add_argument("--seeds", type=_positive_int, default=1, metavar="N",
                         help="seeds 0..N-1 per row (default: 1)")
    compare.add_argument("--bc", choices=("off", "on", "both"), default="off",
                         help="start from behaviour cloning: off, on, or both (default: off)")
    compare.add_argument("--bc-replays", type=Path, metavar="DIR", dest="bc_replays",
                         help="human .replay files for --bc on/both")
    levels_or_curriculum = compare.add_mutually_exclusive_group()
    levels_or_curriculum.add_argument("--levels", help="training levels, as for train")
    levels_or_curriculum.add_argument("--curriculum", action="store_true",
                                      help="train every trial with a curriculum, as train "
                                      "--curriculum does: an --archs row is the curriculum "
                                      "recipe with that architecture, a --configs file keeps "
                                      "its own curriculum")
    compare.add_argument("--timesteps", type=_positive_int, help="env steps per trial")
    compare.add_argument("--envs", type=_envs_value, help="envs per trial, or 'auto'")
    compare.add_argument("--device", type=_device_value,
                         help=DEVICE_HELP)
    compare.add_argument("--eval-levels", nargs="+", default=[], metavar="SPEC",
                         dest="eval_levels", help="extra level sets every agent is evaluated "
                         "on (as for eval, e.g. official)")
    compare.add_argument("--out", type=Path, metavar="DIR",
                         help="comparison directory (default: runs/compare-<time>)")
    compare.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                         help="run each trial as a Ray task: on the cluster at ADDRESS ('auto': "
                         "the one started with 'ray start' here), or without ADDRESS on a local "
                         "Ray instance; a failed trial is tried once more (docs/cluster.md)")
    _add_trial_resources(compare)
    _add_s3_arguments(compare, "the comparison directory")
    compare.set_defaults(run=_cmd_compare)

    sweep = commands.add_parser(
        "sweep", help="search PPO hyperparameters with Optuna (on Ray Tune with --ray)",
        description="Train --trials runs of one architecture with settings proposed by "
        "Optuna's TPE sampler (learning rate, entropy bonus, n_steps, batch size, network "
        "width, gamma, GAE lambda; see ninjarl.train.sweep), each in --rungs segments after "
        "which its held-out success is measured; trials below the median are stopped early. "
        "Writes OUT/trial-*/ run directories, OUT/sweep.json, OUT/sweep.md and "
        "OUT/best_config.json (for ninjarl train --config).")
    sweep.add_argument("--arch", help="architecture (default: vision_free)")
    sweep.add_argument("--levels", help="training levels, as for train (default: simplest)")
    sweep.add_argument("--trials", type=_positive_int, required=True, metavar="N")
    sweep.add_argument("--timesteps", type=_positive_int, required=True, metavar="T",
                       help="env steps of a trial that is not stopped early")
    sweep.add_argument("--rungs", type=_positive_int, default=3, metavar="R",
                       help="evaluations per trial, where bad trials stop (default: 3)")
    sweep.add_argument("--envs", type=_envs_value, help="envs per trial, or 'auto'")
    sweep.add_argument("--seed", type=_non_negative_int, help="training and sampler seed")
    sweep.add_argument("--config", type=Path, metavar="FILE",
                       help="settings every trial starts from (the search replaces its own)")
    sweep.add_argument("--out", type=Path, metavar="DIR",
                       help="sweep directory (default: runs/sweep-<time>)")
    sweep.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run the trials in parallel through Ray Tune, on the cluster at "
                       "ADDRESS or a local Ray instance")
    _add_trial_resources(sweep)
    _add_s3_arguments(sweep, "the sweep directory")
    sweep.set_defaults(run=_cmd_sweep)

    pull = commands.add_parser(
        "pull", help="fetch a run uploaded with --s3",
        description="Fetch the directory uploaded under s3://BUCKET/PREFIX (train, compare, "
        "eval or sweep --s3, or push) into DIR, checking every file's size and sha256 against "
        "its manifest.json; files already in DIR with the right content are kept, so an "
        "interrupted pull resumes. The result can be evaluated or continued with --resume.")
    pull.add_argument("url", metavar="s3://BUCKET/PREFIX")
    pull.add_argument("--out", type=Path, metavar="DIR",
                      help="where to put it (default: runs/<last part of PREFIX>)")
    pull.add_argument("--s3-endpoint", dest="s3_endpoint", metavar="URL",
                      help="S3-compatible endpoint (default: the AWS configuration's)")
    pull.set_defaults(run=_cmd_pull)

    push = commands.add_parser(
        "push", help="upload a run directory to S3 (or resume an interrupted upload)",
        description="Upload DIR under s3://BUCKET/PREFIX with a manifest.json (path, size, "
        "sha256 of every file); files already there with the same sha256 are skipped.")
    push.add_argument("dir", type=Path, metavar="DIR")
    push.add_argument("url", metavar="s3://BUCKET/PREFIX")
    push.add_argument("--s3-endpoint", dest="s3_endpoint", metavar="URL",
                      help="S3-compatible endpoint (default: the AWS configuration's)")
    push.set_defaults(run=_cmd_push)

    report = commands.add_parser(
        "report", help="rebuild the comparison report from run directories",
        description="Scan DIR for run directories (config.json / eval.json), also runs "
        "trained separately, and write DIR/report.md and DIR/report.html; broken run "
        "directories are listed with the reason.")
    report.add_argument("dir", type=Path, metavar="DIR")
    report.add_argument("--out", type=Path, metavar="DIR", help="where to write (default: DIR)")
    report.set_defaults(run=_cmd_report)

    doctor = commands.add_parser(
        "doctor", help="check a run or a config for silent failures",
        description="Check a run directory (or a config file before a run) for the failures "
        "that leave a run looking healthy: observations built differently for BC, RL and "
        "evaluation, an incomplete BC transfer, parameters without optimizer or gradient, an "
        "unmeasured env count, unequal frame stacking, TensorBoard without episode scalars, "
        "images scaled twice or never, a shaping discount other than PPO's, a reward that "
        "pays dying more than finishing, an untrained level of a hierarchical agent. Each "
        "check prints PASS, FAIL or SKIP with its figure; exit status 1 if any fails.")
    doctor.add_argument("run_dir", nargs="?", type=Path, metavar="RUN_DIR")
    doctor.add_argument("--config", type=Path, metavar="FILE",
                        help="check a config file instead of a run")
    doctor.add_argument("--bc", type=Path, metavar="CKPT",
                        help="a behaviour-cloning checkpoint to check against the run or config")
    doctor.set_defaults(run=_cmd_doctor)

    bc = commands.add_parser(
        "bc", help="behaviour cloning from human replays",
        description="Build a dataset by replaying human runs through the training "
        "environment (the observation before each step, labelled with that step's action), "
        "split by replay, train the PPO policy itself with cross-entropy, report held-out "
        "accuracy next to the majority-action and repeat-previous-action baselines, and "
        "write a checkpoint for 'ninjarl train --bc OUT'. Use the same --config (observations, "
        "frame stack, action repeat) as the PPO run that will start from it.")
    bc.add_argument("--replays", type=Path, required=True, metavar="DIR",
                    help="directory of .replay files, also in its sub-folders (as "
                    "'ninjarl solve' writes its demonstrations)")
    bc.add_argument("--arch", help="architecture (default: the config's, vision_free)")
    bc.add_argument("--out", type=Path, required=True, metavar="DIR", help="output checkpoint")
    bc.add_argument("--config", type=Path, metavar="FILE", help="JSON training settings")
    bc.add_argument("--epochs", type=_positive_int, default=20, help="epochs (default: 20)")
    bc.add_argument("--device", type=_device_value,
                    help=DEVICE_HELP)
    bc.add_argument("--value-warmup", action="store_true", dest="value_warmup",
                    help="also fit the value head to the replays' discounted returns")
    bc.add_argument("--mirror", action="store_true",
                    help="add the left-right mirror image of every training replay "
                         "(kept when the mirrored run ends like the original)")
    bc.set_defaults(run=_cmd_bc)

    render = commands.add_parser(
        "render", help="draw a level to a PNG file",
        description="Render a level (raw map, replay or bundled map name) at its start "
        "state as a 1056x600 colour PNG.")
    render.add_argument("map", metavar="MAP", help="map file, replay file or bundled map name")
    render.add_argument("--out", type=Path, required=True, metavar="PNG", help="output file")
    render.set_defaults(run=_cmd_render)

    _add_levels_parser(commands)
    return parser


#: ``levels build --style`` choices and the generator styles each one draws from
LEVEL_STYLES = {"classic": ("classic",), "open": ("open",), "mixed": ("classic", "open")}


def _add_levels_parser(commands) -> None:
    levels = commands.add_parser(
        "levels", help="generate, inspect and draw level datasets",
        description="Generated level datasets (ninjarl.levels): build train/test splits, "
        "draw one level, draw a contact sheet.")
    sub = levels.add_subparsers(title="level commands", metavar="LEVELS_COMMAND", required=True)
    build = sub.add_parser(
        "build", help="generate a train and a test split",
        description="Generate solvability-checked levels per category into OUT/{train,test}/"
        "<category>/<id>.map with a manifest.json per split. A split with count 0 is kept as "
        "it is; no level of the new splits repeats (by content hash) a level of the other "
        "split, of a split already in OUT, or of an --exclude dataset.")
    build.add_argument("out", type=Path, metavar="OUT", help="dataset directory")
    build.add_argument("--train", type=_non_negative_int, default=0, metavar="N",
                       help="train levels per category (default: 0 = keep the split)")
    build.add_argument("--test", type=_non_negative_int, default=0, metavar="M",
                       help="test levels per category (default: 0 = keep the split)")
    build.add_argument("--categories", nargs="+", metavar="CATEGORY", type=_category,
                       help="categories (default: all seven)")
    build.add_argument("--seed", type=_non_negative_int, default=0, help="dataset seed")
    build.add_argument("--style", choices=tuple(LEVEL_STYLES), default="classic",
                       help="generator style: classic, open (the second, independently written "
                       "style) or mixed (alternating per level); default: classic")
    build.add_argument("--exclude", action="extend", nargs="+", default=[], metavar="DATASET",
                       help="datasets whose levels must not be repeated")
    build.add_argument("--solve", type=_non_negative_int, nargs="?", const=3_000_000, default=0,
                       metavar="FRAMES", help="keep only levels the planner solves within FRAMES "
                       "simulator frames (default 3M), storing each plan as <id>.replay")
    build.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 1,
                       help="worker processes (default: all cores; output does not depend on it)")
    build.set_defaults(run=_cmd_levels_build)

    merge = sub.add_parser(
        "merge", help="write the union of datasets (e.g. two generator styles) as one",
        description="Write into OUT one train split with every SOURCE's training levels and one "
        "test split with every SOURCE's test levels, grouped by category. A level in several "
        "sources is kept once; a level that is a training level of one source and a test level "
        "of another is an error. 'default' names the built-in dataset.")
    merge.add_argument("out", type=Path, metavar="OUT", help="new dataset directory")
    merge.add_argument("sources", nargs="+", metavar="SOURCE", help="dataset directories")
    merge.set_defaults(run=_cmd_levels_merge)

    show = sub.add_parser(
        "show", help="draw one level of a dataset",
        description="Draw the level with id ID of DATASET ('default' = the built-in dataset) "
        "as a 1056x600 PNG and print its manifest record.")
    show.add_argument("dataset", metavar="DATASET", help="dataset directory or 'default'")
    show.add_argument("level_id", metavar="ID", help="level id (as in the manifest)")
    show.add_argument("--out", type=Path, required=True, metavar="PNG", help="output file")
    show.set_defaults(run=_cmd_levels_show)

    sheet = sub.add_parser(
        "sheet", help="draw a contact sheet: a row of thumbnails per category",
        description="Draw the first N levels of every category of a dataset split as a grid of "
        "thumbnails, one row per category (in the order of ninjarl.levels.CATEGORIES). "
        "Without DATASET the levels are generated from seeds 0..N-1.")
    sheet.add_argument("dataset", nargs="?", metavar="DATASET",
                       help="dataset directory or 'default' (default: generate directly)")
    sheet.add_argument("--out", type=Path, required=True, metavar="PNG", help="output file")
    sheet.add_argument("--split", choices=("train", "test"), default="train")
    sheet.add_argument("--per-category", type=_positive_int, default=6, metavar="N")
    sheet.add_argument("--scale", type=_positive_int, default=4, metavar="K",
                       help="thumbnails are 1/K of full size (default: 4)")
    sheet.add_argument("--style", choices=("classic", "open"), default="classic",
                       help="generator style of directly generated levels (default: classic)")
    sheet.set_defaults(run=_cmd_levels_sheet)


def _add_trial_resources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpus-per-trial", type=_positive_int, default=1, metavar="N",
                        dest="cpus_per_trial", help="CPUs (and torch threads) a trial declares "
                        "to Ray (default: 1)")
    parser.add_argument("--gpus-per-trial", type=float, default=0, metavar="G",
                        dest="gpus_per_trial", help="GPUs a trial declares to Ray (default: 0)")


def _add_s3_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--s3", metavar="s3://BUCKET/PREFIX",
                        help=f"at the end, upload {what} there with a manifest.json (files "
                        "already there with the same sha256 are skipped; see pull and push)")
    parser.add_argument("--s3-endpoint", dest="s3_endpoint", metavar="URL",
                        help="S3-compatible endpoint (default: the AWS configuration's, e.g. "
                        "AWS_ENDPOINT_URL_S3)")


def _require(module: str, what: str) -> None:
    """A missing optional dependency (the 'cloud' extra) is a one-line error."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise ValueError(f"{what} needs the {module.split('.')[0]!r} package: "
                         "pip install 'ninjarl[cloud]'") from None


def _check_s3(args: argparse.Namespace) -> None:
    """Before a long job: the bucket of --s3 must be reachable with these credentials."""
    if args.s3:
        _require("boto3", "--s3")
        from ninjarl.cloud import check_access

        check_access(args.s3, args.s3_endpoint)


def _upload(args: argparse.Namespace, directory: Path) -> int:
    """Upload ``directory`` to --s3 if given; a failure is reported (exit status 1), and the
    directory, which uploading only reads, stays as it is."""
    if not args.s3:
        return 0
    from ninjarl.cloud import S3Error, upload_run

    try:
        upload_run(directory, args.s3, args.s3_endpoint)
    except S3Error as e:
        print(f"ninjarl: error: {_one_line(e)} ({directory} is intact; resume the upload with: "
              f"ninjarl push {directory} {args.s3})", file=sys.stderr)
        return 1
    return 0


def _device_value(text: str) -> str:
    from ninjarl.models.device import check_device_name

    try:
        return check_device_name(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _envs_value(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def _category(text: str) -> str:
    from ninjarl.levels import CATEGORIES

    if text not in CATEGORIES:
        raise argparse.ArgumentTypeError(f"unknown category {text!r}; expected some of "
                                         f"{', '.join(CATEGORIES)}")
    return text


def _non_negative_int(text: str) -> int:
    return _int_at_least(text, 0)


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def _cmd_replay(args: argparse.Namespace) -> int:
    import numpy as np

    from ninjarl.atomic import save_npz
    from ninjarl.sim.replay import read_replay

    replay = read_replay(args.file)
    # Only now load the simulator, so that a bad file is reported without waiting for it.
    from ninjarl.sim import build_level, simulate_inputs

    level = build_level(replay.map_bytes, name=args.file.name)
    result = simulate_inputs(level, replay.inputs)
    print(f"file: {args.file}")
    print(f"format: {replay.format}")
    print(f"frames: {len(replay.inputs)}")
    print(f"outcome: {result['outcome']}")
    print(f"outcome_frame: {int(result['outcome_frame'])}")
    if args.trace is not None:
        arrays = dict(result)
        arrays.setdefault("map_data", np.frombuffer(replay.map_bytes, np.uint8))
        arrays.setdefault("inputs_raw", replay.inputs)
        save_npz(args.trace, arrays)
        print(f"trace: {args.trace}")
    return 0


def _cmd_bench_sim(args: argparse.Namespace) -> int:
    from ninjarl.bench.sim_bench import DEFAULT_ENVS, DEFAULT_MAPS, run_sim_bench

    maps = args.maps or list(DEFAULT_MAPS)
    envs = args.envs or list(DEFAULT_ENVS)
    name_width = max(len("map"), *(len(m) for m in maps))
    print(f"{'map':<{name_width}}  {'envs':>5}  {'frames':>8}  {'seconds':>8}  {'frames/s':>12}")
    results = []
    try:
        for r in run_sim_bench(maps, envs, args.frames, args.seed):
            print(f"{r.map:<{name_width}}  {r.envs:>5}  {r.frames:>8}  {r.seconds:>8.3f}  "
                  f"{r.frames_per_s:>12,.0f}", flush=True)
            results.append({"map": r.map, "envs": r.envs, "frames_per_s": r.frames_per_s})
    except ValueError as e:             # sizes that could not be allocated
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    if args.json:
        print(json.dumps({"results": results}))
    return 0


def _cmd_bench_env(args: argparse.Namespace) -> int:
    from ninjarl.bench import env_bench

    results = []
    header = f"{'obs':<7}  {'map':<20}  {'envs':>5}  {'repeat':>6}  {'steps':>6}  {'steps/s':>10}"
    print(header)
    try:
        for r in env_bench.run_env_bench(args.obs or env_bench.DEFAULT_OBS,
                                         args.maps or env_bench.DEFAULT_MAPS,
                                         args.envs or env_bench.DEFAULT_ENVS,
                                         args.action_repeats or env_bench.DEFAULT_ACTION_REPEATS,
                                         args.steps, args.seed):
            print(f"{r.obs:<7}  {r.map:<20}  {r.envs:>5}  {r.action_repeat:>6}  {r.steps:>6}  "
                  f"{r.steps_per_s:>10,.0f}", flush=True)
            results.append({"obs": r.obs, "map": r.map, "envs": r.envs,
                            "action_repeat": r.action_repeat, "steps_per_s": r.steps_per_s})
    except ValueError as e:             # e.g. more envs than an engine runs
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    if args.json:
        print(json.dumps({"results": results}))
    return 0


def _cmd_bench_video(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ninjarl.bench.video_bench import DEFAULT_MAPS, run_video_bench

    maps = args.maps or list(DEFAULT_MAPS)
    width = max(len("map"), *(len(m) for m in maps))
    print(f"{'map':<{width}}  {'frames':>6}  {'drawn/s':>8}  {'written/s':>9}  {'MP4 KiB':>8}")
    results = []
    for r in run_video_bench(maps, args.frames, args.repeats, args.seed):
        print(f"{r.map:<{width}}  {r.frames:>6}  {r.draw_fps:>8,.0f}  {r.write_fps:>9,.0f}  "
              f"{r.mp4_bytes / 1024:>8,.0f}", flush=True)
        results.append(asdict(r))
    if args.json:
        print(json.dumps({"results": results}))
    return 0


def _cmd_bench_model(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ninjarl.bench import model_bench
    from ninjarl.models import ARCHITECTURES

    archs = args.archs or model_bench.DEFAULT_ARCHS
    unknown = [a for a in archs if a not in ARCHITECTURES]
    if unknown:
        print(f"ninjarl: error: --arch: unknown architecture(s) {', '.join(unknown)}; valid: "
              f"{', '.join(ARCHITECTURES)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    results = []
    print(f"{'arch':<16}  {'params':>8}  {'MFLOP/smp':>9}  {'rollout s':>9}  {'update s':>8}  "
          f"{'update cpu s':>12}  {'steps/s':>8}  {'GFLOP/s':>7}  {'of peak':>7}")
    for r in model_bench.run_model_bench(archs, args.envs, args.map, args.threads or 0,
                                         args.repeats):
        print(f"{r.arch:<16}  {r.params:>8,}  {r.mflop_per_sample:>9.2f}  {r.rollout_s:>9.2f}  "
              f"{r.update_s:>8.2f}  {r.update_cpu_s:>12.2f}  {r.steps_per_s:>8,.0f}  {r.update_gflop_per_s:>7.1f}  "
              f"{r.peak_fraction:>7.1%}", flush=True)
        results.append(asdict(r))
    if args.json:
        print(json.dumps({"results": results}))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ninjarl.env.config import SUBTASK_KEY
    from ninjarl.train import TrainConfig, resume, train
    from ninjarl.train.config import HierarchicalConfig, load_run_config
    from ninjarl.train.ppo import default_run_dir

    try:
        if args.resume is not None:
            if args.config is not None:
                TrainConfig.load(args.config)        # an invalid file is reported as such
            given = [f"--{name.replace('_', '-')}" for name in _TRAIN_SETTINGS
                     if getattr(args, name) is not None and getattr(args, name) is not False]
            if given:
                raise ValueError(f"--resume continues a run with its own settings; only "
                                 f"--timesteps may be given with it, not {', '.join(given)}")
            _check_s3(args)
            resume(args.resume, args.timesteps, preflight=_preflight(args), device=args.device)
            return _upload(args, args.resume)
        config = load_run_config(
            args.config, args.curriculum, arch=args.arch, levels=args.levels,
            timesteps=args.timesteps, envs=args.envs, seed=args.seed, out=args.out,
            eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
            frame_stack=args.frame_stack, bc=args.bc, videos=args.videos, device=args.device)
        if args.hierarchical and config.hierarchical is None:     # a file's own settings stay
            config = replace(config, hierarchical=HierarchicalConfig(), env=replace(
                config.env, observations=config.env.observations + (SUBTASK_KEY,)))
        config = replace(config, out=config.out or default_run_dir(config))
        _check_s3(args)
        train(config, preflight=_preflight(args))
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    return _upload(args, Path(config.out))


def _preflight(args: argparse.Namespace):
    if args.no_doctor:
        return None
    from ninjarl.doctor import preflight_or_stop
    return preflight_or_stop


#: the flags of ``train`` that --resume refuses (it continues with the run's own settings)
_TRAIN_SETTINGS = ("arch", "levels", "envs", "seed", "out", "eval_every", "checkpoint_every",
                   "frame_stack", "config", "curriculum", "bc", "videos", "hierarchical")


def _cmd_eval(args: argparse.Namespace) -> int:
    from ninjarl.eval.run import level_set_name, run_evaluation
    from ninjarl.train import load_agent

    try:
        model = load_agent(args.agent, args.device)
        config = model.train_config
        run_dir = args.agent.parent if args.agent.name == "final" else args.agent
        out = args.out or run_dir / "evals" / level_set_name(args.levels)
        _check_s3(args)
        run_evaluation(
            model, args.levels, config.env, out, config.frame_stack,
            deterministic=not args.sampled, episodes_per_level=args.episodes_per_level,
            videos=args.videos, fps=args.video_fps, timesteps=model.num_timesteps,
            seed=args.seed)
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    print(f"wrote {out / 'eval.json'} and {out / 'eval.md'}")
    if args.json:
        print(json.dumps(json.loads((out / "eval.json").read_text())))
    inside = out.resolve().is_relative_to(run_dir.resolve())
    return _upload(args, run_dir if inside else out)


def _cmd_solve(args: argparse.Namespace) -> int:
    from ninjarl.eval import resolve_specs
    from ninjarl.solve import PlannerConfig, solve_levels

    try:
        levels = [(lv.level_id, lv.category, lv.map_bytes) for lv in resolve_specs(args.levels)]
        document = solve_levels(levels, args.out, PlannerConfig(budget_frames=args.budget_frames),
                                jobs=args.jobs)
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    for category, s in document["categories"].items():
        print(f"{category:<12} solved {s['solved']}/{s['levels']} ({s['solved_fraction']:.0%}), "
              f"median {s['median_seconds']:.1f} s, max {s['max_seconds']:.1f} s")
    print(f"wrote {args.out / 'solve.json'}")
    return 0


def _cmd_play(args: argparse.Namespace) -> int:
    from ninjarl.eval import resolve_spec
    from ninjarl.play import DisplayError, load_script, play

    try:
        if args.headless and args.script is None:
            raise ValueError("play: --headless needs a --script of key events")
        script = load_script(args.script) if args.script is not None else None
        levels = resolve_spec(args.level)
        attempts = play(levels, args.record, args.walk, script, args.headless)
    except (ValueError, DisplayError) as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    for n, attempt in enumerate(attempts, start=1):
        level = attempt.level
        print(f"attempt {n}: {level.category}/{level.level_id} {attempt.outcome} after "
              f"{attempt.frames} frames" + (f" -> {attempt.path}" if attempt.path else ""))
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from ninjarl.eval.video import write_replay_video

    try:
        if args.source.is_file():
            frames = write_replay_video(args.out, args.source, fps=args.fps)
            print(f"wrote {args.out} ({frames} frames)")
            return 0
        if not args.level:
            raise ValueError(f"{args.source}: an agent needs --level SPEC")
        from ninjarl.eval import resolve_spec
        from ninjarl.eval.run import watch_agent
        from ninjarl.train import load_agent

        model = load_agent(args.source, args.device)
        level = resolve_spec(args.level)[0]
        episode = watch_agent(model, level, model.train_config.env, args.out,
                              model.train_config.frame_stack, not args.sampled, args.fps)
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    print(f"wrote {args.out}: {level.category}/{level.level_id} {episode.outcome} after "
          f"{episode.frames} frames")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    import time

    from ninjarl.eval.report import build_report
    from ninjarl.train.compare import plan_trials, run_trials

    out = args.out or Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    base = {k: v for k, v in dict(
        levels=args.levels, timesteps=args.timesteps, envs=args.envs,
        device=args.device).items() if v is not None}
    try:
        trials = plan_trials(out, base, args.archs or (), args.configs or (), args.seeds,
                             args.bc, args.curriculum)
        _check_s3(args)
        if args.ray is None:
            statuses = run_trials(trials, args.eval_levels, args.bc_replays)
        else:
            _require("ray", "--ray")
            from ninjarl.train.cluster import run_trials_on_ray, start_ray

            stop = start_ray(args.ray)
            try:
                statuses = run_trials_on_ray(trials, args.eval_levels, args.bc_replays,
                                             args.cpus_per_trial, args.gpus_per_trial)
            finally:
                stop()
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    report = build_report(out)
    failed = [t for t, status in statuses if status.startswith("failed")]
    print(f"wrote {report} ({len(trials) - len(failed)} of {len(trials)} trials ok)")
    return max(_upload(args, out), 1 if failed else 0)


def _cmd_report(args: argparse.Namespace) -> int:
    from ninjarl.eval.report import build_report

    if not args.dir.is_dir():
        print(f"ninjarl: error: {args.dir}: not a directory", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    print(f"wrote {build_report(args.dir, args.out)}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    import time

    from ninjarl.train import TrainConfig

    out = args.out or Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    settings = dict(arch=args.arch, levels=args.levels, timesteps=args.timesteps,
                    envs=args.envs, seed=args.seed)
    try:
        base = (TrainConfig.load(args.config, **settings) if args.config
                else TrainConfig.create(**settings))
        _check_s3(args)
        _require("optuna" if args.ray is None else "ray.tune", "ninjarl sweep")
        if args.ray is None:
            from ninjarl.train.sweep import sweep

            document = sweep(base, out, args.trials, args.rungs)
        else:
            from ninjarl.train.cluster import start_ray
            from ninjarl.train.sweep import sweep_on_ray

            stop = start_ray(args.ray)
            try:
                document = sweep_on_ray(base, out, args.trials, args.rungs,
                                        args.cpus_per_trial, args.gpus_per_trial)
            finally:
                stop()
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    best = document["best"]
    print(f"wrote {out / 'sweep.md'}: " + (
        f"best {best['name']}, held-out success {best['success']:.1%}, settings in "
        f"{out / 'best_config.json'}" if best else "no trial finished"))
    return _upload(args, out) or (0 if best else 1)


def _cmd_pull(args: argparse.Namespace) -> int:
    try:
        _require("boto3", "ninjarl pull")
    except ValueError as e:
        print(f"ninjarl: error: {e}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    from ninjarl.cloud import S3Location, pull

    location = S3Location.parse(args.url)
    out = args.out or Path("runs") / (location.prefix.rsplit("/", 1)[-1] or location.bucket)
    result = pull(args.url, out, args.s3_endpoint)
    print(f"fetched {len(result.transferred)} files into {out} ({len(result.skipped)} were "
          "already there), all matching the manifest")
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    try:
        _require("boto3", "ninjarl push")
    except ValueError as e:
        print(f"ninjarl: error: {e}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    from ninjarl.cloud import upload_run

    upload_run(args.dir, args.url, args.s3_endpoint, passes=1)
    return 0


def _cmd_bc(args: argparse.Namespace) -> int:
    from ninjarl.train import TrainConfig
    from ninjarl.train.bc import run_bc

    try:
        config = (TrainConfig.load(args.config, arch=args.arch, device=args.device) if args.config
                  else TrainConfig.create(arch=args.arch, device=args.device))
        run_bc(args.replays, args.out, arch=config.arch, config=config, epochs=args.epochs,
               value_warmup=args.value_warmup, mirror=args.mirror)
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ninjarl.doctor import diagnose_config, diagnose_run, failed, report

    try:
        if (args.run_dir is None) == (args.config is None):
            raise ValueError("doctor: give a RUN_DIR or --config FILE (one of them)")
        checks = (diagnose_run(args.run_dir, args.bc) if args.run_dir is not None
                  else diagnose_config(args.config, args.bc))
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    print(report(checks))
    return 1 if failed(checks) else 0


def _cmd_render(args: argparse.Namespace) -> int:
    from ninjarl.draw import level_image, write_png
    from ninjarl.sim import load_map_bytes

    write_png(args.out, level_image(load_map_bytes(args.map), name=args.map))
    print(f"wrote {args.out}")
    return 0


def _open_dataset(spec: str):
    from ninjarl.levels import default_dataset, load_dataset

    return default_dataset() if spec == "default" else load_dataset(spec)


def _cmd_levels_build(args: argparse.Namespace) -> int:
    import time

    from ninjarl.levels import CATEGORIES, build_dataset, load_dataset

    categories = args.categories or list(CATEGORIES)
    exclude: set[str] = set()
    for path in args.exclude:
        exclude |= load_dataset(path).hashes()

    def progress(split: str, category: str, done: int, total: int) -> None:
        print(f"{split:<5}  {category:<12}  {done}/{total}", flush=True)

    start = time.perf_counter()
    unsolved: list[dict] = []
    try:
        ds = build_dataset(args.out, args.train, args.test, categories, seed=args.seed,
                           exclude_hashes=exclude, jobs=args.jobs, progress=progress,
                           solve_budget=args.solve, unsolved=unsolved,
                           styles=LEVEL_STYLES[args.style])
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    sizes = ", ".join(f"{s} {len(ds.split(s))}" for s in ds.split_names)
    print(f"wrote {args.out} ({sizes} levels) in {time.perf_counter() - start:.1f} s")
    if args.solve:
        print(f"{len(unsolved)} generated levels passed the reachability check but were not "
              f"solved within {args.solve:,} frames and were replaced:")
        for row in unsolved:
            print(f"  {row['split']} {row['category']} {row['id']} (seed {row['seed']}): "
                  f"{row['reason']}")
    return 0


def _cmd_levels_merge(args: argparse.Namespace) -> int:
    from ninjarl.levels import merge_datasets

    try:
        ds = merge_datasets(args.out, [_open_dataset(source) for source in args.sources])
    except ValueError as e:
        print(f"ninjarl: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE_OR_DATA_ERROR
    for name in ds.split_names:
        counts = ", ".join(f"{c} {len(v)}" for c, v in ds.by_category(name).items())
        print(f"{name}: {len(ds.split(name))} levels ({counts})")
    print(f"wrote {args.out}")
    return 0


def _cmd_levels_show(args: argparse.Namespace) -> int:
    from ninjarl.draw import level_image, write_png

    ds = _open_dataset(args.dataset)
    split, entry = ds.find(args.level_id)
    write_png(args.out, level_image(entry.map_bytes, name=entry.level_id))
    print(json.dumps({"split": split, "id": entry.level_id, "category": entry.category,
                      "seed": entry.seed, "tier": entry.tier, "hash": entry.content_hash,
                      "style": entry.style, "metadata": entry.metadata}))
    print(f"wrote {args.out}")
    return 0


def _cmd_levels_sheet(args: argparse.Namespace) -> int:
    from ninjarl.draw import contact_sheet, write_png
    from ninjarl.levels import CATEGORIES, generate_level

    n = args.per_category
    if args.dataset is None:
        names = list(CATEGORIES)
        rows = [[generate_level(c, s, args.style).map_bytes for s in range(n)] for c in names]
    else:
        groups = _open_dataset(args.dataset).by_category(args.split)
        names = list(groups)
        rows = [[e.map_bytes for e in groups[c][:n]] for c in names]
    write_png(args.out, contact_sheet(rows, args.scale))
    print(f"rows: {' '.join(names)}")
    print(f"wrote {args.out}")
    return 0


def _one_line(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return " ".join(str(error).split())
