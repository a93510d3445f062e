"""Strict transfer of pretrained (behaviour-cloned) weights into a fresh PPO policy.

Every tensor of the new policy is either loaded (same name, same shape), missing, or
mismatched; the report lists them all (``transfer_report.json``). Training refuses to start
when any feature-extractor tensor did not load, or when the checkpoint was made with other
observation keys, frame stacking or action repeat: a policy must never see observations built
differently from the ones it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import current_dir, write_json
from .checkpoint import load_weights, read_checkpoint
from .config import TrainConfig

EXTRACTOR_PREFIX = "features_extractor."


@dataclass
class TransferReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"loaded": self.loaded, "missing": self.missing, "mismatched": self.mismatched,
                "unexpected": self.unexpected}

    def summary(self) -> str:
        lines = [f"transfer: {len(self.loaded)} tensors loaded, {len(self.missing)} missing, "
                 f"{len(self.mismatched)} mismatched, {len(self.unexpected)} unexpected"]
        lines += [f"  loaded     {name}" for name in self.loaded]
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


def write_report(report: TransferReport, path: Path) -> None:
    write_json(path, report.to_json())
