"""ninjarl.models — policy networks for Stable-Baselines3 PPO (``MultiInputPolicy``).

::

    from stable_baselines3 import PPO
    from ninjarl.env import EnvConfig, NinjaVecEnv
    from ninjarl.models import get_architecture, policy_kwargs

    arch = get_architecture("vision_free")
    venv = NinjaVecEnv(levels, num_envs=64, config=EnvConfig(observations=arch.observation_keys))
    model = PPO("MultiInputPolicy", venv, policy_kwargs=policy_kwargs(arch))

Architectures (:data:`ARCHITECTURES`): ``mlp_baseline``, ``vision_free``, ``local_view``,
``gcn``, ``gat``. Observation normalisation lives inside the network
(:class:`RunningNorm`), so no ``VecNormalize`` is needed and ``PPO.save`` keeps it.
"""
from ..env.config import GRAPH_KEYS, space_keys
from .extractors import NinjaExtractor
from .graph import GraphEncoder
from .normalization import RunningNorm
from .policy import policy_kwargs
from .registry import ARCHITECTURES, Architecture, get_architecture

__all__ = ["ARCHITECTURES", "Architecture", "GRAPH_KEYS", "GraphEncoder", "NinjaExtractor",
           "RunningNorm", "get_architecture", "policy_kwargs", "space_keys"]
