"""Strict transfer of pretrained (behaviour-cloned) weights into a fresh PPO policy.

Every tensor of the new policy is either loaded (same name, same shape), missing, or
mismatched; the report lists them all (``transfer_report.json``). Training refuses to start
when any feature-extractor tensor did not load, or when the checkpoint was made with other
observation keys, frame stacking or action repeat: a policy must never see observations built
differently from the ones it was trained on.

A hierarchical run (:mod:`ninjarl.train.hierarchical`) starting from a flat behaviour-cloned
policy takes its tensors under other names (:func:`hierarchical_source`): the extractor into
``features.``, the policy and value layers into the low level (``low_level.``; the subtask
condition enters through extra weights; the embedding and the condition weights of the target
direction, distance and steps start at zero, so the controller starts as the cloned policy for
every subtask, while gradients reach every tensor); the high level (``high_level.``) keeps its documented initialisation
(:mod:`ninjarl.models.hierarchical`). The report then also lists each loaded tensor's source
and each tensor that was initialised instead, with how.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from ..atomic import current_dir, write_json
from ..models import get_architecture
from .checkpoint import load_weights, read_checkpoint
from .config import TrainConfig

EXTRACTOR_PREFIX = "features_extractor."


@dataclass
class TransferReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    #: hierarchical transfer: loaded tensor -> its name in the checkpoint
    sources: dict[str, str] = field(default_factory=dict)
    #: hierarchical transfer: tensor -> how it was initialised instead
    initialised: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {"loaded": self.loaded, "missing": self.missing, "mismatched": self.mismatched,
               "unexpected": self.unexpected}
        if self.sources or self.initialised:
            out |= {"sources": self.sources, "initialised": self.initialised}
        return out

    def summary(self) -> str:
        lines = [f"transfer: {len(self.loaded)} tensors loaded, {len(self.missing)} missing, "
                 f"{len(self.mismatched)} mismatched, {len(self.unexpected)} unexpected"]
        lines += [f"  loaded     {name}" + (f" <- {self.sources[name]}" if name in self.sources
                                               else "") for name in self.loaded]
        lines += [f"  INITIALISED {name}: {how}" for name, how in self.initialised.items()]
        lines += [f"  MISSING    {name}" for name in self.missing]
        lines += [f"  MISMATCHED {name}" for name in self.mismatched]
        lines += [f"  UNEXPECTED {name}" for name in self.unexpected]
        return "\n".join(lines)


def check_compatible(checkpoint_config: TrainConfig, config: TrainConfig, source: str) -> None:
    """Refuse a checkpoint whose observations were built differently from this run's."""
    differences = []
    if tuple(checkpoint_config.env.observations) != tuple(config.env.observations):
        differences.append(f"observation keys {list(checkpoint_config.env.observations)} vs "
                           f"{list(config.env.observations)}")
    if checkpoint_config.frame_stack != config.frame_stack:
        differences.append(f"frame stack {checkpoint_config.frame_stack} vs {config.frame_stack}")
    if checkpoint_config.env.action_repeat != config.env.action_repeat:
        differences.append(f"action repeat {checkpoint_config.env.action_repeat} vs "
                           f"{config.env.action_repeat}")
    if checkpoint_config.arch != config.arch:
        differences.append(f"architecture {checkpoint_config.arch} vs {config.arch}")
    if differences:
        raise ValueError(f"{source}: the checkpoint does not match this run: "
                         + "; ".join(differences))


def transfer_weights(model, checkpoint: str | Path, config: TrainConfig) -> TransferReport:
    """Load the checkpoint's policy weights into ``model.policy`` and report every tensor."""
    checkpoint = current_dir(checkpoint)
    saved_config, _ = read_checkpoint(checkpoint)
    if config.hierarchical and not saved_config.hierarchical:
        return transfer_hierarchical(model, checkpoint, saved_config, config)
    check_compatible(saved_config, config, str(checkpoint))
    saved = load_weights(checkpoint, "policy.pt")
    target = model.policy.state_dict()
    report = TransferReport()
    for name, tensor in target.items():
        if name not in saved:
            report.missing.append(name)
        elif saved[name].shape != tensor.shape:
            report.mismatched.append(name)
        else:
            report.loaded.append(name)
    report.unexpected = sorted(set(saved) - set(target))
    bad = [n for n in report.missing + report.mismatched if n.startswith(EXTRACTOR_PREFIX)]
    if bad:
        raise ValueError(f"{checkpoint}: feature-extractor tensors missing or mismatched: {bad}")
    if report.missing or report.mismatched or report.unexpected:
        raise ValueError(f"{checkpoint}: the policy does not match exactly:\n" + report.summary())
    model.policy.load_state_dict(saved, strict=True)
    return report


