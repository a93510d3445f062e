"""The architecture registry: which observation keys each policy network reads, and its sizes.

Every architecture is one :class:`Architecture` record in :data:`ARCHITECTURES`; the network
itself is always :class:`~ninjarl.models.extractors.NinjaExtractor`, which builds one encoder
branch per observation key and concatenates their outputs (concatenation fusion), followed by
SB3's separate policy and value MLPs (``net_arch``).

``observation_keys`` are :class:`~ninjarl.env.EnvConfig` observation names, so
``arch.env_config()`` computes exactly what the network reads;
``"graph"`` stands for the five padded ``graph_*`` arrays (:func:`space_keys`).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..env.config import GLOBAL_VIEW_SCALES, OBSERVATION_KEYS, EnvConfig, space_keys
from .graph import CONVS

#: An image CNN: (out_channels, kernel, stride, padding) per conv layer, each followed by ReLU.
ConvSpec = tuple[tuple[int, int, int, int], ...]

#: The Nature-DQN-like CNNs of the first image architectures (~10.4 MFLOP per sample for both
#: views): 84x84 -> 20 -> 9 -> 7 (x32 channels); 100x176 -> 24x43 -> 11x20 -> 5x9.
NATURE_PLAYER_CNN: ConvSpec = ((16, 8, 4, 0), (32, 4, 2, 0), (32, 3, 1, 0))
NATURE_GLOBAL_CNN: ConvSpec = ((16, 8, 4, 0), (32, 4, 2, 0), (32, 3, 2, 0))
#: Lean CNNs (0.45 MFLOP per sample for the whole mlp_fast policy, 23x fewer than mlp_baseline):
#: the first layer cuts the view into non-overlapping patches (6x6 px of the 1-px player view: a
#: quarter cell; 4x4 px of the 1/12-scale global view: 2x2 cells), and a second patch layer
#: (2x2, stride 2) merges neighbouring patches; on a CPU both cost less than one overlapping
#: 3x3 layer, whose weight gradient is slow at so few channels (docs/image_architectures.md).
#: 84x84 -> 14x14 -> 7x7 (x8); 50x88 -> 12x22 -> 6x11 (x8).
LEAN_PLAYER_CNN: ConvSpec = ((8, 6, 6, 0), (8, 2, 2, 0))
LEAN_GLOBAL_CNN: ConvSpec = ((8, 4, 4, 0), (8, 2, 2, 0))
#: the global view's scale of the lean architectures: 2x2 pixels per cell, each the mean of a
#: 12x12-px block (the quarter-cell resolution at which tiles are defined), a quarter of the
#: default view's pixels
LEAN_GLOBAL_VIEW_SCALE = 12


@dataclass(frozen=True)
class Architecture:
    """One policy architecture: its name, inputs, a one-line description and every size.

    * ``player_cnn`` / ``global_cnn``: the conv layers on player_frame / global_view
      (:data:`ConvSpec`); ``cnn_features``: the width of the Linear+ReLU after each CNN.
    * ``state_hidden`` / ``reach_hidden`` / ``surroundings_hidden`` / ``hazards_hidden``: MLP
      layer widths on game_state / reachability / surroundings / hazards.
    * ``graph_conv`` (``"mean"`` or ``"attention"``), ``graph_hidden``, ``graph_layers``,
      ``graph_heads`` (attention only), ``graph_features`` (pooled output width).
    * ``norm_clip``: clip of the running-normalised vector inputs.
    * ``net_arch``: hidden layers of both the policy and the value head (not shared).
    * ``global_view_scale``: world pixels per pixel of the global view the architecture reads
      (the env's :attr:`~ninjarl.env.EnvConfig.global_view_scale`; 6: 100x176, 12: 50x88).
    """
    name: str
    observation_keys: tuple[str, ...]
    description: str
    player_cnn: ConvSpec = NATURE_PLAYER_CNN
    global_cnn: ConvSpec = NATURE_GLOBAL_CNN
    cnn_features: int = 128
    state_hidden: tuple[int, ...] = (64, 64)
    reach_hidden: tuple[int, ...] = (64,)
    surroundings_hidden: tuple[int, ...] = (128, 64)
    hazards_hidden: tuple[int, ...] = (64, 64)
    graph_conv: str = "mean"
    graph_hidden: int = 32
    graph_layers: int = 2
    graph_heads: int = 4
    graph_features: int = 128
    norm_clip: float = 5.0
    net_arch: tuple[int, ...] = (64, 64)
    global_view_scale: int = 6

    def __post_init__(self):
        for name in ("observation_keys", "state_hidden", "reach_hidden", "surroundings_hidden",
                     "hazards_hidden", "net_arch"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("player_cnn", "global_cnn"):
            layers = tuple(tuple(int(v) for v in layer) for layer in getattr(self, name))
            if not layers or any(len(layer) != 4 or min(layer[:3]) < 1 or layer[3] < 0
                                 for layer in layers):
                raise ValueError(f"Architecture {self.name!r}: {name} must be a non-empty list of "
                                 "[out_channels >= 1, kernel >= 1, stride >= 1, padding >= 0], "
                                 f"got {getattr(self, name)!r}")
            object.__setattr__(self, name, layers)
        unknown = [k for k in self.observation_keys if k not in OBSERVATION_KEYS]
        if unknown or not self.observation_keys:
            raise ValueError(f"Architecture {self.name!r}: unknown or empty observation keys "
                             f"{unknown or '()'}; choose from {OBSERVATION_KEYS}")
        if self.global_view_scale not in GLOBAL_VIEW_SCALES:
            raise ValueError(f"Architecture {self.name!r}: global_view_scale must be one of "
                             f"{GLOBAL_VIEW_SCALES}, got {self.global_view_scale!r}")
        if self.graph_conv not in CONVS:
            raise ValueError(f"Architecture {self.name!r}: graph_conv must be one of {CONVS}")

    @property
    def space_keys(self) -> tuple[str, ...]:
        """The observation-space keys the network reads (``"graph"`` expanded)."""
        return space_keys(self.observation_keys)

    def env_settings(self) -> dict:
        """The :class:`~ninjarl.env.EnvConfig` fields this architecture decides: its
        observation keys and its global view's scale."""
        return {"observations": self.observation_keys, "global_view_scale": self.global_view_scale}

    def env_config(self, **settings) -> EnvConfig:
        """The :class:`~ninjarl.env.EnvConfig` whose observations this architecture reads
        (:meth:`env_settings`); ``settings`` set other fields (or replace these)."""
        return EnvConfig(**{**self.env_settings(), **settings})

    def sizes(self) -> dict:
        """Every field except name, observation_keys and description."""
        skip = {"name", "observation_keys", "description"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


ARCHITECTURES: dict[str, Architecture] = {arch.name: arch for arch in (
    Architecture(
        "mlp_baseline", ("player_frame", "global_view", "game_state", "reachability"),
        "CNN on player_frame + CNN on global_view + MLPs on game_state and reachability, "
        "concatenated"),
    Architecture(
        "mlp_fast", ("player_frame", "global_view", "game_state", "reachability"),
        "mlp_baseline's inputs through lean patch CNNs, the global view at 1/12 scale "
        "(23x fewer FLOPs), concatenated",
        player_cnn=LEAN_PLAYER_CNN, global_cnn=LEAN_GLOBAL_CNN, cnn_features=64,
        global_view_scale=LEAN_GLOBAL_VIEW_SCALE),
    Architecture(
        "vision_free", ("game_state", "reachability"),
        "MLPs on game_state and reachability only (small and fast)"),
    Architecture(
        "grid_mlp", ("game_state", "reachability", "surroundings"),
        "vision_free plus an MLP on surroundings: a 15x9-tile egocentric grid of walls, "
        "hazards and the way to the objective (cheap; mines and walls visible without images)"),
    Architecture(
        "hazard_mlp", ("game_state", "reachability", "hazards"),
        "vision_free plus an MLP on hazards: the 8 nearest mines, drones and thwumps, one "
        "position each (a minefield visible at the cost of 24 inputs)"),
    Architecture(
        "local_view", ("player_frame", "game_state"),
        "CNN on player_frame + MLP on game_state"),
    Architecture(
        "local_view_fast", ("player_frame", "game_state"),
        "local_view's inputs through the lean patch CNN on player_frame",
        player_cnn=LEAN_PLAYER_CNN, cnn_features=64),
    Architecture(
        "gcn", ("graph", "game_state", "reachability"),
        "graph encoder with masked mean aggregation + MLPs on game_state and reachability",
        graph_conv="mean"),
    Architecture(
        "gat", ("graph", "game_state", "reachability"),
        "graph attention encoder + MLPs on game_state and reachability",
        graph_conv="attention"),
)}


def get_architecture(name: str | Architecture) -> Architecture:
    """The registered architecture ``name`` (an :class:`Architecture` passes through)."""
    if isinstance(name, Architecture):
        return name
    try:
        return ARCHITECTURES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown architecture {name!r}; valid names: "
                         f"{', '.join(ARCHITECTURES)}") from None
