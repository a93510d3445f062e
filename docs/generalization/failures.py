"""Where and how a trained agent fails: play a run's final agent on level sets (argmax actions,
as the held-out evaluation does), replay every failed episode frame by frame and classify it.

For each failure it reports the outcome (a death and its cause, or a time-out), whether the exit
switch had been touched, how much of the path to the objective the ninja covered (path distance
over the movement graph of ``ninjarl.nav`` at the start against at the end, or at the death),
and for a time-out the box the ninja stayed in during the episode's last quarter ("stuck": at
most 2 cells wide and high; "looping": larger, on the same route again and again; "wandering":
it crossed a third of the level or more). For a mine death it reports how the ninja met the
mine, from its state on the frame before: in the air or on the ground (or a wall), moving towards
the mine from above, below or the side, its speed, and whether the mine was one the level's
mine-avoiding way keeps clear of from the spawn (``safe way``: the objective of
``ninjarl.env.objective`` existed around it). Then one summary line per category.

    python docs/generalization/failures.py RUN_DIR [SPEC ...]     # default SPEC: every category

RUN_DIR is a training run (its ``final/``) or a checkpoint directory.
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict

import numpy as np

from ninjarl.eval.levels import resolve_specs
from ninjarl.eval.run import evaluate_levels
from ninjarl.eval.video import simulate_frames, step_actions_to_frames
from ninjarl.nav import analyze_level
from ninjarl.nav.analysis import MINE_TYPES
from ninjarl.sim import build_level
from ninjarl.sim.layout import AIRBORN, VX, VY, WALLED, X, Y
from ninjarl.train import load_agent

CATEGORIES = ("simplest", "simpler", "simple", "medium", "complex", "mine_heavy", "exploration")
CELL = 24
SUB_CELL = 12
ACTION_NAMES = ("noop", "left", "right", "jump", "jump+left", "jump+right")


CONTACT = ("ground", "air", "wall")


def trace(level, frame_actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Ninja centre and speed per frame (start included), whether it was in the air (1), on a
    wall (2) or on the ground (0) per frame, and the first frame with the switch touched (-1:
    never)."""
    motion, contact = [], []
    touched = -1
    for f in simulate_frames(level, frame_actions):
        st = f.sim.state
        motion.append(st.ninja_f[0, [X, Y, VX, VY]].copy())
        contact.append(2 if st.ninja_i[0, WALLED] else int(st.ninja_i[0, AIRBORN] != 0))
        if touched < 0 and f.objective == "exit door":
            touched = f.frame
    return np.array(motion), np.array(contact), touched


def mine_encounter(level, motion: np.ndarray, contact: np.ndarray) -> dict:
    """How the ninja met the mine that killed it, from its state on the frame before the death:
    the mine nearest the ninja's centre, where it lay relative to the ninja's motion, the speed."""
    mines = np.array([(e.x, e.y) for e in level.map_data.entities if e.type in MINE_TYPES],
                     np.float64).reshape(-1, 2)
    before = motion[-2] if len(motion) > 1 else motion[-1]
    mine = mines[np.argmin(np.hypot(*(mines - before[:2]).T))] if len(mines) else before[:2]
    dx, dy = mine - before[:2]
    if abs(dy) > abs(dx):
        side = "below" if dy > 0 else "above"
    else:
        side = "side"
    state = CONTACT[int(contact[-2] if len(contact) > 1 else contact[-1])]
    return {"touch": f"{state}, mine {side}", "speed": float(np.hypot(*before[2:]))}


