"""Hierarchical PPO: a subtask policy over a subtask-conditioned controller, trained end to end
from the same rollouts. Read top to bottom: rollout storage → collection (decisions, subtask
rewards, semi-MDP returns) → advantages of both levels → one PPO update of both levels.

The network is :class:`~ninjarl.models.hierarchical.HierarchicalPolicy` (``features.``,
``high_level.``, ``low_level.``). Per environment the algorithm keeps a
:class:`~ninjarl.models.hierarchical.SubtaskState`: the subtask pursued, the steps taken in it,
its ``achieved`` counter when chosen, and whether a new decision is due.

Each step of every env:

1. where a decision is due (episode start, or the previous subtask ended), the high level
   samples a subtask among the available ones;
2. the low level samples an action conditioned on the subtask;
3. after the env step, the subtask is over when it is complete (its ``achieved`` counter grew;
   ``exit_door``: the episode was won), no longer available, the episode ended, or it ran
   K = ``hierarchical.max_steps`` steps;
4. the low level's reward is ``completion_bonus * complete + death_penalty * died +
   gamma * phi(s') - phi(s)`` with ``phi = -shaping_scale * distance to go`` (``phi(s') = 0``
   when complete), and its GAE does not bootstrap past the end of a subtask: a subtask is the
   low level's episode;
5. the high level collects the environment reward of the decision, discounted from its start:
   ``R = sum_j gamma^j r_(t+j)`` over the k steps of the subtask, and its advantage is GAE over
   decisions, ``delta = R + gamma^k V(next decision) - V(decision)`` (no bootstrap after an
   episode end, time-outs included, as for the low level).

A decision whose subtask is still running when the rollout ends is bootstrapped with the high
value of the last observation, ``gamma^k V(s_T)``; its remaining steps continue in the next
rollout but are not a sample there (that rollout has no log-probability of the choice). Both
levels are updated by one loss over the same minibatches (the high level's terms over the
decision samples in it), so the shared extractor learns from both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.utils import FloatSchedule, explained_variance, obs_as_tensor
from torch import nn

from ..env.config import SUBTASK_KEY
from ..env.subtasks import DISTANCE
from ..models.hierarchical import HierarchicalPolicy, SubtaskState
from .config import HierarchicalConfig


@dataclass
class Rollout:
    """One rollout of ``T`` steps of ``N`` envs, as [T, N] arrays (observations [T, N, ...])."""
    obs: dict[str, np.ndarray]
    actions: np.ndarray
    log_prob: np.ndarray
    value: np.ndarray
    reward: np.ndarray            # the low level's subtask reward
    over: np.ndarray              # the subtask ended after this step: no low bootstrap
    subtask: np.ndarray           # the subtask pursued at this step (policy index)
    steps: np.ndarray             # steps already taken in it (0: it was chosen here)
    decision: np.ndarray          # a new subtask was chosen at this step
    high_log_prob: np.ndarray
    high_value: np.ndarray
    high_reward: np.ndarray       # at a decision: its discounted environment return
    high_k: np.ndarray            # at a decision: its duration in steps (so far, if open)
    high_done: np.ndarray         # at a decision: the episode ended during it
    advantages: np.ndarray
    returns: np.ndarray
    high_advantages: np.ndarray
    high_returns: np.ndarray

    @classmethod
    def allocate(cls, n_steps: int, n_envs: int, observation_space: spaces.Dict) -> "Rollout":
        shape = (n_steps, n_envs)
        obs = {k: np.zeros(shape + space.shape, space.dtype)
               for k, space in observation_space.spaces.items()}
        f32 = lambda: np.zeros(shape, np.float32)          # noqa: E731
        i64 = lambda: np.zeros(shape, np.int64)            # noqa: E731
        b = lambda: np.zeros(shape, bool)                  # noqa: E731
        return cls(obs, i64(), f32(), f32(), f32(), b(), i64(), i64(), b(), f32(), f32(), f32(),
                   i64(), b(), f32(), f32(), f32(), f32())

    def flat(self, device) -> dict[str, torch.Tensor]:
        """Every per-sample field as a tensor of T * N samples (observations under ``obs``)."""
        n = self.actions.size
        out = {name: torch.as_tensor(getattr(self, name).reshape(n), device=device)
               for name in ("actions", "log_prob", "advantages", "returns", "subtask", "steps",
                            "decision", "high_log_prob", "high_advantages", "high_returns")}
        out["obs"] = {k: torch.as_tensor(v.reshape(n, *v.shape[2:]), device=device)
                      for k, v in self.obs.items()}
        return out


class SubtaskStats:
    """Per subtask over one rollout: times chosen, subtasks ended, completed, and their steps."""

    def __init__(self, n: int):
        self.chosen = np.zeros(n, np.int64)
        self.ended = np.zeros(n, np.int64)
        self.completed = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)

    def log(self, logger, names: tuple[str, ...]) -> None:
        total = max(int(self.chosen.sum()), 1)
        for i, name in enumerate(names):
            logger.record(f"subtask/{name}/chosen_fraction", self.chosen[i] / total)
            if self.ended[i]:
                logger.record(f"subtask/{name}/success_rate", self.completed[i] / self.ended[i])
                logger.record(f"subtask/{name}/mean_steps", self.steps[i] / self.ended[i])


class HierarchicalPPO(PPO):
    """SB3's PPO with its own rollout collection and update for :class:`HierarchicalPolicy`
    (learning, callbacks, logging, saving and ``predict`` as any SB3 PPO)."""

    def __init__(self, env, arch: str, hierarchical: HierarchicalConfig, death_penalty: float,
                 **ppo_kwargs):
        self.hierarchical = hierarchical
        self.death_penalty = death_penalty
        kwargs = {"architecture": arch, "subtasks": hierarchical.subtasks,
                  "max_steps": hierarchical.max_steps, "embedding_dim": hierarchical.embedding_dim}
        super().__init__(HierarchicalPolicy, env, policy_kwargs=kwargs, **ppo_kwargs)

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(self.observation_space, self.action_space,
                                        self.lr_schedule, **self.policy_kwargs).to(self.device)
        self.clip_range = FloatSchedule(self.clip_range)
        self.rollout_buffer = Rollout.allocate(self.n_steps, self.n_envs, self.observation_space)
        self.subtask_state = SubtaskState.fresh(self.n_envs)
        self._exit_door = self.hierarchical.subtasks.index("exit_door")

    # ---- collection -------------------------------------------------------------------------
    def collect_rollouts(self, env, callback, rollout_buffer: Rollout, n_rollout_steps: int) -> bool:
        buf, state, policy, h = rollout_buffer, self.subtask_state, self.policy, self.hierarchical
        policy.set_training_mode(False)
        n_envs = env.num_envs
        envs = np.arange(n_envs)
        stats = SubtaskStats(len(h.subtasks))
        opened_at = np.full(n_envs, -1)        # rollout step of each env's open decision
        high_return = np.zeros(n_envs)
        discount = np.ones(n_envs)
        buf.decision[:] = False
        callback.on_rollout_start()

        for t in range(n_rollout_steps):
            obs = self._last_obs
            state.decide |= self._last_episode_starts.astype(bool)
            due = state.decide.copy()
            with torch.no_grad():
                out = policy.act(obs_as_tensor(obs, self.device), state)
            actions = out["actions"].cpu().numpy()
            for key, value in obs.items():
                buf.obs[key][t] = value
            buf.actions[t], buf.subtask[t], buf.steps[t] = actions, state.subtask, state.steps
            buf.log_prob[t] = out["log_prob"].cpu().numpy()
            buf.value[t] = out["value"].cpu().numpy()
            buf.decision[t] = due
            buf.high_log_prob[t] = out["high_log_prob"].cpu().numpy()
            buf.high_value[t] = out["high_value"].cpu().numpy()
            opened_at[due], high_return[due], discount[due] = t, 0.0, 1.0
            np.add.at(stats.chosen, state.subtask[due], 1)

            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += n_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)

            # where the subtask stands after the step: an ended episode's last observation
            table, next_table = policy.table(obs), policy.table(new_obs)
            for n in np.flatnonzero(dones):
                last = infos[n]["terminal_observation"][SUBTASK_KEY][None]
                next_table[n] = policy.table({SUBTASK_KEY: last})[0]
            state.steps += 1
            over, complete = policy.option_status(next_table, state)
            won = np.array([bool(dones[n] and infos[n]["is_success"]) for n in envs])
            died = np.array([bool(dones[n] and not infos[n]["is_success"]
                                  and not infos[n]["TimeLimit.truncated"]) for n in envs])
            complete |= won & (state.subtask == self._exit_door)
            over |= dones

            phi = -h.shaping_scale * table[envs, state.subtask, DISTANCE]
            phi_next = np.where(complete, 0.0,
                                -h.shaping_scale * next_table[envs, state.subtask, DISTANCE])
            buf.reward[t] = (self.gamma * phi_next - phi + h.completion_bonus * complete
                             + self.death_penalty * died)
            buf.over[t] = over

            high_return += discount * rewards
            discount *= self.gamma
            closing = over & (opened_at >= 0)
            buf.high_reward[opened_at[closing], envs[closing]] = high_return[closing]
            buf.high_k[opened_at[closing], envs[closing]] = state.steps[closing]
            buf.high_done[opened_at[closing], envs[closing]] = dones[closing]
            opened_at[over] = -1
            np.add.at(stats.ended, state.subtask[over], 1)
            np.add.at(stats.completed, state.subtask[over & complete], 1)
            np.add.at(stats.steps, state.subtask[over], state.steps[over])
            state.decide = over
            self._last_obs, self._last_episode_starts = new_obs, dones

        still_open = opened_at >= 0
        buf.high_reward[opened_at[still_open], envs[still_open]] = high_return[still_open]
        buf.high_k[opened_at[still_open], envs[still_open]] = state.steps[still_open]
        buf.high_done[opened_at[still_open], envs[still_open]] = False
        with torch.no_grad():
            last = obs_as_tensor(new_obs, self.device)
            features, last_table = policy.extract(last), policy.table(last)
            _, last_high = policy.high_forward(features, last_table)
            _, last_low = policy.low_forward(
                features, last_table, torch.as_tensor(state.subtask, device=self.device),
                torch.as_tensor(state.steps, device=self.device))
        self._advantages(buf, last_low.cpu().numpy(), last_high.cpu().numpy())
        stats.log(self.logger, h.subtasks)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _advantages(self, buf: Rollout, last_low: np.ndarray, last_high: np.ndarray) -> None:
        """GAE of the low level over steps (no bootstrap past a subtask's end) and of the high
        level over decisions (each decision's successor discounted by gamma^k)."""
        gamma, lam = self.gamma, self.gae_lambda
        n_steps = buf.reward.shape[0]
        advantage = np.zeros_like(last_low)
        for t in reversed(range(n_steps)):
            next_value = last_low if t == n_steps - 1 else buf.value[t + 1]
            going = ~buf.over[t]
            delta = buf.reward[t] + gamma * next_value * going - buf.value[t]
            advantage = delta + gamma * lam * going * advantage
            buf.advantages[t] = advantage
        buf.returns[:] = buf.advantages + buf.value

        next_value, next_advantage = last_high.copy(), np.zeros_like(last_high)
        buf.high_advantages[:] = 0.0
        for t in reversed(range(n_steps)):
            d = buf.decision[t]
            if not d.any():
                continue
            discount = gamma ** buf.high_k[t] * ~buf.high_done[t]
            delta = buf.high_reward[t] + discount * next_value - buf.high_value[t]
            advantage = delta + discount * lam * next_advantage
            buf.high_advantages[t, d] = advantage[d]
            next_value[d], next_advantage[d] = buf.high_value[t, d], advantage[d]
        buf.high_returns[:] = np.where(buf.decision, buf.high_advantages + buf.high_value, 0.0)

    # ---- update -----------------------------------------------------------------------------
    def evaluate_actions(self, batch: dict) -> dict[str, torch.Tensor]:
        """Both levels on a minibatch, with exactly the subtasks and steps of collection."""
        policy = self.policy
        features = policy.extract(batch["obs"])
        table = policy.table(batch["obs"])
        low, value = policy.low_forward(features, table, batch["subtask"], batch["steps"])
        high, high_value = policy.high_forward(features, table)
        return {"log_prob": low.log_prob(batch["actions"]), "entropy": low.entropy(),
                "value": value, "high_log_prob": high.log_prob(batch["subtask"]),
                "high_entropy": high.entropy(), "high_value": high_value}

    def train(self) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip = self.clip_range(self._current_progress_remaining)
        data = self.rollout_buffer.flat(self.device)
        n = len(data["actions"])
        logs: dict[str, list[float]] = {}
        for _ in range(self.n_epochs):
            order = torch.as_tensor(np.random.permutation(n))
            for start in range(0, n, self.batch_size):
                index = order[start:start + self.batch_size]
                batch = {k: v[index] for k, v in data.items() if k != "obs"}
                batch["obs"] = {k: v[index] for k, v in data["obs"].items()}
                batch["index"] = index
                new = self.evaluate_actions(batch)
                low = ppo_terms(new["log_prob"], batch["log_prob"], batch["advantages"],
                                new["value"], batch["returns"], new["entropy"], clip)
                mask = batch["decision"]
                high = ppo_terms(new["high_log_prob"][mask], batch["high_log_prob"][mask],
                                 batch["high_advantages"][mask], new["high_value"][mask],
                                 batch["high_returns"][mask], new["high_entropy"][mask], clip)
                loss = sum(terms["policy_loss"] + self.vf_coef * terms["value_loss"]
                           - self.ent_coef * terms["entropy"] for terms in (low, high))
                self.policy.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
                for level, terms in (("low", low), ("high", high)):
                    for name, value in terms.items():
                        logs.setdefault(f"train/{level}/{name}", []).append(value.item())
        self._n_updates += self.n_epochs
        buf = self.rollout_buffer
        for name, values in logs.items():
            self.logger.record(name, float(np.mean(values)))
        self.logger.record("train/low/explained_variance",
                           explained_variance(buf.value.ravel(), buf.returns.ravel()))
        decided = buf.decision.ravel()
        self.logger.record("train/high/explained_variance", explained_variance(
            buf.high_value.ravel()[decided], buf.high_returns.ravel()[decided]))
        self.logger.record("train/high/decisions", int(decided.sum()))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip)


def ppo_terms(log_prob, old_log_prob, advantages, value, returns, entropy, clip: float
              ) -> dict[str, torch.Tensor]:
    """PPO's clipped policy loss (advantages normalised over the minibatch), value loss,
    entropy, approximate KL and clip fraction; zeros for an empty selection."""
    if len(log_prob) == 0:
        zero = log_prob.sum()
        return {"policy_loss": zero, "value_loss": zero, "entropy": zero, "approx_kl": zero,
                "clip_fraction": zero}
    if len(advantages) > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - old_log_prob)
    policy_loss = -torch.min(advantages * ratio,
                             advantages * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - torch.log(ratio)).mean()
        clip_fraction = ((ratio - 1).abs() > clip).float().mean()
    return {"policy_loss": policy_loss, "value_loss": ((returns - value) ** 2).mean(),
            "entropy": entropy.mean(), "approx_kl": approx_kl, "clip_fraction": clip_fraction}
