"""Graph encoders over the padded graph observation (``graph_*`` keys), in plain torch.

Why not torch_geometric: the environment already hands over fixed-size padded arrays
(``graph_node_features [B, 966, 16]``, ``graph_edge_index [B, 2, 7728]`` plus masks), so a
batch is one dense tensor per key and needs none of PyG's ragged ``Batch`` collation. The two
layers needed here (masked mean aggregation and graph attention) are a few dozen lines of
``index_select`` / ``index_add_`` / ``scatter_reduce``; writing them out avoids a large
compiled dependency whose wheels must match the exact torch build (we pin the CPU build of
torch 2.13) and keeps the model picklable by SB3 with nothing beyond torch.

A batch is compacted into one disjoint graph of only the real nodes (``node_mask = 1``) and
real edges (``edge_mask = 1``): levels use between 5 and 966 of the 966 node slots and up to
~7,300 of the 7,728 edge slots, so the work scales with the level, not the padding. Messages
flow along ``edge_index[0] -> edge_index[1]`` (source to destination; the level graph holds
both directions). Pooling is a masked mean and max over each sample's real nodes.

Cost on CPU is dominated by per-node and per-edge work: a batch of 256 open levels (966 nodes,
~7,300 edges each) is ~250k nodes and ~1.9M edges, hence the narrow default width (32).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

CONVS = ("mean", "attention")


@dataclass
class FlatGraph:
    """A padded batch compacted into one graph of its real nodes and edges."""
    x: torch.Tensor            # [V, F] features of the real nodes
    graph: torch.Tensor        # [V] long, sample index of each node
    src: torch.Tensor          # [E] long, compact index of each real edge's source node
    dst: torch.Tensor          # [E] long, compact index of its destination node
    edge_attr: torch.Tensor    # [E, Fe] edge features
    in_degree: torch.Tensor    # [V, 1] float, real incoming edges per node
    batch_size: int

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]


def flatten_graph(obs: dict[str, torch.Tensor]) -> FlatGraph:
    """Compact SB3-preprocessed (float) padded graph arrays into a :class:`FlatGraph`.

    Edges touching a padding node are dropped along with the masked ones."""
    x = obs["graph_node_features"]
    b, n, _ = x.shape
    node_ok = (obs["graph_node_mask"] > 0.5).reshape(b * n)
    real = torch.nonzero(node_ok, as_tuple=True)[0]
    compact = torch.full((b * n,), -1, dtype=torch.long, device=x.device)
    compact[real] = torch.arange(real.shape[0], device=x.device)

    edge_index = obs["graph_edge_index"].long()               # floats after preprocess_obs
    eb, ee = torch.nonzero(obs["graph_edge_mask"] > 0.5, as_tuple=True)
    src = compact[edge_index[eb, 0, ee].clamp(0, n - 1) + eb * n]
    dst = compact[edge_index[eb, 1, ee].clamp(0, n - 1) + eb * n]
    keep = (src >= 0) & (dst >= 0)
    src, dst = src[keep], dst[keep]
    edge_attr = obs["graph_edge_features"][eb[keep], ee[keep]]

    in_degree = torch.zeros(real.shape[0], 1, dtype=x.dtype, device=x.device)
    in_degree.index_add_(0, dst, torch.ones(dst.shape[0], 1, dtype=x.dtype, device=x.device))
    return FlatGraph(x.reshape(b * n, -1)[real], real // n, src, dst, edge_attr, in_degree, b)


class MeanConv(nn.Module):
    """GCN-style layer with masked mean aggregation (GraphSAGE-mean with edge features):

    ``h_i' = ReLU(W_self h_i + W_nb mean_{j->i} h_j + W_edge mean_{j->i} e_ji)``

    ``W_nb`` is applied per node before the gather and ``W_edge`` to the per-node mean of the
    edge features (both are linear), so the only per-edge work is one gather and one add.
    """

    def __init__(self, hidden: int, edge_features: int):
        super().__init__()
        self.self_lin = nn.Linear(hidden, hidden)
        self.nb_lin = nn.Linear(hidden, hidden, bias=False)
        self.edge_lin = nn.Linear(edge_features, hidden, bias=False)

    def forward(self, h: torch.Tensor, g: FlatGraph, cache: dict) -> torch.Tensor:
        if "edge_mean" not in cache:
            e_sum = torch.zeros(g.num_nodes, g.edge_attr.shape[1], dtype=h.dtype, device=h.device)
            cache["edge_mean"] = e_sum.index_add_(0, g.dst, g.edge_attr) / g.in_degree.clamp(min=1)
        msg = self.nb_lin(h).index_select(0, g.src)
        agg = torch.zeros_like(h).index_add_(0, g.dst, msg) / g.in_degree.clamp(min=1)
        return F.relu(self.self_lin(h) + agg + self.edge_lin(cache["edge_mean"]))


class AttentionConv(nn.Module):
    """Graph attention layer (GATv1, Velickovic et al. 2018) with edge features and a self term:

    ``z = W h``; per head ``a_ji = LeakyReLU(att_src . z_j + att_dst . z_i + att_edge . e_ji)``;
    ``alpha_ji = softmax_j(a_ji)`` over the real incoming edges of ``i`` (masked softmax,
    shifted by a per-node max for stability);
    ``h_i' = ReLU(W_self h_i + concat_heads sum_j alpha_ji z_j)``.
    """

    def __init__(self, hidden: int, edge_features: int, heads: int, negative_slope: float = 0.2):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"graph_hidden ({hidden}) must be divisible by graph_heads ({heads})")
        self.heads, self.head_dim = heads, hidden // heads
        self.lin = nn.Linear(hidden, hidden, bias=False)
        self.self_lin = nn.Linear(hidden, hidden)
        self.att_src = nn.Parameter(torch.empty(heads, self.head_dim))
        self.att_dst = nn.Parameter(torch.empty(heads, self.head_dim))
        self.att_edge = nn.Linear(edge_features, heads, bias=False)
        self.negative_slope = negative_slope
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)

    def forward(self, h: torch.Tensor, g: FlatGraph, cache: dict) -> torch.Tensor:
        n, heads = g.num_nodes, self.heads
        z = self.lin(h).view(n, heads, self.head_dim)
        score_src = (z * self.att_src).sum(-1)                         # [V, heads]
        score_dst = (z * self.att_dst).sum(-1)
        logits = F.leaky_relu(score_src[g.src] + score_dst[g.dst] + self.att_edge(g.edge_attr),
                              self.negative_slope)                     # [E, heads]
        index = g.dst[:, None].expand_as(logits)
        node_max = torch.full((n, heads), float("-inf"), dtype=h.dtype, device=h.device)
        node_max = node_max.scatter_reduce(0, index, logits.detach(), reduce="amax")
        weights = torch.exp(logits - node_max[g.dst])
        denom = torch.zeros(n, heads, dtype=h.dtype, device=h.device).index_add(0, g.dst, weights)
        alpha = weights / denom[g.dst]                                 # [E, heads]
        msg = z.index_select(0, g.src) * alpha[:, :, None]             # [E, heads, head_dim]
        agg = torch.zeros_like(z).index_add_(0, g.dst, msg)
        return F.relu(self.self_lin(h) + agg.reshape(n, -1))


class GraphEncoder(nn.Module):
    """Input projection, ``layers`` residual message-passing layers, masked mean + max pooling
    per sample and a Linear+ReLU: padded graph arrays -> ``[B, out_features]``."""

    def __init__(self, node_features: int, edge_features: int, conv: str = "mean",
                 hidden: int = 32, layers: int = 2, heads: int = 4, out_features: int = 128):
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"graph conv must be one of {CONVS}, got {conv!r}")
        self.conv = conv
        self.input = nn.Sequential(nn.Linear(node_features, hidden), nn.ReLU())
        self.layers = nn.ModuleList(
            MeanConv(hidden, edge_features) if conv == "mean"
            else AttentionConv(hidden, edge_features, heads) for _ in range(layers))
        self.output = nn.Sequential(nn.Linear(2 * hidden, out_features), nn.ReLU())
        self.out_features = out_features

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        g = flatten_graph(obs)
        h = self.input(g.x)
        cache: dict = {}
        for layer in self.layers:
            h = h + layer(h, g, cache)
        return self.output(masked_mean_max(h, g))


def masked_mean_max(h: torch.Tensor, g: FlatGraph) -> torch.Tensor:
    """Concatenated mean and max over each sample's real nodes: [V, H] -> [B, 2H].
    A sample without real nodes pools to zeros."""
    b, width = g.batch_size, h.shape[1]
    count = torch.zeros(b, 1, dtype=h.dtype, device=h.device)
    count.index_add_(0, g.graph, torch.ones(h.shape[0], 1, dtype=h.dtype, device=h.device))
    total = torch.zeros(b, width, dtype=h.dtype, device=h.device).index_add(0, g.graph, h)
    mean = total / count.clamp(min=1)
    index = g.graph[:, None].expand_as(h)
    mx = torch.full((b, width), float("-inf"), dtype=h.dtype, device=h.device)
    mx = mx.scatter_reduce(0, index, h, reduce="amax")
    mx = torch.where(count > 0, mx, torch.zeros_like(mx))
    return torch.cat([mean, mx], dim=1)
