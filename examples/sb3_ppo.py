"""Stable-Baselines3 PPO on ninjarl: ``gymnasium.make`` + SB3's DummyVecEnv, nothing else.

    python examples/sb3_ppo.py --total-timesteps 200000 --num-envs 8 --seed 1

Prints ``steps N success R`` after every rollout (R: success rate of the last 100 finished
episodes; the env reports ``info["is_success"]`` and ``info["episode"]`` itself, so no Monitor
wrapper is needed). For large runs ``ninjarl.env.NinjaVecEnv`` (an SB3 VecEnv stepping all
games in one call) is faster than DummyVecEnv; this example sticks to the generic route.
"""
import argparse

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

import ninjarl.env  # noqa: F401  (registers the ninjarl/* ids)


class PrintSuccess(BaseCallback):
    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buf = self.model.ep_success_buffer
        rate = float(np.mean(buf)) if len(buf) else float("nan")
        print(f"steps {self.num_timesteps} success {rate:.3f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env-id", default="ninjarl/Ninja-simplest-v0")
    p.add_argument("--total-timesteps", type=int, default=200_000)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(1)        # a small MLP: more threads only add contention

    venv = DummyVecEnv([lambda: gym.make(args.env_id, observations=("game_state",
                                                                    "reachability"))
                        for _ in range(args.num_envs)])
    # gamma must equal the env's EnvConfig().gamma (0.99) for its reward shaping
    model = PPO("MultiInputPolicy", venv, n_steps=128, batch_size=256, gamma=0.99,
                seed=args.seed, verbose=0)
    model.learn(args.total_timesteps, callback=PrintSuccess())
    venv.close()


if __name__ == "__main__":
    main()
