"""Fixed-size graph observation of a level for graph neural networks.

Resolution: one graph node per 24-px tile cell of the playable area (42 x 23 = 966 cells),
a cell being a node when any of its four 12-px sub-cells is a navigation node. The full 12-px
grid (4400 sub-cells, up to ~35k edges) would not fit in 200 KB with useful features; at 24 px
the graph keeps every corridor the ninja fits through (the ninja is 20 px wide) and the
per-cell features carry the finer sub-cell facts (floor/wall fractions, min distances).

Sizes (bytes) returned by :func:`graph_spec`:
  node_features float32 [966, 16]  = 61,824
  node_mask     uint8   [966]       =    966
  edge_index    int32   [2, 7728]   = 61,824   (8 directed edges per cell at most)
  edge_mask     uint8   [7728]      =  7,728
  edge_features float32 [7728, 2]   = 61,824
  total                             = 194,166 (< 200 KB)

The distance features (``dist_switch``, ``dist_exit``, ``dist_objective``) are the
navigation's ways clear of mines where the level allows (``safe_dist_to_*``), the fields the
shaping and the vector observations follow (``ninjarl.env.objective``) with every locked door
that the level can open taken as open: the graph is built once per level.
"""
from __future__ import annotations

import numpy as np

from ninjarl.sim.level import Level

from .analysis import LevelNav

GW, GH = 42, 23
MAX_NODES = GW * GH
MAX_EDGES = 8 * MAX_NODES
N_NODE_FEATURES = 16
N_EDGE_FEATURES = 2
DIST_NORM = 2000.0                      # px; normalised distances are min(d / DIST_NORM, 1)
SWITCH_DIST_FEATURE = 13
EXIT_DIST_FEATURE = 14
#: feature holding the distance to the *current* objective: equal to SWITCH_DIST_FEATURE at
#: reset; the environment copies column EXIT_DIST_FEATURE into it once the switch is hit.
objective_feature_index = 15
NODE_FEATURE_NAMES = (
    "x", "y", "blocked_frac", "ground_frac", "wall_left", "wall_right", "launch_kind",
    "reachable", "mine_near", "switch", "exit", "locked_door", "pad", "dist_switch",
    "dist_exit", "dist_objective")
EDGE_FEATURE_NAMES = ("dy", "dx")
_DIRS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))


def graph_spec() -> dict:
    """Shapes, dtypes and byte sizes of the arrays :func:`build_graph` returns."""
    spec = {
        "node_features": ((MAX_NODES, N_NODE_FEATURES), np.float32),
        "node_mask": ((MAX_NODES,), np.uint8),
        "edge_index": ((2, MAX_EDGES), np.int32),
        "edge_mask": ((MAX_EDGES,), np.uint8),
        "edge_features": ((MAX_EDGES, N_EDGE_FEATURES), np.float32),
    }
    out = {k: {"shape": s, "dtype": np.dtype(d).name, "bytes": int(np.prod(s)) * np.dtype(d).itemsize}
           for k, (s, d) in spec.items()}
    out["total_bytes"] = sum(v["bytes"] for v in out.values() if isinstance(v, dict))
    out["objective_feature_index"] = objective_feature_index
    out["node_feature_names"] = NODE_FEATURE_NAMES
    out["edge_feature_names"] = EDGE_FEATURE_NAMES
    return out


def _cells(a: np.ndarray, how: str) -> np.ndarray:
    """[88, 50] sub-cell grid -> [42, 23] playable cells (2x2 reduction, border dropped)."""
    b = a.reshape(44, 2, 25, 2)[1:43, :, 1:24, :]
    return getattr(b, how)(axis=(1, 3))


def build_graph(nav: LevelNav, level: Level) -> dict[str, np.ndarray]:
    """Padded graph of one level; node i is playable cell (i // 23, i % 23) = full-grid cell
    (i // 23 + 1, i % 23 + 1). Padding rows are zero and masked out."""
    node = _cells(nav.node, "any")
    feats = np.zeros((GW, GH, N_NODE_FEATURES), np.float32)
    cx = (np.arange(GW) + 1) * 24 + 12
    cy = (np.arange(GH) + 1) * 24 + 12
    feats[..., 0] = (cx / 1056.0)[:, None]
    feats[..., 1] = (cy / 600.0)[None, :]
    feats[..., 2] = 1.0 - _cells(nav.node.astype(np.float32), "mean")
    feats[..., 3] = _cells(nav.ground.astype(np.float32), "mean")
    feats[..., 4] = _cells((nav.wall & 1).astype(np.float32), "max")
    feats[..., 5] = _cells(((nav.wall >> 1) & 1).astype(np.float32), "max")
    feats[..., 6] = _cells(nav.launch_kind.astype(np.float32), "max") / 3.0
    feats[..., 7] = _cells(nav.reachable & nav.node, "any")
    feats[..., 8] = np.clip(1.0 - _cells(nav.mine_dist, "min") / 48.0, 0.0, 1.0)
    feats[..., 9] = _cells(nav.switch_mask, "any")
    feats[..., 10] = _cells(nav.exit_mask, "any")
    for e in level.map_data.entities:
        for (x, y), col in (((e.x, e.y), 11 if e.type in (5, 6, 8) else 12 if e.type in (10, 24) else -1),
                            ((e.switch_x, e.switch_y), 11 if e.type in (6, 8) else -1)):
            if col < 0:
                continue
            i, k = int(x // 24) - 1, int(y // 24) - 1
            if 0 <= i < GW and 0 <= k < GH:
                feats[i, k, col] = 1.0
    for col, d in ((SWITCH_DIST_FEATURE, nav.safe_dist_to_switch),
                   (EXIT_DIST_FEATURE, nav.safe_dist_to_exit)):
        dm = _cells(d.astype(np.float64), "min")
        feats[..., col] = np.minimum(np.where(np.isfinite(dm), dm / DIST_NORM, 1.0), 1.0)
    feats[..., objective_feature_index] = feats[..., SWITCH_DIST_FEATURE]
    feats[~node] = 0.0

    node_features = feats.reshape(MAX_NODES, N_NODE_FEATURES)
    node_mask = node.reshape(MAX_NODES).astype(np.uint8)
    src, dst, ef = [], [], []
    ii, kk = np.nonzero(node)
    for dx, dy in _DIRS:
        i2, k2 = ii + dx, kk + dy
        ok = (i2 >= 0) & (i2 < GW) & (k2 >= 0) & (k2 < GH)
        ok[ok] &= node[i2[ok], k2[ok]]
        src.append(ii[ok] * GH + kk[ok])
        dst.append(i2[ok] * GH + k2[ok])
        ef.append(np.tile(np.array([[dy, dx]], np.float32), (int(ok.sum()), 1)))
    src = np.concatenate(src)
    dst = np.concatenate(dst)
    ef = np.concatenate(ef)
    n_e = len(src)
    edge_index = np.zeros((2, MAX_EDGES), np.int32)
    edge_index[0, :n_e] = src
    edge_index[1, :n_e] = dst
    edge_mask = np.zeros(MAX_EDGES, np.uint8)
    edge_mask[:n_e] = 1
    edge_features = np.zeros((MAX_EDGES, N_EDGE_FEATURES), np.float32)
    edge_features[:n_e] = ef
    return {"node_features": node_features, "node_mask": node_mask, "edge_index": edge_index,
            "edge_mask": edge_mask, "edge_features": edge_features}
