"""Behaviour cloning from the planner's demonstrations before PPO (``TrainConfig.planner_bc``).

Before its first PPO update, a run with ``planner_bc`` set
1. makes a demonstration of every training level (:func:`ninjarl.train.demos.make_demonstrations`)
   in ``OUT/demos``;
2. adds recoveries where asked (the shipped ones, ``bundled_recoveries``, and
   ``recovery_rounds`` rounds of its own, each cloned into ``OUT/bc-round<i>`` first;
   :mod:`ninjarl.train.recovery`);
3. trains the run's own policy on them (:func:`ninjarl.train.bc.run_bc`: the observations of
   the same code path PPO uses, a fifth of the demonstrations held out for the report) into
   ``OUT/bc``,

and PPO starts from that checkpoint (strict transfer, ``transfer_report.json``) with the
``finetune`` settings, as from ``TrainConfig.bc``. During PPO the same samples feed the
cloning loss (``cloning_coef``, :func:`planner_bc_dataset`) and the plans the starts along
them (``plan_starts``, :func:`ninjarl.train.demos.demonstration_inputs`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from ..sim import Level
from ..solve import PlannerConfig
from .autotune import available_cores
from .bc import BCDataset, build_bc_model, default_cache_dir, replays_dataset, run_bc
from .checkpoint import load_policy
from .config import TrainConfig
from .demos import make_demonstrations
from .recovery import add_bundled_recoveries, make_recoveries


def planner_bc_checkpoint(config: TrainConfig, levels: Sequence[Level], out: str | Path,
                          log: Callable[[str], None] | None = print) -> Path:
    """Demonstrations of the training ``levels`` in ``OUT/demos`` (with the shipped
    recoveries and ``recovery_rounds`` rounds of its own, :mod:`ninjarl.train.recovery`, each
    round cloned into ``OUT/bc-round<i>`` first), behaviour-cloned with the run's ``config``
    into ``OUT/bc``; returns that checkpoint's directory."""
    settings = config.planner_bc
    if settings is None:
        raise ValueError("planner_bc_checkpoint: the config has no planner_bc settings")
    out = Path(out)
    planner = PlannerConfig(budget_frames=settings.budget_frames)
    document = make_demonstrations(levels, out / "demos", planner,
                                    jobs=min(available_cores(), len(levels)), log=log)
    if document["solved"] < 2:
        raise ValueError(f"planner_bc: the planner solved {document['solved']} of "
                         f"{document['levels']} training levels within "
                         f"{settings.budget_frames:,} frames; behaviour cloning needs at least "
                         "2 (one to train on, one to validate): raise "
                         "planner_bc.budget_frames or leave planner_bc out")
    def clone(bc_dir: Path) -> Path:
        run_bc(out / "demos", bc_dir, config=_cloning_config(config, bc_dir),
               epochs=settings.epochs, batch_size=settings.batch_size,
               lr=settings.learning_rate, seed=config.seed, log=log)
        return bc_dir

    if settings.bundled_recoveries:
        add_bundled_recoveries(levels, out / "demos", log=log)
    for round_index in range(settings.recovery_rounds):
        model = build_bc_model(_cloning_config(config, out / f"bc-round{round_index}"),
                               levels[0].map_data.raw)
        load_policy(clone(out / f"bc-round{round_index}"), model.policy)
        model.policy.set_training_mode(False)
        make_recoveries(model, levels, out / "demos", config, planner,
                        settings.recovery_back_frames, jobs=available_cores(), log=log)
    return clone(out / "bc")


def planner_bc_dataset(config: TrainConfig, out: str | Path,
                       log: Callable[[str], None] | None = print) -> BCDataset:
    """The samples that :func:`planner_bc_checkpoint` cloned into ``OUT/bc`` (its
    demonstrations and recoveries), read back from that cloning's cache: the data of the
    cloning loss during PPO (``planner_bc.cloning_coef``)."""
    out = Path(out)
    return replays_dataset(out / "demos", _cloning_config(config, out / "bc"),
                           default_cache_dir(out / "bc"), seed=config.seed, log=log)


def _cloning_config(config: TrainConfig, bc_dir: Path) -> TrainConfig:
    """The run's config as the cloning into ``bc_dir`` uses it (its observations and frame
    stack decide the samples; no planner_bc of its own)."""
    return replace(config, planner_bc=None, out=str(bc_dir))
