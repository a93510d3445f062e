"""Policy-network cost per architecture: FLOPs per sample, rollout time and update time.

Each architecture is trained exactly as ``ninjarl train`` trains it (the model of
:func:`ninjarl.train.model.build_model` with the default PPO settings: rollouts of
``n_steps`` x ``envs`` samples, ``n_epochs`` passes of ``batch_size`` minibatches) on ``envs``
copies of one level, for ``repeats + 1`` iterations; the first (warm-up: compilation, first
allocations) is dropped and the median of the others is reported:

* ``rollout_s``: one rollout (environment steps, policy forward, rollout buffer);
* ``update_s``: the PPO update that follows it (all epochs and minibatches), and
  ``update_cpu_s`` the CPU time it used (all threads): steadier than wall time on a busy
  machine;
* ``steps_per_s``: samples / (rollout + update), the training speed without evaluation;
* ``mflop_per_sample``: forward FLOPs of one sample through the policy and value networks
  (torch's FLOP counter: 2 per multiply-add);
* ``update_gflop_per_s``: the update's arithmetic rate, counting forward + backward as 3x the
  forward FLOPs per sample and epoch, and ``peak_fraction``: that rate over this CPU's
  float32 matrix-multiply rate measured with the same thread count.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from torch.utils.flop_counter import FlopCounterMode

DEFAULT_ARCHS = ("vision_free", "local_view", "local_view_fast", "mlp_baseline", "mlp_fast")
DEFAULT_MAP = "official/000_the_basics"
DEFAULT_ENVS = 128
REPEATS = 3


@dataclass(frozen=True)
class ModelBenchResult:
    arch: str
    envs: int
    samples: int
    params: int
    mflop_per_sample: float
    rollout_s: float
    update_s: float
    update_cpu_s: float
    steps_per_s: float
    update_gflop_per_s: float
    peak_fraction: float


class _IterationTimer(BaseCallback):
    """Records (wall, CPU) times when each rollout starts and ends, and when training ends."""

    def __init__(self):
        super().__init__()
        self.marks: list[tuple[float, float]] = []

    def _mark(self) -> None:
        self.marks.append((time.perf_counter(), time.process_time()))

    def _on_rollout_start(self) -> None:
        self._mark()

    def _on_rollout_end(self) -> None:
        self._mark()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self._mark()

    def iterations(self) -> list[tuple[float, float, float]]:
        """(rollout seconds, update seconds, update CPU seconds) of every iteration."""
        m = self.marks
        return [(m[i + 1][0] - m[i][0], m[i + 2][0] - m[i + 1][0], m[i + 2][1] - m[i + 1][1])
                for i in range(0, len(m) - 2, 2)]


def matmul_peak_gflops(threads: int, size: int = 1024, seconds: float = 0.5) -> float:
    """This CPU's float32 matrix-multiply rate (GFLOP/s) with ``threads`` torch threads: the
    best of repeated ``size`` x ``size`` products over about ``seconds``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        best, deadline = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        return 2 * size ** 3 / best / 1e9
    finally:
        torch.set_num_threads(previous)


def forward_flops(model) -> int:
    """Forward FLOPs of one observation through the policy (actions, values, log-probs)."""
    observation = model.observation_space.sample()
    obs, _ = model.policy.obs_to_tensor({k: np.asarray(v) for k, v in observation.items()})
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.policy.evaluate_actions(obs, torch.zeros(1, dtype=torch.long))
    return counter.get_total_flops()


def run_model_bench(archs: Sequence[str] = DEFAULT_ARCHS, envs: int = DEFAULT_ENVS,
                    map_spec: str = DEFAULT_MAP, threads: int = 0, repeats: int = REPEATS,
                    seed: int = 0) -> Iterator[ModelBenchResult]:
    """Measure every architecture (see the module docstring). ``threads`` 0: all cores."""
    from ninjarl.env import make_vec_env
    from ninjarl.sim import build_level, load_map_bytes
    from ninjarl.train.autotune import available_cores
    from ninjarl.train.config import TrainConfig
    from ninjarl.train.model import build_model

    threads = threads or available_cores()
    level = build_level(load_map_bytes(map_spec), name=map_spec)
    peak = matmul_peak_gflops(threads)
    for arch in archs:
        config = TrainConfig.create(arch=arch, envs=envs, seed=seed)
        torch.set_num_threads(threads)
        venv = make_vec_env([level], envs, config.env, config.frame_stack, seed=seed)
        model = build_model(replace(config, out=""), venv)
        samples = model.n_steps * envs
        timer = _IterationTimer()
        model.learn(samples * (repeats + 1), callback=timer)
        iterations = timer.iterations()[1:]
        rollout_s = statistics.median(r for r, _, _ in iterations)
        update_s = statistics.median(u for _, u, _ in iterations)
        flops = forward_flops(model)
        update_rate = 3 * flops * samples * model.n_epochs / update_s / 1e9
        venv.close()
        yield ModelBenchResult(
            arch=arch, envs=envs, samples=samples,
            params=sum(p.numel() for p in model.policy.parameters()),
            mflop_per_sample=flops / 1e6, rollout_s=rollout_s, update_s=update_s,
            update_cpu_s=statistics.median(c for _, _, c in iterations),
            steps_per_s=samples / (rollout_s + update_s), update_gflop_per_s=update_rate,
            peak_fraction=update_rate / peak)