def path_distance(field: np.ndarray, xy: np.ndarray) -> float:
    sx = int(np.clip(xy[0] // SUB_CELL, 0, field.shape[0] - 1))
    sy = int(np.clip(xy[1] // SUB_CELL, 0, field.shape[1] - 1))
    return float(field[sx, sy])


def classify(episode, level, action_repeat: int) -> dict:
    motion, contact, touched = trace(level, step_actions_to_frames(episode.actions,
                                                                   action_repeat))
    positions = motion[:, :2]
    nav = analyze_level(level)
    field = nav.dist_to_exit if touched >= 0 else nav.dist_to_switch
    start = positions[touched] if touched >= 0 else positions[0]
    begin, end = path_distance(field, start), path_distance(field, positions[-1])
    covered = 1 - end / begin if np.isfinite(begin) and np.isfinite(end) and begin > 0 else np.nan
    row = {"category": episode.category, "level": episode.level_id, "outcome": episode.outcome,
           "cause": episode.death_cause, "switch": touched >= 0, "frames": len(positions) - 1,
           "covered": covered, "end": positions[-1]}
    if episode.outcome == "timeout":
        tail = positions[-max(len(positions) // 4, 2):]
        width, height = np.ptp(tail, axis=0) / CELL
        row["box"] = (width, height)
        row["kind"] = ("stuck" if max(width, height) <= 2 else
                       "wandering" if width >= 14 or height >= 8 else "looping")
        actions = episode.actions[-max(len(episode.actions) // 4, 1):]
        action, count = Counter(actions.tolist()).most_common(1)[0]
        row["action"] = f"{ACTION_NAMES[action]} {100 * count / len(actions):.0f}%"
    else:
        row["kind"] = episode.death_cause or episode.outcome
        if episode.death_cause == "mine":
            row.update(mine_encounter(level, motion, contact))
            safe = nav.safe_dist_to_exit if touched >= 0 else nav.safe_dist_to_switch
            plain = nav.dist_to_exit if touched >= 0 else nav.dist_to_switch
            row["safe_way"] = bool(np.isfinite(safe).any()
                                   and not np.array_equal(safe, plain, equal_nan=True))
    return row


def main() -> None:
    run, specs = sys.argv[1], sys.argv[2:] or list(CATEGORIES)
    model = load_agent(run, device="cpu")
    config = model.train_config
    levels = resolve_specs(specs)
    result = evaluate_levels(model, levels, config.env, config.frame_stack)
    by_id = {(lv.category, lv.level_id): build_level(lv.map_bytes, lv.level_id) for lv in levels}
    rows = [classify(e, by_id[(e.category, e.level_id)], config.env.action_repeat)
            for e in result.results if not e.won]
    print(f"{run}: {model.num_timesteps:,} steps, {len(rows)} failures of "
          f"{len(result.results)} episodes\n")
    print("| category | level | outcome | switch touched | path covered | frames | end (cells) "
          "| time-out: last quarter's box (cells), commonest action; mine death: the meeting |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        box = (f"{r['box'][0]:.1f} x {r['box'][1]:.1f}, {r['action']}" if "box" in r else
               f"{r['touch']}, {r['speed']:.1f} px/frame" if "touch" in r else "-")
        covered = "-" if np.isnan(r["covered"]) else f"{round(100 * r['covered']):d}%"
        print(f"| {r['category']} | {r['level']} | {r['kind']} | {'yes' if r['switch'] else 'no'} "
              f"| {covered} | {r['frames']} | ({r['end'][0] / CELL:.1f}, {r['end'][1] / CELL:.1f}) "
              f"| {box} |")
    print()
    grouped = defaultdict(list)
    for r in rows:
        grouped[r["category"]].append(r)
    for category, group in grouped.items():
        kinds = Counter(f"{r['kind']} ({'after' if r['switch'] else 'before'} the switch)"
                        for r in group)
        covered = [r["covered"] for r in group if not np.isnan(r["covered"])]
        print(f"- {category}: {len(group)} failures: "
              + ", ".join(f"{n} {k}" for k, n in kinds.most_common())
              + (f"; median path covered {100 * np.median(covered):.0f}%" if covered else ""))
        mine_deaths = [r for r in group if "touch" in r]
        if mine_deaths:
            touches = Counter(r["touch"] for r in mine_deaths)
            print("  - mine deaths: " + ", ".join(f"{n} {k}" for k, n in touches.most_common())
                  + f"; median speed {np.median([r['speed'] for r in mine_deaths]):.1f} px/frame"
                  + f"; median frame {np.median([r['frames'] for r in mine_deaths]):.0f}"
                  + f"; {sum(r['safe_way'] for r in mine_deaths)} with a mine-avoiding way "
                  "that differs from the plain one")


if __name__ == "__main__":
    main()
