"""Running observation normalisation as a torch module.

The statistics live in registered buffers of the policy network, so they are saved and loaded
with the model (``PPO.save`` / ``PPO.load``, ``state_dict``), move with ``.to(device)`` and
need no ``VecNormalize`` wrapper whose statistics would have to be pickled next to the model.
"""
from __future__ import annotations

import torch
from torch import nn


class RunningNorm(nn.Module):
    """Normalise inputs by a running mean and variance, then clip to ``[-clip, clip]``.

    The statistics are per feature over the last ``len(shape)`` dimensions; every leading
    dimension (batch, and the stack dimension ``k`` of frame-stacked ``(k, D)`` vectors) counts
    as samples. They update only while ``self.training`` is True. SB3 puts the policy in
    training mode for the gradient update and in evaluation mode for rollouts and ``predict``,
    so the statistics follow the data the optimiser sees and stay fixed while acting.

    Each batch is normalised with the statistics from *before* it, then folded in (Chan et
    al.'s parallel update, as SB3's ``RunningMeanStd``). The first PPO minibatch is therefore
    normalised exactly as during the rollout that collected it.

    Buffers (float64, so counts in the hundreds of millions stay exact enough):
    ``mean`` and ``var`` of shape ``shape``, and the scalar ``count`` (starts at
    ``initial_count`` so the first update is well defined; mean 0, var 1 = identity at start).
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 5.0, epsilon: float = 1e-8,
                 initial_count: float = 1e-4):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.clip = float(clip)
        self.epsilon = float(epsilon)
        self.register_buffer("mean", torch.zeros(self.shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(self.shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(float(initial_count), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[x.dim() - len(self.shape):]) != self.shape:
            raise ValueError(f"RunningNorm expects trailing shape {self.shape}, got {tuple(x.shape)}")
        mean = self.mean.to(x.dtype)
        std = torch.sqrt(self.var + self.epsilon).to(x.dtype)
        out = ((x - mean) / std).clamp(-self.clip, self.clip)
        if self.training:
            self.update(x)
        return out

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Fold the samples of ``x`` (any leading dimensions) into the running statistics."""
        batch = x.detach().reshape(-1, *self.shape).to(torch.float64)
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean = batch.mean(dim=0)
        batch_var = batch.var(dim=0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        m2 = self.var * self.count + batch_var * n + delta.square() * self.count * n / total
        self.mean.add_(delta * n / total)
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, clip={self.clip}"
