"""ninjarl.nav — physics-aware navigation analysis of N++ levels.

Model (computed once per level, ~25 ms median on the bc levels):

* **Grid**: 88 x 50 sub-cells of 12 px, ``[sx, sy]``, centre ``(12*sx + 6, 12*sy + 6)``.
  A sub-cell is a *node* if one of 16 sample centres in it is outside solid tiles (pixel raster
  of the exact tile shapes) and at least 7.5 px from every tile surface (the ninja radius 10
  minus the 2.2 px sampling gap and slack: permissive on purpose).
* **Take-offs**: nodes with a tile surface below (floor) or a vertical face beside them (wall)
  within 13.5 px, entity platforms (one-way platforms, doors, bounce blocks, the travel of
  thwumps and shove thwumps) and launch / boost pads.
* **Movement**: from every take-off a search over 8-neighbour node moves restricted to the
  jump envelope *measured with the simulator* (:mod:`ninjarl.nav.envelope`): per relative row
  a maximum horizontal offset; rows above the take-off are limited by the measured rise
  (flat floor / wall: 77 px, 8 rows with margin; floors next to slopes/curves and bounce blocks:
  156 px, 14 rows; pads: 248 px, 22 rows, unbounded width); more than 10 rows below the take-off
  only falls continue (down, or down-and-sideways).  Walking, running, sliding, falls with air
  control and repeated wall jumps (each wall node is a new take-off) all arise from this.
  Locked doors block moves across their segment until their switch is reachable (fixpoint;
  the distances are also kept with every locked door closed, for the environment's objective);
  trap doors are treated as open (sound), regular doors as passable.
* **Distances**: exact shortest paths over the graph of take-offs (edge = in-envelope path
  length in px), extended to airborne sub-cells by a reverse Dijkstra over the moves the
  searches used. A second set keeps clear of live mines (sub-cells within contact of one are
  off limits) wherever the level allows it: the environment's objective follows those.

See :class:`LevelNav` for every result field, :func:`build_graph` for the GNN observation.
"""
from .analysis import LevelNav, analyze_level, level_analysis, stack_navs, sub_cell
from .envelope import ENVELOPE_NOTES, measure_envelopes
from .graph import build_graph, graph_spec, objective_feature_index

__all__ = ["ENVELOPE_NOTES", "LevelNav", "analyze_level", "build_graph", "graph_spec",
           "level_analysis", "measure_envelopes", "objective_feature_index", "stack_navs", "sub_cell"]
