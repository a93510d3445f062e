"""PPO on ninjarl in one file (plain torch, CleanRL style): no ninjarl training code.

    python examples/ppo_cleanrl.py --total-timesteps 500000 --num-envs 16 --seed 1

trains an MLP policy on ``ninjarl/Ninja-simplest-v0`` (the ``simplest`` training levels) from
the ``game_state`` and ``reachability`` vectors, and prints ``steps N success R length L ...``
after every rollout: R is the success rate and L the mean length (steps) of the last 100
finished episodes. ``--eval-episodes K`` then
reports the greedy policy's success on K episodes of the **test** split (unseen levels).
``ninjarl.env`` is imported only to register the ids. The env's reward shaping assumes the
learner's discount is ``EnvConfig().gamma`` = 0.99, the ``--gamma`` default here.
"""
import argparse
import time
from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical

import ninjarl.env  # noqa: F401  (registers the ninjarl/* ids)

KEYS = ("game_state", "reachability")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env-id", default="ninjarl/Ninja-simplest-v0")
    p.add_argument("--total-timesteps", type=int, default=500_000)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--num-steps", type=int, default=128, help="steps per env per rollout")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--learning-rate", type=float, default=2.5e-4)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--gae-lambda", type=float, default=0.95)
    p.add_argument("--update-epochs", type=int, default=4)
    p.add_argument("--num-minibatches", type=int, default=4)
    p.add_argument("--clip-coef", type=float, default=0.2)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--vf-coef", type=float, default=0.5)
    p.add_argument("--max-grad-norm", type=float, default=0.5)
    p.add_argument("--eval-episodes", type=int, default=0,
                   help="greedy episodes on the test split after training (0: none)")
    return p.parse_args()


def flatten(obs):
    """The Dict observation as one float tensor [num_envs, 42]."""
    return torch.as_tensor(np.concatenate([obs[k] for k in KEYS], axis=-1), dtype=torch.float32)


def layer(n_in, n_out, std=2 ** 0.5):
    lin = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(lin.weight, std)
    nn.init.constant_(lin.bias, 0.0)
    return lin


class Agent(nn.Module):
    def __init__(self, n_obs, n_actions):
        super().__init__()
        self.critic = nn.Sequential(layer(n_obs, 64), nn.Tanh(), layer(64, 64), nn.Tanh(),
                                    layer(64, 1, std=1.0))
        self.actor = nn.Sequential(layer(n_obs, 64), nn.Tanh(), layer(64, 64), nn.Tanh(),
                                   layer(64, n_actions, std=0.01))

    def value(self, x):
        return self.critic(x).squeeze(-1)

    def act(self, x, action=None):
        dist = Categorical(logits=self.actor(x))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.value(x)


def evaluate(agent, args):
    """Greedy success rate on ``--eval-episodes`` episodes of the test split."""
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, split="test",
                        observations=KEYS, vectorization_mode="vector_entry_point")
    obs, _ = envs.reset(seed=args.seed + 1)
    wins = []
    while len(wins) < args.eval_episodes:
        with torch.no_grad():
            action = agent.actor(flatten(obs)).argmax(-1).numpy()
        obs, _, _, _, infos = envs.step(action)
        if "final_info" in infos:
            wins += [info["is_success"] for info in infos["final_info"][infos["_final_info"]]]
    return float(np.mean(wins[:args.eval_episodes]))


def main():
    args = parse_args()
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = max(1, args.total_timesteps // batch_size)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)        # a 64-unit MLP: more threads only add contention

    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, observations=KEYS,
                        vectorization_mode="vector_entry_point")
    n_obs = sum(envs.single_observation_space[k].shape[0] for k in KEYS)
    agent = Agent(n_obs, envs.single_action_space.n)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # rollout storage
    obs_buf = torch.zeros((args.num_steps, args.num_envs, n_obs))
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long)
    logprobs = torch.zeros((args.num_steps, args.num_envs))
    rewards = torch.zeros((args.num_steps, args.num_envs))
    dones = torch.zeros((args.num_steps, args.num_envs))
    values = torch.zeros((args.num_steps, args.num_envs))

    successes, lengths = deque(maxlen=100), deque(maxlen=100)   # the last 100 episodes
    global_step, episodes, start = 0, 0, time.time()
    obs, _ = envs.reset(seed=args.seed)
    next_obs, next_done = flatten(obs), torch.zeros(args.num_envs)

    for iteration in range(1, num_iterations + 1):
        frac = 1.0 - (iteration - 1.0) / num_iterations       # linear learning-rate decay
        optimizer.param_groups[0]["lr"] = frac * args.learning_rate

        for step in range(args.num_steps):
            global_step += args.num_envs
            obs_buf[step], dones[step] = next_obs, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.act(next_obs)
            actions[step], logprobs[step], values[step] = action, logprob, value
            obs, reward, terminated, truncated, infos = envs.step(action.numpy())
            reward = torch.as_tensor(reward, dtype=torch.float32)
            if "final_info" in infos:   # same-step autoreset: obs is already the next episode's
                for n in np.flatnonzero(infos["_final_info"]):
                    episodes += 1
                    successes.append(float(infos["final_info"][n]["is_success"]))
                    lengths.append(infos["final_info"][n]["episode"]["l"])
                    if truncated[n] and not terminated[n]:   # time limit: bootstrap V(final obs)
                        final = flatten({k: infos["final_obs"][n][k][None] for k in KEYS})
                        with torch.no_grad():
                            reward[n] += args.gamma * agent.value(final)[0]
            rewards[step] = reward
            next_obs = flatten(obs)
            next_done = torch.as_tensor(terminated | truncated, dtype=torch.float32)

        # generalised advantage estimation
        with torch.no_grad():
            next_value = agent.value(next_obs)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                advantages[t] = lastgaelam
            returns = advantages + values

        # PPO update on the flattened batch
        b_obs, b_actions = obs_buf.reshape(-1, n_obs), actions.reshape(-1)
        b_logprobs, b_advantages = logprobs.reshape(-1), advantages.reshape(-1)
        b_returns, b_values = returns.reshape(-1), values.reshape(-1)
        for _ in range(args.update_epochs):
            for mb in torch.randperm(batch_size).split(minibatch_size):
                _, newlogprob, entropy, newvalue = agent.act(b_obs[mb], b_actions[mb])
                ratio = (newlogprob - b_logprobs[mb]).exp()
                adv = b_advantages[mb]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(
                    1 - args.clip_coef, 1 + args.clip_coef)).mean()
                v_clipped = b_values[mb] + (newvalue - b_values[mb]).clamp(-args.clip_coef,
                                                                           args.clip_coef)
                v_loss = 0.5 * torch.max((newvalue - b_returns[mb]) ** 2,
                                         (v_clipped - b_returns[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        rate = float(np.mean(successes)) if successes else float("nan")
        length = float(np.mean(lengths)) if lengths else float("nan")
        print(f"steps {global_step} success {rate:.3f} length {length:.0f} episodes {episodes} "
              f"sps {int(global_step / (time.time() - start))}", flush=True)

    if args.eval_episodes > 0:
        print(f"test success {evaluate(agent, args):.3f}", flush=True)
    envs.close()


if __name__ == "__main__":
    main()
