"""Compiled load-time kernels of the navigation analysis (plain cached njit, may allocate)."""
from __future__ import annotations

import math

import numba
import numpy as np

from ninjarl.sim._jit import jit

#: the navigation grid: 88 x 50 sub-cells of 12 px (half a tile) over the 1056 x 600 px world
NX, NY = 88, 50
SUB = 12.0
# 8 neighbour moves: dx, dy, cost in px
MOVE_DX = np.array([1, -1, 0, 0, 1, -1, 1, -1], np.int64)
MOVE_DY = np.array([0, 0, 1, -1, 1, 1, -1, -1], np.int64)
MOVE_COST = np.array([12.0, 12.0, 12.0, 12.0] + [12.0 * math.sqrt(2.0)] * 4)

njit = numba.njit(cache=True)


@jit
def sub_cell(x, y):
    """Sub-cell (sx, sy) of a point in px, clamped to the grid (callable from compiled code
    of every layer above, and from Python)."""
    sx = min(max(int(math.floor(x / SUB)), 0), NX - 1)
    sy = min(max(int(math.floor(y / SUB)), 0), NY - 1)
    return sx, sy


def sub_cells(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sub_cell` of arrays of points (int64 index arrays)."""
    sx = np.clip(np.floor(x / SUB).astype(np.int64), 0, NX - 1)
    sy = np.clip(np.floor(y / SUB).astype(np.int64), 0, NY - 1)
    return sx, sy


# ---- binary min-heap of (float key, int value) in two preallocated arrays (Dijkstra) ----

@njit
def _heap_push(hk, hv, hn, key, value):
    """Push (key, value) onto the heap of ``hn`` entries; returns the new size."""
    hk[hn] = key
    hv[hn] = value
    c = hn
    while c > 0:
        p = (c - 1) // 2
        if hk[p] <= hk[c]:
            break
        hk[p], hk[c] = hk[c], hk[p]
        hv[p], hv[c] = hv[c], hv[p]
        c = p
    return hn + 1


@njit
def _heap_pop(hk, hv, hn):
    """Remove the smallest key of the heap of ``hn`` entries: (key, value, new size)."""
    k, v = hk[0], hv[0]
    hn -= 1
    hk[0], hv[0] = hk[hn], hv[hn]
    c = 0
    while True:
        left = 2 * c + 1
        if left >= hn:
            break
        right = left + 1
        m = left if (right >= hn or hk[left] <= hk[right]) else right
        if hk[c] <= hk[m]:
            break
        hk[c], hk[m] = hk[m], hk[c]
        hv[c], hv[m] = hv[m], hv[c]
        c = m
    return k, v, hn


@njit
def _seg_closest(seg_f, seg_i, s, x, y):
    """Closest point of segment s to (x, y) (spec 4.1/4.2, back faces not excluded)."""
    if seg_i[s, 0] == 1:                              # arc
        cx, cy, hor, ver = seg_f[s, 0], seg_f[s, 1], seg_f[s, 2], seg_f[s, 3]
        dx, dy = x - cx, y - cy
        if dx * hor > 0 and dy * ver > 0:
            d = math.sqrt(dx * dx + dy * dy)
            if d > 0:
                return cx + 24 * dx / d, cy + 24 * dy / d
        if dx * hor > dy * ver:
            return cx + 24 * hor, cy
        return cx, cy + 24 * ver
    x1, y1, px, py, lensq = seg_f[s, 0], seg_f[s, 1], seg_f[s, 4], seg_f[s, 5], seg_f[s, 6]
    u = ((x - x1) * px + (y - y1) * py) / lensq
    u = min(max(u, 0.0), 1.0)
    return x1 + u * px, y1 + u * py


@njit
def classify(solid, seg_f, seg_i, cell_seg, clear_thr, contact_thr):
    """Per sub-cell: node (a centre with clearance >= clear_thr exists among 4x4 samples),
    ground (such a sample has a tile surface below it within contact_thr), wall_l / wall_r
    (a vertical tile face left / right of such a sample within contact_thr), curved (a diagonal
    or arc surface within contact_thr + 12)."""
    node = np.zeros((NX, NY), np.bool_)
    ground = np.zeros((NX, NY), np.bool_)
    wall_l = np.zeros((NX, NY), np.bool_)
    wall_r = np.zeros((NX, NY), np.bool_)
    curved = np.zeros((NX, NY), np.bool_)
    for sx in range(NX):
        for sy in range(NY):
            for i in range(4):
                for k in range(4):
                    x = sx * 12.0 + 1.5 + 3.0 * i
                    y = sy * 12.0 + 1.5 + 3.0 * k
                    if solid[int(x), int(y)]:
                        continue
                    cx0, cy0 = int(x // 24), int(y // 24)
                    best = 1e9
                    g = False
                    wl = False
                    wr = False
                    cv = False
                    for cx in range(max(cx0 - 1, 0), min(cx0 + 2, 45)):
                        for cy in range(max(cy0 - 1, 0), min(cy0 + 2, 26)):
                            st, n = cell_seg[cx, cy, 0], cell_seg[cx, cy, 1]
                            for s in range(st, st + n):
                                if seg_i[s, 2] >= 0:          # door segment
                                    continue
                                a, b = _seg_closest(seg_f, seg_i, s, x, y)
                                d = math.sqrt((x - a) ** 2 + (y - b) ** 2)
                                if d < best:
                                    best = d
                                if d <= contact_thr:
                                    if b > y + 1e-9:
                                        g = True
                                    # walls: vertical tile faces only (the simulator's wall
                                    # test needs a closest point level with the centre)
                                    if seg_i[s, 0] == 0 and seg_f[s, 4] == 0.0 and \
                                            abs(b - y) < 7.5:
                                        if a < x:
                                            wl = True
                                        else:
                                            wr = True
                                if d <= contact_thr + 12.0 and b > y:
                                    if seg_i[s, 0] == 1 or (seg_f[s, 4] != 0.0 and seg_f[s, 5] != 0.0):
                                        cv = True
                    if best >= clear_thr:
                        node[sx, sy] = True
                        if g:
                            ground[sx, sy] = True
                        if wl:
                            wall_l[sx, sy] = True
                        if wr:
                            wall_r[sx, sy] = True
                        if cv:
                            curved[sx, sy] = True
    return node, ground, wall_l, wall_r, curved


@njit
def door_blocks(doors, move_dx, move_dy):
    """blocked[sx, sy, m] = index of the first door whose segment the centre-to-centre move m
    crosses, else -1.  doors: float64 [D, 4] segments (x1, y1, x2, y2)."""
    out = np.full((NX, NY, 8), -1, np.int64)
    for d in range(doors.shape[0]):
        x1, y1, x2, y2 = doors[d, 0], doors[d, 1], doors[d, 2], doors[d, 3]
        ex, ey = x2 - x1, y2 - y1
        ln = math.sqrt(ex * ex + ey * ey)
        ux, uy = ex / ln, ey / ln
        # extend each end by 6 px
        x1 -= 6 * ux
        y1 -= 6 * uy
        ex += 12 * ux
        ey += 12 * uy
        lo_x = int(max(min(x1, x1 + ex) // 12 - 2, 0))
        hi_x = int(min(max(x1, x1 + ex) // 12 + 2, NX - 1))
        lo_y = int(max(min(y1, y1 + ey) // 12 - 2, 0))
        hi_y = int(min(max(y1, y1 + ey) // 12 + 2, NY - 1))
        for sx in range(lo_x, hi_x + 1):
            for sy in range(lo_y, hi_y + 1):
                ax, ay = sx * 12.0 + 6.0, sy * 12.0 + 6.0
                for m in range(8):
                    bx, by = ax + 12.0 * move_dx[m], ay + 12.0 * move_dy[m]
                    s1 = (ax - x1) * ey - (ay - y1) * ex
                    s2 = (bx - x1) * ey - (by - y1) * ex
                    if s1 == 0.0:
                        s1 = 1.0
                    if s2 == 0.0:
                        s2 = 1.0
                    if (s1 > 0) == (s2 > 0):
                        continue
                    # crossing point of the move with the door line, as a fraction of the door
                    t = s1 / (s1 - s2)
                    cx, cy = ax + t * (bx - ax), ay + t * (by - ay)
                    u = ((cx - x1) * ex + (cy - y1) * ey) / (ex * ex + ey * ey)
                    if 0.0 <= u <= 1.0 and out[sx, sy, m] < 0:
                        out[sx, sy, m] = d
    return out


@njit
def region_bfs(node, blocked, door_open, hw, row_off, fall_depth, lx, ly,
               move_dx, move_dy, move_cost, stamp, stamp_id, qx, qy, dist, emask, record):
    """Search of one take-off: from (lx, ly), 8-neighbour moves through nodes whose offset lies
    in the envelope (|dx| <= hw[dy + row_off]); below fall_depth rows only falls (down, down
    +-1 sideways).  Returns the number of visited sub-cells, listed in qx/qy with the path length
    in px in dist[sx, sy] (valid where stamp == stamp_id)."""
    head = 0
    tail = 1
    qx[0] = lx
    qy[0] = ly
    stamp[lx, ly] = stamp_id
    dist[lx, ly] = 0.0
    while head < tail:
        ax, ay = qx[head], qy[head]
        head += 1
        rel_a = ay - ly
        for m in range(8):
            bx, by = ax + move_dx[m], ay + move_dy[m]
            if bx < 0 or bx >= NX or by < 0 or by >= NY:
                continue
            if not node[bx, by]:
                continue
            rel = by - ly
            if rel_a >= fall_depth:
                if move_dy[m] != 1:
                    continue
            else:
                k = rel + row_off
                if k < 0 or k >= hw.shape[0]:
                    continue
                w = hw[k]
                if w < 0 or abs(bx - lx) > w:
                    continue
            d = blocked[ax, ay, m]
            if d >= 0 and not door_open[d]:
                continue
            if record:
                emask[ax, ay] |= np.uint8(1 << m)
            if stamp[bx, by] == stamp_id:
                continue
            stamp[bx, by] = stamp_id
            dist[bx, by] = dist[ax, ay] + move_cost[m]
            qx[tail] = bx
            qy[tail] = by
            tail += 1
    return tail


@njit
def launch_graph(node, kind, blocked, door_open, env, row_off, fall_depth, launch_ids,
                 move_dx, move_dy, move_cost, only_from, spawn_x, spawn_y):
    """Run the take-off search from every launch sub-cell (kind > 0).

    Returns (reach, cells_x, cells_y, cells_d, offsets): when only_from is True the searches
    start at the spawn and are chained through the launches they visit (reachability); otherwise
    every launch is searched and the visited lists are returned (offsets[i]:offsets[i+1] for
    launch i in launch_ids order), used for distances.
    """
    n_launch = launch_ids.shape[0]
    lid = np.full((NX, NY), -1, np.int64)
    for i in range(n_launch):
        lid[launch_ids[i, 0], launch_ids[i, 1]] = i
    stamp = np.zeros((NX, NY), np.int64)
    dist = np.zeros((NX, NY), np.float64)
    qx = np.zeros(NX * NY, np.int64)
    qy = np.zeros(NX * NY, np.int64)
    reach = np.zeros((NX, NY), np.bool_)
    emask = np.zeros((NX, NY), np.uint8)
    cap = 1 << 16
    cx = np.zeros(cap, np.int16)
    cy = np.zeros(cap, np.int16)
    cd = np.zeros(cap, np.float32)
    offsets = np.zeros(n_launch + 2, np.int64)
    used = 0
    sid = 0
    if only_from:
        done = np.zeros(n_launch, np.bool_)
        wn = 0
        # the spawn: searched with the envelope of its own kind (normal if in the air)
        starts_x = np.zeros(n_launch + 1, np.int64)
        starts_y = np.zeros(n_launch + 1, np.int64)
        starts_k = np.zeros(n_launch + 1, np.int64)
        starts_x[0] = spawn_x
        starts_y[0] = spawn_y
        starts_k[0] = max(kind[spawn_x, spawn_y], 1)
        wn = 1
        if lid[spawn_x, spawn_y] >= 0:
            done[lid[spawn_x, spawn_y]] = True
        w = 0
        while w < wn:
            sx0, sy0, k0 = starts_x[w], starts_y[w], starts_k[w]
            w += 1
            sid += 1
            n = region_bfs(node, blocked, door_open, env[k0], row_off, fall_depth, sx0, sy0,
                           move_dx, move_dy, move_cost, stamp, sid, qx, qy, dist, emask, True)
            for q in range(n):
                bx, by = qx[q], qy[q]
                reach[bx, by] = True
                li = lid[bx, by]
                if li >= 0 and not done[li]:
                    done[li] = True
                    starts_x[wn] = bx
                    starts_y[wn] = by
                    starts_k[wn] = kind[bx, by]
                    wn += 1
        return reach, emask, cx[:0], cy[:0], cd[:0], offsets
    for i in range(n_launch):
        sx0, sy0 = launch_ids[i, 0], launch_ids[i, 1]
        sid += 1
        n = region_bfs(node, blocked, door_open, env[kind[sx0, sy0]], row_off, fall_depth, sx0, sy0,
                       move_dx, move_dy, move_cost, stamp, sid, qx, qy, dist, emask, False)
        if used + n > cap:
            while used + n > cap:
                cap *= 2
            ncx = np.zeros(cap, np.int16)
            ncy = np.zeros(cap, np.int16)
            ncd = np.zeros(cap, np.float32)
            ncx[:used] = cx[:used]
            ncy[:used] = cy[:used]
            ncd[:used] = cd[:used]
            cx, cy, cd = ncx, ncy, ncd
        for q in range(n):
            cx[used + q] = qx[q]
            cy[used + q] = qy[q]
            cd[used + q] = dist[qx[q], qy[q]]
        used += n
        offsets[i + 1] = used
    return reach, emask, cx[:used], cy[:used], cd[:used], offsets


@njit
def launch_distances(launch_ids, cells_x, cells_y, cells_d, offsets, target):
    """Reverse Dijkstra over the launch graph, then per-sub-cell distances.

    D(L) = min(min over targets t in V_L of d_L(t), min over launches L' in V_L of
    d_L(L') + D(L')).  A sub-cell c then gets min over launches L whose search visited c of
    max(D(L) - d_L(c), 0) if the best route of L leaves through c's side of the search, i.e. the
    remaining length along L's route (an optimistic estimate for sub-cells off the route);
    take-off and target sub-cells get their exact value.
    """
    n = launch_ids.shape[0]
    lid = np.full((NX, NY), -1, np.int64)
    for i in range(n):
        lid[launch_ids[i, 0], launch_ids[i, 1]] = i
    inf = np.inf
    D = np.full(n, inf)
    # reverse adjacency: for each launch L' the list of (L, w)
    cnt = np.zeros(n + 1, np.int64)
    for i in range(n):
        for q in range(offsets[i], offsets[i + 1]):
            j = lid[cells_x[q], cells_y[q]]
            if j >= 0 and j != i:
                cnt[j + 1] += 1
    for j in range(n):
        cnt[j + 1] += cnt[j]
    rev_src = np.zeros(cnt[n], np.int64)
    rev_w = np.zeros(cnt[n], np.float64)
    fill = cnt[:n].copy()
    for i in range(n):
        tbest = inf
        for q in range(offsets[i], offsets[i + 1]):
            x, y = cells_x[q], cells_y[q]
            if target[x, y] and cells_d[q] < tbest:
                tbest = cells_d[q]
            j = lid[x, y]
            if j >= 0 and j != i:
                rev_src[fill[j]] = i
                rev_w[fill[j]] = cells_d[q]
                fill[j] += 1
        D[i] = tbest
    # binary heap Dijkstra (lazy deletion)
    hk = np.zeros(cnt[n] + n + 1, np.float64)
    hv = np.zeros(cnt[n] + n + 1, np.int64)
    hn = 0
    for i in range(n):
        if D[i] < inf:
            hn = _heap_push(hk, hv, hn, D[i], i)
    while hn > 0:
        k, v, hn = _heap_pop(hk, hv, hn)
        if k > D[v]:
            continue
        for e in range(cnt[v], cnt[v + 1]):
            u = rev_src[e]
            nk = k + rev_w[e]
            if nk < D[u]:
                D[u] = nk
                hn = _heap_push(hk, hv, hn, nk, u)
    return D


@njit
def grid_distances(launch_ids, D, target, emask, move_dx, move_dy, move_cost):
    """Reverse Dijkstra on the recorded move edges, seeded with 0 at targets and the exact
    launch-graph value D at take-off sub-cells (which are never relaxed further)."""
    inf = np.inf
    out = np.full((NX, NY), inf)
    fixed = np.zeros((NX, NY), np.bool_)
    cap = NX * NY * 9 + 16
    hk = np.zeros(cap, np.float64)
    hv = np.zeros(cap, np.int64)            # sub-cell x * NY + y
    hn = 0
    for i in range(launch_ids.shape[0]):
        x, y = launch_ids[i, 0], launch_ids[i, 1]
        fixed[x, y] = True
        out[x, y] = D[i]
    for x in range(NX):
        for y in range(NY):
            if target[x, y]:
                out[x, y] = 0.0
                fixed[x, y] = True
    for x in range(NX):
        for y in range(NY):
            if out[x, y] < inf:
                hn = _heap_push(hk, hv, hn, out[x, y], x * NY + y)
    while hn > 0:
        k, v, hn = _heap_pop(hk, hv, hn)
        bx, by = v // NY, v % NY
        if k > out[bx, by]:
            continue
        for m in range(8):
            ax, ay = bx - move_dx[m], by - move_dy[m]
            if ax < 0 or ax >= NX or ay < 0 or ay >= NY or fixed[ax, ay]:
                continue
            if not (emask[ax, ay] >> m) & 1:
                continue
            nk = k + move_cost[m]
            if nk < out[ax, ay] and hn < cap:
                out[ax, ay] = nk
                hn = _heap_push(hk, hv, hn, nk, ax * NY + ay)
    return out
