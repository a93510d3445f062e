"""The architecture registry: which observation keys each policy network reads, and its sizes.

Every architecture is one :class:`Architecture` record in :data:`ARCHITECTURES`; the network
itself is always :class:`~ninjarl.models.extractors.NinjaExtractor`, which builds one encoder
branch per observation key and concatenates their outputs (concatenation fusion), followed by
SB3's separate policy and value MLPs (``net_arch``).

``observation_keys`` are :class:`~ninjarl.env.EnvConfig` observation names, so
``EnvConfig(observations=arch.observation_keys)`` computes exactly what the network reads;
``"graph"`` stands for the five padded ``graph_*`` arrays (:func:`space_keys`).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..env.config import OBSERVATION_KEYS, space_keys
from .graph import CONVS


@dataclass(frozen=True)
class Architecture:
    """One policy architecture: its name, inputs, a one-line description and every size.

    * ``cnn_features``: output width of each image CNN (player_frame: 84x84 Nature-like CNN
      8x8/4 -> 16, 4x4/2 -> 32, 3x3/1 -> 32; global_view: 100x176, same with a last stride 2).
    * ``state_hidden`` / ``reach_hidden``: MLP layer widths on game_state / reachability.
    * ``graph_conv`` (``"mean"`` or ``"attention"``), ``graph_hidden``, ``graph_layers``,
      ``graph_heads`` (attention only), ``graph_features`` (pooled output width).
    * ``norm_clip``: clip of the running-normalised vector inputs.
    * ``net_arch``: hidden layers of both the policy and the value head (not shared).
    """
    name: str
    observation_keys: tuple[str, ...]
    description: str
    cnn_features: int = 128
    state_hidden: tuple[int, ...] = (64, 64)
    reach_hidden: tuple[int, ...] = (64,)
    graph_conv: str = "mean"
    graph_hidden: int = 32
    graph_layers: int = 2
    graph_heads: int = 4
    graph_features: int = 128
    norm_clip: float = 5.0
    net_arch: tuple[int, ...] = (64, 64)

    def __post_init__(self):
        for name in ("observation_keys", "state_hidden", "reach_hidden", "net_arch"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        unknown = [k for k in self.observation_keys if k not in OBSERVATION_KEYS]
        if unknown or not self.observation_keys:
            raise ValueError(f"Architecture {self.name!r}: unknown or empty observation keys "
                             f"{unknown or '()'}; choose from {OBSERVATION_KEYS}")
        if self.graph_conv not in CONVS:
            raise ValueError(f"Architecture {self.name!r}: graph_conv must be one of {CONVS}")

    @property
    def space_keys(self) -> tuple[str, ...]:
        """The observation-space keys the network reads (``"graph"`` expanded)."""
        return space_keys(self.observation_keys)

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
        "vision_free", ("game_state", "reachability"),
        "MLPs on game_state and reachability only (small and fast)"),
    Architecture(
        "local_view", ("player_frame", "game_state"),
        "CNN on player_frame + MLP on game_state"),
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
