"""ninjarl.models — policy networks for Stable-Baselines3 PPO (``MultiInputPolicy``).

::

    from stable_baselines3 import PPO
    from ninjarl.env import NinjaVecEnv
    from ninjarl.models import get_architecture, policy_kwargs

    arch = get_architecture("vision_free")
    venv = NinjaVecEnv(levels, num_envs=64, config=arch.env_config())
    model = PPO("MultiInputPolicy", venv, policy_kwargs=policy_kwargs(arch))

Architectures (:data:`ARCHITECTURES`): ``mlp_baseline``, ``mlp_fast``, ``vision_free``,
``local_view``, ``local_view_fast``, ``gcn``, ``gat`` (``ninjarl bench model`` measures what
each costs). Observation normalisation lives inside the network
(:class:`RunningNorm`), so no ``VecNormalize`` is needed and ``PPO.save`` keeps it.
"""
from ..env.config import GRAPH_KEYS, space_keys
from .device import DEVICE_CHOICES, check_device_name, resolve_device
from .extractors import NinjaExtractor
from .graph import GraphEncoder
from .normalization import RunningNorm
from .policy import policy_kwargs
from .registry import ARCHITECTURES, Architecture, get_architecture

__all__ = ["ARCHITECTURES", "Architecture", "DEVICE_CHOICES", "GRAPH_KEYS", "GraphEncoder",
           "NinjaExtractor", "RunningNorm", "check_device_name", "get_architecture",
           "policy_kwargs", "resolve_device", "space_keys"]
