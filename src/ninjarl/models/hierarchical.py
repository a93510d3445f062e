"""``HierarchicalPolicy``: a subtask policy over a subtask-conditioned controller, one network.

Parameter names are prefixed by part (what checkpoints, transfer reports and training
checks see):

* ``features.`` — the shared feature extractor (:class:`~ninjarl.models.NinjaExtractor` of
  any registered architecture);
* ``high_level.`` — the high-level actor-critic: features + the subtask table (direction,
  distance, available of every subtask) → one logit per subtask (unavailable ones masked) and
  a value;
* ``low_level.`` — the low-level actor-critic: features + the condition (subtask embedding,
  the subtask target's direction and path distance, steps into the subtask / K) → 6 action
  logits and a value.

Initialisation. Hidden layers as SB3 (orthogonal, gain √2), action logits gain 0.01, values 1.
The high level's logit layer starts near zero (orthogonal, gain 0.01, zero bias, as SB3's
action layers): its first choices are near-uniform over the *available* subtasks, and
gradients reach every layer from the first update. The natural order needs no bias because
availability encodes it: ``exit_door`` is masked until the switch is hit, ``exit_switch``
after, ``door_switch`` while no closed locked door is reachable and ``evade_mine`` while no
deadly mine is near; a near-uniform choice among the rest cannot gate or distort pretrained
features (the high level reads them, it never multiplies them). The low level's condition
enters its first layers through separate weights (``low_level.pi.condition``,
``low_level.vf.condition``), so a flat policy's layers load into it with their own shapes
(:func:`ninjarl.train.transfer.transfer_hierarchical`); there the embedding and the condition
weights of direction, distance and steps are zeroed, so the controller starts as exactly that
policy for every subtask.

Per-env decision state (:class:`SubtaskState`) lives outside the network: which subtask each
env pursues, for how many steps, and its ``achieved`` counter when chosen. The same
:meth:`HierarchicalPolicy.option_status` decides when a subtask is over in training and in
:meth:`HierarchicalPolicy.predict` (evaluation), which keeps the state in SB3's recurrent
``state`` argument.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from torch import nn
from torch.distributions import Categorical

from ..env.config import SUBTASK_KEY
from ..env.subtasks import ACHIEVED, AVAILABLE, DIR_X, DIR_Y, DISTANCE, subtask_index
from .extractors import NinjaExtractor
from .policy import HEAD_ACTIVATION
from .registry import get_architecture

#: columns of the subtask table the networks read (``achieved`` is a counter, for bookkeeping)
TABLE_COLUMNS = (DIR_X, DIR_Y, DISTANCE, AVAILABLE)
#: a masked logit: far below any real one, finite so that 0 * it stays 0 in the entropy
MASKED_LOGIT = -1e8


def tanh_mlp(in_features: int, hidden: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_features, width), HEAD_ACTIVATION()]
        in_features = width
    return nn.Sequential(*layers)


class ConditionedMLP(nn.Module):
    """A tanh MLP whose first layer also reads a condition through its own weight:
    ``rest(tanh(input(x) + condition(c)))``."""

    def __init__(self, in_features: int, condition_features: int, hidden: Sequence[int]):
        super().__init__()
        self.input = nn.Linear(in_features, hidden[0])
        self.condition = nn.Linear(condition_features, hidden[0], bias=False)
        self.activation = HEAD_ACTIVATION()
        self.rest = tanh_mlp(hidden[0], hidden[1:])

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.rest(self.activation(self.input(x) + self.condition(c)))


@dataclass
class SubtaskState:
    """Per-env decision state: the subtask pursued (policy index), the steps taken in it, its
    ``achieved`` counter when chosen, and whether a new decision is due."""
    subtask: np.ndarray
    steps: np.ndarray
    achieved: np.ndarray
    decide: np.ndarray

    @classmethod
    def fresh(cls, num_envs: int) -> "SubtaskState":
        return cls(np.zeros(num_envs, np.int64), np.zeros(num_envs, np.int64),
                   np.zeros(num_envs, np.float32), np.ones(num_envs, bool))

    def to_json(self) -> dict:
        return {k: getattr(self, k).tolist() for k in ("subtask", "steps", "achieved", "decide")}

    @classmethod
    def from_json(cls, data: dict) -> "SubtaskState":
        return cls(np.array(data["subtask"], np.int64), np.array(data["steps"], np.int64),
                   np.array(data["achieved"], np.float32), np.array(data["decide"], bool))


class HierarchicalPolicy(BasePolicy):
    """See the module docstring. ``subtasks`` names the subtasks the high level chooses from
    (:data:`ninjarl.env.subtasks.SUBTASKS`), ``max_steps`` is K (a subtask ends after at most
    K steps)."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule,
                 architecture: str, subtasks: Sequence[str], max_steps: int,
                 embedding_dim: int = 8):
        super().__init__(observation_space, action_space, normalize_images=False,
                         optimizer_class=torch.optim.Adam, optimizer_kwargs={"eps": 1e-5})
        arch = get_architecture(architecture)
        self.architecture = arch.name
        self.subtask_names = tuple(subtasks)
        self.columns = torch.as_tensor([subtask_index(s) for s in self.subtask_names])
        self.max_steps = max_steps
        n = len(self.subtask_names)
        hidden = list(arch.net_arch)

        self.features = NinjaExtractor(observation_space, architecture=arch.name)
        width = self.features.features_dim
        high_in = width + n * len(TABLE_COLUMNS)
        self.high_level = nn.ModuleDict({
            "pi": tanh_mlp(high_in, hidden), "logits": nn.Linear(hidden[-1], n),
            "vf": tanh_mlp(high_in, hidden), "value": nn.Linear(hidden[-1], 1)})
        condition = embedding_dim + 4           # embedding, dir_x, dir_y, distance, steps / K
        self.low_level = nn.ModuleDict({
            "embedding": nn.Embedding(n, embedding_dim),
            "pi": ConditionedMLP(width, condition, hidden),
            "action": nn.Linear(hidden[-1], int(action_space.n)),
            "vf": ConditionedMLP(width, condition, hidden),
            "value": nn.Linear(hidden[-1], 1)})
        self._initialise()
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1),
                                              **self.optimizer_kwargs)

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear) and module not in self.features.modules():
                nn.init.orthogonal_(module.weight, np.sqrt(2))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.orthogonal_(self.low_level["action"].weight, 0.01)
        nn.init.orthogonal_(self.low_level["value"].weight, 1.0)
        nn.init.orthogonal_(self.high_level["value"].weight, 1.0)
        nn.init.orthogonal_(self.high_level["logits"].weight, 0.01)   # near-uniform choices

    def _get_constructor_parameters(self) -> dict:
        return super()._get_constructor_parameters() | {
            "architecture": self.architecture, "subtasks": self.subtask_names,
            "max_steps": self.max_steps, "embedding_dim": self.low_level["embedding"].embedding_dim}

    # ---- the networks -----------------------------------------------------------------------
    def extract(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Shared features (images cast to float as SB3's policies do, scaled inside)."""
        return self.features(preprocess_obs(obs, self.observation_space, normalize_images=False))

    def table(self, obs: dict) -> torch.Tensor | np.ndarray:
        """[B, subtasks, features] of this policy's subtasks (the newest frame of a stack),
        from tensors or numpy arrays."""
        table = obs[SUBTASK_KEY]
        if table.ndim == 4:                                    # frame-stacked [B, k, S, F]
            table = table[:, -1]
        if isinstance(table, np.ndarray):
            return table[:, self.columns.numpy()]
        return table[:, self.columns.to(table.device)]

    def high_forward(self, features: torch.Tensor, table: torch.Tensor, masked: bool = True
                     ) -> tuple[Categorical, torch.Tensor]:
        """The subtask distribution (unavailable subtasks masked unless ``masked`` is False)
        and the high-level value."""
        x = torch.cat([features, table[..., list(TABLE_COLUMNS)].flatten(1)], dim=1)
        logits = self.high_level["logits"](self.high_level["pi"](x))
        if masked:
            available = table[..., AVAILABLE] > 0.5
            # nothing available cannot happen on a level with an exit; never mask everything
            available = available | ~available.any(dim=1, keepdim=True)
            logits = torch.where(available, logits, torch.full_like(logits, MASKED_LOGIT))
        value = self.high_level["value"](self.high_level["vf"](x)).flatten()
        return Categorical(logits=logits, validate_args=False), value

    def low_forward(self, features: torch.Tensor, table: torch.Tensor, subtask: torch.Tensor,
                    steps: torch.Tensor) -> tuple[Categorical, torch.Tensor]:
        """The action distribution and the low-level value, conditioned on ``subtask``
        (policy indices [B]) after ``steps`` steps in it."""
        row = table[torch.arange(len(subtask), device=table.device), subtask]
        condition = torch.cat([self.low_level["embedding"](subtask), row[:, [DIR_X, DIR_Y, DISTANCE]],
                               (steps.float() / self.max_steps)[:, None]], dim=1)
        logits = self.low_level["action"](self.low_level["pi"](features, condition))
        value = self.low_level["value"](self.low_level["vf"](features, condition)).flatten()
        return Categorical(logits=logits, validate_args=False), value

    def natural_subtask(self, table: torch.Tensor) -> torch.Tensor:
        """Per sample the subtask of the natural order, as human replays are labelled: the exit
        switch until it is hit, then the exit door."""
        switch = self.subtask_names.index("exit_switch")
        door = self.subtask_names.index("exit_door")
        on = table[:, switch, AVAILABLE] > 0.5
        return torch.where(on, torch.full_like(on, switch, dtype=torch.long),
                           torch.full_like(on, door, dtype=torch.long))

    def evaluate_actions(self, obs: dict[str, torch.Tensor], actions: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SB3's ``evaluate_actions`` on a flat view of the policy, for behaviour cloning and
        checks (training uses :class:`~ninjarl.train.hierarchical.HierarchicalPPO`'s, with the
        subtasks of collection): each sample pursues its :meth:`natural_subtask`, chosen at that
        step, scored against every subtask (no mask: a demonstration says which subtask was
        pursued, not which were on offer, and a level without a choice still teaches the order).
        Returns the sum of both levels' values (the value of both rewards together), the joint
        log-probability of (subtask, action) and the sum of both entropies."""
        features, table = self.extract(obs), self.table(obs)
        subtask = self.natural_subtask(table)
        high, high_value = self.high_forward(features, table, masked=False)
        low, low_value = self.low_forward(features, table, subtask, torch.zeros_like(subtask))
        return ((high_value + low_value)[:, None], high.log_prob(subtask) + low.log_prob(actions),
                high.entropy() + low.entropy())

    def get_distribution(self, obs: dict[str, torch.Tensor]) -> CategoricalDistribution:
        """SB3's ``get_distribution`` on the flat view (:meth:`evaluate_actions`): the low
        level's action distribution for each sample's natural subtask."""
        features, table = self.extract(obs), self.table(obs)
        subtask = self.natural_subtask(table)
        low, _ = self.low_forward(features, table, subtask, torch.zeros_like(subtask))
        return CategoricalDistribution(int(self.action_space.n)).proba_distribution(low.logits)

    def forward(self, obs, deterministic: bool = False):
        raise NotImplementedError("a hierarchical policy acts through act() / predict(), "
                                  "with its per-env subtask state")

    # ---- acting -----------------------------------------------------------------------------
    def option_status(self, table: np.ndarray, state: SubtaskState) -> tuple[np.ndarray, np.ndarray]:
        """(over, complete) per env for ``table`` [N, subtasks, features] observed after the
        state's last step: complete when the chosen subtask's ``achieved`` counter grew; over
        when complete, no longer available, or after K steps. Episode ends are the caller's."""
        rows = table[np.arange(len(state.subtask)), state.subtask]
        complete = rows[:, ACHIEVED] > state.achieved
        over = complete | (rows[:, AVAILABLE] < 0.5) | (state.steps >= self.max_steps)
        return over, complete

    def decide(self, features: torch.Tensor, table: torch.Tensor, state: SubtaskState,
               deterministic: bool) -> dict[str, torch.Tensor]:
        """Choose a subtask in every env whose ``state.decide`` is set (updating ``state``);
        returns the choice's log-probability and high-level value of every env."""
        dist, value = self.high_forward(features, table)
        choice = dist.mode if deterministic else dist.sample()
        due = state.decide
        state.subtask[due] = choice.cpu().numpy()[due]
        state.steps[due] = 0
        subtask = torch.as_tensor(state.subtask, device=table.device)
        rows = table[torch.arange(len(subtask), device=table.device), subtask]
        state.achieved[due] = rows[:, ACHIEVED].cpu().numpy()[due]
        state.decide[:] = False
        return {"log_prob": dist.log_prob(subtask), "value": value}

    def act(self, obs: dict[str, torch.Tensor], state: SubtaskState, deterministic: bool = False
            ) -> dict[str, torch.Tensor]:
        """One step of every env: new decisions where due, then actions. Returns actions,
        their log-probabilities and low values, and the high level's log-probabilities and
        values (meaningful where a decision was made)."""
        features = self.extract(obs)
        table = self.table(obs)
        high = self.decide(features, table, state, deterministic)
        subtask = torch.as_tensor(state.subtask, device=features.device)
        dist, value = self.low_forward(features, table, subtask,
                                       torch.as_tensor(state.steps, device=features.device))
        actions = dist.mode if deterministic else dist.sample()
        return {"actions": actions, "log_prob": dist.log_prob(actions), "value": value,
                "high_log_prob": high["log_prob"], "high_value": high["value"]}

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False):
        """SB3's ``predict`` with the subtask state in ``state`` (None: every env decides);
        ``episode_start`` starts new decisions. Returns (actions, new state)."""
        self.set_training_mode(False)
        obs, _ = self.obs_to_tensor(observation)
        table = self.table(observation)
        if state is None:
            state = SubtaskState.fresh(len(table))
        else:
            over, _ = self.option_status(table, state)
            state.decide |= over
        if episode_start is not None:
            state.decide |= np.asarray(episode_start, bool)
        with torch.no_grad():
            out = self.act(obs, state, deterministic)
        state.steps += 1
        return out["actions"].cpu().numpy(), state

    def _predict(self, observation, deterministic: bool = False) -> torch.Tensor:
        state = SubtaskState.fresh(len(next(iter(observation.values()))))
        return self.act(observation, state, deterministic)["actions"]
