"""PPO that keeps imitating the demonstrations it was cloned from.

Cloning the planner's plans before PPO gives the agent a head start, and a better clone does
not make a better agent: PPO's own updates wash out what cloning taught (docs/generalization.md,
the recoveries row). :class:`PPOWithCloning` adds to the loss of every PPO minibatch

    ``cloning_coef * -mean log pi(a | s)``

over a minibatch of the demonstrations (the samples behaviour cloning trained on, recoveries
included), as in demonstration-augmented policy gradient (Rajeswaran et al. 2018) with a
constant weight. PPO's own terms are SB3's: with ``cloning_coef`` 0 an update changes the
policy exactly as :meth:`stable_baselines3.PPO.train` does (tests/test_cloning_ppo.py).

The demonstrations pass through the policy in evaluation mode, so the observation
normalisation (:class:`~ninjarl.models.normalization.RunningNorm`) keeps following the
agent's own rollouts only.
"""
from __future__ import annotations

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.utils import explained_variance

from ..models.policy import obs_tensors
from .hierarchical import ppo_terms


class DemonstrationBatches:
    """Endless minibatches of ``batch_size`` demonstration samples (``obs[key]`` is [S, ...]
    as the policy takes it, ``actions`` [S]: a :class:`~ninjarl.train.bc.BCDataset`'s, both
    of its splits): a stream of shuffled passes over every sample, from ``seed``.
    ``drawn`` samples of the stream are skipped, so that a resumed run (which saved
    :attr:`drawn`) goes on with the minibatches the uninterrupted run would have had."""

    def __init__(self, obs: dict[str, np.ndarray], actions: np.ndarray, batch_size: int,
                 seed: int, drawn: int = 0):
        if len(actions) == 0:
            raise ValueError("the demonstrations for the cloning loss have no samples")
        self.obs, self.actions = obs, actions
        self.batch_size = min(batch_size, len(actions))
        self._rng = np.random.default_rng(seed)
        passes, offset = divmod(drawn, len(actions))
        for _ in range(passes):
            self._rng.permutation(len(actions))
        self._order = self._rng.permutation(len(actions))[offset:]
        self.drawn = drawn

    def __len__(self) -> int:
        return len(self.actions)

    def next(self, device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The next minibatch's observations (as the policy receives them) and actions."""
        if len(self._order) < self.batch_size:
            self._order = np.concatenate([self._order, self._rng.permutation(len(self))])
        index, self._order = self._order[:self.batch_size], self._order[self.batch_size:]
        self.drawn += len(index)
        actions = torch.as_tensor(self.actions[index], dtype=torch.int64, device=device)
        return obs_tensors(self.obs, index, device), actions


class PPOWithCloning(PPO):
    """SB3's PPO with the cloning term above. Give it the demonstrations with
    :meth:`set_demonstrations` before training; a ``train`` without them is an error (never
    PPO alone in silence)."""

    def __init__(self, *args, cloning_coef: float, cloning_batch_size: int, **kwargs):
        super().__init__(*args, **kwargs)
        if self.clip_range_vf is not None or self.target_kl is not None:
            raise ValueError("PPOWithCloning: value clipping and target_kl are not supported")
        self.cloning_coef = float(cloning_coef)
        self.cloning_batch_size = int(cloning_batch_size)
        self.demonstrations: DemonstrationBatches | None = None

    def set_demonstrations(self, obs: dict[str, np.ndarray], actions: np.ndarray, seed: int,
                           drawn: int = 0) -> None:
        """Clone these samples (see :class:`DemonstrationBatches`) from now on."""
        self.demonstrations = DemonstrationBatches(obs, actions, self.cloning_batch_size, seed,
                                                   drawn)

    def _cloning_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``-mean log pi(a | s)`` on the next demonstration minibatch, and the share of it
        where the policy's most likely action is the demonstrated one."""
        obs, actions = self.demonstrations.next(self.device)
        self.policy.set_training_mode(False)        # no normalisation update from these
        distribution = self.policy.get_distribution(obs).distribution
        self.policy.set_training_mode(True)
        loss = -distribution.log_prob(actions).mean()
        with torch.no_grad():
            accuracy = (distribution.probs.argmax(dim=1) == actions).float().mean()
        return loss, accuracy

    def train(self) -> None:
        if self.demonstrations is None:
            raise RuntimeError("PPOWithCloning.train: no demonstrations; call "
                               "set_demonstrations first")
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip = self.clip_range(self._current_progress_remaining)
        logs: dict[str, list[float]] = {}
        for _ in range(self.n_epochs):
            for batch in self.rollout_buffer.get(self.batch_size):
                values, log_prob, entropy = self.policy.evaluate_actions(
                    batch.observations, batch.actions.long().flatten())
                terms = ppo_terms(log_prob, batch.old_log_prob, batch.advantages,
                                  values.flatten(), batch.returns, entropy, clip)
                cloning_loss, cloning_accuracy = self._cloning_terms()
                # summed in SB3's order, so that a zero weight gives SB3's update bit for bit
                loss = (terms["policy_loss"] + self.ent_coef * -terms["entropy"]
                        + self.vf_coef * terms["value_loss"]
                        + self.cloning_coef * cloning_loss)
                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
                for name, value in (*terms.items(), ("cloning_loss", cloning_loss),
                                    ("cloning_accuracy", cloning_accuracy), ("loss", loss)):
                    logs.setdefault(name, []).append(value.item())
            self._n_updates += 1
        for name, values in logs.items():
            self.logger.record(f"train/{name}", float(np.mean(values)))
        self.logger.record("train/explained_variance", explained_variance(
            self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip)
