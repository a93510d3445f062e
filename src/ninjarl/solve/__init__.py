"""ninjarl.solve — a planner that finds winning input sequences by searching the simulator.

    from ninjarl.solve import solve_level
    result = solve_level("tests/data/maps/test/simple-walk")
    result.solved, result.inputs        # one input byte per frame, verified to win
"""
from .batch import solve_levels
from .planner import PlannerConfig, SolveResult, solve_level

__all__ = ["PlannerConfig", "SolveResult", "solve_level", "solve_levels"]