#: flat (SB3 ActorCriticPolicy) name patterns of each hierarchical tensor, by prefix
_LOW_SOURCES = (
    (r"features\.(.*)", r"features_extractor.\1"),
    (r"low_level\.pi\.input\.(.*)", r"mlp_extractor.policy_net.0.\1"),
    (r"low_level\.vf\.input\.(.*)", r"mlp_extractor.value_net.0.\1"),
    (r"low_level\.action\.(.*)", r"action_net.\1"),
    (r"low_level\.value\.(.*)", r"value_net.\1"),
)
#: SB3 keeps the shared extractor under two more names; they must equal features_extractor.*
_ALIASES = ("pi_features_extractor.", "vf_features_extractor.")
_INITIALISED = {
    "high_level.": "the high level's initialisation: orthogonal hidden layers, logit layer "
                   "with gain 0.01 (near-uniform over the available subtasks)",
    "low_level.pi.condition.": "orthogonal on the embedding's columns, zero on direction, "
                               "distance and steps: the controller starts as the cloned policy",
    "low_level.vf.condition.": "orthogonal on the embedding's columns, zero on direction, "
                               "distance and steps: the low value starts as the cloned value",
    "low_level.embedding.": "zero (the cloned policy for every subtask until it learns)",
}


def hierarchical_source(name: str) -> str | None:
    """The flat policy's name of hierarchical tensor ``name`` (None: not transferred).
    ``low_level.pi.rest.<i>`` is layer ``policy_net.<i + 2>`` (its first is ``low_level.pi.input``)."""
    for pattern, source in _LOW_SOURCES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, source, name)
    match = re.fullmatch(r"low_level\.(pi|vf)\.rest\.(\d+)\.(.*)", name)
    if match:
        net = {"pi": "policy_net", "vf": "value_net"}[match[1]]
        return f"mlp_extractor.{net}.{int(match[2]) + 2}.{match[3]}"
    return None


def transfer_hierarchical(model, checkpoint: Path, saved_config: TrainConfig,
                          config: TrainConfig) -> TransferReport:
    """Load a flat behaviour-cloned policy into a hierarchical one (module docstring): every
    checkpoint tensor must be used, every mapped tensor must exist with its shape."""
    arch_keys = get_architecture(config.arch).observation_keys
    flat = replace(config, hierarchical=None, env=replace(config.env, observations=arch_keys))
    check_compatible(saved_config, flat, str(checkpoint))
    saved = load_weights(checkpoint, "policy.pt")
    target = model.policy.state_dict()
    report = TransferReport()
    state = {}
    for name, tensor in target.items():
        source = hierarchical_source(name)
        if source is None:
            report.initialised[name] = next(how for prefix, how in _INITIALISED.items()
                                            if name.startswith(prefix))
        elif source not in saved:
            report.missing.append(name)
        elif saved[source].shape != tensor.shape:
            report.mismatched.append(name)
        else:
            report.loaded.append(name)
            report.sources[name] = source
            state[name] = saved[source]
    used = set(report.sources.values())
    for name in sorted(set(saved) - used):
        alias = next((name.replace(a, EXTRACTOR_PREFIX, 1) for a in _ALIASES
                      if name.startswith(a)), None)
        if alias is None or alias not in saved or not torch.equal(saved[alias], saved[name]):
            report.unexpected.append(name)
    if report.missing or report.mismatched or report.unexpected:
        raise ValueError(f"{checkpoint}: the policy does not match the hierarchical one:\n"
                         + report.summary())
    embedding = target["low_level.embedding.weight"].shape[1]
    state["low_level.embedding.weight"] = torch.zeros_like(target["low_level.embedding.weight"])
    for name in ("low_level.pi.condition.weight", "low_level.vf.condition.weight"):
        state[name] = target[name].clone()
        state[name][:, embedding:] = 0.0          # the embedding's columns come first
    model.policy.load_state_dict(target | state, strict=True)
    return report


def write_report(report: TransferReport, path: Path) -> None:
    write_json(path, report.to_json())
