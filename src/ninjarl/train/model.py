"""The PPO model of a run, built from its config: one place for PPO, behaviour cloning
(:mod:`ninjarl.train.bc`), the doctor and the benchmarks. A run with a cloning loss during PPO
(``planner_bc.cloning_coef``) gets :class:`~ninjarl.train.cloning_ppo.PPOWithCloning`."""
from __future__ import annotations

from functools import partial

from stable_baselines3 import PPO

from ..models import policy_kwargs, resolve_device
from .cloning_ppo import PPOWithCloning
from .config import TrainConfig
from .hierarchical import HierarchicalPPO


def build_model(config: TrainConfig, venv) -> PPO:
    p = config.effective_ppo
    # a minibatch cannot exceed one rollout (few envs): use the whole rollout instead
    batch_size = min(p.batch_size, p.n_steps * venv.num_envs)
    if config.hierarchical:
        algorithm = partial(HierarchicalPPO, env=venv, arch=config.arch,
                            hierarchical=config.hierarchical,
                            death_penalty=config.env.reward.death)
    else:
        sizes = {"net_arch": config.net_arch} if config.net_arch else {}
        cloning = config.planner_bc
        kind = PPO
        if cloning and cloning.cloning_coef:
            kind = partial(PPOWithCloning, cloning_coef=cloning.cloning_coef,
                           cloning_batch_size=cloning.cloning_batch_size)
        algorithm = partial(kind, "MultiInputPolicy", venv,
                            policy_kwargs=policy_kwargs(config.arch, **sizes))
    return algorithm(learning_rate=p.learning_rate, n_steps=p.n_steps, batch_size=batch_size,
                     n_epochs=p.n_epochs, gamma=p.gamma, gae_lambda=p.gae_lambda,
                     clip_range=p.clip_range, ent_coef=p.ent_coef, vf_coef=p.vf_coef,
                     max_grad_norm=p.max_grad_norm, seed=config.seed,
                     device=resolve_device(config.device), verbose=0,
                     tensorboard_log=config.out or None)
