"""``policy_kwargs`` for ``PPO("MultiInputPolicy", env, policy_kwargs=policy_kwargs(arch))``,
and :func:`obs_tensors`, stored observations as the policy takes them."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .extractors import NinjaExtractor
from .registry import ARCHITECTURES, Architecture, get_architecture

#: activation of SB3's policy / value heads (SB3's default, stated explicitly)
HEAD_ACTIVATION = nn.Tanh


def policy_kwargs(arch: Architecture | str, **overrides: Any) -> dict[str, Any]:
    """SB3 policy kwargs of an architecture.

    ``overrides`` naming an :class:`Architecture` size field (``cnn_features``,
    ``graph_hidden``, ``net_arch``, ...) change that size; any other key (``activation_fn``,
    ``ortho_init``, ``optimizer_kwargs``, ...) is set on the returned dict as is.
    Images are scaled inside the extractor, hence ``normalize_images=False``.
    """
    arch = get_architecture(arch)
    sizes = {k: overrides.pop(k) for k in list(overrides) if k in arch.sizes()}
    net_arch = list(sizes.get("net_arch", arch.net_arch))
    extractor_sizes = {k: (list(v) if isinstance(v, tuple) else v) for k, v in sizes.items()
                       if k != "net_arch"}
    # a registered architecture travels by name; an unregistered or modified one as the record
    registered = ARCHITECTURES.get(arch.name) == arch
    extractor_kwargs: dict[str, Any] = {"architecture": arch.name if registered else arch,
                                        **extractor_sizes}
    kwargs: dict[str, Any] = {
        "features_extractor_class": NinjaExtractor,
        "features_extractor_kwargs": extractor_kwargs,
        "normalize_images": False,
        "net_arch": dict(pi=list(net_arch), vf=list(net_arch)),
        "share_features_extractor": True,
        "activation_fn": HEAD_ACTIVATION,
    }
    kwargs.update(overrides)
    return kwargs


def obs_tensors(obs: dict[str, np.ndarray], idx: np.ndarray,
                 device: torch.device) -> dict[str, torch.Tensor]:
    """A minibatch as float32 tensors on the policy's device, as PPO's rollout buffer hands
    them to the policy."""
    return {k: torch.as_tensor(v[idx], dtype=torch.float32, device=device) for k, v in obs.items()}
