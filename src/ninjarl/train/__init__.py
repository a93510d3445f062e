"""ninjarl.train — PPO training runs (config, environments, checkpoints, the loop)."""
from .config import PPOConfig, TrainConfig
from .ppo import load_agent, resolve_levels, resume, train

__all__ = ["PPOConfig", "TrainConfig", "load_agent", "resolve_levels", "resume", "train"]
