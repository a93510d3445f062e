"""``NinjaExtractor``: the SB3 features extractor behind every registered architecture.

One encoder branch per observation key of the architecture, outputs concatenated:

* images (``player_frame``, ``global_view``): uint8 pixels arrive as floats in [0, 255]
  (SB3's ``preprocess_obs`` only casts them because ``policy_kwargs`` sets
  ``normalize_images=False``), channels-first after SB3's ``VecTransposeImage`` — ``(k, H, W)``
  for a k-frame stack. The branch's first convolution scales them by 1/255, exactly once
  (:class:`PixelConv2d`), then a small CNN follows.
* vectors (``game_state``, ``reachability``, ``surroundings``): ``(D,)`` or frame-stacked ``(k, D)``; a
  :class:`~ninjarl.models.normalization.RunningNorm` per key (statistics in the state dict,
  updated only in training mode, clipped to ±``norm_clip``), flattened, then an MLP.
* ``graph`` (the five ``graph_*`` arrays): :class:`~ninjarl.models.graph.GraphEncoder`.

Every layer is created in ``__init__`` from the observation space (CNN output sizes come from a
dry forward on zeros), so the optimiser SB3 builds right after construction sees every
parameter. Observation keys the architecture does not read are ignored.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space_channels_first
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from ..env.config import GRAPH_KEYS, IMAGE_KEYS, VECTOR_KEYS, global_view_shape
from .graph import GraphEncoder
from .normalization import RunningNorm
from .registry import Architecture, ConvSpec, get_architecture

PIXEL_SCALE = 255.0


def mlp(in_features: int, hidden: Sequence[int]) -> nn.Sequential:
    """Linear + ReLU layers of widths ``hidden``."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    return nn.Sequential(*layers)


