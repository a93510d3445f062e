"""Where the policy network runs: ``auto`` (a CUDA GPU when torch sees one, else the CPU),
``cpu``, ``cuda`` or ``cuda:N``.

Environments always run on the CPU; SB3 moves each step's observations to the policy's device
once (one batched copy per step) and the actions back.
"""
from __future__ import annotations

import re

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(name: str) -> str:
    """``name`` if it is one of :data:`DEVICE_CHOICES`, else a ValueError naming them."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {name!r}")
    return name


def resolve_device(name: str) -> torch.device:
    """The torch device for ``name``; asking for a GPU that torch cannot see is an error that
    says so (instead of a CUDA traceback at the first tensor)."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: torch sees no CUDA GPU (torch {torch.__version__}, "
                             f"CUDA build: {torch.version.cuda or 'no'}); use --device cpu or auto")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
    return device