class ChannelsLastConv2d(nn.Conv2d):
    """``nn.Conv2d`` computed in the channels-last layout.

    oneDNN's CPU convolutions, above all their weight gradients, are several times faster with
    channels-last weights (measured: 0.9 s -> 0.14 s for the first layer on a 2,048-sample
    minibatch of 100x176 views). The parameter itself keeps the default layout, which SB3's
    orthogonal initialisation needs; the copy made per call is a few KB."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight.to(memory_format=torch.channels_last), self.bias)


class PixelConv2d(ChannelsLastConv2d):
    """The first convolution over raw pixel values [0, 255]: computes ``conv(pixels / 255)``.

    It divides its (small) weights by 255 instead of the (large) image: the same function and
    parameters, without an elementwise pass over every pixel of every sample, which on a CPU
    costs as much as the convolution itself. ``input_scale`` is the factor its input is
    multiplied by inside the layer."""

    input_scale = 1.0 / PIXEL_SCALE

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        weight = (self.weight * self.input_scale).to(memory_format=torch.channels_last)
        return self._conv_forward(pixels, weight, self.bias)


class ImageEncoder(nn.Module):
    """Pixels [0, 255] -> CNN whose first layer scales by 1/255 (the only scaling on the
    way) -> Linear+ReLU."""

    def __init__(self, space: spaces.Box, convs: ConvSpec, out_features: int):
        super().__init__()
        if len(space.shape) != 3:
            raise ValueError(f"image observation must be 3-D (C, H, W), got shape {space.shape}")
        self.channels_last = not is_image_space_channels_first(space)
        if self.channels_last:
            h, w, c = space.shape
        else:
            c, h, w = space.shape
        in_channels = c
        layers: list[nn.Module] = []
        for i, (out_c, kernel, stride, padding) in enumerate(convs):
            conv = PixelConv2d if i == 0 else ChannelsLastConv2d
            layers += [conv(c, out_c, kernel, stride, padding), nn.ReLU()]
            c = out_c
        layers.append(nn.Flatten())
        self.cnn = nn.Sequential(*layers)
        with torch.no_grad():
            try:
                n_flat = self.cnn(torch.zeros(1, in_channels, h, w)).shape[1]
            except RuntimeError as err:
                raise ValueError(f"image of shape {space.shape} is too small for the CNN "
                                 f"{list(convs)}: {err}") from None
        self.linear = nn.Sequential(nn.Linear(n_flat, out_features), nn.ReLU())
        self.out_features = out_features

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.float()
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.linear(self.cnn(x.contiguous(memory_format=torch.channels_last)))


class VectorEncoder(nn.Module):
    """(D,) or stacked (k, D) floats -> RunningNorm per feature -> flatten -> MLP."""

    def __init__(self, space: spaces.Box, hidden: Sequence[int], clip: float):
        super().__init__()
        if len(space.shape) not in (1, 2):
            raise ValueError(f"vector observation must be (D,) or (k, D), got {space.shape}")
        self.norm = RunningNorm(space.shape[-1:], clip=clip)
        flat = int(np.prod(space.shape))
        self.mlp = mlp(flat, hidden)
        self.out_features = hidden[-1] if hidden else flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(x).flatten(start_dim=1))


class GraphBranch(nn.Module):
    """The five graph_* arrays -> :class:`GraphEncoder`."""

    def __init__(self, observation_space: spaces.Dict, arch: Architecture):
        super().__init__()
        nodes = observation_space["graph_node_features"].shape
        edges = observation_space["graph_edge_features"].shape
        index = observation_space["graph_edge_index"].shape
        if (len(nodes) != 2 or len(edges) != 2 or index != (2, edges[0])
                or observation_space["graph_node_mask"].shape != nodes[:1]
                or observation_space["graph_edge_mask"].shape != edges[:1]):
            raise ValueError("inconsistent graph observation shapes: " + ", ".join(
                f"{k} {observation_space[k].shape}" for k in GRAPH_KEYS)
                + " (frame-stacking graph keys is not supported)")
        self.encoder = GraphEncoder(nodes[1], edges[1], conv=arch.graph_conv,
                                    hidden=arch.graph_hidden, layers=arch.graph_layers,
                                    heads=arch.graph_heads, out_features=arch.graph_features)
        self.out_features = arch.graph_features

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder({key: obs[key] for key in GRAPH_KEYS})


def _check_global_view_scale(space: spaces.Box, arch: Architecture) -> None:
    """Refuse a global view drawn at another scale than the architecture's: its CNN would run
    on it, with patches covering other areas of the level than the ones it was designed for."""
    expected = global_view_shape(arch.global_view_scale)
    height_width = space.shape[:2] if not is_image_space_channels_first(space) else space.shape[1:]
    if tuple(height_width) != expected:
        raise ValueError(
            f"architecture {arch.name!r} reads the global view at scale {arch.global_view_scale} "
            f"({expected[0]}x{expected[1]}), the observation space's is "
            f"{height_width[0]}x{height_width[1]}; build the env with "
            f"EnvConfig(global_view_scale={arch.global_view_scale})")


class NinjaExtractor(BaseFeaturesExtractor):
    """Features extractor for ``PPO("MultiInputPolicy", ...)``; see the module docstring.

    :param observation_space: the policy's Dict observation space (after SB3's wrapping).
    :param architecture: a registered name or an :class:`Architecture`.
    :param sizes: overrides of the architecture's size fields (``cnn_features=64``, ...).
    """

    def __init__(self, observation_space: spaces.Dict, architecture: str | Architecture = "mlp_baseline",
                 **sizes):
        arch = get_architecture(architecture)
        if sizes:
            unknown = set(sizes) - set(arch.sizes())
            if unknown:
                raise ValueError(f"unknown size overrides {sorted(unknown)} for architecture "
                                 f"{arch.name!r}; valid: {sorted(arch.sizes())}")
            arch = replace(arch, **sizes)
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError(f"NinjaExtractor needs a Dict observation space, got {observation_space}")
        missing = [k for k in arch.space_keys if k not in observation_space.spaces]
        if missing:
            raise ValueError(
                f"architecture {arch.name!r} needs observation keys {missing}, missing from the "
                f"observation space {list(observation_space.spaces)}; build the env with "
                f"EnvConfig(observations={arch.observation_keys})")

        if "global_view" in arch.observation_keys:
            _check_global_view_scale(observation_space["global_view"], arch)

        branches: dict[str, nn.Module] = {}
        for key in arch.observation_keys:
            if key in IMAGE_KEYS:
                convs = arch.player_cnn if key == "player_frame" else arch.global_cnn
                branches[key] = ImageEncoder(observation_space[key], convs, arch.cnn_features)
            elif key in VECTOR_KEYS:
                hidden = {"game_state": arch.state_hidden, "reachability": arch.reach_hidden,
                          "surroundings": arch.surroundings_hidden,
                          "hazards": arch.hazards_hidden}[key]
                branches[key] = VectorEncoder(observation_space[key], hidden, arch.norm_clip)
            else:
                branches[key] = GraphBranch(observation_space, arch)
        features_dim = sum(branch.out_features for branch in branches.values())
        super().__init__(observation_space, features_dim)
        self.architecture = arch
        self.branches = nn.ModuleDict(branches)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        features = []
        for key, branch in self.branches.items():
            features.append(branch(observations if key == "graph" else observations[key]))
        return torch.cat(features, dim=1)

    def running_norms(self) -> dict[str, RunningNorm]:
        """The RunningNorm of each vector key."""
        return {key: branch.norm for key, branch in self.branches.items()
                if isinstance(branch, VectorEncoder)}
